"""Secure API (secure-api profile): Lambda handler ``app.handler``, runtime python3.14.

Routes (API Gateway REST, Lambda proxy integration):

* ``POST /api/v1``: the body must be a JSON object; it is stored as one item
  ``{"id": uuid4, "timestamp": epoch milliseconds (N), "data": <the body>}`` and returned with
  201. DynamoDB's own limits are checked first so that they are 400s, not faults: numbers
  with more than 38 significant digits or outside 1e-130..1e126, object keys that are empty,
  nesting deeper than MAX_NESTING objects/arrays, text that is not valid Unicode.
* ``GET /api/v1?limit=``: the ``limit`` (1 to 100, default 20) most recent items, newest first:
  ``{"items": [...], "count": n, "truncated": bool}``.

``GET`` reads an index when ITEMS_INDEX names one: a global secondary index with partition key
``feed`` (S), sort key ``timestamp`` (N) and every attribute projected (``projection = "all"``).
``POST`` writes each item to one of FEED_SHARDS feeds (``items#0`` ... ``items#<n-1>``, chosen
from the item's id: every feed takes an even share of the writes, so no index partition holds
them all), with or without the index. ``GET`` Queries each feed newest first with Limit and keeps
the newest ``limit``: exact, and at most FEED_SHARDS x ``limit`` items read from the index however
large the table. FEED_SHARDS may be raised later, never lowered (items in a feed no longer read
would drop out of ``GET``); a value that is not an integer from 1 to 64 is logged and 4 is used.

Items without a ``feed`` (stored by a version of this handler before it wrote feeds) are not in
the index. When the feeds hold fewer than ``limit`` items (a new or quiet stage, or one that just
gained the index), ``GET`` also runs the Scan below over them and merges by timestamp; that call
reads up to SCAN_MAX_ITEMS items. Such items newer than ``limit`` feed items are not listed: this
happens only while an older version still serves writes (during the gradual release of the
version that starts writing feeds). Giving each item without one a feed (UpdateItem SET feed =
"items#0" on the items a Scan with ``attribute_not_exists(feed)`` finds) puts them in the index.
While DynamoDB builds the index from a table's items (backfilling, minutes to hours on a large
table; CloudFormation does not wait for it), Queries on it are refused and ``GET`` answers with
the Scan.

Without ITEMS_INDEX (a table without the index), ``GET`` Scans at most SCAN_MAX_ITEMS items
(default 1000) and keeps the newest ``limit`` of those: exact while the table holds no more than
that; beyond it the answer is the newest among the items scanned and ``truncated`` is true, and
every call reads (and pays for) up to SCAN_MAX_ITEMS items.

Errors: 400 validation/malformed input, 404, 405, 413 (see MAX_BODY_BYTES), 415 (a body that is
not ``application/json``), 503 when DynamoDB
still throttles after the SDK's retries, 500 otherwise; bodies are ``{"message", "requestId"}``.

Environment: TABLE_NAME (required; partition key ``id`` S, sort key ``timestamp`` N),
ITEMS_INDEX, FEED_SHARDS (default 4), SCAN_MAX_ITEMS, ALLOWED_ORIGIN, MAX_BODY_BYTES, LOG_LEVEL
(see apigw.py).

IAM: dynamodb:PutItem, dynamodb:Scan on the table, dynamodb:Query on its index. With a customer managed key on the table,
the role also needs that key through DynamoDB (kms:Decrypt, kms:Encrypt, kms:GenerateDataKey*,
kms:DescribeKey with kms:ViaService dynamodb.<region>.amazonaws.com) unless the key policy
already grants it to the account's DynamoDB users.
"""
from __future__ import annotations

import heapq
import os
import re
import time
import uuid
from decimal import Decimal
from typing import Any

import apigw
from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

# DynamoDB allows 32 levels counting the top-level attribute; ``data`` is that attribute.
MAX_NESTING = 31
DEFAULT_SCAN_MAX_ITEMS = 1000
SCAN_PAGE_SIZE = 500
DEFAULT_FEED_SHARDS = 4
MAX_FEED_SHARDS = 64
FEED = "feed"  # the index's partition key: internal, never part of an answer
# The answers to a Query on an index that is still being built, or that the table lacks: DynamoDB's
# (ValidationException) and the local emulator's (moto: ResourceNotFoundException "Invalid index").
_INDEX_NOT_READY = re.compile(r"backfill|does not have the specified index|invalid index", re.IGNORECASE)
_INDEX_ERROR_CODES = ("ValidationException", "ResourceNotFoundException")
# An item is at most 400 KB; refuse bodies that could not fit whatever MAX_BODY_BYTES says.
MAX_ITEM_BODY_BYTES = 350 * 1024

def _table():
    return apigw.table()


def _positive_env(name: str, default: int, maximum: int | None = None) -> int:
    """A positive integer from the environment; the default when unset, or (with a warning in
    the log) when it is not one."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if 0 < value <= (maximum or value):
        return value
    if (name, raw) not in _WARNED:  # once per value and container, not on every request
        _WARNED.add((name, raw))
        apigw.log("WARNING", f"{name} is not an integer from 1 to {maximum or 'any'}; using {default}", value=raw)
    return default


_WARNED: set[tuple[str, str]] = set()


def _scan_budget() -> int:
    return _positive_env("SCAN_MAX_ITEMS", DEFAULT_SCAN_MAX_ITEMS)


def _feeds() -> list[str]:
    return [f"items#{n}" for n in range(_positive_env("FEED_SHARDS", DEFAULT_FEED_SHARDS, MAX_FEED_SHARDS))]


def _shown(item: dict) -> dict:
    return {key: value for key, value in item.items() if key != FEED}


_NUMBER_PROBLEM = ("Request body contains a number DynamoDB cannot store (at most 38 "
                   "significant digits, magnitude from 1e-130 to 9.99e125)")


def storage_problem(data: Any) -> str | None:
    """Why DynamoDB would refuse ``data`` as an attribute value, or None when it would not.

    Iterative, so that the depth of the input cannot exhaust the Python stack.
    """
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)) and depth > MAX_NESTING:
            return f"Request body is nested deeper than {MAX_NESTING} levels"
        if isinstance(value, dict):
            for key, child in value.items():
                if key == "":
                    return "Object keys must not be empty"
                if not apigw.valid_text(key):
                    return "Request body contains invalid Unicode text"
                stack.append((child, depth + 1))
        elif isinstance(value, list):
            stack.extend((child, depth + 1) for child in value)
        elif isinstance(value, str):
            if not apigw.valid_text(value):
                return "Request body contains invalid Unicode text"
        elif isinstance(value, (int, Decimal)) and not isinstance(value, bool):
            if apigw.dynamodb_number(value) is None:
                return _NUMBER_PROBLEM
    return None


def storable(value: Any) -> Any:
    """``value`` with every number as the Decimal boto3 serialises (call after the check above,
    which bounds the depth of this recursion)."""
    if isinstance(value, dict):
        return {key: storable(child) for key, child in value.items()}
    if isinstance(value, list):
        return [storable(child) for child in value]
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return apigw.dynamodb_number(value)
    return value


def create_item(request: apigw.Request) -> dict:
    if request.body is not None and len(request.body) > MAX_ITEM_BODY_BYTES:
        raise apigw.HttpError(413, f"Request body is larger than {MAX_ITEM_BODY_BYTES} bytes")
    data = request.json_object()
    problem = storage_problem(data)
    if problem:
        raise apigw.HttpError(400, problem)
    item_id = uuid.uuid4()
    item = {"id": str(item_id), "timestamp": int(time.time() * 1000), "data": storable(data)}
    # Written whether or not the table has the index yet: a version that writes feeds can run
    # before the index exists, so that no item written after the index lacks one.
    feeds = _feeds()
    item[FEED] = feeds[item_id.int % len(feeds)]  # uuid4 is random: an even spread over the feeds
    try:
        _table().put_item(Item=item)
    except ClientError as err:
        # DynamoDB sizes an item otherwise than its JSON (a list of small numbers takes about 1.5
        # times its text), so a body under MAX_ITEM_BODY_BYTES can still be too large: the
        # client's fault, 413, not a 500.
        error = err.response.get("Error", {})
        if error.get("Code") == "ValidationException" and "size" in str(error.get("Message", "")).lower():
            raise apigw.HttpError(413, "Request body is larger than a stored item may be") from None
        raise
    apigw.log("INFO", "item stored", itemId=item["id"])
    return apigw.respond(201, _shown(item))


def _timestamp(item: dict) -> Any:
    value = item.get("timestamp")
    return value if isinstance(value, (int, Decimal)) else -1


def list_items(request: apigw.Request) -> dict:
    limit = apigw.parse_limit(request.query)
    index = os.environ.get("ITEMS_INDEX")
    feed = _feed_newest(index, limit) if index else None
    if feed is None:
        newest, truncated = _scan_newest(limit)
    else:
        newest, truncated = feed, False
        if len(newest) < limit:
            # Fewer than `limit` items carry a feed: the answer may hold items without one, stored
            # by an earlier version of this handler. `limit` of them, not only the places left: an
            # earlier version may have written some after the feed items (during a gradual
            # release), and the newest win.
            older, truncated = _scan_newest(limit, without_feed=True)
            newest = heapq.nlargest(limit, newest + older, key=_timestamp)
    items = [_shown(item) for item in newest]
    return apigw.respond(200, {"items": items, "count": len(items), "truncated": truncated})


def _feed_newest(index: str, limit: int) -> list[dict] | None:
    """The newest `limit` items of every feed, merged: each feed is read newest first, page by
    page until it has given `limit` items (a page stops at 1 MB, a few large items). None while
    the index cannot be read: DynamoDB builds an index added to a table with items from those
    items (backfilling), and refuses Queries on it until it is ACTIVE; CloudFormation does not
    wait for that, so the function can run before. The Scan answers meanwhile."""
    table = _table()
    found: list[dict] = []
    for feed in _feeds():
        kwargs: dict = {"IndexName": index, "KeyConditionExpression": Key(FEED).eq(feed), "ScanIndexForward": False}
        taken = 0
        while taken < limit:
            try:
                page = table.query(Limit=limit - taken, **kwargs)
            except ClientError as err:
                error = err.response.get("Error", {})
                message = str(error.get("Message", ""))
                if error.get("Code") not in _INDEX_ERROR_CODES or not _INDEX_NOT_READY.search(message):
                    raise
                apigw.log("WARNING", "index not readable, scanning instead", index=index, reason=message)
                return None
            batch = page.get("Items", [])
            found += batch
            taken += len(batch)
            if not page.get("LastEvaluatedKey"):
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return heapq.nlargest(limit, found, key=_timestamp)


def _scan_newest(limit: int, *, without_feed: bool = False) -> tuple[list[dict], bool]:
    """The newest `limit` items among at most SCAN_MAX_ITEMS scanned, and whether the scan
    stopped at that budget before the end of the table."""
    budget = _scan_budget()
    table = _table()
    newest: list[dict] = []
    scanned = 0
    kwargs: dict = {"FilterExpression": Attr(FEED).not_exists()} if without_feed else {}
    while True:
        page = table.scan(Limit=min(SCAN_PAGE_SIZE, budget - scanned), **kwargs)
        batch = page.get("Items", [])
        scanned += page.get("ScannedCount", len(batch))
        newest = heapq.nlargest(limit, newest + batch, key=_timestamp)
        last = page.get("LastEvaluatedKey")
        if not last:
            return newest, False
        if scanned >= budget:
            return newest, True
        kwargs["ExclusiveStartKey"] = last


handler = apigw.Router({"/api/v1": {"GET": list_items, "POST": create_item}})
