"""Production safeguards: stack policies for stateful resources, and termination protection.

A stack policy only covers the resources of the stack it is set on, so the protective policy is
set on the root *and on every nested stack*. It allows every update except replacing or deleting
a resource of a stateful type (tables, buckets, keys, secrets); on the root it also covers the
nested stacks themselves, since deleting one deletes everything in it.
"""
from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from infra.deploy.manifest import Build
from infra.deploy.session import Aws, aws_exceptions, error_message, is_not_implemented
from infra.deploy.stack_state import StackInfo
from infra.deploy.stacks import nested_stacks
from infra.deploy.ui import Ui
from infra.resource_types import NESTED_STACK


def protective_policy(stateful_types: Collection[str], *, root: bool = False) -> str:
    """Stack policy JSON: allow Update:*, deny Update:Replace and Update:Delete of stateful types."""
    from awacs.aws import Action, Allow, Condition, Deny, PolicyDocument, Principal, Statement, StringEquals

    types = sorted(set(stateful_types) | ({NESTED_STACK} if root else set()))
    doc = PolicyDocument(Statement=[
        Statement(Effect=Allow, Action=[Action("Update", "*")], Principal=Principal("*"), Resource=["*"]),
        Statement(
            Effect=Deny,
            Action=[Action("Update", "Replace"), Action("Update", "Delete")],
            Principal=Principal("*"),
            Resource=["*"],
            Condition=Condition(StringEquals({"ResourceType": types})),
        ),
    ])
    return _canonical(doc.to_json())


def permissive_policy() -> str:
    """Allow every update: set for the duration of a deploy run with --allow-removal."""
    from awacs.aws import Action, Allow, PolicyDocument, Principal, Statement

    doc = PolicyDocument(Statement=[
        Statement(Effect=Allow, Action=[Action("Update", "*")], Principal=Principal("*"), Resource=["*"]),
    ])
    return _canonical(doc.to_json())


def _canonical(text: str) -> str:
    return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))


def current_policy(cfn: Any, stack: str) -> str | None:
    body = cfn.get_stack_policy(StackName=stack).get("StackPolicyBody")
    if not body:
        return None
    try:
        return _canonical(body)
    except ValueError:
        return body


def set_policy(cfn: Any, stack: str, body: str) -> bool:
    """Set the stack policy unless it is already `body`; True when it changed."""
    if current_policy(cfn, stack) == body:
        return False
    cfn.set_stack_policy(StackName=stack, StackPolicyBody=body)
    return True


def enable_termination_protection(aws: Aws, cfn: Any, stack: str, ui: Ui, name: str = "") -> None:
    """Turn termination protection on; an endpoint without the operation gets a warning."""
    op = "UpdateTerminationProtection"
    if op in aws.unsupported:
        return
    try:
        cfn.update_termination_protection(StackName=stack, EnableTerminationProtection=True)
    except aws_exceptions() as exc:
        if not is_not_implemented(exc):
            raise
        aws.unsupported.add(op)
        ui.warn(f"The endpoint does not implement {op} ({error_message(exc)}); "
                f"termination protection of {name or stack} is not enabled.")


def protect(aws: Aws, ui: Ui, build: Build, info: StackInfo) -> None:
    """Termination protection on the root; stack policies on the root and every nested stack."""
    if not build.production:
        return
    cfn = aws.client("cloudformation")
    if build.termination_protection and not info.termination_protection:
        enable_termination_protection(aws, cfn, info.stack_id, ui, info.name)
    changed = set_policy(cfn, info.stack_id, protective_policy(build.stateful_types, root=True))
    nested = nested_stacks(cfn, info.stack_id, info.name)
    for child in nested:
        changed |= set_policy(cfn, child.physical_id, protective_policy(build.stateful_types))
    if changed:
        ui.note(f"Stack policy denying replacement and deletion of stateful resources set on "
                f"{info.name} and its {len(nested)} nested stack(s).")


def relax(aws: Aws, info: StackInfo) -> None:
    """Allow every update for this run (--allow-removal in production)."""
    cfn = aws.client("cloudformation")
    body = permissive_policy()
    set_policy(cfn, info.stack_id, body)
    for child in nested_stacks(cfn, info.stack_id, info.name):
        set_policy(cfn, child.physical_id, body)
