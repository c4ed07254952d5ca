"""The sync command: what changed since the last deploy, applied outside CloudFormation when it may
be, or named and handed to a deploy when it may not.

1. Generate (the deployer's `build_and_load`); a production config is refused before any call.
2. Read the root stack: not deployed, busy or failed -> one sentence; termination protection ->
   refused like a production config.
3. Compare each nested template with the deployed one, unchanged ones by hash only (`deployed`).
4. Anything only a deploy can change -> named, then `run_deploy` (one call site, the deploy's own
   approval rule). Otherwise every update is prepared (values resolved) before the first is made,
   then applied: functions, then the API. What was applied is written to the ledger.
"""
from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.deploy import sync_ledger as ledger
from infra.deploy.manifest import Build, build_and_load
from infra.deploy.owner import check_owner, config_identity
from infra.deploy.session import Aws, Target, aws_errors, aws_exceptions
from infra.deploy.stack_state import UPDATABLE
from infra.deploy.stacks import describe_stack
from infra.deploy.stage import Options
from infra.deploy.ui import Ui
from infra.errors import DeployError, UsageError
from infra.sync.apply import (
    INLINE_ZIP_LIMIT,
    FunctionUpdate,
    PartlyApplied,
    Waiter,
    check_function,
    code_sha256,
    update_api,
    update_function,
)
from infra.sync.compare import (
    CONFIG_WORDS,
    DEPLOYMENT,
    FUNCTION,
    FUNCTION_CONFIG,
    REST_API,
    STAGE,
    ApiChange,
    Comparison,
    FunctionChange,
    compare_root,
    compare_stack,
    merge,
)
from infra.sync.deployed import DEFAULT_CACHE, DeployedStage, body
from infra.sync.resolve import (
    Unresolvable,
    needs_parameters,
    pseudo_parameters,
    resolve,
)

# What CloudFormation sets when a template leaves the property out (AWS::Lambda::Function reference).
LAMBDA_DEFAULTS: dict[str, Any] = {"MemorySize": 128, "Timeout": 3, "Environment": {"Variables": {}}}

SYNCED, NOTHING, DEPLOYED = "synced", "nothing", "deployed"


@dataclass
class SyncOptions:
    """What sync is run with: the deploy options a fallback honours, and where its cache is.
    (Its own small class: deploy's `Options` carries flags sync does not take.)"""

    config: Path
    out: Path
    target: Target
    bucket: str | None = None
    yes: bool = False
    timeout: float | None = None
    require_approval: str = "broadening"
    force: bool = False
    skip_checks: tuple[str, ...] = ()

    def deploy_options(self) -> Options:
        return Options(config=self.config, out=self.out, target=self.target, bucket=self.bucket, yes=self.yes,
                       timeout=self.timeout, require_approval=self.require_approval, force=self.force,
                       skip_checks=self.skip_checks)


@dataclass
class ApiUpdate:
    label: str
    stack: str
    logical_id: str
    rest_api_id: str
    document: dict[str, Any]
    parameters: dict[str, str]
    stage: str
    digest: str
    stage_stack: str = ""
    stage_logical_id: str = ""
    restoring: bool = False   # put back: the deployed document (an edit synced, then undone) ...
    restore_to: str = ""      # ... and the stage on CloudFormation's deployment ("": deployed anew)
    keep_stage: str = ""      # ... the stage already on it (a deploy pointed it back): left as it is if
                              # it is older than this sync deployment


@dataclass
class Prepared:
    functions: list[tuple[FunctionChange, FunctionUpdate]] = field(default_factory=list)
    api: ApiUpdate | None = None
    blockers: list[str] = field(default_factory=list)


def deploy_command(config: Path, target: Target | None = None) -> str:
    """The deploy command line for this stage, with the options that choose where it is (so that
    what a message suggests goes to the same emulator or region as the command that said it)."""
    words = ["python generate.py deploy --config", str(config)]
    if target is not None:
        words += [f"--{opt} {value}" for opt, value in (("region", target.region), ("profile", target.profile),
                                                        ("endpoint-url", target.endpoint_url)) if value]
    return " ".join(words)


def production_refusal(config: Path, stack: str, why: str, target: Target | None = None) -> UsageError:
    return UsageError(f"Refusing to sync {stack}: it is a production stage ({why}). sync changes code outside "
                      "CloudFormation, without a change set, approval or rollback, which a production stage must "
                      f"never get; run `{deploy_command(config, target)}` instead. Nothing was changed.")


def open_deployed(build: Build, aws: Aws, opts: SyncOptions, ui: Ui, cache_dir: Path) -> DeployedStage:
    """The deployed stage, or one sentence why sync cannot work on it."""
    with aws_errors(f"reading {build.stack_name} in {aws.region}"):
        root = describe_stack(aws.client("cloudformation"), build.stack_name)
    if root is None or root.status == "REVIEW_IN_PROGRESS":
        raise DeployError(f"{build.stack_name} is not deployed in {aws.region}: sync only updates a deployed stage. "
                          f"Run `{deploy_command(opts.config, opts.target)}` first.")
    if root.termination_protection:
        raise production_refusal(opts.config, build.stack_name, "its root stack has termination protection",
                                 opts.target)
    if root.busy:
        raise DeployError(f"{build.stack_name} is busy ({root.status}); run sync again when that operation ends.")
    if root.status not in UPDATABLE:
        raise DeployError(f"{build.stack_name} is in {root.status}, which only deploy can resolve; nothing was synced.")
    check_owner(root, config_identity(opts.config), ui, force=opts.force, action="sync")
    return DeployedStage(aws, build, root, cache_dir)


def compare(stage: DeployedStage, build: Build) -> Comparison:
    """Every difference between the deployed stage and the generated one (unchanged children by hash)."""
    name = build.stack_name
    deployed_root = stage.root_template()
    blockers = compare_root(name, deployed_root, build.template(build.root_template))
    parts = [Comparison(blockers=blockers)]
    deployed_children = set(deployed_root.get("Resources") or {})
    for child, path in sorted(build.templates.items()):
        if child not in deployed_children:
            continue
        key, generated = stage.generated_key(path)
        if key == stage.child_key(child):
            continue
        generated = generated if generated is not None else json.loads(path.read_bytes())
        parts.append(compare_stack(f"{name}/{child}", child, stage.child_template(child), generated))
    if build.global_stack:
        parts.append(Comparison(blockers=_global_blockers(stage.aws, build)))
    return merge(parts)


def _global_blockers(aws: Aws, build: Build) -> list[str]:
    glob = build.global_stack
    assert glob is not None
    cfn = aws.in_region(glob.region).client("cloudformation")
    info = describe_stack(cfn, glob.stack_name)
    if info is None:
        return [f"the {glob.region} stack {glob.stack_name} is not deployed"]
    deployed = body(cfn.get_template(StackName=info.stack_id, TemplateStage="Original"))
    return [] if deployed == json.loads(glob.template.read_bytes()) else [f"{glob.label} changed"]


def prepare(stage: DeployedStage, build: Build, comparison: Comparison,
            entries: dict[str, dict[str, Any]] | None = None) -> Prepared:
    """Every update with its values resolved, before any is made; what cannot be resolved is a blocker.

    `entries` (the ledger): what an earlier sync already made live over the same deployed template
    is not sent again, so a stage pays only for what changed since the last sync. With a blocker
    (from the comparison, or found here), a deploy makes the changes: only restores are kept, what
    an earlier sync left that the config no longer asks for, which the deploy would not touch (its
    template did not change).
    """
    entries = entries or {}
    pseudo = pseudo_parameters(stage.aws.region, stage.account())
    templates: dict[str, dict[str, Any]] = {}

    def generated(child: str) -> dict[str, Any]:
        if child not in templates:
            templates[child] = build.template(build.templates[child])
        return templates[child]

    changes = with_restores(stage, build, comparison.functions, entries, generated)
    out = Prepared(blockers=list(comparison.blockers))
    if not out.blockers:
        out.functions = _function_updates(stage, build, changes, entries, generated, pseudo, out.blockers)
        if comparison.api and not out.blockers:
            try:
                api = _prepare_api(stage, build, comparison.api, generated, pseudo)
                entry = entries.get(f"{api.stack}/{api.logical_id}") or {}
                if not (entry.get("base") == stage.child_key(api.stack) and entry.get("digest") == api.digest
                        and ledger.still_live(stage.aws, entry)):   # the stage still serves it
                    out.api = api
            except Unresolvable as exc:
                out.blockers.append(f"{build.stack_name}/{comparison.api.stack} > {comparison.api.logical_id}: its "
                                    f"OpenAPI document refers to {exc}, which only a deploy can resolve")
    if out.blockers:   # a deploy does it all: nothing forward is applied, restores only (blockers kept)
        restores = [FunctionChange(c.stack, c.logical_id, "Code" in c.restore,
                                   tuple(p for p in c.config if p in c.restore), c.restore)
                    for c in changes if c.restore]
        out.functions = _function_updates(stage, build, restores, entries, generated, pseudo, [])
        out.api = None
    if not comparison.api:
        out.api = _api_restore(stage, build, entries, pseudo)
    return out


def _function_updates(stage: DeployedStage, build: Build, changes: list[FunctionChange],
                      entries: dict[str, dict[str, Any]], generated: Callable[[str], dict[str, Any]],
                      pseudo: dict[str, str], blockers: list[str]) -> list[tuple[FunctionChange, FunctionUpdate]]:
    """Each change's update, values resolved; what cannot be made is added to `blockers`."""
    found = []
    for change in changes:
        label = f"{build.stack_name}/{change.stack} > {change.logical_id}"
        props = generated(change.stack)["Resources"][change.logical_id].get("Properties") or {}
        update = FunctionUpdate(label, "")
        try:
            for prop in change.config:
                value = props.get(prop, LAMBDA_DEFAULTS[prop])
                params = stage.parameters(change.stack) if needs_parameters(value) else {}
                update.config[prop] = resolve(value, params, pseudo)
        except Unresolvable as exc:
            blockers.append(f"{label}: its {prop} refers to {exc}, which only a deploy can resolve")
            continue
        if change.code:
            code = props.get("Code") or {}
            key = code.get("S3Key") if isinstance(code, dict) else None
            if not isinstance(key, str) or not (build.directory / key).is_file():
                blockers.append(f"{label}: its code is not a generated asset")
                continue
            update.code = (build.directory / key).read_bytes()
            if len(update.code) > INLINE_ZIP_LIMIT:
                update.code_s3 = (stage.root.parameters.get(ledger.ASSET_BUCKET, ""), key)
        entry = entries.get(f"{change.stack}/{change.logical_id}")
        if entry and entry.get("base") == stage.child_key(change.stack):
            update.name = stage.physical_id(change.stack, change.logical_id)
            change = _not_yet_live(change, update, entry, _live_function(stage, update))
        if not change.code and not change.config:
            continue
        update.name = update.name or stage.physical_id(change.stack, change.logical_id)
        found.append((change, update))
    return found


def _api_restore(stage: DeployedStage, build: Build, entries: dict[str, dict[str, Any]],
                 pseudo: dict[str, str]) -> ApiUpdate | None:
    """The API an earlier sync changed over the template still deployed, while the generated API is
    the deployed one again (an edit synced, then undone): put back as deployed. Without this it
    would keep the undone definition, and no deploy would change it (CloudFormation sees no change).

    Also when one of its two entries is gone. The stage's: a deploy of other stage settings pointed
    the stage back at CloudFormation's deployment, and the API's working document still holds the
    undone edit, which the next deployment CloudFormation makes of it would serve. The API's: a
    deploy changed the RestApi's other settings (not its document), and the stage still serves the
    sync's deployment."""
    def current(kind: str) -> dict[str, Any] | None:
        # A stage entry that replaces CloudFormation's deployment made from a synced document is no
        # undone edit: going back to that deployment would serve the edit again.
        return next((e for _, e in sorted(entries.items()) if e.get("type") == kind and not e.get("replaces_cfn")
                     and e.get("base") == stage.child_key(str(e.get("stack", "")))), None)

    api, staged = current(REST_API), current(STAGE)
    if api is None and staged is None:
        return None
    defined = (str(api["stack"]), str(api["logical_id"])) if api else _deployed(stage, build, REST_API)
    where = (str(staged["stack"]), str(staged["logical_id"])) if staged else _deployed(stage, build, STAGE)
    if defined is None or where is None:
        return None
    change = ApiChange(*defined, *where)
    try:
        update = _prepare_api(stage, build, change, stage.child_template, pseudo)
    except Unresolvable:
        return None   # cannot be rebuilt here: the next deploy records the API (its Deployment is new)
    update.restoring = True
    if staged is None:   # the stage's entry is gone: a deploy most likely put it on CloudFormation's deployment
        update.keep_stage = str(api.get("deployment") or "-") if api else "-"
    update.restore_to = _cfn_deployment(stage, change.stage_stack, update.rest_api_id, staged or {})
    return update


def _deployed(stage: DeployedStage, build: Build, kind: str) -> tuple[str, str] | None:
    """The nested stack and logical ID of the API's resource of type `kind` (its RestApi, its
    Stage): found in the generated templates (no AWS call), and the same in the deployed one."""
    for child in sorted(build.templates):
        resources = build.template(build.templates[child]).get("Resources") or {}
        found = next((lid for lid, r in sorted(resources.items()) if isinstance(r, dict) and r.get("Type") == kind),
                     None)
        if found:
            deployed = stage.child_template(child).get("Resources") or {}
            return (child, found) if (deployed.get(found) or {}).get("Type") == kind else None
    return None


def _cfn_deployment(stage: DeployedStage, stage_stack: str, rest_api_id: str, staged: dict[str, Any]) -> str:
    """The deployment CloudFormation made for the stage: its stack's Deployment resource; where the
    endpoint names none (an emulator), what the stage served before the first sync over this
    template, unless that is a sync's own. "" when neither is known: the deployed document is then
    deployed anew."""
    from infra.sync.apply import SYNC_DESCRIPTION

    deployed = stage.child_template(stage_stack).get("Resources") or {}
    logical = next((lid for lid, r in sorted(deployed.items()) if r.get("Type") == DEPLOYMENT), "")
    if logical:
        try:
            return stage.physical_id(stage_stack, logical)
        except DeployError:
            pass
    recorded = str(staged.get("cfn_deployment") or "")
    if not recorded:
        return ""
    try:
        made = stage.aws.client("apigateway").get_deployment(restApiId=rest_api_id, deploymentId=recorded)
    except aws_exceptions():
        return ""
    return "" if str(made.get("description", "")).startswith(SYNC_DESCRIPTION) else recorded


def with_restores(stage: DeployedStage, build: Build, changes: list[FunctionChange],
                  entries: dict[str, dict[str, Any]],
                  generated: Callable[[str], dict[str, Any]]) -> list[FunctionChange]:
    """`changes`, plus what an earlier sync made live over the template still deployed that the
    generated template no longer asks for (an edit synced, then undone): it goes back to the deployed
    value. Without this the function would keep a value no config says, and no deploy would change it
    (CloudFormation sees no change in its template); `_not_yet_live` drops what is live already."""
    out = {(c.stack, c.logical_id): c for c in changes}
    for entry in (e for _, e in sorted(entries.items()) if e.get("type") == FUNCTION):
        stack, lid = str(entry.get("stack", "")), str(entry.get("logical_id", ""))
        if stack not in build.templates or entry.get("base") != stage.child_key(stack) \
                or lid not in (generated(stack).get("Resources") or {}):
            continue
        change = out.get((stack, lid), FunctionChange(stack, lid, False, ()))
        config = tuple(p for p in FUNCTION_CONFIG if p in (entry.get("config") or {}) and p not in change.config)
        code = bool(entry.get("code_sha256")) and not change.code
        if config or code:
            out[(stack, lid)] = FunctionChange(stack, lid, change.code or code,
                                               tuple(p for p in FUNCTION_CONFIG if p in change.config or p in config),
                                               change.restore + (("Code",) if code else ()) + config)
    return list(out.values())


def _live_function(stage: DeployedStage, update: FunctionUpdate) -> Callable[[], dict[str, Any]]:
    """The function's live configuration, read once when first asked for ({} if it cannot be)."""

    @functools.cache
    def live() -> dict[str, Any]:
        try:
            return stage.aws.client("lambda").get_function_configuration(FunctionName=update.name)
        except aws_exceptions():
            return {}   # gone or unreadable: nothing is taken as live; the update says why

    return live


def _not_yet_live(change: FunctionChange, update: FunctionUpdate, entry: dict[str, Any],
                  live: Callable[[], dict[str, Any]]) -> FunctionChange:
    """`change` less what an earlier sync over the same deployed template made live and still is:
    the ledger says what that sync applied, and the live function must still have it (code or
    settings changed since outside this tool are sent again). `update` is trimmed to match."""
    code = change.code
    if code and update.code is not None and entry.get("code_sha256") == code_sha256(update.code) \
            and live().get("CodeSha256") == entry["code_sha256"]:
        update.code, update.code_s3, code = None, None, False
    applied = entry.get("config") or {}
    config = tuple(p for p in change.config if applied.get(p) != update.config.get(p)
                   or ledger.live_value(live(), p) != update.config.get(p))
    update.config = {p: update.config[p] for p in config}
    restore = tuple(p for p in change.restore if p in config or (p == "Code" and code))
    return FunctionChange(change.stack, change.logical_id, code, config, restore)


def ledger_entry(change: FunctionChange, update: FunctionUpdate, final: dict[str, Any],
                 earlier: dict[str, Any]) -> dict[str, Any] | None:
    """The ledger entry after `update` was applied over `earlier` (same deployed template); None when
    nothing differs from CloudFormation any more (every synced value was put back)."""
    config = {k: v for k, v in {**earlier.get("config", {}), **update.config}.items() if k not in change.restore}
    sha = None if "Code" in change.restore else (final.get("CodeSha256") if change.code else earlier.get("code_sha256"))
    if not config and not sha:
        return None
    what = (["code"] if sha else []) + [CONFIG_WORDS[p] for p in FUNCTION_CONFIG if p in config]
    return {"label": update.label, "stack": change.stack, "logical_id": change.logical_id, "type": FUNCTION,
            "physical_id": update.name, "what": what, "at": ledger.now(), "base": earlier.get("base"),
            "code_sha256": sha, "config": config}


def _prepare_api(stage: DeployedStage, build: Build, change: ApiChange, generated: Any,
                 pseudo: dict[str, str]) -> ApiUpdate:
    props = generated(change.stack)["Resources"][change.logical_id]["Properties"]
    raw = props.get("Body") or {}
    params = stage.parameters(change.stack) if needs_parameters(raw) else {}
    document = resolve(raw, params, pseudo)
    parameters = {k: str(v) for k, v in resolve(props.get("Parameters") or {}, params, pseudo).items()}
    stage_name, digest = "", ""
    if change.stage_stack:
        resources = generated(change.stage_stack)["Resources"]
        stage_props = resources[change.stage_logical_id].get("Properties") or {}
        stage_name = str(resolve(stage_props.get("StageName", ""), {}, pseudo))
        digest = next((lid.removeprefix("Deployment") for lid, r in sorted(resources.items())
                       if r.get("Type") == DEPLOYMENT), "")
    if not stage_name:
        raise Unresolvable("a stage this tool does not find in the templates")
    label = f"{build.stack_name}/{change.stack} > {change.logical_id}"
    return ApiUpdate(label, change.stack, change.logical_id, stage.physical_id(change.stack, change.logical_id),
                     document, parameters, stage_name, digest, change.stage_stack, change.stage_logical_id)


def run_sync(opts: SyncOptions, ui: Ui, *, cache_dir: Path = DEFAULT_CACHE, aws: Aws | None = None,
             build: Build | None = None) -> str:
    """The sync command: SYNCED, NOTHING (no difference) or DEPLOYED (fell back to a deploy)."""
    started = time.perf_counter()
    build = build or build_and_load(opts.config, opts.out)
    if build.production:
        raise production_refusal(opts.config, build.stack_name, f"[project] production = true in {opts.config}",
                                 opts.target)
    if aws is None:
        aws = Aws(opts.target, default_region=build.region)
        aws.check_credentials()
    stage = open_deployed(build, aws, opts, ui, cache_dir)
    try:
        book = ledger.Ledger(aws, stage.root, build.stack_name)
        with aws_errors(f"comparing {build.stack_name} with the generated templates in {aws.region}"):
            comparison = compare(stage, build)
            entries = book.read()   # also when nothing differs: an undone edit may still be live through sync
            prepared = prepare(stage, build, comparison, entries)
        if prepared.blockers:
            if prepared.functions or prepared.api:   # put back first what the deploy would not touch
                apply(stage, build, prepared, ui, book, entries)
            return fall_back(opts, ui, build, prepared.blockers)
        if not prepared.functions and prepared.api is None:
            already = " (what differs from CloudFormation is live through an earlier sync)" \
                if _synced_live(stage, entries) else ""
            ui.success(f"{build.stack_name}: nothing to sync{already}.")
            return NOTHING
        apply(stage, build, prepared, ui, book, entries)
    finally:
        stage.save()
    took = f"Synced {build.stack_name} in {time.perf_counter() - started:.2f} s."
    ui.success(f"{took} CloudFormation still records the previous state: diff and drift show what sync changed "
               "as synced until the next deploy records it." if _synced_live(stage, entries) else
               f"{took} What sync had changed is back to what CloudFormation deployed: nothing is shown as synced.")
    return SYNCED


def _record(stage: DeployedStage, entries: dict[str, dict[str, Any]], change: FunctionChange,
            update: FunctionUpdate, final: dict[str, Any]) -> None:
    """Write what `update` (now applied) leaves live through sync into `entries`."""
    key = f"{change.stack}/{change.logical_id}"
    base = stage.child_key(change.stack)
    earlier = entries.get(key, {}) if entries.get(key, {}).get("base") == base else {}
    entry = ledger_entry(change, update, final, {**earlier, "base": base})
    if entry is None:
        entries.pop(key, None)
    elif change.restore:
        entries[key] = entry
    else:
        ledger.record(entries, key, entry | {"what": change.what})


def _stage_entry(stage: DeployedStage, build: Build, api: ApiUpdate, deployment: str,
                 cfn_deployment: str | None) -> dict[str, Any]:
    """The ledger entry of a stage that serves `deployment`, a sync's, instead of CloudFormation's."""
    return {"label": f"{build.stack_name}/{api.stage_stack} > {api.stage_logical_id}", "stack": api.stage_stack,
            "logical_id": api.stage_logical_id, "type": STAGE, "physical_id": api.stage,
            "rest_api_id": api.rest_api_id, "what": ["deployment"], "at": ledger.now(),
            "base": stage.child_key(api.stage_stack), "deployment": deployment, "stage": api.stage,
            "cfn_deployment": cfn_deployment}


def _synced_live(stage: DeployedStage, entries: dict[str, dict[str, Any]]) -> bool:
    """Whether the ledger still holds something over the templates deployed now."""
    return any(e.get("base") == stage.child_key(str(e.get("stack", ""))) for e in entries.values())


def fall_back(opts: SyncOptions, ui: Ui, build: Build, blockers: list[str]) -> str:
    """The one place sync hands over to deploy: the changes are named first."""
    ui.say(f"sync cannot apply these changes to {build.stack_name} outside CloudFormation; only a deploy can:",
           style="bold yellow")
    for blocker in blockers:
        ui.say(f"  - {blocker}")
    ui.step(f"Falling back to deploy (a change set, approved as deploy --require-approval {opts.require_approval})")
    from infra.deploy.deploy import run_deploy  # the deploy flow loads only when sync hands over to it

    run_deploy(opts.deploy_options(), ui)
    return DEPLOYED


def apply(stage: DeployedStage, build: Build, prepared: Prepared, ui: Ui, book: ledger.Ledger,
          entries: dict[str, dict[str, Any]]) -> None:
    """Functions first, then the API; each applied change is recorded (in `entries`, written to the
    ledger) even if a later one fails."""
    aws = stage.aws
    changed = False
    waiter = Waiter()
    ui.step(f"Sync {build.stack_name} ({aws.region}): " + ", ".join(
        [f"{len(prepared.functions)} function(s)"] + (["the API definition"] if prepared.api else [])))
    if len(prepared.functions) > 1:
        # Every function first: one deleted outside CloudFormation stops the sync before any other
        # is changed (with a single function, its own update checks that first).
        for change, update in prepared.functions:
            try:
                with aws_errors(f"syncing {update.label} ({update.name})"):
                    check_function(aws.client("lambda"), update)
            except DeployError:
                stage.forget(change.stack, change.logical_id)
                raise
    try:
        for change, update in prepared.functions:
            t0 = time.perf_counter()
            try:
                with aws_errors(f"syncing {update.label} ({update.name})"):
                    if update.code_s3 and update.code is not None:   # over the inline limit: through S3
                        aws.client("s3").put_object(Bucket=update.code_s3[0], Key=update.code_s3[1], Body=update.code)
                    final = update_function(aws.client("lambda"), update, waiter)
            except PartlyApplied as exc:   # recorded as synced: its configuration is, its code soon will be
                _record(stage, entries, change, update, exc.expected)
                changed = True
                raise
            except DeployError:
                stage.forget(change.stack, change.logical_id)
                raise
            _record(stage, entries, change, update, final)
            changed = True
            back = {CONFIG_WORDS.get(p, "code") for p in change.restore}
            done = ", ".join(w + (" (back to the deployed value)" if w in back else "") for w in change.what)
            ui.say(f"synced {update.label} ({update.name}): {done} in {time.perf_counter() - t0:.2f} s")
        if prepared.api:
            api = prepared.api
            t0 = time.perf_counter()
            with aws_errors(f"syncing {api.label} ({api.rest_api_id})"):
                # A restore puts the stage back on CloudFormation's deployment when it is known.
                deployment, previous = update_api(aws.client("apigateway"), api.label, api.rest_api_id,
                                                  api.document, api.parameters, api.stage, api.digest,
                                                  to_deployment=api.restore_to or None, keep_stage=api.keep_stage)
            changed = True
            if api.restoring:
                entries.pop(f"{api.stack}/{api.logical_id}", None)
                entries.pop(f"{api.stage_stack}/{api.stage_logical_id}", None)
                replaced = bool(api.keep_stage) and previous not in (api.keep_stage, deployment)
                if replaced:   # recorded: drift then shows the stage's new deployment as synced, not as drift
                    ledger.record(entries, f"{api.stage_stack}/{api.stage_logical_id}",
                                  _stage_entry(stage, build, api, deployment, previous) | {"replaces_cfn": True})
                how = (f"OpenAPI document back to the deployed one (stage {api.stage} left on {deployment}, which a "
                       "deploy put it back on)" if api.keep_stage and deployment == previous else
                       f"OpenAPI document back to the deployed one, and stage {api.stage} on a new deployment of it "
                       f"({deployment}): CloudFormation's ({previous}) was made from the synced document; shown as "
                       "synced until a deploy gives the stage a new deployment" if replaced else
                       f"OpenAPI document and stage {api.stage} back to the deployed ones ({deployment})"
                       if api.restore_to else
                       f"OpenAPI document and stage {api.stage} back to the deployed document, in a new deployment "
                       f"({deployment}: CloudFormation's own could not be found)")
                ui.say(f"synced {api.label} ({api.rest_api_id}): {how} in {time.perf_counter() - t0:.2f} s")
            else:
                ledger.record(entries, f"{api.stack}/{api.logical_id}", {
                    "label": api.label, "stack": api.stack, "logical_id": api.logical_id, "type": REST_API,
                    "physical_id": api.rest_api_id, "what": ["API definition"], "at": ledger.now(),
                    "base": stage.child_key(api.stack), "deployment": deployment, "stage": api.stage,
                    "digest": api.digest})
                if api.stage_stack:   # the stage serves a deployment CloudFormation did not make
                    stage_key = f"{api.stage_stack}/{api.stage_logical_id}"
                    earlier = entries.get(stage_key) or {}
                    # CloudFormation's deployment: what the stage served before the first sync over this template.
                    cfn_deployment = (earlier.get("cfn_deployment") if earlier.get("base") == stage.child_key(api.stage_stack)
                                      else previous)
                    ledger.record(entries, stage_key, _stage_entry(stage, build, api, deployment, cfn_deployment))
                ui.say(f"synced {api.label} ({api.rest_api_id}): OpenAPI document, deployed to stage {api.stage} "
                       f"({deployment}) in {time.perf_counter() - t0:.2f} s")
    finally:
        if changed:
            with aws_errors(f"recording the sync in s3://{book.bucket}/{book.key}"):
                book.write(entries)


__all__ = ["DEPLOYED", "NOTHING", "SYNCED", "SyncOptions", "run_sync"]
