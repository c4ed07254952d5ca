"""Stage configs: load a TOML file into a validated, typed `Config`."""
from __future__ import annotations

import dataclasses
import datetime
import os
import tomli
from pathlib import Path

from infra.config.schema import Config
from infra.config.typed import Loader, one_line
from infra.config.validate import validate
from infra.errors import ConfigError

# The repository root: handler sources in configs are relative to it.
REPO_ROOT = Path(__file__).resolve().parents[3]
# Where the stage configs live: `templates`, `watch` and `schema --check` take every one in it.
CONFIG_DIR = REPO_ROOT / "config"
# ISO date that stands in for today where configs are checked against dates (runtime deprecation):
# the test suite pins it, so no test depends on the day it runs.
TODAY_ENV = "SERVERLESS_INFRA_TODAY"


def config_files(folder: Path = CONFIG_DIR) -> list[Path]:
    """The stage configs in `folder`, sorted: its `*.toml` files but hidden ones, which are an editor's
    lock or backup files (emacs' `.#name.toml`), matched by pathlib's glob but not by a shell's."""
    return sorted(p for p in folder.glob("*.toml") if not p.name.startswith("."))


def config_today() -> datetime.date:
    """The date configs are validated against: $SERVERLESS_INFRA_TODAY when set, else today."""
    pinned = os.environ.get(TODAY_ENV)
    return datetime.date.fromisoformat(pinned) if pinned else datetime.date.today()


def load_config(path: str | Path, root: Path = REPO_ROOT, *, today: datetime.date | None = None) -> Config:
    """Read, type-check and cross-check one stage config; raise ConfigError naming file and key.

    `today` (default: `config_today()`) decides which Lambda runtimes count as deprecated."""
    path = Path(path)
    shown = _shown(path)
    try:
        text = path.read_text(encoding="utf-8")
        if text.startswith("\ufeff"):  # what some Windows editors save as "UTF-8 with BOM"
            raise ConfigError(shown, "(file)", "starts with a byte-order mark (BOM), which TOML does not allow.",
                              "save it as UTF-8 without a BOM.")
        raw = tomli.loads(text)
    except FileNotFoundError:
        raise ConfigError(shown, "(file)", "the config file does not exist.",
                          "check the path, or list config/ for the shipped configs.") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(shown, "(file)", f"is not UTF-8 text ({exc.reason}).", "save it as UTF-8.") from None
    except tomli.TOMLDecodeError as exc:
        raise ConfigError(shown, "(syntax)", f"is not valid TOML: {exc}.", "fix the TOML syntax there.") from None
    return parse_config(raw, shown, path.stem, root, today=today)


def parse_config(raw: dict, file: str, name: str, root: Path = REPO_ROOT, *,
                 today: datetime.date | None = None) -> Config:
    """Type-check and cross-check already-parsed TOML data; errors name `file`."""
    loader = Loader(file)
    cfg = loader.load(Config, raw)
    cfg = dataclasses.replace(cfg, file=file, name=name, root=str(root))
    _written_capacity(raw, cfg, loader)
    validate(cfg, loader, today or config_today())
    return cfg


def _written_capacity(raw: dict, cfg: Config, loader: Loader) -> None:
    """Capacity written on an on-demand table would be ignored; the typed config cannot tell it
    from the default, so the raw TOML is asked."""
    for name, table in cfg.tables.items():
        given = [k for k in ("read_capacity", "write_capacity") if k in (raw.get("tables") or {}).get(name, {})]
        if table.billing == "on-demand" and given:
            loader.fail(f"tables.{name}.{given[0]}", "capacity applies to provisioned tables only (an on-demand "
                        "table is billed per request).", "remove it, or set billing = \"provisioned\".")


def _shown(path: Path) -> str:
    try:
        shown = str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        shown = str(path)
    return one_line(shown)


__all__ = ["Config", "config_today", "load_config", "parse_config"]
