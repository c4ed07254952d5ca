"""The drift command: what was changed outside CloudFormation, in every stack of the stage.

DetectStackDrift on a root does not look into its nested stacks ("CloudFormation doesn't detect
drift on any nested stacks belonging to that stack; perform DetectStackDrift directly on the
nested stack": https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DetectStackDrift.html),
so detection is started on the root, on every nested stack and on the us-east-1 stack, then each
is waited for. Drifted resources are listed with each property difference: the path, the value
the template expects and the actual one (secrets never shown, long values shortened).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from infra.deploy.property_diff import shown
from infra.deploy.session import aws_errors, aws_exceptions, is_not_implemented
from infra.deploy.stacks import describe_stack, nested_stacks
from infra.deploy.stage import Options, open_stage
from infra.deploy.sync_ledger import DRIFT_HEADING, explains, report
from infra.deploy.ui import Ui
from infra.errors import DeployError

DEFAULT_TIMEOUT = 900.0
DRIFTED_STATUSES = ["MODIFIED", "DELETED"]


@dataclass
class StackDrift:
    label: str
    stack_id: str
    status: str = ""                 # IN_SYNC, DRIFTED, UNKNOWN, NOT_CHECKED
    detection: str = ""              # DETECTION_COMPLETE, DETECTION_FAILED
    reason: str = ""
    resources: list[dict[str, Any]] = field(default_factory=list)   # StackResourceDrifts that drifted


def start(cfn: Any, stack_id: str) -> str:
    try:
        answer = cfn.detect_stack_drift(StackName=stack_id)
    except aws_exceptions() as exc:
        if is_not_implemented(exc):   # the local emulator (moto) has no drift detection
            raise DeployError("The endpoint does not implement CloudFormation's drift detection (DetectStackDrift; "
                              "the local emulator has none), so drift can be checked on AWS only.") from None
        raise
    return str(answer["StackDriftDetectionId"])


def wait(cfn: Any, detection_id: str, *, timeout: float, sleep: Callable[[float], None],
         clock: Callable[[], float]) -> dict[str, Any]:
    deadline = clock() + timeout
    interval = 1.0
    while True:
        answer = cfn.describe_stack_drift_detection_status(StackDriftDetectionId=detection_id)
        if answer.get("DetectionStatus") != "DETECTION_IN_PROGRESS":
            return answer
        if clock() >= deadline:
            raise DeployError(f"Drift detection did not finish within {int(timeout)} s; run drift again later.")
        sleep(interval)
        interval = min(interval * 1.5, 5.0)


def drifted_resources(cfn: Any, stack_id: str) -> list[dict[str, Any]]:
    """Every drifted resource of a stack. DescribeStackResourceDrifts has no boto3 paginator, so the
    NextToken loop is written out."""
    found: list[dict[str, Any]] = []
    token = None
    while True:
        page = cfn.describe_stack_resource_drifts(StackName=stack_id, StackResourceDriftStatusFilters=DRIFTED_STATUSES,
                                                  **({"NextToken": token} if token else {}))
        found.extend(page.get("StackResourceDrifts", []))
        token = page.get("NextToken")
        if not token:
            return found


def detect_tree(cfn: Any, stacks: list[tuple[str, str]], *, timeout: float = DEFAULT_TIMEOUT,
                sleep: Callable[[float], None] = time.sleep,
                clock: Callable[[], float] = time.monotonic) -> list[StackDrift]:
    """Start detection on every (label, stack id), then collect each result."""
    started = [(StackDrift(label, stack_id), start(cfn, stack_id)) for label, stack_id in stacks]
    for drift, detection_id in started:
        answer = wait(cfn, detection_id, timeout=timeout, sleep=sleep, clock=clock)
        drift.status = answer.get("StackDriftStatus", "") or ""
        drift.detection = answer.get("DetectionStatus", "") or ""
        drift.reason = answer.get("DetectionStatusReason", "") or ""
        if drift.status == "DRIFTED":
            drift.resources = drifted_resources(cfn, drift.stack_id)
    return [d for d, _ in started]


def show(ui: Ui, drifts: list[StackDrift], synced: Any = ()) -> bool:
    """Print every stack's status and each drifted resource's differences; True when anything drifted.

    `synced` (infra.deploy.sync_ledger's items): a difference sync made is shown as SYNCED, not as drift.
    """
    drifted = False
    for d in drifts:
        mine = [r for r in d.resources if r.get("StackResourceDriftStatus") == "MODIFIED" and explains(
            list(synced), d.label, r.get("LogicalResourceId", ""),
            [str(x.get("PropertyPath", "")) for x in r.get("PropertyDifferences") or []])]
        d.resources = [r for r in d.resources if r not in mine]
        if mine and not d.resources and d.status == "DRIFTED":
            d.status = "IN_SYNC apart from what sync changed"
        count = f": {len(d.resources)} resource(s) changed outside CloudFormation" if d.resources else ""
        ui.say(f"{d.label}: {d.status or 'UNKNOWN'}{count}",
               style="bold red" if d.status == "DRIFTED" else "green" if d.status.startswith("IN_SYNC") else None)
        if d.detection == "DETECTION_FAILED" and d.reason:
            ui.note(f"  not every resource could be checked: {d.reason}")
        for res in mine:
            ui.say(f"  SYNCED {d.label} > {res.get('LogicalResourceId', '')} ({res.get('ResourceType', '')}): "
                   "changed by sync, recorded by the next deploy", style="yellow")
        for res in d.resources:
            drifted = True
            ui.say(f"  {res.get('StackResourceDriftStatus', '')} {d.label} > {res.get('LogicalResourceId', '')} "
                   f"({res.get('ResourceType', '')}, {res.get('PhysicalResourceId', '')})", style="bold")
            if res.get("StackResourceDriftStatus") == "DELETED":
                ui.say("      deleted outside CloudFormation")
            for diff in res.get("PropertyDifferences") or []:
                path = str(diff.get("PropertyPath", "")).strip("/").replace("/", ".")
                ui.say(f"      {path}: expected {shown(diff.get('ExpectedValue'), path)} -> actual "
                       f"{shown(diff.get('ActualValue'), path)} ({diff.get('DifferenceType', '')})")
        drifted = drifted or d.status == "DRIFTED"
    return drifted


def run_drift(opts: Options, ui: Ui, *, sleep: Callable[[float], None] = time.sleep) -> bool:
    """The drift command; True when anything drifted."""
    build, aws = open_stage(opts, ui)
    timeout = opts.timeout or DEFAULT_TIMEOUT
    with aws_errors(f"detecting drift on {build.stack_name} in {aws.region}"):
        cfn = aws.client("cloudformation")
        root = describe_stack(cfn, build.stack_name)
        if root is None:
            raise DeployError(f"Stack {build.stack_name} does not exist in {aws.region}; deploy it first.")
        ui.step(f"Drift of {build.stack_name} and its nested stacks ({aws.region})")
        synced = report(aws, build.stack_name, root, ui, DRIFT_HEADING)
        tree = [(root.name, root.stack_id)] + [(n.label, n.physical_id) for n in nested_stacks(cfn, root.stack_id, root.name)]
        drifted = show(ui, detect_tree(cfn, tree, timeout=timeout, sleep=sleep), synced)
    if build.global_stack:
        glob = build.global_stack
        gaws = aws.in_region(glob.region)
        with aws_errors(f"detecting drift on {glob.label}"):
            gcfn = gaws.client("cloudformation")
            info = describe_stack(gcfn, glob.stack_name)
            if info is not None:
                ui.step(f"Drift of {glob.stack_name} ({glob.region})")
                drifted = show(ui, detect_tree(gcfn, [(info.name, info.stack_id)], timeout=timeout, sleep=sleep)) or drifted
    ui.say("Drift found." if drifted else "No drift: every stack matches its template.",
           style="bold red" if drifted else "bold green")
    return drifted
