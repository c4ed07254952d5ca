"""Python dependencies, installed with uv for Lambda (not for this machine) or for this machine
(local runs).

For Lambda: wheels only (`--no-build`: nothing is compiled here, so nothing of this machine leaks
in), for the runtime's CPython version and its operating system's glibc (any manylinux tag up to
it) on x86_64 or aarch64. No bytecode is compiled.
"""
from __future__ import annotations

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
        from infra.bundle.install_errors import declaration_error, missing_wheel  # on failure only

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
        from infra.bundle.install_errors import declaration_error  # on failure only

        raise declaration_error(exc, recipe, what) or exc from None
