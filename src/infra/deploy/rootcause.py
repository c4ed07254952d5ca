"""Find why an operation failed: the deepest failed resource and its reason.

CloudFormation reports a nested failure at the root as "Embedded stack ... was not successfully
created" and cancels siblings with "Resource creation cancelled". Neither is the cause. We start
at the root's events of the failed operation, prefer the earliest failure whose reason is not one
of those echoes, and follow failed nested stacks down to the resource that failed first.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from infra.deploy.stack_state import NESTED_STACK_TYPE

# Reasons that only echo a failure elsewhere.
ECHO_PATTERNS = [
    re.compile(p, re.I) for p in (
        r"^Resource (creation|update|deletion) cancelled",
        r"Embedded stack .* was not successfully",
        r"^The following resource\(s\) failed to",
        r"^Resource update cancelled",
        r"^Stack operation was cancelled",
        r"^Cancellation of stack operation",
    )
]
OPERATION_STARTS = {"CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS", "DELETE_IN_PROGRESS", "IMPORT_IN_PROGRESS"}
MAX_DEPTH = 10


@dataclass(frozen=True)
class RootCause:
    stack: str              # label: root/Child
    logical_id: str
    resource_type: str
    status: str
    reason: str
    physical_id: str = ""

    def sentence(self) -> str:
        where = f"{self.stack} > {self.logical_id} ({self.resource_type})"
        return f"{where} {self.status}: {self.reason or 'no reason given'}"


def is_echo(reason: str | None) -> bool:
    return any(p.search(reason or "") for p in ECHO_PATTERNS)


def is_failure(ev: dict[str, Any]) -> bool:
    return str(ev.get("ResourceStatus", "")).endswith("_FAILED")


def is_own_event(ev: dict[str, Any]) -> bool:
    return ev.get("PhysicalResourceId") == ev.get("StackId") and ev.get("ResourceType") == NESTED_STACK_TYPE


EventsGetter = Callable[[str, "datetime | None"], list[dict[str, Any]]]


def find_root_cause(events_of: EventsGetter, stack_id: str, label: str,
                    since: datetime | None = None, _depth: int = 0) -> RootCause | None:
    """The deepest failed resource of the operation that began at `since` (oldest-first events)."""
    events = events_of(stack_id, since)
    failures = [e for e in events if is_failure(e) and not is_own_event(e)]
    if not failures:
        own = [e for e in events if is_failure(e) and is_own_event(e)]
        if own and not is_echo(own[-1].get("ResourceStatusReason")):
            e = own[-1]
            return RootCause(label, e.get("LogicalResourceId", ""), e.get("ResourceType", ""),
                             e.get("ResourceStatus", ""), e.get("ResourceStatusReason", "") or "",
                             e.get("PhysicalResourceId", "") or "")
        return None
    causes = [e for e in failures if not is_echo(e.get("ResourceStatusReason"))]
    nested = [e for e in failures if e.get("ResourceType") == NESTED_STACK_TYPE]
    for e in [*causes, *nested, *failures]:
        if e.get("ResourceType") == NESTED_STACK_TYPE and e.get("PhysicalResourceId") and _depth < MAX_DEPTH:
            inner = find_root_cause(events_of, e["PhysicalResourceId"],
                                    f"{label}/{e.get('LogicalResourceId')}", since, _depth + 1)
            if inner is not None:
                return inner
        return RootCause(label, e.get("LogicalResourceId", ""), e.get("ResourceType", ""),
                         e.get("ResourceStatus", ""), e.get("ResourceStatusReason", "") or "",
                         e.get("PhysicalResourceId", "") or "")
    return None


def stack_events(cfn: Any, stack_id: str) -> Iterator[dict[str, Any]]:
    """A stack's events, newest first, page after page only as far as the caller reads (boto3's
    DescribeStackEvents paginator)."""
    for page in cfn.get_paginator("describe_stack_events").paginate(StackName=stack_id):
        yield from page.get("StackEvents", [])


def api_events_getter(cfn: Any) -> EventsGetter:
    """Events of a stack from DescribeStackEvents, oldest first, restricted to one operation.

    With `since`, events at or after it; without, events since the stack's last operation start.
    """
    from botocore.exceptions import ClientError

    def events_of(stack_id: str, since: datetime | None) -> list[dict[str, Any]]:
        collected: list[dict[str, Any]] = []
        try:
            for ev in stack_events(cfn, stack_id):
                ts = ev.get("Timestamp")
                if since is not None and isinstance(ts, datetime) and ts < since:
                    break
                collected.append(ev)
                if since is None and is_own_event(ev) and ev.get("ResourceStatus") in OPERATION_STARTS:
                    break
        except ClientError as exc:
            if "does not exist" in str(exc):
                return []
            raise
        return list(reversed(collected))

    return events_of


def operation_start(cfn: Any, stack_id: str) -> datetime | None:
    """When the stack's latest operation started (its last stack-level *_IN_PROGRESS start event)."""
    events = api_events_getter(cfn)(stack_id, None)
    starts = [e for e in events if is_own_event(e) and e.get("ResourceStatus") in OPERATION_STARTS]
    ts = starts[0].get("Timestamp") if starts else None
    return ts if isinstance(ts, datetime) else None


def explain_failure(cfn: Any, stack_id: str, label: str, since: datetime | None = None) -> RootCause | None:
    """Root cause of the stack's last failed operation, looked up through the API."""
    if since is None:
        since = operation_start(cfn, stack_id)
    return find_root_cause(api_events_getter(cfn), stack_id, label, since)
