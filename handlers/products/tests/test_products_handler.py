"""Products handler against DynamoDB in the moto server: every route and every error path."""
from __future__ import annotations

import base64
import json
import re
import uuid
from decimal import Decimal

import pytest
from botocore.exceptions import ClientError

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def create(call, **body):
    response = call("POST", "/products", body=body)
    assert response.status == 201, response
    return response.json


# --- POST /products ---------------------------------------------------------------------------


def test_create_stores_the_product(call, table):
    response = call("POST", "/products", body={"name": "  Lamp ", "price": 19.99,
                                                "category": "home", "ignored": True})
    assert response.status == 201
    product = response.json
    assert UUID.fullmatch(product["id"])
    assert product["name"] == "Lamp" and product["price"] == 19.99 and product["category"] == "home"
    assert "ignored" not in product and product["createdAt"].endswith("Z")
    assert response.headers["Location"] == f"/products/{product['id']}"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    stored = table.get_item(Key={"id": product["id"]})["Item"]
    assert stored["price"] == Decimal("19.99")  # a Decimal, exactly the number that was sent
    assert set(stored) == {"id", "name", "price", "category", "createdAt"}


@pytest.mark.parametrize("price, stored", [
    (0, Decimal(0)), (-0.0, Decimal(0)), (5, Decimal(5)), (0.1, Decimal("0.1")),
    (10**40, Decimal("1E+40")), ("1.5e-3", Decimal("0.0015")),
])
def test_create_accepts_storable_prices(call, table, price, stored):
    body = json.dumps({"name": "x", "price": price}) if not isinstance(price, str) else \
        '{"name": "x", "price": %s}' % price
    response = call("POST", "/products", body=body)
    assert response.status == 201, response
    assert table.get_item(Key={"id": response.json["id"]})["Item"]["price"] == stored


def test_create_without_category_stores_no_category(call, table):
    product = create(call, name="Pen", price=1)
    assert "category" not in table.get_item(Key={"id": product["id"]})["Item"]


@pytest.mark.parametrize("body, field", [
    ({"price": 1}, "name"),
    ({"name": "", "price": 1}, "name"),
    ({"name": "   ", "price": 1}, "name"),
    ({"name": 7, "price": 1}, "name"),
    ({"name": None, "price": 1}, "name"),
    ({"name": ["a"], "price": 1}, "name"),
    ({"name": "x" * 257, "price": 1}, "name"),
    ({"name": "x"}, "price"),
    ({"name": "x", "price": True}, "price"),
    ({"name": "x", "price": False}, "price"),
    ({"name": "x", "price": "1"}, "price"),
    ({"name": "x", "price": None}, "price"),
    ({"name": "x", "price": {"amount": 1}}, "price"),
    ({"name": "x", "price": -0.01}, "price"),
    ({"name": "x", "price": -5}, "price"),
    ({"name": "x", "price": 10**126}, "price"),
    ({"name": "x", "price": int("1" * 39)}, "price"),
    ({"name": "x", "price": 1, "category": 3}, "category"),
    ({"name": "x", "price": 1, "category": ""}, "category"),
    ({"name": "x", "price": 1, "category": None}, "category"),
    ({"name": "x", "price": 1, "category": "c" * 129}, "category"),
])
def test_create_rejects_invalid_fields(call, table, body, field):
    response = call("POST", "/products", body=body)
    assert response.status == 400, response
    assert response.json["message"] == "Validation failed"
    assert any(e.startswith(field) for e in response.json["errors"]), response.json
    assert response.json["requestId"] == "req-test"
    assert table.scan()["Count"] == 0


def test_create_reports_every_invalid_field(call, table):
    response = call("POST", "/products", body={"name": "", "price": "free", "category": 1})
    assert response.status == 400
    assert [e.split()[0] for e in response.json["errors"]] == ["name", "price", "category"]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400", "1e-400"])
def test_create_rejects_non_finite_and_unstorable_numbers(call, table, literal):
    response = call("POST", "/products", body='{"name": "x", "price": %s}' % literal)
    assert response.status == 400, response


@pytest.mark.parametrize("body", [
    "{", "not json", '{"name": "x",}', "[1, 2]", '"a string"', "42", "null", "true",
    "", "   ", "\ufeff{}", "[" * 100_00,
])
def test_create_rejects_malformed_or_non_object_json(call, table, body):
    response = call("POST", "/products", body=body)
    assert response.status == 400, response
    assert response.json["message"].startswith("Request body")


def test_create_requires_a_body(call, table):
    response = call("POST", "/products", body=None)
    assert response.status == 400
    assert response.json["message"] == "Request body is required"


def test_create_accepts_a_base64_body(call, table):
    body = base64.b64encode(json.dumps({"name": "Mug", "price": 4.5}).encode()).decode()
    response = call("POST", "/products", body=body, base64_encoded=True)
    assert response.status == 201 and response.json["name"] == "Mug"


@pytest.mark.parametrize("body", ["%%%", "abc", "YWJj=", "YW Jj",
                                  base64.b64encode(b"\xff\xfe").decode()])
def test_create_rejects_bad_base64_or_bad_utf8(call, table, body):
    response = call("POST", "/products", body=body, base64_encoded=True)
    assert response.status == 400, response


def test_create_rejects_lone_surrogates(call, table):
    assert call("POST", "/products", body='{"name": "\\ud800", "price": 1}').status == 400
    assert call("POST", "/products", body='{"name": "\ud800", "price": 1}').status == 400


def test_body_over_the_limit_is_413(call, table):
    big = json.dumps({"name": "x", "price": 1, "pad": "a" * 65536})
    response = call("POST", "/products", body=big)
    assert response.status == 413
    encoded = base64.b64encode(big.encode()).decode()
    assert call("POST", "/products", body=encoded, base64_encoded=True).status == 413
    assert table.scan()["Count"] == 0


def test_body_limit_is_configurable(call, table, monkeypatch):
    monkeypatch.setenv("MAX_BODY_BYTES", "30")
    assert call("POST", "/products", body={"name": "a" * 40, "price": 1}).status == 413
    assert call("POST", "/products", body={"name": "a", "price": 1}).status == 201
    monkeypatch.setenv("MAX_BODY_BYTES", "not a number")  # falls back to the default
    assert call("POST", "/products", body={"name": "a" * 40, "price": 1}).status == 201


# --- GET /products/{id} -----------------------------------------------------------------------


def test_get_returns_the_product(call, table):
    product = create(call, name="Chair", price=49, category="furniture")
    response = call("GET", "/products/{id}", f"/products/{product['id']}",
                    path_params={"id": product["id"]})
    assert response.status == 200
    assert response.json == product
    assert isinstance(response.json["price"], int)


@pytest.mark.parametrize("product_id", [str(uuid.uuid4()), "nope", "x" * 5000,
                                         str(uuid.uuid4()).upper()])
def test_get_unknown_product_is_404(call, table, product_id):
    response = call("GET", "/products/{id}", f"/products/{product_id}",
                    path_params={"id": product_id})
    assert response.status == 404
    assert response.json["message"] == "Product not found"


def test_routes_by_path_when_the_resource_is_a_proxy(call, table):
    product = create(call, name="Desk", price=120)
    response = call("GET", "/{proxy+}", f"/products/{product['id']}/")
    assert response.status == 200 and response.json["id"] == product["id"]
    assert call("GET", "/{proxy+}", "/products").status == 200
    assert call("GET", "/products/{id}", f"/products/{product['id']}",
                path_params=None).json["id"] == product["id"]


# --- GET /products ----------------------------------------------------------------------------


def test_list_empty_table(call, table):
    response = call("GET", "/products")
    assert response.status == 200
    assert response.json == {"items": [], "cursor": None}


def test_list_paginates_through_every_product(call, table):
    created = {create(call, name=f"p{i}", price=i)["id"] for i in range(23)}
    seen, cursor, pages = [], None, 0
    while True:
        query = {"limit": "10"} if cursor is None else {"limit": "10", "cursor": cursor}
        response = call("GET", "/products", query=query)
        assert response.status == 200
        assert len(response.json["items"]) <= 10
        seen += [item["id"] for item in response.json["items"]]
        cursor, pages = response.json["cursor"], pages + 1
        if cursor is None:
            break
        assert re.fullmatch(r"[A-Za-z0-9_-]+", cursor)  # base64url, unpadded
        assert json.loads(base64.urlsafe_b64decode(cursor + "==")).keys() == {"id"}
    assert sorted(seen) == sorted(created) and len(seen) == 23
    assert pages == 3


def test_list_default_and_maximum_limit(call, table):
    for i in range(25):
        table.put_item(Item={"id": str(uuid.uuid4()), "name": f"p{i}", "price": Decimal(i)})
    first = call("GET", "/products")
    assert len(first.json["items"]) == 20 and first.json["cursor"]
    assert len(call("GET", "/products", query={"limit": "100"}).json["items"]) == 25


@pytest.mark.parametrize("limit", ["0", "101", "-1", "1.5", "abc", "", " 5", "1e2", "٣"])
def test_list_rejects_bad_limits(call, table, limit):
    response = call("GET", "/products", query={"limit": limit})
    assert response.status == 400
    assert "limit" in response.json["message"]


def _b64(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize("cursor", [
    "!!!", "a", "abcde", _b64([1]), _b64("x"), _b64({"id": "not-a-uuid"}), _b64({"id": 5}),
    _b64({"id": str(uuid.uuid4()), "extra": 1}), _b64({}),
    base64.urlsafe_b64encode(b"\xff\xfe").decode(), "A" * 3000,
])
def test_list_rejects_bad_cursors(call, table, cursor):
    response = call("GET", "/products", query={"cursor": cursor})
    assert response.status == 400
    assert response.json["message"] == "cursor is invalid"


def test_list_accepts_a_cursor_past_the_end(call, table):
    response = call("GET", "/products", query={"cursor": _b64({"id": str(uuid.uuid4())})})
    assert response.status == 200 and response.json["items"] == []


# --- routing, CORS, malformed events ----------------------------------------------------------


@pytest.mark.parametrize("method, resource, allow", [
    ("DELETE", "/products", "GET, OPTIONS, POST"),
    ("PUT", "/products", "GET, OPTIONS, POST"),
    ("PATCH", "/products/{id}", "GET, OPTIONS"),
    ("POST", "/products/{id}", "GET, OPTIONS"),
    ("", "/products", "GET, OPTIONS, POST"),
])
def test_unsupported_method_is_405(call, table, method, resource, allow):
    path = resource.replace("{id}", str(uuid.uuid4()))
    response = call(method, resource, path, path_params={"id": path.rsplit("/", 1)[-1]})
    assert response.status == 405
    assert response.headers["Allow"] == allow


@pytest.mark.parametrize("resource, path", [
    ("/users", "/users"), (None, "/"), ("/{proxy+}", "/products/a/b"), (None, "/productsx"),
    (None, None),
])
def test_unknown_path_is_404(call, table, resource, path):
    response = call("GET", resource, path)
    assert response.status == 404
    assert response.json["message"] == "Not found"


def test_preflight_options(call, table):
    response = call("OPTIONS", "/products")
    assert response.status == 204 and response.text == ""
    assert response.headers["Access-Control-Allow-Methods"] == "GET,OPTIONS,POST"
    assert "Content-Type" in response.headers["Access-Control-Allow-Headers"]


def test_allowed_origin_comes_from_the_environment(call, table, monkeypatch):
    monkeypatch.setenv("ALLOWED_ORIGIN", "https://shop.example.com")
    response = call("GET", "/products")
    assert response.headers["Access-Control-Allow-Origin"] == "https://shop.example.com"
    assert response.headers["Vary"] == "Origin"
    assert call("GET", "/nowhere").headers["Access-Control-Allow-Origin"] == \
        "https://shop.example.com"


@pytest.mark.parametrize("event", [None, [], "GET /products", 42,
                                   {"httpMethod": "POST", "resource": "/products", "body": 5},
                                   {"httpMethod": "POST", "resource": "/products", "body": {}}])
def test_malformed_events_are_400(products, table, event, lambda_context, well_formed):
    result = products.handler(event, lambda_context)
    well_formed(result)
    assert result["statusCode"] == 400


def test_wrongly_typed_event_fields_are_tolerated(products, table, lambda_context):
    event = {"httpMethod": "GET", "resource": "/products", "path": "/products",
             "queryStringParameters": ["limit"], "pathParameters": "x", "requestContext": 7}
    result = products.handler(event, lambda_context)
    assert result["statusCode"] == 200
    assert products.handler({**event, "httpMethod": None}, None)["statusCode"] == 405


# --- faults -----------------------------------------------------------------------------------


def test_missing_table_is_a_generic_500(call, table, monkeypatch, capsys):
    monkeypatch.setenv("TABLE_NAME", "no-such-table")
    response = call("GET", "/products")
    assert response.status == 500
    assert response.json == {"message": "Internal server error", "requestId": "req-test"}
    logs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    error = next(entry for entry in logs if entry["level"] == "ERROR")
    assert error["awsErrorCode"] == "ResourceNotFoundException"
    assert "Traceback" in error["exception"]


def test_unset_table_name_is_a_generic_500(call, table, monkeypatch):
    monkeypatch.delenv("TABLE_NAME")
    assert call("POST", "/products", body={"name": "x", "price": 1}).status == 500


def test_unexpected_exception_text_never_reaches_the_client(call, table, products, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("secret internals: password=hunter2")

    monkeypatch.setattr(products, "_table", boom)
    response = call("GET", "/products")
    assert response.status == 500
    assert "hunter2" not in response.text and "RuntimeError" not in response.text


def test_throttling_after_retries_is_503(call, table, products, monkeypatch):
    class Throttled:
        def scan(self, **kwargs):
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException",
                                         "Message": "slow down"}}, "Scan")

    monkeypatch.setattr(products, "_table", Throttled)
    response = call("GET", "/products")
    assert response.status == 503
    assert response.headers["Retry-After"] == "1"
    assert "slow down" not in response.text


def test_sdk_client_is_built_once_with_retries(products):
    config = products.apigw._DYNAMODB.meta.client.meta.config
    assert config.retries["mode"] == "standard" and config.retries["total_max_attempts"] == 3
    assert products.apigw._DYNAMODB.meta.client.meta.endpoint_url.startswith("http://127.0.0.1:")


# --- logs -------------------------------------------------------------------------------------


def test_logs_are_one_json_object_per_line(call, table, capsys):
    create(call, name="Log", price=1)
    call("GET", "/missing")
    lines = capsys.readouterr().out.splitlines()
    assert lines
    for line in lines:
        entry = json.loads(line)
        assert {"timestamp", "level", "message", "correlation_id", "function_request_id"} <= set(entry)
        assert entry["correlation_id"] == "req-test" and entry["function_request_id"] == "lambda-req-test"
    served = [json.loads(line) for line in lines if '"request served"' in line]
    assert [(e["method"], e["status"]) for e in served] == [("POST", 201), ("GET", 404)]


def test_log_level_filters(call, table, capsys, monkeypatch):
    monkeypatch.setenv("LOG_LEVEL", "ERROR")
    call("GET", "/products")
    assert capsys.readouterr().out == ""


# --- issue 18: content types (item 5) and names (items 13, 14) ---------------------------------


def test_a_text_plain_body_is_415_not_parsed_as_json(call, table, make_event, products, lambda_context):
    event = make_event("POST", "/products", body={"name": "Pen", "price": 1})
    event["headers"] = {"Content-Type": "text/plain"}
    response = products.handler(event, lambda_context)
    assert response["statusCode"] == 415
    assert table.scan()["Items"] == []


@pytest.mark.parametrize("field, value", [
    ("name", "Pen\u202egnp.exe"), ("name", "\u200b\u200b"), ("name", "a\u0007b"), ("category", "\u2067home"),
])
def test_names_with_control_bidi_or_only_invisible_characters_are_400(call, table, field, value):
    body = {"name": "Pen", "price": 1, field: value}
    response = call("POST", "/products", body=body)
    assert response.status == 400
    assert [e.split(" ")[0] for e in response.json["errors"]] == [field]


def test_name_length_counts_characters(call, table):
    assert create(call, name="\U0001f58a" * 256, price=1)["name"] == "\U0001f58a" * 256
    assert call("POST", "/products", body={"name": "\U0001f58a" * 257, "price": 1}).status == 400
