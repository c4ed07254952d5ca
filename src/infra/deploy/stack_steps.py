"""What the deploy steps that change stacks do: their preview (before the one approval) and their
execution, each through the stack runner.

Every function here takes the `Run` and its step; `infra.deploy.executor` maps step types to them.
"""
from __future__ import annotations

from infra.deploy import bootstrap
from infra.deploy.importing import mark_imports
from infra.deploy.moves import mark_moved_access, mark_moves
from infra.deploy.sync_ledger import keys_before, ledger_key, prune
from infra.deploy.outputs import read_outputs, show_outputs, write_outputs
from infra.deploy.package import package, upload_template
from infra.deploy.policy import protect, relax
from infra.deploy.refactor import run_refactor
from infra.deploy.review import approve, changed, check_replacements, same_changes
from infra.deploy.runner import Plan, StackRunner
from infra.deploy.session import aws_errors, aws_exceptions, error_message
from infra.deploy.specs import bootstrap_spec, global_spec, local_root_spec, root_parameters, root_spec
from infra.deploy.stack_state import StackInfo
from infra.deploy.stacks import describe_stack
from infra.deploy.state import global_values
from infra.deploy.execution import Reviewed, Run
from infra.deploy.steps import (Bootstrap, DeployGlobal, DeployRoot, Outputs, Package, Protect, RecordPlacement,
                                Refactor, ReplanRoot)
from infra.errors import DeployError, UserError
from infra.render import STDOUT
from infra.placement import record_moves, write_lock

PLACEHOLDER_BUCKET = "(artifact bucket)"


# -- bootstrap ------------------------------------------------------------------------------------
def preview_bootstrap(run: Run, step: Bootstrap) -> None:
    run.other_changes.append(step.describe())
    runner = StackRunner(run.aws, run.ui, bootstrap_spec(), change_set_name=run.change_set_name)
    run.ui.step(f"Bootstrap stack {step.stack_name} ({run.aws.region}), from its template")
    with aws_errors(f"planning the bootstrap stack {step.stack_name} in {run.aws.region}"):
        plan = runner.plan_locally()
    run.review(step.stack_name, Reviewed(runner, plan, run.aws.region, local=True))


def execute_bootstrap(run: Run, step: Bootstrap) -> None:
    runner = StackRunner(run.aws, run.ui, bootstrap_spec(), change_set_name=run.change_set_name,
                         timeout=run.opts.timeout)
    with aws_errors(f"preparing the bootstrap stack {step.stack_name} in {run.aws.region}"):
        # It holds only retained resources: recreating it after a failed create loses nothing.
        plan = runner.plan(recreate_failed=True)
        if not plan.no_changes:
            verb = "Creating" if step.create else "Updating"
            run.ui.step(f"{verb} the bootstrap stack {step.stack_name} ({', '.join(step.needs)}) in {run.aws.region}")
            try:
                runner.execute(plan)
            finally:
                runner.discard(plan)
        if not run.opts.bucket:
            run.state.bucket = bootstrap.bucket_name(run.aws.client("cloudformation"))


# -- package --------------------------------------------------------------------------------------
def execute_package(run: Run, step: Package) -> None:
    build, aws = run.build, run.aws
    bucket = run.artifact_bucket()
    with aws_errors(f"packaging {build.name} to s3://{bucket}"):
        run.ui.step(f"Packaging {build.name} to s3://{bucket} ({aws.region})")
        run.packaged = package(build, aws, bucket, assets=not run.read_only)
        run.ui.note(f"{len(run.packaged.uploaded)} object(s) uploaded, {len(run.packaged.skipped)} already present; "
                    f"root template {run.packaged.root_url}")


# -- the us-east-1 global stack --------------------------------------------------------------------
def preview_global(run: Run, step: DeployGlobal) -> None:
    build, state = run.build, run.state
    glob = build.global_stack
    if glob is None:
        return
    runner = StackRunner(run.global_aws, run.ui, global_spec(build, run.stage.tags),
                         change_set_name=run.change_set_name, timeout=run.opts.timeout)
    run.ui.step(f"Global stack {glob.stack_name} ({glob.region}; {glob.purpose})")
    imports = state.imports.global_found if state.imports else []
    with aws_errors(f"planning {glob.label}"):
        if imports or (run.read_only and state.creating_global):
            plan = runner.plan_locally()
            if plan.diff is not None:
                plan.diff.rows = mark_imports(plan.diff.rows, imports)
            if not imports:
                run.ui.note(f"{glob.stack_name} does not exist yet: everything in it is new.")
            reviewed = Reviewed(runner, plan, glob.region, local=True)
        else:
            plan = runner.plan(read_only=True) if run.read_only else runner.plan(recreate_failed=run.opts.recreate_failed)
            reviewed = Reviewed(runner, plan, glob.region, local=False)
    run.review(glob.stack_name, reviewed)
    run.from_global, _ = global_values(build, state.global_info, final=False)


def execute_global(run: Run, step: DeployGlobal) -> None:
    glob = run.build.global_stack
    if glob is None:
        return
    reviewed = run.reviewed[glob.stack_name]
    if reviewed.local:
        # Approved from its templates (its retained resources are imported now): the real change set.
        runner = reviewed.runner
        with aws_errors(f"planning {glob.label}"):
            run.ui.step(f"Change set for {glob.stack_name} ({glob.region})")
            plan = runner.plan(recreate_failed=run.opts.recreate_failed)
        run.remember(runner, plan)
        reviewed = Reviewed(runner, plan, glob.region, local=False)
        run.show(reviewed)
        check_replacements(plan, run.build.stateful_types, allow_removal=run.opts.allow_removal)
    with aws_errors(f"deploying {glob.label}"):
        run.global_info = apply(run, reviewed.runner, reviewed.plan, protected=False)


# -- the root ---------------------------------------------------------------------------------------
def root_values(run: Run) -> dict[str, str] | None:
    return run.from_global if run.build.global_stack else None


def plan_root(run: Run, values: dict[str, str] | None) -> Reviewed:
    """The root's change set from the packaged templates (the refactor's moves shown as moves)."""
    build, aws = run.build, run.aws
    if run.packaged is None:
        raise DeployError(f"{build.stack_name} cannot be planned before its templates are packaged.")
    spec = root_spec(build, run.packaged, root_parameters(build, run.artifact_bucket(), values), run.stage.tags)
    runner = StackRunner(aws, run.ui, spec, change_set_name=run.change_set_name, timeout=run.opts.timeout)
    with aws_errors(f"planning {build.stack_name} in {aws.region}"):
        run.ui.step(f"Change set for {build.stack_name} ({aws.region})" + (", not executed" if run.read_only else ""))
        if run.read_only:
            plan = runner.plan(read_only=True)
        else:
            plan = runner.plan(recreate_failed=run.opts.recreate_failed)
    if plan.diff is not None and run.refactored is None:
        refactor = next(iter(run.plan.of(Refactor)), None)
        plan.diff.rows = mark_moves(plan.diff.rows, refactor, build.stack_name)
        plan.diff.security = mark_moved_access(plan.diff.security, refactor, build.stack_name)
    reviewed = Reviewed(runner, plan, aws.region, local=False)
    run.remember(runner, plan)
    return reviewed


def local_root(run: Run, values: dict[str, str] | None, why: str) -> Reviewed:
    """The root's plan from its templates (no change set): for a stage not deployed yet, or before the
    bucket a change set needs exists."""
    build, aws, state = run.build, run.aws, run.state
    params = root_parameters(build, state.bucket or PLACEHOLDER_BUCKET, values)
    runner = StackRunner(aws, run.ui, local_root_spec(build, params, run.stage.tags),
                         change_set_name=run.change_set_name, timeout=run.opts.timeout)
    run.ui.step(f"Plan for {build.stack_name} ({aws.region}), from the templates")
    if why:
        run.ui.note(why)
    with aws_errors(f"computing the diff of {build.stack_name} in {aws.region}"):
        plan = runner.plan_locally()
    if plan.diff is not None:
        plan.diff.rows = mark_imports(plan.diff.rows, state.imports.found if state.imports else [])
        refactor = next(iter(run.plan.of(Refactor)), None)
        plan.diff.rows = mark_moves(plan.diff.rows, refactor, build.stack_name)
        plan.diff.security = mark_moved_access(plan.diff.security, refactor, build.stack_name)
    return Reviewed(runner, plan, aws.region, local=True)


def preview_root(run: Run, step: DeployRoot) -> None:
    build, state = run.build, run.state
    values = root_values(run)
    if state.imports:
        reviewed = local_root(run, values, "")
    elif run.read_only and (state.creating or state.bucket is None):
        why = (f"{build.stack_name} does not exist yet: everything in it is new (no change set was created)."
               if state.creating else "No artifact bucket exists yet, so no change set can be made: the plan compares "
               "the deployed templates with the generated ones (nothing was uploaded or created).")
        reviewed = local_root(run, values, why)
    elif run.read_only:
        bucket = run.artifact_bucket()
        with aws_errors(f"uploading the templates of {build.name} to s3://{bucket}"):
            run.packaged = package(build, run.aws, bucket, assets=False)
        run.ui.note(f"A change set needs the templates in S3: {len(run.packaged.uploaded)} uploaded to the existing "
                    f"artifact bucket s3://{bucket}, {len(run.packaged.skipped)} already there (nothing else is written).")
        reviewed = plan_root(run, values)
    elif run.packaged is not None:
        reviewed = plan_root(run, values)
    else:
        reviewed = local_root(run, values, "The artifact bucket is created by this deploy: the plan comes from the "
                                           "templates, and the change set is made (and shown) once it exists.")
    run.review(build.stack_name, reviewed)


def execute_replan(run: Run, step: ReplanRoot) -> None:
    """The root's change set again, when it was made before the global stack's outputs or a refactor."""
    build = run.build
    reviewed = run.reviewed[build.stack_name]
    values = root_values(run)
    reasons = []
    if "global-outputs" in step.after and build.global_stack is not None:
        final, _ = global_values(build, run.global_info, final=True)
        if final != run.from_global:
            reasons.append(f"{build.global_stack.stack_name}'s outputs are known now")
        values = run.from_global = final
    if "refactor" in step.after and run.refactored is not None:
        reasons.append("the resources moved")
    if not reasons or reviewed.local:
        return   # a plan from templates gets its change set when the root deploys
    run.ui.note(f"{' and '.join(reasons).capitalize()}: planning {build.stack_name} again.")
    reviewed.runner.discard(reviewed.plan)
    again = plan_root(run, values)
    moved = {m.logical_id for m in run.refactored.moves} if run.refactored else set()
    if not same_changes(reviewed.plan, again.plan, ignore=moved):
        run.show(again)
        check_replacements(again.plan, build.stateful_types, allow_removal=run.opts.allow_removal)
        approve(run.ui, run.opts.require_approval, [again.plan], {build.stack_name: run.aws.region})
    run.reviewed[build.stack_name] = again


def execute_root(run: Run, step: DeployRoot) -> None:
    build, aws = run.build, run.aws
    reviewed = run.reviewed[build.stack_name]
    if reviewed.local:
        # Approved from its templates (a new stage, imports, or a bucket made by this deploy): the change set
        # is made now; what CloudFormation cannot do, or removals not allowed, still stop it.
        reviewed.runner.discard(reviewed.plan)
        if run.packaged is None:
            execute_package(run, Package(run.opts.bucket, ready=False))
        reviewed = plan_root(run, root_values(run))
        run.reviewed[build.stack_name] = reviewed
        run.show(reviewed)
        check_replacements(reviewed.plan, build.stateful_types, allow_removal=run.opts.allow_removal)
    try:   # what sync made live before this deploy (None: nothing; a ledger that cannot be read: nothing carried)
        synced_before = keys_before(aws, build.stack_name, reviewed.plan.info)
    except aws_exceptions():
        synced_before = None
    with aws_errors(f"deploying {build.stack_name} in {aws.region}"):
        run.root_info = apply(run, reviewed.runner, reviewed.plan, protected=True)
    try:   # the deploy succeeded: a ledger left as it was is worth a note, not a failure
        left = prune(aws, build.stack_name, run.root_info, synced_before)
        if left:
            run.ui.note(f"Still live through an earlier sync, which this deploy did not change (their definitions are "
                        f"the same in the new templates): {', '.join(str(e.get('label')) for e in left)}. `python "
                        "generate.py sync` puts back what the config no longer asks for; diff and drift show them as "
                        "synced meanwhile.")
    except aws_exceptions() as exc:
        run.ui.note(f"Could not forget what sync had changed in {build.stack_name} ({ledger_key(build.stack_name)} in "
                    f"the artifact bucket): {error_message(exc).rstrip('.')}. diff and drift may show it as synced.")


def apply(run: Run, runner: StackRunner, plan: Plan, *, protected: bool) -> StackInfo:
    """Execute an approved plan; the stack's info afterwards (production stack policies lifted for
    --allow-removal, and restored whatever happens)."""
    aws, build, ui = runner.aws, run.build, run.ui
    cfn = aws.client("cloudformation")
    if not changed(plan):
        info = describe_stack(cfn, plan.spec.name)
        if info is None:
            raise DeployError(f"{plan.spec.name} does not exist after its plan said it had no changes.")
        return info
    relaxed = False
    try:
        risky = plan.diff.stateful_risks(build.stateful_types) if plan.diff is not None else []
        if risky and protected and build.production and plan.info is not None:
            ui.warn("--allow-removal: lifting the stack policies for this deploy.")
            relax(aws, plan.info)
            relaxed = True
        ui.step(f"Executing the change set on {plan.spec.name}")
        return runner.execute(plan)
    finally:
        runner.discard(plan)
        if relaxed and plan.info is not None:
            try:
                info = describe_stack(cfn, plan.info.stack_id)
                if info is not None:
                    protect(aws, ui, build, info)
            except aws_exceptions() as exc:  # never hide why the deploy itself failed
                ui.warn(f"Could not restore the stack policies of {plan.spec.name} ({error_message(exc)}); "
                        "the next deploy restores them.")


# -- moving resources ---------------------------------------------------------------------------------
def preview_refactor(run: Run, step: Refactor) -> None:
    run.other_changes.append(step.describe())


def execute_refactor(run: Run, step: Refactor) -> None:
    aws = run.aws
    bucket = run.artifact_bucket()
    with aws_errors(f"moving resources between the nested stacks of {run.build.stack_name}"):
        run_refactor(aws.client("cloudformation"), run.ui, step, upload=lambda t: upload_template(aws, bucket, t),
                     fast=bool(aws.endpoint_url))
    run.refactored = step


def execute_record(run: Run, step: RecordPlacement) -> None:
    if step.complete:
        record_deployed(run, step)
        return
    record_moves(step.lock_file, step.entries)
    run.ui.note(f"{step.lock_file}: recorded {', '.join(f'{key} -> {stack}' for key, stack in step.entries)} "
                "(commit it).")


def record_deployed(run: Run, step: RecordPlacement) -> None:
    """The stage is deployed as the templates place it: the lock says so from now on. A lock that
    cannot be written fails nothing that is done; the warning names it and what writes it."""
    try:
        if write_lock(step.lock_file, dict(step.entries)):
            run.ui.note(f"Recorded where each resource is deployed in {step.lock_file} (commit it).")
    except UserError as exc:
        run.ui.warn(f"{exc} The stage is deployed; `python generate.py templates` writes the same lock.")


# -- afterwards ---------------------------------------------------------------------------------------
def root_now(run: Run) -> StackInfo:
    if run.root_info is None:
        with aws_errors(f"reading {run.build.stack_name} in {run.aws.region}"):
            run.root_info = describe_stack(run.aws.client("cloudformation"), run.build.stack_name)
    if run.root_info is None:
        raise DeployError(f"{run.build.stack_name} does not exist in {run.aws.region}.")
    return run.root_info


def preview_protect(run: Run, step: Protect) -> None:
    """A production stage whose root has no termination protection (one created from the console,
    or by hand) gets it from this deploy: a change, so diff shows it and `diff --fail` counts it."""
    root = run.state.root
    if "UpdateTerminationProtection" in run.aws.unsupported:
        return   # an endpoint without it: protect() only warns, so this would never settle
    if root is not None and not run.state.creating and not root.termination_protection:
        change = f"turn on termination protection of {root.name} (it is off) and set its stack policies"
        run.ui.say(f"This deploy will {change}.", style="bold")
        run.other_changes.append(change)


def execute_protect(run: Run, step: Protect) -> None:
    with aws_errors(f"protecting {run.build.stack_name} in {run.aws.region}"):
        protect(run.aws, run.ui, run.build, root_now(run))


def execute_outputs(run: Run, step: Outputs) -> None:
    info = root_now(run)
    with aws_errors(f"reading the outputs of {run.build.stack_name} in {run.aws.region}"):
        outputs = read_outputs(run.aws, run.ui, info, root_only=False)
    show_outputs(run.ui, outputs, title=f"Outputs of {info.name}")
    if step.file:
        write_outputs(step.file, outputs)
        if step.file != STDOUT:  # the JSON itself is on standard output
            run.ui.note(f"Outputs written to {step.file}")
