"""Compute stacks: each function bundled with its log group, least-privilege role, async settings,
invoke permission and alarm; placement decides which compute stack holds which bundle."""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from troposphere import GetAtt, Join, Ref, Sub, Tags, awslambda, cloudwatch as cw, secretsmanager, ssm

from infra import grants, quotas
from infra.bundle.build import Code
from infra.builders import ORIGIN_VERIFY_HEADER
from infra.builders import functions as fb
from infra.builders import releases
from infra.builders.alarms import alarm
from infra.builders.logs import log_group
from infra.config.names import CLOUDFRONT_LOG_BUCKET, function_errors_name
from infra.config.release import ALIAS, releases_gradually
from infra.config.schema import Config, Function
from infra.config.validate import static_reference
from infra.errors import ConfigError
from infra.naming import logical_id, parameter_prefix, physical
from infra.render import plain
from infra.stack import Stack
from templates.monitoring import SETTINGS_RULE_TAG, settings_rule_name

# Lambda refuses a reservation that leaves less than the minimum unreserved concurrency (100)
# to the rest of the account ("Configuring reserved concurrency",
# https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html); new accounts'
# quotas are below that, so nothing is reserved unless the config asks.
SKIP_CONCURRENCY = ("reserved_concurrency is unset in the config: a reservation fails the deploy in accounts whose "
                    "concurrency quota is low (new accounts); set it to cap this function.")
# Lambda presents a dead-letter queue and an on-failure destination as alternatives ("Retaining
# records of asynchronous invocations", https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html);
# with both, each failed event is kept twice. checkov's CKV_AWS_116 only sees DeadLetterConfig.
SKIP_DLQ = ("Failed asynchronous events go to the on-failure destination bucket set in the config "
            "(on_failure_bucket); a dead-letter queue as well would keep every failed event twice.")
SKIP_VPC = ("vpc = false in the config: the function only calls AWS APIs over TLS, so a VPC would add "
            "NAT cost and cold-start latency without protecting any data path.")


class _Refs:
    """Parameters of this stack, declared on first use and named after the sibling outputs."""

    def __init__(self, st: Stack):
        self.st = st

    def table(self, name: str, attr: str) -> Ref:
        lid = logical_id(name, "Table", attr)
        return self.st.param(lid, f"{attr} of the {name} table")

    def bucket(self, name: str, attr: str) -> Ref:
        lid = logical_id(name, "Bucket", attr)
        return self.st.param(lid, f"{attr} of the {name} bucket")

    def key_arn(self) -> Ref:
        return self.st.param("KeyArn", "ARN of the system KMS key")

    def dead_letter_queue(self) -> Ref:
        return self.st.param("FailedInvocationsQueueArn", "ARN of the SQS queue keeping failed asynchronous events")

    def secret_arn(self) -> Ref:
        return self.st.param("SecretArn", "ARN of the application secret")

    def env(self, ref: str) -> Any:
        static = static_reference(self.st.cfg, ref)
        if static is not None:
            return static
        kind, *rest = ref.split(".")
        if kind == "tables":
            return self.table(rest[0], "Name" if rest[1] == "name" else "Arn")
        if kind == "buckets":
            return self.bucket(rest[0], "Name" if rest[1] == "name" else "Arn")
        if kind == "secret":
            return self.secret_arn()
        if rest == ["id"]:
            return self.st.param("KeyId", "ID of the system KMS key")
        return self.key_arn()


def _statements(name: str, fn: Function, refs: _Refs, log_group_arn: Any, extra: Sequence[Any] = (),
                writes_secret: bool = False) -> list:
    sid = logical_id(name)
    out = [grants.log_group_write(log_group_arn, f"{sid}Logs"), grants.xray_write(f"{sid}Traces")]
    for table, level in sorted(fn.access.tables.items()):
        out.append(grants.table(refs.table(table, "Arn"), level, logical_id(table, "Table")))
    for bucket, level in sorted(fn.access.buckets.items()):
        out += grants.bucket_objects(refs.bucket(bucket, "Arn"), level, logical_id(bucket, "Bucket"))
    if fn.access.secret:
        out += grants.secret(refs.secret_arn(), fn.access.secret, "AppSecret")
    out += extra
    if fn.dead_letter_queue:
        out += grants.dead_letters(refs.dead_letter_queue(), refs.key_arn(), "DeadLetters")
    if fn.on_failure_bucket:
        out.append(grants.failure_destination(refs.bucket(fn.on_failure_bucket, "Arn"),
                                              logical_id(fn.on_failure_bucket, "FailedEvents")))
    # The environment is encrypted with the key, so every function decrypts; writers to tables,
    # buckets, secrets and failure destinations encrypted with it also need data keys.
    level = fn.access.key or "decrypt"
    writes = any("write" in lvl for lvl in [*fn.access.tables.values(), *fn.access.buckets.values()])
    if writes or fn.on_failure_bucket or fn.access.secret == "rotate" or writes_secret:
        level = "encrypt-decrypt"
    out.append(grants.key(refs.key_arn(), level, "SystemKey"))
    return out


def bundle(cfg: Config, name: str, codes: dict[str, Code]) -> Stack:
    """One function and everything that exists only for it: log group, role, function, async
    settings, invoke permission for the API, error alarm, SSM parameter, and (for the rotation
    function) the secret's rotation schedule. Placement puts the whole bundle in one stack."""
    fn = cfg.functions[name]
    st = Stack(cfg, f"functions.{name}", "")
    refs = _Refs(st)
    lid = logical_id(name, "Function")
    fname = physical(cfg, name)
    lg = st.add(log_group(f"{lid}LogGroup", f"/aws/lambda/{fname}", fn.log_retention_days, refs.key_arn()),
                stateful=True)
    vpc_id = st.param("VpcId", "ID of the VPC") if fn.vpc else None
    rotates_origin_verify = bool(cfg.edge and cfg.firewall and cfg.edge.origin_verify_rotation_function == name)
    extra = releases.hook_statements(cfg, name)
    if rotates_origin_verify:
        extra += grants.origin_verify_rotation(
            st.param("OriginVerifySecretArn", "ARN of the CloudFront origin-verification secret"),
            physical(cfg, "api-waf"), physical(cfg, "edge-waf"), origin_verify_targets(cfg),
            physical(cfg, CLOUDFRONT_LOG_BUCKET), "OriginVerifySecret")
    role = st.add(fb.role(f"{lid}Role", _statements(name, fn, refs, GetAtt(lg, "Arn"), extra, rotates_origin_verify),
                          vpc_id))
    size = quotas.policy_chars(plain(role.properties["Policies"]))
    if size > quotas.MAX_ROLE_POLICY_CHARS:
        raise ConfigError(cfg.file, f"functions.{name}.access",
                          f"the function's role policy would be about {size:,} characters; IAM allows "
                          f"{quotas.MAX_ROLE_POLICY_CHARS:,} for a role's inline policies.",
                          "grant fewer tables and buckets, or split the function in two.")
    vpc_config = None
    if fn.vpc:
        vpc_config = awslambda.VPCConfig(
            SubnetIds=st.param("PrivateSubnetIds", "Private subnets, comma-separated", "CommaDelimitedList"),
            SecurityGroupIds=[st.param("LambdaSecurityGroupId", "Security group of the Lambda functions")])
    env = {var: fb.resolve_env(val, refs.env) for var, val in fn.environment.items()}
    jwt = cfg.api.auth.jwt if cfg.api else None
    if jwt and jwt.function == name:
        env.update(authorizer_environment(cfg))
    if rotates_origin_verify:
        env.update({"TARGETS_PARAMETER": origin_verify_targets(cfg), "HEADER_NAME": ORIGIN_VERIFY_HEADER})
    env.update(releases.hook_environment(cfg, name))
    if fn.source_map:
        # Node.js reads the bundle's source map only when asked to.
        env["NODE_OPTIONS"] = " ".join(filter(None, [str(env.get("NODE_OPTIONS", "")), "--enable-source-maps"]))
    code = codes[name]
    layers = None
    if code.layer:
        layer = code.layer
        layers = [st.param(f"{layer.logical_id}Arn", f"ARN of the layer with the dependencies of {layer.lockfile} "
                                                    f"({layer.runtime}, {layer.architecture})")]
    skip = {}
    if not fn.vpc:
        skip["CKV_AWS_117"] = SKIP_VPC
    if fn.reserved_concurrency is None:
        skip["CKV_AWS_115"] = SKIP_CONCURRENCY
    if not fn.dead_letter_queue:
        skip["CKV_AWS_116"] = SKIP_DLQ
    func = st.add(fb.function(
        lid, fname, fn, role_arn=GetAtt(role, "Arn"), code_bucket=st.param("AssetBucket", "S3 bucket holding the zipped handler code"),
        code_key=code.asset.key, key_arn=refs.key_arn(), log_group=Ref(lg), environment=env,
        vpc_config=vpc_config, dead_letter_arn=refs.dead_letter_queue() if fn.dead_letter_queue else None,
        layers=layers), skip=skip)
    if cfg.monitoring and cfg.monitoring.config_rule:
        # The Config rule judging this function's timeout and memory finds it by this tag.
        func.Tags = func.Tags + Tags(**{SETTINGS_RULE_TAG: settings_rule_name(cfg, fn)})
    errors_alarm = None
    if cfg.monitoring and cfg.monitoring.alarms.function_errors:
        limit = cfg.monitoring.alarms.function_errors
        errors_alarm = st.add(alarm(cfg, st, logical_id(name, "ErrorsAlarm"), function_errors_name(name),
                                    f"{name} function errors above {limit} per 5 minutes", limit, Namespace="AWS/Lambda",
                                    MetricName="Errors", Statistic="Sum",
                                    Dimensions=[cw.MetricDimension(Name="FunctionName", Value=Ref(func))]))
    # Callers target the function itself, or its alias `live` when CodeDeploy releases it
    # gradually: API integrations (openapi.py), invoke permissions, async settings, the SSM ARN.
    target: Any = GetAtt(func, "Arn")
    alias = None
    if releases_gradually(cfg, name):
        # The layer is a parameter here: its content hash goes into the version's hash.
        alias = releases.add(st, cfg, name, func, errors_alarm, layer_key=code.layer.asset.key if code.layer else None)
        target = Ref(alias)
    on_failure = refs.bucket(fn.on_failure_bucket, "Arn") if fn.on_failure_bucket else None
    invoke_config = fb.invoke_config(f"{lid}InvokeConfig", func, fn.retry_attempts, on_failure)
    if alias is not None:
        invoke_config.Qualifier = ALIAS
        invoke_config.DependsOn = [alias.title]
    st.add(invoke_config)
    if cfg.api and any(r.function == name for r in cfg.api.routes):
        # One permission per function, not per route: a function's resource policy stays small
        # (Lambda caps it at 20 KB) however many routes it serves. Only this API's stage may invoke.
        st.add(awslambda.Permission(
            f"{lid}ApiPermission", Action="lambda:InvokeFunction", FunctionName=target,
            Principal="apigateway.amazonaws.com",
            SourceArn=Sub(f"arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:"
                          f"${{RestApiId}}/{cfg.project.stage}/*/*",
                          RestApiId=st.param("RestApiId", "ID of the REST API"))))
    if jwt and jwt.function == name:
        # API Gateway invokes the JWT authorizer of this API only (any of its authorizers).
        st.add(awslambda.Permission(
            f"{lid}AuthorizerPermission", Action="lambda:InvokeFunction", FunctionName=target,
            Principal="apigateway.amazonaws.com",
            SourceArn=Sub("arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${RestApiId}/authorizers/*",
                          RestApiId=st.param("RestApiId", "ID of the REST API"))))
    st.output(f"{lid}Arn", GetAtt(func, "Arn"), f"ARN of the {name} function")
    st.output(f"{lid}Name", Ref(func), f"Name of the {name} function")
    if cfg.parameters and cfg.parameters.function_arns:
        st.add(ssm.Parameter(f"{lid}ArnParameter", Name=f"{parameter_prefix(cfg)}/functions/{name}/arn",
                             Type="String", Value=target,
                             Description=f"ARN of the {name} function" + (f" (its alias {ALIAS})" if alias else "")))
    if rotates_origin_verify:
        # The schedule is in the edge stack, created once the web ACL and distribution exist.
        st.add(awslambda.Permission(
            "OriginVerifyRotationPermission", Action="lambda:InvokeFunction", FunctionName=GetAtt(func, "Arn"),
            Principal="secretsmanager.amazonaws.com", SourceAccount=Ref("AWS::AccountId")))
    if cfg.secret and cfg.secret.rotation_function == name:
        perm = st.add(awslambda.Permission(
            "SecretRotationPermission", Action="lambda:InvokeFunction", FunctionName=GetAtt(func, "Arn"),
            Principal="secretsmanager.amazonaws.com", SourceAccount=Ref("AWS::AccountId")))
        st.add(secretsmanager.RotationSchedule(
            "SecretRotationSchedule", SecretId=refs.secret_arn(), RotationLambdaARN=GetAtt(func, "Arn"),
            RotationRules=secretsmanager.RotationRules(AutomaticallyAfterDays=cfg.secret.rotation_days),
            DependsOn=[perm.title]))
    return st


def origin_verify_targets(cfg: Config) -> str:
    """SSM parameter (written by the edge stack) naming the web ACL and distribution to rotate."""
    return f"{parameter_prefix(cfg)}/edge/origin-verify-targets"


def authorizer_environment(cfg: Config) -> dict[str, str]:
    """What the JWT authorizer (handlers/authorizer) reads: issuer, audiences, key set, and the
    JWT routes that require scopes (the policy it returns denies those the token lacks)."""
    jwt = cfg.api.auth.jwt
    scoped = [[r.method, r.path, list(r.scopes)] for r in cfg.api.routes if r.auth == "JWT" and r.scopes]
    return {"JWT_ISSUER": jwt.issuer, "JWT_AUDIENCE": ",".join(jwt.audience),
            "JWT_JWKS_URL": jwt.jwks_url or f"{jwt.issuer.rstrip('/')}/.well-known/jwks.json",
            "JWT_SCOPED_ROUTES": json.dumps(scoped, separators=(",", ":"))}


def metric_row(function_name: str) -> str:
    """The dashboard's metric entry for one function's invocations (JSON)."""
    return json.dumps(["AWS/Lambda", "Invocations", "FunctionName", function_name], separators=(",", ":"))


def list_bytes(cfg: Config, name: str) -> int:
    """Bytes one function adds to its stack's list outputs (the longest: the dashboard rows)."""
    return len(metric_row(physical(cfg, name))) + 1


def build(cfg: Config, stack: str, names: list[str], bundles: dict[str, Stack]) -> Stack:
    """The compute stack `stack` holding the bundles of `names` (placement chose them).

    Besides each function's own outputs, it outputs its functions' names as one list (the root
    re-exports it) and their invocation metrics as dashboard rows (the dashboard reads them).
    """
    lid = logical_id(stack)
    st = Stack(cfg, stack, f"{physical(cfg)} {stack}: Lambda functions {', '.join(sorted(names))}"[:1000])
    for name in sorted(names):
        st.absorb(bundles[name])
    funcs = [logical_id(name, "Function") for name in sorted(names)]
    st.output(f"{lid}FunctionNames", Join(",", [Ref(f) for f in funcs]),
              f"Names of the functions in {stack}, comma-separated", export=True)
    st.output(f"{lid}FunctionMetrics", Join(",", [Sub(metric_row("${Fn}"), Fn=Ref(f)) for f in funcs]),
              f"Dashboard metric rows of the functions in {stack}")
    return st
