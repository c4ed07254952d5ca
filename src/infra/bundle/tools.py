"""The build tools, their versions (part of every cache key) and how they are run.

- uv installs Python dependencies (chosen over pip by measurement: README, "Functions and their
  dependencies"); it is a pinned wheel in requirements.txt, its binary inside the venv.
- npm installs Node.js dependencies from the function's lockfile (`npm ci`).
- esbuild bundles them; it is pinned by a lockfile committed beside this module and installed
  on demand into `.cache/tools/` of this repository (never globally, never from the user's
  node_modules).

A tool that is missing, or fails, becomes one BuildError sentence, never a traceback.
"""
from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

from infra.digest import sha256
from infra.errors import UserError
from infra.versions import installed_version

REPO_ROOT = Path(__file__).resolve().parents[3]
ESBUILD_SPEC = Path(__file__).with_name("esbuild")
TOOLS_DIR_ENV = "SERVERLESS_INFRA_TOOLS_DIR"
OUTPUT_TAIL = 1500


class BuildError(UserError):
    """A function's dependencies could not be built: exit 1 (a fault: network, tool), or 2 when
    the fix is in the function's own declaration (exit_code=2)."""


@lru_cache(maxsize=1)
def uv_binary() -> str:
    try:
        from uv import find_uv_bin
    except ImportError:
        raise BuildError("uv is not installed: run `make venv` (or `pip install -r requirements.lock`).") from None
    return os.fsdecode(find_uv_bin())


def uv_version() -> str:
    """uv's version, part of every Python build's cache key."""
    found = installed_version("uv", "uv")
    if found is None:
        uv_binary()  # raises the install hint
        return "unknown"
    return found


def on_path(name: str) -> str | None:
    """`shutil.which(name)` on POSIX: the first executable file `name` in a folder of PATH. A
    generation with a Node.js function asks for npm (its version is in the cache key), and
    importing shutil, with bz2 and lzma, took 1.7 ms of it."""
    for folder in os.get_exec_path():
        path = os.path.join(folder, name)
        if os.access(path, os.X_OK) and not os.path.isdir(path):
            return path
    return None


@lru_cache(maxsize=1)
def npm_binary() -> str:
    npm = on_path("npm")
    if npm is None:
        raise BuildError("Node.js functions with dependencies need npm: install Node.js 20 or later (with npm) "
                         "and put it on PATH.")
    return npm


@lru_cache(maxsize=1)
def npm_version() -> str:
    """npm's version, read from its package.json beside the binary when possible (a `npm
    --version` costs ~0.2 s, paid on every warm build otherwise)."""
    real = Path(os.path.realpath(npm_binary()))
    for candidate in (real.parent.parent / "package.json", real.parent.parent / "lib" / "node_modules" / "npm" / "package.json"):
        try:
            data = json.loads(candidate.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("name") == "npm" and isinstance(data.get("version"), str):
            return data["version"]
    return run([npm_binary(), "--version"], what="npm --version").strip()


@lru_cache(maxsize=1)
def esbuild_version() -> str:
    """The esbuild version the committed lockfile pins."""
    lock = json.loads((ESBUILD_SPEC / "package-lock.json").read_text())
    return lock["packages"]["node_modules/esbuild"]["version"]


def tools_dir() -> Path:
    return Path(os.environ.get(TOOLS_DIR_ENV) or REPO_ROOT / ".cache" / "tools")


@lru_cache(maxsize=1)
def esbuild_binary() -> str:
    """esbuild, installed from the committed lockfile on first use (`npm ci` into a folder named
    after the lockfile's hash, so a new pin never reuses an old install)."""
    lock = (ESBUILD_SPEC / "package-lock.json").read_bytes()
    home = tools_dir() / f"esbuild-{sha256(lock).hexdigest()[:16]}"
    binary = home / "node_modules" / "esbuild" / "bin" / "esbuild"
    if (home / ".complete").is_file() and binary.is_file():
        return str(binary)
    import shutil
    import tempfile  # here, not at the top: a warm build only reads versions

    home.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".esbuild-", dir=home.parent))
    try:
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(ESBUILD_SPEC / name, work / name)
        run([npm_binary(), "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=work,
            what=f"installing esbuild {esbuild_version()} (npm ci)", network=True)
        (work / ".complete").write_text(esbuild_version())
        if not (home / ".complete").is_file():  # else another process installed it meanwhile
            shutil.rmtree(home, ignore_errors=True)
            try:
                os.rename(work, home)
            except OSError:
                if not (home / ".complete").is_file():
                    raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return str(binary)


# Phrases of uv's and npm's output that mean "the package index could not be reached".
OFFLINE_MARKERS = ("Failed to fetch", "error sending request", "Connection refused", "ECONNREFUSED", "ENOTFOUND",
                   "EAI_AGAIN", "ETIMEDOUT", "ECONNRESET", "dns error", "tcp connect error", "network is unreachable",
                   "Network is unreachable", "request to http", "Could not connect", "failed to connect")


def offline(output: str) -> bool:
    return any(marker in output for marker in OFFLINE_MARKERS)


def run(argv: list[str], *, what: str, cwd: Path | None = None, env: dict[str, str] | None = None,
        network: bool = False) -> str:
    """Run a build tool; its stdout, or a BuildError naming `what` with the end of its output.

    `network`: the tool reads a package index, so a connection failure is said as such."""
    import subprocess  # here: a generation whose builds are all cache hits runs no tool

    try:
        proc = subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              check=False)
    except OSError as exc:
        raise BuildError(f"{what}: cannot run {argv[0]} ({exc.strerror or exc}).") from None
    if proc.returncode != 0:
        output = (proc.stderr + proc.stdout).strip()
        if network and offline(output):
            raise BuildError(f"{what}: the package index cannot be reached ({first_line(output)}); connect to "
                             "the network or point the installer at a reachable index, then run again.")
        raise ToolFailed(what, output)
    return proc.stdout


class ToolFailed(BuildError):
    """A tool exited non-zero for another reason than the network; `output` is what it said."""

    def __init__(self, what: str, output: str):
        self.what, self.output = what, output
        super().__init__(f"{what} failed: {tail(output)}")


def first_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    meaningful = [line for line in lines if offline(line)]
    return (meaningful or lines or ["no output"])[0][:300]


def tail(output: str) -> str:
    text = " ".join(line.strip() for line in output.splitlines() if line.strip())
    return text[-OUTPUT_TAIL:] or "no output"
