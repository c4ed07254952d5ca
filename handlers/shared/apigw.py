"""API Gateway REST (Lambda proxy integration) plumbing for the Python HTTP handlers.

This file lives once in ``handlers/shared``; each Python HTTP handler directory
(``handlers/products``, ``handlers/api``) links to it, and packaging follows the link, so every
zip carries its own copy while the source has one.
It uses the standard library, boto3 (both in the Lambda Python runtime) and Powertools for AWS
Lambda's Logger (pinned in each handler's requirements.txt, installed into its zip).

What it does for a handler:

* routing on the event's ``resource`` (or, failing that, its ``path``) and ``httpMethod``:
  404 for an unknown path, 405 (with ``Allow``) for an unsupported method on a known path,
  204 for a CORS preflight ``OPTIONS``;
* request bodies: ``isBase64Encoded`` decoding, a size limit (413), a JSON media type (415 for
  any other ``Content-Type``: API Gateway validates only bodies whose type has a model), UTF-8
  and JSON parsing (400 for anything malformed; JSON floats become ``Decimal`` and
  NaN/Infinity are refused);
* text fields (``text_field``): trimmed, length in characters (code points), no control or
  bidirectional control characters, not only invisible ones (400 naming the field);
* JSON responses with CORS headers; error bodies are ``{"message", "requestId"}`` (plus
  ``errors`` for validation failures) and never carry exception text or stack traces;
* faults: throttling by AWS after the SDK's own retries is a 503, anything else unexpected a
  generic 500; the details go to the log only;
* structured logs (Powertools' Logger): one JSON object per line on stdout with ``level``,
  ``message``, ``correlation_id`` (API Gateway's request id, which error bodies return as
  ``requestId``) and ``function_request_id`` (Lambda's). The ids live in context variables set
  for each invocation, never in module state, so invocations that overlap in one process
  (threads of the local ``serve``) each print and return their own.

Environment:
  ALLOWED_ORIGIN   Access-Control-Allow-Origin value (default ``*``)
  MAX_BODY_BYTES   largest accepted request body in bytes, after base64 decoding (default 65536)
  LOG_LEVEL        DEBUG, INFO (default), WARNING or ERROR (read at each invocation)
"""
from __future__ import annotations

import base64
import binascii
import contextvars
import json
import os
import re
import secrets
import sys
import time
import unicodedata
from decimal import Context, Decimal
from typing import Any, Callable
from urllib.parse import unquote

import boto3
from aws_lambda_powertools.logging import Logger
from boto3.dynamodb.types import DYNAMODB_CONTEXT
from botocore.config import Config
from botocore.exceptions import ClientError

# Created once per container (at import, i.e. during Lambda's init); honours AWS_ENDPOINT_URL
# (the emulator in tests). 2 retries: 3 attempts in all.
_DYNAMODB = boto3.resource("dynamodb", config=Config(
    retries={"mode": "standard", "max_attempts": 2}, connect_timeout=3, read_timeout=10))


def table():
    """The DynamoDB table named by the TABLE_NAME environment variable."""
    return _DYNAMODB.Table(os.environ["TABLE_NAME"])

DEFAULT_MAX_BODY_BYTES = 64 * 1024
CORS_MAX_AGE_SECONDS = 3600
_ALLOW_HEADERS = "Content-Type,Authorization,X-Amz-Date,X-Amz-Security-Token,X-Api-Key"
_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40}
_THROTTLING_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "ThrottlingException",
        "TooManyRequestsException",
    }
)
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_CURSOR = re.compile(r"[A-Za-z0-9_-]{1,2048}")
_LIMIT = re.compile(r"[0-9]{1,6}")
# Wide exponent range: dynamodb_number checks DynamoDB's range itself, before normalising.
_NUMBER_CONTEXT = Context(prec=38, Emin=-999999, Emax=999999)

# (API Gateway request id, Lambda request id) of the invocation being served: a context
# variable, set in a context of its own for each invocation (Router.__call__).
_invocation: contextvars.ContextVar[tuple[str | None, str | None]] = contextvars.ContextVar(
    "apigw_invocation", default=(None, None))
# Bidirectional controls (Unicode's Bidi_Control): they reorder how the text around them shows.
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Default_Ignorable_Code_Point ranges (Unicode's DerivedCoreProperties.txt) that are not
# format characters (Cf): fillers and selectors that render as nothing.
_IGNORABLE_RANGES = ((0x034F, 0x034F), (0x115F, 0x1160), (0x17B4, 0x17B5), (0x180B, 0x180F),
                     (0x2065, 0x2065), (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFFA0, 0xFFA0),
                     (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF))

Handler = Callable[["Request"], dict]


class HttpError(Exception):
    """A client-facing error: its status and message are safe to return as they are."""

    def __init__(self, status: int, message: str, errors: list[str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors


class _Stdout:
    """Whatever sys.stdout is when a line is written (tests and the local runner redirect it
    after the logger was made)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


def _log_level() -> str:
    level = os.environ.get("LOG_LEVEL", "INFO").upper()
    return level if level in _LEVELS else "INFO"


# One logger per function (its name is the service); JSON lines, one per CloudWatch event.
logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
                or "http-handler", level=_log_level(), stream=_Stdout(), json_default=str)


def log(level: str, message: str, **fields: Any) -> None:
    """Log one line at `level` (DEBUG, INFO, WARNING, ERROR) with `fields` as JSON keys; the
    invocation's ids are added by the logger."""
    emit = {"DEBUG": logger.debug, "INFO": logger.info, "WARNING": logger.warning}.get(level, logger.error)
    emit(message, extra=fields, stacklevel=3)


def request_id() -> str | None:
    """API Gateway's request id of the invocation being served (None outside one)."""
    return _invocation.get()[0]


# ---------------------------------------------------------------------------------------------
# Responses


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if hasattr(value, "value") and isinstance(value.value, (bytes, bytearray)):  # boto3 Binary
        return base64.b64encode(bytes(value.value)).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def to_json(value: Any) -> str:
    """JSON text for a payload that may hold DynamoDB types (Decimal numbers, sets, binary).

    A Decimal is written as its own digits, never through a binary float, so a number comes back
    as it was sent and stored (0.12345678901234567890 stays so; a float would give 0.123456789012
    34568). The json module writes no raw text, so each such number goes out as a placeholder
    string, tagged with a random marker no payload can hold, then replaced by its digits."""
    marker = secrets.token_hex(8)

    def exact(item: Any) -> Any:
        if isinstance(item, Decimal) and item.is_finite() and item != item.to_integral_value():
            return f"\0{marker}{item}\0"
        return _json_default(item)

    text = json.dumps(value, default=exact, separators=(",", ":"))
    return text if marker not in text else re.sub(rf'"\\u0000{marker}([-+.0-9Ee]+)\\u0000"', r"\1", text)


def _base_headers() -> dict[str, str]:
    origin = os.environ.get("ALLOWED_ORIGIN") or "*"
    headers = {
        "Content-Type": "application/json",
        "Access-Control-Allow-Origin": origin,
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    if origin != "*":
        headers["Vary"] = "Origin"
    return headers


def respond(status: int, payload: Any = None, headers: dict[str, str] | None = None) -> dict:
    """A Lambda proxy response; ``payload`` None means an empty body."""
    return {
        "statusCode": status,
        "headers": {**_base_headers(), **(headers or {})},
        "body": "" if payload is None else to_json(payload),
        "isBase64Encoded": False,
    }


def error(status: int, message: str, errors: list[str] | None = None, headers=None) -> dict:
    payload: dict[str, Any] = {"message": message, "requestId": request_id()}
    if errors:
        payload["errors"] = errors
    return respond(status, payload, headers)


# ---------------------------------------------------------------------------------------------
# Requests


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def max_body_bytes() -> int:
    raw = os.environ.get("MAX_BODY_BYTES", "")
    try:
        value = int(raw)
    except ValueError:
        return DEFAULT_MAX_BODY_BYTES
    return value if value > 0 else DEFAULT_MAX_BODY_BYTES


def valid_text(value: Any) -> bool:
    """True for a str that is valid Unicode (no lone surrogates), so it can be stored."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _invisible(char: str) -> bool:
    code = ord(char)
    return (char.isspace() or unicodedata.category(char) in ("Cc", "Cf", "Zs", "Zl", "Zp")
            or any(low <= code <= high for low, high in _IGNORABLE_RANGES))


def text_field(body: dict, field: str, max_length: int, errors: list[str]) -> str | None:
    """``body[field]`` trimmed, or None with the problem appended to ``errors``.

    It must be a non-empty string of at most ``max_length`` characters (code points, as the
    Node.js handlers count them too), with no control characters, no bidirectional controls
    (which make text display in another order than it is stored), and not only invisible
    characters (spaces, format characters, fillers).
    """
    value = body.get(field)
    if not valid_text(value) or not value.strip():
        errors.append(f"{field} must be a non-empty string")
        return None
    value = value.strip()
    if len(value) > max_length:
        errors.append(f"{field} must be at most {max_length} characters")
    elif any(unicodedata.category(c) == "Cc" for c in value):
        errors.append(f"{field} must not contain control characters")
    elif any(c in _BIDI_CONTROLS for c in value):
        errors.append(f"{field} must not contain bidirectional control characters")
    elif all(_invisible(c) for c in value):
        errors.append(f"{field} must contain a visible character")
    else:
        return value
    return None


def dynamodb_number(value: Any) -> Decimal | None:
    """``value`` as a Decimal DynamoDB stores exactly, or None when it cannot be one.

    None for bools and non-numbers, more than 38 significant digits, and magnitudes outside
    1e-130 .. 9.99e125. The result is normalised (``1E+40`` rather than forty zeros) so that
    boto3's serialiser, which refuses to round, accepts every value DynamoDB accepts.
    """
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        return None
    number = Decimal(value)
    if not number.is_finite():
        return None
    if number.is_zero():
        return Decimal(0)
    significant = "".join(map(str, number.as_tuple().digits)).rstrip("0")
    if len(significant) > 38 or not -130 <= number.adjusted() <= 125:
        return None
    normalized = number.normalize(_NUMBER_CONTEXT)
    try:
        DYNAMODB_CONTEXT.create_decimal(normalized)
    except ArithmeticError:
        return None
    return normalized


class Caller:
    """Who API Gateway let through, from the proxy event's request context.

    `kind` says which authorizer vouched for the caller: "cognito" (user pool token; claims are
    the token's), "jwt" (the JWT Lambda authorizer; claims are the context it returned), "iam"
    (SigV4; `id` is the caller's ARN) or "anonymous". `api_key_id` is set whenever the route
    required an API key: it identifies a usage plan, never a person.
    """

    def __init__(self, kind: str, id: str | None = None, scopes: tuple[str, ...] = (),
                 claims: dict[str, str] | None = None, api_key_id: str | None = None):
        self.kind, self.id, self.scopes = kind, id, scopes
        self.claims = claims or {}
        self.api_key_id = api_key_id

    @classmethod
    def from_event(cls, event: Any) -> "Caller":
        rc = event.get("requestContext") if isinstance(event, dict) else None
        rc = rc if isinstance(rc, dict) else {}
        identity = rc.get("identity") if isinstance(rc.get("identity"), dict) else {}
        api_key_id = identity.get("apiKeyId") if isinstance(identity.get("apiKeyId"), str) else None
        authorizer = rc.get("authorizer") if isinstance(rc.get("authorizer"), dict) else {}
        claims = _string_map(authorizer.get("claims"))
        if claims:
            return cls("cognito", claims.get("sub"), tuple(claims.get("scope", "").split()), claims, api_key_id)
        context = {k: str(v) for k, v in authorizer.items() if isinstance(v, (str, int, float)) and not isinstance(v, bool)}
        if context.get("principalId"):
            return cls("jwt", context.get("sub") or context["principalId"], tuple(context.get("scope", "").split()),
                       context, api_key_id)
        user_arn = identity.get("userArn")
        if isinstance(user_arn, str) and user_arn:
            return cls("iam", user_arn, (), {}, api_key_id)
        return cls("anonymous", None, (), {}, api_key_id)


class Request:
    """The parts of a proxy event a route needs, already checked for shape."""

    def __init__(self, method: str, path: str, params: dict[str, str], query: dict[str, str],
                 body: bytes | None, caller: Caller | None = None, headers: dict[str, str] | None = None):
        self.method = method
        self.path = path
        self.params = params
        self.query = query
        self.body = body
        self.caller = caller or Caller("anonymous")
        self.headers = {k.lower(): v for k, v in (headers or {}).items()}

    def json(self) -> Any:
        """The body parsed as JSON; HttpError(400) when it is absent or malformed, 415 when its
        Content-Type is not JSON.

        API Gateway validates a body against the method's model only when its Content-Type has
        one (``application/json``; no Content-Type counts as that): any other type reaches the
        handler unvalidated, so it is refused here rather than parsed as JSON anyway.
        """
        media_type = self.headers.get("content-type", "application/json").split(";")[0].strip().lower()
        if media_type != "application/json":
            raise HttpError(415, "Content-Type must be application/json")
        if self.body is None or not self.body.strip():
            raise HttpError(400, "Request body is required")
        try:
            text = self.body.decode("utf-8")
        except UnicodeDecodeError:
            raise HttpError(400, "Request body must be UTF-8 encoded") from None
        try:
            return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
        except (ValueError, RecursionError):
            raise HttpError(400, "Request body is not valid JSON") from None

    def json_object(self) -> dict:
        """The body parsed as a JSON object; HttpError(400) for any other JSON value."""
        value = self.json()
        if not isinstance(value, dict):
            raise HttpError(400, "Request body must be a JSON object")
        return value


def _string_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}


def _body_bytes(event: dict) -> bytes | None:
    body = event.get("body")
    if body is None:
        return None
    if not isinstance(body, str):
        raise HttpError(400, "Request body must be a string")
    limit = max_body_bytes()
    if event.get("isBase64Encoded") is True:
        if len(body) > (limit + 2) // 3 * 4 + 4:
            raise HttpError(413, f"Request body is larger than {limit} bytes")
        if len(body) % 4 or not _BASE64.fullmatch(body):
            raise HttpError(400, "Request body is not valid base64")
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise HttpError(400, "Request body is not valid base64") from None
    else:
        # surrogatepass: a lone surrogate is counted here and refused as bad UTF-8 when parsed
        raw = body.encode("utf-8", "surrogatepass")
    if len(raw) > limit:
        raise HttpError(413, f"Request body is larger than {limit} bytes")
    return raw


# ---------------------------------------------------------------------------------------------
# Routing


def _template_regex(template: str) -> re.Pattern:
    parts = re.split(r"\{([A-Za-z0-9_]+)\}", template)
    pattern = "".join(
        f"(?P<{part}>[^/]+)" if i % 2 else re.escape(part) for i, part in enumerate(parts)
    )
    return re.compile(pattern)


class Router:
    """Maps resource templates such as ``/products/{id}`` and methods to route functions."""

    def __init__(self, routes: dict[str, dict[str, Handler]]):
        self.routes = {
            template: {method.upper(): fn for method, fn in methods.items()}
            for template, methods in routes.items()
        }
        self._regexes = {t: _template_regex(t) for t in self.routes}

    def match(self, event: dict) -> tuple[str, dict[str, str]] | None:
        """The template an event addresses and its path parameters, or None (unknown path)."""
        resource = event.get("resource")
        path = event.get("path")
        if isinstance(resource, str) and resource in self.routes:
            regex = self._regexes[resource]
            given = _string_map(event.get("pathParameters"))
            if all(given.get(name) for name in regex.groupindex):
                return resource, {name: given[name] for name in regex.groupindex}
        if isinstance(path, str):
            normalized = path.rstrip("/") if len(path) > 1 else path
            for template, regex in self._regexes.items():
                found = regex.fullmatch(normalized)
                if found:
                    return template, {k: unquote(v) for k, v in found.groupdict().items()}
        return None

    def __call__(self, event: Any, context: Any) -> dict:
        """Serve one proxy event; never raises. It runs in a copy of the caller's context, so
        the ids it sets are this invocation's alone, whatever else runs at the same time."""
        return contextvars.copy_context().run(self._serve, event, context)

    def _serve(self, event: Any, context: Any) -> dict:
        started = time.monotonic()
        api_id, lambda_id = _request_ids(event, context)
        _invocation.set((api_id, lambda_id))
        logger.setLevel(_log_level())  # the local runner sets the function's environment per invocation
        logger.thread_safe_clear_keys()  # context-variable keys: this invocation's only
        logger.thread_safe_append_keys(correlation_id=api_id, function_request_id=lambda_id)
        method = path = None
        try:
            if not isinstance(event, dict):
                raise HttpError(400, "Malformed request")
            method = event.get("httpMethod")
            method = method.upper() if isinstance(method, str) else ""
            path = event.get("path") if isinstance(event.get("path"), str) else None
            response = self._dispatch(event, method, path)
        except HttpError as err:
            response = error(err.status, err.message, err.errors)
        except ClientError as err:
            code = str(err.response.get("Error", {}).get("Code", ""))
            if code in _THROTTLING_CODES:
                log("WARNING", "AWS throttled the request", awsErrorCode=code)
                response = error(503, "Service is busy, please retry", headers={"Retry-After": "1"})
            else:
                logger.exception("AWS request failed", extra={"awsErrorCode": code})
                response = error(500, "Internal server error")
        except Exception:  # the last line of defence: log it, answer generically
            logger.exception("Unhandled error")
            response = error(500, "Internal server error")
        log("INFO", "request served", method=method, path=path, status=response["statusCode"],
            durationMs=round((time.monotonic() - started) * 1000, 1))
        return response

    def _dispatch(self, event: dict, method: str, path: str | None) -> dict:
        matched = self.match(event)
        if matched is None:
            raise HttpError(404, "Not found")
        template, params = matched
        methods = self.routes[template]
        allow = ", ".join(sorted([*methods, "OPTIONS"]))
        if method == "OPTIONS":
            return respond(204, None, {
                "Access-Control-Allow-Methods": allow.replace(" ", ""),
                "Access-Control-Allow-Headers": _ALLOW_HEADERS,
                "Access-Control-Max-Age": str(CORS_MAX_AGE_SECONDS),
            })
        fn = methods.get(method)
        if fn is None:
            return error(405, "Method not allowed", headers={"Allow": allow})
        request = Request(method, path or template, params,
                          _string_map(event.get("queryStringParameters")), _body_bytes(event),
                          Caller.from_event(event), _string_map(event.get("headers")))
        return fn(request)


def _request_ids(event: Any, context: Any) -> tuple[str | None, str | None]:
    api_id = None
    if isinstance(event, dict) and isinstance(event.get("requestContext"), dict):
        value = event["requestContext"].get("requestId")
        api_id = value if isinstance(value, str) else None
    lambda_id = getattr(context, "aws_request_id", None)
    return api_id, lambda_id if isinstance(lambda_id, str) else None


# ---------------------------------------------------------------------------------------------
# Pagination


def parse_limit(query: dict[str, str], default: int = 20, maximum: int = 100) -> int:
    """The ``limit`` query parameter: an integer from 1 to ``maximum``; 400 otherwise."""
    raw = query.get("limit")
    if raw is None:
        return default
    if not _LIMIT.fullmatch(raw) or not 1 <= int(raw) <= maximum:
        raise HttpError(400, f"limit must be an integer from 1 to {maximum}")
    return int(raw)


def encode_cursor(key: dict) -> str:
    """An opaque cursor for a DynamoDB LastEvaluatedKey: base64url (unpadded) of its JSON."""
    text = json.dumps(key, default=_json_default, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(text.encode("utf-8")).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str) -> dict:
    """The JSON object inside a cursor; HttpError(400) when it is not one of ours."""
    try:
        if not _CURSOR.fullmatch(cursor):
            raise ValueError("bad alphabet or length")
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError, UnicodeDecodeError, binascii.Error):
        raise HttpError(400, "cursor is invalid") from None
    if not isinstance(key, dict):
        raise HttpError(400, "cursor is invalid")
    return key
