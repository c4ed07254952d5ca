"""The caller's identity, as handlers read it from the request context of each authorizer."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest



@pytest.fixture(scope="module")
def apigw():
    # apigw.py makes its DynamoDB resource at import: give it a region (no call is ever made).
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        spec = importlib.util.spec_from_file_location("shared_apigw_caller", Path(__file__).resolve().parents[1] / "apigw.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module


def _event(request_context: dict) -> dict:
    return {"httpMethod": "POST", "path": "/items", "resource": "/items", "body": "{}",
            "requestContext": {"requestId": "r-1", **request_context}}


def _who(apigw, request):
    c = request.caller
    return apigw.respond(200, {"kind": c.kind, "id": c.id, "scopes": list(c.scopes), "claims": c.claims,
                               "apiKeyId": c.api_key_id})


@pytest.fixture
def serve(apigw):
    router = apigw.Router({"/items": {"POST": lambda request: _who(apigw, request)}})
    return lambda rc: json.loads(router(_event(rc), None)["body"])


def test_cognito_user_pool_claims(serve):
    got = serve({"authorizer": {"claims": {"sub": "u-1", "email": "a@example.com", "scope": "api/write api/read",
                                           "cognito:username": "alice"}},
                 "identity": {"apiKeyId": "key-1", "sourceIp": "192.0.2.1"}})
    assert got == {"kind": "cognito", "id": "u-1", "scopes": ["api/write", "api/read"], "apiKeyId": "key-1",
                   "claims": {"sub": "u-1", "email": "a@example.com", "scope": "api/write api/read",
                              "cognito:username": "alice"}}


def test_jwt_lambda_authorizer_context(serve):
    got = serve({"authorizer": {"principalId": "u-2", "sub": "u-2", "iss": "https://login.example.com/",
                                "scope": "orders:admin", "integrationLatency": 12}})
    assert (got["kind"], got["id"], got["scopes"]) == ("jwt", "u-2", ["orders:admin"])
    assert got["claims"]["iss"] == "https://login.example.com/" and got["apiKeyId"] is None


def test_iam_caller_and_anonymous(serve):
    arn = "arn:aws:sts::123456789012:assumed-role/ci/session"
    assert serve({"identity": {"userArn": arn, "caller": "AROA:session"}})["id"] == arn
    anonymous = serve({"identity": {"apiKeyId": "key-9"}})
    # An API key alone identifies a usage plan, not a person.
    assert anonymous == {"kind": "anonymous", "id": None, "scopes": [], "claims": {}, "apiKeyId": "key-9"}


def test_malformed_contexts_are_anonymous_not_errors(serve):
    for rc in ({"authorizer": "x"}, {"authorizer": {"claims": "x"}}, {"identity": None},
               {"authorizer": {"principalId": True}}):
        assert serve(rc)["kind"] == "anonymous"
