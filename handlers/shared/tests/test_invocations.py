"""The shared HTTP library per invocation: ids that overlapping invocations keep to themselves,
415 for bodies that are not JSON, and the checks on text fields."""
from __future__ import annotations

import importlib.util
import json
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest


@pytest.fixture(scope="module")
def apigw():
    # apigw.py makes its DynamoDB resource at import: give it a region (no call is ever made).
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        spec = importlib.util.spec_from_file_location("shared_apigw_invocations",
                                                      Path(__file__).resolve().parents[1] / "apigw.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module


def _event(request_id: str, method: str = "GET", body: str | None = None, headers: dict | None = None) -> dict:
    return {"httpMethod": method, "path": "/items", "resource": "/items", "body": body, "headers": headers,
            "requestContext": {"requestId": request_id}}


def test_overlapping_invocations_keep_their_own_ids(apigw, capsys):
    both_inside = threading.Barrier(2, timeout=10)

    def route(request):
        apigw.log("INFO", "before the other one starts its work")
        both_inside.wait()  # both invocations are now in flight at once
        apigw.log("INFO", "after")
        if request.query.get("fail"):
            raise apigw.HttpError(409, "conflict")
        return apigw.respond(200, {"seen": apigw.request_id()})

    router = apigw.Router({"/items": {"GET": route}})
    results: dict[str, dict] = {}

    def invoke(name: str, fail: bool) -> None:
        event = _event(f"api-{name}")
        event["queryStringParameters"] = {"fail": "1"} if fail else None
        results[name] = router(event, SimpleNamespace(aws_request_id=f"lambda-{name}"))

    threads = [threading.Thread(target=invoke, args=(n, n == "B")) for n in ("A", "B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert json.loads(results["A"]["body"]) == {"seen": "api-A"}
    assert json.loads(results["B"]["body"]) == {"message": "conflict", "requestId": "api-B"}
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 6  # two route lines and "request served", per invocation
    for entry in lines:
        name = entry["correlation_id"].removeprefix("api-")
        assert entry["function_request_id"] == f"lambda-{name}", entry
    assert sorted(e["correlation_id"] for e in lines) == ["api-A"] * 3 + ["api-B"] * 3
    served = {e["correlation_id"]: e["status"] for e in lines if e["message"] == "request served"}
    assert served == {"api-A": 200, "api-B": 409}
    assert apigw.request_id() is None  # nothing leaks into the caller's context


def test_ids_of_one_invocation_do_not_outlive_it(apigw, capsys):
    router = apigw.Router({"/items": {"GET": lambda request: apigw.respond(200, {})}})
    router(_event("first"), SimpleNamespace(aws_request_id="l1"))
    router({"httpMethod": "GET", "path": "/items"}, None)  # no ids at all
    last = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert "correlation_id" not in last and "function_request_id" not in last


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
@pytest.mark.parametrize("content_type, status", [
    ("text/plain", 415), ("application/x-www-form-urlencoded", 415), ("application/merge-patch+json", 415),
    ("application/jsonp", 415), ("", 415),
    ("application/json", 200), ("Application/JSON; charset=utf-8", 200), (None, 200),
])
def test_a_body_that_is_not_json_is_415(apigw, method, content_type, status):
    router = apigw.Router({"/items": {method: lambda request: apigw.respond(200, request.json_object())}})
    headers = None if content_type is None else {"content-TYPE": content_type}
    response = router(_event("r", method, '{"a": 1}', headers), None)
    assert response["statusCode"] == status, response
    if status == 415:
        assert json.loads(response["body"]) == {"message": "Content-Type must be application/json", "requestId": "r"}
    else:
        assert json.loads(response["body"]) == {"a": 1}


@pytest.mark.parametrize("value, problem", [
    ("a\u0000b", "must not contain control characters"),
    ("a\nb", "must not contain control characters"),
    ("a\u009fb", "must not contain control characters"),
    ("abc\u202edcba", "must not contain bidirectional control characters"),
    ("\u2066x\u2069", "must not contain bidirectional control characters"),
    ("x\u200fy", "must not contain bidirectional control characters"),
    ("\u200b", "must contain a visible character"),
    ("\u200b\u2060\ufeff\u00ad", "must contain a visible character"),
    ("\u3164\u3164", "must contain a visible character"),
    ("\u115f\u034f\ufe0f", "must contain a visible character"),
    ("\U000e0041\U000e0042", "must contain a visible character"),
    ("\u3000 \u00a0", "must be a non-empty string"),  # whitespace only
])
def test_text_fields_refuse_control_bidi_and_invisible_text(apigw, value, problem):
    errors: list[str] = []
    assert apigw.text_field({"name": value}, "name", 256, errors) is None
    assert errors == [f"name {problem}"]


@pytest.mark.parametrize("value", ["Zoë", "\U0001f600" * 256, "a\u200db", "\U0001f469\u200d\U0001f4bb", "x\u00ady",
                                   "مرحبا", "שלום", " padded\u3000"])
def test_text_fields_accept_real_names_and_count_code_points(apigw, value):
    errors: list[str] = []
    assert apigw.text_field({"name": value}, "name", 256, errors) == value.strip()
    assert errors == []
    assert apigw.text_field({"name": "\U0001f600" * 257}, "name", 256, errors) is None
    assert errors == ["name must be at most 256 characters"]
