"""Change sets: create (with nested change sets), wait, read every level as rows, execute, clean up.

- One name per purpose and run (`serverless-infra-deploy-<run>`, `serverless-infra-diff-<run>`):
  two runs on one stack never delete each other's change set while it is being reviewed. A run
  deletes its own when it ends; one left by a killed run is deleted by CloudFormation when any
  change set of the stack executes, and by the next run once it is STALE_AFTER_S old.
- An empty change set is not a failure: CloudFormation's "didn't contain changes" (and
  "No updates are to be performed") become `NoChanges`.
- Change sets are addressed by ARN, never by name alone, so two stacks (the root and the
  us-east-1 global stack) never collide.
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from infra.deploy.resource_diff import NESTED_STACK_TYPE, Diff, LocalFallback, Row
from infra.deploy.session import aws_exceptions, error_message
from infra.errors import DeployError

PREFIX = "serverless-infra-"
DEPLOY_NAME = PREFIX + "deploy"
DIFF_NAME = PREFIX + "diff"
IMPORT_NAME = PREFIX + "import"
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
NO_CHANGE_MARKERS = (
    "didn't contain changes",
    "No updates are to be performed",
    "submitted information didn't contain changes",
)
CREATE_TIMEOUT = 600.0
# A change set of another run younger than this is taken as under review (a deploy waiting at its
# question), never deleted; older, it is a killed run's leftover.
STALE_AFTER_S = 6 * 3600.0


def run_name(base: str) -> str:
    """This run's change set name: `base` and a random suffix (names: [a-zA-Z][-a-zA-Z0-9]*, at most 128)."""
    return f"{base}-{uuid.uuid4().hex[:12]}"


class NoChanges(Exception):
    """CloudFormation found nothing to change."""


def is_no_changes(reason: str | None) -> bool:
    return any(marker.lower() in (reason or "").lower() for marker in NO_CHANGE_MARKERS)


@dataclass
class ChangeSet:
    arn: str
    stack_id: str
    stack_name: str
    kind: str                       # CREATE or UPDATE
    status: str = ""
    reason: str = ""
    execution_status: str = ""
    changes: list[dict[str, Any]] = field(default_factory=list)
    executed: bool = False


@dataclass
class Stale:
    deleted: int = 0
    waiting: list[float] = field(default_factory=list)   # ages (s) of other runs' change sets under review


def delete_stale(cfn: Any, stack: str, base: str, now: datetime | None = None) -> Stale:
    """Delete the change sets of `stack` that runs named `base` left behind: ones called `base`
    itself (an older version's fixed name), and `base-<run>` ones that were executed, failed or
    made obsolete, or are older than STALE_AFTER_S. A younger one still awaiting execution belongs
    to a run reviewing its plan: counted, left alone."""
    from botocore.exceptions import ClientError

    now = now or datetime.now(timezone.utc)
    found = Stale()
    try:
        for page in cfn.get_paginator("list_change_sets").paginate(StackName=stack):
            for summary in page.get("Summaries", []):
                # Some endpoints list every stack's change sets: check the stack as well.
                if summary.get("StackName") not in (None, stack) and summary.get("StackId") != stack:
                    continue
                name = summary.get("ChangeSetName", "")
                if summary.get("ExecutionStatus") == "EXECUTE_IN_PROGRESS" or not (
                        name == base or name.startswith(base + "-")):
                    continue
                created = summary.get("CreationTime")
                age = (now - created).total_seconds() if isinstance(created, datetime) else None
                pending = (summary.get("ExecutionStatus") in ("AVAILABLE", "UNAVAILABLE")
                           and summary.get("Status") in ("CREATE_PENDING", "CREATE_IN_PROGRESS", "CREATE_COMPLETE"))
                if name != base and pending and age is not None and age < STALE_AFTER_S:
                    found.waiting.append(age)   # made and not executed: a run reviewing it
                    continue
                # Executed, failed or obsolete (voided by another execution), or old: a leftover.
                try:
                    cfn.delete_change_set(ChangeSetName=summary["ChangeSetId"])
                    found.deleted += 1
                except ClientError as exc:
                    # Gone meanwhile, or one CloudFormation will not delete in its state: a leftover
                    # is never worth failing the run for.
                    if ("does not exist" not in str(exc) and "not found" not in str(exc).lower()
                            and exc.response.get("Error", {}).get("Code") != "InvalidChangeSetStatus"):
                        raise
    except ClientError as exc:
        if "does not exist" in str(exc):
            return found
        raise
    return found


def create(cfn: Any, *, stack: str, kind: str, name: str, parameters: dict[str, str],
           tags: dict[str, str], template_url: str | None = None, template_body: str | None = None,
           description: str = "", timeout: float = CREATE_TIMEOUT,
           sleep: Callable[[float], None] = time.sleep,
           clock: Callable[[], float] = time.monotonic,
           resources_to_import: list[dict[str, Any]] | None = None) -> ChangeSet:
    """Create a change set (nested ones included) and wait until CloudFormation has computed it.

    `kind` IMPORT takes `resources_to_import` (ResourceType, LogicalResourceId, ResourceIdentifier).
    Raises NoChanges when there is nothing to do; DeployError when it cannot be created.
    """
    from botocore.exceptions import ClientError

    args: dict[str, Any] = {
        "StackName": stack,
        "ChangeSetName": name,
        "ChangeSetType": kind,
        "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(parameters.items())],
        "Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())],
        "Capabilities": CAPABILITIES,
        "Description": description or f"{kind.lower()} of {stack} by serverless-infra",
    }
    if kind == "IMPORT":
        args["ResourcesToImport"] = resources_to_import or []
    else:
        args["IncludeNestedStacks"] = True
    if template_url:
        args["TemplateURL"] = template_url
    else:
        args["TemplateBody"] = template_body
    try:
        answer = cfn.create_change_set(**args)
    except ClientError as exc:
        if is_no_changes(error_message(exc)):
            raise NoChanges() from None
        raise
    cs = ChangeSet(arn=answer["Id"], stack_id=answer.get("StackId", stack), stack_name=stack, kind=kind)
    try:
        return wait_until_computed(cfn, cs, timeout=timeout, sleep=sleep, clock=clock)
    except BaseException:
        # Empty, failed or interrupted: leave nothing behind.
        delete(cfn, cs)
        raise


def wait_until_computed(cfn: Any, cs: ChangeSet, *, timeout: float = CREATE_TIMEOUT,
                        sleep: Callable[[float], None] = time.sleep,
                        clock: Callable[[], float] = time.monotonic) -> ChangeSet:
    deadline = clock() + timeout
    interval = 0.2
    while True:
        desc = cfn.describe_change_set(ChangeSetName=cs.arn, StackName=cs.stack_id)
        cs.status = desc.get("Status", "")
        cs.reason = desc.get("StatusReason", "") or ""
        cs.execution_status = desc.get("ExecutionStatus", "")
        if cs.status == "CREATE_COMPLETE":
            cs.changes = list(desc.get("Changes", []))
            if desc.get("NextToken"):
                cs.changes += describe_all(cfn, cs.arn, stack=cs.stack_id, starting_token=desc["NextToken"])
            return cs
        if cs.status == "FAILED":
            if is_no_changes(cs.reason):
                raise NoChanges()
            found = validation_failures(cfn, cs)
            listed = f" Pre-deployment validation: {'; '.join(found)}." if found else ""
            raise DeployError(f"CloudFormation could not create the change set for {cs.stack_name}: "
                              f"{cs.reason.rstrip('.')}.{listed}")
        if cs.status.startswith("DELETE"):
            raise DeployError(f"The change set for {cs.stack_name} was deleted while being created (another run?).")
        if clock() >= deadline:
            raise DeployError(f"CloudFormation did not finish computing the change set for {cs.stack_name} "
                              f"within {int(timeout)} s (status {cs.status}).")
        sleep(interval)
        interval = min(interval * 1.5, 3.0)


def validation_failures(cfn: Any, cs: ChangeSet) -> list[str]:
    """What CloudFormation's pre-deployment validation found wrong with a failed change set
    (DescribeEvents; https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/validate-stack-deployments.html):
    `Logical id (path): reason` per failed validation. Best effort: [] when the endpoint has no such API."""
    found: list[str] = []
    try:
        pages = cfn.get_paginator("describe_events").paginate(
            ChangeSetName=cs.arn, StackName=cs.stack_id, Filters={"FailedEvents": True})
        for page in pages:
            for event in page.get("OperationEvents", []):
                if not event.get("ValidationName"):
                    continue
                where = event.get("LogicalResourceId", "") or cs.stack_name
                path = f" ({event['ValidationPath']})" if event.get("ValidationPath") else ""
                reason = (event.get("ValidationStatusReason") or event.get("ValidationName", "")).rstrip(".")
                found.append(f"{where}{path}: {reason}")
    except aws_exceptions():
        return []
    return found


def describe_all(cfn: Any, arn: str, *, stack: str | None = None, starting_token: str | None = None
                 ) -> list[dict[str, Any]]:
    """Every change of a change set, across pages (boto3's DescribeChangeSet paginator)."""
    args: dict[str, Any] = {"ChangeSetName": arn, **({"StackName": stack} if stack else {})}
    if starting_token:
        args["PaginationConfig"] = {"StartingToken": starting_token}
    return [change for page in cfn.get_paginator("describe_change_set").paginate(**args)
            for change in page.get("Changes", [])]


def execute(cfn: Any, cs: ChangeSet, token: str) -> None:
    cfn.execute_change_set(ChangeSetName=cs.arn, StackName=cs.stack_id, ClientRequestToken=token)
    cs.executed = True


def delete(cfn: Any, cs: ChangeSet) -> None:
    """Delete a change set that was not executed (quietly if it is already gone)."""
    if cs.executed:
        return
    try:
        cfn.delete_change_set(ChangeSetName=cs.arn, StackName=cs.stack_id)
    except aws_exceptions():
        pass


# -- reading every level ------------------------------------------------------------------------
def row_from_change(change: dict[str, Any], label: str) -> Row:
    rc = change.get("ResourceChange", {})
    props = tuple(sorted({
        d["Target"].get("Name", "") for d in rc.get("Details", []) or []
        if d.get("Target", {}).get("Attribute") == "Properties" and d["Target"].get("Name")
    }))
    replacement = rc.get("Replacement", "") or ""
    if not replacement and rc.get("Action") == "Modify":
        replacement = "?"
    return Row(label, rc.get("Action", ""), rc.get("LogicalResourceId", ""), rc.get("ResourceType", ""),
               replacement, rc.get("PhysicalResourceId", "") or "", props,
               policy_action=rc.get("PolicyAction", "") or "")


def collect(cfn: Any, changes: list[dict[str, Any]], label: str,
            fallback: LocalFallback | None = None, diff: Diff | None = None) -> Diff:
    """Rows for `changes` (one change set) and, recursively, for its nested change sets.

    With `IncludeNestedStacks`, CloudFormation gives each changed nested stack its own change set
    (`ResourceChange.ChangeSetId`); every one is walked, so nothing hides behind a "Modify
    AWS::CloudFormation::Stack". When an endpoint produces no nested change set (emulators), the
    child's rows come from `fallback` (the deployed child template against the generated one).
    """
    diff = diff or Diff()
    for change in changes:
        if change.get("Type") != "Resource":
            continue
        row = row_from_change(change, label)
        rc = change["ResourceChange"]
        if row.resource_type == NESTED_STACK_TYPE:
            row = Row(**{**row.__dict__, "replacement": rc.get("Replacement", "") or ""})
        diff.rows.append(row)
        if row.resource_type != NESTED_STACK_TYPE:
            continue
        child_label = f"{label}/{row.logical_id}"
        if rc.get("ChangeSetId"):
            collect(cfn, describe_all(cfn, rc["ChangeSetId"]), child_label, fallback, diff)
        elif fallback is not None:
            rows = fallback.rows(child_label, row)
            if rows is None:
                diff.notes.append(f"{child_label}: no nested change set and no local template to compare; its "
                                  "resource changes are not listed.")
            else:
                diff.rows.extend(rows)
                if row.action == "Modify":
                    diff.notes.append(f"{child_label}: the endpoint produced no nested change set; rows computed "
                                      "locally from the deployed and generated templates.")
    return diff
