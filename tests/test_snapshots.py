"""Snapshot tests: the generated JSON (and diagram) of every shipped config, reviewed as a diff on
every change.

Asset keys and the hashes in version logical IDs are masked so that editing a handler does not
churn every snapshot (their content-addressing is tested in test_generation.py and test_releases.py). Refresh after an intended change with
`UPDATE_SNAPSHOTS=1 make test-py` and review the diff.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from support.shipped import SHIPPED

SNAPSHOTS = Path(__file__).parent / "snapshots"
ASSET = re.compile(r"assets/[0-9a-f]{64}\.zip")
# A gradually released function's version is named after a hash of its code and configuration.
VERSION = re.compile(r"(FunctionVersion)[0-9A-F]{10}\b")


def masked(text: str) -> str:
    return VERSION.sub(r"\1<hash>", ASSET.sub("assets/<sha256>.zip", text))


@pytest.mark.parametrize("config", [c.stem for c in SHIPPED])
def test_snapshot(config, out_dir):
    produced = {f.name: masked(f.read_text()) for f in sorted((out_dir / config).iterdir())
                if f.suffix in (".json", ".md")}
    folder = SNAPSHOTS / config
    if os.environ.get("UPDATE_SNAPSHOTS"):
        folder.mkdir(parents=True, exist_ok=True)
        for old in [*folder.glob("*.json"), *folder.glob("*.md")]:
            old.unlink()
        for name, text in produced.items():
            (folder / name).write_text(text)
    stored = {f.name: f.read_text() for f in sorted([*folder.glob("*.json"), *folder.glob("*.md")])}
    assert sorted(stored) == sorted(produced), "stacks added or removed: refresh with UPDATE_SNAPSHOTS=1"
    for name in produced:
        assert produced[name] == stored[name], f"{config}/{name} differs from its snapshot"
