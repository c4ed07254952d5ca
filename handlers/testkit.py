"""Fixtures and helpers shared by the Python handler tests (handlers/*/tests).

Each handler's tests/conftest.py star-imports this module. It is deliberately not a conftest.py
itself: a conftest.py here would be loaded at start-up and take over the ``conftest`` module name
that the top-level tests import from.

One moto server on loopback serves the whole session; every AWS call the handlers make goes to
it through real HTTP (AWS_ENDPOINT_URL). Each handler is imported from its own directory under a
unique module name, because every handler's entry module is called ``app.py`` and its helpers
(``apigw.py``) have the same name in every directory.
"""
from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest

from infra.emulator import FAKE_CREDENTIALS, MotoServer

HANDLERS = Path(__file__).resolve().parent
REGION = "us-east-1"

__all__ = ["aws_env", "invoker", "lambda_context", "load", "make_event", "moto_server",
           "new_table", "well_formed"]
NODE_INSTALL_SECONDS = 600

_server: MotoServer | None = None


@pytest.fixture(scope="session")
def moto_server(request):
    """The session's moto server. Every conftest that imports this fixture registers its own
    copy of it, so the server itself is a module-level singleton, stopped when the session ends."""
    global _server
    if _server is None:
        _server = MotoServer().start()

        def stop():
            global _server
            _server.stop()
            _server = None

        request.config.add_cleanup(stop)
    return _server


@pytest.fixture(scope="module")
def aws_env(moto_server):
    """Environment pointing the SDK at the emulator, with fake credentials."""
    with pytest.MonkeyPatch.context() as mp:
        for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
                     "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SECRETS_MANAGER"):
            mp.delenv(name, raising=False)
        for name, value in FAKE_CREDENTIALS.items():
            mp.setenv(name, value)
        mp.setenv("AWS_ENDPOINT_URL", moto_server.endpoint_url)
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        mp.setenv("AWS_REGION", REGION)
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        yield moto_server


def load_handler(name: str) -> ModuleType:
    """Import handlers/<name>/app.py as ``handler_<name>_app`` with its sibling modules.

    The handler directory is on sys.path only while it is imported, and its sibling modules
    are dropped from sys.modules around the import, so the copies of apigw.py in different
    handlers never shadow each other (each app module keeps a reference to its own).
    """
    directory = HANDLERS / name
    siblings = {p.stem for p in directory.glob("*.py")}
    for stem in siblings:
        sys.modules.pop(stem, None)
    sys.path.insert(0, str(directory))
    try:
        spec = importlib.util.spec_from_file_location(f"handler_{name}_app", directory / "app.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(directory))
        for stem in siblings:
            sys.modules.pop(stem, None)
    return module


def proxy_event(method: str, resource: str, path: str | None = None, *, path_params=None,
                query=None, body=None, base64_encoded: bool = False,
                request_id: str = "req-test") -> dict:
    """An API Gateway REST proxy event; a dict/list body is sent as JSON."""
    if body is not None and not isinstance(body, str):
        body = json.dumps(body)
    return {
        "resource": resource,
        "path": path or resource,
        "httpMethod": method,
        "headers": {"Content-Type": "application/json"},
        "queryStringParameters": query,
        "pathParameters": path_params,
        "body": body,
        "isBase64Encoded": base64_encoded,
        "requestContext": {"requestId": request_id, "stage": "test"},
    }


class FakeContext:
    aws_request_id = "lambda-req-test"
    function_name = "test-function"


@pytest.fixture(scope="session")
def load():
    """``load(name)``: the handler module of handlers/<name> (see load_handler)."""
    return load_handler


@pytest.fixture(scope="session")
def make_event():
    """``make_event(method, resource, ...)``: an API Gateway REST proxy event."""
    return proxy_event


@pytest.fixture(scope="session")
def lambda_context():
    return FakeContext()


class Response:
    """A proxy response, checked for shape: status, headers, body text and parsed JSON."""

    def __init__(self, result: dict):
        assert_well_formed(result)
        self.status = result["statusCode"]
        self.headers = result["headers"]
        self.text = result["body"]
        self.json = json.loads(self.text) if self.text else None

    def __repr__(self) -> str:
        return f"Response({self.status}, {self.text[:200]!r})"


# Text that would only be in a body if an exception leaked into it.
LEAK_MARKERS = ("Traceback", "File \"", "botocore", "Error(", "Exception", "line ")


def assert_well_formed(result: Any) -> None:
    """What every response of an HTTP handler must look like, whatever the request was."""
    assert isinstance(result, dict), result
    assert isinstance(result.get("statusCode"), int), result
    assert 200 <= result["statusCode"] <= 599, result
    headers = result.get("headers")
    assert isinstance(headers, dict), result
    assert headers.get("Access-Control-Allow-Origin"), headers
    assert headers.get("Content-Type") == "application/json", headers
    assert isinstance(result.get("body"), str), result
    if result["statusCode"] == 204:
        assert result["body"] == ""
        return
    payload = json.loads(result["body"])
    if result["statusCode"] >= 400:
        assert isinstance(payload, dict) and isinstance(payload.get("message"), str), payload
        assert set(payload) <= {"message", "requestId", "errors"}, payload
        told = " ".join([payload["message"], *payload.get("errors", [])])  # not the echoed id
        for marker in LEAK_MARKERS:
            assert marker not in told, result["body"]


@pytest.fixture(scope="session")
def well_formed():
    """``well_formed(result)``: assert_well_formed, for test modules."""
    return assert_well_formed


@pytest.fixture(scope="session")
def invoker(make_event, lambda_context):
    """``invoker(module)`` gives ``call(method, resource, path=None, **event_fields)``."""

    def bind(module: ModuleType):
        def call(method: str, resource: str, path: str | None = None, **kwargs) -> Response:
            return Response(module.handler(make_event(method, resource, path, **kwargs),
                                           lambda_context))
        return call

    return bind


def create_table(endpoint_url: str, name: str, hash_key: tuple[str, str],
                 range_key: tuple[str, str] | None = None,
                 indexes: dict[str, tuple[tuple[str, str], tuple[str, str]]] | None = None):
    """Create an on-demand table in the emulator and return its boto3 Table resource.
    ``indexes``: index name -> (hash key, range key), each projecting every attribute."""
    resource = boto3.resource("dynamodb", endpoint_url=endpoint_url, region_name=REGION)

    def schema(hash_key, range_key):
        return [{"AttributeName": n, "KeyType": kt}
                for (n, _), kt in [(hash_key, "HASH")] + ([(range_key, "RANGE")] if range_key else [])]

    attributes = dict([hash_key, *([range_key] if range_key else []),
                       *(key for keys in (indexes or {}).values() for key in keys)])
    extra = {"GlobalSecondaryIndexes": [{"IndexName": index, "KeySchema": schema(*keys),
                                         "Projection": {"ProjectionType": "ALL"}}
                                        for index, keys in indexes.items()]} if indexes else {}
    table = resource.create_table(
        TableName=name,
        KeySchema=schema(hash_key, range_key),
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": t} for n, t in attributes.items()],
        BillingMode="PAY_PER_REQUEST",
        **extra,
    )
    table.wait_until_exists()
    return table


@pytest.fixture(scope="session")
def new_table(moto_server):
    """``new_table(name, hash_key, range_key=None, indexes=None)``: a fresh table in the emulator."""
    return lambda *args, **kwargs: create_table(moto_server.endpoint_url, *args, **kwargs)


def ensure_node_modules(folder: Path) -> None:
    """Install a Node.js handler's dependencies from its lockfile (``npm ci``) unless its
    node_modules stamp is newer than package.json and package-lock.json: the Makefile's rule,
    so a test that runs the handler never relies on another test or target having installed
    them. Skips the calling test, saying why, when npm is not there."""
    stamp = folder / "node_modules" / ".installed"
    inputs = [folder / "package.json", folder / "package-lock.json"]
    if stamp.is_file() and stamp.stat().st_mtime >= max(p.stat().st_mtime for p in inputs):
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip(f"npm is not installed, so {folder.name}'s node_modules cannot be installed")
    done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=folder,
                          capture_output=True, text=True, timeout=NODE_INSTALL_SECONDS, check=False)
    if done.returncode != 0:
        pytest.fail(f"npm ci in {folder} failed: {done.stderr.strip()[-2000:]}")
    stamp.touch()
