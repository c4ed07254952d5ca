"""The diff command: the deploy plan, previewed and never executed (read-only).

It never creates the bootstrap stack or any stack; it uploads templates only to an artifact
bucket that already exists, and a stage that does not exist yet is shown from its templates.
Change sets it creates to read CloudFormation's own diff are deleted again.
"""
from __future__ import annotations

from infra.deploy.execution import Run
from infra.deploy.executor import changes, preview
from infra.deploy.planner import PlanOptions, plan_deploy
from infra.deploy.stage import Options, open_stage, read_stage
from infra.deploy.sync_ledger import DIFF_HEADING, report
from infra.deploy.ui import Ui


def run_diff(opts: Options, ui: Ui) -> bool:
    """Show what a deploy would change; True when anything would."""
    build, aws = open_stage(opts, ui)
    stage = read_stage(build, aws, ui, opts, action="diff", refuse=False, find_imports=True, artifacts=True)
    plan = plan_deploy(build, stage.state, PlanOptions(opts.bucket, None, str(opts.config)))
    run = Run(stage, ui, plan, read_only=True)
    try:
        preview(run)
    finally:
        run.discard()
    if not stage.state.creating:
        # What a deploy's preflight refuses about the plan itself (not the account), said here too:
        # diff is the gate many teams review, and the plan is still a change for it (exit 3).
        from infra.deploy.checks import index_warnings

        for warning in index_warnings(build, aws):
            ui.warn(warning)
    # What `sync` made live outside CloudFormation is shown as synced, not left unexplained.
    report(aws, build.stack_name, stage.state.root, ui, DIFF_HEADING)
    return changes(run)
