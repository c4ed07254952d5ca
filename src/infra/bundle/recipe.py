"""What a function's source folder declares about its dependencies, the standard way.

- Python: `requirements.txt` (hashes honoured when present), or `pyproject.toml` with `uv.lock`;
- Node.js: `package.json` whose `dependencies` are locked by `package-lock.json`.

No declaration, or one that declares nothing, means no dependencies: the folder is zipped as it
is. Reads files only (the config validation calls it), imports nothing of the config.
"""
from __future__ import annotations

import json
import re
import tomli
from pathlib import Path

from infra.digest import sha256
from infra.records import record

# requirements.txt options that pull in other files: the build cache keys on this file's bytes
# alone, so the file must say everything (a lock), not point elsewhere.
# pip's short options take their value attached too (-rother.txt).
_INCLUDES = re.compile(r"^\s*(-[rce]|--(requirement|constraint|editable)([\s=]|$))")
# What installs from this machine's files: a path (./pkg, /tmp/x.whl, dist/x.whl, libs/pkg), a
# file: URL or a path after `name @`, or an index option pointing at a folder (--find-links
# /wheels; --no-index, which leaves only such links). An index named by an environment variable
# (${PIP_INDEX_URL}: uv expands it) is taken as remote. (Plain string tests: a regex that says all
# this costs half a millisecond to compile on every generation.)
_INDEX_OPTIONS = ("--find-links", "--extra-index-url", "--index-url", "-f", "-i")


def _remote(value: str) -> bool:
    scheme, sep, rest = value.partition("://")
    return bool(sep) and scheme.replace("+", "").replace(".", "").replace("-", "").isalnum() \
        and scheme.lower() != "file" or value.startswith("${")


def _a_path(value: str) -> bool:
    return value.startswith(("./", "../", "/")) or value[:5].lower() == "file:"


def _local(line: str) -> bool:
    text = line.strip()
    if text.startswith("--no-index"):
        return True
    for option in _INDEX_OPTIONS:
        if text.startswith(option):
            return not _remote(text[len(option):].lstrip(" \t="))
    if text.startswith("-"):
        return False
    specifier = text.split(";", 1)[0].split(" --", 1)[0]
    if _a_path(specifier) or ("@" in specifier and _a_path(specifier.split("@", 1)[1].strip())):
        return True
    # A requirement is a name, extras, versions and markers: none has a '/', which only a path
    # (or a URL, with its scheme) brings.
    return "/" in specifier and "://" not in specifier


class RecipeError(Exception):
    """The declaration is incomplete or ambiguous: `problem` and `fix`, for a ConfigError. A fix
    that says where to run a command names the folder as `{folder}`: see `fix_in`."""

    def __init__(self, problem: str, fix: str):
        super().__init__(problem)
        self.problem, self.fix = problem, fix

    def fix_in(self, folder: str) -> str:
        """The fix, naming the function's folder as the config gives it (e.g. handlers/notify)."""
        return self.fix.replace("{folder}", folder)


@record
class Recipe:
    """A function's declared dependencies: `kind` is 'requirements', 'uv' or 'npm'."""

    kind: str
    source: Path
    manifest: Path          # what declares them: requirements.txt, pyproject.toml, package.json
    lockfile: Path          # what pins them: requirements.txt, uv.lock, package-lock.json
    hashed: bool = False    # requirements.txt with --hash: installed with --require-hashes
    dependencies: tuple[str, ...] = ()  # npm: the names under `dependencies`

    @property
    def inputs(self) -> tuple[Path, ...]:
        """The files whose bytes decide what is installed."""
        return tuple(dict.fromkeys((self.manifest, self.lockfile)))

    def digests(self) -> dict[str, str]:
        """sha256 of each input file, by file name (part of every cache key)."""
        return {p.name: sha256(p.read_bytes()).hexdigest() for p in self.inputs}

    @property
    def pins_aws_sdk(self) -> bool:
        """The function ships its own AWS SDK v3 (else the runtime's is used)."""
        return any(name.startswith("@aws-sdk/") for name in self.dependencies)


def detect(source: Path, runtime: str) -> Recipe | None:
    """The recipe of `source` for `runtime` ('python3.x' or 'nodejsNN.x'); None without dependencies.
    Raises RecipeError when a declaration cannot be built reproducibly."""
    if runtime.startswith("python"):
        return _python(source)
    return _node(source)


def _python(source: Path) -> Recipe | None:
    req = source / "requirements.txt"
    project, lock = source / "pyproject.toml", source / "uv.lock"
    from_requirements = _requirements(req) if req.is_file() else None
    declared = _project_dependencies(project) if project.is_file() else []
    if lock.is_file() and not project.is_file():
        raise RecipeError(f"{lock.name} is there without the pyproject.toml it locks.",
                          "add the pyproject.toml (uv init; uv add ...) or delete uv.lock.")
    uses_uv = lock.is_file() or bool(declared)
    if from_requirements is not None and uses_uv:
        raise RecipeError("both requirements.txt and pyproject.toml/uv.lock declare dependencies.",
                          "keep one of them (uv export --format requirements.txt writes a requirements.txt from uv.lock).")
    if from_requirements is not None:
        return from_requirements
    if declared and not lock.is_file():
        raise RecipeError(f"pyproject.toml declares dependencies ({', '.join(declared[:3])}) but there is no uv.lock.",
                          "run `uv lock` in {folder} and commit uv.lock.")
    if lock.is_file():
        return Recipe("uv", source, project, lock, hashed=True) if declared or _lock_has_packages(lock) else None
    return None


def _requirements(path: Path) -> Recipe | None:
    hashed, any_requirement = False, False
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(f"requirements.txt cannot be read ({exc}).", "save it as UTF-8 text.") from None
    for number, raw in enumerate(text.replace("\\\n", " ").splitlines(), 1):
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        if _INCLUDES.match(line):
            raise RecipeError(f"requirements.txt line {number} ('{line[:60]}') includes another file or an "
                              "editable install, so the file alone does not say what is installed.",
                              "write every requirement in this one file (`uv pip compile --generate-hashes` "
                              "writes such a lock).")
        if _local(line):
            raise RecipeError(f"requirements.txt line {number} ('{line[:60]}') installs from a local path, which "
                              "is not reproducible on another machine.", "publish the package to an index and pin it.")
        hashed = hashed or "--hash" in line
        any_requirement = any_requirement or not line.startswith("-")
    return Recipe("requirements", path.parent, path, path, hashed=hashed) if any_requirement else None


def _project_dependencies(path: Path) -> list[str]:
    try:
        data = tomli.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomli.TOMLDecodeError) as exc:
        raise RecipeError(f"pyproject.toml is not valid TOML ({exc}).", "fix its syntax.") from None
    deps = data.get("project", {}).get("dependencies", []) if isinstance(data.get("project"), dict) else []
    return [str(d) for d in deps] if isinstance(deps, list) else []


def _lock_has_packages(path: Path) -> bool:
    try:
        data = tomli.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomli.TOMLDecodeError) as exc:
        raise RecipeError(f"uv.lock is not a valid lock ({exc}).", "run `uv lock` again.") from None
    packages = data.get("package", [])
    # The project itself is one package of its lock; dependencies are the others.
    return isinstance(packages, list) and sum(1 for p in packages if isinstance(p, dict)
                                              and "virtual" not in p.get("source", {})
                                              and "editable" not in p.get("source", {})) > 0


def _node(source: Path) -> Recipe | None:
    manifest = source / "package.json"
    if not manifest.is_file():
        return None
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise RecipeError(f"package.json is not valid JSON ({exc}).", "fix its syntax.") from None
    deps = data.get("dependencies") if isinstance(data, dict) else None
    if not isinstance(deps, dict) or not deps:
        return None  # devDependencies are for tests: nothing to ship
    lock = source / "package-lock.json"
    if not lock.is_file():
        raise RecipeError(f"package.json declares dependencies ({', '.join(sorted(deps)[:3])}) but there is no "
                          "package-lock.json, so what is installed would change over time.",
                          "run `npm install` in {folder} and commit package-lock.json.")
    return Recipe("npm", source, manifest, lock, hashed=True, dependencies=tuple(sorted(deps)))
