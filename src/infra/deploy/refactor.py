"""A stack refactor through CloudFormation's API: create it, wait while CloudFormation validates it,
list what it will do, execute it, wait until it has run (boto3's stack_refactor_* waiters).

The refactor is planned by `infra.deploy.moves` (which resources, which templates, what is refused
before asking CloudFormation). A refactor CloudFormation refuses, or one that fails and rolls
back, changes nothing: the error says why, and the caller leaves the lock file as it was.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from infra.deploy.session import aws_exceptions, error_message, is_not_implemented
from infra.deploy.steps import Refactor
from infra.deploy.ui import Ui
from infra.errors import DeployError

TEMPLATE_BODY_LIMIT = 51_200   # bytes CloudFormation accepts inline; larger templates go through S3
EMULATOR_DELAY = 1             # seconds between polls against an emulator (AWS: the waiters' own)


def template_body(template: dict[str, Any]) -> str:
    return json.dumps(template, indent=2, sort_keys=True) + "\n"


def request(step: Refactor, upload: Callable[[dict[str, Any]], str] | None) -> dict[str, Any]:
    """CreateStackRefactor's arguments: every stack with its template after the move (inline, or
    uploaded by `upload` when too large), and one mapping per moved resource (same logical id)."""
    by_child = {s.child: s for s in step.stacks}
    definitions: list[dict[str, str]] = []
    for stack in step.stacks:
        body = template_body(stack.template)
        if len(body.encode()) <= TEMPLATE_BODY_LIMIT or upload is None:
            definitions.append({"StackName": stack.stack_name, "TemplateBody": body})
        else:
            definitions.append({"StackName": stack.stack_name, "TemplateURL": upload(stack.template)})
    mappings = [{"Source": {"StackName": by_child[m.source].stack_name, "LogicalResourceId": m.logical_id},
                 "Destination": {"StackName": by_child[m.destination].stack_name, "LogicalResourceId": m.logical_id}}
                for m in step.moves]
    return {"Description": f"serverless-infra: move {len(step.moves)} resource(s) between nested stacks",
            "EnableStackCreation": False, "ResourceMappings": mappings, "StackDefinitions": definitions}


def run_refactor(cfn: Any, ui: Ui, step: Refactor, *, upload: Callable[[dict[str, Any]], str] | None = None,
                 fast: bool = False) -> str:
    """Create, validate, execute and follow a refactor; its id. DeployError when CloudFormation refuses it
    or it fails (nothing moved then)."""
    from botocore.exceptions import WaiterError

    names = ", ".join(s.stack_name for s in step.stacks)
    config = {"Delay": EMULATOR_DELAY} if fast else {}
    try:
        refactor_id = cfn.create_stack_refactor(**request(step, upload))["StackRefactorId"]
    except aws_exceptions() as exc:
        if is_not_implemented(exc):   # the local emulator: moto has no stack refactoring
            raise DeployError(f"Could not move resources between {names}: the endpoint does not implement "
                              "CloudFormation's stack refactoring (CreateStackRefactor; the local emulator has none), "
                              "so moves run on AWS only. Nothing was moved; the lock file is unchanged.") from None
        raise DeployError(f"CloudFormation refused the stack refactor of {names}: {error_message(exc).rstrip('.')}. "
                          "Nothing was moved; the lock file is unchanged.") from None
    try:
        cfn.get_waiter("stack_refactor_create_complete").wait(StackRefactorId=refactor_id, WaiterConfig=config)
    except WaiterError:
        state = describe(cfn, refactor_id)
        raise DeployError(f"CloudFormation refused the stack refactor of {names} ({state.get('Status', '?')}): "
                          f"{(state.get('StatusReason') or 'no reason given').rstrip('.')}. Nothing was moved; the "
                          "lock file is unchanged.") from None
    for action in actions(cfn, refactor_id):
        ui.note(f"  refactor: {action}")
    ui.step(f"Executing the stack refactor ({len(step.moves)} resource(s) between {names})")
    cfn.execute_stack_refactor(StackRefactorId=refactor_id)
    try:
        cfn.get_waiter("stack_refactor_execute_complete").wait(StackRefactorId=refactor_id, WaiterConfig=config)
    except WaiterError:
        state = describe(cfn, refactor_id)
        raise DeployError(f"The stack refactor of {names} did not complete ({state.get('ExecutionStatus', '?')}): "
                          f"{(state.get('ExecutionStatusReason') or 'no reason given').rstrip('.')}. "
                          "CloudFormation rolls a failed refactor back; the lock file is unchanged.") from None
    ui.success(f"Moved {len(step.moves)} resource(s) without replacing them.")
    return str(refactor_id)


def describe(cfn: Any, refactor_id: str) -> dict[str, Any]:
    try:
        answer: dict[str, Any] = cfn.describe_stack_refactor(StackRefactorId=refactor_id)
        return answer
    except aws_exceptions():
        return {}


def actions(cfn: Any, refactor_id: str) -> list[str]:
    """What the refactor will do, as CloudFormation lists it (ListStackRefactorActions)."""
    lines: list[str] = []
    for page in cfn.get_paginator("list_stack_refactor_actions").paginate(StackRefactorId=refactor_id):
        for action in page.get("StackRefactorActions", []):
            mapping = action.get("ResourceMapping") or {}
            source, destination = mapping.get("Source") or {}, mapping.get("Destination") or {}
            where = (f"{source.get('StackName')}.{source.get('LogicalResourceId')} -> "
                     f"{destination.get('StackName')}.{destination.get('LogicalResourceId')}") if mapping else ""
            lines.append(" ".join(x for x in (action.get("Action", ""), action.get("Entity", ""), where,
                                              action.get("Description", "")) if x))
    return lines
