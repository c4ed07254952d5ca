"""Helpers of the everyday-loop tests (importing from a conftest is ambiguous: tests/ has one too)."""
from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CATALOG = REPO / "config" / "catalog-api.toml"
SECURE = REPO / "config" / "secure-api.toml"


ECHO_PY = '''\
import base64, json, os

def handler(event, context):
    if event.get("path") == "/boom":
        raise RuntimeError("boom")
    if event.get("path") == "/malformed":
        return {"statusCode": "not a status"}
    if event.get("path") == "/binary":
        return {"statusCode": 200, "headers": {"Content-Type": "image/png"}, "isBase64Encoded": True,
                "body": base64.b64encode(bytes(range(256))).decode()}
    print("echo handler called")
    seen = {"event": event, "table": os.environ.get("TABLE_NAME"), "function": context.function_name,
            "remaining": context.get_remaining_time_in_millis()}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]}, "body": json.dumps(seen)}
'''

ECHO_JS = '''\
export const handler = async (event, context) => {
  if (event.path === '/sleep') return new Promise(() => {});  // never answers
  if (event.path === '/throw') throw new TypeError('bad thing');
  console.log('node echo called');
  return {
    statusCode: 200,
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ event, table: process.env.TABLE_NAME, function: context.functionName,
                           remaining: context.getRemainingTimeInMillis() }),
  };
};
'''

ECHO_CONFIG = '''\
[project]
name = "echo"
stage = "dev"
region = "us-east-1"

[tables.items]
partition_key = "id:S"

[functions.pyecho]
runtime = "python3.13"
source = "echo-py"
handler = "app.handler"
[functions.pyecho.environment]
TABLE_NAME = "${tables.items.name}"

[functions.jsecho]
runtime = "nodejs24.x"
source = "echo-js"
handler = "index.handler"
# Short enough to test timeouts quickly, long enough for a trivial echo on a loaded CI machine.
timeout = 3
[functions.jsecho.environment]
TABLE_NAME = "${tables.items.arn}"

[api]
request_validation = true
[api.cors]
origins = ["https://app.example.com"]
max_age = 300
[api.usage_plan]

[api.models.Thing]
required = ["name"]
properties = { name = "string", size = "integer", price = "number", tags = "array" }

[[api.routes]]
method = "GET"
path = "/things/{id}"
function = "pyecho"

[[api.routes]]
method = "GET"
path = "/things/special"
function = "jsecho"
auth = "NONE"

[[api.routes]]
method = "POST"
path = "/things"
function = "pyecho"
model = "Thing"
api_key = true
auth = "NONE"
api_key_only_reason = "a local test route"

[[api.routes]]
method = "PUT"
path = "/upload"
function = "pyecho"
auth = "NONE"

[[api.routes]]
method = "GET"
path = "/boom"
function = "pyecho"
auth = "NONE"

[[api.routes]]
method = "GET"
path = "/malformed"
function = "pyecho"
auth = "NONE"

[[api.routes]]
method = "GET"
path = "/binary"
function = "pyecho"
auth = "NONE"

[[api.routes]]
method = "GET"
path = "/js/{name}"
function = "jsecho"
auth = "NONE"
'''
