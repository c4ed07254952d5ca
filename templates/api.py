"""API stack: REST API, routes to functions, models and validation, stage, usage plan, CORS."""
from __future__ import annotations

import hashlib
import json
from typing import Any

from troposphere import GetAtt, Ref, Sub, apigateway as agw, awslambda, iam, ssm

from infra import grants
from infra.builders.logs import log_group
from infra.config.schema import Api, Config, Route
from infra.naming import logical_id, parameter_prefix, physical
from infra.stack import Stack

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
PUSH_TO_LOGS = "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"


def api_name(cfg: Config) -> str:
    return cfg.api.name or physical(cfg, "api")


def _segment_id(segment: str) -> str:
    if segment.startswith("{"):
        return logical_id(segment.strip("{}"), "Param")
    return logical_id(segment)


def resource_id(path: str) -> str:
    """Logical ID of the API resource at `path` ('/users/{id}' -> 'UsersIdParamResource')."""
    return "".join(_segment_id(s) for s in path.strip("/").split("/")) + "Resource"


def _method_id(route: Route) -> str:
    base = "Root" if route.path == "/" else resource_id(route.path).removesuffix("Resource")
    return f"{base}{logical_id(route.method.lower())}Method"


def _cors_headers(api: Api) -> dict[str, str]:
    cors = api.cors
    return {
        "method.response.header.Access-Control-Allow-Origin": f"'{cors.origins[0]}'",
        "method.response.header.Access-Control-Allow-Headers": f"'{','.join(cors.headers)}'",
        "method.response.header.Access-Control-Allow-Methods": f"'{','.join(cors.methods)}'",
        "method.response.header.Access-Control-Max-Age": f"'{cors.max_age}'",
    }


class _Builder:
    def __init__(self, cfg: Config, st: Stack):
        self.cfg, self.api, self.st = cfg, cfg.api, st
        self.rest = None
        self.resources: dict[str, Any] = {}
        self.methods: list = []

    def resource(self, path: str) -> Any:
        """The ResourceId for `path`, creating parents as needed."""
        if path == "/":
            return GetAtt(self.rest, "RootResourceId")
        if path not in self.resources:
            parent, _, leaf = path.rpartition("/")
            self.resources[path] = self.st.add(agw.Resource(
                resource_id(path), RestApiId=Ref(self.rest), ParentId=self.resource(parent or "/"),
                PathPart=leaf))
        return Ref(self.resources[path])

    def function_arn(self, name: str) -> Ref:
        return self.st.param(logical_id(name, "Function", "Arn"), f"ARN of the {name} function")


def build(cfg: Config) -> Stack:
    """The REST API and everything that serves, limits and records it."""
    api = cfg.api
    st = Stack(cfg, "api", f"{physical(cfg)} api: REST API {api_name(cfg)}")
    b = _Builder(cfg, st)
    b.rest = st.add(agw.RestApi(
        "RestApi", Name=api_name(cfg), Description=api.description or api_name(cfg),
        EndpointConfiguration=agw.EndpointConfiguration(Types=[api.endpoint])))
    models = _models(b)
    _routes(b, models)
    if api.cors:
        _cors(b)
    stage = _stage(b, _deployment(b, models))
    if api.usage_plan:
        _usage_plan(cfg, st, b, stage)
    _outputs(cfg, st, b, stage)
    return st


def _models(b: _Builder) -> dict[str, Any]:
    """One JSON-schema model per [api.models] entry."""
    models = {}
    for mname, model in b.api.models.items():
        schema = {"$schema": "http://json-schema.org/draft-04/schema#", "title": mname, "type": "object",
                  "properties": {p: {"type": t} for p, t in model.properties.items()}}
        if model.required:
            schema["required"] = list(model.required)
        models[mname] = b.st.add(agw.Model(f"{mname}Model", RestApiId=Ref(b.rest), Name=mname,
                                           ContentType="application/json", Schema=schema,
                                           Description=model.description or mname))
    return models


def _routes(b: _Builder, models: dict[str, Any]) -> None:
    """A proxy method per route, validated when it has a model or path parameters, and the
    permission for exactly that route to invoke its function."""
    st, stage = b.st, b.cfg.project.stage
    validator = None
    if b.api.request_validation:
        validator = st.add(agw.RequestValidator("RequestValidator", RestApiId=Ref(b.rest), Name="validate-request",
                                                ValidateRequestBody=True, ValidateRequestParameters=True))
    for route in b.api.routes:
        fn_arn = b.function_arn(route.function)
        props: dict[str, Any] = dict(
            RestApiId=Ref(b.rest), ResourceId=b.resource(route.path), HttpMethod=route.method,
            AuthorizationType="AWS_IAM" if route.auth == "IAM" else "NONE",
            ApiKeyRequired=route.api_key,
            Integration=agw.Integration(
                Type="AWS_PROXY", IntegrationHttpMethod="POST",
                Uri=Sub("arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/"
                        "${FunctionArn}/invocations", FunctionArn=fn_arn)),
        )
        params = {f"method.request.path.{seg.strip('{}')}": True
                  for seg in route.path.split("/") if seg.startswith("{")}
        if params:
            props["RequestParameters"] = params
        if route.model:
            props["RequestModels"] = {"application/json": Ref(models[route.model])}
        if validator is not None and (params or route.model):
            props["RequestValidatorId"] = Ref(validator)
        b.methods.append(st.add(agw.Method(_method_id(route), **props)))
        # Each route may invoke its function, and nothing else may through this API.
        source = "/".join("*" if s.startswith("{") else s for s in route.path.split("/"))
        st.add(awslambda.Permission(
            f"{_method_id(route)}Permission", Action="lambda:InvokeFunction", FunctionName=fn_arn,
            Principal="apigateway.amazonaws.com",
            SourceArn=Sub(f"arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:"
                          f"${{RestApi}}/{stage}/{route.method}{source if route.path != '/' else '/'}")))


def _deployment(b: _Builder, models: dict[str, Any]) -> Any:
    """A deployment whose logical ID hashes the API definition: any change to routes or models
    makes a new deployment, so the stage never keeps serving the old one."""
    definition = json.dumps([r.to_dict() for r in [*b.resources.values(), *b.methods, *models.values()]],
                            sort_keys=True, default=str)
    digest = hashlib.sha256(definition.encode()).hexdigest()[:10].upper()
    return b.st.add(agw.Deployment(f"Deployment{digest}", RestApiId=Ref(b.rest),
                                   Description=f"{api_name(b.cfg)} {digest}",
                                   DependsOn=[m.title for m in b.methods]))


def _stage(b: _Builder, deployment: Any) -> Any:
    """The stage: tracing, JSON access log, execution logging, metrics and throttling."""
    api, st, stage = b.api, b.st, b.cfg.project.stage
    key_arn = st.param("KeyArn", "ARN of the system KMS key (encrypts the access log group)")
    access_logs = st.add(log_group("AccessLogGroup", f"/aws/apigateway/{api_name(b.cfg)}-{stage}/access",
                                   api.access_log_retention_days, key_arn), stateful=True)
    stage_deps = []
    if api.cloudwatch_role and api.logging_level != "OFF":
        # The logging role is an account-and-region-wide setting that every stage shares: deleting
        # one stage must not delete the role the others log through, so it is always retained.
        role = st.add(iam.Role("CloudWatchRole", AssumeRolePolicyDocument=grants.assume_role("apigateway.amazonaws.com"),
                               ManagedPolicyArns=[Sub(PUSH_TO_LOGS)], DeletionPolicy="Retain",
                               UpdateReplacePolicy="Retain"))
        account = st.add(agw.Account("Account", CloudWatchRoleArn=GetAtt(role, "Arn"), DeletionPolicy="Retain",
                                     UpdateReplacePolicy="Retain"))
        stage_deps.append(account.title)
    return st.add(agw.Stage(
        "Stage", RestApiId=Ref(b.rest), StageName=stage, DeploymentId=Ref(deployment),
        TracingEnabled=api.tracing,
        AccessLogSetting=agw.AccessLogSetting(DestinationArn=GetAtt(access_logs, "Arn"), Format=ACCESS_LOG_FORMAT),
        MethodSettings=[agw.MethodSetting(
            HttpMethod="*", ResourcePath="/*", LoggingLevel=api.logging_level, DataTraceEnabled=api.data_trace,
            MetricsEnabled=api.metrics, ThrottlingRateLimit=float(api.throttle_rate),
            ThrottlingBurstLimit=api.throttle_burst)],
        **({"DependsOn": stage_deps} if stage_deps else {})), skip={"CKV_AWS_120": SKIP_CACHE})


def _outputs(cfg: Config, st: Stack, b: _Builder, stage: Any) -> None:
    url = Sub("https://${RestApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${Stage}/")
    st.output("ApiUrl", url, "Invoke URL of the API stage")
    st.output("RestApiId", Ref(b.rest), "ID of the REST API")
    st.output("ApiName", api_name(cfg), "Name of the REST API (CloudWatch dimension)")
    st.output("ApiStageName", Ref(stage), "Name of the API stage")
    st.output("ApiDomain", Sub("${RestApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"),
              "Domain of the API's regional endpoint (CloudFront origin)")
    st.output("ApiStageArn", Sub("arn:${AWS::Partition}:apigateway:${AWS::Region}::/restapis/${RestApi}/stages/${Stage}"),
              "ARN of the API stage (WAF association)")
    if cfg.parameters and cfg.parameters.api_url:
        st.add(ssm.Parameter("ApiUrlParameter", Name=f"{parameter_prefix(cfg)}/api/url", Type="String",
                             Value=url, Description="Invoke URL of the API stage"))


def _cors(b: _Builder) -> None:
    """OPTIONS answered by API Gateway itself, and CORS headers on its own error responses."""
    api, st = b.api, b.st
    headers = _cors_headers(api)
    for path in sorted({r.path for r in api.routes}):
        b.methods.append(st.add(agw.Method(
            f"{'Root' if path == '/' else resource_id(path).removesuffix('Resource')}OptionsMethod",
            RestApiId=Ref(b.rest), ResourceId=b.resource(path), HttpMethod="OPTIONS",
            AuthorizationType="NONE",
            Integration=agw.Integration(
                Type="MOCK", RequestTemplates={"application/json": "{\"statusCode\": 204}"},
                IntegrationResponses=[agw.IntegrationResponse(StatusCode="204", ResponseParameters=headers)]),
            MethodResponses=[agw.MethodResponse(StatusCode="204",
                                                ResponseParameters={k: True for k in headers})])))
    origin = {"gatewayresponse.header.Access-Control-Allow-Origin": f"'{api.cors.origins[0]}'"}
    for kind in ("DEFAULT_4XX", "DEFAULT_5XX"):
        b.methods.append(st.add(agw.GatewayResponse(f"{logical_id(kind.lower())}GatewayResponse", RestApiId=Ref(b.rest),
                                   ResponseType=kind, ResponseParameters=origin)))


def _usage_plan(cfg: Config, st: Stack, b: _Builder, stage: Any) -> None:
    plan = cfg.api.usage_plan
    usage = st.add(agw.UsagePlan(
        "UsagePlan", UsagePlanName=physical(cfg, "usage-plan"), Description=f"Usage plan of {api_name(cfg)}",
        ApiStages=[agw.ApiStage(ApiId=Ref(b.rest), Stage=Ref(stage))],
        Throttle=agw.ThrottleSettings(RateLimit=float(plan.rate), BurstLimit=plan.burst),
        Quota=agw.QuotaSettings(Limit=plan.quota, Period=plan.period)))
    st.output("UsagePlanId", Ref(usage), "ID of the usage plan")
    if any(r.api_key for r in cfg.api.routes):
        key = st.add(agw.ApiKey("ApiKey", Name=physical(cfg, "api-key"), Enabled=True,
                                Description=f"Key of the {physical(cfg, 'usage-plan')} usage plan"))
        st.add(agw.UsagePlanKey("UsagePlanKey", KeyId=Ref(key), KeyType="API_KEY", UsagePlanId=Ref(usage)))
        st.output("ApiKeyId", Ref(key), "ID of the API key (read its value in the console or with get-api-key)")
