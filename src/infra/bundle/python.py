"""Python dependencies, installed with uv for Lambda (not for this machine) or for this machine
(local runs).

For Lambda: wheels only (`--no-build`: nothing is compiled here, so nothing of this machine leaks
in), for the runtime's CPython version and its operating system's glibc (any manylinux tag up to
it) on x86_64 or aarch64. No bytecode is compiled.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

from infra.bundle.recipe import Recipe
from infra.bundle.tools import BuildError, ToolFailed, run, uv_binary

# The OS of each Python runtime ("Supported runtimes",
# https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html): python3.12 and later run on
# Amazon Linux 2023, glibc 2.34; python3.11 on Amazon Linux 2, glibc 2.26 ("Improved toolchain:
# gcc, binutils, and glibc", https://docs.aws.amazon.com/linux/al2023/ug/glibc-gcc-and-binutils.html).
# A wheel built for a newer glibc than the runtime's fails to import there.
LAMBDA_GLIBC_MINOR = 34
AMAZON_LINUX_2_GLIBC_MINOR = 26
FIRST_AL2023_PYTHON = (3, 12)
# Lambda's architecture name -> the machine name in wheel tags.
MACHINE = {"x86_64": "x86_64", "arm64": "aarch64"}
# PEP 600 aliases of the legacy manylinux tags.
LEGACY = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}


def python_version(runtime: str) -> str:
    """'python3.14' -> '3.14'."""
    return runtime.removeprefix("python")


def glibc_minor(runtime: str) -> int:
    """The glibc (2.N) of the OS `runtime` runs on."""
    major, minor = (int(part) for part in python_version(runtime).split("."))
    return LAMBDA_GLIBC_MINOR if (major, minor) >= FIRST_AL2023_PYTHON else AMAZON_LINUX_2_GLIBC_MINOR


# The manylinux_2_N values uv's --python-platform takes (up to the newest Lambda has).
UV_MANYLINUX_MINORS = (17, 28, 31, 32, 33, 34)


def uv_platform(architecture: str, runtime: str) -> str:
    """uv's --python-platform for Lambda: e.g. 'aarch64-manylinux_2_34'; the newest uv takes that
    the runtime's glibc can load (manylinux_2_17 for Amazon Linux 2's 2.26)."""
    minor = max(m for m in UV_MANYLINUX_MINORS if m <= glibc_minor(runtime))
    return f"{MACHINE[architecture]}-manylinux_2_{minor}"


def pip_platforms(machine: str, glibc: int = LAMBDA_GLIBC_MINOR) -> list[str]:
    """Every platform tag pip must be given for Lambda: pip matches --platform exactly, so each
    manylinux_2_N from 2_<glibc> down (and the legacy aliases) is listed."""
    tags = []
    for minor in range(glibc, 4, -1):
        if machine == "aarch64" and minor < 17:
            break  # no aarch64 manylinux below 2_17
        tags.append(f"manylinux_2_{minor}_{machine}")
        if minor in LEGACY:
            tags.append(f"{LEGACY[minor]}_{machine}")
    return tags


def requirements(recipe: Recipe, work: Path, what: str) -> tuple[Path, list[str]]:
    """The requirements file to install and the flags its kind needs.

    A uv project is exported from its lock (`uv export --locked`: the lock is never updated here,
    and one that no longer matches pyproject.toml is refused, where `--frozen` would install the
    old lock without the new dependency), with hashes, and installed without resolving again
    (`--no-deps`): exactly what uv.lock says.
    """
    if recipe.kind == "uv":
        out = work / "requirements.txt"
        try:
            run([uv_binary(), "export", "--locked", "--no-dev", "--no-emit-project", "--no-header",
                 "--format", "requirements.txt", "--output-file", str(out), "--quiet"],
                cwd=recipe.source, what=f"{what}: reading {recipe.lockfile.name} (uv export)", network=True)
        except ToolFailed as exc:
            if "needs to be updated" in exc.output:
                raise BuildError(f"{what}: {recipe.lockfile.name} does not match pyproject.toml (a dependency was "
                                 f"added, removed or changed since it was locked). Fix: run `uv lock` in the function's folder "
                                 f"and commit {recipe.lockfile.name}.", exit_code=2) from None
            raise
        return out, ["--require-hashes", "--no-deps"]
    return recipe.lockfile, ["--require-hashes"] if recipe.hashed else []


def install_for_lambda(recipe: Recipe, runtime: str, architecture: str, dest: Path, work: Path, what: str) -> None:
    """Install the locked dependencies into `dest` for `runtime` on `architecture`."""
    req, flags = requirements(recipe, work, what)
    platform = uv_platform(architecture, runtime)
    target = f"{runtime} {architecture} (cp{python_version(runtime).replace('.', '')}, {platform})"
    argv = [uv_binary(), "pip", "install", "--quiet", "--target", str(dest), "--python", sys.executable,
            "--python-platform", platform, "--python-version", python_version(runtime),
            "--no-build", *flags, "-r", str(req)]
    try:
        run(argv, cwd=recipe.source, what=f"{what}: installing {recipe.lockfile.name} for {target}", network=True)
    except ToolFailed as exc:
        package = missing_wheel(exc.output)
        if package:
            raise BuildError(
                f"{what}: {package} has no wheel for {target}, and Lambda code is never compiled on this "
                f"machine. Fix: pin a version of {package} that publishes a wheel for this Python and "
                f"{MACHINE[architecture]} (a manylinux one, or a py3-none-any one for pure Python: see its files "
                f"on the package index), choose another architecture, or drop the dependency.", exit_code=2) from None
        raise declaration_error(exc, recipe, what) or exc from None


def install_for_host(recipe: Recipe, dest: Path, work: Path, what: str) -> None:
    """Install the same locked dependencies for this machine's Python (local runs)."""
    req, flags = requirements(recipe, work, what)
    try:
        run([uv_binary(), "pip", "install", "--quiet", "--target", str(dest), "--python", sys.executable, *flags,
             "-r", str(req)], cwd=recipe.source, what=f"{what}: installing {recipe.lockfile.name} for this machine",
            network=True)
    except ToolFailed as exc:
        raise declaration_error(exc, recipe, what) or exc from None


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
