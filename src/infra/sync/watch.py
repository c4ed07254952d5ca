"""`watch`: one long-lived process that regenerates, re-lints and (with --sync) syncs on every save.

The generator and cfn-lint stay loaded, so a save pays only for what changed: the configs whose
file or handler sources changed are generated again, the templates whose bytes changed are linted
in this process (the same `lint` as the command, with its findings kept in memory by the same
cache key), and with `--sync` the stage is synced. Saves are debounced by watchfiles (writes that
follow each other within STEP_MS, an editor's save, are one change); a failing build is printed
and watching goes on; Ctrl-C ends the process with exit code 130.
"""
from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.assets import EXCLUDED_DIRS
from infra.digest import sha256
from infra.errors import UserError

DEBOUNCE_MS = 200   # the longest stretch of writes grouped into one change (watchfiles' debounce)
STEP_MS = 25        # the quiet time that ends a change (watchfiles' step)
READY_MS = 100      # the notifier's first idle timeout: then it is surely running


@dataclass
class Watched:
    """One config, the handler directories its functions are built from, and what links in those
    directories lead to outside them (handlers/products/apigw.py -> handlers/shared/apigw.py): a
    save there changes the zips too, and a watch on the directory never sees it."""

    config: Path
    sources: set[Path] = field(default_factory=set)
    links: set[Path] = field(default_factory=set)

    @property
    def roots(self) -> set[Path]:
        return self.sources | self.links


def linked(sources: Iterable[Path], root: Path) -> set[Path]:
    """The targets of symbolic links inside `sources` that lie outside them but inside the project
    (`root`) or beside them (handlers/shared next to handlers/products): a link to a file somewhere
    else would have its whole folder watched. A broken link or a loop is left out (the build leaves
    it out too)."""
    sources = list(sources)
    found: set[Path] = set()
    for src in sources:
        for folder, dirs, files in os.walk(src):
            dirs[:] = [d for d in dirs if d not in EXCLUDED_DIRS and not d.startswith(".")]
            for name in [*files, *dirs]:
                path = Path(folder) / name
                if not path.is_symlink():
                    continue
                try:
                    target = path.resolve(strict=True)
                except (OSError, RuntimeError):   # broken, or a loop (RuntimeError before Python 3.13)
                    continue
                near = target.is_relative_to(root) or any(target.is_relative_to(s.parent) for s in sources)
                if near and not any(target.is_relative_to(s) for s in sources):
                    found.add(target)
    return found


def watched(configs: list[Path], previous: Iterable[Watched] = ()) -> list[Watched]:
    """Each config with its handler directories (read from the config itself). A config that does
    not load keeps the directories it had in `previous` (a handler directory that is removed and
    comes back, a branch switch, is seen coming back) and adds those its TOML names: a handler
    directory or file its error asks for (a function just added) is seen when it is created. Either
    way the config is built again."""
    from infra.config import REPO_ROOT, load_config

    known = {item.config: item for item in previous}
    found = []
    for path in configs:
        path = path.resolve()
        try:
            cfg = load_config(path)
        except UserError:
            old = known.get(path)
            # A source being typed ("h", "/ho") would have its nearest existing folder watched, the
            # whole project or more: such a one is left out until it names a folder inside it.
            declared = {src for src in declared_sources(path, REPO_ROOT) if not REPO_ROOT.is_relative_to(_existing(src))}
            sources = (set(old.sources) if old else set()) | declared
            found.append(Watched(path, sources, set(old.links) if old else set()))
            continue
        root = Path(cfg.root)
        sources = {(root / fn.source).resolve() for fn in cfg.functions.values()}
        found.append(Watched(path, sources, linked(sources, root.resolve())))
    return found


def declared_sources(config: Path, root: Path) -> set[Path]:
    """The handler directories a config's TOML names (each function's `source`, relative to
    `root` as the config's are), read without validating it; none when it is not valid TOML."""
    import tomli

    try:
        raw = tomli.loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomli.TOMLDecodeError):
        return set()
    functions = raw.get("functions")
    if not isinstance(functions, dict):
        return set()
    found = set()
    for fn in functions.values():
        if isinstance(fn, dict) and isinstance(fn.get("source"), str) and fn["source"].strip():
            try:
                found.add((root / fn["source"]).resolve())
            except (OSError, ValueError):   # not a path at all (a NUL in it): the config's own error says so
                continue
    return found


def relevant(path: Path, roots: Iterable[Path] = ()) -> bool:
    """A file whose change can change the output: not caches, tests, dependencies or editor temp
    files. Only the part of the path below the watched folder holding it is looked at: a project
    that itself lives under a hidden folder (a git worktree in .worktrees/) is watched all the same."""
    within = [path.relative_to(r).parts for r in roots if path.is_relative_to(r)]
    parts = min(within, key=len) if within else path.parts[-4:]
    if any(p in EXCLUDED_DIRS or (p.startswith(".") and p not in (".", "..")) for p in parts[:-1]):
        return False
    name = path.name
    if name.startswith(".") and name not in (".", ".."):   # an editor's hidden temp or lock file
        return False
    if name.endswith(("~", ".swp", ".swx", ".tmp", ".pyc")):
        return False
    # Gone already: vim's probe of whether it may write the folder ("4913"), `sed -i`'s temporary
    # copy (sed + six characters, renamed over the file, which makes its own event).
    return not ((name == "4913" or (name.startswith("sed") and len(name) == 9)) and not path.exists())


def _shown(path: Path, items: list[Watched]) -> str:
    """A changed file as the user knows it: a config by its name, a file of a handler directory from
    that directory (`products/app.py`, not `app.py`, which every Python handler has), a file a link
    leads to from its folder (`shared/apigw.py`)."""
    for item in items:
        if path == item.config:
            return path.name
        for root in sorted(item.roots, key=lambda r: -len(r.parts)):
            if path == root:
                return f"{root.parent.name}/{root.name}"
            if path.is_relative_to(root):
                return f"{root.name}/{path.relative_to(root).as_posix()}"
    return path.name


def touches(path: Path, item: Watched) -> bool:
    return path == item.config or any(path == r or path.is_relative_to(r) for r in item.roots)


def affected(changes: Iterable[Path], items: list[Watched]) -> tuple[list[Watched], list[Path]]:
    """The configs a set of changed files touches, and the files that touch them."""
    hit = [item for item in items if any(touches(p, item) for p in changes)]
    files = sorted(p for p in changes if any(touches(p, item) for item in items))
    return hit, files


def file_changes(paths: list[Path], *, ignore: list[Path], stop: Any = None,
                 debounce: int = DEBOUNCE_MS) -> Iterator[set[Path]]:
    """Sets of changed files under `paths` (not under `ignore`: our own output), one per debounced
    burst (watchfiles' Rust notifier). The first set is empty: it comes once the notifier runs
    (a save before then would be missed), so the caller can say it is watching."""
    from watchfiles import watch

    def wanted(_change: Any, name: str) -> bool:
        path = Path(name)
        return relevant(path, paths) and not any(path.is_relative_to(i) for i in ignore)

    for batch in watch(*paths, debounce=debounce, step=STEP_MS, stop_event=stop, raise_interrupt=True,
                       watch_filter=wanted, yield_on_timeout=True, rust_timeout=READY_MS):
        # Both the path as named and where it leads: a new link in a handler directory
        # (products/rotation.py -> shared/...) is a change of that directory, and a save through
        # a link a change of its target.
        yield {p for _change, name in batch for p in (Path(os.path.abspath(name)), Path(name).resolve())}


class Session:
    """What stays loaded between saves: the lint findings by content, and the sync's AWS session."""

    def __init__(self, out: Path, say: Callable[[str], None], sync: Callable[[Path], None] | None = None,
                 lint_cache: Path | None = None):
        from infra.lint import LintCache, MemoryLintCache

        self.out, self.say, self.sync = out, say, sync
        self.lint_cache = MemoryLintCache(LintCache(lint_cache) if lint_cache else None)
        self.digests: dict[Path, str] = {}         # template file -> SHA-256 of its bytes at the last lint
        self.interfaces: dict[Path, str] = {}      # template file -> SHA-256 of its Parameters and Outputs
        self.findings: dict[Path, list[Any]] = {}  # template file -> its findings at the last lint

    def rebuild(self, configs: list[Path]) -> bool:
        """Generate each config, lint what changed, sync each config whose own templates have no
        findings; True when every build and lint was clean. Each config is built on its own: one
        that fails (a production config being edited) does not hold back the others. A failure
        that is an interrupt (a fallback deploy stopped by Ctrl-C) ends the watch."""
        from infra.build import build_configs

        t0 = time.perf_counter()
        built: list[tuple[Path, Path]] = []
        for config in configs:
            try:
                (target,) = build_configs([config], self.out)
            except UserError as exc:
                _interrupt_ends_watch(exc)
                text = str(exc)   # a config's error names its file; a build tool's may not
                self.say(f"build failed: {text}" if config.name in text else f"build failed: {config.name}: {text}")
            else:
                built.append((config, target))
        if not built:
            return False
        t1 = time.perf_counter()
        misses = self.lint_cache.misses
        try:
            findings = self.lint([target for _, target in built])
        except UserError as exc:
            _interrupt_ends_watch(exc)
            self.say(f"lint failed: {exc}")
            return False
        t2 = time.perf_counter()
        linted = self.lint_cache.misses - misses
        for finding in findings:
            self.say(str(finding))
        names = ", ".join(config.name for config, _ in built)
        self.say(f"{names}: generated in {t1 - t0:.2f} s, re-linted {linted} changed template(s) in {t2 - t1:.2f} s "
                 f"(templates changed only in a code hash are not): {len(findings)} finding(s)")
        if self.sync is not None:
            for config, target in built:
                if any(Path(f.file).is_relative_to(target) for f in findings):
                    self.say(f"{config.name}: not synced: fix its lint findings first")
                    continue
                try:
                    self.sync(config)
                except UserError as exc:
                    _interrupt_ends_watch(exc)
                    self.say(f"sync failed: {exc}")
        return len(built) == len(configs) and not findings

    def lint(self, targets: list[Path]) -> list[Any]:
        """`lint` over the templates whose bytes changed since the last build (and a root whose
        child's Parameters or Outputs changed: rule E3043 reads them); the others' findings are
        those of their last lint."""
        from infra.lint import Finding, _interface, lint, templates_under

        files = templates_under(targets)
        changed: list[Path] = []
        interface_changed: set[Path] = set()
        for file, _region in files:
            digest = sha256(file.read_bytes()).hexdigest()
            if self.digests.get(file) != digest:
                changed.append(file)
                self.digests[file] = digest
                shape = sha256(_interface(file)).hexdigest()
                if self.interfaces.get(file, shape) != shape:
                    interface_changed.add(file.parent)
                self.interfaces[file] = shape
        for file, _region in files:   # the root of a stage whose child's interface changed
            if file.name == "root.json" and file.parent in interface_changed and file not in changed:
                changed.append(file)
        if changed:
            found: list[Finding] = lint(changed, jobs=1, cache=self.lint_cache)
            for file in changed:
                self.findings[file] = [f for f in found if f.file == str(file)]
            known = {str(f) for f in changed}
            for finding in found:      # findings cfn-lint filed under another name
                if finding.file not in known:
                    self.findings.setdefault(Path(finding.file), []).append(finding)
        return [f for file, _region in files for f in self.findings.get(file, [])]


def _interrupt_ends_watch(exc: UserError) -> None:
    """A command's way of saying it was stopped by Ctrl-C or SIGTERM (exit 130, 143) is a
    UserError too; watch does not go on after one."""
    if exc.exit_code >= 128:
        raise exc


def run_watch(configs: list[Path], out: Path, say: Callable[[str], None],
              sync: Callable[[Path], None] | None = None, *, folder: Path | None = None,
              lint_cache: Path | None = None, debounce: int = DEBOUNCE_MS, stop: Any = None) -> None:
    """Build once, then on every debounced burst of saves rebuild what it touched. Returns when
    `stop` is set; Ctrl-C raises KeyboardInterrupt.

    `folder` (watch without --config): the configs are those in it (`config_files`), followed as
    they come and go: a config added there is generated and watched, one removed is not watched
    any more (its output folder is left as it is). `lint_cache`: `lint`'s cache folder, read and
    written through (see `MemoryLintCache`)."""
    import cfnlint.runner  # noqa: F401  (loaded once, before the first save)

    from infra.config import config_files

    configs = [c.resolve() for c in configs]
    session = Session(out, say, sync, lint_cache)
    since = file_clock_ns()
    items, seen = _rebuild(session, configs, configs, watched(configs))
    while True:
        paths = _paths(items, folder)
        ignore = [out.resolve(), Path(".cache").resolve(), *([lint_cache.resolve()] if lint_cache else [])]
        ready = False
        for changes in file_changes(paths, ignore=ignore, stop=stop, debounce=debounce):
            # What is saved from now on is found again if this watcher is replaced after the build.
            batch_started = file_clock_ns()
            starting = not ready
            if starting:
                ready = True
                # No notifier ran from the start of the last build until now (the first build, or a
                # build that changed the watched folders, whose notifier was dropped with the events
                # it held): what was saved meanwhile is found by its time.
                changes = changes | modified_since(paths, since, ignore)
                say(f"watching {len(paths)} path(s) for changes{' (and syncing)' if sync else ''}; Ctrl-C stops")
            # A handler directory that came or went since the last build counts as changed: what
            # happened while no watcher ran (a build, a restart on other folders) made no event, and
            # a directory created with its parent (`mkdir -p`) can be in place before the watch on
            # the new parent is (the notifier's race), so its own event may never come.
            changes = changes | {src for src, existed in seen.items() if src.exists() != existed}
            added: list[Path] = []
            if folder is not None and (changes or starting):
                now = [c.resolve() for c in config_files(folder)]
                added = [c for c in now if c not in configs]
                removed = [c for c in configs if c not in now]
                if removed:
                    say("not watched any more (removed): " + ", ".join(p.name for p in removed))
                if added or removed:
                    configs = now
                    items = watched(configs, items)
            hit, files = affected(changes, items)
            todo = sorted({*added, *(i.config for i in hit)})
            if not todo:
                if _paths(items, folder) != paths:
                    since = batch_started   # nothing built: what came before this batch was seen
                    break
                continue
            if added:
                say("new config: " + ", ".join(p.name for p in added))
            if files and set(files) != set(added):
                say("changed: " + ", ".join(dict.fromkeys(_shown(p, items) for p in files if p not in added)))
            since = batch_started
            items, seen = _rebuild(session, todo, configs, items)
            if _paths(items, folder) != paths:
                break   # a config names other handler directories now: watch the new set
        else:
            return


def file_clock_ns() -> int:
    """A time that every file written from now on gets as its mtime or later. Linux stamps files
    from its coarse clock (or, on some file systems, a finer one that is never behind it), which is
    up to one tick behind the precise clock; the cores' clocks can differ by a fraction of a
    millisecond besides (0.3 ms measured here, in a VM). So: the coarse clock, less one tick and a
    millisecond. A file saved in the few milliseconds before this call is counted again (a rebuild
    that changes nothing); the save that started a build is older (watch waits for 25 ms of quiet)."""
    clock = getattr(time, "CLOCK_REALTIME_COARSE", 5 if sys.platform.startswith("linux") else None)  # 5: Linux's id
    try:
        if clock is not None:
            return time.clock_gettime_ns(clock) - int(time.clock_getres(clock) * 1e9) - 1_000_000
    except OSError:   # a kernel without it
        pass
    return time.time_ns() - 10_000_000   # the coarsest tick Linux has (100 Hz) and more


def modified_since(paths: list[Path], since_ns: int, ignore: list[Path]) -> set[Path]:
    """The files and folders under `paths` (and those folders themselves) written, created or
    renamed (their mtime or ctime) at or after `since_ns`, among those a change of which
    `file_changes` reports; a folder stands for a file removed from it. Both as named and
    resolved, as `file_changes` gives them."""
    def ignored(path: Path) -> bool:
        return any(path.is_relative_to(i) for i in ignore)

    def newer(path: Path) -> bool:
        try:
            info = path.lstat()
        except OSError:   # gone since it was listed
            return False
        return max(info.st_mtime_ns, info.st_ctime_ns) >= since_ns

    found = {p for root in paths if not ignored(root) and newer(root) for p in (root, root.resolve())}
    for root in paths:
        for folder, dirs, files in os.walk(root):
            here = Path(folder)
            dirs[:] = [d for d in dirs if d not in EXCLUDED_DIRS and not d.startswith(".") and not ignored(here / d)]
            for name in (*files, *dirs):
                path = here / name
                if not ignored(path) and newer(path) and relevant(path, paths):
                    found |= {path, path.resolve()}
    return found


def _rebuild(session: Session, todo: list[Path], configs: list[Path],
             items: list[Watched]) -> tuple[list[Watched], dict[Path, bool]]:
    """Build `todo`; return what `configs` now watch, and whether each handler directory existed
    when the build started (a folder first named by this build: as it is now)."""
    seen = _existence(items)
    session.rebuild(todo)
    items = watched(configs, items)
    return items, {**_existence(items), **seen}


def _existence(items: list[Watched]) -> dict[Path, bool]:
    """Whether each handler directory exists now."""
    return {src: src.exists() for item in items for src in item.sources}


def _paths(items: list[Watched], folder: Path | None = None) -> list[Path]:
    """Each config's folder (editors save by writing a new file and renaming it over the old one,
    which a watch on the file itself would lose), each handler directory, and `folder` (the
    configs' own, followed for new ones)."""
    found = {i.config.parent for i in items} | {_existing(s) for i in items for s in i.sources}
    found |= {_existing(link if link.is_dir() else link.parent) for i in items for link in i.links}
    if folder is not None:
        found.add(folder.resolve())
    return sorted(found)


def _existing(path: Path) -> Path:
    """`path`, or the nearest folder above it that exists, where a removed handler directory will
    come back (watchfiles refuses to watch a path that does not exist)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path
