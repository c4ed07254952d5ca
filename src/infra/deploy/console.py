"""The package command: everything the CloudFormation console needs to create the stage by hand.

The handler zips and templates go to the artifact bucket (--bucket, or the bootstrap stack's,
created or updated when needed: it also sets API Gateway's CloudWatch Logs role for the account
and region, which the console path needs as much as a deploy does), the console-ready root
template is written and uploaded, and a quick-create link is printed (two for a stage with a
us-east-1 stack, in the order they must be created).
"""
from __future__ import annotations

from infra.deploy.execution import Run
from infra.deploy.package import Packaged, console_domain, quick_create_link, upload_file
from infra.deploy.checks import check_plan
from infra.deploy.planner import PlanOptions, plan_deploy
from infra.deploy.session import aws_errors
from infra.deploy.specs import console_parameters
from infra.deploy.stack_steps import execute_bootstrap, execute_package
from infra.deploy.stage import Options, open_stage, read_stage
from infra.deploy.steps import Bootstrap, DeployPlan, Package
from infra.deploy.ui import Ui
from infra.errors import DeployError, first_few


def run_package(opts: Options, ui: Ui) -> Packaged:
    build, aws = open_stage(opts, ui)
    stage = read_stage(build, aws, ui, opts, action="package", refuse=False, find_imports=True, artifacts=True)
    planned = plan_deploy(build, stage.state, PlanOptions(opts.bucket, None, str(opts.config)))
    # What deploy checks before any change set, checked before the console is handed the stage:
    # a console deploy would fail (or wait on a certificate forever) on what they find.
    check_plan(build, aws, ui, opts.skip_checks, stage.state.imports, planned, deploying=True)
    found = stage.state.imports.all() if stage.state.imports else []
    if found:   # deploy imports them first; a stack created from the console creates them, and fails
        names = first_few([f"{f.candidate.name} ({f.candidate.label} > {f.candidate.logical_id})" for f in found])
        raise DeployError(f"This stage's retained resources exist in the account ({names}): a stack created from the "
                          "console would try to create them again and fail. Deploy it with `python generate.py "
                          f"deploy --config {opts.config}`, which imports them first; nothing was uploaded.")
    # Only the steps that make the artifacts: the bootstrap stack (when needed) and the upload.
    steps = tuple(s for s in planned if isinstance(s, (Bootstrap, Package)))
    run = Run(stage, ui, DeployPlan(planned.stage, planned.region, steps))
    for step in steps:
        if isinstance(step, Bootstrap):
            execute_bootstrap(run, step)
        else:
            execute_package(run, step)
    packaged = run.packaged
    if packaged is None:
        raise DeployError(f"{build.name} was not packaged.")
    bucket = packaged.bucket
    # The upload count was said by the package step itself.
    ui.say(f"Console-ready root template: {packaged.root_file}")
    ui.say(f"Template URL: {packaged.root_url}")
    params = console_parameters(build, bucket)
    if build.global_stack:
        glob = build.global_stack
        has_certificate = "AWS::CertificateManager::Certificate" in glob.template.read_text()
        ui.say(f"1. First create {glob.label}" + ("; a certificate in it completes only once its DNS validation "
                                                   "record resolves:" if has_certificate else ":"))
        if glob.region == aws.region:
            with aws_errors(f"uploading the template of {glob.label} to s3://{bucket}"):
                url = upload_file(aws, bucket, glob.template)
            ui.say(quick_create_link(glob.region, glob.stack_name, url, {}))
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
