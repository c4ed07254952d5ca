"""A function's dependencies for local runs (`invoke`, `serve`): the same lockfile, installed
for this machine (its Python, its Node.js), cached like Lambda builds (cache.py, host/).

- Python: a folder to put on sys.path after the handler's own folder.
- Node.js: a fresh copy of the handler's sources beside a node_modules from `npm ci` of its
  lockfile, development dependencies included (locally they stand in for what the Lambda
  runtime provides, such as the AWS SDK). The copy, not the source folder, is run, so a
  node_modules the user left there is never what the function sees.
"""
from __future__ import annotations

import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path

from infra.assets import source_entries
from infra.bundle import node, python
from infra.bundle.cache import Cache, key
from infra.bundle.recipe import Recipe, RecipeError, detect
from infra.bundle.tools import BuildError, npm_version, uv_version
from infra.config.schema import Config


def recipe_of(cfg: Config, name: str) -> Recipe | None:
    fn = cfg.functions[name]
    try:
        return detect(Path(cfg.root) / fn.source, fn.runtime)
    except RecipeError as exc:
        raise BuildError(f"{cfg.file}: functions.{name}.source: {fn.source}: {exc.problem} Fix: {exc.fix_in(fn.source)}",
                         exit_code=2) from None



def python_dependencies(cfg: Config, name: str, cache: Cache | None = None) -> Path | None:
    """The function's dependencies installed for this Python, or None when it declares none."""
    recipe = recipe_of(cfg, name)
    if recipe is None:
        return None
    cache = cache or Cache.at(Path(cfg.root))
    host = f"{sys.implementation.name}{sys.version_info[0]}.{sys.version_info[1]}-{sys.platform}-{platform.machine()}"
    what = f"functions.{name} ({cfg.functions[name].source})"
    k = key(kind=recipe.kind, host=host, tools={"uv": uv_version()}, inputs=recipe.digests(), hashed=recipe.hashed)
    tree = cache.tree("host", k, lambda tree, scratch: python.install_for_host(recipe, tree, scratch, what))
    cache.prune()
    return tree


def node_run_folder(cfg: Config, name: str, cache: Cache | None = None) -> Path | None:
    """A new folder holding a copy of the function's sources and its dependencies for this
    machine (the caller deletes it), or None when it declares none."""
    recipe = recipe_of(cfg, name)
    if recipe is None:
        return None
    cache = cache or Cache.at(Path(cfg.root))
    what = f"functions.{name} ({cfg.functions[name].source})"
    k = key(kind="npm-host", host=f"{sys.platform}-{platform.machine()}", tools={"npm": npm_version()},
            inputs=recipe.digests())

    def install(tree: Path, scratch: Path) -> None:
        for path in recipe.inputs:
            shutil.copyfile(path, tree / path.name)
        node.npm_ci(tree, what, dev=True)

    modules = cache.tree("host", k, install) / "node_modules"
    cache.prune()
    (cache.root / "local").mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=cache.root / "local"))
    for rel, path in source_entries(recipe.source):
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, folder / rel)
    for path in recipe.inputs:
        shutil.copyfile(path, folder / path.name)
    if modules.is_dir():
        os.symlink(modules, folder / "node_modules", target_is_directory=True)
    return folder
