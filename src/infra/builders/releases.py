"""Gradual releases of a function (CodeDeploy on a Lambda alias), as SAM's
`AutoPublishAlias` + `DeploymentPreference` generate them, with exact IAM statements.

For a function that releases gradually (`infra.config.release`), its bundle gains:
- a Version whose logical ID is a hash of the function's whole configuration and code, so any
  change (code, memory, environment, ...) publishes a new version;
- the alias `live` pointing at it, with `UpdatePolicy: CodeDeployLambdaAliasUpdate`: when the
  version changes, CloudFormation hands the alias to CodeDeploy, which moves traffic in steps and
  moves it back (failing the stack update) when a watched alarm fires;
- the deployment group (alarms, automatic rollback), its service role, and for custom traffic
  its deployment configuration.
The CodeDeploy application is one per system, in the security stack.
"""
from __future__ import annotations

import json
from typing import Any

from troposphere import GetAtt, Ref, awslambda, codedeploy, iam
from troposphere.policies import CodeDeployLambdaAliasUpdate, UpdatePolicy

from infra import grants
from infra.builders.alarms import alarm_name
from infra.config import release, traffic
from infra.config.schema import Config
from infra.digest import sha256
from infra.naming import logical_id, physical
from infra.render import plain
from infra.stack import Stack

APPLICATION_OUTPUT = "ReleaseApplicationName"
ROLLBACK_EVENTS = ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]
# Function properties no version snapshots: changing them publishes nothing new.
FUNCTION_LEVEL = {"Tags", "ReservedConcurrentExecutions"}


def application_name(cfg: Config) -> str:
    """The CodeDeploy application of the system: every deployment group lives in it."""
    return physical(cfg, "releases")


def application(cfg: Config, st: Stack) -> None:
    """The system's CodeDeploy application (in the security stack, created before any compute
    stack), when any function releases gradually."""
    if not release.gradual_functions(cfg):
        return
    app = st.add(codedeploy.Application("ReleaseApplication", ApplicationName=application_name(cfg),
                                        ComputePlatform="Lambda"))
    st.output(APPLICATION_OUTPUT, Ref(app), "CodeDeploy application releasing the functions gradually")


def deployment_group_name(cfg: Config, name: str) -> str:
    """A function's deployment group: named after the function (unique in the application)."""
    return physical(cfg, name)


def version_digest(func: awslambda.Function, extra: Any = None) -> str:
    """Hash of everything a Lambda version snapshots: the function's properties as generated
    (code key = content hash, runtime, memory, environment, ...), except those of the function as
    a whole, plus `extra` (what parameters stand for, e.g. the network a VPC function joins)."""
    props = {k: v for k, v in plain(func.properties).items() if k not in FUNCTION_LEVEL}
    text = json.dumps({"function": props, "extra": extra}, sort_keys=True)
    return sha256(text.encode()).hexdigest()[:10].upper()


def alarm_names(cfg: Config, name: str) -> list[str]:
    """The alarms that stop a release of `name`: its errors alarm (this bundle) and the API
    stage's 5XX and latency alarms (api-stage stack, named by the same `alarm_name`)."""
    return [alarm_name(cfg, kind, name) for kind in release.alarm_kinds(cfg, name)]


def add(st: Stack, cfg: Config, name: str, func: awslambda.Function, errors_alarm: Any = None,
        layer_key: str | None = None) -> awslambda.Alias:
    """Version, alias, deployment group (and its role and custom configuration) of function
    `name`; returns the alias, which every caller of the function must target. `errors_alarm`:
    the function's errors alarm in this bundle (the group names it by Ref, so it exists first);
    `layer_key`: the asset key (content hash) of its dependency layer, passed in as a parameter."""
    strat = release.strategy(cfg, name)
    fn = cfg.functions[name]
    lid = logical_id(name, "Function")
    fname = physical(cfg, name)
    extra: dict[str, Any] = {}
    if fn.vpc and cfg.network:
        extra["network"] = plain(cfg.network.__dict__)
    if layer_key:
        extra["layer"] = layer_key
    digest = version_digest(func, extra or None)
    # Retained, as SAM does: a change that publishes nothing new (Lambda returns the latest version
    # when code and configuration are unchanged) must not delete the version the alias serves,
    # and a rolled-back release needs its previous version.
    version = st.add(awslambda.Version(
        f"{lid}Version{digest}", FunctionName=Ref(func), DeletionPolicy="Retain", UpdateReplacePolicy="Retain"))
    config_name: Any = strat.codedeploy_config
    if strat.custom:
        config_name = Ref(st.add(_custom_config(f"{lid}ReleaseConfig", strat)))
    hooks = sorted({physical(cfg, h) for h in (strat.before_traffic, strat.after_traffic) if h})
    alarms = alarm_names(cfg, name)
    role = st.add(iam.Role(
        f"{lid}ReleaseRole", AssumeRolePolicyDocument=grants.assume_role("codedeploy.amazonaws.com"),
        Policies=[iam.Policy(PolicyName="least-privilege", PolicyDocument=grants.document(grants.release_traffic(
            fname, release.ALIAS, alarms, hooks, bool(strat.provisioned_concurrency), f"{lid}Release")))]))
    group_props: dict[str, Any] = dict(
        ApplicationName=st.param(APPLICATION_OUTPUT, "CodeDeploy application releasing the functions gradually"),
        DeploymentGroupName=deployment_group_name(cfg, name), DeploymentConfigName=config_name,
        DeploymentStyle=codedeploy.DeploymentStyle(DeploymentType="BLUE_GREEN",
                                                   DeploymentOption="WITH_TRAFFIC_CONTROL"),
        ServiceRoleArn=GetAtt(role, "Arn"),
        AutoRollbackConfiguration=codedeploy.AutoRollbackConfiguration(Enabled=True, Events=ROLLBACK_EVENTS))
    if alarms:
        own = alarm_name(cfg, "function_errors", name)
        names = [Ref(errors_alarm) if a == own and errors_alarm is not None else a for a in alarms]
        # IgnorePollAlarmFailure false: a release stops when CloudWatch cannot say the alarms are fine.
        group_props["AlarmConfiguration"] = codedeploy.AlarmConfiguration(
            Enabled=True, IgnorePollAlarmFailure=False, Alarms=[codedeploy.Alarm(Name=n) for n in names])
    group = st.add(codedeploy.DeploymentGroup(f"{lid}DeploymentGroup", **group_props))
    hook_names = {}
    if strat.before_traffic:
        hook_names["BeforeAllowTrafficHook"] = physical(cfg, strat.before_traffic)
    if strat.after_traffic:
        hook_names["AfterAllowTrafficHook"] = physical(cfg, strat.after_traffic)
    alias_props: dict[str, Any] = dict(
        Name=release.ALIAS, FunctionName=Ref(func), FunctionVersion=GetAtt(version, "Version"),
        Description=f"Traffic of {fname}, released by CodeDeploy ({strat.describe()})",
        UpdatePolicy=UpdatePolicy(CodeDeployLambdaAliasUpdate=CodeDeployLambdaAliasUpdate(
            ApplicationName=group_props["ApplicationName"], DeploymentGroupName=Ref(group), **hook_names)))
    if strat.provisioned_concurrency:
        alias_props["ProvisionedConcurrencyConfig"] = awslambda.ProvisionedConcurrencyConfiguration(
            ProvisionedConcurrentExecutions=strat.provisioned_concurrency)
    return st.add(awslambda.Alias(f"{lid}Alias", **alias_props))


def _custom_config(title: str, strat: release.Strategy) -> codedeploy.DeploymentConfig:
    """A custom canary or linear configuration. Unnamed: CloudFormation names it, so a changed
    percentage or interval (which replaces it) never collides with the old name."""
    if strat.kind == traffic.CANARY:
        routing = codedeploy.TrafficRoutingConfig(Type="TimeBasedCanary", TimeBasedCanary=codedeploy.TimeBasedCanary(
            CanaryPercentage=strat.percent, CanaryInterval=strat.interval))
    else:
        routing = codedeploy.TrafficRoutingConfig(Type="TimeBasedLinear", TimeBasedLinear=codedeploy.TimeBasedLinear(
            LinearPercentage=strat.percent, LinearInterval=strat.interval))
    return codedeploy.DeploymentConfig(title, ComputePlatform="Lambda", TrafficRoutingConfig=routing)


def hook_statements(cfg: Config, hook: str) -> list:
    """The grants of function `hook` when it is a release hook: report its result, call the
    versions of the functions it tests."""
    targets = release.hooked_by(cfg, hook)
    if not targets:
        return []
    return grants.release_hook([physical(cfg, t) for t in targets], "ReleaseHook")


def hook_environment(cfg: Config, hook: str) -> dict[str, str]:
    """What a release hook reads: the functions it tests (comma-separated names)."""
    targets = release.hooked_by(cfg, hook)
    return {"RELEASE_TARGETS": ",".join(physical(cfg, t) for t in targets)} if targets else {}


def manifest(cfg: Config) -> dict[str, dict[str, Any]]:
    """What the deployer needs to follow and explain releases, per gradually released function:
    CodeDeploy names, the traffic settings, the alarms, the alias's logical ID and the prefix of
    its versions' logical IDs (to tell from a change set which functions will shift)."""
    out: dict[str, dict[str, Any]] = {}
    for name in release.gradual_functions(cfg):
        strat = release.strategy(cfg, name)
        lid = logical_id(name, "Function")
        out[name] = {
            "function_name": physical(cfg, name), "alias": release.ALIAS, "alias_logical_id": f"{lid}Alias",
            "version_logical_id_prefix": f"{lid}Version", "application": application_name(cfg),
            "deployment_group": deployment_group_name(cfg, name), "traffic": strat.traffic, "kind": strat.kind,
            "percent": strat.percent, "interval_minutes": strat.interval, "minutes": strat.minutes(),
            "describe": strat.describe(), "alarms": alarm_names(cfg, name),
        }
    return out
