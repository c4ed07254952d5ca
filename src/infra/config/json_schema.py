"""The stage config as a JSON Schema (draft-07), generated from the dataclasses that load it.

One source of truth: `schema.py` declares every key with `spec(...)` (doc, min, max, choices,
pattern, default); this module walks those dataclasses the way `typed.Loader` does and writes
the same constraints in JSON Schema words, so editors (taplo / Even Better TOML, through the
`#:schema` directive on a config's first line) check and document a config as it is typed.

What the schema cannot say stays with the loader: cross-field checks (references between
functions, tables and buckets, CIDR arithmetic, deprecated runtimes) live in `validate.py`.
"""
from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path
from typing import Any

from infra.config.schema import Config
from infra.config.typed import _unwrap_optional
from infra.errors import UserError

DIALECT = "http://json-schema.org/draft-07/schema#"
# Where the schema is checked in, relative to the repository root, and how a config in config/
# refers to it (taplo resolves the directive relative to the config file).
SCHEMA_PATH = "schema/stage-config.json"
DIRECTIVE = "#:schema ../schema/stage-config.json"  # a config's first line in config/


def directive(config: Path, repo: Path) -> str:
    """The `#:schema` line of a config at `config`: the schema's path from the config's folder
    (editors resolve it from there), so config/examples/ has its own."""
    import os

    return "#:schema " + Path(os.path.relpath(repo / SCHEMA_PATH, config.parent)).as_posix()
_SCALARS = {str: "string", int: "integer", float: "number", bool: "boolean"}


def stage_config_schema() -> dict:
    """The JSON Schema of a stage config file."""
    root = _object(Config)
    return {
        "$schema": DIALECT,
        "title": "serverless-infra stage config",
        "description": "A stage config (config/*.toml): what the system contains and how each part is "
                       "set. Generated from src/infra/config/schema.py by `python generate.py schema`; "
                       "cross-references (functions, tables, buckets, models) are checked by the loader.",
        **root,
    }


def render(schema: dict | None = None) -> str:
    """The schema as the checked-in file holds it: sorted keys, two-space indent, final newline."""
    return json.dumps(schema or stage_config_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _object(cls: type) -> dict:
    """A closed object: the loader refuses unknown keys, so `additionalProperties` is false."""
    hints = typing.get_type_hints(cls)
    props, required = {}, []
    for fld in dataclasses.fields(cls):
        if fld.metadata.get("internal"):
            continue
        props[fld.name] = _field(hints[fld.name], fld)
        if fld.default is dataclasses.MISSING and fld.default_factory is dataclasses.MISSING:
            required.append(fld.name)
    out: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        out["required"] = required
    return out


UNSET = " (unset by default)"


def _field(tp: Any, fld: dataclasses.Field) -> dict:
    meta = fld.metadata
    out = _value(tp, meta)
    out["description"] = _description(tp, meta)
    default = _default(fld)
    if default is not None:
        out["default"] = default
    elif fld.default is None and out.get("type") != "object":
        # An optional value with no default (TOML has no null): say so where editors show defaults.
        out["description"] += UNSET
    return out


def _value(tp: Any, meta: typing.Mapping) -> dict:
    """The schema of one value of type `tp`, with the constraints the loader applies to it."""
    tp, _ = _unwrap_optional(tp)  # optional = may be left out; TOML has no null
    origin = typing.get_origin(tp)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _object(tp)
    if origin is dict:
        _, val_tp = typing.get_args(tp)
        out: dict[str, Any] = {"type": "object"}
        if meta.get("pattern"):  # on a table, the pattern constrains the names (keys)
            out["propertyNames"] = {"pattern": _anchored(meta["pattern"])}
        out["additionalProperties"] = _value(val_tp, {m: meta.get(m) for m in ("choices", "min", "max")})
        return out
    if origin in (list, tuple):
        (item_tp,) = typing.get_args(tp)[:1]
        return {"type": "array", "items": _value(item_tp, {} if dataclasses.is_dataclass(item_tp) else meta)}
    out = {"type": _SCALARS[tp]}
    if meta.get("min") is not None:
        out["minimum"] = meta["min"]
    if meta.get("max") is not None:
        out["maximum"] = meta["max"]
    if meta.get("choices"):
        out["enum"] = list(meta["choices"])
    if meta.get("pattern") and tp is str:
        out["pattern"] = _anchored(meta["pattern"])
    return out


def _anchored(pattern: str) -> str:
    # The loader uses re.fullmatch; a JSON Schema pattern matches anywhere unless anchored.
    return f"^(?:{pattern})$"


def _description(tp: Any, meta: typing.Mapping) -> str:
    """The field's doc, plus what its range says. A field without a doc still gets a sentence
    from its constraints, so an editor's hover never comes up empty."""
    doc = meta.get("doc") or ""
    choices = [c for c in meta.get("choices") or () if c != ""]
    if not doc and choices:
        doc = "one of " + ", ".join(json.dumps(c) for c in choices)
    if not doc and meta.get("hint"):
        doc = meta["hint"]
    if not doc:
        base, _ = _unwrap_optional(tp)
        doc = "a table" if dataclasses.is_dataclass(base) else f"a {_SCALARS.get(base, 'value')}"
    lo, hi = meta.get("min"), meta.get("max")
    if lo is not None or hi is not None:
        doc += "; " + (f"from {lo} to {hi}" if lo is not None and hi is not None else (
            f"at least {lo}" if lo is not None else f"at most {hi}"))
    return doc[0].upper() + doc[1:]


def _default(fld: dataclasses.Field) -> Any:
    if fld.default_factory is not dataclasses.MISSING:
        value = fld.default_factory()
    elif fld.default is not dataclasses.MISSING:
        value = fld.default
    else:
        return None
    return _plain(value)


def _plain(value: Any) -> Any:
    """A default as TOML would write it: tables as objects, unset optional tables left out."""
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if not f.metadata.get("internal") and getattr(value, f.name) is not None}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def check_schema(target: Path, config_dir: Path | None = None) -> str:
    """`schema --check`: that `target` holds what `render()` generates and that every config in
    `config_dir` (default: the repository's config/) starts with the directive and loads.

    Returns the line to print; raises UserError (exit 1) listing what is wrong, or the loader's
    ConfigError (exit 2) for a config that does not load.
    """
    from infra.config import CONFIG_DIR, config_files, load_config

    folder = config_dir or CONFIG_DIR
    problems = []
    try:
        current = target.read_text(encoding="utf-8") if target.is_file() else None
    except (OSError, UnicodeDecodeError):
        current = None
    if current is None:
        problems.append(f"{target} does not exist: run `python generate.py schema` (or `make schema`) and commit it")
    elif current != render():
        problems.append(f"{target} is stale: run `python generate.py schema` (or `make schema`) and commit it")
    for path in [*config_files(folder), *config_files(folder / "examples")]:
        load_config(path)  # a config that does not load fails here with its own message (exit 2)
        first = path.read_text(encoding="utf-8").split("\n", 1)[0].strip()
        wanted = directive(path, folder.parent)  # config/'s parent is the repository
        if first != wanted:
            problems.append(f"{path.relative_to(folder.parent)} does not start with `{wanted}`")
    if problems:
        raise UserError("; ".join(problems) + ".", exit_code=1)
    checked_in = folder.parent / SCHEMA_PATH
    named = "it" if target.resolve() == checked_in.resolve() else SCHEMA_PATH
    return f"{target} is up to date; every config in config/ and config/examples/ references {named}."
