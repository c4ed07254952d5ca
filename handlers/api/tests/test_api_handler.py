"""Secure-api handler against DynamoDB in the moto server: every route and every error path."""
from __future__ import annotations

import base64
import json
import re
import time
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
HANDLERS = Path(__file__).resolve().parents[2]


def nested(levels: int, leaf="x", container=dict):
    """``levels`` nested objects (or arrays inside a top-level object) around ``leaf``."""
    value = leaf
    for _ in range(levels - 1):
        value = {"a": value} if container is dict else [value]
    return {"a": value}


def seed(table, timestamps):
    ids = {}
    for ts in timestamps:
        item_id = str(uuid.uuid4())
        table.put_item(Item={"id": item_id, "timestamp": ts, "data": {"n": ts}})
        ids[ts] = item_id
    return ids


# --- POST /api/v1 -----------------------------------------------------------------------------


def test_post_stores_the_body_as_an_item(call, table):
    body = {"name": "sensor", "reading": 21.5, "tags": ["a", "b"], "meta": {"ok": True,
                                                                         "none": None}}
    before = int(time.time() * 1000)
    response = call("POST", "/api/v1", body=body)
    after = int(time.time() * 1000)
    assert response.status == 201, response
    item = response.json
    assert UUID.fullmatch(item["id"]) and before <= item["timestamp"] <= after
    assert item["data"] == body
    stored = table.get_item(Key={"id": item["id"], "timestamp": item["timestamp"]})["Item"]
    assert stored["data"]["reading"] == Decimal("21.5")
    assert stored["data"]["meta"] == {"ok": True, "none": None}
    assert isinstance(stored["timestamp"], Decimal)  # the sort key is a number (N)


def test_post_keeps_numbers_exact(call, table):
    body = ('{"big": 1e40, "int": 12345678901234567890123456789012345678, "small": 1.5e-100,'
            ' "zero": -0.0, "wide": %d}' % 10**60)
    response = call("POST", "/api/v1", body=body)
    assert response.status == 201, response
    stored = table.get_item(Key={"id": response.json["id"],
                                 "timestamp": response.json["timestamp"]})["Item"]["data"]
    assert stored["big"] == Decimal("1e40") and stored["small"] == Decimal("1.5e-100")
    assert stored["int"] == 12345678901234567890123456789012345678
    assert stored["wide"] == 10**60 and stored["zero"] == 0


def test_answers_give_numbers_back_digit_for_digit(call, table):
    """Stored exactly, and answered exactly: never through a binary float, which keeps 17 digits."""
    body = '{"exact": 0.12345678901234567890123456789, "big": 12345678901234567890.5, "price": 19.99}'
    created = call("POST", "/api/v1", body=body)
    assert created.status == 201, created
    for text in (created.text, call("GET", "/api/v1").text):
        assert '"exact":0.12345678901234567890123456789' in text and '"big":12345678901234567890.5' in text
        assert '"price":19.99' in text


@pytest.mark.parametrize("body, message", [
    ('{"n": 1e400}', "number"), ('{"n": 1e-131}', "number"), ('{"n": 1e126}', "number"),
    ('{"n": %s}' % ("1" * 39), "number"), ('{"n": [1, {"m": 0.%s}]}' % ("1" * 39), "number"),
    ('{"": 1}', "keys"), ('{"a": {"b": [{"": 1}]}}', "keys"),
    ('{"a": "\\ud800"}', "Unicode"), ('{"\\udfff": 1}', "Unicode"),
    (json.dumps(nested(32)), "nested"), (json.dumps(nested(32, container=list)), "nested"),
    ('{"n": NaN}', "JSON"), ('{"n": Infinity}', "JSON"), ("{", "JSON"), ("[1]", "object"),
    ('"text"', "object"), ("null", "object"), ("", "required"), ("[" * 60000, "JSON"),
])
def test_post_rejects_bodies_dynamodb_would_refuse(call, table, body, message):
    response = call("POST", "/api/v1", body=body)
    assert response.status == 400, response
    assert message in response.json["message"]
    assert table.scan()["Count"] == 0


def test_post_accepts_the_deepest_nesting_dynamodb_stores(call, table):
    for container in (dict, list):
        response = call("POST", "/api/v1", body=nested(31, container=container))
        assert response.status == 201, response
    assert table.scan()["Count"] == 2


def test_post_base64_body(call, table):
    body = base64.b64encode(b'{"k": "v"}').decode()
    response = call("POST", "/api/v1", body=body, base64_encoded=True)
    assert response.status == 201 and response.json["data"] == {"k": "v"}
    assert call("POST", "/api/v1", body="e30", base64_encoded=True).status == 400
    assert call("POST", "/api/v1", body=base64.b64encode(b"\xc3\x28").decode(),
                base64_encoded=True).status == 400


def test_post_without_body_is_400(call, table):
    assert call("POST", "/api/v1", body=None).json["message"] == "Request body is required"


def test_post_over_the_size_limit_is_413(call, table, monkeypatch):
    assert call("POST", "/api/v1", body={"pad": "x" * 70_000}).status == 413
    monkeypatch.setenv("MAX_BODY_BYTES", "100")
    assert call("POST", "/api/v1", body={"pad": "x" * 100}).status == 413
    assert call("POST", "/api/v1", body={"pad": "x" * 50}).status == 201
    # Raising the limit past what one DynamoDB item holds still refuses what cannot be stored.
    monkeypatch.setenv("MAX_BODY_BYTES", str(10 * 1024 * 1024))
    response = call("POST", "/api/v1", body={"pad": "x" * 400_000})
    assert response.status == 413
    assert table.scan()["Count"] == 1


# --- GET /api/v1 ------------------------------------------------------------------------------


def test_get_returns_the_newest_items_first(call, table):
    ids = seed(table, [5, 1, 9, 3, 7])
    response = call("GET", "/api/v1", query={"limit": "3"})
    assert response.status == 200
    assert [item["timestamp"] for item in response.json["items"]] == [9, 7, 5]
    assert [item["id"] for item in response.json["items"]] == [ids[9], ids[7], ids[5]]
    assert response.json["count"] == 3 and response.json["truncated"] is False
    assert response.json["items"][0]["data"] == {"n": 9}


def test_get_default_limit_is_20(call, table):
    seed(table, range(30))
    items = call("GET", "/api/v1").json["items"]
    assert [item["timestamp"] for item in items] == list(range(29, 9, -1))


def test_get_empty_table(call, table):
    assert call("GET", "/api/v1").json == {"items": [], "count": 0, "truncated": False}


def test_get_scans_every_page_within_the_budget(call, table, api, monkeypatch):
    monkeypatch.setattr(api, "SCAN_PAGE_SIZE", 3)
    seed(table, range(100, 111))
    response = call("GET", "/api/v1", query={"limit": "4"})
    assert [item["timestamp"] for item in response.json["items"]] == [110, 109, 108, 107]
    assert response.json["truncated"] is False


def test_get_stops_at_the_scan_budget(call, table, api, monkeypatch):
    monkeypatch.setattr(api, "SCAN_PAGE_SIZE", 2)
    monkeypatch.setenv("SCAN_MAX_ITEMS", "5")
    seed(table, range(12))
    response = call("GET", "/api/v1", query={"limit": "10"})
    assert response.status == 200
    assert response.json["truncated"] is True
    assert response.json["count"] == 5  # only what was scanned can be returned
    timestamps = [item["timestamp"] for item in response.json["items"]]
    assert timestamps == sorted(timestamps, reverse=True)


@pytest.mark.parametrize("budget", ["0", "-3", "many"])
def test_bad_scan_budget_falls_back_to_the_default(call, table, monkeypatch, budget):
    monkeypatch.setenv("SCAN_MAX_ITEMS", budget)
    seed(table, range(3))
    assert call("GET", "/api/v1").json["count"] == 3


# --- GET /api/v1 through the index (ITEMS_INDEX) --------------------------------------------------


def post_items(call, count):
    """POST `count` items, each with a later timestamp than the one before; their ids in order."""
    ids = []
    for n in range(count):
        ids.append(call("POST", "/api/v1", body={"n": n}).json["id"])
        time.sleep(0.002)  # timestamps are milliseconds: each item its own
    return ids


def test_post_spreads_items_over_the_feeds_and_answers_without_the_feed(indexed_call, indexed_table):
    answers = [indexed_call("POST", "/api/v1", body={"n": n}) for n in range(40)]
    assert all(a.status == 201 and "feed" not in a.json for a in answers)
    feeds = {item["feed"] for item in indexed_table.scan()["Items"]}
    assert feeds == {"items#0", "items#1", "items#2", "items#3"}  # 40 random ids miss one of 4 feeds at ~1e-5


def test_get_reads_the_feeds_not_the_table(indexed_call, indexed_table, api, monkeypatch):
    ids = post_items(indexed_call, 12)
    table = api._table()
    monkeypatch.setattr(api, "_table", lambda: table)
    monkeypatch.setattr(table, "scan", lambda **_: pytest.fail("GET scanned the table"))
    response = indexed_call("GET", "/api/v1", query={"limit": "5"})
    assert response.status == 200
    assert [item["id"] for item in response.json["items"]] == ids[::-1][:5]
    assert response.json["truncated"] is False and response.json["count"] == 5
    assert all("feed" not in item for item in response.json["items"])


def test_get_follows_a_feed_across_pages(indexed_call, indexed_table, api, monkeypatch):
    monkeypatch.setenv("FEED_SHARDS", "1")
    ids = post_items(indexed_call, 7)
    table = api._table()
    real_query = table.query
    calls = []

    def short_pages(**kwargs):  # a page cut short, as DynamoDB's 1 MB page is for large items
        calls.append(kwargs.get("Limit"))
        return real_query(**{**kwargs, "Limit": min(kwargs["Limit"], 2)})

    monkeypatch.setattr(api, "_table", lambda: table)
    monkeypatch.setattr(table, "query", short_pages)
    response = indexed_call("GET", "/api/v1", query={"limit": "5"})
    assert [item["id"] for item in response.json["items"]] == ids[::-1][:5]
    assert calls == [5, 3, 1]  # never more than the items still wanted


def test_items_stored_before_the_index_complete_a_short_answer(indexed_call, indexed_table):
    old = seed(indexed_table, [1, 2, 3])  # no feed: written before the stage had the index
    new = post_items(indexed_call, 2)
    response = indexed_call("GET", "/api/v1", query={"limit": "4"})
    assert [item["id"] for item in response.json["items"]] == [*new[::-1], old[3], old[2]]
    assert response.json["truncated"] is False
    assert indexed_call("GET", "/api/v1", query={"limit": "2"}).json["items"][1]["id"] == new[0]


def test_an_index_the_table_lacks_is_scanned_around(call, table, monkeypatch, capsys):
    monkeypatch.setenv("ITEMS_INDEX", "by-time")  # the function updated before the table has the index
    ids = seed(table, [1, 2, 3])
    response = call("GET", "/api/v1", query={"limit": "2"})
    assert response.status == 200 and [item["id"] for item in response.json["items"]] == [ids[3], ids[2]]
    assert "index not readable, scanning instead" in capsys.readouterr().out


def test_an_index_still_being_built_is_scanned_around(indexed_call, indexed_table, api, monkeypatch):
    ids = seed(indexed_table, [4, 5])
    table = api._table()

    def backfilling(**_):
        raise ClientError({"Error": {"Code": "ValidationException", "Message":
                                     "Cannot read from backfilling global secondary index: by-time"}}, "Query")

    monkeypatch.setattr(api, "_table", lambda: table)
    monkeypatch.setattr(table, "query", backfilling)
    response = indexed_call("GET", "/api/v1")
    assert [item["id"] for item in response.json["items"]] == [ids[5], ids[4]]


def test_other_query_errors_are_not_hidden(indexed_call, indexed_table, api, monkeypatch):
    table = api._table()

    def broken(**_):
        raise ClientError({"Error": {"Code": "ValidationException", "Message": "Query condition missed key"}}, "Query")

    monkeypatch.setattr(api, "_table", lambda: table)
    monkeypatch.setattr(table, "query", broken)
    assert indexed_call("GET", "/api/v1").status == 500


def test_post_writes_a_feed_before_the_table_has_the_index(call, table):
    call("POST", "/api/v1", body={"n": 1})  # no ITEMS_INDEX: the version that writes feeds can ship first
    [item] = table.scan()["Items"]
    assert item["feed"] in {f"items#{n}" for n in range(4)}


def test_the_top_up_is_merged_by_time(indexed_call, indexed_table):
    new = post_items(indexed_call, 2)
    now = int(time.time() * 1000)
    later = seed(indexed_table, [now + 60_000 + n for n in range(5)])  # no feed, yet newer (an older version's)
    response = indexed_call("GET", "/api/v1", query={"limit": "6"})
    assert [item["id"] for item in response.json["items"]] == [later[now + 60_000 + n] for n in range(4, -1, -1)] + [new[1]]


@pytest.mark.parametrize("shards", ["0", "-1", "65", "x"])
def test_bad_feed_counts_fall_back_to_the_default(indexed_call, indexed_table, api, monkeypatch, shards, capsys):
    monkeypatch.setenv("FEED_SHARDS", shards)
    monkeypatch.setattr(api, "_WARNED", set())
    ids = post_items(indexed_call, 3)
    assert capsys.readouterr().out.count("FEED_SHARDS is not an integer from 1 to 64; using 4") == 1  # once
    assert {item["feed"] for item in indexed_table.scan()["Items"]} <= {f"items#{n}" for n in range(4)}
    assert [item["id"] for item in indexed_call("GET", "/api/v1").json["items"]] == ids[::-1]


@pytest.mark.parametrize("limit", ["0", "101", "x", "", "2.0", "-5"])
def test_get_rejects_bad_limits(call, table, limit):
    response = call("GET", "/api/v1", query={"limit": limit})
    assert response.status == 400 and "limit" in response.json["message"]


def test_post_then_get(call, table):
    created = [call("POST", "/api/v1", body={"i": i}).json for i in range(3)]
    items = call("GET", "/api/v1").json["items"]
    assert {item["id"] for item in items} == {item["id"] for item in created}


# --- routing and faults -----------------------------------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "HEAD", "TRACE"])
def test_unsupported_methods_are_405(call, table, method):
    response = call(method, "/api/v1")
    assert response.status == 405 and response.headers["Allow"] == "GET, OPTIONS, POST"


@pytest.mark.parametrize("path", ["/api", "/api/v2", "/api/v1/extra", "/", "/products"])
def test_unknown_paths_are_404(call, table, path):
    assert call("GET", None, path).status == 404


def test_preflight(call, table):
    response = call("OPTIONS", "/api/v1")
    assert response.status == 204
    assert response.headers["Access-Control-Allow-Methods"] == "GET,OPTIONS,POST"
    assert response.headers["Access-Control-Max-Age"] == "3600"


def test_cors_origin_from_environment(call, table, monkeypatch):
    monkeypatch.setenv("ALLOWED_ORIGIN", "https://app.example.org")
    response = call("POST", "/api/v1", body={"a": 1})
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example.org"


def test_missing_table_is_a_generic_500(call, table, monkeypatch):
    monkeypatch.setenv("TABLE_NAME", "absent")
    for response in (call("GET", "/api/v1"), call("POST", "/api/v1", body={"a": 1})):
        assert response.status == 500
        assert response.json == {"message": "Internal server error", "requestId": "req-test"}


def test_unexpected_errors_do_not_leak(call, table, api, monkeypatch, capsys):
    def broken():
        raise ValueError("connection string postgres://admin:pw@db")

    monkeypatch.setattr(api, "_table", broken)
    response = call("POST", "/api/v1", body={"a": 1})
    assert response.status == 500 and "postgres" not in response.text
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert any("postgres" in entry.get("exception", "") for entry in logged)


def test_throttling_is_503(call, table, api, monkeypatch):
    class Throttled:
        def put_item(self, **kwargs):
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "x"}}, "PutItem")

    monkeypatch.setattr(api, "_table", Throttled)
    assert call("POST", "/api/v1", body={"a": 1}).status == 503


def test_logs_carry_the_request_id(call, table, capsys):
    call("POST", "/api/v1", body={"a": 1}, request_id="abc-123")
    entries = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["message"] for e in entries] == ["item stored", "request served"]
    assert all(e["correlation_id"] == "abc-123" and e["level"] == "INFO" for e in entries)


def test_shared_http_module_is_linked_not_copied():
    # One source of truth: each handler links to handlers/shared/apigw.py; packaging follows it.
    for name in ("api", "products"):
        link = HANDLERS / name / "apigw.py"
        assert link.is_symlink() and link.resolve() == (HANDLERS / "shared" / "apigw.py").resolve()


def test_post_with_a_body_that_is_not_json_is_415(api, table, make_event, lambda_context):
    # API Gateway validates only application/json bodies; any other type must not be parsed as JSON.
    event = make_event("POST", "/api/v1", body={"a": 1})
    event["headers"] = {"content-type": "text/plain; charset=utf-8"}
    response = api.handler(event, lambda_context)
    assert response["statusCode"] == 415 and json.loads(response["body"])["requestId"] == "req-test"
    assert table.scan()["Items"] == []


def test_an_item_dynamodb_finds_too_large_is_413_not_500(call, table, monkeypatch, api):
    """DynamoDB sizes an item otherwise than its JSON text: a body under the handler's own cap can
    still be refused by it, and that is the client's body, not a server fault."""
    from botocore.exceptions import ClientError

    def refuse(**_):
        raise ClientError({"Error": {"Code": "ValidationException",
                                     "Message": "Item size has exceeded the maximum allowed size"}}, "PutItem")

    monkeypatch.setattr(api, "_table", lambda: type("T", (), {"put_item": staticmethod(refuse)})())
    response = call("POST", "/api/v1", body={"numbers": [1] * 100})
    assert response.status == 413 and "larger than a stored item may be" in response.json["message"]
