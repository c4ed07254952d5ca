"""The preflight checks: what a deploy needs outside its templates, checked against its plan.

One registry (`CHECKS`): a check is one function, registered with `@check(name, summary)`; the
`--skip-check` choices, the `preflight` command and `deploy` all read the registry. Each check
reads the generated templates (and the plan) to know what to look for, and answers one `Result`:
ok, FAIL, warn or skip. A check that cannot run (no permission, an endpoint without the API) warns
and does not block; a check that finds a problem fails, and a failed check stops `deploy` before
anything is created (exit 1).

Adding a check is one function here plus its test (ARCHITECTURE.md has an example):

    @check("log-retention", "no log group of the stage exists unmanaged")
    def log_retention(pf: Preflight) -> Result:
        ...
        return Result("log-retention", "ok", "...")
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from pathlib import Path
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from infra.deploy.bootstrap import ACCOUNT_ID as BOOTSTRAP_ACCOUNT
from infra.deploy.bootstrap import ROLE_OUTPUT, STACK_NAME as BOOTSTRAP_STACK
from infra.deploy.bootstrap import logs_api_gateway
from infra.deploy.importing import Candidate, Imports, resolve_name
from infra.deploy.retained import FINDERS, Context
from infra.deploy.session import Aws, aws_errors, aws_exceptions, error_code, error_message, is_not_implemented
from infra.deploy.stacks import describe_stack
from infra.deploy.steps import Bootstrap, DeployPlan, Refactor
from infra.deploy.ui import Ui
from infra.errors import DeployError, first_few
from infra.placement import lock_path
from infra.resource_types import facts, importable_types

if TYPE_CHECKING:   # the generated build is read, never imported at start-up (the CLI lists the checks)
    from infra.deploy.manifest import Build

UNRESERVED_MINIMUM = 100
CONNECTION_TYPES = {"AWS::CodeConnections::Connection", "AWS::CodeStarConnections::Connection"}
SKIP_ALL = "all"


@dataclass(frozen=True)
class Result:
    check: str
    status: str      # ok, FAIL, warn, skip
    message: str

    def line(self, width: int = 0) -> str:
        """Status, check name padded to `width` (the longest name shown), message: two spaces apart."""
        return f"{self.status:<4}  {self.check:<{width}}  {self.message}"


@dataclass(frozen=True)
class Stack:
    """One generated stack and what of it is deployed."""

    label: str
    child: str | None
    template: dict[str, Any]
    aws: Aws
    deployed: frozenset[str]      # logical ids it has now
    physical: dict[str, str]      # logical id -> physical id, for those


class Preflight:
    """What the checks look at: the build, the account, the retained resources to import, the plan."""

    def __init__(self, build: Build, aws: Aws, imports: Imports | None, plan: DeployPlan | None = None):
        self.build, self.aws, self.imports, self.plan = build, aws, imports, plan

    @functools.cached_property
    def stacks(self) -> list[Stack]:
        """Every generated stack with what of it is deployed (read once, when a check needs it)."""
        return list(self._stacks())

    def _stacks(self) -> Iterator[Stack]:
        build, aws = self.build, self.aws
        cfn = aws.client("cloudformation")
        root = describe_stack(cfn, build.stack_name)
        root_resources = self._resources(cfn, root.stack_id) if root is not None else {}
        yield Stack(build.stack_name, None, build.template(build.root_template), aws, frozenset(root_resources),
                    root_resources)
        for lid, path in sorted(build.templates.items()):
            # The children are looked up by their logical ids in the root.
            child = self._resources(cfn, root_resources[lid]) if lid in root_resources else {}
            yield Stack(f"{build.stack_name}/{lid}", lid, build.template(path), aws, frozenset(child), child)
        if build.global_stack:
            gaws = aws.in_region(build.global_stack.region)
            gcfn = gaws.client("cloudformation")
            info = describe_stack(gcfn, build.global_stack.stack_name)
            have = self._resources(gcfn, info.stack_id) if info is not None else {}
            yield Stack(build.global_stack.stack_name, None, build.template(build.global_stack.template), gaws,
                        frozenset(have), have)

    @staticmethod
    def _resources(cfn: Any, stack: str) -> dict[str, str]:
        found: dict[str, str] = {}
        for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack):
            for res in page.get("StackResourceSummaries", []):
                if res.get("ResourceStatus") != "DELETE_COMPLETE":
                    found[res["LogicalResourceId"]] = res.get("PhysicalResourceId", "") or ""
        return found

    def resources(self, *types: str) -> Iterator[tuple[Stack, str, dict[str, Any]]]:
        for stack in self.stacks:
            for lid, res in sorted((stack.template.get("Resources") or {}).items()):
                if not types or res.get("Type") in types:
                    yield stack, lid, res

    def generated_templates(self) -> list[dict[str, Any]]:
        """The root's and the children's generated templates (no AWS call)."""
        build = self.build
        return [build.template(build.root_template), *(build.template(p) for p in build.templates.values())]


@dataclass(frozen=True)
class Check:
    name: str
    summary: str
    run: Callable[[Preflight], Result]


CHECKS: dict[str, Check] = {}


def check(name: str, summary: str) -> Callable[[Callable[[Preflight], Result]], Callable[[Preflight], Result]]:
    """Register a preflight check under `name` (what --skip-check takes)."""
    def register(fn: Callable[[Preflight], Result]) -> Callable[[Preflight], Result]:
        if name in CHECKS or name == SKIP_ALL:
            raise ValueError(f"preflight check {name!r} is registered twice")
        CHECKS[name] = Check(name, summary, fn)
        return fn
    return register


def report(ui: Ui, results: list[Result]) -> list[Result]:
    """Print one line per check; the failed ones."""
    ui.step("Preflight")
    width = max((len(r.check) for r in results), default=0)
    for r in results:
        style = {"FAIL": "bold red", "warn": "yellow", "ok": "green"}.get(r.status)
        ui.say(r.line(width), style=style)
    return [r for r in results if r.status == "FAIL"]


def failure(failed: list[Result], *, deploying: bool) -> DeployError:
    names = ", ".join(r.check for r in failed)
    tail = " Nothing was deployed." if deploying else ""
    return DeployError(f"Preflight: {len(failed)} check(s) failed ({names}): fix what the lines above say, or skip a "
                       f"check with --skip-check NAME.{tail}")


def check_plan(build: Build, aws: Aws, ui: Ui, skip: tuple[str, ...], imports: Imports | None,
               plan: DeployPlan | None, *, deploying: bool) -> list[Result]:
    """Run every check not skipped against the plan; a failed one is an error."""
    if deploying and SKIP_ALL in skip:
        ui.note("Preflight skipped (--skip-check all).")
        return []
    with aws_errors(f"running the preflight checks of {build.stack_name}"):
        results = run_checks(Preflight(build, aws, imports, plan), skip)
    failed = report(ui, results)
    if failed:
        raise failure(failed, deploying=deploying)
    return results


def run_checks(preflight: Preflight, skip: tuple[str, ...] = ()) -> list[Result]:
    """Every registered check in order; skipped ones say so, ones that cannot run warn."""
    results = []
    for name, registered in CHECKS.items():
        if name in skip or SKIP_ALL in skip:
            results.append(Result(name, "skip", f"skipped (--skip-check {name})."))
            continue
        try:
            results.append(registered.run(preflight))
        except aws_exceptions() as exc:
            why = ("the endpoint does not implement the API it needs" if is_not_implemented(exc)
                   else error_message(exc).rstrip("."))
            results.append(Result(name, "warn", f"could not check: {why}."))
    return results


# -- the checks, in the order they run -----------------------------------------------------------------
@check("names", "tables, buckets, log groups and secrets the deploy would create are free")
def names(pf: Preflight) -> Result:
    """Not taken by someone else, and not this stage's retained ones unless they will be imported."""
    build = pf.build
    account = pf.aws.account_id()
    stack_names = (build.stack_name,) + ((build.global_stack.stack_name,) if build.global_stack else ())
    imported = {(f.candidate.label, f.candidate.logical_id) for f in (pf.imports.all() if pf.imports else [])}
    # A resource the plan moves by a stack refactor keeps its name: it arrives in its new stack, it
    # is not created there, so its name being in use (by this stage) is expected.
    moved = {(m.destination, m.logical_id) for r in (pf.plan.of(Refactor) if pf.plan else []) for m in r.moves}
    problems: list[str] = []
    todo: list[tuple[Stack, Candidate]] = []
    named = [t for t in importable_types() if facts(t).name_property]
    # Where each resource of this stage is deployed now: one the templates put in another nested
    # stack, with no move planned, is one the placement lock forgot (deleted, or an entry removed):
    # the deploy would delete it in one stack and create it, under the same name, in the other.
    deployed_in = {lid: s.label for s in pf.stacks if s.child for lid in s.deployed}
    misplaced: list[str] = []
    for stack, lid, res in pf.resources(*named):
        if lid in stack.deployed or (stack.child, lid) in moved:
            continue
        if stack.child and deployed_in.get(lid, stack.label) != stack.label:
            misplaced.append(f"{lid} (deployed in {deployed_in[lid]}, placed in {stack.label})")
            continue
        name = resolve_name((res.get("Properties") or {}).get(facts(res["Type"]).name_property), account,
                            stack.aws.region)
        if name:
            todo.append((stack, Candidate(stack.label, stack.child, lid, res["Type"], name)))
    contexts: dict[str, Context] = {}
    for stack, _ in todo:
        contexts.setdefault(stack.aws.region, Context(stack.aws, stack_names, build.tags))
    for region, ctx in contexts.items():
        ctx.prefetch([c for s, c in todo if s.aws.region == region])
    for stack, candidate in todo:
        answer = FINDERS[candidate.resource_type](contexts[stack.aws.region], candidate)
        if answer is None or (stack.label, candidate.logical_id) in imported:
            continue
        _, owner = answer
        kind = candidate.resource_type.split("::")[-1]
        where = f"{kind} {candidate.name} ({stack.label} > {candidate.logical_id})"
        if owner is None:
            why = ("it was retained by this stage; deploy imports retained resources only when the stage's root "
                   "stack does not exist (destroy it first, or rename the resource in the config)"
                   if pf.imports is None else "it was retained by this stage but cannot be imported "
                   "(see the warnings above); delete or rename it")
            problems.append(f"{where} exists: {why}")
        else:
            problems.append(f"{where} is taken: {owner}; rename it in the config")
    if misplaced:
        lock = lock_path(Path(pf.build.config)) if pf.build.config else "the config's .lock.json"
        problems.insert(0, f"{first_few(misplaced)}: "
                        f"the templates place these elsewhere than they are deployed, with no move planned, so the "
                        f"placement lock ({lock}) is missing or lost their entries; restore it from version control "
                        "(a move on purpose is a `group` change with the lock kept, which deploy makes without "
                        "replacement)")
    if problems:
        return Result("names", "FAIL", "; ".join(problems) + ".")
    what = f"{len(todo)} name(s) to create are free" if todo else "nothing named to create"
    if imported:
        what += f"; {len(imported)} retained resource(s) of this stage will be imported"
    return Result("names", "ok", what + ".")


@check("hosted-zone", "every Route 53 hosted zone the templates name exists")
def hosted_zone(pf: Preflight) -> Result:
    zones = sorted({v for _, _, res in pf.resources() for v in literals(res, "HostedZoneId", skip="AliasTarget")})
    if not zones:
        return Result("hosted-zone", "skip", "no hosted zone named in the templates.")
    r53 = pf.aws.client("route53")
    missing = []
    for zone in zones:
        try:
            r53.get_hosted_zone(Id=zone)
        except aws_exceptions() as exc:
            if error_code(exc) not in ("NoSuchHostedZone", "InvalidInput"):
                raise
            missing.append(zone)
    if missing:
        return Result("hosted-zone", "FAIL", f"hosted zone(s) {', '.join(missing)} do not exist in this account; "
                                             "fix [edge] hosted_zone_id.")
    return Result("hosted-zone", "ok", f"hosted zone(s) {', '.join(zones)} exist.")


@check("certificate", "an existing ACM certificate the templates name exists and is ISSUED")
def certificate(pf: Preflight) -> Result:
    arns = sorted({v for _, _, res in pf.resources() for v in literals(res, "CertificateArn", suffix=True)
                   if v.startswith("arn:") and ":acm:" in v})
    if not arns:
        return Result("certificate", "skip", "no existing certificate named (one is issued by the deploy, or none "
                                             "is needed).")
    problems = []
    for arn in arns:
        acm = pf.aws.in_region(arn.split(":")[3]).client("acm")
        try:
            status = acm.describe_certificate(CertificateArn=arn)["Certificate"].get("Status", "")
        except aws_exceptions() as exc:
            if error_code(exc) not in ("ResourceNotFoundException", "ValidationException"):
                raise
            problems.append(f"{arn} does not exist")
            continue
        if status != "ISSUED":
            problems.append(f"{arn} is {status}, not ISSUED (complete its DNS validation)")
    if problems:
        return Result("certificate", "FAIL", "; ".join(problems) + ".")
    return Result("certificate", "ok", f"certificate(s) issued: {', '.join(arns)}.")


@check("config-recorder", "an AWS Config recorder exists (and records) when a Config rule is declared")
def config_recorder(pf: Preflight) -> Result:
    """The rule's creation fails without a recorder."""
    rules = [lid for _, lid, _ in pf.resources("AWS::Config::ConfigRule")]
    if not rules:
        return Result("config-recorder", "skip", "no AWS Config rule declared.")
    if any(True for _ in pf.resources("AWS::Config::ConfigurationRecorder")):
        return Result("config-recorder", "ok", "the templates create the recorder.")
    config = pf.aws.client("config")
    recorders = config.describe_configuration_recorders().get("ConfigurationRecorders", [])
    if not recorders:
        return Result("config-recorder", "FAIL", f"the Config rule(s) {', '.join(rules)} need an AWS Config "
                                                 f"configuration recorder in {pf.aws.region}, and there is none; "
                                                 "set up AWS Config (console: AWS Config > Get started) first.")
    statuses = config.describe_configuration_recorder_status().get("ConfigurationRecordersStatus", [])
    if statuses and not any(s.get("recording") for s in statuses):
        return Result("config-recorder", "warn", f"recorder {recorders[0].get('name')} exists but is not recording; "
                                                 "the rule is created but evaluates nothing until it records.")
    return Result("config-recorder", "ok", f"recorder {recorders[0].get('name')} exists.")


@check("connection", "the GitHub (CodeConnections) connection the pipeline uses is AVAILABLE")
def connection(pf: Preflight) -> Result:
    arns = sorted({v for _, _, res in pf.resources("AWS::CodePipeline::Pipeline") for v in literals(res, "ConnectionArn")})
    created = [(stack, lid) for stack, lid, _ in pf.resources(*CONNECTION_TYPES)]
    if not arns and not created:
        return Result("connection", "skip", "no GitHub connection used.")
    problems, notes = [], []
    for stack, lid in created:
        physical = stack.physical.get(lid)
        if physical and physical.startswith("arn:"):
            arns.append(physical)
        else:
            notes.append(f"{stack.label} > {lid} is created by this deploy as PENDING: approve it once in the "
                         "console (Developer Tools > Connections) before the pipeline can run")
    for arn in sorted(set(arns)):
        service = "codeconnections" if ":codeconnections:" in arn else "codestar-connections"
        client = pf.aws.in_region(arn.split(":")[3]).client(service)
        try:
            status = client.get_connection(ConnectionArn=arn)["Connection"].get("ConnectionStatus", "")
        except aws_exceptions() as exc:
            if error_code(exc) not in ("ResourceNotFoundException",):
                raise
            problems.append(f"{arn} does not exist")
            continue
        if status != "AVAILABLE":
            problems.append(f"{arn} is {status}: approve it in the console (Developer Tools > Connections)")
    if problems:
        return Result("connection", "FAIL", "; ".join(problems) + ".")
    if notes:
        return Result("connection", "warn", "; ".join(notes) + ".")
    return Result("connection", "ok", f"connection(s) AVAILABLE: {', '.join(sorted(set(arns)))}.")


@check("concurrency", "the functions' reserved concurrency leaves the account the 100 unreserved executions")
def concurrency(pf: Preflight) -> Result:
    """"You can reserve up to the unreserved account concurrency minus 100"
    (https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html)."""
    wanted: dict[str, int] = {}
    for stack, lid, res in pf.resources("AWS::Lambda::Function"):
        props = res.get("Properties") or {}
        value = props.get("ReservedConcurrentExecutions")
        if isinstance(value, int):
            named = props.get("FunctionName")
            wanted[named if isinstance(named, str) else f"{stack.label}/{lid}"] = value
    if not wanted:
        return Result("concurrency", "skip", "no reserved concurrency.")
    lam = pf.aws.client("lambda")
    unreserved = int(lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"])
    ours = 0
    for name in wanted:
        try:
            ours += int(lam.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions") or 0)
        except aws_exceptions() as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
    total = sum(wanted.values())
    left = unreserved + ours - total
    if left < UNRESERVED_MINIMUM:
        return Result("concurrency", "FAIL",
                      f"the functions reserve {total} concurrent executions ({ours} reserved now), which leaves "
                      f"{left} unreserved; Lambda keeps at least {UNRESERVED_MINIMUM}. Lower reserved_concurrency "
                      "or request a higher concurrency quota.")
    return Result("concurrency", "ok", f"{total} reserved, {left} of the account's concurrency stays unreserved.")


@check("api-logging-role", "API Gateway's CloudWatch Logs role is set for the account and region, and exists")
def api_logging_role(pf: Preflight) -> Result:
    """A stage that logs cannot be created without it ("CloudWatch Logs role ARN must be set in account
    settings to enable logging"); the bootstrap stack owns it (`infra.deploy.bootstrap`)."""
    if not logs_api_gateway(pf.generated_templates()):
        return Result("api-logging-role", "skip", "no REST API stage that logs.")
    cfn = pf.aws.client("cloudformation")
    sets_it = bootstrap_sets_role(pf, cfn)
    arn = str(pf.aws.client("apigateway").get_account().get("cloudwatchRoleArn") or "")
    region = pf.aws.region
    if arn:
        try:
            pf.aws.client("iam").get_role(RoleName=arn.rsplit("/", 1)[-1])
            return Result("api-logging-role", "ok", f"API Gateway logs through {arn}.")
        except aws_exceptions() as exc:
            if error_code(exc) != "NoSuchEntity":
                raise
        problem = f"API Gateway's account settings in {region} point at the role {arn}, which no longer exists"
    else:
        problem = f"API Gateway has no CloudWatch Logs role in {region}, so no stage that logs can be created"
    if sets_it:
        return Result("api-logging-role", "ok", f"{problem}; this deploy's bootstrap stack sets it.")
    ours = bootstrap_role(cfn)
    fix = (f"set it to the bootstrap stack's role: aws apigateway update-account --region {region} --patch-operations "
           f"op=replace,path=/cloudwatchRoleArn,value={ours}" if ours else
           "deploy once without --bucket (the bootstrap stack sets it)")
    return Result("api-logging-role", "FAIL", f"{problem} (another tool or a deleted stack changed it); {fix}.")


@check("table-indexes", "each deployed table gains or loses at most one index, and changes none in place")
def table_indexes(pf: Preflight) -> Result:
    """DynamoDB creates or deletes one global secondary index per table update, and changes an
    index's keys or projection never (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateTable.html;
    CloudFormation: "You can delete or add one global secondary index without interruption. If you
    do both in the same update ... the update fails", AWS::DynamoDB::Table GlobalSecondaryIndexes).
    Such a deploy would fail at the table and roll back every stack; this says so before. The live
    table is compared (DescribeTable, for every deployed table: one whose indexes are all removed
    counts too), so an index still being built or removed is seen too."""
    tables = [(stack.physical[lid], res) for stack, lid, res in pf.resources("AWS::DynamoDB::Table")
              if stack.physical.get(lid)]   # one this deploy creates takes all its indexes at once
    checked, problems = index_problems(tables, pf.aws)
    if problems:
        return Result("table-indexes", "FAIL", "; ".join(problems) + ".")
    if not checked:
        return Result("table-indexes", "skip", "no deployed table.")
    return Result("table-indexes", "ok", f"{checked} deployed table(s) change at most one index each.")


def index_problems(tables: list[tuple[str, dict[str, Any]]], aws: Aws) -> tuple[int, list[str]]:
    """For each (table name, its generated resource): how many exist (DescribeTable), and what
    DynamoDB would refuse of the change to their indexes."""
    ddb: Any = None
    problems: list[str] = []
    checked = 0
    for name, res in tables:
        ddb = ddb or aws.client("dynamodb")
        try:
            live = ddb.describe_table(TableName=name)["Table"]
        except aws_exceptions() as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
            continue
        checked += 1
        wanted = {i["IndexName"]: i for i in (res.get("Properties") or {}).get("GlobalSecondaryIndexes") or []}
        problems += _index_refusals(name, wanted, {i["IndexName"]: i for i in live.get("GlobalSecondaryIndexes") or []})
    return checked, problems


def _index_refusals(name: str, wanted: dict[str, Any], have: dict[str, Any]) -> list[str]:
    problems = []
    added, removed = sorted(set(wanted) - set(have)), sorted(set(have) - set(wanted))
    changed = sorted(n for n in set(wanted) & set(have) if _index_shape(wanted[n]) != _index_shape(have[n]))
    # UPDATING (a capacity change, which auto scaling makes) blocks no index change.
    building = sorted(f"{n} ({i['IndexStatus']})" for n, i in have.items()
                      if i.get("IndexStatus") in ("CREATING", "DELETING"))
    if changed:
        problems.append(f"{name}: index {', '.join(changed)} would change its keys or projection, which DynamoDB "
                        "cannot do to an index; add the new shape under another index name in one deploy, and "
                        "remove the old index in the next")
    if len(added) + len(removed) > 1:
        moves = [*(f"add {n}" for n in added), *(f"remove {n}" for n in removed)]
        problems.append(f"{name}: this deploy would {' and '.join(moves)}, but a table gains or loses one index "
                        "per update; change one index per deploy")
    elif building and (added or removed):
        problems.append(f"{name}: index {', '.join(building)} is still being built or removed, and DynamoDB "
                        "adds or removes no other index until that is done; deploy again once it is")
    return problems


def index_warnings(build: Build, aws: Aws) -> list[str]:
    """The table-indexes check for `diff`: the same tables (the stage's stacks' own) and the same
    answer as a deploy's preflight; a role that may not read them gets a line saying so."""
    try:
        result = table_indexes(Preflight(build, aws, None))
    except aws_exceptions() as exc:
        return [f"could not check the tables' index changes (table-indexes): {error_message(exc).rstrip('.')}."]
    return [f"a deploy would stop at its preflight (table-indexes): {result.message}"] if result.status == "FAIL" else []


def _index_shape(index: dict[str, Any]) -> tuple[Any, ...]:
    """What of an index DynamoDB cannot change: its keys and its projection."""
    projection = index.get("Projection") or {}
    return (tuple((k["AttributeName"], k["KeyType"]) for k in index.get("KeySchema") or []),
            projection.get("ProjectionType"), tuple(sorted(projection.get("NonKeyAttributes") or ())))


def bootstrap_sets_role(pf: Preflight, cfn: Any) -> bool:
    """The plan creates the bootstrap stack, or adds API Gateway's account setting to it."""
    steps = pf.plan.of(Bootstrap) if pf.plan is not None else []
    if not steps:
        return False
    if steps[0].create:
        return True
    try:
        cfn.describe_stack_resource(StackName=BOOTSTRAP_STACK, LogicalResourceId=BOOTSTRAP_ACCOUNT)
    except aws_exceptions() as exc:
        if error_code(exc) == "ValidationError":
            return True      # an older bootstrap stack without it: the update adds it
        raise
    return False


def bootstrap_role(cfn: Any) -> str:
    """The role the bootstrap stack made for API Gateway ("" when there is none)."""
    info = describe_stack(cfn, BOOTSTRAP_STACK)
    return info.output_values.get(ROLE_OUTPUT, "") if info is not None else ""


def literals(value: Any, key: str, *, suffix: bool = False, skip: str = "") -> Iterator[str]:
    """Literal string values of properties named `key` (or ending with it), anywhere in `value`."""
    if isinstance(value, dict):
        for k, v in value.items():
            if skip and k == skip:
                continue
            if (k.endswith(key) if suffix else k == key) and isinstance(v, str):
                yield v
            else:
                yield from literals(v, key, suffix=suffix, skip=skip)
    elif isinstance(value, list):
        for v in value:
            yield from literals(v, key, suffix=suffix, skip=skip)


def check_names() -> tuple[str, ...]:
    """The registered checks' names, in order (the --skip-check choices, with 'all')."""
    return tuple(CHECKS)
