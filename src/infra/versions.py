"""Installed packages' versions (parts of cache keys), read from the METADATA file that
importlib.metadata reads, without importing importlib.metadata: it imports the email package
(about 12 ms of a cold start) and parses the whole file on every call (about 1 ms each)."""
from __future__ import annotations

import os
from functools import lru_cache


@lru_cache(maxsize=None)
def installed_version(distribution: str, package: str) -> str | None:
    """The version of `distribution` (as pip names it: "cfn-lint"), whose importable package is
    `package` ("cfnlint"), or None when it is not installed. Read from the `Version:` header of the
    METADATA in the distribution's .dist-info folder beside the package; importlib.metadata
    answers where there is no such folder (another layout)."""
    import importlib.machinery  # loaded with the interpreter (importlib.util would import more)

    spec = importlib.machinery.PathFinder.find_spec(package)  # finds the package without running it
    if spec is not None and spec.origin:
        site = os.path.dirname(os.path.dirname(spec.origin))
        wanted = _normalized(distribution)
        # Listed, not globbed (a glob compiles a pattern); NAME-VERSION.dist-info, NAME with no "-".
        found = [os.path.join(site, name, "METADATA") for name in os.listdir(site)
                 if name.endswith(".dist-info") and _normalized(name.partition("-")[0]) == wanted
                 and os.path.isfile(os.path.join(site, name, "METADATA"))]
        if len(found) == 1:
            with open(found[0], encoding="utf-8") as fh:
                for line in fh:
                    if not line.strip():  # the headers end at the first blank line
                        break
                    if line.startswith("Version:"):
                        return line.split(":", 1)[1].strip()
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def _normalized(name: str) -> str:
    """A distribution name as its .dist-info folder spells it (PEP 503 and the wheel spec:
    runs of -, _ and . become _, case-insensitively)."""
    out = name.lower()
    for sep in ("-", "."):
        out = out.replace(sep, "_")
    while "__" in out:
        out = out.replace("__", "_")
    return out
