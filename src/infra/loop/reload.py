"""`serve` follows its config: a save is applied before the next request, as a code save is.

The new config is loaded and checked first; one that does not load (or has no [api]) is said
once and the previous one keeps serving. A loaded one gets its references resolved against the
same backing (with --emulator, its new tables, buckets, key and secret are created there) and a
new execution environment for every function, then replaces the old config in one step.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from infra.errors import UserError
from infra.loop.local import Backing, close_runners, make_runners
from infra.loop.server import LocalApi


def stamp(path: Path) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None   # being replaced by an editor: the next request looks again
    return info.st_mtime_ns, info.st_size


def route_functions(api_routes) -> list[str]:
    return sorted({r.function for r in api_routes})


class ConfigReloader:
    """Checks the config file before each request (one stat) and applies a saved change."""

    def __init__(self, path: Path, api: LocalApi, back: Backing, log: Callable[[str], None],
                 function_log: Callable[[str, str], None], seen: tuple[int, int] | None = None):
        """`seen`: the file's stamp when the config being served was read (a save since then,
        while serve was starting, is applied at the first request)."""
        self.path, self.api, self.back, self.log, self.function_log = path, api, back, log, function_log
        self.seen = seen if seen is not None else stamp(path)
        self.lock = threading.Lock()

    def check(self) -> None:
        now = stamp(self.path)
        if now is None or now == self.seen:
            return
        with self.lock:
            if now == self.seen:
                return   # another request applied it meanwhile
            self.seen = now
            self._apply()

    def _apply(self) -> None:
        from infra.config import load_config

        try:
            cfg = load_config(self.path)
            if not cfg.api:
                raise UserError(f"{cfg.file}: the config has no [api] to serve.")
            back = self.back.for_config(cfg)
            runners = make_runners(cfg, route_functions(cfg.api.routes), back, self.function_log)
        except UserError as exc:
            self.log(f"config not applied: {exc} Still serving the previous config.")
            return
        except Exception as exc:  # noqa: BLE001 - an AWS or emulator failure: said, and serving goes on
            self.log(f"config not applied: {type(exc).__name__}: {exc}. Still serving the previous config.")
            return
        old = self.api.replace(cfg, runners)
        self.back = back
        close_runners(old)
        self.log(f"config changed in {self.path}: serving it now, every function in a new execution environment")
        for line in self.api.route_lines():
            self.log(line)
