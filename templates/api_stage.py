"""API stage stack: the deployment of the current definition, the stage, its logs, limits, alarms.

Deployed after the API definition and after every function, so a new route goes live only
once its function and invoke permission exist.
"""
from __future__ import annotations

import json
from typing import Any

from troposphere import GetAtt, Ref, Sub, apigateway as agw, cloudwatch as cw, encode_to_dict, ssm

from infra.builders.alarms import alarm
from infra.config.names import API_ALARMS
from infra.builders.logs import log_group
from infra.config.schema import Config
from infra.digest import sha256
from infra.naming import parameter_prefix, physical
from infra.openapi import api_name, creates_user_pool, definition
from infra.stack import Stack
from templates.security import user_pool

# One JSON line per request: what an operator greps for, without request bodies.
ACCESS_LOG_FORMAT = json.dumps({
    "requestId": "$context.requestId", "ip": "$context.identity.sourceIp",
    "caller": "$context.identity.caller", "user": "$context.identity.user",
    "requestTime": "$context.requestTime", "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath", "status": "$context.status",
    "protocol": "$context.protocol", "responseLength": "$context.responseLength",
    "integrationLatency": "$context.integrationLatency", "wafStatus": "$context.waf.status",
}, sort_keys=True)
SKIP_CACHE = ("Responses are per-caller data from CRUD handlers; a stage cache would serve stale or "
              "another caller's data. Caching, if wanted, belongs in CloudFront.")


def definition_digest(cfg: Config) -> str:
    """Hash of the API definition: the deployment's logical ID changes with any route, model,
    validator, CORS or authorizer change, so CloudFormation creates a new deployment and the
    stage never keeps serving the old one.

    The definition names a created user pool only as {"Ref": "UserPoolArn"}, which reads the same
    after the pool is replaced; the API then imports the new pool's ARN while the stage keeps
    serving a deployment whose authorizer trusts the deleted pool. So the pool's own definition
    (what decides whether CloudFormation replaces it) is hashed too.
    """
    parts: dict[str, Any] = {"definition": encode_to_dict(definition(cfg))}
    if creates_user_pool(cfg):
        pool = user_pool(cfg)
        parts["userPool"] = {pool.title: encode_to_dict(pool.to_dict())}
    text = json.dumps(parts if len(parts) > 1 else parts["definition"], sort_keys=True)
    return sha256(text.encode()).hexdigest()[:10].upper()


def build(cfg: Config) -> Stack:
    """Deployment, stage, access log, usage plan and key, API alarms, URL parameter."""
    api, stage_name = cfg.api, cfg.project.stage
    st = Stack(cfg, "api-stage", f"{physical(cfg)} api-stage: stage {stage_name} of {api_name(cfg)}")
    rest = st.param("RestApiId", "ID of the REST API")
    digest = definition_digest(cfg)
    deployment = st.add(agw.Deployment(f"Deployment{digest}", RestApiId=rest,
                                       Description=f"{api_name(cfg)} {digest}"))
    stage = _stage(cfg, st, rest, deployment)
    url = Sub("https://${RestApiId}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${Stage}/")
    st.output("ApiUrl", url, "Invoke URL of the API stage", export=True)
    st.output("ApiStageName", Ref(stage), "Name of the API stage", export=True)
    st.output("ApiStageArn", Sub("arn:${AWS::Partition}:apigateway:${AWS::Region}::/restapis/${RestApiId}/stages/${Stage}"),
              "ARN of the API stage (WAF association)")
    if api.usage_plan:
        _usage_plan(cfg, st, rest, stage)
    if cfg.monitoring:
        _alarms(cfg, st, stage)
    if cfg.parameters and cfg.parameters.api_url:
        st.add(ssm.Parameter("ApiUrlParameter", Name=f"{parameter_prefix(cfg)}/api/url", Type="String",
                             Value=url, Description="Invoke URL of the API stage"))
    return st


def _stage(cfg: Config, st: Stack, rest: Any, deployment: Any) -> Any:
    """The stage: tracing, JSON access log, execution logging, metrics and throttling."""
    api = cfg.api
    key_arn = st.param("KeyArn", "ARN of the system KMS key (encrypts the access log group)")
    access_logs = st.add(log_group("AccessLogGroup", f"/aws/apigateway/{api_name(cfg)}-{cfg.project.stage}/access",
                                   api.access_log_retention_days, key_arn), stateful=True)
    # API Gateway's CloudWatch Logs role is an account-and-region setting: the deployer's bootstrap
    # stack owns it (infra.deploy.bootstrap), not a stage, so destroying one stage never breaks the others.
    stage_deps = []
    if api.logging_level != "OFF":
        # API Gateway writes execution logs to API-Gateway-Execution-Logs_{rest-api-id}/{stage_name}
        # and creates that group itself, unencrypted and never expiring, unless it exists ("Execution
        # logging for REST APIs", https://docs.aws.amazon.com/apigateway/latest/developerguide/rest-api-execution-logging.html):
        # created here first, with the key and the config's retention.
        execution_logs = st.add(log_group(
            "ExecutionLogGroup", Sub(f"API-Gateway-Execution-Logs_${{RestApiId}}/{cfg.project.stage}"),
            api.execution_log_retention_days, key_arn), stateful=True)
        stage_deps.append(execution_logs.title)
    return st.add(agw.Stage(
        "Stage", RestApiId=rest, StageName=cfg.project.stage, DeploymentId=Ref(deployment),
        TracingEnabled=api.tracing,
        AccessLogSetting=agw.AccessLogSetting(DestinationArn=GetAtt(access_logs, "Arn"), Format=ACCESS_LOG_FORMAT),
        MethodSettings=[agw.MethodSetting(
            HttpMethod="*", ResourcePath="/*", LoggingLevel=api.logging_level, DataTraceEnabled=api.data_trace,
            MetricsEnabled=api.metrics, ThrottlingRateLimit=float(api.throttle_rate),
            ThrottlingBurstLimit=api.throttle_burst)],
        **({"DependsOn": stage_deps} if stage_deps else {})), skip={"CKV_AWS_120": SKIP_CACHE})


def _usage_plan(cfg: Config, st: Stack, rest: Any, stage: Any) -> None:
    plan = cfg.api.usage_plan
    usage = st.add(agw.UsagePlan(
        "UsagePlan", UsagePlanName=physical(cfg, "usage-plan"), Description=f"Usage plan of {api_name(cfg)}",
        ApiStages=[agw.ApiStage(ApiId=rest, Stage=Ref(stage))],
        Throttle=agw.ThrottleSettings(RateLimit=float(plan.rate), BurstLimit=plan.burst),
        Quota=agw.QuotaSettings(Limit=plan.quota, Period=plan.period)))
    st.output("UsagePlanId", Ref(usage), "ID of the usage plan", export=True)
    if any(r.api_key for r in cfg.api.routes):
        key = st.add(agw.ApiKey("ApiKey", Name=physical(cfg, "api-key"), Enabled=True,
                                Description=f"Key of the {physical(cfg, 'usage-plan')} usage plan"))
        st.add(agw.UsagePlanKey("UsagePlanKey", KeyId=Ref(key), KeyType="API_KEY", UsagePlanId=Ref(usage)))
        st.output("ApiKeyId", Ref(key), "ID of the API key (read its value in the console or with get-api-key)", export=True)


def _alarms(cfg: Config, st: Stack, stage: Any) -> None:
    a = cfg.monitoring.alarms
    dims = [cw.MetricDimension(Name="ApiName", Value=st.param("ApiName", "Name of the REST API")),
            cw.MetricDimension(Name="Stage", Value=Ref(stage))]
    for key, (metric, stat, lid, name, what) in API_ALARMS.items():
        threshold = getattr(a, key)
        if threshold:
            st.add(alarm(cfg, st, lid, name, f"{what} above {threshold} per 5 minutes", threshold,
                         Namespace="AWS/ApiGateway", MetricName=metric, Statistic=stat, Dimensions=dims))
