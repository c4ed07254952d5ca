"""The destroy command: say what stays, honour termination protection, empty buckets, delete, wait.

Resources with DeletionPolicy Retain (the stateful ones in production stages) outlive the stack;
they are listed before the prompt and again at the end. A stack with termination protection is
only deleted when the user says so explicitly (--disable-termination-protection). The root goes
first, then the us-east-1 global stack (certificate and CloudFront web ACL; the root uses its
outputs). The bootstrap bucket, shared by every stage of the region, is never touched.

CloudFormation cannot delete a non-empty S3 bucket, so the buckets the deletion removes
(DeletionPolicy Delete, or none: Delete is CloudFormation's default for buckets; throwaway stages)
are listed before the prompt and, once confirmed, emptied first: every object version and delete
marker. Server access logs can still land in them while the stack deletes; when the deletion then
fails on one of these buckets not being empty, they are emptied again and the deletion retried once.
Buckets with Retain, RetainExceptOnCreate or Snapshot are never touched.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from infra.deploy import bootstrap
from infra.deploy.buckets import empty_bucket
from infra.deploy.resource_diff import deployed_template
from infra.deploy.rootcause import RootCause
from infra.deploy.runner import DeleteFailed, StackRunner, StackSpec
from infra.deploy.session import Aws, aws_errors, aws_exceptions
from infra.deploy.stack_state import StackInfo
from infra.deploy.stacks import describe_stack, nested_stacks
from infra.deploy.stage import Options, open_stage, read_stage
from infra.deploy.sync_ledger import Ledger
from infra.deploy.ui import Ui
from infra.errors import DeployError
from infra.resource_types import KEEPS_SNAPSHOT, KEPT_ON_DELETE, facts

BUCKET_TYPE = "AWS::S3::Bucket"
DELETE_POLICY = "Delete"
# How CloudFormation reports a bucket it could not delete ("The bucket you tried to delete is not empty").
NOT_EMPTY = re.compile(r"not empty|BucketNotEmpty", re.I)


@dataclass(frozen=True)
class Kept:
    stack: str
    logical_id: str
    resource_type: str
    physical_id: str
    policy: str


@dataclass(frozen=True)
class DoomedBucket:
    """An S3 bucket the deletion removes, so it is emptied first."""

    stack: str          # label: root/Child
    logical_id: str
    name: str

    def where(self) -> str:
        return f"{self.stack}/{self.logical_id}"


@dataclass
class Survey:
    """What deleting a stack tree keeps and which buckets it deletes."""

    kept: list[Kept] = field(default_factory=list)
    buckets: list[DoomedBucket] = field(default_factory=list)
    nested: int = 0


def survey(cfn: Any, info: StackInfo) -> Survey:
    """Walk the root and every nested stack: their deployed templates and their resources."""
    stacks = [(info.name, info.stack_id)]
    nested = nested_stacks(cfn, info.stack_id, info.name)
    stacks += [(n.label, n.physical_id) for n in nested]
    found = Survey(nested=len(nested))
    for label, stack in stacks:
        template = deployed_template(cfn, stack)
        summaries: dict[str, dict[str, Any]] = {}
        for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack):
            for res in page.get("StackResourceSummaries", []):
                summaries[res["LogicalResourceId"]] = res
        for lid, res in (template.get("Resources") or {}).items():
            policy = res.get("DeletionPolicy", "")
            if not isinstance(policy, str):   # not a literal: neither listed as kept nor emptied
                policy = "?"
            physical = (summaries.get(lid) or {}).get("PhysicalResourceId", "") or ""
            if policy in KEPT_ON_DELETE and lid in summaries and not facts(res.get("Type", "")).gone_with_parent:
                found.kept.append(Kept(label, lid, res.get("Type", ""), physical, policy))
            elif (res.get("Type") == BUCKET_TYPE and policy in ("", DELETE_POLICY) and physical
                  and summaries[lid].get("ResourceStatus") != "DELETE_COMPLETE"):
                found.buckets.append(DoomedBucket(label, lid, physical))
    return found


def spare_bootstrap_bucket(cfn: Any, buckets: list[DoomedBucket]) -> list[DoomedBucket]:
    """`buckets` without the bootstrap artifact bucket (shared by every stage; never emptied)."""
    if not buckets:
        return buckets
    try:
        artifacts = bootstrap.bucket_name(cfn)
    except aws_exceptions():   # no bootstrap stack in this region
        return buckets
    return [b for b in buckets if b.name != artifacts]


def show_buckets(ui: Ui, buckets: list[DoomedBucket]) -> None:
    if not buckets:
        return
    ui.say(f"S3 buckets deleted with the stack (DeletionPolicy {DELETE_POLICY}); CloudFormation cannot delete "
           "a non-empty bucket, so every object version and delete marker in them is deleted first:")
    for b in buckets:
        ui.say(f"  will be emptied and deleted: {b.name} ({b.where()})")


def empty_buckets(aws: Aws, ui: Ui, buckets: list[DoomedBucket]) -> None:
    s3 = aws.client("s3")
    for b in buckets:
        with aws_errors(f"emptying the S3 bucket {b.name} ({b.where()})"):
            ui.say(empty_bucket(s3, b.name).sentence())


def blocked_by_our_bucket(cause: RootCause | None, buckets: list[DoomedBucket]) -> bool:
    """The deletion failed because one of the buckets we emptied is not empty (again)."""
    if cause is None or cause.resource_type != BUCKET_TYPE or not NOT_EMPTY.search(cause.reason):
        return False
    return any(cause.physical_id == b.name or (cause.stack, cause.logical_id) == (b.stack, b.logical_id)
               for b in buckets)


def show_kept(ui: Ui, kept: list[Kept], title: str) -> None:
    from rich.table import Table  # rich loads only when a command prints a table

    if not kept:
        ui.say(f"{title}: none (no resource has DeletionPolicy Retain).")
        return
    table = Table(title=title, title_justify="left")
    for col in ("Stack", "Logical ID", "Type", "Physical ID", "Policy"):
        table.add_column(col, overflow="fold")
    for k in kept:
        table.add_row(k.stack, k.logical_id, k.resource_type, k.physical_id,
                      "snapshot kept" if k.policy in KEEPS_SNAPSHOT else k.policy)
    ui.show(table)


@dataclass
class Doomed:
    """A stack tree the destroy deletes, surveyed before the one question."""

    aws: Aws
    name: str
    info: StackInfo
    runner: StackRunner
    kept: list[Kept]
    buckets: list[DoomedBucket]
    nested: int

    def described(self) -> str:
        return f"{self.name} and its {self.nested} nested stack(s) in {self.aws.region}"


def prepare(aws: Aws, ui: Ui, name: str, opts: Options, *, disable_protection: bool) -> Doomed | None:
    """Survey one stack tree and show what its deletion keeps and empties (None: no such stack).
    Termination protection refuses it here, before any question is asked."""
    cfn = aws.client("cloudformation")
    spec = StackSpec(name=name, template={}, parameters={}, tags={})
    runner = StackRunner(aws, ui, spec, change_set_name="", timeout=opts.timeout)
    info = describe_stack(cfn, name)
    if info is None:
        ui.say(f"{name} does not exist in {aws.region}: nothing to delete.")
        return None
    if info.busy:
        ui.note(f"{name} is busy ({info.status}); waiting for that operation to finish first.")
        runner.wait_idle(info)
        info = describe_stack(cfn, name)
        if info is None:
            ui.say(f"{name} was deleted meanwhile.")
            return None
    found = survey(cfn, info)
    doomed = Doomed(aws, name, info, runner, found.kept, spare_bootstrap_bucket(cfn, found.buckets), found.nested)
    ui.step(f"Destroy {name} ({aws.region}, {info.status}, {found.nested} nested stack(s))")
    show_kept(ui, doomed.kept, "Kept after deletion")
    show_buckets(ui, doomed.buckets)
    if info.termination_protection and not disable_protection:
        raise DeployError(
            f"{name} has termination protection (a production stage), so nothing was deleted. To delete "
            "it anyway, run destroy again with --disable-termination-protection; the resources listed "
            "as kept will remain.")
    return doomed


def question(stacks: list[Doomed]) -> str:
    """The one question a destroy asks, naming every stack it deletes."""
    text = "Delete " + " and ".join(d.described() for d in stacks)
    buckets = sum(len(d.buckets) for d in stacks)
    if buckets:
        text += f", emptying the {buckets} S3 bucket(s) listed (all their objects are lost)"
    return text + "?"


def delete(ui: Ui, doomed: Doomed) -> list[Kept]:
    """Empty the stack tree's buckets and delete it; what it kept."""
    name, info, buckets, runner = doomed.name, doomed.info, doomed.buckets, doomed.runner
    if buckets:
        ui.step(f"Emptying {len(buckets)} S3 bucket(s) of {name}")
        try:
            empty_buckets(doomed.aws, ui, buckets)
        except DeployError as exc:
            raise DeployError(f"{exc} {name} itself was not deleted.") from None
    if info.termination_protection:
        ui.warn(f"Turning off termination protection of {name} (--disable-termination-protection).")
        doomed.aws.client("cloudformation").update_termination_protection(
            StackName=info.stack_id, EnableTerminationProtection=False)
    try:
        runner.delete_and_wait(info, purpose="destroy")
    except DeleteFailed as failed:
        if not blocked_by_our_bucket(failed.cause, buckets):
            raise
        ui.warn(f"{name} ended in {failed.status}: a bucket was not empty again (objects such as S3 access "
                "logs arrived during the deletion). Emptying the buckets again and retrying the deletion once.")
        ui.step(f"Emptying {len(buckets)} S3 bucket(s) of {name} again")
        try:
            empty_buckets(doomed.aws, ui, buckets)
        except DeployError as exc:
            raise DeployError(f"{exc} {name} is in {failed.status}.") from None
        try:
            runner.delete_and_wait(info, purpose="destroy")
        except DeleteFailed as again:
            raise DeployError(f"{again} (The buckets had been emptied again and the deletion retried once.)") from None
    ui.success(f"{name}: DELETE_COMPLETE.")
    Ledger(doomed.aws, info, name).delete()   # what sync did to the stage went with it
    return doomed.kept


def run_destroy(opts: Options, ui: Ui, *, disable_protection: bool = False) -> list[Kept]:
    """The destroy command: every stack surveyed and shown, one question for all of them, then the
    root deleted and then the us-east-1 stack; what stays in the account."""
    build, aws = open_stage(opts, ui)
    read_stage(build, aws, ui, opts, action="destroy", refuse=True)   # another config's stacks: refused
    targets = [(aws, build.stack_name, f"destroying {build.stack_name} in {aws.region}")]
    if build.global_stack:
        glob = build.global_stack
        targets.append((aws.in_region(glob.region), glob.stack_name, f"destroying {glob.label}"))
    doomed: list[tuple[Doomed, str]] = []
    for where, name, doing in targets:
        with aws_errors(doing):
            found = prepare(where, ui, name, opts, disable_protection=disable_protection)
        if found is not None:
            doomed.append((found, doing))
    if not doomed:
        return []
    if not ui.confirm(question([d for d, _ in doomed])):
        names = " and ".join(d.name for d, _ in doomed)
        raise DeployError(f"Nothing deleted: {names} {'were' if len(doomed) > 1 else 'was'} not confirmed "
                          "(pass --yes to skip the prompt).")
    kept: list[Kept] = []
    for i, (target, doing) in enumerate(doomed):
        try:
            with aws_errors(doing):
                kept += delete(ui, target)
        except DeployError as exc:
            left = [d.name for d, _ in doomed[i + 1:]]
            if left:
                raise DeployError(f"{exc} {' and '.join(left)} not deleted (it is deleted after {target.name}); "
                                  "run destroy again once that is fixed.") from None
            raise
    if kept:
        show_kept(ui, kept, "Still in the account (retained)")
    return kept
