"""The preflight command, and the preflight a deploy runs on its plan before any change set.

The checks themselves are registered in `infra.deploy.checks`; this module runs them, prints one
line per check (ok, FAIL, warn, skip) and turns failed ones into one error.
"""
from __future__ import annotations

from infra.deploy.checks import Preflight, Result, run_checks
from infra.deploy.importing import Imports
from infra.deploy.manifest import Build
from infra.deploy.planner import PlanOptions, plan_deploy
from infra.deploy.retained import show_imports
from infra.deploy.session import Aws, aws_errors
from infra.deploy.stage import Options, open_stage, read_stage
from infra.deploy.steps import DeployPlan
from infra.deploy.ui import Ui
from infra.errors import DeployError


def report(ui: Ui, results: list[Result]) -> list[Result]:
    """Print one line per check; the failed ones."""
    ui.step("Preflight")
    for r in results:
        style = {"FAIL": "bold red", "warn": "yellow", "ok": "green"}.get(r.status)
        ui.say(r.line(), style=style)
    return [r for r in results if r.status == "FAIL"]


def failure(failed: list[Result], *, deploying: bool) -> DeployError:
    names = ", ".join(r.check for r in failed)
    tail = " Nothing was deployed." if deploying else ""
    return DeployError(f"Preflight: {len(failed)} check(s) failed ({names}): fix what the lines above say, or skip a "
                       f"check with --skip-check NAME.{tail}")


def check_plan(build: Build, aws: Aws, ui: Ui, skip: tuple[str, ...], imports: Imports | None,
               plan: DeployPlan | None, *, deploying: bool) -> list[Result]:
    """Run every check not skipped against the plan; a failed one is an error."""
    if deploying and "all" in skip:
        ui.note("Preflight skipped (--skip-check all).")
        return []
    with aws_errors(f"running the preflight checks of {build.stack_name}"):
        results = run_checks(Preflight(build, aws, imports, plan), skip)
    failed = report(ui, results)
    if failed:
        raise failure(failed, deploying=deploying)
    return results


def run_preflight(opts: Options, ui: Ui) -> list[Result]:
    """The preflight command: the checks of the plan a deploy would make now."""
    build, aws = open_stage(opts, ui)
    stage = read_stage(build, aws, ui, opts, action="check", refuse=False, find_imports=True, artifacts=True)
    show_imports(ui, stage.state.imports)
    plan = plan_deploy(build, stage.state, PlanOptions(opts.bucket, None, str(opts.config)))
    return check_plan(build, aws, ui, opts.skip_checks, stage.state.imports, plan, deploying=False)
