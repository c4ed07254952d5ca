"""API Gateway REST proxy events (the Lambda proxy integration's input) and the HTTP answer a
proxy response becomes.

Format: "Input format of a Lambda function for proxy integration" and "Output format ..." in
https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html.
Repeated headers and query parameters appear in the multi-value maps; the single-value maps hold
the last value, as API Gateway sends them.
"""
from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

from infra.config.schema import Config, Route
from infra.loop.auth import request_context

LOCAL_ACCOUNT = "123456789012"
LOCAL_API_ID = "local"
# Bodies with these media types reach the function as text; any other body (or one that is not
# UTF-8) arrives base64-encoded with isBase64Encoded true, as API Gateway does for an API whose
# binaryMediaTypes match it.
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript",
               "application/x-www-form-urlencoded", "application/graphql")


@dataclass
class HttpRequest:
    """A request as the local server (or `generate-event`) received it."""

    method: str
    path: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    query: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | None = None
    source_ip: str = "127.0.0.1"


def proxy_event(cfg: Config, request: HttpRequest, resource: str, path_parameters: dict[str, str],
                route: Route | None = None, *, request_id: str | None = None, now: float | None = None) -> dict:
    """The event API Gateway passes to the route's function for `request`."""
    stage = cfg.project.stage
    region = cfg.project.region
    now = datetime.now(timezone.utc).timestamp() if now is None else now
    request_id = request_id or str(uuid.uuid4())
    headers, multi_headers = _maps(request.headers)
    query, multi_query = _maps(request.query)
    body, is_base64 = encode_body(request.body, _header(request.headers, "content-type"))
    domain = f"{LOCAL_API_ID}.execute-api.{region}.amazonaws.com"
    context = {
        "accountId": LOCAL_ACCOUNT,
        "apiId": LOCAL_API_ID,
        "domainName": domain,
        "domainPrefix": LOCAL_API_ID,
        "extendedRequestId": request_id,
        "httpMethod": request.method,
        "identity": {
            "accessKey": None, "accountId": None, "caller": None, "cognitoAuthenticationProvider": None,
            "cognitoAuthenticationType": None, "cognitoIdentityId": None, "cognitoIdentityPoolId": None,
            "principalOrgId": None, "sourceIp": request.source_ip, "user": None,
            "userAgent": _header(request.headers, "user-agent"), "userArn": None, "apiKey": None,
        },
        "path": f"/{stage}{request.path}",
        "protocol": "HTTP/1.1",
        "requestId": request_id,
        "requestTime": datetime.fromtimestamp(now, timezone.utc).strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "requestTimeEpoch": int(now * 1000),
        "resourceId": LOCAL_API_ID,
        "resourcePath": resource,
        "stage": stage,
    }
    if route is not None:
        for key, extra in request_context(route, dict((k.lower(), v) for k, v in request.headers)).items():
            before = context.get(key)
            context[key] = {**(before if isinstance(before, dict) else {}), **extra}
    return {
        "resource": resource,
        "path": request.path,
        "httpMethod": request.method,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": context,
        "body": body,
        "isBase64Encoded": is_base64,
    }


def encode_body(body: bytes | None, content_type: str | None) -> tuple[str | None, bool]:
    """The event's `body` and `isBase64Encoded` for raw request bytes."""
    if not body:
        return None, False
    media = (content_type or "application/json").split(";")[0].strip().lower()
    textual = media.startswith(_TEXT_TYPES) or media.endswith(("+json", "+xml"))
    if textual:
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(body).decode("ascii"), True


def _maps(pairs: list[tuple[str, str]]) -> tuple[dict | None, dict | None]:
    if not pairs:
        return None, None
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for key, value in pairs:
        single[key] = value
        multi.setdefault(key, []).append(value)
    return single, multi


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    for key, value in reversed(headers):
        if key.lower() == name:
            return value
    return None


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class BadProxyResponse(Exception):
    """The function's answer is not a proxy response; API Gateway answers 502."""


def http_response(result: object) -> HttpResponse:
    """The HTTP answer API Gateway makes of a function's proxy response."""
    if not isinstance(result, dict):
        raise BadProxyResponse("the function did not return an object")
    status = result.get("statusCode", 200)
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise BadProxyResponse(f"statusCode {status!r} is not an HTTP status")
    headers: list[tuple[str, str]] = []
    single = result.get("headers") or {}
    multi = result.get("multiValueHeaders") or {}
    if not isinstance(single, dict) or not isinstance(multi, dict):
        raise BadProxyResponse("headers must be objects")
    for key, values in multi.items():
        for value in values if isinstance(values, list) else [values]:
            headers.append((str(key), str(value)))
    named = {k.lower() for k, _ in headers}
    headers += [(str(k), str(v)) for k, v in single.items() if k.lower() not in named]
    body = result.get("body")
    if body is None:
        raw = b""
    elif not isinstance(body, str):
        raise BadProxyResponse("body must be a string")
    elif result.get("isBase64Encoded") is True:
        try:
            raw = base64.b64decode(body, validate=True)
        except ValueError:
            raise BadProxyResponse("body is not valid base64") from None
    else:
        raw = body.encode("utf-8")
    if not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("Content-Type", "application/json"))
    return HttpResponse(status, headers, raw)
