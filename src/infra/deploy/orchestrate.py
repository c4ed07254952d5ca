"""The package, diff, deploy and outputs commands, end to end.

Order of a deploy: generate (the lead's `build_config`) -> the global stack in us-east-1 when the
stage has one (what CloudFront takes only from us-east-1: the certificate of a custom domain, the
CLOUDFRONT-scope web ACL; each of its mapped outputs becomes a root parameter) -> artifact bucket
(--bucket, or the bootstrap stack) -> package -> compare with what is deployed ("no changes" stops here) -> change
set with nested change sets -> diff -> refuse stateful replacements unless allowed -> confirm ->
execute with live events -> production safeguards -> outputs.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from infra.deploy import bootstrap
from infra.deploy.changeset import DEPLOY_NAME, DIFF_NAME
from infra.deploy.diff_render import render
from infra.deploy.manifest import Build, build_and_load
from infra.deploy.package import Packaged, console_domain, package, quick_create_link, write_atomic
from infra.deploy.policy import enable_termination_protection, permissive_policy, protective_policy, set_policy
from infra.deploy.runner import CREATE, Plan, StackRunner, StackSpec
from infra.deploy.session import Aws, Target, aws_errors, aws_exceptions, error_message
from infra.deploy.stack_state import StackInfo, describe_stack, nested_stacks
from infra.deploy.ui import Ui
from infra.errors import DeployError

TEMPLATE_BODY_LIMIT = 51_200  # bytes CloudFormation accepts inline
PENDING_GLOBAL = "pending-global-stack"  # root parameter value in a diff before the global stack exists


@dataclass
class Options:
    config: Path
    out: Path
    target: Target
    bucket: str | None = None
    yes: bool = False
    allow_replacement: bool = False
    recreate_failed: bool = False
    timeout: float | None = None
    outputs_file: Path | None = None


def open_stage(opts: Options) -> tuple[Build, Aws]:
    build = build_and_load(opts.config, opts.out)
    aws = Aws(opts.target, default_region=build.region)
    aws.check_credentials()
    return build, aws


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


def root_spec(build: Build, packaged: Packaged, parameters: dict[str, str]) -> StackSpec:
    expected = {build.stack_name: len(packaged.root_template.get("Resources", {}))}
    for lid, path in build.templates.items():
        expected[f"{build.stack_name}/{lid}"] = len(build.template(path).get("Resources", {}))
    return StackSpec(name=build.stack_name, template=packaged.root_template, parameters=parameters,
                     tags=build.tags, template_url=packaged.root_url, children=dict(build.templates),
                     expected=expected)


def global_spec(build: Build) -> StackSpec:
    glob = build.global_stack
    assert glob is not None
    body = glob.template.read_text()
    if len(body.encode()) > TEMPLATE_BODY_LIMIT:
        raise DeployError(f"{glob.template}: the template of {glob.label} is over {TEMPLATE_BODY_LIMIT} bytes, "
                          "too large to send inline.")
    return StackSpec(name=glob.stack_name, template=json.loads(body), parameters={}, tags=build.tags,
                     template_body=body)


# -- showing ----------------------------------------------------------------------------------------
def show_plan(ui: Ui, plan: Plan, build: Build, region: str) -> None:
    if plan.no_changes or plan.diff is None:
        ui.success(f"{plan.spec.name}: no changes.")
        return
    verb = "create" if plan.kind == CREATE else "update"
    ui.show(render(plan.diff, f"Changes to {verb} {plan.spec.name} ({region})", build.stateful_types))


def show_outputs(ui: Ui, info: StackInfo) -> None:
    from rich.table import Table

    if not info.outputs:
        ui.say(f"{info.name} has no outputs.")
        return
    table = Table(title=f"Outputs of {info.name}", title_justify="left")
    for col in ("Key", "Value", "Description"):
        table.add_column(col, overflow="fold")
    for out in sorted(info.outputs, key=lambda o: o["OutputKey"]):
        table.add_row(out["OutputKey"], str(out.get("OutputValue", "")), out.get("Description", "") or "")
    ui.show(table)


def outputs_dict(info: StackInfo) -> dict[str, str]:
    return {o["OutputKey"]: o.get("OutputValue", "") for o in sorted(info.outputs, key=lambda o: o["OutputKey"])}


def write_outputs(path: Path, info: StackInfo) -> None:
    write_atomic(path, (json.dumps(outputs_dict(info), indent=2, sort_keys=True) + "\n").encode())


# -- production safeguards ------------------------------------------------------------------------
def protect(aws: Aws, ui: Ui, build: Build, info: StackInfo) -> None:
    """Termination protection on the root; stack policies on the root and every nested stack."""
    if not build.production:
        return
    cfn = aws.client("cloudformation")
    if build.termination_protection and not info.termination_protection:
        enable_termination_protection(aws, cfn, info.stack_id, ui, info.name)
    changed = set_policy(cfn, info.stack_id, protective_policy(build.stateful_types, root=True))
    nested = nested_stacks(cfn, info.stack_id, info.name)
    for child in nested:
        changed |= set_policy(cfn, child.physical_id, protective_policy(build.stateful_types))
    if changed:
        ui.note(f"Stack policy denying replacement and deletion of stateful resources set on "
                f"{info.name} and its {len(nested)} nested stack(s).")


def relax(aws: Aws, info: StackInfo) -> None:
    """Allow every update for this run (--allow-replacement in production)."""
    cfn = aws.client("cloudformation")
    body = permissive_policy()
    set_policy(cfn, info.stack_id, body)
    for child in nested_stacks(cfn, info.stack_id, info.name):
        set_policy(cfn, child.physical_id, body)


# -- one stack: show, check, confirm, execute -------------------------------------------------------
def apply(aws: Aws, ui: Ui, build: Build, runner: StackRunner, plan: Plan, opts: Options, *,
          protected: bool) -> StackInfo:
    """Deploy a planned stack; its info afterwards."""
    cfn = aws.client("cloudformation")
    if plan.no_changes:
        ui.success(f"{plan.spec.name}: no changes.")
        info = describe_stack(cfn, plan.spec.name)
        assert info is not None
        return info
    relaxed = False
    try:
        show_plan(ui, plan, build, aws.region)
        assert plan.diff is not None
        risky = plan.diff.stateful_risks(build.stateful_types)
        if risky and not opts.allow_replacement:
            listed = ", ".join(f"{r.stack} > {r.logical_id} ({r.resource_type}{', removed' if r.action == 'Remove' else ''})"
                               for r in risky)
            raise DeployError(
                f"Refusing to deploy {plan.spec.name}: the change set replaces or removes stateful resources: "
                f"{listed}. Replacement creates new, empty resources, and the old ones are deleted (or left "
                "orphaned where retained). Re-run with --allow-replacement if that is intended; nothing was changed.")
        if not ui.confirm(f"Deploy these changes to {plan.spec.name} in {aws.region}?"):
            raise DeployError(f"Nothing deployed to {plan.spec.name}: the changes were not confirmed "
                              "(pass --yes to deploy without the prompt). The change set was deleted.")
        if risky and protected and build.production and plan.info is not None:
            ui.warn("--allow-replacement: lifting the stack policies for this deploy.")
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
    build, aws = open_stage(opts)
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
    from infra.deploy.package import sha256, s3_url

    glob = build.global_stack
    assert glob is not None
    data = glob.template.read_bytes()
    key = f"templates/{sha256(data)}.json"
    with aws_errors(f"uploading the template of {glob.label} to s3://{bucket}"):
        aws.client("s3").put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/json")
    return s3_url(bucket, aws.region, key, aws.partition_suffix)


def global_outputs(aws: Aws, ui: Ui, build: Build, opts: Options, *, execute: bool) -> dict[str, str]:
    """Deploy (or, execute=False, diff) the us-east-1 global stack; root parameter -> value of the
    output mapped to it.

    A diff executes nothing, so outputs the global stack does not have yet (it is new, or gains
    one with this change) are placeholders in the root's diff.
    """
    glob = build.global_stack
    assert glob is not None
    gaws = aws.in_region(glob.region)
    spec = global_spec(build)
    name = DEPLOY_NAME if execute else DIFF_NAME
    runner = StackRunner(gaws, ui, spec, change_set_name=name, timeout=opts.timeout)
    with aws_errors(f"{'deploying' if execute else 'diffing'} {glob.label}"):
        ui.step(f"Global stack {glob.stack_name} ({glob.region}; {glob.purpose})")
        plan = runner.plan(recreate_failed=opts.recreate_failed, read_only=not execute)
        if execute:
            info: StackInfo | None = apply(gaws, ui, build, runner, plan, opts, protected=False)
        else:
            try:
                show_plan(ui, plan, build, gaws.region)
            finally:
                runner.discard(plan)
            info = describe_stack(gaws.client("cloudformation"), spec.name)
    have = outputs_dict(info) if info is not None else {}
    values: dict[str, str] = {}
    pending: list[str] = []
    for output, parameter in sorted(glob.outputs.items()):
        value = have.get(output)
        if value:
            values[parameter] = value
        elif execute:
            raise DeployError(f"The {glob.region} stack {glob.stack_name} has no output {output} (for root "
                              f"parameter {parameter}); regenerate the templates or check the stack in the console.")
        else:
            values[parameter] = PENDING_GLOBAL
            pending.append(parameter)
    if pending:
        ui.note(f"{glob.stack_name} does not have the outputs for {', '.join(pending)} yet: the root diff "
                "uses a placeholder for them.")
    return values


def prepare_root(aws: Aws, ui: Ui, build: Build, opts: Options, from_global: dict[str, str] | None,
                 change_set_name: str) -> StackRunner:
    bucket = resolve_bucket(aws, ui, opts)
    with aws_errors(f"packaging {build.name} to s3://{bucket}"):
        ui.step(f"Packaging {build.name} to s3://{bucket} ({aws.region})")
        packaged = package(build, aws, bucket)
        ui.note(f"{len(packaged.uploaded)} object(s) uploaded, {len(packaged.skipped)} already present; "
                f"root template {packaged.root_url}")
    spec = root_spec(build, packaged, root_parameters(build, bucket, from_global))
    return StackRunner(aws, ui, spec, change_set_name=change_set_name, timeout=opts.timeout)


def run_diff(opts: Options, ui: Ui) -> None:
    build, aws = open_stage(opts)
    from_global = global_outputs(aws, ui, build, opts, execute=False) if build.global_stack else None
    runner = prepare_root(aws, ui, build, opts, from_global, DIFF_NAME)
    with aws_errors(f"computing the diff of {build.stack_name} in {aws.region}"):
        ui.step(f"Change set for {build.stack_name} ({aws.region}), not executed")
        plan = runner.plan(read_only=True)
        try:
            show_plan(ui, plan, build, aws.region)
        finally:
            runner.discard(plan)


def run_deploy(opts: Options, ui: Ui) -> StackInfo:
    build, aws = open_stage(opts)
    from_global = global_outputs(aws, ui, build, opts, execute=True) if build.global_stack else None
    runner = prepare_root(aws, ui, build, opts, from_global, DEPLOY_NAME)
    with aws_errors(f"deploying {build.stack_name} in {aws.region}"):
        ui.step(f"Change set for {build.stack_name} ({aws.region})")
        plan = runner.plan(recreate_failed=opts.recreate_failed)
        info = apply(aws, ui, build, runner, plan, opts, protected=True)
        protect(aws, ui, build, info)
    show_outputs(ui, info)
    if opts.outputs_file:
        write_outputs(opts.outputs_file, info)
        ui.note(f"Outputs written to {opts.outputs_file}")
    return info


def run_outputs(opts: Options, ui: Ui, *, as_json: bool = False) -> dict[str, str]:
    build, aws = open_stage(opts)
    with aws_errors(f"reading the outputs of {build.stack_name} in {aws.region}"):
        info = describe_stack(aws.client("cloudformation"), build.stack_name)
    if info is None:
        raise DeployError(f"Stack {build.stack_name} does not exist in {aws.region}; deploy it first.")
    if as_json:
        import click

        click.echo(json.dumps(outputs_dict(info), indent=2, sort_keys=True))
    else:
        show_outputs(ui, info)
    if opts.outputs_file:
        write_outputs(opts.outputs_file, info)
    return outputs_dict(info)
