"""Command-line values checked before anything runs: endpoint URLs, output files, durations.

Pure (no boto3, no rich): a bad value is one sentence and exit 2 before any AWS call, so a good
deploy can never end as a failure because of where its outputs were to be written.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s)?\s*$")


class Duration(click.ParamType):
    """A duration: 90s, 15m, 1h, 1h30m; a bare number is minutes. Value in seconds."""

    name = "DURATION"

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        if isinstance(value, (int, float)):
            return float(value)
        text = str(value).strip().lower()
        try:
            seconds = float(text) * 60
        except ValueError:
            match = DURATION.match(text)
            if not text or not match or not any(match.groups()):
                self.fail(f"'{value}' is not a duration (examples: 90s, 15m, 1h, 1h30m; a bare number is minutes).", param, ctx)
            h, m, s = (float(g) if g else 0.0 for g in match.groups())
            seconds = h * 3600 + m * 60 + s
        if seconds <= 0:
            self.fail("the timeout must be positive.", param, ctx)
        return seconds


def endpoint_problem(url: str) -> str | None:
    """Why `url` cannot be an endpoint (None when it can): http(s)://host[:port][/path]."""
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a port that is not a number or out of range
    except ValueError as exc:
        return f"'{url}' is not a valid URL ({exc})"
    if parts.scheme not in ("http", "https"):
        return f"'{url}' is not an http:// or https:// URL"
    if not parts.hostname:
        return f"'{url}' names no host"
    if port == 0:
        return f"'{url}' has port 0"
    return None


class EndpointUrl(click.ParamType):
    """An http(s) URL with a host and, optionally, a numeric port (botocore's own check raises ValueError)."""

    name = "URL"

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        problem = endpoint_problem(str(value))
        if problem:
            self.fail(f"{problem}; expected e.g. http://127.0.0.1:5000.", param, ctx)
        return str(value)


def unwritable_reason(path: Path) -> str | None:
    """Why a file cannot be written at `path` (None when it can), checked without writing."""
    if path.is_dir():
        return f"{path} is a directory"
    if path.exists():
        return None if os.access(path, os.W_OK) else f"{path} exists and is not writable"
    ancestor = path.parent
    while not ancestor.exists():
        if ancestor == ancestor.parent:
            break
        ancestor = ancestor.parent
    if ancestor.exists() and not ancestor.is_dir():
        return f"{ancestor} is a file, so {path} cannot be created under it"
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return f"the directory {ancestor} is not writable"
    return None


class WritableFile(click.ParamType):
    """A file path that can be written (its directory is created when missing)."""

    name = "FILE"

    def convert(self, value: Any, param: Any, ctx: Any) -> Path:
        path = Path(value)
        reason = unwritable_reason(path)
        if reason:
            self.fail(f"{reason}; choose another path.", param, ctx)
        return path
