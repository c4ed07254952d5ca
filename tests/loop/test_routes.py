"""The local gateway's routing, CORS answer, models and auth modes, checked against the generated API."""
from __future__ import annotations

import json

import pytest

from infra.config import load_config
from infra.config.schema import Route
from infra.loop import auth
from infra.loop.routes import RouteTable, body_is_valid, cors_headers, model_schema
from loop_support import CATALOG, SECURE
from support.shipped import SHIPPED


@pytest.mark.parametrize("config", SHIPPED, ids=lambda p: p.stem)
def test_cors_answer_and_models_are_those_of_the_generated_api(config, generated):
    cfg = load_config(config)
    body = generated[cfg.name]["api"]["Resources"]["RestApi"]["Properties"]["Body"]
    preflights = [ops["options"] for ops in body["paths"].values() if "options" in ops]
    if cfg.api.cors:
        assert len(preflights) == len(body["paths"])
        for op in preflights:
            params = op["x-amazon-apigateway-integration"]["responses"]["default"]["responseParameters"]
            declared = {k.removeprefix("method.response.header."): v.strip("'") for k, v in params.items()}
            assert declared == cors_headers(cfg.api)
    models = body.get("components", {}).get("schemas", {})
    assert models == {name: model_schema(name, m) for name, m in cfg.api.models.items()}


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


def test_matching_prefers_literal_segments_and_reports_undeclared_methods():
    table = RouteTable(load_config(CATALOG))
    match = table.match("GET", "/users/42")
    assert (match.resource, match.route.method, match.path_parameters) == ("/users/{id}", "GET", {"id": "42"})
    assert table.match("PATCH", "/users/42").route is None  # resource known, method not
    assert table.match("GET", "/users/42/orders") is None
    assert table.match("GET", "/products/").resource == "/products"  # a trailing slash is the same resource


@pytest.mark.parametrize("body, valid", [
    (b'{"name": "a", "price": 1}', True), (b'{"name": "a", "price": 1, "category": "c", "extra": [1]}', True),
    (b'{"name": "a"}', False), (b'{"name": "a", "price": true}', False), (b'{"name": null, "price": 1}', False),
    (b'{"name": "a", "price": 1, "category": 5}', False), (b"", False), (b"[1]", False), (b"\xff", False),
])
def test_product_model_validation(body, valid):
    cfg = load_config(CATALOG)
    assert body_is_valid(model_schema("ProductPost", cfg.api.models["ProductPost"]), body) is valid


def test_auth_modes_are_rows_a_new_mode_only_adds_one(monkeypatch):
    secure = load_config(SECURE)
    keyed = secure.api.routes[0]
    assert [m.name for m in auth.modes(keyed)] == ["API_KEY"]
    assert auth.request_context(keyed, {"x-api-key": "abc"}) == {"identity": {"apiKey": "abc"}}
    signed = Route(method="GET", path="/x", function="f", auth="IAM")
    header = "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20240101/us-east-1/execute-api/aws4_request, SignedHeaders=host"
    assert auth.request_context(signed, {"authorization": header}) == {"identity": {"accessKey": "AKIAEXAMPLE"}}

    # COGNITO and JWT: announced, and the Bearer token's claims passed on unverified, in the shape
    # each authorizer gives them (user pool claims; the JWT authorizer's context).
    import base64

    def token(claims: dict) -> str:
        part = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")  # noqa: E731
        return f"Bearer {part({'alg': 'none'})}.{part(claims)}.sig"

    cognito = Route(method="GET", path="/x", function="f", auth="COGNITO")
    assert auth.warnings(cognito) == [
        "Cognito tokens are not verified locally (a Bearer token's claims are passed on unverified)"]
    bearer = {"authorization": token({"sub": "u1", "scope": "app/write", "exp": 5, "admin": True})}
    assert auth.request_context(cognito, bearer) == {
        "authorizer": {"claims": {"sub": "u1", "scope": "app/write", "exp": "5"}}}
    jwt = Route(method="GET", path="/x", function="f", auth="JWT")
    assert auth.request_context(jwt, bearer)["authorizer"]["principalId"] == "u1"
    assert auth.request_context(jwt, {"authorization": "Bearer not-a-jwt"}) == {}
    # As handlers/authorizer: a machine client without sub is its client id; Entra's scp string
    # and a scp list are scopes; a token naming no subject and no client has no identity.
    machine = auth.request_context(jwt, {"authorization": token({"client_id": "batch", "scp": "a/read a/write"})})
    assert machine["authorizer"]["principalId"] == "batch" and machine["authorizer"]["scope"] == "a/read a/write"
    listed = auth.request_context(jwt, {"authorization": token({"sub": "u2", "scp": ["x/read"]})})
    assert listed["authorizer"]["scope"] == "x/read"
    assert auth.request_context(jwt, {"authorization": token({"iss": "https://i.example"})}) == {}
    # A mode the table does not know is announced as not enforced.
    unknown = Route.__new__(Route)
    object.__setattr__(unknown, "auth", "SOMETHING")
    object.__setattr__(unknown, "api_key", False)
    assert auth.warnings(unknown) == ["auth 'SOMETHING' has no local mode and is not enforced"]


def test_generated_event_body_round_trips(cli):
    result = cli("generate-event", "--config", CATALOG, "--method", "POST", "--path", "/products",
                 "--body", json.dumps({"name": "pen", "price": 1}))
    event = json.loads(result.stdout)
    assert json.loads(event["body"]) == {"name": "pen", "price": 1}
    assert event["requestContext"]["identity"]["sourceIp"] == "127.0.0.1"


@pytest.mark.parametrize("schema, body, valid", [
    # What the hand-written subset ignored and API Gateway's draft-4 validation does not.
    ({"type": "object", "properties": {"name": {"type": "string", "minLength": 1}}}, b'{"name": ""}', False),
    ({"type": "object", "additionalProperties": False, "properties": {"a": {"type": "string"}}}, b'{"b": 1}', False),
    ({"type": "object", "properties": {"n": {"type": "number", "maximum": 5, "exclusiveMaximum": True}}},
     b'{"n": 5}', False),                                  # draft 4's boolean exclusiveMaximum
    ({"type": "object", "properties": {"c": {"enum": ["a", "b"]}}}, b'{"c": "z"}', False),
    ({"type": "array", "items": {"type": "integer"}}, b"[1, 2.5]", False),
    ({"type": "object", "properties": {"n": {"type": "integer"}}}, b'{"n": 2.0}', False),  # draft 4: no fraction
    ({"type": "object", "properties": {"n": {"type": "number"}}}, b'{"n": NaN}', False),   # not JSON
    ({"type": "object", "properties": {"c": {"enum": ["a", "b"]}}}, b'{"c": "a"}', True),
])
def test_bodies_are_validated_by_the_jsonschema_library_as_draft_4(schema, body, valid):
    assert body_is_valid(schema, body) is valid


def test_a_model_schema_is_checked_against_draft_4_itself():
    from jsonschema.exceptions import SchemaError

    from infra.loop.routes import body_validator

    with pytest.raises(SchemaError):
        body_validator({"type": "object", "properties": {"n": {"type": "number", "minimum": "five"}}})
