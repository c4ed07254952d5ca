"""The steps of a deploy plan: typed, plain data, in the order they run.

The planner (`infra.deploy.planner`) makes them; the executor (`infra.deploy.executor`) runs each
through the stack runner. A step says what it will do (`describe`, one line of the plan shown
before the approval) and whether it runs before that approval (`before_approval`: it changes
nothing the user owns, e.g. uploading content-addressed files so that CloudFormation can compute
the change sets the plan shows).

Adding a kind of step: a dataclass here, its handler in the executor (`@executes(NewStep)`, and
`@previews(NewStep)` when it has something to show before the approval), and the planner emitting
it. See ARCHITECTURE.md.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from infra.deploy.importing import Found


@dataclass(frozen=True)
class Step:
    """One thing a deploy does."""

    @property
    def before_approval(self) -> bool:
        return False

    def describe(self) -> str:
        raise NotImplementedError


S = TypeVar("S", bound=Step)


@dataclass(frozen=True)
class Bootstrap(Step):
    """Create or update the region's bootstrap stack (artifact bucket, API Gateway's logging role)."""

    stack_name: str
    region: str
    create: bool
    needs: tuple[str, ...]         # what this stage needs from it, for the plan's line

    def describe(self) -> str:
        verb = "create" if self.create else "update"
        return f"{verb} the bootstrap stack {self.stack_name} in {self.region} ({' and '.join(self.needs)})"


@dataclass(frozen=True)
class Package(Step):
    """Upload the handler zips and templates by content hash (to --bucket or the bootstrap bucket)."""

    bucket: str | None             # None: the bootstrap bucket, known once Bootstrap has run
    ready: bool                    # the bucket exists now: upload before the approval

    @property
    def before_approval(self) -> bool:
        return self.ready

    def describe(self) -> str:
        where = f"s3://{self.bucket}" if self.bucket else "the bootstrap bucket"
        return f"upload the code and templates to {where} (by content hash)"


@dataclass(frozen=True)
class ImportStack(Step):
    """Create a standalone stack from retained resources (an IMPORT change set): a child of the
    root (nested by ImportRoot next), or the us-east-1 global stack."""

    stack_name: str
    region: str
    child: str | None              # the child's logical id in the root; None for the global stack
    template: dict[str, Any]
    tags: dict[str, str]
    found: tuple[Found, ...]

    def describe(self) -> str:
        return f"import {len(self.found)} retained resource(s) into {self.stack_name} ({self.region})"


@dataclass(frozen=True)
class ImportRoot(Step):
    """Create the root by importing the stacks ImportStack made, and its own retained resources."""

    stack_name: str
    children: tuple[str, ...]
    found: tuple[Found, ...]

    def describe(self) -> str:
        what = [f"{len(self.children)} stack(s)"] + ([f"{len(self.found)} resource(s)"] if self.found else [])
        return f"create {self.stack_name} by importing {' and '.join(what)}"


@dataclass(frozen=True)
class DeployGlobal(Step):
    """The us-east-1 global stack's change set (certificate, CloudFront web ACL)."""

    stack_name: str
    region: str

    def describe(self) -> str:
        return f"deploy {self.stack_name} ({self.region})"


@dataclass(frozen=True)
class ResourceMove:
    """One resource moving between two nested stacks of the root (part of a Refactor)."""

    logical_id: str
    resource_type: str
    source: str                    # the child's logical id in the root
    destination: str

    def describe(self) -> str:
        return f"move {self.logical_id} ({self.resource_type}) from {self.source} to {self.destination}"


@dataclass(frozen=True)
class StackDefinition:
    """A stack of a refactor and the template it has afterwards (the deployed one, resources moved)."""

    child: str                     # logical id in the root
    stack_id: str
    template: dict[str, Any]

    @property
    def stack_name(self) -> str:
        """The stack's name (a nested stack's id is arn:...:stack/<name>/<uuid>)."""
        return self.stack_id.split("/")[1] if self.stack_id.startswith("arn:") else self.stack_id


@dataclass(frozen=True)
class Refactor(Step):
    """A stack refactor (CreateStackRefactor, then ExecuteStackRefactor) that moves resources between
    nested stacks without replacing them; nothing else changes in the same operation."""

    moves: tuple[ResourceMove, ...]
    stacks: tuple[StackDefinition, ...]
    keys: tuple[tuple[str, str, str], ...]    # (bundle key, from stack, to stack), for the lock

    def describe(self) -> str:
        names = ", ".join(sorted({m.logical_id for m in self.moves}))
        return (f"move {len(self.moves)} resource(s) between {len(self.stacks)} nested stacks by a stack "
                f"refactor, without replacing them ({names})")


@dataclass(frozen=True)
class ReplanRoot(Step):
    """Make the root's change set again when it was made before what it depends on: the global stack's
    outputs (when they changed) or a refactor. The new change set is shown and asked about again only
    when it does something the plan did not show."""

    after: tuple[str, ...]         # "global-outputs", "refactor"

    def describe(self) -> str:
        why = {"global-outputs": "if the global stack's outputs changed", "refactor": "after the refactor"}
        return "plan the root again " + " and ".join(why[a] for a in self.after)


@dataclass(frozen=True)
class DeployRoot(Step):
    """The root's change set, nested stacks included."""

    stack_name: str
    region: str

    def describe(self) -> str:
        return f"deploy {self.stack_name} and its nested stacks ({self.region})"


@dataclass(frozen=True)
class RecordPlacement(Step):
    """Write the moved bundles' new stacks into the placement lock (only after the move succeeded);
    `complete`: the lock becomes exactly `entries`, the placement the deployed stage now has (after
    the root's deploy; generating for diff or deploy never writes the lock)."""

    lock_file: Path
    entries: tuple[tuple[str, str], ...]      # (bundle key, stack)
    complete: bool = False

    def describe(self) -> str:
        if self.complete:
            return f"record where the {len(self.entries)} bundle(s) are deployed in {self.lock_file}"
        return f"record {len(self.entries)} moved placement(s) in {self.lock_file}"


@dataclass(frozen=True)
class Protect(Step):
    """Production safeguards: termination protection and stack policies on every stack."""

    stack_name: str

    def describe(self) -> str:
        return f"protect {self.stack_name}: termination protection, stack policies on every stack"


@dataclass(frozen=True)
class Outputs(Step):
    """Read and show the outputs (and write --outputs-file)."""

    file: Path | None = None

    def describe(self) -> str:
        return "show the outputs" + (f" and write them to {self.file}" if self.file else "")


@dataclass(frozen=True)
class DeployPlan:
    """An ordered list of steps, and what the planner wants said about it."""

    stage: str
    region: str
    steps: tuple[Step, ...]
    notes: tuple[str, ...] = field(default=())

    def of(self, kind: type[S]) -> list[S]:
        return [s for s in self.steps if isinstance(s, kind)]

    def has(self, kind: type[Step]) -> bool:
        return any(isinstance(s, kind) for s in self.steps)

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)

    def lines(self) -> list[str]:
        """The plan as numbered lines (moves are listed under their refactor)."""
        out: list[str] = []
        for number, step in enumerate(self.steps, 1):
            out.append(f"{number:>2}. {step.describe()}")
            if isinstance(step, Refactor):
                out += [f"      {move.describe()}" for move in step.moves]
        return out
