"""How route authorization is treated by the local server: one row per mode.

Nothing is enforced locally (there is no IAM, no usage plan and no identity provider on a
laptop): every mode a route uses is accepted, announced with a warning when the server starts,
and the request context gets what the mode can honestly tell from the request (an IAM caller's
access key id from the unverified SigV4 `Authorization` header, the `x-api-key` value). A new
mode ("COGNITO", "JWT") is one more row in `MODES`.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from infra.config.schema import Route

Headers = Mapping[str, str]  # lower-case names

_SIGV4_CREDENTIAL = re.compile(r"Credential=([A-Z0-9]+)/")


@dataclass(frozen=True)
class AuthMode:
    name: str
    applies: Callable[[Route], bool]
    warning: str
    # requestContext additions for one request: {"identity": {...}} or {"authorizer": {...}}.
    context: Callable[[Headers], dict[str, dict]]


def _iam_identity(headers: Headers) -> dict[str, dict]:
    found = _SIGV4_CREDENTIAL.search(headers.get("authorization", ""))
    return {"identity": {"accessKey": found.group(1)}} if found else {}


def _api_key_identity(headers: Headers) -> dict[str, dict]:
    key = headers.get("x-api-key")
    return {"identity": {"apiKey": key}} if key else {}


MODES: tuple[AuthMode, ...] = (
    AuthMode("IAM", lambda r: r.auth == "IAM",
             "IAM authorization is not enforced locally (requests are not SigV4-verified)", _iam_identity),
    AuthMode("API_KEY", lambda r: r.api_key,
             "the API key is not checked locally (any or no x-api-key header is accepted)", _api_key_identity),
)
_UNAUTHENTICATED = ("NONE",)


def modes(route: Route) -> list[AuthMode]:
    """The modes that protect `route` in the deployed API."""
    return [m for m in MODES if m.applies(route)]


def warnings(route: Route) -> list[str]:
    """What the local server does not enforce for `route` (empty for an open route)."""
    out = [m.warning for m in modes(route)]
    known = {m.name for m in MODES}
    if route.auth not in _UNAUTHENTICATED and route.auth not in known:
        out.append(f"auth '{route.auth}' has no local mode and is not enforced")
    return out


def request_context(route: Route, headers: Headers) -> dict[str, dict]:
    """The requestContext fields the route's modes fill in for this request."""
    merged: dict[str, dict] = {}
    for mode in modes(route):
        for key, values in mode.context(headers).items():
            merged.setdefault(key, {}).update(values)
    return merged
