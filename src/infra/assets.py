"""Handler code as content-addressed zip assets, built reproducibly.

Same sources, same bytes, same key: entries are sorted (a function's installed dependencies
first, then its own files), timestamps and permissions fixed, and nothing from the build machine
(tests, caches, dev dependencies) goes in.
"""
from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterable
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING

from infra.digest import sha256
from infra.records import record
from infra.render import SameBytes

if TYPE_CHECKING:
    import zipfile

# Zip has no timestamps before 1980; a fixed one keeps the bytes independent of mtime.
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
EXCLUDED_DIRS = {"tests", "test", "__pycache__", "node_modules", ".pytest_cache", ".hypothesis"}
EXCLUDED_FILES = {"package-lock.json", "README.md"}
EXCLUDED_SUFFIXES = (".pyc", ".pyo")


@record
class Asset:
    """A zipped handler: where its source is, the hash of its bytes (its S3 key), and the bytes,
    in memory (`loaded`) or in a file known to hold them (`same`, the build cache's). Two assets
    are equal when they have the same source and the same bytes (the same hash)."""

    source: str
    sha256: str
    loaded: bytes | None = field(default=None, compare=False, repr=False)
    # A file holding exactly these bytes (the build cache's): written into out/ as a hard link,
    # so a cache hit never reads the zip (tens of megabytes with dependencies) unless linking fails.
    same: SameBytes | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, source: str, data: bytes, same: SameBytes | None = None) -> Asset:
        """The asset of `data`, just built: hashed here, unless `same` (the build cache's file of
        these bytes, just written) already carries their hash."""
        return cls(source, same.sha256 if same is not None else sha256(data).hexdigest(), data, same)

    @classmethod
    def cached(cls, source: str, same: SameBytes) -> Asset:
        """The asset a build cache file holds, with the hash the cache checked: not read, not
        hashed again."""
        return cls(source, same.sha256, None, same)

    @property
    def data(self) -> bytes:
        if self.loaded is not None:
            return self.loaded
        if self.same is None:
            raise ValueError(f"the asset of {self.source} has neither bytes nor a file")
        return self.same.read()

    @property
    def key(self) -> str:
        return f"assets/{self.sha256}.zip"


def _included(rel: Path) -> bool:
    if any(part in EXCLUDED_DIRS or part.startswith(".") for part in rel.parts):
        return False
    return rel.name not in EXCLUDED_FILES and not rel.name.endswith(EXCLUDED_SUFFIXES)


def package_files(src: Path) -> list[Path]:
    """The files of a handler directory that the runtime needs, sorted.

    Excluded directories are pruned while walking, never entered: a Node.js handler's
    node_modules (dev dependencies for its tests) holds thousands of files.
    """
    found = []
    for folder, dirs, files in os.walk(src, followlinks=False):
        dirs[:] = [d for d in dirs if d not in EXCLUDED_DIRS and not d.startswith(".")]
        for name in files:
            path = Path(folder, name)
            if path.is_file() and _included(path.relative_to(src)):
                found.append(path)
    return sorted(found)


def zip_entries(entries: Iterable[tuple[str, Path]], *, executable: Callable[[str], bool] = lambda _: False) -> bytes:
    """Zip `entries` (name in the zip, file) in name order, reproducibly: fixed time, fixed
    permissions (rw-r--r--; rwxr-xr-x for an executable file whose name `executable` accepts:
    installed dependencies may ship programs, the handler's own files never need the bit)."""
    import zipfile  # on first use: a build that hits the cache never zips

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, path in sorted(entries):
            _write(zf, name, path, executable(name))
    return buf.getvalue()


def zip_onto(base: bytes, entries: Iterable[tuple[str, Path]]) -> bytes:
    """`base` (a zip made by zip_entries) with `entries` added after its own, in name order, as
    zip_entries writes them. The base's members are kept as they are, compressed: a function's
    installed dependencies are compressed once, not again for every change to its code."""
    import zipfile

    buf = io.BytesIO(base)
    with zipfile.ZipFile(buf, "a", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, path in sorted(entries):
            _write(zf, name, path, False)
    return buf.getvalue()


def _write(zf: zipfile.ZipFile, name: str, path: Path, executable: bool) -> None:
    import zipfile

    info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3  # Unix, so the permission bits below are honoured
    mode = 0o755 if executable and os.stat(path).st_mode & 0o100 else 0o644
    info.external_attr = (0o100000 | mode) << 16  # regular file
    zf.writestr(info, path.read_bytes())


def source_entries(src: Path) -> list[tuple[str, Path]]:
    """The handler directory's files as zip entries (name, file)."""
    return [(path.relative_to(src).as_posix(), path) for path in package_files(src)]


def build_asset(root: Path, source: str) -> Asset:
    """Zip `root/source` reproducibly."""
    return Asset.of(source, zip_entries(source_entries(root / source)))
