"""The preflight command: the checks (`infra.deploy.checks`) of the plan a deploy would make now,
one line each; exit 1 when one fails. `deploy` runs the same checks on its own plan.
"""
from __future__ import annotations

from infra.deploy.checks import Result, check_plan
from infra.deploy.planner import PlanOptions, plan_deploy
from infra.deploy.retained import show_imports
from infra.deploy.stage import Options, open_stage, read_stage
from infra.deploy.ui import Ui


def run_preflight(opts: Options, ui: Ui) -> list[Result]:
    """The preflight command: the checks of the plan a deploy would make now."""
    build, aws = open_stage(opts, ui)
    stage = read_stage(build, aws, ui, opts, action="check", refuse=False, find_imports=True, artifacts=True)
    show_imports(ui, stage.state.imports)
    plan = plan_deploy(build, stage.state, PlanOptions(opts.bucket, None, str(opts.config)))
    return check_plan(build, aws, ui, opts.skip_checks, stage.state.imports, plan, deploying=False)
