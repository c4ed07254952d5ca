"""Fixtures for the everyday-loop tests: one moto server on loopback, fake credentials, a CLI runner,
and configs with echo handlers that return the event they received.

Nothing here talks to anything but 127.0.0.1.
"""
from __future__ import annotations

import os
import textwrap
import tomllib
from pathlib import Path

import pytest

from infra.config import parse_config
from infra.emulator import FAKE_CREDENTIALS, MotoServer

REPO = Path(__file__).resolve().parents[2]
CATALOG = REPO / "config" / "catalog-api.toml"


@pytest.fixture(scope="session")
def moto_server():
    with MotoServer() as server:
        yield server


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    """Fake credentials only: no profile files, no instance metadata, no endpoint from the shell."""
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key, raising=False)
    for key, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


@pytest.fixture
def emulator(moto_server, aws_env):
    """A clean emulator for one test."""
    moto_server.reset()
    return moto_server


@pytest.fixture
def cli():
    """Run the CLI in-process: cli("invoke", "--config", ...) -> click Result (stdout and stderr apart)."""
    from click.testing import CliRunner

    from infra.cli import main

    def run(*args, input: str | None = None):
        return CliRunner().invoke(main, [str(a) for a in args], input=input, catch_exceptions=False)

    return run


@pytest.fixture(scope="session")
def catalog_raw() -> dict:
    return tomllib.loads(CATALOG.read_text())


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


@pytest.fixture
def echo_project(tmp_path) -> Path:
    """A directory with an echo config (config.toml) and its two echo handlers."""
    (tmp_path / "echo-py").mkdir()
    (tmp_path / "echo-py" / "app.py").write_text(ECHO_PY)
    (tmp_path / "echo-js").mkdir()
    (tmp_path / "echo-js" / "index.mjs").write_text(ECHO_JS)
    (tmp_path / "config.toml").write_text(textwrap.dedent(ECHO_CONFIG))
    return tmp_path


@pytest.fixture
def echo_config(echo_project):
    return parse_config(tomllib.loads((echo_project / "config.toml").read_text()), "config.toml", "echo",
                        root=echo_project)
