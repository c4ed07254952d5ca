"""What is deployed now, as plain data: the planner's input besides the build and the options.

`infra.deploy.stage` reads it from AWS (every read, no write); the planner (`infra.deploy.planner`)
only looks at it, so a plan can be made, and tested, from data alone.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.deploy.importing import Imports
from infra.deploy.manifest import Build
from infra.deploy.stack_state import StackInfo
from infra.errors import DeployError

PENDING_GLOBAL = "pending-global-stack"  # root parameter value in a plan before the global stack has it


@dataclass(frozen=True)
class BootstrapState:
    """The bootstrap stack of the stage's region."""

    exists: bool = False
    current: bool = False         # its template is the one this version generates
    bucket: str | None = None     # its artifact bucket, when it exists
    status: str = ""


@dataclass(frozen=True)
class DeployedChild:
    """A nested stack of the root as deployed: what a refactor moves resources between."""

    logical_id: str
    stack_id: str
    template: dict[str, Any]


@dataclass
class StageState:
    """The stage's stacks as they are now."""

    region: str = ""                              # where the root is deployed (--region, or the config's)
    tags: dict[str, str] = field(default_factory=dict)      # stack tags (the stage's and its config file's)
    root: StackInfo | None = None
    global_info: StackInfo | None = None
    bootstrap: BootstrapState = field(default_factory=BootstrapState)
    bucket: str | None = None                     # an artifact bucket that exists now (--bucket or bootstrap)
    imports: Imports | None = None                # retained resources found (looked for when the root is new)
    lock_file: Path | None = None
    lock: dict[str, str] = field(default_factory=dict)      # placement the lock file records (deployed)
    children: dict[str, DeployedChild] = field(default_factory=dict)   # read when resources move

    @property
    def creating(self) -> bool:
        """The root does not exist yet (or holds nothing: a change set that created it was never run)."""
        return self.root is None or self.root.status == "REVIEW_IN_PROGRESS"

    @property
    def creating_global(self) -> bool:
        return self.global_info is None or self.global_info.status == "REVIEW_IN_PROGRESS"


def global_values(build: Build, info: StackInfo | None, *, final: bool) -> tuple[dict[str, str], list[str]]:
    """Root parameter -> value of the global stack output mapped to it; and the parameters still
    pending (the output does not exist yet). `final`: a missing output is an error."""
    glob = build.global_stack
    if glob is None:
        return {}, []
    have = info.output_values if info is not None else {}
    values: dict[str, str] = {}
    pending: list[str] = []
    for output, parameter in sorted(glob.outputs.items()):
        value = have.get(output)
        if value:
            values[parameter] = value
        elif final:
            raise DeployError(f"The {glob.region} stack {glob.stack_name} has no output {output} (for root "
                              f"parameter {parameter}); regenerate the templates or check the stack in the console.")
        else:
            values[parameter] = PENDING_GLOBAL
            pending.append(parameter)
    return values, pending
