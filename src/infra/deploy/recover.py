"""The recover command: a stage stuck in UPDATE_ROLLBACK_FAILED, rolled back to a working state.

An update failed, and so did its rollback: some resource could not be put back (an object deleted
outside CloudFormation, a permission gone). The stack can then neither be updated nor deleted
until its rollback is continued ("Continue rolling back an update":
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-updating-stacks-continueupdaterollback.html).
`recover`:
1. shows the root cause (why the update failed) and each resource whose rollback failed, and why;
2. lists the resources to skip in the form ContinueUpdateRollback takes: a resource of the root by
   its logical id, one of a nested stack as `NestedStackLogicalId.ResourceLogicalId` (the nested
   stack's logical id in its parent, not its name); only resources in UPDATE_FAILED because their
   rollback failed can be skipped;
3. asks once (--yes answers), runs ContinueUpdateRollback on the root (never on a nested stack:
   the root rolls its nested stacks back too), follows the events to the end, and reports.
A skipped resource keeps the state the failure left it in; the next deploy brings it to the
templates (run diff first). A stage that is not stuck is refused (exit 2).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from infra.deploy.rootcause import api_events_getter, explain_failure, is_own_event
from infra.deploy.runner import StackRunner, StackSpec
from infra.deploy.session import Aws, aws_errors
from infra.deploy.stack_state import STUCK, StackInfo
from infra.deploy.stacks import describe_stack, nested_stacks
from infra.deploy.stage import Options, open_stage, read_stage
from infra.deploy.ui import Ui
from infra.errors import DeployError, UsageError
from infra.resource_types import NESTED_STACK

RECOVERED = "UPDATE_ROLLBACK_COMPLETE"
ROLLBACK_START = "UPDATE_ROLLBACK_IN_PROGRESS"


@dataclass(frozen=True)
class Stuck:
    """A resource whose rollback failed."""

    label: str             # the stack it is in: root or root/Child
    path: str              # the nested stacks' logical ids from the root, joined by "." ("" for the root)
    logical_id: str
    resource_type: str
    reason: str

    @property
    def skip(self) -> str:
        """How ContinueUpdateRollback's ResourcesToSkip names it."""
        return f"{self.path}.{self.logical_id}" if self.path else self.logical_id


def rollback_started(cfn: Any, stack_id: str) -> datetime | None:
    """When the stack's last update rollback started (its own UPDATE_ROLLBACK_IN_PROGRESS event)."""
    starts = [e.get("Timestamp") for e in api_events_getter(cfn)(stack_id, None)
              if is_own_event(e) and e.get("ResourceStatus") == ROLLBACK_START]
    stamps = [t for t in starts if isinstance(t, datetime)]
    return max(stamps) if stamps else None


def stuck_resources(cfn: Any, root: StackInfo) -> list[Stuck]:
    """Resources of the root and its nested stacks in UPDATE_FAILED since their stack's rollback began."""
    stacks = [(root.name, "", root.stack_id)]
    for nested in nested_stacks(cfn, root.stack_id, root.name):
        stacks.append((nested.label, nested.label.split("/", 1)[1].replace("/", "."), nested.physical_id))
    found: list[Stuck] = []
    for label, path, stack_id in stacks:
        since = rollback_started(cfn, stack_id)
        for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack_id):
            for res in page.get("StackResourceSummaries", []):
                if res.get("ResourceStatus") != "UPDATE_FAILED" or res.get("ResourceType") == NESTED_STACK:
                    continue   # a nested stack is not skipped: the resources in it that failed are
                when = res.get("LastUpdatedTimestamp")
                if since is not None and isinstance(when, datetime) and when < since:
                    continue   # failed during the update itself, not during the rollback
                found.append(Stuck(label, path, res["LogicalResourceId"], res.get("ResourceType", ""),
                                   res.get("ResourceStatusReason", "") or ""))
    return found


def recover_stack(aws: Aws, ui: Ui, info: StackInfo, opts: Options) -> str:
    """Show why `info` is stuck, ask once, continue its rollback; the final status."""
    cfn = aws.client("cloudformation")
    ui.step(f"Recover {info.name} ({aws.region}, {info.status})")
    cause = explain_failure(cfn, info.stack_id, info.name)
    ui.say(f"Why the update failed: {cause.sentence()}." if cause else
           "Why the update failed: CloudFormation reported no failed resource; see the stack's events.")
    stuck = stuck_resources(cfn, info)
    if stuck:
        ui.say("Resources whose rollback failed (skipped: they keep the state the failure left them in, and the next "
               "deploy brings them to the templates):")
        for s in stuck:
            ui.say(f"  skip {s.skip}  ({s.label} > {s.logical_id}, {s.resource_type}): {s.reason or 'no reason given'}")
    else:
        ui.say("No resource is marked as having failed to roll back: continuing the rollback as it is (it can "
               "succeed when the cause was temporary, such as a timeout).")
    skip = [s.skip for s in stuck]
    what = f", skipping {len(skip)} resource(s)" if skip else ""
    if not ui.confirm(f"Continue the rollback of {info.name}{what}?"):
        raise DeployError(f"Nothing done: the rollback of {info.name} was not confirmed (pass --yes to skip the prompt).")
    runner = StackRunner(aws, ui, StackSpec(name=info.name, template={}, parameters={}, tags={}),
                         change_set_name="", timeout=opts.timeout)
    status = runner.continue_rollback(info, skip)
    if status != RECOVERED:
        again = explain_failure(cfn, info.stack_id, info.name)
        detail = f" Root cause: {again.sentence()}." if again else ""
        raise DeployError(f"The rollback of {info.name} ended in {status}, not {RECOVERED}.{detail} Fix the cause "
                          "(or skip that resource too) and run recover again.")
    ui.success(f"{info.name}: {RECOVERED}; the stack is back to its state before the failed update. "
               + (f"Skipped: {', '.join(skip)}. " if skip else "") + "Run diff, then deploy again.")
    return status


def run_recover(opts: Options, ui: Ui) -> list[str]:
    """The recover command; the stacks recovered."""
    build, aws = open_stage(opts, ui)
    stage = read_stage(build, aws, ui, opts, action="recover", refuse=True)
    targets: list[tuple[Aws, StackInfo]] = []
    with aws_errors(f"reading {build.stack_name} in {aws.region}"):
        root = stage.state.root
        if root is not None and (root.status == STUCK or any(
                (describe_stack(aws.client("cloudformation"), n.physical_id) or root).status == STUCK
                for n in nested_stacks(aws.client("cloudformation"), root.stack_id, root.name))):
            targets.append((aws, root))
    glob = stage.state.global_info
    if glob is not None and glob.status == STUCK and stage.global_aws is not None:
        targets.append((stage.global_aws, glob))
    if not targets:
        status = root.status if root is not None else "not deployed"
        raise UsageError(f"{build.stack_name} is not stuck ({status}): recover only continues an update rollback "
                         f"that failed ({STUCK}). Nothing was done.")
    recovered = []
    for where, info in targets:
        with aws_errors(f"recovering {info.name} in {where.region}"):
            recover_stack(where, ui, info, opts)
        recovered.append(info.name)
    return recovered
