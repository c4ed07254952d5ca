"""The README's config reference names every key of the schema, and its quick start is `make`."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from infra.config import schema

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def documented(key: str) -> bool:
    """As `key`, as a table header [key] / [x.key], or inside a TOML example `key = ...`."""
    return re.search(rf"(`{key}`|[\[.]{key}[\].]|[`{{,] ?{key} = )", README) is not None


def test_every_config_key_is_documented():
    classes = [v for v in vars(schema).values() if dataclasses.is_dataclass(v)]
    missing = [f"{cls.__name__}.{f.name}" for cls in classes for f in dataclasses.fields(cls)
               if not f.metadata.get("internal") and not documented(f.name)]
    assert not missing, f"README's config reference lacks: {missing}"


def test_quick_start_is_the_two_make_commands():
    start = README.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    assert [line.split("#")[0].strip() for line in start.strip().splitlines()] == ["make templates", "make test"]
