"""The destroy command: say what stays, honour termination protection, delete, wait.

Resources with DeletionPolicy Retain (the stateful ones in production stages) outlive the stack;
they are listed before the prompt and again at the end. A stack with termination protection is
only deleted when the user says so explicitly (--disable-termination-protection). The root goes
first, then the us-east-1 global stack (certificate and CloudFront web ACL; the root uses its
outputs). The bootstrap bucket, shared by every stage of the region, is never touched.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infra.deploy.changes import deployed_template
from infra.deploy.orchestrate import Options, open_stage
from infra.deploy.runner import StackRunner, StackSpec
from infra.deploy.session import Aws, aws_errors
from infra.deploy.stack_state import StackInfo, describe_stack, nested_stacks
from infra.deploy.ui import Ui
from infra.errors import DeployError

RETAINING_POLICIES = {"Retain", "RetainExceptOnCreate", "Snapshot"}


@dataclass(frozen=True)
class Kept:
    stack: str
    logical_id: str
    resource_type: str
    physical_id: str
    policy: str


def retained_resources(cfn: Any, info: StackInfo) -> tuple[list[Kept], int]:
    """Resources the deletion keeps (and, second, how many nested stacks the tree has)."""
    stacks = [(info.name, info.stack_id)]
    nested = nested_stacks(cfn, info.stack_id, info.name)
    stacks += [(n.label, n.physical_id) for n in nested]
    kept: list[Kept] = []
    for label, stack in stacks:
        template = deployed_template(cfn, stack)
        physical: dict[str, str] = {}
        for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack):
            for res in page.get("StackResourceSummaries", []):
                physical[res["LogicalResourceId"]] = res.get("PhysicalResourceId", "") or ""
        for lid, res in (template.get("Resources") or {}).items():
            policy = res.get("DeletionPolicy", "")
            if policy in RETAINING_POLICIES and lid in physical:
                kept.append(Kept(label, lid, res.get("Type", ""), physical[lid], policy))
    return kept, len(nested)


def show_kept(ui: Ui, kept: list[Kept], title: str) -> None:
    from rich.table import Table

    if not kept:
        ui.say(f"{title}: none (no resource has DeletionPolicy Retain).")
        return
    table = Table(title=title, title_justify="left")
    for col in ("Stack", "Logical ID", "Type", "Physical ID", "Policy"):
        table.add_column(col, overflow="fold")
    for k in kept:
        table.add_row(k.stack, k.logical_id, k.resource_type, k.physical_id,
                      "snapshot kept" if k.policy == "Snapshot" else k.policy)
    ui.show(table)


def destroy_stack(aws: Aws, ui: Ui, name: str, opts: Options, *, disable_protection: bool) -> list[Kept] | None:
    """Delete one stack tree; what it kept (None when there was no such stack)."""
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
    kept, nested = retained_resources(cfn, info)
    ui.step(f"Destroy {name} ({aws.region}, {info.status}, {nested} nested stack(s))")
    show_kept(ui, kept, "Kept after deletion")
    if info.termination_protection and not disable_protection:
        raise DeployError(
            f"{name} has termination protection (a production stage), so it was not deleted. To delete "
            "it anyway, run destroy again with --disable-termination-protection; the resources listed "
            "as kept will remain.")
    if not ui.confirm(f"Delete {name} and its {nested} nested stack(s) in {aws.region}?"):
        raise DeployError(f"Nothing deleted: {name} was not confirmed (pass --yes to skip the prompt).")
    if info.termination_protection:
        ui.warn(f"Turning off termination protection of {name} (--disable-termination-protection).")
        cfn.update_termination_protection(StackName=info.stack_id, EnableTerminationProtection=False)
    runner.delete_and_wait(info, purpose="destroy")
    ui.success(f"{name}: DELETE_COMPLETE.")
    return kept


def run_destroy(opts: Options, ui: Ui, *, disable_protection: bool = False) -> list[Kept]:
    build, aws = open_stage(opts)
    kept: list[Kept] = []
    with aws_errors(f"destroying {build.stack_name} in {aws.region}"):
        root = destroy_stack(aws, ui, build.stack_name, opts, disable_protection=disable_protection)
        kept += root or []
    if build.global_stack:
        glob = build.global_stack
        gaws = aws.in_region(glob.region)
        with aws_errors(f"destroying {glob.label}"):
            kept += destroy_stack(gaws, ui, glob.stack_name, opts, disable_protection=disable_protection) or []
    if kept:
        show_kept(ui, kept, "Still in the account (retained)")
    return kept
