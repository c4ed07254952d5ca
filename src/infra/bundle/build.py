"""Every function's code for Lambda: its source, with its dependencies, zipped reproducibly.

- No dependencies declared: the source folder zipped as it is (`infra.assets.build_asset`).
- Python: the source plus the dependencies installed for the function's runtime and
  architecture, in one zip; or, with `layer = true`, the source alone plus a shared layer
  holding the dependencies under python/ (one layer per lockfile, runtime and architecture).
- Node.js: one esbuild bundle of the handler and its dependencies.

Each build with dependencies is cached under the hash of its inputs (cache.key): the sources,
the lockfile, the runtime, the architecture and the tools' versions. Size limits are checked
on every function, cached or not.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import field
from pathlib import Path

from infra.assets import Asset, source_entries, zip_entries, zip_onto
from infra.bundle import limits
from infra.bundle.cache import Cache, digest_files, key
from infra.bundle.code import Code, Layer
from infra.bundle.recipe import Recipe, RecipeError, detect
from infra.config.schema import Config
from infra.errors import ConfigError, UserError
from infra.naming import logical_id
from infra.records import record

# The installers (bundle.python, bundle.node, bundle.tools) load only when a function declares
# dependencies: generating a config without any costs nothing more than before.
Progress = Callable[[str], None]
# Installer bookkeeping that differs between installers, machines or runs, and programs whose
# first line names this machine's interpreter: never part of a function's code.
DIST_INFO_SKIP = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json", "uv_cache.json", "uv_build.json"}
LAYER_PREFIX = "python/"  # Lambda puts /opt/python on a Python function's sys.path


@record(frozen=False)
class _Run:
    cfg: Config
    cache: Cache
    progress: Progress
    plain: dict[str, tuple[Asset, int]] = field(default_factory=dict)
    done: dict[tuple, Code] = field(default_factory=dict)  # functions that build the same zip share it
    recipes: dict[tuple[str, bool], Recipe | None] = field(default_factory=dict)  # by source and language
    layers: dict[str, Layer] = field(default_factory=dict)


def build_code(cfg: Config, progress: Progress = lambda _: None, cache: Cache | None = None) -> dict[str, Code]:
    """The code of every function of `cfg` (name -> Code). Raises ConfigError (exit 2) for a
    declaration that cannot be built or a function over Lambda's size limits, BuildError for a
    failed install (exit 1; 2 when the fix is in the declaration)."""
    run = _Run(cfg, cache or Cache.at(Path(cfg.root)), progress)
    codes = {}
    for name in sorted(cfg.functions):
        codes[name] = _function(run, name)
        limits.check(cfg.file, f"functions.{name}", codes[name])
    run.cache.prune()  # only when this build wrote an entry, at most hourly (cache.py)
    return codes


def assets(codes: dict[str, Code]) -> list[Asset]:
    """Every distinct zip to upload (function code and layers), in a stable order."""
    unique = {c.asset.key: c.asset for c in codes.values()}
    unique.update({c.layer.asset.key: c.layer.asset for c in codes.values() if c.layer})
    return sorted(unique.values(), key=lambda a: (a.source, a.key))


def _function(run: _Run, name: str) -> Code:
    cfg, fn = run.cfg, run.cfg.functions[name]
    language = (fn.source, fn.runtime.startswith("python"))
    if language not in run.recipes:
        try:
            run.recipes[language] = detect(Path(cfg.root) / fn.source, fn.runtime)
        except RecipeError as exc:
            raise ConfigError(cfg.file, f"functions.{name}.source", f"{fn.source}: {exc.problem}", exc.fix_in(fn.source)) from None
    recipe = run.recipes[language]
    if recipe is None and fn.layer:
        raise ConfigError(cfg.file, f"functions.{name}.layer", f"'{fn.source}' declares no dependencies "
                          "(requirements.txt, or pyproject.toml with uv.lock), so there is nothing to put in a layer.",
                          "declare them, or remove layer.")
    if recipe is None and fn.source_map:
        raise ConfigError(cfg.file, f"functions.{name}.source_map", f"'{fn.source}' declares no dependencies "
                          "(package.json with package-lock.json), so nothing is bundled and there is no source map.",
                          "remove source_map.")
    if recipe is None:
        asset, size = _plain(run, fn.source)
        return Code(asset, unzipped=size)
    what = f"functions.{name} ({fn.source})"
    same = (fn.source, fn.runtime, fn.architecture, fn.layer, fn.handler if recipe.kind == "npm" else "",
            fn.source_map)
    if same not in run.done:
        if recipe.kind == "npm":
            run.done[same] = _node(run, name, recipe, what)
        elif fn.layer:
            asset, size = _plain(run, fn.source)
            run.done[same] = Code(asset, layer=_layer(run, recipe, fn.runtime, fn.architecture, what), unzipped=size)
        else:
            run.done[same] = _python(run, recipe, fn.source, fn.runtime, fn.architecture, what)
    return run.done[same]


def _plain(run: _Run, source: str) -> tuple[Asset, int]:
    """A folder without dependencies, zipped as build_asset zips it (cached by its files: an
    unchanged function is read back, not compressed again, and zipfile is not even imported)."""
    if source not in run.plain:
        entries = source_entries(Path(run.cfg.root) / source)
        zip_key = key(source=digest_files(entries), mode="plain")
        hit = _cached(run, zip_key, source)
        if hit is not None:
            run.plain[source] = (hit[0], int(hit[1]["unzipped"]))
        else:
            data, size = zip_entries(entries), sum(path.stat().st_size for _, path in entries)
            try:
                asset = _store(run, zip_key, source, data, {"unzipped": size})
            except OSError:  # a cache that cannot be written only costs the next run this zip again
                asset = Asset.of(source, data)
            run.plain[source] = (asset, size)
    return run.plain[source]


def _cached(run: _Run, zip_key: str, source: str) -> tuple[Asset, dict] | None:
    """The cached zip `zip_key` as the asset of `source` (the cache's file, with the hash the
    cache checked: linked into out/, read only if that fails) and its report, or None on a miss."""
    hit = run.cache.zip(zip_key)
    if hit is None:
        return None
    same, meta = hit
    return Asset.cached(source, same), meta


def _store(run: _Run, zip_key: str, source: str, data: bytes, meta: dict) -> Asset:
    """Cache a zip just built and return it as the asset of `source`, linkable into out/."""
    return Asset.of(source, data, run.cache.put_zip(zip_key, data, meta))


def _rel(run: _Run, path: Path) -> str:
    try:
        return path.relative_to(Path(run.cfg.root)).as_posix()
    except ValueError:
        return path.as_posix()


# -- Python -----------------------------------------------------------------------------------

def _deps_key(recipe: Recipe, runtime: str, architecture: str) -> str:
    from infra.bundle import tools
    from infra.bundle.python import uv_platform

    return key(kind=recipe.kind, runtime=runtime, architecture=architecture, tools={"uv": tools.uv_version()},
               platform=uv_platform(architecture, runtime), inputs=recipe.digests(), hashed=recipe.hashed)


def _deps(run: _Run, recipe: Recipe, runtime: str, architecture: str, what: str) -> Path:
    """Dependencies installed for Lambda (cached by lockfile, runtime, architecture and uv)."""
    deps_key = _deps_key(recipe, runtime, architecture)

    def install(tree: Path, scratch: Path) -> None:
        from infra.bundle import python

        run.progress(f"{what}: installing {_rel(run, recipe.lockfile)} for {runtime} {architecture}")
        python.install_for_lambda(recipe, runtime, architecture, tree, scratch, what)

    return run.cache.tree("deps", deps_key, install)


def dependency_entries(tree: Path, prefix: str = "") -> list[tuple[str, Path]]:
    """An installed tree's files as zip entries, without bytecode, programs (bin/: their first
    line names the build machine's interpreter) and installer bookkeeping."""
    entries = []
    for folder, dirs, files in os.walk(tree):
        rel_dir = Path(folder).relative_to(tree)
        dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not (rel_dir == Path(".") and d == "bin"))
        in_dist_info = rel_dir.name.endswith(".dist-info")
        for name in files:
            if name.endswith((".pyc", ".pyo")) or (rel_dir == Path(".") and name in (".complete", ".lock")):
                continue
            if in_dist_info and name in DIST_INFO_SKIP:
                continue
            entries.append((prefix + (rel_dir / name).as_posix(), Path(folder, name)))
    return entries


def _sizes(entries: list[tuple[str, Path]], prefix: str = "") -> tuple[int, tuple[tuple[str, int], ...]]:
    """Unzipped bytes in total and per top-level package (largest first)."""
    per: dict[str, int] = {}
    total = 0
    for name, path in entries:
        size = path.stat().st_size
        total += size
        top, _, rest = name.removeprefix(prefix).partition("/")
        if top.endswith(".dist-info"):
            top = top.removesuffix(".dist-info").rsplit("-", 1)[0]
        elif not rest:
            top = top.split(".", 1)[0]  # a module file: six.py, _cffi_backend.cpython-314-....so
        per[top] = per.get(top, 0) + size
    return total, tuple(sorted(per.items(), key=lambda kv: (-kv[1], kv[0])))


def _python(run: _Run, recipe: Recipe, source: str, runtime: str, architecture: str, what: str) -> Code:
    code = source_entries(recipe.source)
    deps_key = _deps_key(recipe, runtime, architecture)
    zip_key = key(deps=deps_key, source=digest_files(code), mode="bundled")
    hit = _cached(run, zip_key, source)
    if hit is not None:
        return Code(hit[0], unzipped=hit[1]["unzipped"], packages=_packages(hit[1]))
    tree = _deps(run, recipe, runtime, architecture, what)
    deps = dependency_entries(tree)
    clash = sorted({n for n, _ in code} & {n for n, _ in deps})
    if clash:
        raise ConfigError(run.cfg.file, f"{what.split(' ')[0]}.source",
                          f"{source}/{clash[0]} is also a file of an installed dependency.",
                          "rename the function's file or drop the dependency that ships it.")
    data = zip_onto(_deps_zip(run, deps_key, deps), code)
    unzipped, packages = _sizes([*code, *deps])
    return Code(_store(run, zip_key, source, data, {"unzipped": unzipped, "packages": packages}),
                unzipped=unzipped, packages=packages)


def _deps_zip(run: _Run, deps_key: str, deps: list[tuple[str, Path]]) -> bytes:
    """The installed dependencies alone, zipped (cached): each change to the function's own code
    adds its files to these bytes instead of compressing every dependency again (sync, watch)."""
    part_key = key(deps=deps_key, mode="dependencies")
    hit = run.cache.zip(part_key)
    if hit is not None:
        try:
            return hit[0].read()
        except UserError:  # gone or changed since it was checked (another process): zipped again
            pass
    data = zip_entries(deps, executable=lambda _: True)
    run.cache.put_zip(part_key, data, {})
    return data


def _layer(run: _Run, recipe: Recipe, runtime: str, architecture: str, what: str) -> Layer:
    lockfile = _rel(run, recipe.lockfile)
    lid = logical_id(_rel(run, recipe.source), runtime, architecture, "Deps", "Layer")
    if lid in run.layers:
        return run.layers[lid]
    deps_key = _deps_key(recipe, runtime, architecture)
    zip_key = key(deps=deps_key, mode="layer")
    hit = _cached(run, zip_key, lockfile)
    if hit is not None:
        asset, unzipped, packages = hit[0], hit[1]["unzipped"], _packages(hit[1])
    else:
        tree = _deps(run, recipe, runtime, architecture, what)
        deps = dependency_entries(tree, LAYER_PREFIX)
        data = zip_entries(deps, executable=lambda _: True)
        unzipped, packages = _sizes(deps, LAYER_PREFIX)
        asset = _store(run, zip_key, lockfile, data, {"unzipped": unzipped, "packages": packages})
    from infra.bundle.python import python_version

    slug = "-".join(part for part in _rel(run, recipe.source).replace("_", "-").split("/") if part).lower()
    name = f"deps-{slug}-py{python_version(runtime).replace('.', '')}-{architecture.replace('_', '')}"
    layer = Layer(lid, name, asset, runtime, architecture, lockfile, unzipped, packages)
    run.layers[lid] = layer
    return layer


def _packages(meta: dict) -> tuple[tuple[str, int], ...]:
    return tuple((str(n), int(s)) for n, s in meta.get("packages", []))


# -- Node.js ----------------------------------------------------------------------------------

def _node(run: _Run, name: str, recipe: Recipe, what: str) -> Code:
    from infra.bundle import node
    from infra.bundle.tools import BuildError, esbuild_version, npm_version

    fn = run.cfg.functions[name]
    source = fn.source
    code = source_entries(recipe.source)
    zip_key = key(kind="npm", runtime=fn.runtime, architecture=fn.architecture, handler=fn.handler,
                  source_map=fn.source_map, tools={"npm": npm_version(), "esbuild": esbuild_version()},
                  inputs=recipe.digests(), source=digest_files(code))
    hit = _cached(run, zip_key, source)
    if hit is not None:
        return Code(hit[0], unzipped=hit[1]["unzipped"], packages=_packages(hit[1]))
    deps_key = key(kind="npm-deps", tools={"npm": npm_version()}, inputs=recipe.digests())

    def install(tree: Path, scratch: Path) -> None:
        run.progress(f"{what}: installing {_rel(run, recipe.lockfile)} (npm ci)")
        node.install_for_lambda(recipe, tree, what)

    node_modules = run.cache.tree("npm", deps_key, install) / "node_modules"
    run.progress(f"{what}: bundling with esbuild {esbuild_version()} for {fn.runtime}")
    with run.cache.scratch() as tmp:
        staging = Path(tmp)
        try:
            entries, packages = node.bundle(recipe, code, fn.handler, fn.runtime, fn.source_map, staging, what,
                                            node_modules)
        except FileNotFoundError as exc:
            raise BuildError(f"{what}: a file of the function is missing ({exc}).", exit_code=2) from None
        data = zip_entries(entries)
        unzipped = sum(path.stat().st_size for _, path in entries)
    meta_packages = tuple(packages)
    return Code(_store(run, zip_key, source, data, {"unzipped": unzipped, "packages": meta_packages}),
                unzipped=unzipped, packages=meta_packages)
