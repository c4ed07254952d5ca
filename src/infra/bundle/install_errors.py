"""What an installer's failure means, read from its output (loaded only when an install fails):
a package with no wheel for Lambda, or a fault in the function's own requirements (exit 2, with
the fix) rather than in a tool or the network (exit 1)."""
from __future__ import annotations

import re

from infra.bundle.recipe import Recipe
from infra.bundle.tools import BuildError, ToolFailed

# What uv says when the fault is in the function's requirements (exit 2, with the fix), not in a
# tool or the network (exit 1): (uv's words, the problem, the fix). {0}: the package; {file}: the
# requirements file.
_DECLARATION = (
    (re.compile(r"there is no version of (\S+?)(?= and |,|$)", re.M),
     "the package index has no {0}", "pin a version the index has (see the package's release history) in {file}."),
    (re.compile(r"\b(\S+) was not found in the package registry"),
     "the package index has no package named {0}", "check the name's spelling in {file}."),
    (re.compile(r"Hash mismatch for `([^`]+)`"),
     "the file downloaded for {0} does not match its --hash", "correct the hash in {file}, or generate the hashes "
     "again (`uv pip compile --generate-hashes`)."),
    (re.compile(r"all requirements must have a hash, but none were provided for: (.+)"),
     "{0} has no --hash while other lines have one, and then every line needs one",
     "give every line of {file} its hashes (`uv pip compile --generate-hashes`), or none."),
)


# An index that refused us says "not found" too: that is access, not the requirements.
_ACCESS = re.compile(r"\b(401|403)\b|Unauthorized|Forbidden|authenticat", re.IGNORECASE)
# A uv project's requirements are pyproject.toml, locked by `uv lock`: the fix is said that way.
_UV_FIX = "change the dependency in pyproject.toml and run `uv lock` in the function's folder."


def declaration_error(exc: ToolFailed, recipe: Recipe, what: str) -> BuildError | None:
    """The install's failure said as a problem of the function's requirements, when it is one."""
    if _ACCESS.search(exc.output):
        return None
    for pattern, problem, fix in _DECLARATION:
        found = pattern.search(exc.output)
        if found:
            package = found.group(1).strip().rstrip(".")
            said = _UV_FIX if recipe.kind == "uv" else fix.format(package, file=recipe.lockfile.name)
            return BuildError(f"{what}: {problem.format(package)}. Fix: {said}", exit_code=2)
    return None


_NO_WHEEL = (
    re.compile(r"Wheels are required for `([^`]+)`"),
    re.compile(r"\b([A-Za-z0-9][A-Za-z0-9._-]*)==\S+ has no (?:usable )?wheels?"),
    re.compile(r"Distribution `([A-Za-z0-9][A-Za-z0-9._-]*)==[^`]*` can't be installed because it (?:is marked as "
               r"`--no-build` but has no binary distribution|doesn't have a source distribution or wheel)"),
    re.compile(r"\b([A-Za-z0-9][A-Za-z0-9._-]*)(?:==\S+)? has no wheels with a matching"),
)


def missing_wheel(output: str) -> str | None:
    """The package uv could not find a wheel for, from its error output; None for other errors."""
    if "wheel" not in output and "no binary distribution" not in output:
        return None
    for pattern in _NO_WHEEL:
        found = pattern.search(output)
        if found:
            return found.group(1)
    return None
