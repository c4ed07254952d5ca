"""One plan being previewed and executed (`Run`): the stage, the options, what each step produced
for the next ones (the artifact bucket, the packaged templates, the stacks' change sets and
states), and the change sets to clean up whatever happens.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from infra.deploy import bootstrap
from infra.deploy.changeset import DEPLOY_NAME, DIFF_NAME
from infra.deploy.manifest import Build
from infra.deploy.package import Packaged
from infra.deploy.review import show_plan
from infra.deploy.runner import Plan, StackRunner
from infra.deploy.session import Aws, aws_errors, aws_exceptions
from infra.deploy.stage import Options, Stage
from infra.deploy.state import StageState
from infra.deploy.stack_state import StackInfo
from infra.deploy.steps import DeployPlan, Refactor
from infra.deploy.ui import Ui
from infra.errors import DeployError


@dataclass
class Reviewed:
    """A stack's plan as the person approved it, and the runner that made it."""

    runner: StackRunner
    plan: Plan
    region: str
    local: bool                    # computed from templates (no change set yet)


@dataclass
class Run:
    stage: Stage
    ui: Ui
    plan: DeployPlan
    read_only: bool = False
    reviewed: dict[str, Reviewed] = field(default_factory=dict)      # stack name -> its reviewed plan
    other_changes: list[str] = field(default_factory=list)           # what the approval covers besides diffs
    made: list[tuple[StackRunner, Plan]] = field(default_factory=list)   # change sets to delete if unused
    packaged: Packaged | None = None
    from_global: dict[str, str] | None = None      # root parameters from the global stack, as planned
    global_info: StackInfo | None = None
    root_info: StackInfo | None = None
    imported: dict[str, tuple[str, str]] = field(default_factory=dict)  # child -> (template URL, stack id)
    refactored: Refactor | None = None

    @property
    def build(self) -> Build:
        return self.stage.build

    @property
    def aws(self) -> Aws:
        return self.stage.aws

    @property
    def opts(self) -> Options:
        return self.stage.opts

    @property
    def state(self) -> StageState:
        return self.stage.state

    @property
    def change_set_name(self) -> str:
        return DIFF_NAME if self.read_only else DEPLOY_NAME

    @property
    def global_aws(self) -> Aws:
        if self.stage.global_aws is None:
            raise DeployError(f"{self.build.name} has no us-east-1 global stack.")
        return self.stage.global_aws

    def artifact_bucket(self) -> str:
        """--bucket, or the bootstrap stack's bucket (which the Bootstrap step made when it was missing)."""
        if self.opts.bucket:
            return self.opts.bucket
        if self.state.bucket:
            return self.state.bucket
        with aws_errors(f"reading the bootstrap stack {bootstrap.STACK_NAME} in {self.aws.region}"):
            self.state.bucket = bootstrap.bucket_name(self.aws.client("cloudformation"))
        return self.state.bucket

    def remember(self, runner: StackRunner, plan: Plan) -> None:
        if plan.change_set is not None:
            self.made.append((runner, plan))

    def review(self, name: str, reviewed: Reviewed) -> None:
        self.reviewed[name] = reviewed
        self.remember(reviewed.runner, reviewed.plan)

    def show(self, reviewed: Reviewed) -> None:
        show_plan(self.ui, reviewed.plan, reviewed.region, self.build.stateful_types,
                  emulator=bool(self.aws.endpoint_url))

    def discard(self) -> None:
        """Delete every change set made and not executed (and the empty stack of a create)."""
        for runner, plan in self.made:
            try:
                runner.discard(plan)
            except aws_exceptions():
                pass
        self.made.clear()
