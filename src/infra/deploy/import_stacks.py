"""What the import steps do: IMPORT change sets that create stacks from the resources a stage retained.

The steps come from the planner (`infra.deploy.importing` computes their templates); here they run,
each through the stack runner, and never call back into the deploy flow: the steps after them
(deploy the global stack, deploy the root) bring every stack to its generated template. A run that
stops half way is resumed by the next one: stacks an earlier import made are found and reused.
"""
from __future__ import annotations

import json

from infra.deploy.changeset import IMPORT_NAME
from infra.deploy.execution import Run
from infra.deploy.importing import root_import_template
from infra.deploy.package import upload_template
from infra.deploy.runner import StackRunner, StackSpec
from infra.deploy.session import Aws, aws_errors
from infra.deploy.stack_state import StackInfo
from infra.deploy.stacks import describe_stack
from infra.deploy.steps import ImportRoot, ImportStack
from infra.deploy.ui import Ui

READY = {"IMPORT_COMPLETE", "UPDATE_COMPLETE", "CREATE_COMPLETE", "IMPORT_ROLLBACK_COMPLETE"}


def preview_imports(run: Run, step: ImportRoot | ImportStack) -> None:
    """The stacks' plans mark the imported resources Import; the approval covers the import."""
    run.other_changes.append(step.describe())


def import_standalone(aws: Aws, ui: Ui, spec: StackSpec, resources: list[dict[str, object]],
                      timeout: float | None) -> StackInfo:
    """Create stack `spec.name` from existing resources with an IMPORT change set (or find it made already)."""
    info = describe_stack(aws.client("cloudformation"), spec.name)
    if info is not None and info.status in READY:
        ui.note(f"{spec.name} exists already ({info.status}, from an earlier import): reusing it.")
        return info
    runner = StackRunner(aws, ui, spec, change_set_name=IMPORT_NAME, timeout=timeout)
    ui.step(f"Importing {len(resources)} retained resource(s) into {spec.name} ({aws.region})")
    return runner.run_import(resources)


def execute_import_stack(run: Run, step: ImportStack) -> None:
    """A child of the root (its template in the artifact bucket), or the global stack (inline)."""
    resources = [f.to_import() for f in step.found]
    if step.child is None:
        aws = run.global_aws
        spec = StackSpec(name=step.stack_name, template=step.template, parameters={}, tags=step.tags,
                         template_body=json.dumps(step.template, indent=2, sort_keys=True) + "\n")
        with aws_errors(f"importing the retained resources of {step.stack_name} ({step.region})"):
            run.state.global_info = import_standalone(aws, run.ui, spec, resources, run.opts.timeout)
        return
    aws, bucket = run.aws, run.artifact_bucket()
    with aws_errors(f"importing the retained resources of {run.build.stack_name}/{step.child}"):
        url = upload_template(aws, bucket, step.template)
        spec = StackSpec(name=step.stack_name, template=step.template, parameters={}, tags=step.tags, template_url=url)
        info = import_standalone(aws, run.ui, spec, resources, run.opts.timeout)
    run.imported[step.child] = (url, info.stack_id)


def execute_import_root(run: Run, step: ImportRoot) -> None:
    """The root, importing the stacks made by the ImportStack steps (nested) and its own retained resources."""
    build, aws = run.build, run.aws
    template, to_import = root_import_template(build, {c: run.imported[c] for c in step.children}, list(step.found))
    with aws_errors(f"importing into {build.stack_name} in {aws.region}"):
        url = upload_template(aws, run.artifact_bucket(), template)
        spec = StackSpec(name=build.stack_name, template=template, parameters={}, tags=run.stage.tags, template_url=url)
        runner = StackRunner(aws, run.ui, spec, change_set_name=IMPORT_NAME, timeout=run.opts.timeout)
        run.ui.step(f"Importing {len(to_import)} stack(s) and resource(s) into {build.stack_name} ({aws.region})")
        run.state.root = runner.run_import(to_import)
    run.ui.step(f"Bringing {build.stack_name} to the generated templates")
