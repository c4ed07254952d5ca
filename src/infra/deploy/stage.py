"""A stage as every AWS command opens it: the options given, the generated build, the account and
region it works in, and what is deployed now (`StageState`, read here: every read, no write).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from infra.deploy import bootstrap, bootstrap_template
from infra.deploy.manifest import Build, build_and_load
from infra.deploy.moves import pending
from infra.deploy.owner import check_owner, config_identity
from infra.deploy.package import check_bucket
from infra.deploy.resource_diff import deployed_template
from infra.deploy.retained import find_retained
from infra.deploy.session import Aws, Target, aws_errors
from infra.deploy.specs import stack_tags
from infra.deploy.stack_state import UPDATABLE, StackInfo
from infra.deploy.stacks import describe_stack, nested_stacks
from infra.deploy.state import BootstrapState, DeployedChild, StageState
from infra.deploy.ui import Ui
from infra.placement import lock_path, read_lock


@dataclass
class Options:
    """Everything the command line says about one run."""

    config: Path
    out: Path
    target: Target = field(default_factory=Target)
    bucket: str | None = None
    yes: bool = False
    allow_removal: bool = False
    recreate_failed: bool = False
    timeout: float | None = None
    outputs_file: Path | None = None
    require_approval: str = "broadening"      # never | broadening | any
    force: bool = False
    skip_checks: tuple[str, ...] = ()
    import_retained: bool = True
    fail: bool = False


def open_stage(opts: Options, ui: Ui | None = None) -> tuple[Build, Aws]:
    """Generate the stage and bind to its account and region (credentials and endpoint checked).

    `--region` other than the config's is allowed (a copy of the stage in another region: the
    templates name no region) but never silently: every command says which region it works in.
    """
    build = build_and_load(opts.config, opts.out)
    aws = Aws(opts.target, default_region=build.region)
    if ui is not None:
        warn_other_region(ui, build, aws, opts.config)
    aws.check_credentials()
    aws.account_id()
    return build, aws


def warn_other_region(ui: Ui, build: Build, aws: Aws, config: Path) -> None:
    """Say so when --region names another region than the config's (every command that has it)."""
    if aws.target.region and aws.region != build.region:
        ui.warn(f"--region {aws.region}: working on {build.stack_name} in {aws.region}, not in the config's "
                f"region {build.region} ([project] region of {config}). Omit --region to use the config's.")


@dataclass
class Stage:
    """One stage, opened: its build, where it lives, and what is deployed there now."""

    build: Build
    aws: Aws
    opts: Options
    state: StageState
    global_aws: Aws | None = None

    @property
    def tags(self) -> dict[str, str]:
        return self.state.tags


def read_stage(build: Build, aws: Aws, ui: Ui, opts: Options, *, action: str, refuse: bool,
               find_imports: bool = False, artifacts: bool = False) -> Stage:
    """The stage's stacks now, and who owns them (the config tag).

    `find_imports`: look for retained resources when the root is to be created. `artifacts`: read
    the bootstrap stack and the artifact bucket (commands that package or plan a deploy), and the
    deployed nested stacks when bundles move between them.
    """
    identity = config_identity(opts.config)
    state = StageState(region=aws.region, tags=stack_tags(build, identity))
    stage = Stage(build, aws, opts, state)
    with aws_errors(f"reading {build.stack_name} in {aws.region}"):
        state.root = describe_stack(aws.client("cloudformation"), build.stack_name)
    check_owner(state.root, identity, ui, force=opts.force, action=action, refuse=refuse)
    if build.global_stack:
        glob = build.global_stack
        stage.global_aws = aws.in_region(glob.region)
        with aws_errors(f"reading {glob.label}"):
            state.global_info = describe_stack(stage.global_aws.client("cloudformation"), glob.stack_name)
        check_owner(state.global_info, identity, ui, force=opts.force, action=action, refuse=refuse)
    if artifacts:
        read_artifacts(stage)
        read_placement(stage)
    if find_imports and opts.import_retained and state.creating:
        state.imports = find_retained(build, aws)
    return stage


def read_artifacts(stage: Stage) -> None:
    """The bootstrap stack (is it there, is it this version's) and an artifact bucket that exists."""
    aws, opts, state = stage.aws, stage.opts, stage.state
    cfn = aws.client("cloudformation")
    with aws_errors(f"reading the bootstrap stack {bootstrap.STACK_NAME} in {aws.region}"):
        info = describe_stack(cfn, bootstrap.STACK_NAME)
        if info is not None and info.status != "REVIEW_IN_PROGRESS":
            ready = info.status in UPDATABLE
            current = ready and deployed_template(cfn, info.stack_id) == json.loads(bootstrap_template.template())
            state.bootstrap = BootstrapState(exists=True, current=current, status=info.status,
                                             bucket=bootstrap.bucket_name(cfn) if ready else None)
    with aws_errors(f"looking for the artifact bucket in {aws.region}"):
        if opts.bucket:
            check_bucket(aws.client("s3"), opts.bucket, aws.region)
            state.bucket = opts.bucket
        else:
            state.bucket = state.bootstrap.bucket


def read_placement(stage: Stage) -> None:
    """The lock file's placement and, when bundles move, the deployed templates of the root's nested stacks."""
    build, aws, state = stage.build, stage.aws, stage.state
    state.lock_file = lock_path(stage.opts.config)
    state.lock = read_lock(state.lock_file)
    if state.creating or not pending(build, state.lock) or state.root is None:
        return
    cfn = aws.client("cloudformation")
    with aws_errors(f"reading the nested stacks of {build.stack_name}"):
        for child in nested_stacks(cfn, state.root.stack_id, state.root.name):
            if child.parent_label == state.root.name:
                state.children[child.logical_id] = DeployedChild(child.logical_id, child.physical_id,
                                                                 deployed_template(cfn, child.physical_id))


def describe_root(stage: Stage) -> StackInfo | None:
    """The root as it is now (after steps changed it)."""
    with aws_errors(f"reading {stage.build.stack_name} in {stage.aws.region}"):
        return describe_stack(stage.aws.client("cloudformation"), stage.build.stack_name)
