"""`logs`: the functions' log groups and the API access log of a deployed stage, in time order.

Each log group is read with FilterLogEvents (paginated); the events of every group are merged
by timestamp and printed one line each: time, source (function name or `api`), then the message
made readable (JSON lines as `LEVEL message key=value ...`, Lambda's tab-separated text prefix
unpacked, request ids kept, newlines escaped). `--follow` polls until stopped; the clock, the
sleep and the stop condition are parameters so tests follow without waiting.
"""
from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from infra.config.schema import Config
from infra.errors import DeployError, UsageError
from infra.naming import api_access_log_group, function_log_group

API_SOURCE = "api"
# How late an event may arrive and still be printed by --follow (lines may then be out of time order).
LATE_SECONDS = 60.0
POLL_SECONDS = 2.0
# Lambda's text log format: Node.js writes "<time>\t<request id>\t<LEVEL>\t<message>", the
# Python runtime's logging module "[LEVEL]\t<time>\t<request id>\t<message>".
_NODE_TEXT = re.compile(r"^(\d{4}-\d\d-\d\dT[\d:.]+Z)\t(\S+)\t([A-Z]+)\t(.*)$", re.S)
_PYTHON_TEXT = re.compile(r"^\[([A-Z]+)\]\t(\d{4}-\d\d-\d\dT[\d:.]+Z)\t(\S+)\t(.*)$", re.S)
# Keys shown first, without their names, in this order; then the others as key=value; request
# ids last so they line up at the end.
_HEADLINE = ("level", "message", "msg", "httpMethod", "resourcePath", "status")
_DROPPED = ("timestamp", "time", "requestTime")  # the line already starts with the event time
_REQUEST_IDS = ("requestId", "lambdaRequestId", "awsRequestId", "extendedRequestId",
                "correlation_id", "function_request_id")  # the last two: Powertools' names


@dataclass(frozen=True)
class Source:
    """One log group and the short name its lines are shown under."""

    label: str
    group: str


@dataclass(frozen=True, order=True)
class Event:
    timestamp: int
    label: str
    event_id: str
    message: str = field(compare=False)


def sources(cfg: Config, function: str | None = None, api: bool = False) -> list[Source]:
    """The log groups to read: every function's and the API's, or the one asked for."""
    if function is not None and function not in cfg.functions:
        known = ", ".join(sorted(cfg.functions)) or "none"
        raise UsageError(f"{cfg.file}: no function named '{function}' (functions: {known}).")
    if api and not cfg.api:
        raise UsageError(f"{cfg.file}: the config has no [api], so there is no access log to read.")
    out: list[Source] = []
    if not api:
        for name in [function] if function else sorted(cfg.functions):
            out.append(Source(name, function_log_group(cfg, name)))
    if cfg.api and function is None:
        out.append(Source(API_SOURCE, api_access_log_group(cfg)))
    if not out:
        raise UsageError(f"{cfg.file}: the config has no functions and no [api]: there are no logs to read.")
    return out


class Reader:
    """Reads events of several log groups through one CloudWatch Logs client."""

    def __init__(self, client: Any, groups: list[Source], pattern: str | None = None):
        self.client, self.groups, self.pattern = client, groups, pattern
        self.missing: set[str] = set()

    def read(self, start_ms: int, end_ms: int | None = None) -> list[Event]:
        """Every event from `start_ms` on (up to `end_ms`), all groups merged in time order."""
        from botocore.exceptions import ClientError

        events: list[Event] = []
        for src in self.groups:
            kwargs: dict[str, Any] = {"logGroupName": src.group, "startTime": start_ms}
            if end_ms is not None:
                kwargs["endTime"] = end_ms
            if self.pattern:
                kwargs["filterPattern"] = self.pattern
            try:
                for page in self.client.get_paginator("filter_log_events").paginate(**kwargs):
                    events += [Event(e["timestamp"], src.label, e.get("eventId", ""), e.get("message", ""))
                               for e in page.get("events", [])]
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                    raise
                self.missing.add(src.group)
            else:
                self.missing.discard(src.group)
        return sorted(events)


def run(reader: Reader, emit: Callable[[str], None], *, since_seconds: float, follow: bool = False,
        clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
        stop: Callable[[], bool] = lambda: False, poll_seconds: float = POLL_SECONDS) -> int:
    """Print the events of the last `since_seconds`, then (with `follow`) new ones until
    `stop()` is true or Ctrl-C. Returns the number of lines printed."""
    width = max(len(s.label) for s in reader.groups)
    start = first = newest = int((clock() - since_seconds) * 1000)
    printed = 0
    seen: dict[tuple[str, str], int] = {}
    while True:
        batch = reader.read(start)
        if len(reader.missing) == len(reader.groups):
            raise DeployError(
                "None of the stage's log groups exist (" + ", ".join(sorted(reader.missing)) + "): "
                "is the stage deployed in this region and account? Deploy it first, or pass --region/--profile.")
        for event in batch:
            key = (event.label, event.event_id)
            if key in seen:
                continue
            seen[key] = event.timestamp
            emit(format_event(event, width))
            printed += 1
        if not follow or stop():
            return printed
        # Read again from LATE_SECONDS before the newest timestamp seen: CloudWatch Logs delivers
        # events late, by different delays for each group and stream (an access log line seconds
        # after a function's), and one that arrives after a newer one was read would be lost.
        # The ids already printed are skipped; older ones are forgotten, so the set stays small.
        if batch:
            newest = max(newest, batch[-1].timestamp)
        start = max(first, newest - int(LATE_SECONDS * 1000))
        seen = {k: ts for k, ts in seen.items() if ts >= start}
        sleep(poll_seconds)


def format_event(event: Event, width: int = 0) -> str:
    """One line: UTC time with milliseconds, source, readable message."""
    when = datetime.fromtimestamp(event.timestamp / 1000, tz=timezone.utc)
    stamp = when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return f"{stamp} {event.label:<{width}} {readable(event.message)}"


def readable(message: str) -> str:
    """A log message as one readable line (see the module docstring)."""
    text = message.rstrip("\n")
    prefix: dict[str, str] = {}
    node = _NODE_TEXT.match(text)
    python = None if node else _PYTHON_TEXT.match(text)
    if node:
        prefix = {"level": node.group(3), "awsRequestId": node.group(2)}
        text = node.group(4)
    elif python:
        prefix = {"level": python.group(1), "awsRequestId": python.group(3)}
        text = python.group(4)
    data = _json_object(text)
    if data is None:
        fields = {**prefix, "message": text} if prefix else None
        return _fields_line(fields) if fields else _one_line(text)
    for key, value in prefix.items():
        if value not in data.values():  # the handler already logged this id under its own name
            data.setdefault(key, value)
    return _fields_line(data)


def _json_object(text: str) -> dict | None:
    stripped = text.strip()
    if not stripped.startswith("{"):
        return None
    try:
        value = json.loads(stripped)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _fields_line(data: dict) -> str:
    data = {k: v for k, v in data.items() if k not in _DROPPED and v not in (None, "", "-")}
    parts = [_text(data.pop(k)) for k in _HEADLINE if k in data]
    ids = [f"{k}={_value(data.pop(k))}" for k in _REQUEST_IDS if k in data]
    parts += [f"{k}={_value(v)}" for k, v in data.items()]
    return _one_line(" ".join([*parts, *ids]))


def _text(value: Any) -> str:
    return value if isinstance(value, str) else _value(value)


def _value(value: Any) -> str:
    """A key=value value: bare when unambiguous, JSON (quoted, escaped) otherwise."""
    if isinstance(value, str) and value and not re.search(r'[\s="\\]', value):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str, ensure_ascii=False)


def _one_line(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\n", "\\n").replace("\t", " ")
