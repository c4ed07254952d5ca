"""How route authorization is treated by the local server: one row per mode.

Nothing is enforced locally (there is no IAM, no usage plan and no identity provider on a
laptop): every mode a route uses is accepted, announced with a warning when the server starts,
and the request context gets what the mode can honestly tell from the request (an IAM caller's
access key id from the unverified SigV4 `Authorization` header, the `x-api-key` value). A new
mode is one more row in `MODES`.
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


def _bearer_payload(headers: Headers) -> dict:
    """The payload of the request's `Authorization: Bearer <JWT>` token, NOT verified (there is
    no issuer to ask locally)."""
    import base64
    import json

    value = headers.get("authorization", "")
    token = value.split(" ", 1)[1] if value.lower().startswith("bearer ") else value
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, UnicodeDecodeError):
        return {}
    return payload if isinstance(payload, dict) else {}


def _bearer_claims(headers: Headers) -> dict[str, str]:
    """The unverified token's string and number claims, as API Gateway passes them."""
    return {k: str(v) for k, v in _bearer_payload(headers).items()
            if isinstance(v, (str, int, float)) and not isinstance(v, bool)}


def _scopes(payload: dict) -> list[str]:
    """As handlers/authorizer reads them: `scope`, or `scp` as a list or a space-separated string."""
    for claim in ("scope", "scp"):
        value = payload.get(claim)
        if isinstance(value, str):
            return [s for s in value.split(" ") if s]
        if claim == "scp" and isinstance(value, list):
            return [str(s) for s in value]
    return []


def _cognito_identity(headers: Headers) -> dict[str, dict]:
    claims = _bearer_claims(headers)
    return {"authorizer": {"claims": claims}} if claims else {}


def _jwt_identity(headers: Headers) -> dict[str, dict]:
    """What handlers/authorizer returns as its context, from the unverified token: its principal
    is the subject, or a machine client's id; a token naming neither gets no identity (the
    deployed authorizer refuses it)."""
    payload = _bearer_payload(headers)
    claims = _bearer_claims(headers)
    client = claims.get("client_id", claims.get("azp", ""))
    principal = claims.get("sub") or client
    if not principal:
        return {}
    return {"authorizer": {"principalId": principal, "sub": principal, "iss": claims.get("iss", ""),
                           "scope": " ".join(_scopes(payload)), "email": claims.get("email", ""),
                           "client_id": client}}


MODES: tuple[AuthMode, ...] = (
    AuthMode("IAM", lambda r: r.auth == "IAM",
             "IAM authorization is not enforced locally (requests are not SigV4-verified)", _iam_identity),
    AuthMode("API_KEY", lambda r: r.api_key,
             "the API key is not checked locally (any or no x-api-key header is accepted)", _api_key_identity),
    AuthMode("COGNITO", lambda r: r.auth == "COGNITO",
             "Cognito tokens are not verified locally (a Bearer token's claims are passed on unverified)",
             _cognito_identity),
    AuthMode("JWT", lambda r: r.auth == "JWT",
             "JWT tokens are not verified locally (a Bearer token's claims are passed on as the authorizer's "
             "context, unverified)", _jwt_identity),
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
