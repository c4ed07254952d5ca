"""Deterministic JSON and atomic writes: same config, same bytes; a failed run changes nothing."""
from __future__ import annotations

import orjson
import os
import stat
import sys
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from infra.digest import sha256
from infra.errors import UserError
from infra.records import record

STDOUT = Path("-")  # an output path of "-": standard output
T = TypeVar("T")


@record
class SameBytes:
    """A file known to hold exactly some output file's bytes (a build cache entry, whose hash was
    checked): `replace_dirs` hard-links it instead of writing megabytes again, if it is still that
    file, and reads it only where linking fails. `identity` is its (inode, size, mtime in ns) when
    checked; `sha256` the hash of its bytes then."""

    path: str
    identity: tuple[int, int, int]
    sha256: str

    def read(self) -> bytes:
        """The bytes: the file's, while it is still the file that was checked; if another file
        took its place, only if its bytes still hash to `sha256` (another process rewrote the same
        entry). Anything else is an error, never other bytes."""
        try:
            with open(self.path, "rb") as fh:
                info = os.fstat(fh.fileno())
                data = fh.read()
        except OSError as exc:
            raise UserError(f"cannot read {self.path} ({exc.strerror or exc}), which this run checked a moment "
                            "ago; run the command again.") from None
        if identity(info) != self.identity:
            if sha256(data).hexdigest() != self.sha256:
                raise UserError(f"{self.path} changed while this run was using it (its bytes no longer match "
                                "the hash checked a moment ago); nothing was written. Run the command again.")
        return data


def identity(info: os.stat_result) -> tuple[int, int, int]:
    return info.st_ino, info.st_size, info.st_mtime_ns


def to_json(data: Any) -> str:
    """Stable JSON: sorted keys, two-space indent, trailing newline (what out/ holds)."""
    return to_json_bytes(data).decode()


def to_json_bytes(data: Any) -> bytes:
    """`to_json` as UTF-8 bytes. orjson writes exactly what `json.dumps(indent=2, sort_keys=True,
    ensure_ascii=False)` writes, twenty times faster (the stdlib indents in pure Python)."""
    return orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE)


def compact_json(data: Any) -> bytes:
    """The same document without whitespace: what `package` uploads, and what CloudFormation's
    template-size quota counts. Troposphere objects inside are encoded as `plain` encodes them."""
    return orjson.dumps(data, default=_encoded, option=orjson.OPT_SORT_KEYS)


def replace_dirs(trees: dict[Path, dict[str, bytes]], same: dict[Path, dict[str, SameBytes]] | None = None) -> None:
    """Make each target directory hold exactly its files (relative path -> bytes, and the files
    of `same`), all at once.

    Every new tree is first written beside its target; only when all are written are they
    swapped in by rename. A failure while writing (disk full, permissions) leaves every target
    as it was; readers (and a crash) see the old directory or the new one, never a mix.
    Directories get the permissions new folders get (the umask's).
    `same` names, per target, files that may be hard-linked from a file already holding their
    bytes (`SameBytes`) instead of written: where linking fails (another file system), or that
    file changed since it was checked, the bytes are written as usual (from `files`, or read from
    that file, checked, when `files` does not hold them).
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for target, files in trees.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(_beside(target, lambda p: os.mkdir(p, 0o777))[0])  # the umask's mode, as new folders get
            staged.append((target, staging))
            linkable = (same or {}).get(target, {})
            for rel in sorted(files.keys() | linkable.keys()):
                path = staging / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                if rel not in linkable or not _link(linkable[rel], path):
                    path.write_bytes(files[rel] if rel in files else linkable[rel].read())
    except BaseException:
        from shutil import rmtree  # only to undo or to clear away: a first generation never needs it

        for _, staging in staged:
            rmtree(staging, ignore_errors=True)
        raise
    for target, staging in staged:
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.rename(target, old)
        os.rename(staging, target)
        if old is not None:
            from shutil import rmtree

            rmtree(old)


def _beside(target: Path, make: Callable[[str], T]) -> tuple[str, T]:
    """Create a new entry named `.<target's name>.<random>` beside `target` with `make(path)`,
    which fails with FileExistsError if the name is taken; return its path and what make returned.
    tempfile's mkstemp and mkdtemp do the same, but importing tempfile (and with it random and
    shutil) is a millisecond of every generator start."""
    for _ in range(100):
        path = os.path.join(target.parent, f".{target.name}.{os.urandom(6).hex()}")
        try:
            return path, make(path)
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {target}")


def _link(source: SameBytes, path: Path) -> bool:
    """Hard-link `source` at `path` if it is still the file that was read; True when done.
    The link gets the permissions a new file gets (it is the same inode as the cache's file)."""
    try:
        os.link(source.path, path)
    except OSError:  # another file system, links not supported, the file gone
        return False
    info = os.stat(path)
    if identity(info) != source.identity:
        os.unlink(path)
        return False
    mode = 0o666 & ~umask()
    if stat.S_IMODE(info.st_mode) != mode:
        os.chmod(path, mode)
    return True


@lru_cache(maxsize=1)
def umask() -> int:
    """The process's umask (read once: reading it means setting it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def replace_file(path: Path, data: bytes) -> None:
    """Write `path` atomically: readers see the old bytes or the new, never a partial file.

    A symbolic link is written through: the file it points at is replaced and the link stays.
    What is not a regular file (/dev/stdout, a FIFO, anything under /dev or /proc) is written
    to in place: replacing it would replace the device node or the link, not write to it. A
    replaced file keeps its permissions; a new one gets the umask's, like any new file.
    """
    try:
        info: os.stat_result | None = os.stat(path)  # follows links
    except FileNotFoundError:
        info = None
    if (info is not None and not stat.S_ISREG(info.st_mode)) or str(Path(path).absolute()).startswith(
            ("/dev/", "/proc/")):
        with open(path, "wb") as fh:
            fh.write(data)
        return
    target = Path(os.path.realpath(path))
    mode = stat.S_IMODE(info.st_mode) if info is not None else 0o666 & ~umask()
    # Private until renamed into place, and never through a link planted at the name.
    tmp, fd = _beside(target, lambda p: os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                                                0o600))
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_output(path: Path, data: bytes) -> None:
    """Write a file the user named (`--output`, `--outputs-file`): "-" is standard output;
    otherwise its folder is created and the file replaced as `replace_file` does."""
    if path == STDOUT:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    target = Path(os.path.realpath(path))
    target.parent.mkdir(parents=True, exist_ok=True)
    replace_file(path, data)


def unwritable_reason(path: Path) -> str | None:
    """Why a file cannot be written at `path` (None when it can), checked without writing.
    A symbolic link is judged by the file it points at (writes go through links)."""
    if path.is_dir():
        return f"{path} is a directory"
    if path.exists():
        return None if os.access(path, os.W_OK) else f"{path} exists and is not writable"
    ancestor = Path(os.path.realpath(path)).parent
    while not ancestor.exists():
        if ancestor == ancestor.parent:
            break
        ancestor = ancestor.parent
    if ancestor.exists() and not ancestor.is_dir():
        return f"{ancestor} is a file, so {path} cannot be created under it"
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return f"the directory {ancestor} is not writable"
    return None


@lru_cache(maxsize=1)
def _troposphere_bases() -> tuple[Any, Any]:
    from troposphere import AWSHelperFn, BaseAWSObject  # imported on first use: lint needs no troposphere

    return AWSHelperFn, BaseAWSObject


def _encoded(obj: Any) -> Any:
    """What orjson writes for a value JSON lacks (its `default`): a troposphere object as the data
    troposphere's to_dict would give, validated as to_dict validates it. orjson calls this again
    for the objects inside what it returns, and walks the dicts and lists itself."""
    helper_fn, aws_object = _troposphere_bases()
    if isinstance(obj, aws_object):
        if obj.do_validation:
            obj._validate_props()
            obj.validate()
        if obj.properties:
            return obj.resource
        if hasattr(obj, "resource_type"):
            return {k: v for k, v in obj.resource.items() if k != "Properties"}
        return {}
    if isinstance(obj, helper_fn):  # Ref, Sub, Tags, ...: some encode specially
        return obj.data if type(obj).to_dict is helper_fn.to_dict else obj.to_dict()
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if hasattr(obj, "JSONrepr"):  # awacs policies
        return obj.JSONrepr()
    raise TypeError(f"{type(obj).__name__} is not JSON data")


def plain(obj: Any) -> Any:
    """A troposphere object (or anything holding some) as plain JSON data, with the validation
    and the result of troposphere's to_dict (tested against it). orjson walks the data in C and
    asks `_encoded` only for the objects: troposphere's to_dict encodes every nested object's
    dict again from the top, which dominated generating a large system."""
    return orjson.loads(compact_json(obj))


def _sections(template: Any) -> dict[str, Any]:
    t = template
    out: dict[str, Any] = {}
    for key, value in (("Description", t.description), ("Metadata", t.metadata), ("Conditions", t.conditions),
                       ("Mappings", t.mappings), ("Outputs", t.outputs), ("Parameters", t.parameters),
                       ("AWSTemplateFormatVersion", t.version), ("Transform", t.transform), ("Rules", t.rules),
                       ("Globals", t.globals)):
        if value:
            out[key] = value
    out["Resources"] = t.resources
    return out


def template_json(template: Any) -> tuple[dict, bytes]:
    """`template.to_dict()` (see `plain`) and the same document as `compact_json` writes it, from
    one pass."""
    body = compact_json(_sections(template))
    return orjson.loads(body), body


def template_dict(template: Any) -> dict:
    """`template.to_dict()`, in one pass."""
    return template_json(template)[0]
