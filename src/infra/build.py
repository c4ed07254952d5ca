"""From stage config to `out/<config>/`: templates, assets, the manifest the deployer reads, and
the placement lock kept beside the config."""
from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import field
from pathlib import Path
from typing import Callable

from infra import quotas
from infra.builders.releases import manifest as release_manifest
from infra.bundle.build import Progress, assets as code_assets, build_code
from infra.bundle.cache import Cache
from infra.config import Config, load_config
from infra.errors import ConfigError, UsageError, UserError, first_few
from infra.naming import physical, stack_name, tags
from infra.placement import lock_path, read_lock, render_lock, replace_lock
from infra.records import record
from infra.render import SameBytes, replace_dirs, template_json, to_json_bytes, unwritable_reason
from infra.resource_types import stateful_types

STATEFUL_TYPES = stateful_types()


@record
class Output:
    """One config's generated files (relative path -> bytes), its placement lock, and how many
    stacks and resources it holds (for the summary line). A zip read from the build cache is in
    `same` only: `render.replace_dirs` links that file, and reads it only where linking fails."""

    files: dict[str, bytes]
    lock: bytes
    stacks: tuple[str, ...] = ()
    resources: int = 0
    same: dict[str, SameBytes] = field(default_factory=dict)  # files written as hard links (render.replace_dirs)


def generate(cfg: Config, lock: dict[str, str] | None = None, progress: Progress = lambda _: None,
             cache: Cache | None = None) -> Output:
    """Every file of one config's output directory, and the updated lock: in memory, but for
    the zips the build cache holds, which are named (`Output.same`) and linked when written.

    `progress` hears about each function whose dependencies are installed or bundled (cache misses);
    `cache`: the build cache (default: the config's repository's)."""
    from infra.diagram import markdown
    from infra.openapi import client_document
    from templates import edge_global, root  # templates import infra; keep infra importable alone

    codes = build_code(cfg, progress, cache)
    assets = code_assets(codes)
    plan = root.layout(cfg, codes, lock or {})
    kids = plan.children
    top = root.build(cfg, kids)
    stacks = [("root.json", top)] + [(k.file, k.stack) for k in kids]
    global_stack = None
    if edge_global.needed(cfg):
        us_east_1 = edge_global.build(cfg)
        stacks.append((edge_global.FILE, us_east_1))
        # Each output of the us-east-1 stack fills the root parameter of the same name.
        global_stack = {"template": edge_global.FILE, "stack_name": physical(cfg, "global"),
                        "region": edge_global.REGION,
                        "outputs": {name: name for name in sorted(us_east_1.template.outputs)}}

    files: dict[str, bytes] = {}
    in_root = total = 0
    for name, stack in stacks:
        data, compact = template_json(stack.template)
        quotas.check(f"{cfg.name}/{name}", data, compact)
        files[name] = to_json_bytes(data)
        total += len(data.get("Resources", {}))
        if name != edge_global.FILE:
            in_root += len(data.get("Resources", {}))
    if in_root > quotas.MAX_NESTED_OPERATION:
        raise ConfigError(cfg.file, "(system)", f"the root and its nested stacks hold {in_root} resources; one "
                          f"CloudFormation operation on nested stacks may touch at most {quotas.MAX_NESTED_OPERATION}.",
                          "split the system into two configs (two root stacks).")
    same = {}
    for asset in assets:
        if asset.loaded is not None:  # built now; else a cache hit, linked (or read) when written
            files[asset.key] = asset.loaded
        if asset.same is not None:
            same[asset.key] = asset.same
    if cfg.api:
        files["openapi.json"] = to_json_bytes(client_document(cfg))
    files["diagram.md"] = markdown(cfg, plan.placement).encode()
    manifest = {
        "config": cfg.file,
        "name": cfg.name,
        "project": cfg.project.name,
        "stage": cfg.project.stage,
        "stack_name": stack_name(cfg),
        "region": cfg.project.region,
        "production": cfg.project.production,
        "root_template": "root.json",
        "templates": {k.logical_id: k.file for k in kids},
        "placement": dict(sorted(plan.placement.items())),
        "assets": [{"file": a.key, "key": a.key, "source": a.source} for a in assets],
        "root_parameters": dict(sorted((name, p.properties.get("Description", ""))
                                       for name, p in top.template.parameters.items())),
        "global": global_stack,
        "stateful_types": STATEFUL_TYPES,
        "tags": tags(cfg),
        "termination_protection": cfg.project.production,
    }
    releases = release_manifest(cfg)
    if releases:
        manifest["releases"] = releases
    files["manifest.json"] = to_json_bytes(manifest)
    return Output(files, render_lock(plan.placement), tuple(sorted(n.removesuffix(".json") for n, _ in stacks)),
                  total, same)


def build_configs(paths: list[Path], out_root: Path, *, locked: bool = False, write_lock: bool = True,
                  on_built: Callable[[Config, Output, Path], None] | None = None,
                  progress: Progress = lambda _: None) -> list[Path]:
    """Validate and generate every config first, then write each `out_root/<name>/` atomically,
    then (with `write_lock`) each config's lock file, only where it changed.

    Nothing is written unless every config is valid, every template within quotas and every
    lock file that would change writable. With `locked`, a lock file that is missing or would
    change is an error (for CI: the committed lock must match the config). Only `templates` and
    a successful `deploy` write lock files: `diff` and the other commands read them.
    """
    with cycle_collector_paused():
        results = _generate_all(paths, out_root, locked=locked, write_lock=write_lock, progress=progress)
    trees = {out_root / cfg.name: out.files for cfg, out, _, _ in results}
    try:
        replace_dirs(trees, {out_root / cfg.name: out.same for cfg, out, _, _ in results})
    except OSError as exc:
        where = getattr(exc, "filename", None) or out_root
        reason = exc.strerror or exc
        if isinstance(exc, FileExistsError) and os.path.exists(where) and not os.path.isdir(where):
            reason = "it exists and is not a directory"  # e.g. /dev/null, which click's file_okay=False lets through
        raise UserError(f"cannot write {where}: {reason}. Choose another --out directory than "
                        f"{out_root}.", exit_code=2) from None
    if write_lock:
        for _, out, lock_file, old in results:
            if out.lock != old:
                replace_lock(lock_file, out.lock)
    if on_built:
        for cfg, out, _, _ in results:
            on_built(cfg, out, out_root / cfg.name)
    return list(trees)


@contextmanager
def cycle_collector_paused() -> Iterator[None]:
    """Generating allocates hundreds of thousands of short-lived objects (troposphere resources,
    dicts) that reference counting frees; CPython's cycle collector would walk them again and
    again for no garbage (measured: 90 passes, about 6 % of generating the shipped configs; 270
    passes, 15 % for the large config). It is paused while generating and resumed afterwards, when
    any cycle made meanwhile is collected as usual (`watch` regenerates in one long process)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _generate_all(paths: list[Path], out_root: Path, *, locked: bool, write_lock: bool,
                  progress: Progress) -> list[tuple[Config, Output, Path, bytes | None]]:
    """Load and generate every config, checking each lock file (nothing is written here)."""
    configs = [load_config(p) for p in paths]
    names = [c.name for c in configs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise UsageError(f"two configs would both write {out_root / dupes[0]}/: config file names must be unique.")
    results = []
    caches: dict[str, Cache] = {}  # one per repository, shared by its configs (a zip two stages ship is checked once)
    for path, cfg in zip(paths, configs):
        lock_file = lock_path(path)
        old = lock_file.read_bytes() if lock_file.is_file() else None
        cache = caches.setdefault(cfg.root, Cache.at(Path(cfg.root), remember=True))
        out = generate(cfg, read_lock(lock_file), progress, cache)
        if locked and out.lock != old:
            raise ConfigError(str(lock_file), "placement", _lock_difference(old, out.lock),
                              "run `python generate.py templates` and commit the lock file.")
        if write_lock and out.lock != old:
            _check_lock_writable(lock_file)
        results.append((cfg, out, lock_file, old))
    return results


def _lock_difference(old: bytes | None, new: bytes) -> str:
    """What `templates --locked` found: which entries the lock lacks, has in excess, or places
    elsewhere, or that only its formatting differs."""
    import json

    if old is None:
        return "the lock file is missing."
    try:
        before = json.loads(old).get("placement") or {}
    except (ValueError, AttributeError):
        before = {}
    after = json.loads(new).get("placement") or {}
    parts = []
    for label, keys in (("not recorded", sorted(set(after) - set(before))),
                        ("recorded but no longer in the config", sorted(set(before) - set(after))),
                        ("recorded in another stack", sorted(k for k in set(before) & set(after)
                                                              if before[k] != after[k]))):
        if keys:
            parts.append(f"{label}: {first_few(keys)}")
    return ("it is out of date (" + "; ".join(parts) + ")." if parts
            else "it records the same placement, but not as `templates` writes it (its formatting differs).")


def _check_lock_writable(lock_file: Path) -> None:
    reason = unwritable_reason(lock_file)
    if reason:
        raise UserError(f"cannot write the placement lock file {lock_file}: {reason}. The lock records which "
                        "nested stack holds each resource; make it writable (it belongs beside the config, "
                        "in version control).", exit_code=2)


def build_config(config_path: Path, out_root: Path) -> Path:
    """Validate one config and write `out_root/<config stem>/`; return that directory. The lock
    file is read, never written: the deploy commands use this, and only `templates` and a
    successful `deploy` (its RecordPlacement step) write the lock."""
    return build_configs([Path(config_path)], Path(out_root), write_lock=False)[0]
