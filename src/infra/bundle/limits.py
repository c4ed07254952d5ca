"""Lambda's deployment package limits, checked on every function before anything is written.

"Lambda quotas": a .zip deployment package is at most 50 MB zipped (direct upload) and 250 MB
unzipped, the function's layers included.
https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
"""
from __future__ import annotations

from infra.bundle.code import Code
from infra.errors import ConfigError

MAX_ZIPPED = 50 * 1024 * 1024
MAX_UNZIPPED = 250 * 1024 * 1024
SHOWN = 5


def mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def largest(packages: tuple[tuple[str, int], ...]) -> str:
    return ", ".join(f"{name} {mb(size)}" for name, size in packages[:SHOWN]) or "none"


def check(file: str, key: str, code: Code) -> None:
    """ConfigError (exit 2) naming the function and its largest packages when over a limit."""
    zips = [("its code", code.asset, code.packages)]
    if code.layer:
        zips.append((f"its layer ({code.layer.lockfile})", code.layer.asset, code.layer.packages))
    for what, asset, packages in zips:
        if len(asset.data) > MAX_ZIPPED:
            raise ConfigError(file, key, f"{what} is {mb(len(asset.data))} zipped; Lambda accepts at most "
                              f"{mb(MAX_ZIPPED)} per zip. Largest packages: {largest(packages)}.",
                              "drop or replace the largest dependencies (or move them to a container image).")
    total = code.unzipped + (code.layer.unzipped if code.layer else 0)
    if total > MAX_UNZIPPED:
        packages = tuple(sorted([*code.packages, *(code.layer.packages if code.layer else ())],
                                key=lambda kv: (-kv[1], kv[0])))
        raise ConfigError(file, key, f"unzipped, its code{' and its layer' if code.layer else ''} take {mb(total)}; "
                          f"Lambda allows at most {mb(MAX_UNZIPPED)} unzipped, layers included. Largest packages: "
                          f"{largest(packages)}.",
                          "drop or replace the largest dependencies (or move them to a container image).")
