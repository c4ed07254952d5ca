"""The package, diff and deploy commands, end to end.

A deploy makes one plan and asks once:
generate (the lead's `build_config`) -> who owns the stacks (the config tag) -> preflight ->
retained resources to import (a destroyed production stage) -> artifact bucket (--bucket, or the
bootstrap stack) -> package -> a change set for the us-east-1 global stack (when the stage has
one: the certificate of a custom domain, the CLOUDFRONT-scope web ACL) and one for the root, with
nested change sets -> both diffs, with values, outputs and IAM/security group tables -> refuse
what CloudFormation cannot do, stop what needs approval -> one confirmation -> execute the global
stack, then the root (re-planned only if the global stack's outputs changed) -> production
safeguards -> outputs.

A diff is read-only: it never creates the bootstrap stack or any stack; it uploads templates only
to an artifact bucket that already exists, and a stage that does not exist yet is shown from its
templates.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from infra.deploy import bootstrap
from infra.deploy.changeset import DEPLOY_NAME, DIFF_NAME
from infra.deploy.diff_render import render
from infra.deploy.manifest import Build, build_and_load
from infra.deploy.owner import CONFIG_TAG, check_owner, config_identity
from infra.deploy.package import Packaged, console_domain, package, quick_create_link
from infra.deploy.policy import enable_termination_protection, permissive_policy, protective_policy, set_policy
from infra.deploy.runner import CREATE, Plan, StackRunner, StackSpec
from infra.deploy.session import Aws, Target, aws_errors, aws_exceptions, error_message
from infra.deploy.stack_state import FAILED_CREATE, UPDATABLE, StackInfo, describe_stack, nested_stacks
from infra.deploy.ui import Ui
from infra.errors import DeployError

TEMPLATE_BODY_LIMIT = 51_200  # bytes CloudFormation accepts inline
PENDING_GLOBAL = "pending-global-stack"  # root parameter value in a plan before the global stack has it


@dataclass
class Options:
    config: Path
    out: Path
    target: Target
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
    if opts.target.region and aws.region != build.region and ui is not None:
        ui.warn(f"--region {aws.region}: working on {build.stack_name} in {aws.region}, not in the config's "
                f"region {build.region} ([project] region of {opts.config}). Omit --region to use the config's.")
    aws.check_credentials()
    aws.account_id()
    return build, aws


def stack_tags(build: Build, identity: str) -> dict[str, str]:
    return {**build.tags, CONFIG_TAG: identity}


# -- artifact bucket ------------------------------------------------------------------------------
def resolve_bucket(aws: Aws, ui: Ui, opts: Options) -> str:
    """--bucket as given, or the bootstrap stack's bucket (created or updated when needed)."""
    if opts.bucket:
        return opts.bucket
    body = bootstrap.template()
    spec = StackSpec(name=bootstrap.STACK_NAME, template=json.loads(body), parameters={},
                     tags={"ManagedBy": "serverless-infra"}, template_body=body)
    runner = StackRunner(aws, ui, spec, change_set_name=DEPLOY_NAME, timeout=opts.timeout)
    with aws_errors(f"preparing the bootstrap stack {bootstrap.STACK_NAME} in {aws.region}"):
        # It holds one retained bucket: recreating it after a failed create loses nothing.
        plan = runner.plan(recreate_failed=True)
        if not plan.no_changes:
            verb = "Creating" if plan.kind == CREATE else "Updating"
            ui.step(f"{verb} the bootstrap stack {bootstrap.STACK_NAME} (artifact bucket) in {aws.region}")
            try:
                runner.execute(plan)
            finally:
                runner.discard(plan)
        return bootstrap.bucket_name(aws.client("cloudformation"))


def existing_bucket(aws: Aws, opts: Options) -> str | None:
    """The artifact bucket if it exists already (--bucket must); None when there is none yet."""
    from infra.deploy.package import check_bucket

    with aws_errors(f"looking for the artifact bucket in {aws.region}"):
        if opts.bucket:
            check_bucket(aws.client("s3"), opts.bucket, aws.region)
            return opts.bucket
        info = describe_stack(aws.client("cloudformation"), bootstrap.STACK_NAME)
        if info is None or info.status not in UPDATABLE:
            return None
        return bootstrap.bucket_name(aws.client("cloudformation"))


# -- parameters, specs ----------------------------------------------------------------------------
def root_parameters(build: Build, bucket: str, from_global: dict[str, str] | None) -> dict[str, str]:
    """Every root parameter: AssetBucket, and those filled from the global stack's outputs
    (`from_global`: root parameter -> value)."""
    glob = build.global_stack
    filled = set(glob.outputs.values()) if glob else set()
    params: dict[str, str] = {}
    for key in build.root_parameters:
        if key == "AssetBucket":
            params[key] = bucket
        elif key in filled:
            assert glob is not None
            value = (from_global or {}).get(key)
            if value is None:
                raise DeployError(f"Root parameter {key} needs an output of {glob.label}, which is not available.")
            params[key] = value
        else:
            known = ", ".join(["AssetBucket", *sorted(filled)])
            raise DeployError(f"{build.directory / 'manifest.json'}: root parameter '{key}' is not one the "
                              f"deployer knows how to supply ({known}).")
    return params


def secret_parameters(template: dict) -> frozenset[str]:
    """Parameters declared NoEcho: their values are never shown."""
    return frozenset(k for k, v in (template.get("Parameters") or {}).items()
                     if str((v or {}).get("NoEcho", "")).lower() == "true")


def root_spec(build: Build, packaged: Packaged, parameters: dict[str, str], tags: dict[str, str]) -> StackSpec:
    expected = {build.stack_name: len(packaged.root_template.get("Resources", {}))}
    for lid, path in build.templates.items():
        expected[f"{build.stack_name}/{lid}"] = len(build.template(path).get("Resources", {}))
    return StackSpec(name=build.stack_name, template=packaged.root_template, parameters=parameters,
                     tags=tags, template_url=packaged.root_url, children=dict(build.templates),
                     expected=expected, secret_parameters=secret_parameters(packaged.root_template))


def local_root_spec(build: Build, parameters: dict[str, str], tags: dict[str, str]) -> StackSpec:
    """The root as generated (child TemplateURLs still local paths): for plans made from templates."""
    template = build.template(build.root_template)
    return StackSpec(name=build.stack_name, template=template, parameters=parameters, tags=tags,
                     children=dict(build.templates), secret_parameters=secret_parameters(template))


def global_spec(build: Build, tags: dict[str, str] | None = None) -> StackSpec:
    glob = build.global_stack
    assert glob is not None
    body = glob.template.read_text()
    if len(body.encode()) > TEMPLATE_BODY_LIMIT:
        raise DeployError(f"{glob.template}: the template of {glob.label} is over {TEMPLATE_BODY_LIMIT} bytes, "
                          "too large to send inline.")
    template = json.loads(body)
    return StackSpec(name=glob.stack_name, template=template, parameters={},
                     tags=build.tags if tags is None else tags, template_body=body,
                     secret_parameters=secret_parameters(template))


# -- showing ----------------------------------------------------------------------------------------
def show_plan(ui: Ui, plan: Plan, build: Build, region: str) -> None:
    if plan.no_changes or plan.diff is None:
        ui.success(f"{plan.spec.name}: no changes.")
        return
    verb = "create" if plan.kind == CREATE else "update"
    ui.show(render(plan.diff, f"Changes to {verb} {plan.spec.name} ({region})", build.stateful_types))


def changed(plan: Plan) -> bool:
    return not plan.no_changes and plan.diff is not None and not plan.diff.empty


# -- refusing what cannot or should not happen ------------------------------------------------------
def check_replacements(plan: Plan, build: Build, opts: Options) -> None:
    """Refuse what CloudFormation cannot do (replace a resource whose custom name stays), and
    stateful removals or replacements the user did not allow (--allow-removal)."""
    if plan.diff is None:
        return
    name = plan.spec.name
    impossible = [r for r in plan.diff.rows if r.replaces and r.custom_name]
    if impossible:
        listed = "; ".join(f"{r.stack} > {r.logical_id} ({r.resource_type} named {r.custom_name}, changing "
                           f"{', '.join(r.properties) or 'a property that replaces it'})" for r in impossible)
        raise DeployError(
            f"Refusing to deploy {name}: these changes replace resources that have a fixed name, which "
            f"CloudFormation cannot do (it creates the new resource before deleting the old one, and the name is "
            f"taken): {listed}. Keep that property as it is, or rename the resource in the config: a new one is "
            "created beside the old one, and the old one leaves the stack (kept in the account when it is "
            "retained; pass --allow-removal). To carry a production stage's data over, destroy it (its data is "
            "retained) and deploy again: deploy imports the retained resources. Nothing was changed.")
    risky = plan.diff.stateful_risks(build.stateful_types)
    if risky and not opts.allow_removal:
        listed = ", ".join(f"{r.stack} > {r.logical_id} ({r.resource_type}, "
                           f"{'removed' if r.action == 'Remove' else 'replaced'})" for r in risky)
        raise DeployError(
            f"Refusing to deploy {name}: the change set removes or replaces stateful resources: {listed}. "
            "A removed resource is deleted with its data (DeletionPolicy Delete) or left in the account outside "
            "the stack (Retain); a replaced one starts empty. Re-run with --allow-removal if that is intended; "
            "nothing was changed.")


def approve(ui: Ui, opts: Options, plans: list[Plan], region_of: dict[str, str], *, action: str = "Deploy") -> None:
    """One decision for every plan: the approval rule (--require-approval), then one question."""
    live = [p for p in plans if changed(p)]
    if not live:
        return
    broadening = [c for p in live for c in p.diff.broadening]  # type: ignore[union-attr]
    level = opts.require_approval
    needs_person = (level == "any") or (level == "broadening" and bool(broadening))
    names = " and ".join(f"{p.spec.name} ({region_of[p.spec.name]})" for p in live)
    if level == "never":
        return
    if ui.assume_yes:
        if not needs_person:
            return
        why = (f"it widens access ({len(broadening)} IAM statement or security group change(s) marked '!' above)"
               if level == "broadening" else "--require-approval any asks a person about every change")
        raise DeployError(
            f"Not deployed: {why}, and --yes cannot approve that (--require-approval {level}). Review the diff and "
            "deploy interactively, or pass --require-approval never where the diff is reviewed elsewhere. "
            "Nothing was changed.")
    question = f"{action} these changes to {names}?" if action == "Deploy" else f"{action}: {names}?"
    if broadening:
        question = (f"This deploy widens access ({len(broadening)} IAM statement or security group change(s) "
                    f"marked '!'). {question}")
    if not ui.confirm(question):
        raise DeployError(f"Nothing deployed to {names}: the changes were not confirmed (pass --yes to deploy "
                          "without the prompt). The change sets were deleted.")


# -- outputs --------------------------------------------------------------------------------------
def outputs_dict(info: StackInfo) -> dict[str, str]:
    return {o["OutputKey"]: o.get("OutputValue", "") for o in sorted(info.outputs, key=lambda o: o["OutputKey"])}


# -- production safeguards ------------------------------------------------------------------------
def protect(aws: Aws, ui: Ui, build: Build, info: StackInfo) -> None:
    """Termination protection on the root; stack policies on the root and every nested stack."""
    if not build.production:
        return
    cfn = aws.client("cloudformation")
    if build.termination_protection and not info.termination_protection:
        enable_termination_protection(aws, cfn, info.stack_id, ui, info.name)
    changed_ = set_policy(cfn, info.stack_id, protective_policy(build.stateful_types, root=True))
    nested = nested_stacks(cfn, info.stack_id, info.name)
    for child in nested:
        changed_ |= set_policy(cfn, child.physical_id, protective_policy(build.stateful_types))
    if changed_:
        ui.note(f"Stack policy denying replacement and deletion of stateful resources set on "
                f"{info.name} and its {len(nested)} nested stack(s).")


def relax(aws: Aws, info: StackInfo) -> None:
    """Allow every update for this run (--allow-removal in production)."""
    cfn = aws.client("cloudformation")
    body = permissive_policy()
    set_policy(cfn, info.stack_id, body)
    for child in nested_stacks(cfn, info.stack_id, info.name):
        set_policy(cfn, child.physical_id, body)


# -- one stack: execute ----------------------------------------------------------------------------
def apply(aws: Aws, ui: Ui, build: Build, runner: StackRunner, plan: Plan, *, protected: bool) -> StackInfo:
    """Execute an approved plan; the stack's info afterwards."""
    cfn = aws.client("cloudformation")
    if not changed(plan):
        info = describe_stack(cfn, plan.spec.name)
        assert info is not None
        return info
    assert plan.diff is not None
    relaxed = False
    try:
        risky = plan.diff.stateful_risks(build.stateful_types)
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


# -- commands -----------------------------------------------------------------------------------------
def run_package(opts: Options, ui: Ui) -> Packaged:
    build, aws = open_stage(opts, ui)
    bucket = resolve_bucket(aws, ui, opts)
    with aws_errors(f"packaging {build.name} to s3://{bucket}"):
        ui.step(f"Packaging {build.name} to s3://{bucket} ({aws.region})")
        packaged = package(build, aws, bucket)
    ui.say(f"Uploaded {len(packaged.uploaded)} object(s), {len(packaged.skipped)} already present.")
    ui.say(f"Console-ready root template: {packaged.root_file}")
    ui.say(f"Template URL: {packaged.root_url}")
    params = root_parameters_for_console(build, bucket)
    if build.global_stack:
        glob = build.global_stack
        ui.say(f"1. First create {glob.label}; a certificate in it completes only once its DNS "
               "validation record resolves:")
        if glob.region == aws.region:
            ui.say(quick_create_link(glob.region, glob.stack_name, upload_global_template(aws, build, bucket), {}))
        else:
            ui.say(f"   https://{console_domain(glob.region)}/cloudformation/home?region={glob.region}#/stacks/create"
                   f" -> Upload a template file -> {glob.template}")
        ui.say(f"2. Then create {build.stack_name}, pasting each output of {glob.stack_name} into the root "
               "parameter named here:")
        for output, parameter in sorted(glob.outputs.items()):
            ui.say(f"   output {output} -> parameter {parameter}")
    ui.say("Quick-create link (CloudFormation console; tick the IAM capability boxes, then Create stack):")
    ui.say(quick_create_link(aws.region, build.stack_name, packaged.root_url, params))
    return packaged


def root_parameters_for_console(build: Build, bucket: str) -> dict[str, str]:
    return {k: bucket for k in build.root_parameters if k == "AssetBucket"}


def upload_global_template(aws: Aws, build: Build, bucket: str) -> str:
    from infra.deploy.package import s3_url, sha256

    glob = build.global_stack
    assert glob is not None
    data = glob.template.read_bytes()
    key = f"templates/{sha256(data)}.json"
    with aws_errors(f"uploading the template of {glob.label} to s3://{bucket}"):
        aws.client("s3").put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/json")
    return s3_url(bucket, aws.region, key, aws.partition_suffix)


@dataclass
class Stage:
    """One stage's stacks as they are now: what the plan starts from."""

    build: Build
    aws: Aws
    identity: str
    root: StackInfo | None = None
    global_aws: Aws | None = None
    global_info: StackInfo | None = None
    runners: list[tuple[StackRunner, Plan]] = field(default_factory=list)

    @property
    def tags(self) -> dict[str, str]:
        return stack_tags(self.build, self.identity)

    def discard(self) -> None:
        for runner, plan in self.runners:
            try:
                runner.discard(plan)
            except aws_exceptions():
                pass


def read_stage(build: Build, aws: Aws, ui: Ui, opts: Options, *, action: str, refuse: bool) -> Stage:
    """The stage's stacks now, and who owns them (the config tag)."""
    stage = Stage(build, aws, config_identity(opts.config))
    with aws_errors(f"reading {build.stack_name} in {aws.region}"):
        stage.root = describe_stack(aws.client("cloudformation"), build.stack_name)
    check_owner(stage.root, stage.identity, ui, force=opts.force, action=action, refuse=refuse)
    if build.global_stack:
        glob = build.global_stack
        stage.global_aws = aws.in_region(glob.region)
        with aws_errors(f"reading {glob.label}"):
            stage.global_info = describe_stack(stage.global_aws.client("cloudformation"), glob.stack_name)
        check_owner(stage.global_info, stage.identity, ui, force=opts.force, action=action, refuse=refuse)
    return stage


def global_values(build: Build, info: StackInfo | None, *, final: bool) -> tuple[dict[str, str], list[str]]:
    """Root parameter -> value of the global stack output mapped to it; and the parameters still
    pending (the output does not exist yet). `final`: a missing output is an error."""
    glob = build.global_stack
    assert glob is not None
    have = outputs_dict(info) if info is not None else {}
    values: dict[str, str] = {}
    pending: list[str] = []
    for output, parameter in sorted(glob.outputs.items()):
        value = have.get(output)
        if value:
            values[parameter] = value
        elif final:
            raise DeployError(f"The {glob.region} stack {glob.stack_name} has no output {output} (for root "
                              f"parameter {parameter}); regenerate the templates or check the stack in the console.")
        else:
            values[parameter] = PENDING_GLOBAL
            pending.append(parameter)
    return values, pending


def note_pending(ui: Ui, build: Build, pending: list[str]) -> None:
    if pending and build.global_stack:
        ui.note(f"{build.global_stack.stack_name} does not have the outputs for {', '.join(pending)} yet: the root "
                "plan uses a placeholder for them until it is deployed.")


def run_diff(opts: Options, ui: Ui) -> bool:
    """Show what a deploy would change; True when anything would."""
    from infra.deploy.adopt import find_retained, show_imports

    build, aws = open_stage(opts, ui)
    stage = read_stage(build, aws, ui, opts, action="diff", refuse=False)
    plans: list[Plan] = []
    try:
        imports = None
        if opts.import_retained and (stage.root is None or stage.root.status == "REVIEW_IN_PROGRESS"):
            imports = find_retained(build, aws, ui)
            show_imports(ui, imports)
        from_global: dict[str, str] | None = None
        if build.global_stack:
            gplan = diff_global(stage, ui, opts)
            plans.append(gplan)
            from_global, pending = global_values(build, stage.global_info, final=False)
            note_pending(ui, build, pending)
        plans.append(diff_root(stage, ui, opts, from_global))
    finally:
        stage.discard()
    return any(changed(p) for p in plans) or bool(imports and imports.found)


def diff_global(stage: Stage, ui: Ui, opts: Options) -> Plan:
    build, glob = stage.build, stage.build.global_stack
    assert glob is not None and stage.global_aws is not None
    runner = StackRunner(stage.global_aws, ui, global_spec(build, stage.tags), change_set_name=DIFF_NAME,
                         timeout=opts.timeout)
    ui.step(f"Global stack {glob.stack_name} ({glob.region}; {glob.purpose})")
    with aws_errors(f"diffing {glob.label}"):
        if stage.global_info is None or stage.global_info.status == "REVIEW_IN_PROGRESS":
            plan = runner.plan_locally()
            ui.note(f"{glob.stack_name} does not exist yet: everything in it is new.")
        else:
            plan = runner.plan(read_only=True)
            stage.runners.append((runner, plan))
        show_plan(ui, plan, build, glob.region)
    return plan


def diff_root(stage: Stage, ui: Ui, opts: Options, from_global: dict[str, str] | None) -> Plan:
    build, aws = stage.build, stage.aws
    new_stack = stage.root is None or stage.root.status == "REVIEW_IN_PROGRESS"
    bucket = existing_bucket(aws, opts)
    if new_stack or bucket is None:
        params = root_parameters(build, bucket or "(artifact bucket)", from_global)
        runner = StackRunner(aws, ui, local_root_spec(build, params, stage.tags), change_set_name=DIFF_NAME)
        ui.step(f"Plan for {build.stack_name} ({aws.region}), from the templates")
        if new_stack:
            ui.note(f"{build.stack_name} does not exist yet: everything in it is new (no change set was created).")
        else:
            ui.note("No artifact bucket exists yet, so no change set can be made: the plan compares the deployed "
                    "templates with the generated ones (nothing was uploaded or created).")
        with aws_errors(f"computing the diff of {build.stack_name} in {aws.region}"):
            plan = runner.plan_locally()
        show_plan(ui, plan, build, aws.region)
        return plan
    with aws_errors(f"uploading the templates of {build.name} to s3://{bucket}"):
        packaged = package(build, aws, bucket, assets=False)
    ui.note(f"A change set needs the templates in S3: {len(packaged.uploaded)} uploaded to the existing artifact "
            f"bucket s3://{bucket}, {len(packaged.skipped)} already there (nothing else is written).")
    spec = root_spec(build, packaged, root_parameters(build, bucket, from_global), stage.tags)
    runner = StackRunner(aws, ui, spec, change_set_name=DIFF_NAME, timeout=opts.timeout)
    with aws_errors(f"computing the diff of {build.stack_name} in {aws.region}"):
        ui.step(f"Change set for {build.stack_name} ({aws.region}), not executed")
        plan = runner.plan(read_only=True)
        stage.runners.append((runner, plan))
        show_plan(ui, plan, build, aws.region)
    return plan


def run_deploy(opts: Options, ui: Ui) -> StackInfo:
    from infra.deploy.adopt import deploy_with_imports, find_retained
    from infra.deploy.preflight import preflight_before_deploy

    build, aws = open_stage(opts, ui)
    stage = read_stage(build, aws, ui, opts, action="deploy", refuse=True)
    if opts.recreate_failed:
        remove_failed_creates(stage, ui, opts)
    creating = stage.root is None or stage.root.status == "REVIEW_IN_PROGRESS"
    imports = find_retained(build, aws, ui) if opts.import_retained and creating else None
    preflight_before_deploy(build, aws, ui, opts, imports)
    if imports is not None and imports.found:
        info = deploy_with_imports(stage, ui, opts, imports)
    else:
        info = deploy_planned(stage, ui, opts)
    finish(stage, ui, opts, info)
    record_placement(opts, build, ui)
    return info


def record_placement(opts: Options, build: Build, ui: Ui) -> None:
    """The stage now holds what the generated placement says: record it in the config's lock file
    (only `templates` and a deploy that succeeded write it; diff and the others only read it)."""
    from infra.build import write_placement
    from infra.placement import lock_path

    from infra.errors import UserError

    placement = build.raw.get("placement")
    if not isinstance(placement, dict):
        return
    try:
        if write_placement(opts.config, placement):
            ui.note(f"Recorded where each resource is deployed in {lock_path(opts.config)} (commit it).")
    except UserError as exc:  # the stage is deployed: say what is left to do, do not fail the deploy
        ui.warn(f"{exc} Then run `python generate.py templates --config {opts.config}` to record the placement.")


def remove_failed_creates(stage: Stage, ui: Ui, opts: Options) -> None:
    """--recreate-failed: delete stacks whose first creation failed (ROLLBACK_COMPLETE) before
    planning, so that what their creation retained is found and imported like after a destroy."""
    targets = [(stage.aws, stage.root, "root")]
    if stage.global_aws is not None:
        targets.append((stage.global_aws, stage.global_info, "global"))
    for aws, info, which in targets:
        if info is None or info.status not in FAILED_CREATE:
            continue
        spec = StackSpec(name=info.name, template={}, parameters={}, tags={})
        with aws_errors(f"deleting {info.name} ({info.status}) in {aws.region}"):
            StackRunner(aws, ui, spec, change_set_name=DEPLOY_NAME, timeout=opts.timeout).ready(
                recreate_failed=True, read_only=False)
        if which == "root":
            stage.root = None
        else:
            stage.global_info = None


def plan_global(stage: Stage, ui: Ui, opts: Options) -> tuple[StackRunner, Plan]:
    glob = stage.build.global_stack
    assert glob is not None and stage.global_aws is not None
    runner = StackRunner(stage.global_aws, ui, global_spec(stage.build, stage.tags), change_set_name=DEPLOY_NAME,
                         timeout=opts.timeout)
    ui.step(f"Global stack {glob.stack_name} ({glob.region}; {glob.purpose})")
    with aws_errors(f"planning {glob.label}"):
        plan = runner.plan(recreate_failed=opts.recreate_failed)
    stage.runners.append((runner, plan))
    return runner, plan


def plan_root(stage: Stage, ui: Ui, opts: Options, bucket: str, from_global: dict[str, str] | None,
              packaged: Packaged) -> tuple[StackRunner, Plan]:
    build, aws = stage.build, stage.aws
    spec = root_spec(build, packaged, root_parameters(build, bucket, from_global), stage.tags)
    runner = StackRunner(aws, ui, spec, change_set_name=DEPLOY_NAME, timeout=opts.timeout)
    with aws_errors(f"planning {build.stack_name} in {aws.region}"):
        ui.step(f"Change set for {build.stack_name} ({aws.region})")
        plan = runner.plan(recreate_failed=opts.recreate_failed)
    stage.runners.append((runner, plan))
    return runner, plan


def package_root(stage: Stage, ui: Ui, opts: Options) -> tuple[str, Packaged]:
    build, aws = stage.build, stage.aws
    bucket = resolve_bucket(aws, ui, opts)
    with aws_errors(f"packaging {build.name} to s3://{bucket}"):
        ui.step(f"Packaging {build.name} to s3://{bucket} ({aws.region})")
        packaged = package(build, aws, bucket)
        ui.note(f"{len(packaged.uploaded)} object(s) uploaded, {len(packaged.skipped)} already present; "
                f"root template {packaged.root_url}")
    return bucket, packaged


def same_changes(a: Plan, b: Plan) -> bool:
    """Two plans of one stack change the same resources the same way (values of parameters aside)."""
    def key(plan: Plan) -> tuple[set, set]:
        diff = plan.diff
        if diff is None or plan.no_changes:
            return set(), set()
        rows = {(r.stack, r.action, r.logical_id, r.resource_type, r.replaces) for r in diff.rows}
        return rows, {(c.sign, c.stack, c.resource, c.item) for c in diff.security}
    return key(a) == key(b)


def deploy_planned(stage: Stage, ui: Ui, opts: Options, *, approved: bool = False) -> StackInfo:
    """Plan the global stack and the root, show both, ask once, then deploy them in order.

    `approved`: the person (or the approval rule) already said yes to this deploy (after imports);
    what CloudFormation cannot do, or removals not allowed, still stop it.
    """
    build, aws = stage.build, stage.aws
    region_of = {build.stack_name: aws.region}
    try:
        gplan = None
        from_global = None
        if build.global_stack:
            grunner, gplan = plan_global(stage, ui, opts)
            region_of[gplan.spec.name] = build.global_stack.region
            from_global, pending = global_values(build, stage.global_info, final=False)
            note_pending(ui, build, pending)
        bucket, packaged = package_root(stage, ui, opts)
        rrunner, rplan = plan_root(stage, ui, opts, bucket, from_global, packaged)
        plans = [p for p in (gplan, rplan) if p is not None]
        for plan in plans:
            show_plan(ui, plan, build, region_of[plan.spec.name])
        for plan in plans:
            check_replacements(plan, build, opts)
        if not approved:
            approve(ui, opts, plans, region_of)
        if gplan is not None and build.global_stack:
            ginfo = apply(stage.global_aws, ui, build, grunner, gplan, protected=False)  # type: ignore[arg-type]
            final, _ = global_values(build, ginfo, final=True)
            if final != from_global:
                ui.note(f"{build.global_stack.stack_name}'s outputs are known now: planning {build.stack_name} again "
                        "with them.")
                rrunner.discard(rplan)
                rrunner, replanned = plan_root(stage, ui, opts, bucket, final, packaged)
                if not same_changes(rplan, replanned):
                    show_plan(ui, replanned, build, aws.region)
                    check_replacements(replanned, build, opts)
                    if not approved:
                        approve(ui, opts, [replanned], region_of)
                rplan = replanned
        with aws_errors(f"deploying {build.stack_name} in {aws.region}"):
            return apply(aws, ui, build, rrunner, rplan, protected=True)
    finally:
        stage.discard()


def finish(stage: Stage, ui: Ui, opts: Options, info: StackInfo) -> None:
    """Production safeguards, then the outputs (and --outputs-file)."""
    from infra.deploy.outputs import read_outputs, show_outputs

    build, aws = stage.build, stage.aws
    with aws_errors(f"protecting {build.stack_name} in {aws.region}"):
        protect(aws, ui, build, info)
    with aws_errors(f"reading the outputs of {build.stack_name} in {aws.region}"):
        outputs = read_outputs(aws, ui, info, root_only=False)
    show_outputs(ui, outputs, title=f"Outputs of {info.name}")
    if opts.outputs_file:
        write_outputs(opts.outputs_file, outputs)
        ui.note(f"Outputs written to {opts.outputs_file}")


def write_outputs(path: Path, outputs: dict[str, str]) -> None:
    """--outputs-file: one flat JSON object; "-" is standard output, a link is written through."""
    from infra.render import write_output

    try:
        write_output(path, (json.dumps(outputs, indent=2, sort_keys=True) + "\n").encode())
    except OSError as exc:
        raise DeployError(f"Could not write the outputs to {path}: {exc.strerror or exc}.") from None
