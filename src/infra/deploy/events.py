"""Follow a stack operation: events of the root and of every nested stack, live.

`EventStream` polls DescribeStackEvents of the root and of each nested stack it learns about
(from nested-stack events, and from ListStackResources every few polls), shows each event once
(de-duplicated by EventId, and nothing older than the operation), and decides when the root's
operation has ended. Where it shows them:
- a terminal: a rich live table, one row per stack, resources completing as they go, failures
  printed above it as they happen;
- anything else (CI, pipes): one plain line per event.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from infra.deploy.rootcause import stack_events
from infra.deploy.stack_state import NESTED_STACK_TYPE
from infra.deploy.stacks import describe_stack, nested_stacks
from infra.deploy.ui import Ui

if TYPE_CHECKING:   # rich loads only when a command shows something
    from rich.table import Table

DONE_STATUSES = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "DELETE_COMPLETE", "IMPORT_COMPLETE",
                 "DELETE_SKIPPED", "UPDATE_ROLLBACK_COMPLETE", "ROLLBACK_COMPLETE"}
LIST_EVERY = 5  # polls between ListStackResources walks (finds nested stacks without events)


class WaitTimeout(Exception):
    """The operation did not finish within the allowed time."""


def is_terminal(status: str) -> bool:
    return not status.endswith("_IN_PROGRESS")


def is_stack_event(event: dict[str, Any]) -> bool:
    """An event about the stack itself (not one of its resources)."""
    return event.get("PhysicalResourceId") == event.get("StackId") and \
        event.get("ResourceType") == NESTED_STACK_TYPE


@dataclass
class Watch:
    label: str
    stack_id: str
    seen: set[str] = field(default_factory=set)


class PlainSink:
    """One line per event: for logs and pipes."""

    def __init__(self, ui: Ui):
        self.ui = ui

    def __enter__(self) -> "PlainSink":
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def add_stack(self, label: str) -> None:
        pass

    def event(self, label: str, ev: dict[str, Any]) -> None:
        self.ui.say(format_event(label, ev))


class LiveSink:
    """A rich live table: per stack, its status and its resources completing."""

    def __init__(self, ui: Ui, expected: dict[str, int] | None = None):
        self.ui = ui
        self.expected = expected or {}
        self.stacks: dict[str, dict[str, Any]] = {}
        self._live: Any = None

    def __enter__(self) -> "LiveSink":
        from rich.live import Live

        self._live = Live(self.render(), console=self.ui.out, refresh_per_second=4, transient=False)
        self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.update(self.render())
            self._live.__exit__(*exc)
            self._live = None

    def add_stack(self, label: str) -> None:
        self.stacks.setdefault(label, {"status": "", "resources": {}, "last": ""})

    def event(self, label: str, ev: dict[str, Any]) -> None:
        self.add_stack(label)
        state = self.stacks[label]
        status = ev.get("ResourceStatus", "")
        if is_stack_event(ev):
            state["status"] = status
        else:
            state["resources"][ev.get("LogicalResourceId", "")] = status
        state["last"] = f"{ev.get('LogicalResourceId', '')} {status}"
        if status.endswith("_FAILED") and self._live is not None:
            self._live.console.print(format_event(label, ev), style="red")
        if self._live is not None:
            self._live.update(self.render())

    def render(self) -> Table:
        from rich.table import Table

        table = Table(title="Stack progress", title_justify="left", expand=False)
        for col in ("Stack", "Status", "Resources done", "In progress", "Failed", "Latest"):
            table.add_column(col)
        for label, state in self.stacks.items():
            statuses = list(state["resources"].values())
            done = sum(s in DONE_STATUSES for s in statuses)
            busy = [lid for lid, s in state["resources"].items() if s.endswith("_IN_PROGRESS")]
            failed = sum(s.endswith("_FAILED") for s in statuses)
            total = self.expected.get(label) or len(statuses)
            style = "red" if "FAILED" in state["status"] or "ROLLBACK" in state["status"] else (
                "green" if state["status"].endswith("_COMPLETE") else "")
            # No resource event at all is not progress: say so rather than "0/19".
            progress = f"{done}/{max(total, done)}" if statuses else "no resource events seen"
            table.add_row(label, state["status"] or "…", progress,
                          ", ".join(busy[:3]) + (" …" if len(busy) > 3 else ""),
                          str(failed) if failed else "", state["last"], style=style)
        return table


def format_event(label: str, ev: dict[str, Any]) -> str:
    ts = ev.get("Timestamp")
    when = ts.strftime("%H:%M:%S") if isinstance(ts, datetime) else str(ts or "")
    reason = ev.get("ResourceStatusReason") or ""
    text = (f"{when}  {label:<28} {ev.get('ResourceStatus', ''):<30} "
            f"{ev.get('LogicalResourceId', '')} ({ev.get('ResourceType', '')})")
    return f"{text}  {reason}" if reason else text


def make_sink(ui: Ui, expected: dict[str, int] | None = None) -> PlainSink | LiveSink:
    return LiveSink(ui, expected) if ui.live else PlainSink(ui)


class EventStream:
    """Events of one stack tree during one operation."""

    def __init__(self, cfn: Any, stack_id: str, label: str, sink: PlainSink | LiveSink, *,
                 fast: bool = False, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic, on_poll: Callable[[], None] | None = None):
        self.cfn = cfn
        self.on_poll = on_poll  # called after every poll: views of what stack events do not show (releases)
        self.root = Watch(label, stack_id)
        self.watches: dict[str, Watch] = {stack_id: self.root}
        self.sink = sink
        self.cutoff: datetime | None = None
        self.events: list[tuple[str, dict[str, Any]]] = []  # (label, event), oldest first
        self.root_status: str | None = None
        self.sleep, self.clock = sleep, clock
        self.interval, self.max_interval = (0.1, 0.5) if fast else (1.0, 5.0)
        self._polls = 0

    # -- before the operation ------------------------------------------------------------------
    def prime(self, *, include_nested: bool = True) -> None:
        """Remember what already happened, so that only this operation's events are shown."""
        for watch in self._known_stacks() if include_nested else [self.root]:
            page = self.cfn.describe_stack_events(StackName=watch.stack_id).get("StackEvents", [])
            watch.seen.update(e["EventId"] for e in page)
            stamps = [e["Timestamp"] for e in page if isinstance(e.get("Timestamp"), datetime)]
            if stamps and (self.cutoff is None or max(stamps) > self.cutoff):
                self.cutoff = max(stamps)
        for watch in self.watches.values():
            self.sink.add_stack(watch.label)

    def _known_stacks(self) -> list[Watch]:
        for nested in nested_stacks(self.cfn, self.root.stack_id, self.root.label):
            self._watch(nested.physical_id, nested.label)
        return list(self.watches.values())

    def _watch(self, stack_id: str, label: str) -> Watch:
        if stack_id not in self.watches:
            self.watches[stack_id] = Watch(label, stack_id)
            self.sink.add_stack(label)
        return self.watches[stack_id]

    # -- during the operation ------------------------------------------------------------------
    def poll(self) -> list[tuple[str, dict[str, Any]]]:
        """Fetch, show and return the events that are new since the last poll."""
        self._polls += 1
        if self._polls % LIST_EVERY == 0:
            self._known_stacks()
        fresh: list[tuple[str, dict[str, Any]]] = []
        for watch in list(self.watches.values()):
            for ev in self._new_events(watch):
                fresh.append((watch.label, ev))
                if ev.get("ResourceType") == NESTED_STACK_TYPE and not is_stack_event(ev):
                    physical = ev.get("PhysicalResourceId") or ""
                    if physical.startswith("arn:") and physical != watch.stack_id:
                        self._watch(physical, f"{watch.label}/{ev.get('LogicalResourceId')}")
                if watch is self.root and is_stack_event(ev):
                    self.root_status = ev.get("ResourceStatus")
        fresh.sort(key=lambda item: _sort_key(item[1]))
        for label, ev in fresh:
            self.sink.event(label, ev)
        self.events.extend(fresh)
        if self.on_poll is not None:
            self.on_poll()
        return fresh

    def _new_events(self, watch: Watch) -> list[dict[str, Any]]:
        from botocore.exceptions import ClientError

        new: list[dict[str, Any]] = []
        try:
            for ev in stack_events(self.cfn, watch.stack_id):
                ts = ev.get("Timestamp")
                if ev["EventId"] in watch.seen or (
                        self.cutoff is not None and isinstance(ts, datetime) and ts < self.cutoff):
                    break     # newest first: everything further down was shown already
                new.append(ev)
        except ClientError as exc:
            if "does not exist" in str(exc):
                return []
            raise
        watch.seen.update(e["EventId"] for e in new)
        return list(reversed(new))

    def finish(self) -> None:
        """Last look: nested stacks that never produced an event on the root, then their events."""
        if self.root_status != "DELETE_COMPLETE":
            # (Listing a deleted stack's resources is pointless, and some emulators recreate them.)
            self._known_stacks()
        self.poll()

    def wait_for_operation(self, timeout: float | None) -> str:
        """Poll until the root reports the end of the operation; its final status."""
        deadline = None if timeout is None else self.clock() + timeout
        while True:
            self.poll()
            if self.root_status and is_terminal(self.root_status):
                self.finish()
                return self.root_status
            if self._polls % LIST_EVERY == 0:
                info = describe_stack(self.cfn, self.root.stack_id)
                if info is None:
                    self.finish()
                    return "DELETE_COMPLETE"
            self._pause(deadline)

    def wait_until_idle(self, timeout: float | None) -> str:
        """Poll until no operation runs on the root (for one started by someone else)."""
        deadline = None if timeout is None else self.clock() + timeout
        while True:
            self.poll()
            info = describe_stack(self.cfn, self.root.stack_id)
            if info is None:
                return "DELETE_COMPLETE"
            if not info.busy:
                self.finish()
                return info.status
            self._pause(deadline)

    def _pause(self, deadline: float | None) -> None:
        if deadline is not None and self.clock() >= deadline:
            raise WaitTimeout()
        wait = self.interval
        if deadline is not None:
            wait = max(0.0, min(wait, deadline - self.clock()))
        self.sleep(wait)
        self.interval = min(self.interval * 1.5, self.max_interval)


def _sort_key(ev: dict[str, Any]) -> float:
    ts = ev.get("Timestamp")
    return ts.timestamp() if isinstance(ts, datetime) else 0.0
