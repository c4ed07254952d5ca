"""The build cache: finished zips and installed dependency trees, each under the hash of
everything that decides its bytes (key()), so a hit can never be stale.

Layout (default `<repository>/.cache/build/`, git-ignored; $SERVERLESS_INFRA_BUILD_CACHE moves it):
  zips/<key>.zip, zips/<key>.json   a function's (or layer's) zip and its size report
  deps/<key>/                       Python dependencies installed for Lambda (reused when only code changed)
  npm/<key>/                        Node.js dependencies installed for Lambda (npm ci; the same reuse)
  host/<key>/                       dependencies installed for this machine (invoke, serve)
Entries are written beside their place and renamed in, so a crash leaves none half-written.
Delete the folder at any time; it is rebuilt on demand.

The cache keeps itself under a size (2 GiB; $SERVERLESS_INFRA_BUILD_CACHE_MAX_MB changes it), as
ccache does: each use of an entry touches it, and at most once an hour a build that wrote a new
entry removes the least recently used ones until 80 % of the size is left, never one this
process used (a long-running one marks the trees it runs from at each use: `in_use`). Every code
change under `sync` or `watch` writes a new zip, a megabyte for a function with dependencies;
without this the folder only grows.
"""
from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infra.digest import sha256
from infra.errors import UsageError
from infra.lru import check_due, least_recently_used, mark_used
from infra.render import SameBytes, identity, replace_file

if TYPE_CHECKING:
    import tempfile

CACHE_ENV = "SERVERLESS_INFRA_BUILD_CACHE"
MAX_MB_ENV = "SERVERLESS_INFRA_BUILD_CACHE_MAX_MB"
DEFAULT_MAX_MB = 2048
PRUNE_EVERY_S = 3600  # a size check lists every entry: done at most this often
_TREE_KINDS = ("deps", "npm", "host")
# Bump when the build itself changes what it produces (filters, flags, layout): every key changes.
FORMAT = 2


def key(**parts: Any) -> str:
    """Hash of every input of a build (JSON, sorted keys)."""
    text = json.dumps({"format": FORMAT, **parts}, sort_keys=True, separators=(",", ":"))
    return sha256(text.encode()).hexdigest()


def digest_files(files: Iterable[tuple[str, Path]]) -> str:
    """Hash of (name, bytes) of each file, length-prefixed so that boundaries count."""
    files = sorted(files)
    h = sha256(more=sum(os.stat(path).st_size for _, path in files))
    for name, path in files:
        data = path.read_bytes()
        for part in (name.encode(), data):
            h.update(len(part).to_bytes(8, "big"))
            h.update(part)
    return h.hexdigest()


class Cache:
    """The cache at `root`. With `remember`, each zip checked or written is also remembered, so
    that configs generated together check a shared zip (a layer, a function two stages ship) once:
    for one batch of builds, never for a long-lived process."""

    def __init__(self, root: Path, *, remember: bool = False):
        self.root = root
        self._remembered: dict[str, tuple[SameBytes, dict[str, Any]]] | None = {} if remember else None
        self._used: set[Path] = set()  # entries (their markers) this process read or wrote: never pruned
        self._wrote = False

    @classmethod
    def at(cls, repo_root: Path, *, remember: bool = False) -> Cache:
        max_bytes()  # a bad size setting stops every build, not only the rare one that prunes
        return cls(Path(os.environ.get(CACHE_ENV) or repo_root / ".cache" / "build"), remember=remember)

    # -- finished zips ----------------------------------------------------------------------
    def zip(self, k: str) -> tuple[SameBytes, dict[str, Any]] | None:
        """The cached zip (the file, its bytes read only when needed: `SameBytes.read`) and its
        report (whose "sha256" is the zip's checked hash), or None on a miss."""
        if self._remembered is not None and k in self._remembered:
            return self._remembered[k]
        data_file, meta_file = self.root / "zips" / f"{k}.zip", self.root / "zips" / f"{k}.json"
        try:
            meta = json.loads(meta_file.read_text())
            info = os.stat(data_file)
        except (OSError, ValueError):
            return None
        # The report records the zip's hash: a truncated or swapped file is a miss, never shipped.
        # It also records the file it hashed (inode, size, modification time): while the zip is
        # still that file, its bytes are the hashed ones, so they are neither hashed nor even read
        # here (out/ links the file; a function with tens of megabytes of dependencies cost tens of
        # milliseconds of every generation). Any write to the zip, or another file in its place,
        # changes that identity: read and hashed again.
        if not isinstance(meta, dict) or not isinstance(meta.get("sha256"), str):
            return None
        if meta.get("zip_identity") != list(identity(info)):
            try:
                with open(data_file, "rb") as fh:
                    info = os.fstat(fh.fileno())  # the file hashed
                    data = fh.read()
            except OSError:
                return None
            if meta["sha256"] != sha256(data).hexdigest():
                return None
            meta = self._write_meta(k, meta, info)  # checked: the next read trusts this file
        same = SameBytes(str(data_file), identity(info), meta["sha256"])
        self._touch(meta_file)  # the report, not the zip: the zip's identity is what out/ links check
        if self._remembered is not None:
            self._remembered[k] = (same, meta)
        return same, meta

    def put_zip(self, k: str, data: bytes, meta: dict[str, Any]) -> SameBytes:
        """Cache `data` as zip `k`; return the file written, linkable into out/."""
        folder = self.root / "zips"
        folder.mkdir(parents=True, exist_ok=True)
        # Written by rename with a new file's permissions (mkstemp's 0600 would follow a hard link into out/).
        replace_file(folder / f"{k}.zip", data)
        info = os.stat(folder / f"{k}.zip")
        meta = self._write_meta(k, {**meta, "sha256": sha256(data).hexdigest()}, info)
        same = SameBytes(str(folder / f"{k}.zip"), identity(info), meta["sha256"])
        if self._remembered is not None:
            self._remembered[k] = (same, meta)
        self._used.add(folder / f"{k}.json")
        self._wrote = True
        return same

    def _write_meta(self, k: str, meta: dict[str, Any], info: os.stat_result) -> dict[str, Any]:
        """The zip's report, with the identity of the zip file whose bytes hash to its sha256.
        Two processes writing one key write the same bytes (the key covers every input)."""
        meta = {**meta, "zip_identity": list(identity(info))}
        replace_file(self.root / "zips" / f"{k}.json", json.dumps(meta, sort_keys=True).encode())
        return meta

    # -- installed trees --------------------------------------------------------------------
    def tree(self, kind: str, k: str, install: Callable[[Path, Path], None]) -> Path:
        """The folder `kind/k`, made by install(folder, scratch) on a miss (scratch: a temporary
        folder for the installer's own files, removed afterwards)."""
        final = self.root / kind / k
        if (final / ".complete").is_file():
            self._touch(final / ".complete")
            return final
        import shutil  # the cache's writers import these themselves: a warm generation needs neither
        import tempfile

        final.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{k[:12]}-", dir=final.parent))
        try:
            (work / "tree").mkdir()
            (work / "scratch").mkdir()
            install(work / "tree", work / "scratch")
            # The marker records the tree's size, so a size check never walks installed trees.
            (work / "tree" / ".complete").write_text(json.dumps({"key": k, "bytes": _tree_bytes(work / "tree")}))
            if not (final / ".complete").is_file():  # else another build finished it meanwhile: keep that
                shutil.rmtree(final, ignore_errors=True)  # a crashed build's leftovers
                try:
                    os.rename(work / "tree", final)
                except OSError:
                    if not (final / ".complete").is_file():
                        raise
        finally:
            shutil.rmtree(work, ignore_errors=True)
        self._used.add(final / ".complete")
        self._wrote = True
        return final

    # -- size -------------------------------------------------------------------------------
    def _touch(self, marker: Path) -> None:
        self._used.add(marker)
        mark_used(marker)

    def prune(self, *, force: bool = False) -> list[Path]:
        """After this process wrote an entry (or with `force`), and at most once an hour, remove the
        least recently used entries until the cache holds at most 80 % of its size; return them."""
        stamp = self.root / ".pruned"
        if not force and not (self._wrote and check_due(stamp, PRUNE_EVERY_S)):
            return []
        removed = least_recently_used(((used, size, marker) for marker, size, used in self._entries()), max_bytes(),
                                      keep=self._used)
        for marker in removed:
            _remove(marker)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            stamp.touch()
        except OSError:
            pass
        self._wrote = False
        return removed

    def _entries(self) -> list[tuple[Path, int, float]]:
        """Every entry as (its marker, its bytes, when it was last used)."""
        found = []
        zips = self.root / "zips"
        if zips.is_dir():
            for item in os.scandir(zips):
                if item.name.endswith(".json") and not item.name.startswith("."):
                    try:
                        used = item.stat().st_mtime
                        size = os.stat(zips / f"{item.name[:-5]}.zip").st_size + item.stat().st_size
                    except OSError:
                        continue
                    found.append((Path(item.path), size, used))
        for kind in _TREE_KINDS:
            folder = self.root / kind
            if not folder.is_dir():
                continue
            for item in os.scandir(folder):
                marker = Path(item.path) / ".complete"
                if item.name.startswith(".") or not marker.is_file():
                    continue
                try:
                    size = json.loads(marker.read_text())["bytes"]
                except (OSError, ValueError, TypeError, KeyError):
                    size = _tree_bytes(Path(item.path))  # an entry from before sizes were recorded
                found.append((marker, int(size), marker.stat().st_mtime))
        return found

    def scratch(self) -> tempfile.TemporaryDirectory:
        import tempfile

        self.root.mkdir(parents=True, exist_ok=True)
        return tempfile.TemporaryDirectory(prefix=".work-", dir=self.root)


def in_use(tree: Path) -> bool:
    """Mark an installed tree as used now, for a process that keeps using it (serve, watch): the
    least recently used entries are the ones pruned, and its first use may be days old. False
    when it has been pruned meanwhile (the caller installs it again)."""
    return mark_used(tree / ".complete")


def max_bytes() -> int:
    """The cache's size: $SERVERLESS_INFRA_BUILD_CACHE_MAX_MB megabytes, 2048 when unset."""
    raw = os.environ.get(MAX_MB_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_MB * 1024 * 1024
    try:
        mb = float(raw)
    except ValueError:
        mb = math.nan
    if not math.isfinite(mb) or mb < 0:
        raise UsageError(f"{MAX_MB_ENV}={raw!r} is not a size in megabytes: set it to a number such as "
                         f"{DEFAULT_MAX_MB}, or unset it for {DEFAULT_MAX_MB}.")
    return int(mb * 1024 * 1024)


def _tree_bytes(tree: Path) -> int:
    total = 0
    for folder, _, files in os.walk(tree):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                pass
    return total


def _remove(marker: Path) -> None:
    """Remove one entry. A zip loses its report first (a reader then sees a miss, never a zip
    without one); a tree is renamed away before it is deleted (a reader sees it whole or not)."""
    if marker.suffix == ".json":
        marker.unlink(missing_ok=True)
        marker.with_suffix(".zip").unlink(missing_ok=True)
        return
    tree = marker.parent
    doomed = tree.with_name(f".{tree.name}.removing-{os.getpid()}")
    try:
        os.rename(tree, doomed)
    except OSError:
        return
    import shutil

    shutil.rmtree(doomed, ignore_errors=True)
