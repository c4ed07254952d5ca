"""The deploy plan: from the build, the stage's state and the options, an ordered list of steps.

Pure: no AWS call, no file written (it reads the generated templates). Like Sceptre's
`SceptrePlan`, the plan is made first and then handed to an executor (`infra.deploy.executor`);
`diff` is the same plan, previewed and never executed; the preflight checks validate it; one
approval covers all of it.

The order, each step only when it applies:
  bootstrap (create or update the region's bootstrap stack)
  package (before the approval when the artifact bucket exists, so the plan shows real change sets)
  import retained resources (the us-east-1 stack's, each child's, then the root nesting them)
  package (after the bootstrap stack made the bucket)
  deploy the us-east-1 global stack
  refactor (move resources between nested stacks), then record the new placement in the lock
  plan the root again (its change set was made before the global stack's outputs or the refactor)
  deploy the root
  record the placement of a stage created in this deploy, and any placement the lock lacks
  protect (production: termination protection, stack policies)
  outputs
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from infra.deploy.bootstrap import STACK_NAME as BOOTSTRAP_STACK
from infra.deploy.bootstrap import logs_api_gateway
from infra.deploy.importing import by_child, child_import, import_template
from infra.deploy.manifest import Build
from infra.deploy.moves import plan_refactor
from infra.deploy.state import StageState, global_values
from infra.deploy.steps import (Bootstrap, DeployGlobal, DeployPlan, DeployRoot, ImportRoot, ImportStack, Outputs,
                                Package, Protect, RecordPlacement, ReplanRoot, Step)

ARTIFACT_BUCKET = "artifact bucket"
API_LOGGING_ROLE = "API Gateway's CloudWatch Logs role"


@dataclass(frozen=True)
class PlanOptions:
    """What the command line decides about the plan."""

    bucket: str | None = None           # --bucket: artifacts go there, not to the bootstrap bucket
    outputs_file: Path | None = None
    config: str = ""                    # the config file, named in refusals


def bootstrap_needs(build: Build, options: PlanOptions) -> tuple[str, ...]:
    """What this stage needs from the region's bootstrap stack."""
    needs: list[str] = []
    if options.bucket is None:
        needs.append(ARTIFACT_BUCKET)
    templates = [build.template(build.root_template), *(build.template(p) for p in build.templates.values())]
    if logs_api_gateway(templates):
        needs.append(API_LOGGING_ROLE)
    return tuple(needs)


def plan_deploy(build: Build, state: StageState, options: PlanOptions) -> DeployPlan:
    """The steps that bring the stage from `state` to the build."""
    steps: list[Step] = []
    notes: list[str] = []
    needs = bootstrap_needs(build, options)
    if needs and not state.bootstrap.current:
        steps.append(Bootstrap(BOOTSTRAP_STACK, state.region, not state.bootstrap.exists, needs))
    bucket_ready = state.bucket is not None
    package = Package(options.bucket, bucket_ready)
    if bucket_ready:
        steps.append(package)
    steps += import_steps(build, state)
    if not bucket_ready:
        steps.append(package)
    glob = build.global_stack
    if glob is not None:
        steps.append(DeployGlobal(glob.stack_name, glob.region))
        _, missing = global_values(build, state.global_info, final=False)
        if missing:
            notes.append(f"{glob.stack_name} does not have the outputs for {', '.join(missing)} yet: the root plan "
                         "uses a placeholder for them until it is deployed.")
    refactor, record = plan_refactor(build, state, options.config)
    if refactor is not None:
        steps.append(refactor)
        if record is not None:
            steps.append(record)
    after = tuple(reason for reason, applies in (("global-outputs", glob is not None), ("refactor", refactor is not None))
                  if applies)
    if after:
        steps.append(ReplanRoot(after))
    steps.append(DeployRoot(build.stack_name, state.region))
    if refactor is None and record is not None:
        steps.append(record)
    deployed = placement_record(build, state, record)
    if deployed is not None:
        steps.append(deployed)
    if build.production:
        steps.append(Protect(build.stack_name))
    steps.append(Outputs(options.outputs_file))
    return DeployPlan(build.stack_name, state.region, tuple(steps), tuple(notes))


def placement_record(build: Build, state: StageState, moves: RecordPlacement | None) -> RecordPlacement | None:
    """After the root's deploy, the lock records the placement the stage then has, when it does not
    already (a new stage, new bundles, removed ones): only `templates` and a deploy write the lock."""
    if state.lock_file is None:
        return None
    after = {**state.lock, **dict(moves.entries)} if moves is not None else dict(state.lock)
    if after == build.placement:
        return None
    return RecordPlacement(state.lock_file, tuple(sorted(build.placement.items())), complete=True)


def import_steps(build: Build, state: StageState) -> list[Step]:
    """IMPORT change sets for the retained resources found: they produce steps, nothing runs here."""
    imports = state.imports
    if not imports:
        return []
    steps: list[Step] = []
    glob = build.global_stack
    if imports.global_found and glob is not None:
        reduced = import_template(build.template(glob.template), [f.candidate.logical_id for f in imports.global_found],
                                  f"{glob.stack_name}: retained resources, imported")
        steps.append(ImportStack(glob.stack_name, glob.region, None, reduced, dict(state.tags),
                                 tuple(imports.global_found)))
    groups = by_child(imports.found)
    children = sorted(child for child in groups if child is not None)
    for child in children:
        reduced, tags = child_import(build, child, groups[child])
        steps.append(ImportStack(f"{build.stack_name}-{child}", state.region, child, reduced, tags,
                                 tuple(groups[child])))
    if imports.found:
        steps.append(ImportRoot(build.stack_name, tuple(children), tuple(groups.get(None, []))))
    return steps
