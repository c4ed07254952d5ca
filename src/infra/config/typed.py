"""A small typed loader: TOML tables into frozen dataclasses, failing early and precisely.

Every error names the file, the dotted key and the fix. Fields declare their constraints in
`field(metadata=...)` through `spec()`, so the schema reads as one table per section.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import math
import re
import types
import typing
from typing import Any

from infra.errors import ConfigError
from infra.records import record


@typing.dataclass_transform(field_specifiers=(dataclasses.field,))
def dataclass(*, frozen: bool, kw_only: bool) -> Any:
    """`dataclasses.dataclass(frozen=True, kw_only=True)` for config tables, cheaper to define
    (`infra.records`): the only kind the schema declares."""
    if not (frozen and kw_only):
        raise TypeError("config tables are frozen, keyword-only dataclasses: dataclass(frozen=True, kw_only=True)")
    return record(frozen=True, kw_only=True)


def internal(default: Any) -> Any:
    """A field the loader sets itself; a TOML key of that name is unknown."""
    return dataclasses.field(default=default, metadata={"internal": True})


def spec(default: Any = dataclasses.MISSING, *, doc: str = "", min: float | None = None,
         max: float | None = None, choices: tuple | None = None, pattern: str | None = None,
         hint: str = "", factory: Any = dataclasses.MISSING) -> Any:
    """Declare a config field with its constraints and a one-line doc for the reference."""
    meta = {"doc": doc, "min": min, "max": max, "choices": choices, "pattern": pattern,
            "hint": hint}
    if factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (list, tuple):
        return f"a list of {_type_name(typing.get_args(tp)[0]).removeprefix('a ').removeprefix('an ')}s"
    if origin is dict:
        return "a table"
    if dataclasses.is_dataclass(tp):
        return "a table"
    return _TYPE_NAMES.get(tp, getattr(tp, "__name__", str(tp)))


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


@functools.lru_cache(maxsize=None)
def _shape(cls: type) -> tuple[dict[str, Any], dict[str, dataclasses.Field]]:
    """Type hints and loadable fields of a dataclass, computed once per class (a large config
    loads hundreds of tables of the same few classes)."""
    fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    hints = {f.name: f.type for f in dataclasses.fields(cls)}
    if any(isinstance(tp, str) for tp in hints.values()):  # postponed annotations: evaluate them
        hints = typing.get_type_hints(cls)
    return hints, fields


def one_line(text: str) -> str:
    """`text` with every character that is not printable escaped as Python would write it
    (a newline as \\n, a right-to-left override as \\u202e), so that an error echoing a
    config value stays one line and shows exactly what the file holds."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


class Loader:
    """Converts raw TOML data into dataclass instances for one config file."""

    def __init__(self, file: str):
        self.file = file

    def fail(self, key: str, problem: str, fix: str = "") -> typing.NoReturn:
        # Messages quote config values, which may hold newlines or bidi controls.
        raise ConfigError(one_line(self.file), one_line(key or "(top level)"), one_line(problem), one_line(fix))

    def load(self, cls: type, data: Any, key: str = "") -> Any:
        """Build `cls` from `data`, checking unknown keys, types and field constraints."""
        if not isinstance(data, dict):
            self.fail(key, f"expected a table, got {type(data).__name__}.",
                      f"write it as [{key}] with keys below it.")
        hints, fields = _shape(cls)
        for name in data:
            if name not in fields:
                close = _close_matches(name, fields)
                fix = (f"did you mean '{close[0]}'?" if close
                       else f"valid keys are: {', '.join(sorted(fields))}.")
                self.fail(key_path(key, name), "unknown key.", fix)
        values = {}
        for name, fld in fields.items():
            sub = key_path(key, name)
            if name in data:
                values[name] = self.value(hints[name], data[name], sub, fld.metadata)
            elif fld.default is dataclasses.MISSING and fld.default_factory is dataclasses.MISSING:
                doc = fld.metadata.get("doc", "")
                table = isinstance(hints[name], type) and dataclasses.is_dataclass(hints[name])
                self.fail(sub, "is required but missing.",
                          (f"add a [{sub}] table" if table else f"add `{name} = ...`") + (f" ({doc})." if doc else "."))
        return cls(**values)

    def value(self, tp: Any, raw: Any, key: str, meta: typing.Mapping) -> Any:
        """Convert one value to `tp` and check its constraints."""
        tp, _ = _unwrap_optional(tp)
        origin = typing.get_origin(tp)
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            return self.load(tp, raw, key)
        if origin is dict:
            key_tp, val_tp = typing.get_args(tp)
            if not isinstance(raw, dict):
                self.fail(key, f"expected a table, got {_describe(raw)}.", f"write it as [{key}].")
            out = {}
            for k, v in raw.items():
                if meta.get("pattern") and not re.fullmatch(meta["pattern"], k):
                    self.fail(key_path(key, k), "is not a valid name.",
                              meta.get("hint") or f"names match {meta['pattern']}.")
                item_meta = {m: meta.get(m) for m in ("choices", "min", "max")}
                out[k] = self.value(val_tp, v, key_path(key, k), item_meta)
            return out
        if origin in (list, tuple):
            (item_tp,) = typing.get_args(tp)[:1]
            if not isinstance(raw, list):
                self.fail(key, f"expected {_type_name(tp)}, got {_describe(raw)}.",
                          "write it as [ ... ].")
            items = [self.value(item_tp, v, f"{key}[{i}]", meta if not dataclasses.is_dataclass(item_tp) else {})
                     for i, v in enumerate(raw)]
            return tuple(items) if origin is tuple else items
        return self.scalar(tp, raw, key, meta)

    def scalar(self, tp: Any, raw: Any, key: str, meta: typing.Mapping) -> Any:
        # TOML bools are not ints here: `memory = true` is a mistake, not 1.
        ok = (isinstance(raw, tp) and not (tp in (int, float) and isinstance(raw, bool))) or (
            tp is float and isinstance(raw, int) and not isinstance(raw, bool))
        if not ok:
            self.fail(key, f"expected {_type_name(tp)}, got {_describe(raw)}.",
                      meta.get("hint") or f"give {_type_name(tp)}.")
        if tp is float:
            raw = float(raw)
            if not math.isfinite(raw):
                self.fail(key, f"{raw} is not a finite number.", "give a number.")
        lo, hi = meta.get("min"), meta.get("max")
        if lo is not None and raw < lo or hi is not None and raw > hi:
            rng = f"from {lo} to {hi}" if lo is not None and hi is not None else (
                f"at least {lo}" if lo is not None else f"at most {hi}")
            self.fail(key, f"{raw} is out of range.", f"use a value {rng}.")
        choices = meta.get("choices")
        if choices and raw not in choices:
            self.fail(key, f"'{raw}' is not allowed.", _nearest(raw, choices) + f"Allowed: {', '.join(map(str, choices))}.")
        pattern = meta.get("pattern")
        if pattern and isinstance(raw, str) and not re.fullmatch(pattern, raw):
            self.fail(key, f"'{raw}' is not valid.", meta.get("hint") or f"match {pattern}.")
        return raw


def _nearest(raw: typing.Any, choices: tuple) -> str:
    """A suggestion for a value that is not one of `choices`: the allowed numbers on either side of
    a number (31 -> 30 or 60; spelling means nothing there), the closest spelling of a word."""
    if isinstance(raw, int) and all(isinstance(c, int) for c in choices):
        below = [c for c in choices if c < raw]
        above = [c for c in choices if c > raw]
        near = [str(c) for c in ([max(below)] if below else []) + ([min(above)] if above else [])]
        return f"use {' or '.join(near)}, the nearest allowed. "
    close = _close_matches(str(raw), [str(c) for c in choices])
    return f"did you mean '{close[0]}'? " if close else ""


def _close_matches(word: str, candidates: typing.Iterable[str]) -> list[str]:
    """The candidate closest to a mistyped `word`, if any is close (difflib loads on this error path only)."""
    import difflib

    return difflib.get_close_matches(word, list(candidates), n=1)


_BARE = re.compile(r"[A-Za-z0-9_-]+")


def key_path(key: str, name: str) -> str:
    # Keys that are not bare TOML keys are shown quoted, as they would be written in TOML.
    shown = name if _BARE.fullmatch(name) else json.dumps(name)
    return f"{key}.{shown}" if key else shown


def _describe(raw: Any) -> str:
    if isinstance(raw, bool):
        return f"{str(raw).lower()} (a boolean)"
    if isinstance(raw, dict):
        return "a table"
    if isinstance(raw, list):
        return "a list"
    return f"{raw!r} ({_type_name(type(raw))})"
