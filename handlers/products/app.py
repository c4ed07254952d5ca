"""Products API (catalog-api profile): Lambda handler ``app.handler``, runtime python3.13.

Routes (API Gateway REST, Lambda proxy integration):

* ``GET /products?limit=&cursor=``: one page of products, ``{"items": [...], "cursor": str|null}``.
  ``limit`` is 1 to 100 (default 20). ``cursor`` is the opaque value returned by the previous
  page (base64url of DynamoDB's LastEvaluatedKey); ``null`` means there are no more pages.
  Items come in table (hash) order, not sorted. As with any DynamoDB Scan with a Limit, the
  last page can be empty.
* ``POST /products``: body ``{"name": str, "price": number >= 0, "category"?: str}``; 201 with
  the stored product ``{id, name, price, category?, createdAt}`` and a ``Location`` header.
  ``name`` is trimmed, 1 to 256 characters (code points), with no control or bidirectional
  control characters and at least one visible one; ``price`` is a JSON number (not a bool or a
  string; NaN and Infinity are not JSON) that DynamoDB can store exactly (at most 38
  significant digits), kept as a Decimal; ``category`` when given is checked like ``name``, 1 to 128 characters.
  Other fields are ignored.
* ``GET /products/{id}``: the product, or 404 (ids are UUIDs; anything else is a 404 at once).

Errors: 400 validation/malformed input, 404, 405, 413 (see MAX_BODY_BYTES), 415 (a body
that is not ``application/json``), 503 when DynamoDB
still throttles after the SDK's retries, 500 otherwise; bodies are ``{"message", "requestId"}``.

Environment: TABLE_NAME (required; partition key ``id`` of type S), ALLOWED_ORIGIN,
MAX_BODY_BYTES, LOG_LEVEL (see apigw.py).

IAM: dynamodb:Scan, dynamodb:PutItem, dynamodb:GetItem on the table.
"""
from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone
from decimal import Decimal

import apigw

MAX_NAME_LENGTH = 256
MAX_CATEGORY_LENGTH = 128
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

def _table():
    return apigw.table()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _price(body: dict, errors: list[str]) -> Decimal | None:
    value = body.get("price")
    # bool is an int subclass; floats never appear (the body is parsed with Decimal floats).
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        errors.append("price must be a number")
        return None
    price = apigw.dynamodb_number(value)
    if price is None:
        errors.append("price must have at most 38 significant digits and a magnitude "
                      "from 1e-130 to 9.99e125 (or be 0)")
        return None
    if price < 0:
        errors.append("price must be >= 0")
        return None
    return price


def _key_from_cursor(cursor: str) -> dict:
    key = apigw.decode_cursor(cursor)
    if set(key) != {"id"} or not isinstance(key["id"], str) or not UUID_RE.fullmatch(key["id"]):
        raise apigw.HttpError(400, "cursor is invalid")
    return key


def list_products(request: apigw.Request) -> dict:
    kwargs: dict = {"Limit": apigw.parse_limit(request.query)}
    cursor = request.query.get("cursor")
    if cursor is not None:
        kwargs["ExclusiveStartKey"] = _key_from_cursor(cursor)
    page = _table().scan(**kwargs)
    last = page.get("LastEvaluatedKey")
    return apigw.respond(200, {
        "items": page.get("Items", []),
        "cursor": apigw.encode_cursor(last) if last else None,
    })


def create_product(request: apigw.Request) -> dict:
    body = request.json_object()
    errors: list[str] = []
    name = apigw.text_field(body, "name", MAX_NAME_LENGTH, errors)
    price = _price(body, errors)
    category = None
    if "category" in body:
        category = apigw.text_field(body, "category", MAX_CATEGORY_LENGTH, errors)
    if errors:
        raise apigw.HttpError(400, "Validation failed", errors)
    item = {"id": str(uuid.uuid4()), "name": name, "price": price, "createdAt": _now()}
    if category is not None:
        item["category"] = category
    _table().put_item(Item=item)
    apigw.log("INFO", "product created", productId=item["id"])
    return apigw.respond(201, item, {"Location": f"/products/{item['id']}"})


def get_product(request: apigw.Request) -> dict:
    product_id = request.params["id"]
    if not UUID_RE.fullmatch(product_id):
        raise apigw.HttpError(404, "Product not found")
    item = _table().get_item(Key={"id": product_id}).get("Item")
    if item is None:
        raise apigw.HttpError(404, "Product not found")
    return apigw.respond(200, item)


handler = apigw.Router({
    "/products": {"GET": list_products, "POST": create_product},
    "/products/{id}": {"GET": get_product},
})
