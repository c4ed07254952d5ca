"""Property tests: whatever a client sends, the products handler answers well-formed JSON, and
never a 5xx (client mistakes are 4xx) and never raises."""
from __future__ import annotations

import base64
import json
import uuid
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, event as note_event, given, settings
from hypothesis import strategies as st

TABLE = "products-fuzz"
SETTINGS = settings(max_examples=150, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

KNOWN_ID = str(uuid.uuid4())

methods = st.one_of(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS",
                                     "HEAD", "get", "post"]), st.text(max_size=8))
paths = st.one_of(
    st.sampled_from(["/products", "/products/", f"/products/{KNOWN_ID}", "/products/x",
                     "/products/%2F..%2F", "/", "/users", "//products"]),
    st.text(max_size=40),
    st.builds(lambda s: f"/products/{s}", st.text(max_size=40)),
)
resources = st.one_of(st.none(), st.sampled_from(["/products", "/products/{id}", "/{proxy+}"]),
                      st.text(max_size=20))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
product_like = st.fixed_dictionaries(
    {}, optional={"name": json_values, "price": json_values, "category": json_values})
valid_products = st.fixed_dictionaries(
    {"name": st.text(min_size=1, max_size=30),
     "price": st.integers(min_value=-5, max_value=10**45) | st.floats(min_value=-1)},
    optional={"category": st.text(max_size=12) | json_values, "extra": json_values},
)
bodies = st.one_of(
    st.none(),
    st.text(max_size=200),
    json_values.map(json.dumps),
    product_like.map(json.dumps),
    valid_products.map(json.dumps),
    st.builds(lambda n, p: json.dumps({"name": n, "price": p}),
              st.text(max_size=20), st.integers() | st.floats() | st.decimals().map(str)),
)
queries = st.one_of(
    st.none(),
    st.dictionaries(st.sampled_from(["limit", "cursor", "x"]) | st.text(max_size=5),
                    st.text(max_size=30) | st.integers(-5, 200).map(str), max_size=3),
    st.builds(lambda c: {"cursor": c}, st.binary(max_size=60).map(
        lambda b: base64.urlsafe_b64encode(b).decode().rstrip("="))),
)


routes = st.sampled_from([("GET", "/products", "/products", None),
                          ("POST", "/products", "/products", None),
                          ("GET", "/products/{id}", f"/products/{KNOWN_ID}", {"id": KNOWN_ID}),
                          ("GET", "/products/{id}", "/products/not-an-id", {"id": "not-an-id"})])
arbitrary_routes = st.tuples(
    methods, resources, paths,
    st.none() | st.dictionaries(st.sampled_from(["id", "x"]), st.text(max_size=40), max_size=2))


@st.composite
def events(draw):
    # Two draws in three address a real route, so that bodies and queries get exercised.
    method, resource, path, path_params = draw(st.one_of(routes, routes, arbitrary_routes))
    body = draw(bodies)
    base64_encoded = draw(st.booleans())
    if base64_encoded and draw(st.booleans()):
        raw = draw(st.binary(max_size=100)) if body is None else body.encode("utf-8", "replace")
        body = base64.b64encode(raw).decode()
    return {
        "resource": resource, "path": path, "httpMethod": method, "headers": None,
        "queryStringParameters": draw(queries), "pathParameters": path_params,
        "body": body, "isBase64Encoded": base64_encoded,
        "requestContext": {"requestId": draw(st.text(max_size=10))},
    }


@pytest.fixture(scope="module")
def fuzz_table(products, aws_env, new_table):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TABLE_NAME", TABLE)
        table = new_table(TABLE, ("id", "S"))
        table.put_item(Item={"id": KNOWN_ID, "name": "known", "price": 1})
        yield table
        table.delete()


@SETTINGS
@given(event=events())
def test_any_request_gets_a_well_formed_non_5xx_answer(products, fuzz_table, lambda_context,
                                                        well_formed, event):
    result = products.handler(event, lambda_context)
    well_formed(result)
    note_event(f"status {result['statusCode']}")
    assert result["statusCode"] < 500, (event, result)


@SETTINGS
@given(body=st.one_of(valid_products, valid_products, product_like,
                     st.dictionaries(st.text(max_size=8), json_values, max_size=5)))
def test_post_is_201_and_readable_or_400(products, fuzz_table, lambda_context, invoker, body):
    call = invoker(products)
    response = call("POST", "/products", body=body)
    assert response.status in (201, 400), (body, response)
    note_event(f"status {response.status}")
    if response.status == 201:
        name, price = body["name"], body["price"]
        assert response.json["name"] == name.strip()
        # The price comes back as the number sent, digit for digit (never through a binary float).
        assert json.loads(response.text, parse_float=Decimal)["price"] == json.loads(json.dumps(price),
                                                                                     parse_float=Decimal)
        fetched = call("GET", "/products/{id}", f"/products/{response.json['id']}",
                       path_params={"id": response.json["id"]})
        assert fetched.status == 200 and fetched.json == response.json


@SETTINGS
@given(query=queries)
def test_list_is_200_or_400(products, fuzz_table, lambda_context, invoker, query):
    response = invoker(products)("GET", "/products", query=query)
    assert response.status in (200, 400), (query, response)
    note_event(f"status {response.status}")
    if response.status == 200:
        assert set(response.json) == {"items", "cursor"}
