"""The REST API as one OpenAPI 3.0 document, the way API Gateway imports it.

Defining routes in the RestApi's `Body` (as SAM does) instead of one Resource, Method and Model
resource per path keeps a 400-route API at one CloudFormation resource, so API size never
forces stacks to split. Two renderings of the same operations:

- `definition(cfg)`: the RestApi Body, with API Gateway's extensions (Lambda proxy
  integrations, request validators, CORS mocks, gateway responses) and CloudFormation
  intrinsics for the account-specific ARNs;
- `client_document(cfg)`: `out/<config>/openapi.json`, plain OpenAPI for documentation and client
  generators, without extensions or intrinsics.

Integration URIs name each function by its ARN, built from the function's fixed name (with the
alias `live` for a function CodeDeploy releases gradually), so the API needs no parameter per
function (200 functions would exhaust the 200-parameter quota); the stage is deployed only after
every function exists (the root orders the stacks).
"""
from __future__ import annotations

from typing import Any

from troposphere import Ref, Sub

from infra.config.release import ALIAS, releases_gradually
from infra.config.schema import Api, Config, Model, Route
from infra.naming import physical

VALIDATOR = "validate-request"
# Security scheme names in the document.
SIGV4, API_KEY, COGNITO, JWT = "sigv4", "api_key", "cognito", "jwt"
# The root passes the security stack's output of this name when the system creates its pool.
USER_POOL_ARN = "UserPoolArn"
# https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions-integration.html
PROXY_URI = ("arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/"
             "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:%s/invocations")


def invoked_name(cfg: Config, function: str) -> str:
    """What API Gateway invokes for `function`: its name, or `name:live` (its alias) when
    CodeDeploy releases it gradually, so that traffic follows the alias's weights."""
    name = physical(cfg, function)
    return f"{name}:{ALIAS}" if releases_gradually(cfg, function) else name


def api_name(cfg: Config) -> str:
    return cfg.api.name or physical(cfg, "api")


def path_parameters(path: str) -> list[str]:
    return [seg[1:-1] for seg in path.split("/") if seg.startswith("{")]


def resource_paths(api: Api) -> list[str]:
    """Every API Gateway resource the routes create: each path and all its prefixes, root included."""
    paths = {"/"}
    for route in api.routes:
        parts = route.path.strip("/").split("/")
        for depth in range(1, len(parts) + 1):
            if parts[0]:
                paths.add("/" + "/".join(parts[:depth]))
    return sorted(paths)


def _operation_id(method: str, path: str) -> str:
    words = [method.lower()]
    for seg in path.strip("/").split("/"):
        if seg:
            name = seg.strip("{}")
            words.append(("by-" if seg.startswith("{") else "") + name)
    text = "-".join(words)
    parts = [p for p in text.replace("_", "-").replace(".", "-").split("-") if p]
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


def _name_operations(paths: dict[str, dict[str, Any]]) -> None:
    """operationIds for client generators (getUsersById), unique across the document."""
    seen: dict[str, int] = {}
    for path in sorted(paths):
        for method in sorted(paths[path]):
            base = _operation_id(method, path)
            seen[base] = seen.get(base, 0) + 1
            paths[path][method] = {"operationId": base + (str(seen[base]) if seen[base] > 1 else ""),
                                   **paths[path][method]}


def creates_user_pool(cfg: Config) -> bool:
    """The security stack creates the Cognito user pool (COGNITO routes, no existing pool named)."""
    pool = cfg.api.auth.cognito if cfg.api else None
    return bool(pool and not pool.user_pool_arn and any(r.auth == "COGNITO" for r in cfg.api.routes))


def resource_server(cfg: Config) -> str:
    """Identifier of the created pool's resource server: the prefix of its custom scopes."""
    return api_name(cfg)


def route_scopes(cfg: Config, route: Route) -> list[str]:
    """The scopes a COGNITO route's access token must carry, as they appear in the token: a
    created pool's scopes are '<resource server>/<name>', an existing pool's are used as written."""
    if route.auth != "COGNITO":
        return list(route.scopes)
    if cfg.api.auth.cognito.user_pool_arn:
        return list(route.scopes)
    return [f"{resource_server(cfg)}/{scope}" for scope in route.scopes]


def _security(cfg: Config, route: Route, *, aws: bool) -> list[dict[str, list]]:
    requirement: dict[str, list] = {}
    if route.auth == "IAM":
        requirement[SIGV4] = []
    elif route.auth == "COGNITO":
        # With scopes, API Gateway validates an access token carrying one of them; without, any
        # valid ID token of the pool (API Gateway developer guide, "Integrate a REST API with an
        # Amazon Cognito user pool").
        requirement[COGNITO] = route_scopes(cfg, route) if aws else []
    elif route.auth == "JWT":
        # A Lambda authorizer gets no scopes from API Gateway: the authorizer checks them itself.
        requirement[JWT] = []
    if route.api_key:
        requirement[API_KEY] = []
    return [requirement] if requirement else []


def _operation(cfg: Config, route: Route, *, aws: bool) -> dict[str, Any]:
    api = cfg.api
    op: dict[str, Any] = {}
    params = path_parameters(route.path)
    if params:
        op["parameters"] = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                            for p in params]
    if route.model:
        op["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{route.model}"}}}}
    security = _security(cfg, route, aws=aws)
    if security:
        op["security"] = security
    if route.scopes and not aws:
        op["description"] = f"Requires the scope(s): {', '.join(route_scopes(cfg, route))}."
    if not aws:
        op["responses"] = {"default": {"description": f"Response of the {route.function} function"}}
        return op
    # Lambda proxy integrations define no method responses: the function's answer passes through.
    op["responses"] = {}
    if api.request_validation and (params or route.model):
        op["x-amazon-apigateway-request-validator"] = VALIDATOR
    op["x-amazon-apigateway-integration"] = {
        "type": "aws_proxy", "httpMethod": "POST", "passthroughBehavior": "when_no_match",
        "uri": Sub(PROXY_URI % invoked_name(cfg, route.function)),
    }
    return op


# What a browser sends to an IAM-authorized route: SigV4's Authorization and X-Amz-Date, plus
# X-Amz-Security-Token whenever it signs with temporary (STS/Cognito) credentials ("Create a
# signed AWS API request", https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html).
# A preflight that omits one makes the browser refuse the call.
SIGV4_HEADERS = ("Authorization", "X-Amz-Date", "X-Amz-Security-Token")


def allowed_headers(api: Api) -> list[str]:
    """The config's CORS headers plus those its routes' auth needs (SigV4 headers for IAM
    routes, X-Api-Key for key-protected ones), each once (header names are case-insensitive)."""
    headers = list(api.cors.headers)
    needed = [*(SIGV4_HEADERS if any(r.auth == "IAM" for r in api.routes) else ()),
              *(("X-Api-Key",) if any(r.api_key for r in api.routes) else ())]
    for header in needed:
        if header.lower() not in {h.lower() for h in headers}:
            headers.append(header)
    return headers


def cors_headers(api: Api) -> dict[str, str]:
    """The CORS answer: header -> value (as API Gateway wants it, single-quoted)."""
    cors = api.cors
    return {
        "Access-Control-Allow-Origin": f"'{cors.origins[0]}'",
        "Access-Control-Allow-Headers": f"'{','.join(allowed_headers(api))}'",
        "Access-Control-Allow-Methods": f"'{','.join(cors.methods)}'",
        "Access-Control-Max-Age": f"'{cors.max_age}'",
    }


def _preflight(api: Api, *, aws: bool) -> dict[str, Any]:
    """OPTIONS answered by API Gateway itself (a mock), without auth or API key."""
    headers = cors_headers(api)
    op: dict[str, Any] = {"responses": {"204": {
        "description": "CORS preflight", "headers": {h: {"schema": {"type": "string"}} for h in headers}}}}
    if aws:
        op["x-amazon-apigateway-integration"] = {
            "type": "mock", "passthroughBehavior": "when_no_match",
            "requestTemplates": {"application/json": "{\"statusCode\": 204}"},
            "responses": {"default": {"statusCode": "204", "responseParameters": {
                f"method.response.header.{h}": v for h, v in headers.items()}}},
        }
    return op


def model_schema(name: str, model: Model) -> dict[str, Any]:
    """A request model as a JSON schema (API Gateway validates bodies with it, draft 4)."""
    schema: dict[str, Any] = {"title": name, "type": "object",
                              "properties": {p: {"type": t} for p, t in model.properties.items()}}
    if model.required:
        schema["required"] = list(model.required)
    if model.description:
        schema["description"] = model.description
    return schema


def _schemas(api: Api) -> dict[str, Any]:
    return {name: model_schema(name, model) for name, model in sorted(api.models.items())}


def _document(cfg: Config, *, aws: bool) -> dict[str, Any]:
    api = cfg.api
    paths: dict[str, dict[str, Any]] = {}
    for route in api.routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(cfg, route, aws=aws)
    if api.cors:
        for ops in paths.values():
            ops["options"] = _preflight(api, aws=aws)
    if not aws:
        _name_operations(paths)
    schemes: dict[str, Any] = {}
    if any(r.auth == "IAM" for r in api.routes):
        schemes[SIGV4] = {"type": "apiKey", "name": "Authorization", "in": "header",
                          "description": "AWS Signature Version 4 (IAM)"}
        if aws:
            schemes[SIGV4]["x-amazon-apigateway-authtype"] = "awsSigv4"
    if any(r.auth == "COGNITO" for r in api.routes):
        schemes[COGNITO] = _cognito_scheme(cfg, aws=aws)
    if any(r.auth == "JWT" for r in api.routes):
        schemes[JWT] = _jwt_scheme(cfg, aws=aws)
    if any(r.api_key for r in api.routes):
        schemes[API_KEY] = {"type": "apiKey", "name": "x-api-key", "in": "header",
                            "description": "API key of the usage plan"}
    components: dict[str, Any] = {}
    if api.models:
        components["schemas"] = _schemas(api)
    if schemes:
        components["securitySchemes"] = schemes
    doc: dict[str, Any] = {
        "openapi": "3.0.1",
        "info": {"title": api_name(cfg), "description": api.description or api_name(cfg), "version": "1.0"},
        "paths": {p: dict(sorted(ops.items())) for p, ops in sorted(paths.items())},
    }
    if components:
        doc["components"] = components
    if aws and api.request_validation:
        doc["x-amazon-apigateway-request-validators"] = {
            VALIDATOR: {"validateRequestBody": True, "validateRequestParameters": True}}
    if aws and api.cors:
        # API Gateway's own 4xx/5xx answers (auth, throttling, validation) carry the CORS
        # origin too, or browsers hide the error from the calling page.
        origin = {"gatewayresponse.header.Access-Control-Allow-Origin": f"'{api.cors.origins[0]}'"}
        doc["x-amazon-apigateway-gateway-responses"] = {
            kind: {"responseParameters": origin} for kind in ("DEFAULT_4XX", "DEFAULT_5XX")}
    return doc


def _cognito_scheme(cfg: Config, *, aws: bool) -> dict[str, Any]:
    pool = cfg.api.auth.cognito
    scheme: dict[str, Any] = {"type": "apiKey", "name": "Authorization", "in": "header",
                              "description": "Amazon Cognito user pool token (ID token, or access token on scoped routes)"}
    if aws:
        # https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions-authorizer.html
        scheme["x-amazon-apigateway-authtype"] = "cognito_user_pools"
        scheme["x-amazon-apigateway-authorizer"] = {
            "type": "cognito_user_pools",
            "providerARNs": [pool.user_pool_arn or Ref(USER_POOL_ARN)]}
    return scheme


def _jwt_scheme(cfg: Config, *, aws: bool) -> dict[str, Any]:
    jwt = cfg.api.auth.jwt
    scheme: dict[str, Any] = {"type": "apiKey", "name": "Authorization", "in": "header",
                              "description": f"Bearer JWT issued by {jwt.issuer}"}
    if aws:
        # A REQUEST Lambda authorizer: REST APIs have no native JWT authorizer. Its URI is built
        # from the function's fixed name, like the integrations. API Gateway caches the returned
        # policy for authorizerResultTtlInSeconds (0 turns caching off) under the identity
        # sources: keyed by token alone (a TOKEN authorizer), a policy would be reused for every
        # route, and IAM's `*` spans `/`, so a Deny of a scoped `/items/{id}` would also deny an
        # unscoped `/items/{id}/tags`. Keyed by method and resource path too, each policy serves
        # only the route it was computed for (handlers/authorizer/policy.mjs).
        scheme["x-amazon-apigateway-authtype"] = "custom"
        scheme["x-amazon-apigateway-authorizer"] = {
            "type": "request",
            "identitySource": "method.request.header.Authorization, context.httpMethod, context.resourcePath",
            "authorizerUri": Sub(PROXY_URI % invoked_name(cfg, jwt.function)),
            "authorizerResultTtlInSeconds": jwt.cache_seconds}
    return scheme


def definition(cfg: Config) -> dict[str, Any]:
    """The RestApi Body: OpenAPI 3.0 with API Gateway's extensions and intrinsics."""
    return _document(cfg, aws=True)


def client_document(cfg: Config) -> dict[str, Any]:
    """Plain OpenAPI 3.0 of the API, for documentation and client generators."""
    return _document(cfg, aws=False)
