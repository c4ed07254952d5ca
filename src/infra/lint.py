"""cfn-lint (informational rules included) and the quota checks over generated output."""
from __future__ import annotations

import contextlib
import gc
import json
import os
import re
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from infra import quotas
from infra.digest import sha256
from infra.errors import QuotaError, UsageError
from infra.lru import check_due, least_recently_used, mark_used
from infra.render import compact_json, replace_file
from infra.versions import installed_version

LINT_CACHE_MAX_ENTRIES = 5000    # a few MB of small JSON files: hundreds of runs of every shipped template
LINT_CACHE_PRUNE_EVERY_S = 3600
# W3002: the root points at its children by local path on purpose, so that E3043 checks the
# parameters passed to each child; `package` rewrites those paths to S3 URLs.
IGNORED = ["W3002"]


@dataclass(frozen=True)
class Finding:
    file: str
    line: int
    rule: str
    severity: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.rule} [{self.severity}] {self.message}"


def templates_under(paths: list[Path]) -> list[tuple[Path, str]]:
    """(template file, region) for every template under `paths` (output dirs or files), each once
    however often it is named (a file named twice was linted twice, and its second, empty share
    of the findings was cached as its result)."""
    found: dict[Path, tuple[Path, str]] = {}
    for file, region in _templates_under(paths):
        found.setdefault(file.resolve(), (file, region))
    return list(found.values())


def _templates_under(paths: list[Path]) -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    for path in paths:
        if path.is_file():
            _require_template(path)
            found.append((path, _region_for(path)))
            continue
        if not path.is_dir():
            raise UsageError(f"{path}: no such file or directory to lint. Run `python generate.py templates` first.")
        manifests = sorted(path.glob("manifest.json")) or sorted(path.glob("*/manifest.json"))
        if not manifests:
            raise UsageError(f"{path}: no generated output here (no manifest.json). "
                             "Run `python generate.py templates` first.")
        for manifest in manifests:
            found += _from_manifest(manifest)
    return found


def _from_manifest(manifest: Path) -> list[tuple[Path, str]]:
    try:
        m = json.loads(manifest.read_bytes())
        base = manifest.parent
        out = [(base / m["root_template"], m["region"])]
        out += [(base / f, m["region"]) for f in sorted(m["templates"].values())]
        if m.get("global"):
            out.append((base / m["global"]["template"], m["global"]["region"]))
    except OSError as exc:
        raise UsageError(f"{manifest}: cannot be read ({exc.strerror or exc}).") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        what = f"missing entry {exc}" if isinstance(exc, KeyError) else f"{type(exc).__name__}: {exc}"
        raise UsageError(f"{manifest}: not a manifest the generator wrote ({what}); regenerate the output "
                         "with `python generate.py templates`.") from None
    return out


def _require_template(path: Path) -> None:
    """A file named on the command line is a CloudFormation template (a JSON object with
    Resources), not the output's manifest or OpenAPI document."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return   # said as a finding (not valid JSON) or an error when it is read for linting
    if not isinstance(data, dict) or "Resources" not in data:
        raise UsageError(f"{path}: not a CloudFormation template (no Resources); lint takes an output folder "
                         "(out/ or out/<config>/) or a template file in it.")


def _region_for(path: Path) -> str:
    manifest = path.parent / "manifest.json"
    if manifest.is_file():
        for file, region in _from_manifest(manifest):
            if file == path:
                return region
    return "us-east-1"


def lint(paths: list[Path], *, cache_dir: Path | None = None, jobs: int | None = None,
         cache: LintCache | MemoryLintCache | None = None) -> list[Finding]:
    """Quota-check and cfn-lint every template; return all findings (errors, warnings, info).

    Templates are linted in parallel on every core. With `cache_dir`, a template whose bytes,
    whose nested-stack children (E3043 reads them) and whose cfn-lint settings are all unchanged
    since a previous run is not linted again: its recorded findings are returned instead.
    `cache` (instead of `cache_dir`): a `MemoryLintCache`, for `watch`, which lints in its own
    process (`jobs=1`) and keeps cfn-lint loaded between saves.
    """
    findings: list[Finding] = []
    todo: dict[str, list[tuple[Path, str]]] = {}  # region -> (file, cache key)
    cached = cache if cache is not None else LintCache(cache_dir) if cache_dir else None
    for file, region in templates_under(paths):
        body = file.read_bytes()
        try:
            template = json.loads(body)
        except json.JSONDecodeError as exc:
            findings.append(Finding(str(file), exc.lineno, "JSON", "error", f"not valid JSON: {exc.msg}"))
            continue
        try:
            quotas.check(str(file), template, compact_json(template))
        except QuotaError as exc:
            findings.append(Finding(str(file), 1, "QUOTA", "error", str(exc)))
        key = (cache.key(file, body, template, region) if isinstance(cache, MemoryLintCache)
               else cache_key(file, body, template, region))
        known = cached.get(key) if cached else None
        if known is not None:
            findings += [Finding(str(file), *row) for row in known]
        else:
            todo.setdefault(region, []).append((file, key))
    if todo:
        by_region = {region: [f for f, _ in items] for region, items in todo.items()}
        if isinstance(cache, MemoryLintCache):
            results = {}
            for region, files in sorted(by_region.items()):
                results.update(_lint_files(region, [str(f) for f in files], kept=cache))
        else:
            results = _run_cfn_lint(by_region, jobs)
        for _region, items in sorted(todo.items()):
            for file, key in items:
                rows = results.pop(str(file), [])
                findings += [Finding(str(file), *row) for row in rows]
                if cached:
                    cached.put(key, rows)
        # Findings cfn-lint files under another name are reported as they are, never cached.
        for name, rows in sorted(results.items()):
            findings += [Finding(name, *row) for row in rows]
    disk = cached.disk if isinstance(cached, MemoryLintCache) else cached
    if disk is not None:
        disk.prune()
    return findings


def cache_key(file: Path, body: bytes, template: dict, region: str) -> str:
    """What a template's findings depend on: its bytes, the interface (Parameters and Outputs)
    of the local templates its nested stacks point at (E3043 checks the parameters passed to
    them; GetAtt reads their outputs), the region, and cfn-lint's version and our settings. Any
    change gives another key, so a stale entry is never read; a change inside a child that
    leaves its interface as it was does not re-lint the parent."""
    digest = sha256(more=len(body))
    for part in (f"cfn-lint {installed_version('cfn-lint', 'cfnlint')}", f"include I; ignore {','.join(IGNORED)}", region,
                 file.name):
        digest.update(part.encode() + b"\0")
    digest.update(body)
    for lid, res in sorted(template.get("Resources", {}).items()):
        url = res.get("Properties", {}).get("TemplateURL") if isinstance(res, dict) else None
        if res.get("Type") == "AWS::CloudFormation::Stack" and isinstance(url, str):
            digest.update(f"\0{lid}={url}\0".encode())
            digest.update(_interface(file.parent / url))
    return digest.hexdigest()


def _interface(child: Path) -> bytes:
    """A nested template's Parameters and Outputs, canonically; the raw bytes if it is not a
    readable JSON object (then any change to it re-lints the parent)."""
    try:
        data = json.loads(child.read_bytes())
    except (OSError, ValueError):
        return child.read_bytes() if child.is_file() else b"(missing)"
    if not isinstance(data, dict):
        return child.read_bytes()
    return compact_json({"Parameters": data.get("Parameters"), "Outputs": data.get("Outputs")})


class LintCache:
    """Findings per cache key, one small JSON file each (an empty list: a clean template).

    Bounded: after a run that added entries, at most once an hour, the least recently used ones
    (a hit sets its file's time) are removed until `max_entries` * 0.8 remain. Every edit adds an
    entry per changed template, and `watch` one per save, so without a bound it only grows."""

    def __init__(self, directory: Path, max_entries: int = LINT_CACHE_MAX_ENTRIES):
        self.directory = directory
        self.max_entries = max_entries
        self.wrote = False
        self.unwritable = False

    def get(self, key: str) -> list[tuple] | None:
        path = self.directory / f"{key}.json"
        try:
            rows = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(rows, list) or not all(isinstance(r, list) and len(r) == 4 for r in rows):
            return None  # unreadable entries are misses, never "clean"
        mark_used(path)  # the last to be pruned
        return [tuple(r) for r in rows]

    def has(self, key: str) -> bool:
        return (self.directory / f"{key}.json").is_file()

    def put(self, key: str, rows: list[tuple]) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            replace_file(self.directory / f"{key}.json", json.dumps(rows).encode())
            self.wrote = True
        except OSError as exc:
            # A cache that cannot be written only costs time, but the next run would be as slow
            # again for no reason given: said once.
            if not self.unwritable:
                self.unwritable = True
                print(f"note: the lint cache {self.directory} cannot be written ({exc.strerror or exc}); "
                      "linting goes on without it.", file=sys.stderr)

    def prune(self, *, force: bool = False) -> int:
        """See the class; returns how many entries were removed."""
        stamp = self.directory / ".pruned"
        if not force and not (self.wrote and check_due(stamp, LINT_CACHE_PRUNE_EVERY_S)):
            return 0
        self.wrote = False
        entries = []  # each counts 1 against the bound
        with contextlib.suppress(OSError):
            for item in os.scandir(self.directory):
                if item.name.endswith(".json") and not item.name.startswith("."):
                    with contextlib.suppress(OSError):
                        entries.append((item.stat().st_mtime, 1, item.path))
        removed = 0
        for path in least_recently_used(entries, self.max_entries):
            with contextlib.suppress(OSError):
                os.unlink(path)
                removed += 1
        with contextlib.suppress(OSError):
            stamp.touch()
        return removed


ASSET_HASH = re.compile(rb"assets/[0-9a-f]{64}\.zip")
BLANK_HASH = b"assets/" + b"0" * 64 + b".zip"


class MemoryLintCache:
    """`LintCache` in memory, for the life of one process (`watch`): findings per cache key, and
    cfn-lint's loaded rules (loading them is most of a small template's lint time). The rules are
    the same objects a `Runner` runs over every template of a batch, so results are unchanged.

    `disk`: `lint`'s own cache, read on a miss (a watch started after `make templates` lints
    nothing it already linted) and written through (the next `make templates` lints nothing the
    watch did)."""

    def __init__(self, disk: LintCache | None = None) -> None:
        self.entries: dict[str, list[tuple]] = {}
        self.misses = 0
        self.rules: object | None = None
        self.disk = disk

    def key(self, file: Path, body: bytes, template: dict, region: str) -> str:
        """`cache_key` of the template with each code asset's hash blanked: a saved handler
        changes only that hash (a string of fixed length in a fixed place), which no cfn-lint
        rule reads, so the findings, line numbers included, are those of the last lint. With
        `disk`, the disk's key of these exact bytes follows, after a space."""
        blanked = cache_key(file, ASSET_HASH.sub(BLANK_HASH, body), template, region)
        return blanked if self.disk is None else f"{blanked} {cache_key(file, body, template, region)}"

    def get(self, key: str) -> list[tuple] | None:
        memory_key, _, disk_key = key.partition(" ")
        rows = self.entries.get(memory_key)
        if self.disk is not None and disk_key:
            if rows is None:
                rows = self.disk.get(disk_key)
                if rows is not None:
                    self.entries[memory_key] = rows
            elif not self.disk.has(disk_key):  # new bytes, the same findings: `lint` replays them too
                self.disk.put(disk_key, rows)
        if rows is None:
            self.misses += 1
        return rows

    def put(self, key: str, rows: list[tuple]) -> None:
        memory_key, _, disk_key = key.partition(" ")
        self.entries[memory_key] = list(rows)
        if self.disk is not None and disk_key:
            self.disk.put(disk_key, rows)


def _lint_files(region: str, files: list[str], kept: MemoryLintCache | None = None) -> dict[str, list[tuple]]:
    """cfn-lint one batch of templates of one region (in a worker process, or in this one with
    the rules `kept` loaded)."""
    from cfnlint.config import ConfigMixIn
    from cfnlint.runner import Runner

    # Our settings only: a .cfnlintrc in the working directory (the repository has one, for
    # plain `cfn-lint` runs) would otherwise change the result with the folder lint runs from.
    config = ConfigMixIn(["--template", *files, "--config-file", os.devnull], include_checks=["I"],
                         ignore_checks=IGNORED, regions=[region])
    out: dict[str, list[tuple]] = {f: [] for f in files}
    if kept is not None:
        from cfnlint.runner.template.runner import run_template_by_file_paths

        if kept.rules is None:
            kept.rules = Runner(config).rules
        matches = run_template_by_file_paths(config, kept.rules)
    else:
        matches = Runner(config).run()
    for match in matches:
        row = (match.linenumber, match.rule.id, match.rule.severity.lower(), match.message)
        # cfn-lint names the file of every finding on a template; one it does not name is the
        # batch's only file's when there is one.
        out.setdefault(match.filename or (files[0] if len(files) == 1 else "?"), []).append(row)
    return out


def _run_cfn_lint(by_region: dict[str, list[Path]], jobs: int | None) -> dict[str, list[tuple]]:
    """Findings per file. Batches are balanced by template size over every core; the workers are
    forked after cfn-lint is imported, so none of them imports it again."""
    # Loaded here, not at the top (a run whose templates are all cached needs none of them: about
    # 15 ms for multiprocessing and concurrent.futures alone), and before forking: the workers share them.
    import concurrent.futures.process  # noqa: F401
    import multiprocessing  # noqa: F401

    import cfnlint.runner  # noqa: F401

    with _collector_beside_cfn_lint():
        return _lint_batches(by_region, jobs)


@contextmanager
def _collector_beside_cfn_lint() -> Iterator[None]:
    """The cycle collector on while cfn-lint runs (it makes cyclic garbage in volume: off, a large
    config's lint holds three times the memory), with everything loaded so far frozen out of its
    passes: cfn-lint, sympy and networkx are about 1,400 modules that are never garbage, and
    walking them again at each full pass was a sixth of a small lint. Frozen before the workers
    are forked, so none of them writes to those shared pages either (Python's gc.freeze recipe);
    this process unfreezes them afterwards, so a long-lived caller collects them as before."""
    was_enabled = gc.isenabled()
    gc.freeze()
    gc.enable()
    try:
        yield
    finally:
        gc.unfreeze()
        if not was_enabled:
            gc.disable()


def _lint_batches(by_region: dict[str, list[Path]], jobs: int | None) -> dict[str, list[tuple]]:
    jobs = jobs or os.cpu_count() or 1
    batches: list[tuple[str, list[str]]] = []
    for region, files in sorted(by_region.items()):
        n = max(1, min(jobs, len(files)))
        buckets: list[tuple[int, list[str]]] = [(0, []) for _ in range(n)]
        for f in sorted(files, key=lambda p: -p.stat().st_size):
            size, names = min(buckets, key=lambda b: b[0])
            buckets.remove((size, names))
            buckets.append((size + f.stat().st_size, names + [str(f)]))
        batches += [(region, names) for _, names in buckets if names]
    results: dict[str, list[tuple]] = {}
    if len(batches) == 1 or jobs == 1:
        for region, names in batches:
            results.update(_lint_files(region, names))
        return results
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("fork")
    pool = ProcessPoolExecutor(max_workers=min(jobs, len(batches)), mp_context=ctx, initializer=_quiet_worker)
    try:
        # Ctrl-C reaches the whole process group. The workers are forked with SIGINT blocked, so
        # none prints a traceback, and a Ctrl-C during the fork (which Python's fork handlers would
        # swallow) waits until the fork is done; the workers are then stopped here.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            futures = [pool.submit(_lint_files, region, names) for region, names in batches]
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        for future in futures:
            results.update(future.result())
    except KeyboardInterrupt:
        # Their findings are not wanted any more: kill them (no public way before Python 3.14), then
        # let the pool's manager thread see that and end, so nothing is left to clean up at exit.
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            process.kill()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()
    return results


def _quiet_worker() -> None:
    """A worker leaves Ctrl-C and SIGTERM to the parent (the CLI's SIGTERM handler is inherited by
    the fork and would make each worker print a traceback)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
