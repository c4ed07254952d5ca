"""boto3 sessions and clients for one target (profile, region, endpoint), and AWS errors as sentences.

- Retries are botocore's *adaptive* mode (client-side rate limiting plus exponential backoff),
  so throttling is absorbed; only throttling that outlasts every retry reaches the user.
- Missing credentials, unknown profiles and regions, unreachable endpoints, missing buckets and
  AWS refusals become one `DeployError` sentence: never a traceback.
- `--endpoint-url` points every client at an emulator (the tests' moto server on loopback).
"""
from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from infra.errors import DeployError, UsageError, UserError

# Attempts per call, the first try included (botocore total_max_attempts). Generous against AWS; small against an emulator,
# which never throttles and answers HTTP 500 for operations it does not implement.
AWS_MAX_ATTEMPTS = 10
EMULATOR_MAX_ATTEMPTS = 2
# The first call's timeouts (seconds): STS answers at once, or the endpoint is not answering.
QUICK_CONNECT_S, QUICK_READ_S = 5, 10
USER_AGENT_APPID = "serverless-infra"

# Region names in the shape AWS uses (us-east-1, eu-central-2, us-gov-west-1, cn-north-1, ...):
# accepted even when this botocore release predates the region.
REGION_SHAPE = re.compile(
    r"^[a-z]{2}(-(gov|iso|isob|isoe|isof))?-"
    r"(north|south|east|west|central|northeast|northwest|southeast|southwest)-\d{1,2}$"
)
THROTTLING_CODES = {
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
    "TooManyRequestsException", "RequestLimitExceeded", "SlowDown", "RequestThrottled",
}
CREDENTIAL_CODES = {
    "ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "UnrecognizedClientException",
    "SignatureDoesNotMatch", "InvalidAccessKeyId", "AuthFailure", "RequestExpired",
    "InvalidToken", "MissingAuthenticationToken",
}
ACCESS_CODES = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "Forbidden"}
NOT_IMPLEMENTED_CODES = {"NotImplemented", "NotImplementedException", "InvalidAction",
                         "UnknownOperationException"}


@dataclass(frozen=True)
class Target:
    """Where to deploy, as given on the command line (None = not given)."""

    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None


class Aws:
    """A boto3 session bound to one region (other regions via `in_region`)."""

    def __init__(self, target: Target, default_region: str | None = None, *, _session: Any = None):
        import boto3
        from botocore.exceptions import ProfileNotFound

        self.target = target
        if _session is None:
            try:
                _session = boto3.Session(profile_name=target.profile)
            except ProfileNotFound:
                raise UsageError(
                    f"AWS profile '{target.profile}' is not configured in your AWS config or "
                    "credentials file; pass an existing --profile or omit it."
                ) from None
        self.session = _session
        region = target.region or default_region or self.session.region_name
        if not region:
            raise UsageError("No AWS region given: pass --region or set `region` in the stage config.")
        self.region = check_region(self.session, region)
        self._clients: dict[tuple[str, str, bool], Any] = {}
        self.unsupported: set[str] = set()
        self._account: str | None = None

    @property
    def endpoint_url(self) -> str | None:
        return self.target.endpoint_url

    @property
    def partition_suffix(self) -> str:
        """DNS suffix of the region's partition (amazonaws.com, amazonaws.com.cn)."""
        return "amazonaws.com.cn" if self.region.startswith("cn-") else "amazonaws.com"

    def in_region(self, region: str) -> "Aws":
        if region == self.region:
            return self
        other = Aws(Target(region, self.target.profile, self.target.endpoint_url), _session=self.session)
        other._account = self._account
        return other

    def account_id(self) -> str:
        """The account the credentials belong to (STS GetCallerIdentity, asked once).

        The first call of every AWS command: it proves the credentials work and that the endpoint
        answers like AWS (a web server's HTML page is one sentence here, not a parser error later).
        """
        if self._account is None:
            where = f"the endpoint {self.endpoint_url}" if self.endpoint_url else "AWS"
            with aws_errors(f"checking the AWS credentials against {where}"):
                answer = self.client("sts", quick=True).get_caller_identity()
            account = answer.get("Account") if isinstance(answer, dict) else None
            if not account:
                raise DeployError(f"Unexpected answer from {where}: STS GetCallerIdentity named no account; "
                                  "check --endpoint-url.")
            self._account = str(account)
        return self._account

    def check_credentials(self) -> None:
        """Fail with one sentence when no credentials can be found."""
        creds = None
        try:
            creds = self.session.get_credentials()
        except Exception as exc:  # botocore raises several types while resolving; all mean "none"
            raise DeployError(f"Could not load AWS credentials: {exc}.") from None
        if creds is None:
            where = f"profile '{self.target.profile}'" if self.target.profile else "the environment"
            raise DeployError(
                f"No AWS credentials found in {where}: configure them (aws configure, aws sso "
                "login, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) or pass --profile."
            )

    def client(self, service: str, *, quick: bool = False) -> Any:
        """A client for `service` in this region. `quick`: for the first call of a command (STS
        GetCallerIdentity, which answers at once), short timeouts and two attempts, so an endpoint
        that takes the connection and never answers is one error within seconds, not minutes of
        silence (10 attempts of 60 s against AWS)."""
        key = (service, self.region, quick)
        if key not in self._clients:
            from botocore.config import Config

            attempts = EMULATOR_MAX_ATTEMPTS if self.endpoint_url or quick else AWS_MAX_ATTEMPTS
            config = Config(
                retries={"mode": "adaptive", "total_max_attempts": attempts},
                user_agent_appid=USER_AGENT_APPID,
                connect_timeout=QUICK_CONNECT_S if quick else 10,
                read_timeout=QUICK_READ_S if quick else 60,
            )
            client = self.session.client(service, region_name=self.region, endpoint_url=self.endpoint_url,
                                         config=config)
            client.meta.events.register("before-parse", refuse_html)
            self._clients[key] = client
        return self._clients[key]


def check_region(session: Any, region: str) -> str:
    """Return `region` if AWS has (or could have) it; else one sentence naming close matches."""
    known: set[str] = set()
    for partition in session.get_available_partitions():
        known.update(session.get_available_regions("cloudformation", partition_name=partition))
    if region in known or REGION_SHAPE.match(region):
        return region
    import difflib

    close = difflib.get_close_matches(region, sorted(known), n=3)
    hint = f" Did you mean {' or '.join(close)}?" if close else ""
    raise UsageError(f"Unknown AWS region '{region}'.{hint}")


class NotAws(Exception):
    """The endpoint answered with an HTML page (a web server, a proxy's login page), not an AWS API answer."""


def refuse_html(response_dict: dict[str, Any], operation_model: Any = None, **_: Any) -> None:
    """botocore `before-parse` handler. A web server's page with status 200 is no error to botocore, whose
    parsers then fail on it (a KeyError for query-protocol services such as STS and CloudFormation) or
    read it as an empty answer (JSON services: `logs` would print nothing and succeed): say what it is.
    Error statuses are left to botocore (an HTML error page becomes a ClientError, explained as such),
    and so are streamed bodies (an S3 object may well be an HTML page)."""
    status = response_dict.get("status_code") or 0
    if not 200 <= int(status) < 300 or (operation_model is not None and operation_model.has_streaming_output):
        return
    # The body decides, not the Content-Type: emulators (moto) label many good answers text/html.
    body = response_dict.get("body") or b""
    head = body[:512].decode("utf-8", "replace") if isinstance(body, bytes) else str(body)[:512]
    if looks_like_html(head):
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
        raise NotAws(html_summary(text, str(response_dict.get("status_code", ""))))


def aws_exceptions() -> tuple[type[BaseException], ...]:
    """Everything boto3 raises for a failed call (ResponseParserError is not a BotoCoreError), and an
    endpoint that is not AWS (`NotAws`)."""
    from botocore.exceptions import BotoCoreError, ClientError
    from botocore.parsers import ResponseParserError

    return (BotoCoreError, ClientError, ResponseParserError, NotAws)


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def error_message(exc: BaseException) -> str:
    """The service's message for a ClientError; for an unparseable answer, what the body says."""
    from botocore.exceptions import ClientError
    from botocore.parsers import ResponseParserError

    if isinstance(exc, ClientError):
        message = str(exc.response.get("Error", {}).get("Message") or exc)
        meta = exc.response.get("ResponseMetadata", {}) or {}
        content_type = str((meta.get("HTTPHeaders") or {}).get("content-type", ""))
        if looks_like_html(message) or content_type.startswith("text/html"):
            status = str(meta.get("HTTPStatusCode", "")) or error_code(exc)
            return html_summary(message if looks_like_html(message) else "", status)
        return message
    if isinstance(exc, ResponseParserError):
        return unparseable_body_message(str(exc))
    return str(exc)


HTML_START = re.compile(r"^\s*(<!doctype html|<html|<head|<body)", re.I)


def looks_like_html(text: str) -> bool:
    return bool(HTML_START.match(text or ""))


def html_summary(body: str, status: str = "") -> str:
    """One sentence for an HTML page where an AWS API answer was expected (a proxy, a web server)."""
    found = re.search(r"<title>(.*?)</title>", body, re.S | re.I) or re.search(r"<h1>(.*?)</h1>", body, re.S | re.I)
    title = re.sub(r"\s+", " ", found.group(1)).strip() if found else ""
    detail = re.search(r"Message:\s*([^<]*)<", body)
    words = ", ".join(x for x in (f"HTTP {status}" if status.isdigit() else "", title,
                                   detail.group(1).strip() if detail else "") if x)
    return ("the endpoint answered with an HTML page" + (f" ({words[:200]})" if words else "")
            + ", not an AWS API response; check --endpoint-url")


def unparseable_body_message(text: str) -> str:
    """Extract `Type: message` from the raw body botocore quotes when it cannot parse a response.

    Emulators answer some failures with another protocol's error body (a JSON
    `{"__type": ..., "message": ...}` to a query-protocol call) or with an HTML 500 page.
    """
    match = re.search(r"(b'.*'|b\".*\")\s*$", text, re.S)
    if not match:
        return text
    try:
        body = ast.literal_eval(match.group(1)).decode("utf-8", "replace")
    except (ValueError, SyntaxError):
        return text
    try:
        data = json.loads(body)
    except ValueError:
        if looks_like_html(body) and "500 Internal Server Error" not in body:
            return html_summary(body)
        if "500 Internal Server Error" in body:
            return "the endpoint answered HTTP 500 (internal error; it may not implement this operation)"
        return body.strip()[:300]
    if not isinstance(data, dict):
        return body.strip()[:300]
    kind = str(data.get("__type") or data.get("code") or "").rsplit("#", 1)[-1]
    message = data.get("message") or data.get("Message") or ""
    return f"{kind}: {message}" if kind and message else (message or kind or body)


def is_not_implemented(exc: BaseException) -> bool:
    """True when the endpoint does not implement the operation (emulators)."""
    from botocore.parsers import ResponseParserError

    if isinstance(exc, ResponseParserError):
        return "500 Internal Server Error" in str(exc)
    if error_code(exc) in ("404", "501"):   # an emulator without the route: an HTML "not found" page
        return looks_like_html(str(getattr(exc, "response", {}).get("Error", {}).get("Message", "")))
    return error_code(exc) in NOT_IMPLEMENTED_CODES


def explain(exc: BaseException, action: str) -> DeployError:
    """One sentence for an AWS/botocore failure while doing `action` ("creating stack X")."""
    from botocore import exceptions as bx

    if isinstance(exc, (bx.NoCredentialsError, bx.PartialCredentialsError)):
        return DeployError(
            f"No usable AWS credentials while {action}: configure them (aws configure, aws sso "
            "login, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) or pass --profile."
        )
    if isinstance(exc, (bx.CredentialRetrievalError, bx.TokenRetrievalError)):
        return DeployError(f"Could not load AWS credentials while {action}: {exc}.")
    if isinstance(exc, bx.ProfileNotFound):
        return DeployError(f"AWS profile not found while {action}: {exc}.")
    if isinstance(exc, bx.NoRegionError):
        return DeployError(f"No AWS region while {action}: pass --region.")
    if isinstance(exc, (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ReadTimeoutError,
                        bx.ConnectionClosedError, bx.SSLError)):
        return DeployError(f"Could not reach AWS while {action}: {exc}.")
    if isinstance(exc, bx.ParamValidationError):
        return DeployError(f"Invalid request while {action}: {exc}.")
    if isinstance(exc, NotAws):
        return DeployError(f"Unexpected answer while {action}: {exc}.")
    code = error_code(exc)
    message = error_message(exc).rstrip(".")
    if "answered with an HTML page" in message:
        return DeployError(f"Unexpected answer while {action}: {message}.")
    if code in THROTTLING_CODES:
        return DeployError(
            f"AWS kept throttling the requests while {action}, even after adaptive retries "
            f"({code}); wait a minute and run the command again."
        )
    if code in CREDENTIAL_CODES:
        return DeployError(
            f"AWS rejected the credentials while {action} ({code}: {message}); refresh them "
            "(for SSO: aws sso login) or pass another --profile."
        )
    if code in ACCESS_CODES:
        return DeployError(f"Access denied while {action}: {message}.")
    if code in ("NoSuchBucket",):
        return DeployError(f"The S3 bucket does not exist while {action}: {message}.")
    if code:
        return DeployError(f"AWS refused {action}: {code}: {message}.")
    return DeployError(f"Unexpected answer from AWS while {action}: {message}.")


@contextmanager
def aws_errors(action: str) -> Iterator[None]:
    """Turn botocore exceptions raised inside the block into a one-sentence `DeployError`."""
    try:
        yield
    except UserError:
        raise
    except aws_exceptions() as exc:
        raise explain(exc, action) from None
