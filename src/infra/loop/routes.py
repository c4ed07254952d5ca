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
from collections.abc import Callable
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
        assert cfg.api is not None, "only a config with an [api] has routes"
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


# Models are declared for this content type only (openapi.py: requestBody.content); API Gateway
# validates a body only against the model of the request's content type ("If no matching content
# type is found, request validation is not performed"), and takes a request without Content-Type
# as application/json.
MODEL_CONTENT_TYPE = "application/json"


def validated_content_type(headers: list[tuple[str, str]]) -> bool:
    """Whether API Gateway would validate this request's body against the route's model."""
    declared = next((v for k, v in headers if k.lower() == "content-type"), None)
    if declared is None:
        return True
    return declared.split(";", 1)[0].strip().lower() == MODEL_CONTENT_TYPE


def body_validator(schema: dict) -> Callable[[bytes | None], bool]:
    """API Gateway's request body validation with the model's schema: the body parses as JSON and
    is valid under JSON Schema draft 4 (the draft API Gateway models use), checked by the
    `jsonschema` library."""
    from jsonschema import Draft4Validator

    Draft4Validator.check_schema(schema)
    validator = Draft4Validator(schema)

    def valid(body: bytes | None) -> bool:
        try:
            value = json.loads(body or b"", parse_constant=_not_json)
        except ValueError:  # not JSON (NaN and Infinity are not JSON either), or not UTF-8
            return False
        return bool(validator.is_valid(value))

    return valid


def _not_json(word: str) -> object:
    raise ValueError(f"{word} is not JSON")


def body_is_valid(schema: dict, body: bytes | None) -> bool:
    """`body_validator(schema)(body)`, for one body."""
    return body_validator(schema)(body)
