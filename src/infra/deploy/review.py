"""The plan as a person reviews it: each stack's diff, what CloudFormation cannot do or the user did
not allow (refused before anything runs), and the one approval over the whole plan.
"""
from __future__ import annotations

from collections.abc import Collection

from infra.deploy import release
from infra.deploy.diff_render import render
from infra.deploy.runner import CREATE, Plan
from infra.deploy.steps import DeployPlan
from infra.deploy.ui import Ui
from infra.errors import DeployError

APPROVAL_LEVELS = ("never", "broadening", "any")


def show_steps(ui: Ui, plan: DeployPlan) -> None:
    """The plan's steps, numbered, and its notes."""
    ui.step(f"Plan for {plan.stage} ({plan.region}): {len(plan.steps)} step(s)")
    for line in plan.lines():
        ui.say(line)
    for note in plan.notes:
        ui.note(note)


def show_plan(ui: Ui, plan: Plan, region: str, stateful_types: Collection[str], *, emulator: bool = False) -> None:
    """One stack's diff (or that it has no changes); `emulator`: the endpoint is the local emulator."""
    if plan.no_changes or plan.diff is None:
        ui.success(f"{plan.spec.name}: no changes.")
        return
    verb = "create" if plan.kind == CREATE else "update"
    ui.show(render(plan.diff, f"Changes to {verb} {plan.spec.name} ({region})", tuple(stateful_types)))
    for line in release.plan_lines(plan.diff.rows, release.releases_of({"releases": plan.spec.releases}),
                                   emulator=emulator):
        ui.say(line, style="bold")


def changed(plan: Plan) -> bool:
    return not plan.no_changes and plan.diff is not None and not plan.diff.empty


def check_replacements(plan: Plan, stateful_types: Collection[str], *, allow_removal: bool) -> None:
    """Refuse what CloudFormation cannot do (replace a resource whose custom name stays), and
    stateful removals or replacements the user did not allow (--allow-removal)."""
    refusal = replacement_refusal(plan, stateful_types, allow_removal=allow_removal)
    if refusal:
        raise DeployError(refusal)


def replacement_refusal(plan: Plan, stateful_types: Collection[str], *, allow_removal: bool,
                        read_only: bool = False) -> str | None:
    """Why a deploy of `plan` is refused (check_replacements), or None. `read_only` (diff): said as
    what a deploy would do, since the plan is only shown."""
    if plan.diff is None:
        return None
    name = plan.spec.name
    refusing = f"A deploy of {name} would be refused" if read_only else f"Refusing to deploy {name}"
    unchanged = "" if read_only else " Nothing was changed."
    impossible = [r for r in plan.diff.rows if r.replaces and r.custom_name]
    if impossible:
        listed = "; ".join(f"{r.stack} > {r.logical_id} ({r.resource_type} named {r.custom_name}, changing "
                           f"{', '.join(r.properties) or 'a property that replaces it'})" for r in impossible)
        return (
            f"{refusing}: these changes replace resources that have a fixed name, which "
            f"CloudFormation cannot do (it creates the new resource before deleting the old one, and the name is "
            f"taken): {listed}. Keep that property as it is, or rename the resource in the config: a new one is "
            "created beside the old one, and the old one leaves the stack (kept in the account when it is "
            "retained; pass --allow-removal). To carry a production stage's data over, destroy it (its data is "
            f"retained) and deploy again: deploy imports the retained resources.{unchanged}")
    risky = plan.diff.stateful_risks(stateful_types)
    if risky and not allow_removal:
        listed = ", ".join(f"{r.stack} > {r.logical_id} ({r.resource_type}, "
                           f"{'removed' if r.action == 'Remove' else 'replaced'})" for r in risky)
        again = "deploy with --allow-removal" if read_only else "re-run with --allow-removal"
        return (
            f"{refusing}: the change set removes or replaces stateful resources: {listed}. "
            "A removed resource is deleted with its data (DeletionPolicy Delete) or left in the account outside "
            f"the stack (Retain); a replaced one starts empty. If that is intended, {again}.{unchanged}")
    return None


def approve(ui: Ui, level: str, plans: list[Plan], region_of: dict[str, str], *, action: str = "Deploy",
            other_changes: list[str] | None = None) -> None:
    """One decision for the whole plan: the approval rule (--require-approval), then one question.

    `other_changes`: what the plan changes besides the stacks' change sets (the bootstrap stack, a
    refactor, imports), so a plan with only those still asks.
    """
    live = [p for p in plans if changed(p)]
    extra = other_changes or []
    if not live and not extra:
        return
    broadening = [c for p in live if p.diff is not None for c in p.diff.broadening]
    per_stack = [(p.spec.name, len(p.diff.broadening)) for p in live if p.diff is not None and p.diff.broadening]
    # Each stack's summary line counts its own; the total names them when there are several.
    where = f": {', '.join(f'{n} in {name}' for name, n in per_stack)}" if len(per_stack) > 1 else ""
    needs_person = (level == "any") or (level == "broadening" and bool(broadening))
    names = " and ".join(f"{p.spec.name} ({region_of[p.spec.name]})" for p in live) or ", ".join(extra)
    if level == "never":
        return
    if ui.assume_yes:
        if not needs_person:
            return
        why = (f"it widens access ({len(broadening)} IAM statement or security group change(s) marked '!' "
               f"above{where})"
               if level == "broadening" else "--require-approval any asks a person about every change")
        raise DeployError(
            f"Not deployed: {why}, and --yes cannot approve that (--require-approval {level}). Review the diff and "
            "deploy interactively, or pass --require-approval never where the diff is reviewed elsewhere. "
            "Nothing was changed.")
    question = f"{action} these changes to {names}?" if action == "Deploy" else f"{action}: {names}?"
    if broadening:
        question = (f"This deploy widens access ({len(broadening)} IAM statement or security group change(s) "
                    f"marked '!'{where}). {question}")
    if not ui.confirm(question):
        raise DeployError(f"Nothing deployed to {names}: the changes were not confirmed (pass --yes to deploy "
                          "without the prompt). The change sets were deleted.")


def same_changes(a: Plan, b: Plan, *, ignore: Collection[str] = ()) -> bool:
    """Two plans of one stack change the same resources the same way (values of parameters aside;
    resources in `ignore`, e.g. those a refactor moved, aside)."""
    def key(plan: Plan) -> tuple[set[tuple[str, str, str, str, bool]], set[tuple[str, str, str, str]]]:
        diff = plan.diff
        if diff is None or plan.no_changes:
            return set(), set()
        rows = {(r.stack, r.action, r.logical_id, r.resource_type, r.replaces) for r in diff.rows
                if r.logical_id not in ignore and r.action != "Move"}
        return rows, {(c.sign, c.stack, c.resource, str(c.item)) for c in diff.security}
    return key(a) == key(b)
