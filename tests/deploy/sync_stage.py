"""A development copy of config/catalog-api.toml (one Node.js and one Python function) whose
handlers are copies in a temporary folder, so tests can edit code without touching the repository."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

from deploy_emulator import REPO

STACK = "catalog-dev"


def dev_catalog(tmp: Path) -> Path:
    """tmp/catalog-api.toml (stage dev, not production) with handlers in tmp/handlers/."""
    for name in ("users", "products", "shared"):
        src = REPO / "handlers" / name
        if src.is_dir():
            shutil.copytree(src, tmp / "handlers" / name, symlinks=True,
                            ignore=shutil.ignore_patterns("node_modules", "__pycache__", "tests", "test"))
    text = (REPO / "config" / "catalog-api.toml").read_text()
    text = text.replace('stage = "prod"', 'stage = "dev"').replace("production = true", "production = false")
    text = text.replace('ENVIRONMENT = "prod"', 'ENVIRONMENT = "dev"')
    text = re.sub(r'source = "handlers/(\w+)"', lambda m: f'source = "{tmp / "handlers" / m.group(1)}"', text)
    config = tmp / "catalog-api.toml"
    config.write_text(text)
    return config


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))
