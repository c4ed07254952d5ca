"""Property tests: whatever a client sends, the secure-api handler answers well-formed JSON, and
never a 5xx (client mistakes are 4xx) and never raises; what it accepts it stores faithfully."""
from __future__ import annotations

import base64
import json
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, event as note_event, given, settings
from hypothesis import strategies as st

TABLE = "api-fuzz"
SETTINGS = settings(max_examples=150, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

json_scalars = (st.none() | st.booleans() | st.integers() | st.floats()
                | st.text(max_size=30))
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=25,
)
json_objects = st.dictionaries(st.text(max_size=10), json_values, max_size=6)
deep = st.integers(min_value=25, max_value=40).map(
    lambda n: json.dumps(json.loads('{"a":' * n + "1" + "}" * n)))

methods = st.one_of(st.sampled_from(["GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD"]),
                    st.text(max_size=8))
routes = st.sampled_from([("GET", "/api/v1", "/api/v1"), ("POST", "/api/v1", "/api/v1")])
arbitrary_routes = st.tuples(
    methods,
    st.none() | st.sampled_from(["/api/v1", "/{proxy+}", "/api"]) | st.text(max_size=20),
    st.sampled_from(["/api/v1", "/api/v1/", "/api/v1/x", "/api", "/"]) | st.text(max_size=40),
)
bodies = st.one_of(
    st.none(), st.text(max_size=200), json_values.map(json.dumps),
    json_objects.map(json.dumps), deep,
    st.binary(max_size=80).map(lambda b: b.decode("latin-1")),
)
queries = st.none() | st.dictionaries(
    st.sampled_from(["limit", "cursor"]) | st.text(max_size=5),
    st.text(max_size=10) | st.integers(-5, 200).map(str), max_size=3)


@st.composite
def events(draw):
    method, resource, path = draw(st.one_of(routes, routes, arbitrary_routes))
    body = draw(bodies)
    base64_encoded = draw(st.booleans())
    if base64_encoded and draw(st.booleans()):
        raw = draw(st.binary(max_size=100)) if body is None else body.encode("utf-8", "replace")
        body = base64.b64encode(raw).decode()
    return {
        "resource": resource, "path": path, "httpMethod": method,
        "queryStringParameters": draw(queries),
        "pathParameters": draw(st.none() | st.dictionaries(st.text(max_size=5),
                                                           st.text(max_size=5), max_size=2)),
        "body": body, "isBase64Encoded": base64_encoded,
        "requestContext": draw(st.none() | st.fixed_dictionaries(
            {"requestId": st.text(max_size=10)})),
    }


@pytest.fixture(scope="module")
def fuzz_table(api, aws_env, new_table):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TABLE_NAME", TABLE)
        table = new_table(TABLE, ("id", "S"), ("timestamp", "N"))
        yield table
        table.delete()


@SETTINGS
@given(event=events())
def test_any_request_gets_a_well_formed_non_5xx_answer(api, fuzz_table, lambda_context,
                                                        well_formed, event):
    result = api.handler(event, lambda_context)
    well_formed(result)
    note_event(f"status {result['statusCode']}")
    assert result["statusCode"] < 500, (event, result)


@SETTINGS
@given(body=json_objects)
def test_post_stores_any_object_faithfully_or_says_why_not(api, fuzz_table, invoker, body):
    response = invoker(api)("POST", "/api/v1", body=body)
    assert response.status in (201, 400), (body, response)
    note_event(f"status {response.status}")
    if response.status == 201:
        # Numbers are kept as the decimal text the client sent (not as binary floats): read back
        # as decimals, the answer holds exactly what was sent.
        sent = json.loads(json.dumps(body), parse_float=Decimal)
        assert json.loads(response.text, parse_float=Decimal)["data"] == sent
        stored = fuzz_table.get_item(Key={"id": response.json["id"],
                                          "timestamp": response.json["timestamp"]})["Item"]
        assert json.loads(api.apigw.to_json(stored["data"])) == response.json["data"]


@SETTINGS
@given(value=json_values.filter(lambda v: not isinstance(v, dict)))
def test_post_non_objects_is_400(api, fuzz_table, invoker, value):
    assert invoker(api)("POST", "/api/v1", body=json.dumps(value)).status == 400
