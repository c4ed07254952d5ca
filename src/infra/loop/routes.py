"""The config's routes as API Gateway (REST) would match, validate and answer them locally.

Matching: a path is split into segments and matched against the declared resource paths; at
each level a literal segment wins over a `{variable}` (API Gateway picks the most specific
resource). A path that no resource matches, and a method a matched resource does not declare,
are both answered `403 {"message":"Missing Authentication Token"}`, as API Gateway REST APIs
do for anything outside the API's definition (AWS Knowledge Center, "API Gateway REST API
endpoint Missing Authentication Token errors":
https://repost.aws/knowledge-center/api-gateway-authentication-token-errors).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import unquote

from infra.config.schema import Api, Config, Model, Route

MISSING_TOKEN = {"message": "Missing Authentication Token"}
INVALID_BODY = {"message": "Invalid request body"}


@dataclass(frozen=True)
class Match:
    """A request's route, or only its resource path (`route` None: the method is not declared)."""

    resource: str
    route: Route | None
    path_parameters: dict[str, str]


class RouteTable:
    """The routes of one config."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.api: Api = cfg.api
        self.routes = list(cfg.api.routes)
        self.resources = sorted({r.path for r in self.routes})

    def match(self, method: str, path: str) -> Match | None:
        """The resource and route `method path` addresses; None when no resource matches."""
        segments = _segments(path)
        best: tuple[tuple[int, ...], str, dict[str, str]] | None = None
        for resource in self.resources:
            params = _bind(_segments(resource), segments)
            if params is None:
                continue
            # Most specific first: literal segments before variables, level by level.
            rank = tuple(0 if s.startswith("{") else 1 for s in _segments(resource))
            if best is None or rank > best[0]:
                best = (rank, resource, params)
        if best is None:
            return None
        _, resource, params = best
        route = next((r for r in self.routes if r.path == resource and r.method == method.upper()), None)
        return Match(resource, route, params)


def _segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s]


def _bind(template: list[str], segments: list[str]) -> dict[str, str] | None:
    if len(template) != len(segments):
        return None
    params = {}
    for want, got in zip(template, segments):
        if want.startswith("{"):
            params[want.strip("{}")] = unquote(got)
        elif want != got:
            return None
    return params


def cors_headers(api: Api) -> dict[str, str]:
    """What the generated OPTIONS method answers (infra.openapi), as HTTP headers."""
    from infra import openapi

    return {header: value.strip("'") for header, value in openapi.cors_headers(api).items()}


def gateway_headers(api: Api) -> dict[str, str]:
    """Headers API Gateway adds to its own 4XX/5XX answers (the generated gateway responses)."""
    return {"Access-Control-Allow-Origin": api.cors.origins[0]} if api.cors else {}


def model_schema(name: str, model: Model) -> dict:
    """The model's JSON schema, exactly as the API's OpenAPI document declares it."""
    from infra import openapi

    return openapi.model_schema(name, model)


def body_is_valid(schema: dict, body: bytes | None) -> bool:
    """API Gateway's request body validation for the draft-04 subset the models use: the body
    parses as JSON, has the schema's type, its required properties, and typed properties."""
    try:
        value = json.loads(body or b"")
    except ValueError:
        return False
    return _valid(schema, value)


def _valid(schema: dict, value: object) -> bool:
    if "type" in schema and not _has_type(value, schema["type"]):
        return False
    if isinstance(value, dict):
        if any(name not in value for name in schema.get("required", ())):
            return False
        for name, sub in schema.get("properties", {}).items():
            if name in value and not _valid(sub, value[name]):
                return False
    return True


_JSON_TYPES = {"string": str, "boolean": bool, "object": dict, "array": list, "null": type(None)}


def _has_type(value: object, kind: str) -> bool:
    # Draft-04: booleans are not numbers, and an integer is written without a fraction or an
    # exponent (json.loads makes those floats, so 2.0 is not an integer here, as in draft-04).
    if kind in ("integer", "number"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return kind == "number" or isinstance(value, int)
    expected = _JSON_TYPES.get(kind)
    return expected is None or isinstance(value, expected)
