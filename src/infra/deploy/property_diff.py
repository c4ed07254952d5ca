"""Template values for people: intrinsic functions in short form, long values shortened, secrets
never shown, and the property-by-property difference of two resource definitions.

`property_changes(old, new)` walks both definitions and returns one `(path, old, new)` per leaf
that differs (`Environment.Variables.TABLE_NAME`, `MemorySize`), so a review reads
`MemorySize: 256 -> 512` instead of "MemorySize changed".
"""
from __future__ import annotations

import json
import re
from typing import Any

MAX_VALUE = 72          # characters of one shown value
MAX_CHANGES = 12        # property changes listed per resource
ABSENT = "(absent)"
HIDDEN = "(secret, not shown)"
# A property path segment that names a secret value (but not a reference to one: ...Arn, ...Id, ...Name).
SECRET_SEGMENT = re.compile(r"(password|passwd|secret|token|private_?key|credential|api_?key)", re.I)
REFERENCE_SUFFIX = re.compile(r"(arn|arns|id|ids|name|names|template|length|characters)$", re.I)


def is_secret_path(path: str) -> bool:
    """True when a value at `path` (dotted) may hold a secret: its name says so and it is not a reference."""
    for segment in path.split("."):
        clean = segment.split("[")[0]
        if SECRET_SEGMENT.search(clean) and not REFERENCE_SUFFIX.search(clean):
            return True
    return False


def intrinsic(value: Any) -> str | None:
    """`!Ref X`, `!GetAtt A.B`, `!Sub ...` for an intrinsic function; None for anything else."""
    if not isinstance(value, dict) or len(value) != 1:
        return None
    (name, arg), = value.items()
    if name == "Ref":
        return f"!Ref {arg}"
    if name == "Fn::GetAtt":
        return "!GetAtt " + (".".join(str(a) for a in arg) if isinstance(arg, list) else str(arg))
    if name == "Fn::Sub":
        return "!Sub " + (arg if isinstance(arg, str) else str(arg[0]) if isinstance(arg, list) and arg else "")
    if name.startswith("Fn::") or name == "Condition":
        return f"!{name.removeprefix('Fn::')} {compact(arg)}"
    return None


def compact(value: Any) -> str:
    """A value on one line: strings as they are, intrinsics short, the rest as compact JSON."""
    if isinstance(value, str):
        return value
    short = intrinsic(value)
    if short is not None:
        return short
    if isinstance(value, (dict, list)):
        def default(o: Any) -> Any:
            return str(o)
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=default)
        return re.sub(r'\{"Ref":"([^"]+)"\}', r"!Ref \1", text)
    return json.dumps(value) if isinstance(value, bool) or value is None else str(value)


def shorten(text: str, limit: int = MAX_VALUE) -> str:
    """`text`, or its start and end around an ellipsis with the full length (never cut silently)."""
    if len(text) <= limit:
        return text
    tail = 16
    head = limit - tail - 1
    return f"{text[:head]}…{text[-tail:]} ({len(text)} chars)"


def shown(value: Any, path: str = "", *, missing: bool = False) -> str:
    """How a value at `path` is shown in a diff."""
    if missing:
        return ABSENT
    if is_secret_path(path):
        return HIDDEN
    return shorten(compact(value))


def property_changes(old: dict[str, Any] | None, new: dict[str, Any] | None, *,
                     skip: tuple[str, ...] = ()) -> list[tuple[str, str, str]]:
    """(path, old shown, new shown) for every leaf of two resource definitions that differs.

    Compares `Properties` (and the DeletionPolicy/UpdateReplacePolicy/Condition attributes).
    """
    old, new = old or {}, new or {}
    changes: list[tuple[str, str, str]] = []
    for attr in ("DeletionPolicy", "UpdateReplacePolicy", "Condition"):
        if old.get(attr) != new.get(attr):
            changes.append((attr, shown(old.get(attr), attr, missing=attr not in old),
                            shown(new.get(attr), attr, missing=attr not in new)))
    _walk(old.get("Properties") or {}, new.get("Properties") or {}, "", changes, skip)
    return changes


def _walk(old: Any, new: Any, path: str, out: list[tuple[str, str, str]], skip: tuple[str, ...]) -> None:
    if old == new or path in skip:
        return
    if isinstance(old, dict) and isinstance(new, dict) and intrinsic(old) is None and intrinsic(new) is None:
        for key in sorted(set(old) | set(new), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in old:
                out.append((sub, ABSENT, shown(new[key], sub)))
            elif key not in new:
                out.append((sub, shown(old[key], sub), ABSENT))
            else:
                _walk(old[key], new[key], sub, out, skip)
        return
    if isinstance(old, list) and isinstance(new, list):
        if len(old) == len(new):
            for i, (a, b) in enumerate(zip(old, new)):
                _walk(a, b, f"{path}[{i}]", out, skip)
            return
        # Items inserted or dropped: name each one that is in only one of the lists.
        for i, item in enumerate(old):
            if item not in new:
                out.append((f"{path}[{i}]", shown(item, path), ABSENT))
        for i, item in enumerate(new):
            if item not in old:
                out.append((f"{path}[{i}]", ABSENT, shown(item, path)))
        return
    out.append((path, shown(old, path), shown(new, path)))
