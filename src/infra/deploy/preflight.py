"""Preflight: what a deploy needs outside its templates, checked before any change set.

Each check reads the generated templates to know what to look for (nothing is assumed about which
stacks or resources exist), prints one line (ok, FAIL, warn, skip), and can be skipped with
`--skip-check NAME`. A check that cannot run (no permission, an endpoint without the API) warns
and does not block; a check that finds a problem fails, and a failed check stops `deploy` before
anything is created (exit 1).

- names: tables, buckets, log groups and secrets the deploy would create are not taken, by someone
  else or by this stage's own retained resources (those are imported when the stage's root stack
  does not exist);
- hosted-zone: every Route 53 hosted zone the templates name exists;
- certificate: every ACM certificate the templates name exists and is ISSUED;
- config-recorder: an AWS Config recorder exists when a Config rule is declared (the rule's
  creation fails without one);
- connection: a CodeConnections (GitHub) connection the pipeline uses is AVAILABLE;
- concurrency: the functions' reserved concurrency leaves the account the 100 unreserved
  executions Lambda requires ("you can reserve up to the unreserved account concurrency minus
  100": https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from infra.deploy.adopt import FINDERS, IMPORTABLE, Candidate, Context, Imports, resolve_name
from infra.deploy.session import Aws, aws_exceptions, error_code, error_message, is_not_implemented
from infra.deploy.stack_state import describe_stack
from infra.deploy.ui import Ui
from infra.errors import DeployError

CHECKS = ("names", "hosted-zone", "certificate", "config-recorder", "connection", "concurrency")
UNRESERVED_MINIMUM = 100
CONNECTION_TYPES = {"AWS::CodeConnections::Connection", "AWS::CodeStarConnections::Connection"}


@dataclass(frozen=True)
class Result:
    check: str
    status: str      # ok, FAIL, warn, skip
    message: str

    def line(self) -> str:
        return f"{self.status:<4}  {self.check:<15} {self.message}"


@dataclass
class Stack:
    """One generated stack and what of it is deployed."""

    label: str
    child: str | None
    template: dict[str, Any]
    aws: Aws
    deployed: set[str]           # logical ids it has now
    physical: dict[str, str]     # logical id -> physical id, for those


class Preflight:
    def __init__(self, build: Any, aws: Aws, imports: Imports | None):
        self.build, self.aws, self.imports = build, aws, imports
        self.stacks = list(self._stacks())

    def _stacks(self) -> Iterator[Stack]:
        build, aws = self.build, self.aws
        cfn = aws.client("cloudformation")
        root = describe_stack(cfn, build.stack_name)
        nested: dict[str, str] = {}
        root_resources: dict[str, str] = {}
        if root is not None:
            root_resources = self._resources(cfn, root.stack_id)
            nested = root_resources   # the children are looked up by their logical ids in the root
        yield Stack(build.stack_name, None, build.template(build.root_template), aws, set(root_resources),
                    root_resources)
        for lid, path in sorted(build.templates.items()):
            child = self._resources(cfn, nested[lid]) if lid in nested else {}
            yield Stack(f"{build.stack_name}/{lid}", lid, build.template(path), aws, set(child), child)
        if build.global_stack:
            gaws = aws.in_region(build.global_stack.region)
            gcfn = gaws.client("cloudformation")
            info = describe_stack(gcfn, build.global_stack.stack_name)
            have = self._resources(gcfn, info.stack_id) if info is not None else {}
            yield Stack(build.global_stack.stack_name, None, build.template(build.global_stack.template), gaws,
                        set(have), have)

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

    # -- checks ------------------------------------------------------------------------------------
    def names(self) -> Result:
        account = self.aws.account_id()
        names = (self.build.stack_name,) + ((self.build.global_stack.stack_name,) if self.build.global_stack else ())
        imported = {(f.candidate.label, f.candidate.logical_id) for f in (self.imports.all() if self.imports else [])}
        checked, problems = 0, []
        todo: list[tuple[Stack, Candidate]] = []
        for stack, lid, res in self.resources(*(t for t, (prop, _) in IMPORTABLE.items() if prop)):
            if lid in stack.deployed:
                continue
            name = resolve_name((res.get("Properties") or {}).get(IMPORTABLE[res["Type"]][0]), account,
                                stack.aws.region)
            if name:
                todo.append((stack, Candidate(stack.label, stack.child, lid, res["Type"], name)))
        contexts: dict[str, Context] = {}
        for stack, candidate in todo:
            contexts.setdefault(stack.aws.region, Context(stack.aws, names, self.build.tags))
        for region, ctx in contexts.items():
            ctx.prefetch([c for s, c in todo if s.aws.region == region])
        for stack, candidate in todo:
            lid, res = candidate.logical_id, {"Type": candidate.resource_type}
            name = candidate.name
            checked += 1
            answer = FINDERS[res["Type"]](contexts[stack.aws.region], candidate)
            if answer is None or (stack.label, lid) in imported:
                continue
            _, owner = answer
            kind = res["Type"].split("::")[-1]
            if owner is None:
                why = ("it was retained by this stage; deploy imports retained resources only when the stage's root "
                       "stack does not exist (destroy it first, or rename the resource in the config)"
                       if self.imports is None else "it was retained by this stage but cannot be imported "
                       "(see the warnings above); delete or rename it")
                problems.append(f"{kind} {name} ({stack.label} > {lid}) exists: {why}")
            else:
                problems.append(f"{kind} {name} ({stack.label} > {lid}) is taken: {owner}; rename it in the config")
        if problems:
            return Result("names", "FAIL", "; ".join(problems) + ".")
        what = f"{checked} name(s) to create are free" if checked else "nothing named to create"
        if imported:
            what += f"; {len(imported)} retained resource(s) of this stage will be imported"
        return Result("names", "ok", what + ".")

    def hosted_zone(self) -> Result:
        zones = sorted({v for _, _, res in self.resources() for v in _literals(res, "HostedZoneId", skip="AliasTarget")})
        if not zones:
            return Result("hosted-zone", "skip", "no hosted zone named in the templates.")
        r53 = self.aws.client("route53")
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

    def certificate(self) -> Result:
        arns = sorted({v for _, _, res in self.resources() for v in _literals(res, "CertificateArn", suffix=True)
                       if v.startswith("arn:") and ":acm:" in v})
        if not arns:
            return Result("certificate", "skip", "no existing certificate named (one is issued by the deploy, or none "
                                                 "is needed).")
        problems = []
        for arn in arns:
            acm = self.aws.in_region(arn.split(":")[3]).client("acm")
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

    def config_recorder(self) -> Result:
        rules = [lid for _, lid, _ in self.resources("AWS::Config::ConfigRule")]
        if not rules:
            return Result("config-recorder", "skip", "no AWS Config rule declared.")
        if any(True for _ in self.resources("AWS::Config::ConfigurationRecorder")):
            return Result("config-recorder", "ok", "the templates create the recorder.")
        config = self.aws.client("config")
        recorders = config.describe_configuration_recorders().get("ConfigurationRecorders", [])
        if not recorders:
            return Result("config-recorder", "FAIL", f"the Config rule(s) {', '.join(rules)} need an AWS Config "
                                                     f"configuration recorder in {self.aws.region}, and there is none; "
                                                     "set up AWS Config (console: AWS Config > Get started) first.")
        statuses = config.describe_configuration_recorder_status().get("ConfigurationRecordersStatus", [])
        if statuses and not any(s.get("recording") for s in statuses):
            return Result("config-recorder", "warn", f"recorder {recorders[0].get('name')} exists but is not recording; "
                                                     "the rule is created but evaluates nothing until it records.")
        return Result("config-recorder", "ok", f"recorder {recorders[0].get('name')} exists.")

    def connection(self) -> Result:
        arns = sorted({v for _, _, res in self.resources("AWS::CodePipeline::Pipeline")
                       for v in _literals(res, "ConnectionArn")})
        created = [(stack, lid) for stack, lid, _ in self.resources(*CONNECTION_TYPES)]
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
            client = self.aws.in_region(arn.split(":")[3]).client(service)
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

    def concurrency(self) -> Result:
        wanted: dict[str, int] = {}
        for stack, lid, res in self.resources("AWS::Lambda::Function"):
            props = res.get("Properties") or {}
            value = props.get("ReservedConcurrentExecutions")
            if isinstance(value, int):
                name = props.get("FunctionName") if isinstance(props.get("FunctionName"), str) else f"{stack.label}/{lid}"
                wanted[name] = value
        if not wanted:
            return Result("concurrency", "skip", "no reserved concurrency.")
        lam = self.aws.client("lambda")
        settings = lam.get_account_settings()
        unreserved = int(settings["AccountLimit"]["UnreservedConcurrentExecutions"])
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

    def run(self, skip: tuple[str, ...] = ()) -> list[Result]:
        methods: dict[str, Callable[[], Result]] = {
            "names": self.names, "hosted-zone": self.hosted_zone, "certificate": self.certificate,
            "config-recorder": self.config_recorder, "connection": self.connection, "concurrency": self.concurrency,
        }
        results = []
        for name in CHECKS:
            if name in skip or "all" in skip:
                results.append(Result(name, "skip", f"skipped (--skip-check {name})."))
                continue
            try:
                results.append(methods[name]())
            except aws_exceptions() as exc:
                why = ("the endpoint does not implement the API it needs" if is_not_implemented(exc)
                       else error_message(exc).rstrip("."))
                results.append(Result(name, "warn", f"could not check: {why}."))
        return results


def _literals(value: Any, key: str, *, suffix: bool = False, skip: str = "") -> Iterator[str]:
    """Literal string values of properties named `key` (or ending with it), anywhere in `value`."""
    if isinstance(value, dict):
        for k, v in value.items():
            if skip and k == skip:
                continue
            if (k.endswith(key) if suffix else k == key) and isinstance(v, str):
                yield v
            else:
                yield from _literals(v, key, suffix=suffix, skip=skip)
    elif isinstance(value, list):
        for v in value:
            yield from _literals(v, key, suffix=suffix, skip=skip)


def report(ui: Ui, results: list[Result]) -> list[Result]:
    """Print one line per check; the failed ones."""
    ui.step("Preflight")
    for r in results:
        style = {"FAIL": "bold red", "warn": "yellow", "ok": "green"}.get(r.status)
        ui.say(r.line(), style=style)
    return [r for r in results if r.status == "FAIL"]


def failure(failed: list[Result], *, deploying: bool) -> DeployError:
    names = ", ".join(r.check for r in failed)
    tail = " Nothing was deployed." if deploying else ""
    return DeployError(f"Preflight: {len(failed)} check(s) failed ({names}): fix what the lines above say, or skip a "
                       f"check with --skip-check NAME.{tail}")


def preflight_before_deploy(build: Any, aws: Aws, ui: Ui, opts: Any, imports: Imports | None) -> None:
    if "all" in opts.skip_checks:
        ui.note("Preflight skipped (--skip-check all).")
        return
    from infra.deploy.session import aws_errors

    with aws_errors(f"running the preflight checks of {build.stack_name}"):
        results = Preflight(build, aws, imports).run(opts.skip_checks)
    failed = report(ui, results)
    if failed:
        raise failure(failed, deploying=True)


def run_preflight(opts: Any, ui: Ui) -> list[Result]:
    from infra.deploy.adopt import find_retained, show_imports
    from infra.deploy.orchestrate import open_stage, read_stage
    from infra.deploy.session import aws_errors

    build, aws = open_stage(opts, ui)
    stage = read_stage(build, aws, ui, opts, action="check", refuse=False)
    imports = None
    if opts.import_retained and (stage.root is None or stage.root.status == "REVIEW_IN_PROGRESS"):
        imports = find_retained(build, aws, ui)
        show_imports(ui, imports)
    with aws_errors(f"running the preflight checks of {build.stack_name}"):
        results = Preflight(build, aws, imports).run(opts.skip_checks)
    failed = report(ui, results)
    if failed:
        raise failure(failed, deploying=False)
    return results
