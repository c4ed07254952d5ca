"""Running a deploy plan: preview every step, one approval for all of it, then each step in order.

Like Sceptre's plan executor and the CDK's deployment methods, the executor knows nothing about
which steps a deploy needs (the planner decides) and every step runs through the stack runner.
Each step type maps to what it does before the approval (`PREVIEWS`: a change set or a plan from
the templates to show, a line of what else changes) and to what it does when it runs (`HANDLERS`).

    preview(run)   steps that run before the approval (upload by content hash), then every preview;
                   each stack's diff is shown and checked for what CloudFormation cannot do
    approve(run)   --require-approval, then one question for the whole plan
    execute(run)   every other step, in order
    run.discard()  change sets made and not executed are deleted (always)

`diff` is preview + discard. Adding a kind of step: its dataclass in `infra.deploy.steps`, its
handler (and preview, when it shows something) in a module of step handlers, one line in each
table below, and the planner emitting it (ARCHITECTURE.md).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from infra.deploy import import_stacks, stack_steps
from infra.deploy.execution import Run
from infra.deploy.retained import show_imports
from infra.deploy.review import approve as ask
from infra.deploy.review import changed, check_replacements, replacement_refusal, show_steps
from infra.deploy.stack_state import StackInfo
from infra.deploy.steps import (Bootstrap, DeployGlobal, DeployRoot, ImportRoot, ImportStack, Outputs, Package,
                                Protect, RecordPlacement, Refactor, ReplanRoot, Step)

Handler = Callable[[Run, Any], None]

PREVIEWS: dict[type[Step], Handler] = {
    Bootstrap: stack_steps.preview_bootstrap,
    ImportStack: import_stacks.preview_imports,
    ImportRoot: import_stacks.preview_imports,
    DeployGlobal: stack_steps.preview_global,
    Refactor: stack_steps.preview_refactor,
    DeployRoot: stack_steps.preview_root,
    Protect: stack_steps.preview_protect,
}
HANDLERS: dict[type[Step], Handler] = {
    Bootstrap: stack_steps.execute_bootstrap,
    Package: stack_steps.execute_package,
    ImportStack: import_stacks.execute_import_stack,
    ImportRoot: import_stacks.execute_import_root,
    DeployGlobal: stack_steps.execute_global,
    Refactor: stack_steps.execute_refactor,
    RecordPlacement: stack_steps.execute_record,
    ReplanRoot: stack_steps.execute_replan,
    DeployRoot: stack_steps.execute_root,
    Protect: stack_steps.execute_protect,
    Outputs: stack_steps.execute_outputs,
}


def preview(run: Run) -> None:
    """Show the plan and what each step would change; refuse what cannot or must not happen."""
    show_steps(run.ui, run.plan)
    if run.state.imports is not None:
        show_imports(run.ui, run.state.imports)
    if not run.read_only:
        for step in run.plan:
            if step.before_approval:
                HANDLERS[type(step)](run, step)
    for step in run.plan:
        shown = PREVIEWS.get(type(step))
        if shown is not None:
            shown(run, step)
    for reviewed in run.reviewed.values():
        run.show(reviewed)
    for reviewed in run.reviewed.values():
        if run.read_only:   # diff shows the plan whatever a deploy would do with it, and says that
            refusal = replacement_refusal(reviewed.plan, run.build.stateful_types,
                                          allow_removal=run.opts.allow_removal, read_only=True)
            if refusal:
                run.ui.warn(refusal)
            continue
        check_replacements(reviewed.plan, run.build.stateful_types, allow_removal=run.opts.allow_removal)


def approve(run: Run) -> None:
    """One approval for the whole plan."""
    found = run.state.imports.all() if run.state.imports else []
    action = f"Import {len(found)} retained resource(s) and deploy" if found else "Deploy"
    ask(run.ui, run.opts.require_approval, [r.plan for r in run.reviewed.values()],
        {name: r.region for name, r in run.reviewed.items()}, action=action, other_changes=run.other_changes)


def execute(run: Run) -> StackInfo | None:
    """Every step not run before the approval, in order; the root afterwards."""
    for step in run.plan:
        if not step.before_approval:
            HANDLERS[type(step)](run, step)
    return run.root_info


def changes(run: Run) -> bool:
    """Whether the previewed plan changes anything (what `diff --fail` gates on)."""
    return bool(run.other_changes) or any(changed(r.plan) for r in run.reviewed.values()) or bool(
        run.state.imports)
