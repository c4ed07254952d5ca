"""Gradual releases during a deploy: which functions a plan shifts and for how long at least,
each release's progress while CloudFormation waits for it, and why one was rolled back.

When a deploy publishes a new version of a function that releases gradually, CloudFormation
hands its alias to CodeDeploy (`UpdatePolicy: CodeDeployLambdaAliasUpdate`) and waits; the stack
events say nothing until the release ends. So the live view asks CodeDeploy itself:
ListDeployments (the function's deployment group, since the deploy started) -> GetDeployment
(status, rollback) -> GetDeploymentTarget (the new version's weight, when traffic started
moving), and on a rollback CloudWatch's DescribeAlarmHistory (which alarm of the release went to
ALARM, and why). The functions here that turn those answers into lines are pure; `ReleaseWatch`
makes the calls. What to watch comes from `manifest.json` ("releases", written by the generator).

CodeDeploy API: https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_GetDeploymentTarget.html,
https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_DeploymentInfo.html; CloudWatch:
https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_DescribeAlarmHistory.html.
"""
from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from infra.deploy.session import aws_exceptions, error_message

ALIAS_TYPE, VERSION_TYPE = "AWS::Lambda::Alias", "AWS::Lambda::Version"
# Deployment statuses that end a release (DeploymentInfo.status).
SUCCEEDED, FAILED, STOPPED = "Succeeded", "Failed", "Stopped"
ENDED = {SUCCEEDED, FAILED, STOPPED}
POLL_EVERY = 10.0   # seconds between CodeDeploy polls against AWS (an emulator is polled every time)


@dataclass(frozen=True)
class Release:
    """One function's release settings, as the generator recorded them in manifest.json."""

    function: str                 # config name
    function_name: str            # physical name
    application: str              # CodeDeploy application
    deployment_group: str
    kind: str                     # canary, linear, all-at-once
    percent: int
    interval_minutes: int
    minutes: int                  # the least time the shift takes
    describe: str
    alarms: tuple[str, ...]
    alias_logical_id: str
    version_logical_id_prefix: str

    @classmethod
    def from_manifest(cls, function: str, entry: Mapping[str, Any]) -> "Release":
        return cls(function, entry["function_name"], entry["application"], entry["deployment_group"], entry["kind"],
                   int(entry["percent"]), int(entry["interval_minutes"]), int(entry["minutes"]), entry["describe"],
                   tuple(entry.get("alarms", ())), entry["alias_logical_id"], entry["version_logical_id_prefix"])

    def is_version(self, logical_id: str) -> bool:
        """Whether `logical_id` is one of this function's versions (prefix + content hash)."""
        return re.fullmatch(re.escape(self.version_logical_id_prefix) + r"[0-9A-F]{10}", logical_id) is not None


def releases_of(manifest: Mapping[str, Any]) -> list[Release]:
    """The gradual releases a generated stage declares (manifest.json's "releases"), by function."""
    return [Release.from_manifest(name, entry) for name, entry in sorted((manifest.get("releases") or {}).items())]


# -- the plan ---------------------------------------------------------------------------------------
def shifting(rows: Iterable[Any], releases: Iterable[Release]) -> tuple[list[Release], list[Release]]:
    """From a plan's resource changes (`changes.Row`s): the functions whose traffic this deploy
    shifts (a new version, and their alias changes), and those whose alias it creates (their
    first release through CodeDeploy will be the next deploy's)."""
    rows = list(rows)
    altered = {r.logical_id for r in rows if r.resource_type == ALIAS_TYPE and r.action in ("Modify", "Dynamic")}
    created = {r.logical_id for r in rows if r.resource_type == ALIAS_TYPE and r.action == "Add"}
    versions = [r.logical_id for r in rows if r.resource_type == VERSION_TYPE and r.action == "Add"]
    shifts, new = [], []
    for rel in releases:
        if rel.alias_logical_id in altered and any(rel.is_version(v) for v in versions):
            shifts.append(rel)
        elif rel.alias_logical_id in created:
            new.append(rel)
    return shifts, new


def plan_lines(rows: Iterable[Any], releases: Iterable[Release], *, emulator: bool = False) -> list[str]:
    """What `diff` and `deploy` say about releases before anything runs. `emulator`: the endpoint
    is the local emulator, which has no CodeDeploy: said, so that nobody takes a release there
    (instant, its hooks never run) for one tested."""
    shifts, new = shifting(rows, releases)
    lines = []
    if shifts:
        lines.append(f"Gradual release (CodeDeploy) of {len(shifts)} function(s): "
                     + "; ".join(f"{r.function} ({r.describe})" for r in shifts) + ".")
        longest = max(r.minutes for r in shifts)
        if emulator:
            lines.append(f"On AWS this deploy takes at least {longest} minute{'s' if longest != 1 else ''}. The "
                         "emulator has no CodeDeploy: it moves each alias at once, runs no before- or after-traffic "
                         "hook and watches no alarm.")
        else:
            lines.append(f"This deploy takes at least {longest} minute{'s' if longest != 1 else ''}: CloudFormation "
                         "waits for every release, and an alarm that fires during one rolls it back and fails the "
                         "deploy.")
    if new:
        lines.append("This deploy creates the alias 'live' for " + ", ".join(r.function for r in new)
                     + ": their releases go through CodeDeploy from the next deploy that changes them on.")
    return lines


# -- progress ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Progress:
    function: str
    deployment_id: str
    status: str                     # DeploymentInfo.status
    rollback: bool = False          # this deployment is CodeDeploy's automatic rollback
    percent: float | None = None    # traffic on the new version
    minutes_left: float | None = None
    version: str = ""               # the version being released


def weight_percent(weight: float | None) -> float | None:
    """LambdaFunctionInfo.targetVersionWeight as a percentage. The API calls it "the percentage
    of production traffic", while Lambda's alias routing (which CodeDeploy sets) is a fraction
    from 0.0 to 1.0: values up to 1 are read as fractions."""
    if weight is None:
        return None
    return weight * 100 if weight <= 1 else float(weight)


def _event(target: Mapping[str, Any] | None, name: str) -> Mapping[str, Any]:
    for ev in (target or {}).get("lifecycleEvents", []) or []:
        if ev.get("lifecycleEventName") == name:
            return ev
    return {}


def progress(rel: Release, info: Mapping[str, Any], target: Mapping[str, Any] | None, now: datetime) -> Progress:
    """A release's state from GetDeployment's deploymentInfo and GetDeploymentTarget's
    deploymentTarget (may be None before CodeDeploy has a target)."""
    lam = (target or {}).get("lambdaTarget") or {}
    fn = lam.get("lambdaFunctionInfo") or {}
    status = info.get("status", "")
    percent = weight_percent(fn.get("targetVersionWeight"))
    minutes_left = None
    started = _event(lam, "AllowTraffic").get("startTime")
    if status not in ENDED and isinstance(started, datetime):
        elapsed = (now - started).total_seconds() / 60
        minutes_left = max(0.0, rel.minutes - elapsed)
    if status == SUCCEEDED and not info.get("creator") == "autoRollback":
        percent = 100.0
    return Progress(rel.function, info.get("deploymentId", ""), status, info.get("creator") == "autoRollback",
                    percent, minutes_left, str(fn.get("targetVersion") or ""))


def progress_line(p: Progress) -> str:
    """One line of the live view."""
    who = f"Release of {p.function}"
    if p.rollback:
        return f"{who}: CodeDeploy is moving traffic back to the previous version ({p.status.lower()})."
    version = f" {p.version}" if p.version else ""
    if p.status == SUCCEEDED:
        return f"{who}: all traffic on version{version} (succeeded)."
    if p.status in (FAILED, STOPPED):
        return f"{who}: {p.status.lower()}; traffic goes back to the previous version."
    if p.percent is None or p.minutes_left is None:
        return f"{who}: {p.status or 'starting'} (version{version} before traffic moves)."
    left = math.ceil(p.minutes_left)
    return (f"{who}: {p.percent:g}% of traffic on version{version}, about {left} minute{'s' if left != 1 else ''} "
            "until all of it.")


# -- rollback -----------------------------------------------------------------------------------------
def fired_alarms(history: Iterable[Mapping[str, Any]]) -> list[tuple[str, datetime | None, str]]:
    """(alarm, when, reason) for each state change to ALARM in DescribeAlarmHistory items, oldest first."""
    fired = []
    for item in history:
        if item.get("HistoryItemType") != "StateUpdate":
            continue
        try:
            data = json.loads(item.get("HistoryData") or "{}")
        except ValueError:
            data = {}
        new = data.get("newState") or {}
        if new.get("stateValue") == "ALARM" or (not new and "to ALARM" in (item.get("HistorySummary") or "")):
            when = item.get("Timestamp")
            fired.append((item.get("AlarmName", ""), when if isinstance(when, datetime) else None,
                          new.get("stateReason") or item.get("HistorySummary") or ""))
    return sorted(fired, key=lambda f: f[1] or datetime.min.replace(tzinfo=timezone.utc))


def rollback_cause(rel: Release, info: Mapping[str, Any], history: Iterable[Mapping[str, Any]]) -> str:
    """The root cause of a release CodeDeploy stopped or failed, as one sentence: the alarm that
    fired (from its history) or, without one, CodeDeploy's own error."""
    who = f"the release of function {rel.function} ({rel.function_name}) was rolled back by CodeDeploy"
    fired = [f for f in fired_alarms(history) if not rel.alarms or f[0] in rel.alarms]
    if fired:
        name, when, reason = fired[0]
        at = f" at {when.astimezone(timezone.utc):%H:%M:%S} UTC" if when else ""
        because = f" ({reason.rstrip('.')})" if reason else ""
        return (f"{who}: alarm {name} went to ALARM{at}{because}. Traffic is back on the previous version; "
                "fix the cause and deploy again.")
    err = info.get("errorInformation") or {}
    rollback = info.get("rollbackInfo") or {}
    detail = err.get("message") or rollback.get("rollbackMessage") or "no reason given"
    code = f"{err['code']}: " if err.get("code") else ""
    return f"{who}: {code}{detail.rstrip('.')}. Traffic is back on the previous version."


# -- the live view ----------------------------------------------------------------------------------
@dataclass
class _State:
    seen: dict[str, str] = field(default_factory=dict)      # deployment id -> last status
    targets: dict[str, str] = field(default_factory=dict)   # deployment id -> target id
    line: str = ""
    cause: str = ""
    blind: bool = False    # CodeDeploy could not be asked (said once); CloudFormation still waits


class ReleaseWatch:
    """Follows the CodeDeploy releases of one deploy; `poll()` between stack event polls."""

    def __init__(self, codedeploy: Any, cloudwatch: Any, say: Callable[[str], None], releases: Iterable[Release],
                 started: datetime, *, every: float = POLL_EVERY, clock: Callable[[], float] = time.monotonic,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        self.codedeploy, self.cloudwatch, self.say = codedeploy, cloudwatch, say
        self.releases = list(releases)
        self.started = started
        self.every, self.clock, self.now = every, clock, now
        self.states = {r.function: _State() for r in self.releases}
        self._last: float | None = None

    def poll(self, *, force: bool = False) -> None:
        """Ask CodeDeploy about each release (at most every `every` seconds unless `force`)."""
        if not force and self._last is not None and self.clock() - self._last < self.every:
            return
        self._last = self.clock()
        for rel in self.releases:
            state = self.states[rel.function]
            if state.blind:
                continue
            try:
                self._poll_one(rel)
            except aws_exceptions() as exc:
                state.blind = True
                self.say(f"Release of {rel.function}: cannot follow it ({error_message(exc)}); CloudFormation "
                         "still waits for it and reports how it ends.")

    def _poll_one(self, rel: Release) -> None:
        state = self.states[rel.function]
        ids = self.codedeploy.list_deployments(
            applicationName=rel.application, deploymentGroupName=rel.deployment_group,
            createTimeRange={"start": self.started}).get("deployments", [])
        for dep_id in ids:
            if state.seen.get(dep_id) in ENDED:
                continue
            info = self.codedeploy.get_deployment(deploymentId=dep_id).get("deploymentInfo", {})
            target = self._target(state, dep_id)
            p = progress(rel, info, target, self.now())
            state.seen[dep_id] = p.status
            line = progress_line(p)
            if line != state.line:
                state.line = line
                self.say(line)
            if p.status in (FAILED, STOPPED) and not p.rollback and not state.cause:
                state.cause = rollback_cause(rel, info, self._history(rel, info))

    def _target(self, state: _State, dep_id: str) -> Mapping[str, Any] | None:
        if dep_id not in state.targets:
            ids = self.codedeploy.list_deployment_targets(deploymentId=dep_id).get("targetIds", [])
            if not ids:
                return None
            state.targets[dep_id] = ids[0]  # a Lambda deployment has one target: the function's alias
        return self.codedeploy.get_deployment_target(deploymentId=dep_id, targetId=state.targets[dep_id]).get(
            "deploymentTarget")

    def _history(self, rel: Release, info: Mapping[str, Any]) -> list[dict[str, Any]]:
        since = info.get("createTime") if isinstance(info.get("createTime"), datetime) else self.started
        items: list[dict[str, Any]] = []
        for alarm in rel.alarms:
            items += self.cloudwatch.describe_alarm_history(
                AlarmName=alarm, HistoryItemType="StateUpdate", StartDate=since, EndDate=self.now(),
                ScanBy="TimestampAscending").get("AlarmHistoryItems", [])
        return items

    def causes(self) -> list[str]:
        """Root causes of the releases that were rolled back, one sentence each."""
        return [s.cause for s in self.states.values() if s.cause]


def watch(aws: Any, say: Callable[[str], None], releases: Mapping[str, Any], rows: Iterable[Any],
          started: datetime, *, fast: bool = False, clock: Callable[[], float] = time.monotonic) -> ReleaseWatch | None:
    """A watch over the releases a plan shifts (None when it shifts none). `releases` is
    manifest.json's "releases", `aws` the deploy's `session.Aws`; `fast` (an emulator) polls on
    every stack-event poll."""
    shifts, _ = shifting(rows, releases_of({"releases": releases}))
    if not shifts:
        return None
    return ReleaseWatch(aws.client("codedeploy"), aws.client("cloudwatch"), say, shifts, started,
                        every=0.0 if fast else POLL_EVERY, clock=clock)


def failure_text(watch_: ReleaseWatch | None) -> str:
    """After a failed stack operation: the releases that were rolled back and why ('' if none).
    Looks once more, since the last poll may predate the rollback."""
    if watch_ is None:
        return ""
    watch_.poll(force=True)
    causes = watch_.causes()
    return " ".join(c[0].upper() + c[1:] for c in causes)
