"""Reading stacks from CloudFormation: one stack's state (`describe_stack`), and a root's nested
stacks, depth first (`nested_stacks`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infra.deploy.stack_state import NESTED_STACK_TYPE, StackInfo


def describe_stack(cfn: Any, name: str) -> StackInfo | None:
    """The stack named (or with id) `name`, or None when there is none (or it is deleted)."""
    from botocore.exceptions import ClientError

    try:
        stacks = cfn.describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise
    if not stacks or stacks[0]["StackStatus"] == "DELETE_COMPLETE":
        return None
    return StackInfo.from_api(stacks[0])


@dataclass(frozen=True)
class NestedStack:
    label: str          # root/Child/Grandchild
    logical_id: str
    physical_id: str    # stack ARN (AWS) or name (some emulators)
    parent_label: str


def nested_stacks(cfn: Any, stack: str, label: str) -> list[NestedStack]:
    """Every nested stack under `stack`, depth first, with labels like `root/Child`."""
    found: list[NestedStack] = []
    paginator = cfn.get_paginator("list_stack_resources")
    for page in paginator.paginate(StackName=stack):
        for res in page.get("StackResourceSummaries", []):
            if res.get("ResourceType") != NESTED_STACK_TYPE or not res.get("PhysicalResourceId"):
                continue
            if res.get("ResourceStatus") == "DELETE_COMPLETE":
                continue
            child = NestedStack(f"{label}/{res['LogicalResourceId']}", res["LogicalResourceId"],
                                res["PhysicalResourceId"], label)
            found.append(child)
            found.extend(nested_stacks(cfn, child.physical_id, child.label))
    return found
