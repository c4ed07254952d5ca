"""The deploy command: one plan, one approval, then its execution.

generate (the lead's `build_config`) -> who owns the stacks (the config tag) -> what is deployed
(the stage's state, retained resources to import) -> the plan (`infra.deploy.planner`, pure) ->
preflight checks on the plan -> preview: every stack's diff (change sets where the artifact bucket
exists, else from the templates), refusing what CloudFormation cannot do or needs --allow-removal
-> one approval -> execution, step by step (`infra.deploy.executor`) -> outputs.
"""
from __future__ import annotations

from infra.deploy.changeset import DEPLOY_NAME
from infra.deploy.checks import check_plan
from infra.deploy.execution import Run
from infra.deploy.executor import approve, execute, preview
from infra.deploy.planner import PlanOptions, plan_deploy
from infra.deploy.runner import StackRunner, StackSpec
from infra.deploy.session import aws_errors
from infra.deploy.stack_state import FAILED_CREATE, StackInfo
from infra.deploy.stage import Options, Stage, open_stage, read_stage
from infra.deploy.ui import Ui


def run_deploy(opts: Options, ui: Ui) -> StackInfo | None:
    """Plan, check, show, ask once, execute; the root afterwards."""
    build, aws = open_stage(opts, ui)
    if opts.recreate_failed:
        remove_failed_creates(read_stage(build, aws, ui, opts, action="deploy", refuse=True), ui, opts)
    stage = read_stage(build, aws, ui, opts, action="deploy", refuse=True, find_imports=True, artifacts=True)
    plan = plan_deploy(build, stage.state, PlanOptions(opts.bucket, opts.outputs_file, str(opts.config)))
    check_plan(build, aws, ui, opts.skip_checks, stage.state.imports, plan, deploying=True)
    run = Run(stage, ui, plan)
    try:
        preview(run)
        approve(run)
        return execute(run)
    finally:
        run.discard()


def remove_failed_creates(stage: Stage, ui: Ui, opts: Options) -> None:
    """--recreate-failed (the flag is the approval): delete stacks whose first creation failed
    (ROLLBACK_COMPLETE) before planning, so that what their creation retained is found and imported
    like after a destroy."""
    targets = [(stage.aws, stage.state.root)]
    if stage.global_aws is not None:
        targets.append((stage.global_aws, stage.state.global_info))
    for aws, info in targets:
        if info is None or info.status not in FAILED_CREATE:
            continue
        spec = StackSpec(name=info.name, template={}, parameters={}, tags={})
        with aws_errors(f"deleting {info.name} ({info.status}) in {aws.region}"):
            StackRunner(aws, ui, spec, change_set_name=DEPLOY_NAME, timeout=opts.timeout).ready(
                recreate_failed=True, read_only=False)
