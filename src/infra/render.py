"""Deterministic JSON and atomic writes: same config, same bytes; a failed run changes nothing."""
from __future__ import annotations

import orjson
import os
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any


def to_json(data: Any) -> str:
    """Stable JSON: sorted keys, two-space indent, trailing newline (what out/ holds)."""
    return to_json_bytes(data).decode()


def to_json_bytes(data: Any) -> bytes:
    """`to_json` as UTF-8 bytes. orjson writes exactly what `json.dumps(indent=2, sort_keys=True,
    ensure_ascii=False)` writes, twenty times faster (the stdlib indents in pure Python)."""
    return orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE)


def compact_json(data: Any) -> bytes:
    """The same document without whitespace: what `package` uploads, and what CloudFormation's
    template-size quota counts."""
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)


def replace_dirs(trees: dict[Path, dict[str, bytes]]) -> None:
    """Make each target directory hold exactly its files (relative path -> bytes), all at once.

    Every new tree is first written beside its target; only when all are written are they
    swapped in by rename. A failure while writing (disk full, permissions) leaves every target
    as it was; readers (and a crash) see the old directory or the new one, never a mix.
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for target, files in trees.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
            staged.append((target, staging))
            for rel, data in sorted(files.items()):
                path = staging / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
    except BaseException:
        for _, staging in staged:
            shutil.rmtree(staging, ignore_errors=True)
        raise
    for target, staging in staged:
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.rename(target, old)
        os.rename(staging, target)
        if old is not None:
            shutil.rmtree(old)


def replace_file(path: Path, data: bytes) -> None:
    """Write `path` atomically: readers see the old bytes or the new, never a partial file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@lru_cache(maxsize=1)
def _troposphere_bases() -> tuple[Any, Any]:
    from troposphere import AWSHelperFn, BaseAWSObject  # imported on first use: lint needs no troposphere

    return AWSHelperFn, BaseAWSObject


def plain(obj: Any) -> Any:
    """A troposphere object (or anything holding some) as plain JSON data, walked once.

    troposphere's to_dict encodes every nested object's dict again from the top (each level of
    nesting walks its subtree once more), which dominates generating a large system. This walks
    each value once, with the same validation and the same result (tested against to_dict()).
    """
    kind = type(obj)
    if kind is str or kind is int or kind is bool or kind is float or obj is None:
        return obj
    if kind is dict:
        return {k: plain(v) for k, v in obj.items()}
    if kind is list or kind is tuple:
        return [plain(v) for v in obj]
    helper_fn, aws_object = _troposphere_bases()
    if isinstance(obj, aws_object):
        if obj.do_validation:
            obj._validate_props()
            obj.validate()
        if obj.properties:
            return plain(obj.resource)
        if hasattr(obj, "resource_type"):
            return {k: plain(v) for k, v in obj.resource.items() if k != "Properties"}
        return {}
    if isinstance(obj, helper_fn):  # Ref, Sub, Tags, ...: small, and some encode specially
        return plain(obj.to_dict())
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if hasattr(obj, "to_dict"):
        return plain(obj.to_dict())
    if hasattr(obj, "JSONrepr"):
        return plain(obj.JSONrepr())
    return obj


def template_dict(template: Any) -> dict:
    """`template.to_dict()`, in one pass (see `plain`)."""
    t = template
    out: dict[str, Any] = {}
    for key, value in (("Description", t.description), ("Metadata", t.metadata), ("Conditions", t.conditions),
                       ("Mappings", t.mappings), ("Outputs", t.outputs), ("Parameters", t.parameters),
                       ("AWSTemplateFormatVersion", t.version), ("Transform", t.transform), ("Rules", t.rules),
                       ("Globals", t.globals)):
        if value:
            out[key] = plain(value)
    out["Resources"] = plain(t.resources)
    return out
