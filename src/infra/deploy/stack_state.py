"""What state a stack is in, and what a deploy may do about it.

The peers' classic traps, handled here:
- REVIEW_IN_PROGRESS: a stack left behind by a CREATE change set never executed. It holds no
  resources; it is deleted and created again.
- ROLLBACK_COMPLETE / ROLLBACK_FAILED: the first creation failed. CloudFormation cannot update such
  a stack; we explain why (with the original root cause) and delete + recreate it only when asked
  (`--recreate-failed`).
- *_IN_PROGRESS: another operation is running; we wait for it (bounded by `--timeout`) or fail.
- UPDATE_ROLLBACK_FAILED: `recover` continues the rollback; DELETE_FAILED needs a human: we say
  what to run.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from infra.resource_types import NESTED_STACK

NESTED_STACK_TYPE = NESTED_STACK
STUCK = "UPDATE_ROLLBACK_FAILED"

CREATE, UPDATE, RECREATE, WAIT, REFUSE = "CREATE", "UPDATE", "RECREATE", "WAIT", "REFUSE"
UPDATABLE = {
    "CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE",
    "IMPORT_ROLLBACK_COMPLETE",
}
FAILED_CREATE = {"ROLLBACK_COMPLETE", "ROLLBACK_FAILED"}


@dataclass
class StackInfo:
    """DescribeStacks, reduced to what the deployer uses."""

    name: str
    stack_id: str
    status: str
    reason: str = ""
    termination_protection: bool = False
    parameters: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    last_updated: datetime | None = None

    @property
    def output_values(self) -> dict[str, str]:
        """The stack's outputs by name, sorted."""
        return {o["OutputKey"]: str(o.get("OutputValue", "")) for o in sorted(self.outputs, key=lambda o: o["OutputKey"])}

    @property
    def busy(self) -> bool:
        """Another operation is running (REVIEW_IN_PROGRESS is idle: it waits for a change set)."""
        return self.status.endswith("_IN_PROGRESS") and self.status != "REVIEW_IN_PROGRESS"

    @classmethod
    def from_api(cls, stack: dict[str, Any]) -> "StackInfo":
        return cls(
            name=stack["StackName"],
            stack_id=stack["StackId"],
            status=stack["StackStatus"],
            reason=stack.get("StackStatusReason", "") or "",
            termination_protection=bool(stack.get("EnableTerminationProtection", False)),
            parameters={p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters") or []},
            tags={t["Key"]: t["Value"] for t in stack.get("Tags") or []},
            outputs=list(stack.get("Outputs") or []),
            last_updated=stack.get("LastUpdatedTime") or stack.get("CreationTime"),
        )


@dataclass(frozen=True)
class Decision:
    action: str          # CREATE, UPDATE, RECREATE (delete, then create), WAIT, REFUSE
    message: str = ""    # for WAIT / REFUSE / RECREATE: what the user is told


def decide(info: StackInfo | None, *, recreate_failed: bool, read_only: bool = False) -> Decision:
    """What a deploy (or, read_only, a diff) does with a stack in this state."""
    if info is None:
        return Decision(CREATE)
    name, status = info.name, info.status
    if status == "REVIEW_IN_PROGRESS":
        return Decision(RECREATE, f"{name} is in REVIEW_IN_PROGRESS: a change set that created it was "
                                  "never executed. It holds no resources; deleting it first.")
    if info.busy:
        return Decision(WAIT, f"{name} is busy ({status}); waiting for that operation to finish.")
    if status in UPDATABLE:
        return Decision(UPDATE)
    if status in FAILED_CREATE:
        explain = (f"{name} is in {status}: its first creation failed and was rolled back, and "
                   "CloudFormation cannot update a stack in this state; it can only be deleted and "
                   "created again.")
        if recreate_failed and not read_only:
            return Decision(RECREATE, explain + " Deleting it (--recreate-failed).")
        how = ("Run deploy with --recreate-failed to delete it and create it again"
               + (" (resources its creation retained stay in the account, and the deploy imports them)."
                  if status == "ROLLBACK_COMPLETE" else "."))
        return Decision(REFUSE, f"{explain} {how}")
    if status == STUCK:
        return Decision(REFUSE, (
            f"{name} is in {STUCK}: an update failed and so did its rollback. Run recover (it shows the "
            "cause, skips the resources that cannot roll back, and continues the rollback), then deploy "
            "again."))
    if status == "IMPORT_ROLLBACK_FAILED":
        return Decision(REFUSE, f"{name} is in IMPORT_ROLLBACK_FAILED: fix the cause and roll the import back in "
                                "the CloudFormation console before deploying.")
    if status == "DELETE_FAILED":
        return Decision(REFUSE, f"{name} is in DELETE_FAILED: a delete did not finish. Run destroy again (after "
                                "removing what blocked it) before deploying.")
    return Decision(REFUSE, f"{name} is in {status}, which this tool does not know how to deploy over.")
