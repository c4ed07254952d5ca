"""`serve`: real HTTP requests on loopback, answered by the Python and the Node.js handlers.

The shipped handlers (products in Python, users in Node.js) run against the moto server; echo
handlers (conftest.py) show exactly which proxy event API Gateway's local stand-in produced.
"""
from __future__ import annotations

import base64
import contextlib
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from loop_support import CATALOG, REPO
from infra.config import load_config
from infra.emulator import free_port
from infra.loop.local import backing, functions
from infra.loop.provision import provision
from infra.loop.server import LocalApi, make_server

@contextlib.contextmanager
def served(cfg, endpoint_url: str):
    """The config's API on a free loopback port, backed by the emulator; yields (base URL, log lines)."""
    lines: list[str] = []
    with backing(cfg, endpoint_url=endpoint_url) as back:
        provision(cfg, _client_factory(cfg, endpoint_url))
        with functions(cfg, sorted({r.function for r in cfg.api.routes}), back,
                       lambda name, line: lines.append(f"[{name}] {line}")) as runners:
            api = LocalApi(cfg, runners, lines.append)
            server = make_server(api, 0)
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            thread.start()
            try:
                yield f"http://127.0.0.1:{server.server_address[1]}", lines
            finally:
                server.shutdown()
                server.server_close()
                thread.join()


def _client_factory(cfg, endpoint):
    import boto3

    return lambda service: boto3.client(service, region_name=cfg.project.region, endpoint_url=endpoint)


class Answer:
    def __init__(self, status: int, headers, body: bytes):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)


# Straight to loopback, whatever proxy the environment names.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def request(url: str, method: str = "GET", body: bytes | str | None = None, headers: dict | None = None) -> Answer:
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with _OPENER.open(req, timeout=30) as res:
            return Answer(res.status, res.headers, res.read())
    except urllib.error.HTTPError as err:
        return Answer(err.code, err.headers, err.read())


@pytest.fixture
def echo(echo_config, emulator):
    with served(echo_config, emulator.endpoint_url) as (base, lines):
        yield base, lines


def test_path_parameters_query_strings_and_headers_reach_the_python_handler(echo):
    base, lines = echo
    res = request(f"{base}/things/a%20b?tag=x&tag=y&limit=5&empty=", headers={"X-Trace": "t1"})
    assert res.status == 200, res.body
    seen = res.json()
    event = seen["event"]
    assert event["resource"] == "/things/{id}"
    assert event["path"] == "/things/a%20b"
    assert event["pathParameters"] == {"id": "a b"}
    assert event["queryStringParameters"] == {"tag": "y", "limit": "5", "empty": ""}  # last value wins
    assert event["multiValueQueryStringParameters"] == {"tag": ["x", "y"], "limit": ["5"], "empty": [""]}
    assert event["headers"]["X-Trace"] == "t1"
    assert event["multiValueHeaders"]["X-Trace"] == ["t1"]
    assert event["requestContext"]["resourcePath"] == "/things/{id}"
    assert event["requestContext"]["stage"] == "dev"
    assert event["requestContext"]["path"] == "/dev/things/a%20b"
    assert event["isBase64Encoded"] is False and event["body"] is None
    # the environment's ${tables.items.name} resolved to the deterministic physical name
    assert seen["table"] == "echo-dev-items" and seen["function"] == "echo-dev-pyecho"
    assert 0 < seen["remaining"] <= 30_000
    # multiValueHeaders of the response become repeated headers
    assert res.headers.get_all("Set-Cookie") == ["a=1", "b=2"]
    assert res.headers["x-amzn-RequestId"] == event["requestContext"]["requestId"]
    assert "[pyecho] echo handler called" in lines  # the handler's print is its log, not the answer


def test_literal_segment_wins_over_a_path_variable(echo):
    base, _ = echo
    special = request(f"{base}/things/special").json()
    assert special["event"]["resource"] == "/things/special" and special["function"] == "echo-dev-jsecho"
    other = request(f"{base}/things/other").json()
    assert other["event"]["resource"] == "/things/{id}"


def test_binary_request_bodies_arrive_base64_encoded_and_binary_answers_are_decoded(echo):
    base, _ = echo
    payload = bytes(range(256))
    res = request(f"{base}/upload", "PUT", payload, {"Content-Type": "application/octet-stream"})
    event = res.json()["event"]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == payload
    text = request(f"{base}/upload", "PUT", "héllo", {"Content-Type": "text/plain; charset=utf-8"}).json()["event"]
    assert text["isBase64Encoded"] is False and text["body"] == "héllo"
    binary = request(f"{base}/binary")
    assert binary.status == 200 and binary.body == payload and binary.headers["Content-Type"] == "image/png"


def test_cors_preflight_is_answered_like_the_generated_options_method(echo):
    base, _ = echo
    res = request(f"{base}/things/42", "OPTIONS")
    assert res.status == 204 and res.body == b""
    assert res.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert res.headers["Access-Control-Allow-Methods"] == "GET,POST,PUT,PATCH,DELETE,OPTIONS"
    assert res.headers["Access-Control-Allow-Headers"] == ("Content-Type,X-Amz-Date,Authorization,X-Api-Key,"
                                                          "X-Amz-Security-Token")
    assert res.headers["Access-Control-Max-Age"] == "300"


def test_unknown_paths_and_methods_get_api_gateways_missing_token_answer(echo):
    base, _ = echo
    for method, path in (("GET", "/nowhere"), ("GET", "/things"), ("DELETE", "/things/1"), ("GET", "/things/1/x"),
                         ("OPTIONS", "/nowhere")):
        res = request(base + path, method)
        assert res.status == 403, (method, path)
        assert res.json() == {"message": "Missing Authentication Token"}
        assert res.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
        # the generated DEFAULT_4XX gateway response carries the CORS origin
        assert res.headers["Access-Control-Allow-Origin"] == "https://app.example.com"


@pytest.mark.parametrize("body", [
    "", "not json", "[]", '{"size": 1}', '{"name": 3}', '{"name": "a", "size": 1.5}',
    '{"name": "a", "size": 2.0}',  # draft-04: an integer has no fraction part in the JSON text
    '{"name": "a", "size": true}', '{"name": "a", "price": "1"}', '{"name": "a", "tags": {}}',
])
def test_request_model_validation_refuses_bodies_like_api_gateway(echo, body):
    base, lines = echo
    res = request(f"{base}/things", "POST", body, {"Content-Type": "application/json"})
    assert res.status == 400, body
    assert res.json() == {"message": "Invalid request body"}
    assert not any(line.startswith("[pyecho]") for line in lines)  # the function never ran


@pytest.mark.parametrize("body", ['{"name": "a"}', '{"name": "a", "size": 2, "price": 1, "tags": [], "x": 1}',
                                  '{"name": "a", "size": -2, "price": 0.5}'])
def test_request_model_validation_accepts_valid_bodies(echo, body):
    base, _ = echo
    res = request(f"{base}/things", "POST", body, {"Content-Type": "application/json", "x-api-key": "k1"})
    assert res.status == 200, res.body
    event = res.json()["event"]
    assert json.loads(event["body"]) == json.loads(body)
    assert event["requestContext"]["identity"]["apiKey"] == "k1"


def test_handler_failures_become_502_internal_server_error(echo):
    base, lines = echo
    for path in ("/boom", "/malformed"):
        res = request(base + path)
        assert res.status == 502
        assert res.json() == {"message": "Internal server error"}
    assert any("RuntimeError: boom" in line for line in lines)
    assert any("malformed Lambda proxy response" in line for line in lines)


def test_routes_whose_auth_is_not_enforced_are_announced(echo_config):
    lines = LocalApi(echo_config, {}, print).route_lines()
    by_route = {" ".join(line.split()[:2]): line for line in lines}
    assert "IAM authorization is not enforced locally" in by_route["GET /things/{id}"]
    assert "API key is not checked locally" in by_route["POST /things"]
    assert "WARNING" not in by_route["GET /boom"]


def test_node_handler_gets_the_same_event_and_its_environment(echo):
    base, lines = echo
    res = request(f"{base}/js/caf%C3%A9?q=1&q=2")
    assert res.status == 200, res.body
    seen = res.json()
    assert seen["event"]["pathParameters"] == {"name": "café"}
    assert seen["event"]["multiValueQueryStringParameters"] == {"q": ["1", "2"]}
    assert seen["table"] == "arn:aws:dynamodb:us-east-1:123456789012:table/echo-dev-items"
    assert seen["function"] == "echo-dev-jsecho" and 0 < seen["remaining"] <= 30_000
    assert "[jsecho] node echo called" in lines


@pytest.fixture
def catalog(emulator, users_node_modules):
    with served(load_config(CATALOG), emulator.endpoint_url) as (base, lines):
        yield base, lines


def test_products_python_handler_serves_crud_against_the_emulator(catalog):
    base, lines = catalog
    created = request(f"{base}/products", "POST", json.dumps({"name": "pen", "price": 1.5}),
                      {"Content-Type": "application/json"})
    assert created.status == 201, created.body
    product = created.json()
    assert created.headers["Location"] == f"/products/{product['id']}"
    fetched = request(f"{base}/products/{product['id']}")
    assert fetched.status == 200 and fetched.json() == product
    listed = request(f"{base}/products?limit=5").json()
    assert listed["items"] == [product]
    assert request(f"{base}/products/00000000-0000-0000-0000-000000000000").status == 404
    # the model says price is a number: API Gateway refuses the body before the function runs
    assert request(f"{base}/products", "POST", '{"name": "pen", "price": "1"}',
                   {"Content-Type": "application/json"}).status == 400


def test_users_node_handler_serves_crud_against_the_emulator(catalog):
    base, _ = catalog
    created = request(f"{base}/users", "POST", json.dumps({"name": "Ann", "email": "ann@example.com"}),
                      {"Content-Type": "application/json"})
    assert created.status == 201, created.body
    user = created.json()
    assert request(f"{base}/users/{user['id']}").json() == user
    updated = request(f"{base}/users/{user['id']}", "PUT", json.dumps({"name": "Ann B", "email": "ann@example.com"}),
                      {"Content-Type": "application/json"})
    assert updated.status == 200 and updated.json()["name"] == "Ann B"
    assert request(f"{base}/users?limit=10").json()["items"][0]["id"] == user["id"]
    assert request(f"{base}/users/{user['id']}", "DELETE").status == 204
    assert request(f"{base}/users/{user['id']}").status == 404


def _readme_three_commands() -> list[str]:
    section = (REPO / "README.md").read_text().split("## Everyday loop", 1)[1]
    block = section.split("```sh", 1)[1].split("```", 1)[0]
    return [line.split("  #")[0].strip() for line in block.strip().splitlines()]


def test_readme_newcomer_flow_make_serve_then_curl(tmp_path):
    """The README's three commands: the first (make templates) is what `make test` already ran;
    the second is run as written (on a free port), the third's request is sent as curl would."""
    first, second, third = _readme_three_commands()
    assert first == "make templates" and second == "make serve"
    curl = shlex.split(third)
    assert curl[0] == "curl"
    method = curl[curl.index("-X") + 1]
    header = curl[curl.index("-H") + 1]
    body = curl[curl.index("-d") + 1]
    url = next(word for word in curl if word.startswith("http://"))
    assert url.startswith("http://127.0.0.1:3000/")  # make serve's default port
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k not in ("CONFIG", "PORT")}
    log = (tmp_path / "serve.log").open("w+")
    # Its own process group: make and the server it starts both get the SIGTERM at the end.
    proc = subprocess.Popen([*second.split(), f"PORT={port}"], stdout=log, stderr=subprocess.STDOUT, env=env,
                            cwd=REPO, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while "serving" not in (tmp_path / "serve.log").read_text():
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "serve did not start"
            time.sleep(0.1)
        base = f"http://127.0.0.1:{port}"
        name, _, value = header.partition(":")
        created = request(url.replace("http://127.0.0.1:3000", base), method, body, {name.strip(): value.strip()})
        assert created.status == 201, created.body
        assert request(f"{base}/products").json()["items"] == [created.json()]
        user = request(f"{base}/users", "POST", '{"name":"Ann","email":"ann@example.com"}',
                       {"Content-Type": "application/json"})
        assert user.status == 201, user.body  # the Node.js handler too
    finally:
        with contextlib.suppress(ProcessLookupError):  # the group is gone: the assertion above says why
            os.killpg(proc.pid, signal.SIGTERM)  # as Ctrl-C in the terminal would, to make and serve
        proc.wait(timeout=30)
        log.close()
    text = (tmp_path / "serve.log").read_text()
    assert "IAM authorization is not enforced locally" in text
    assert "Traceback" not in text and "Aborted" not in text  # serve stopped cleanly ...
    emulator_port = int(text.split("emulator: http://127.0.0.1:", 1)[1].split(" ", 1)[0])
    with pytest.raises(OSError):  # ... and stopped its emulator
        socket.create_connection(("127.0.0.1", emulator_port), timeout=2).close()


def test_a_missing_stage_outputs_file_is_a_usage_error(cli, tmp_path):
    result = cli("serve", "--config", REPO / "config" / "catalog-api.toml", "--stage-outputs", tmp_path / "none.json")
    assert result.exit_code == 2
    assert "no such stage outputs file" in result.output


def test_node_is_required_for_node_functions(echo_config, monkeypatch):
    from infra.loop.runtime import FunctionInitError, local_function

    monkeypatch.setattr(shutil, "which", lambda name: None)
    runner = local_function(echo_config, "jsecho", {}, print)
    with pytest.raises(FunctionInitError, match="needs Node.js"):
        runner.invoke({})


def test_a_stopped_serve_leaves_no_child_processes(echo_config, emulator):
    with served(echo_config, emulator.endpoint_url) as (base, _):
        assert request(f"{base}/js/x").status == 200
    children = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(os.getpid())],
                              capture_output=True, text=True).stdout
    assert "node_runner.mjs" not in children


def test_serve_port_in_use_is_one_sentence_and_exit_2(echo_config):
    """A port in use is a bad argument (the README's exit 2), as for `emulator`."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        from infra.errors import UserError

        with pytest.raises(UserError, match="pass another --port") as refused:
            make_server(LocalApi(echo_config, {}, print), sock.getsockname()[1])
        assert refused.value.exit_code == 2          # README: "a port in use" is exit 2, as for `emulator`


def test_serve_checks_its_port_before_starting_and_filling_an_emulator(cli):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = cli("serve", "--config", CATALOG, "--emulator", "--port", port)
    assert result.exit_code == 2
    assert [line for line in result.stderr.splitlines() if line.strip()] == [   # no emulator started first
        f"Error: cannot listen on 127.0.0.1:{port} (Address already in use); pass another --port."]



# -- issue 18: hostile requests, content types, the library validator, exit codes ----------------------
def raw(base: str, data: bytes, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are (urllib would fix a bad Content-Length); status, headers, body."""
    port = int(base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            assert chunk, answer
            answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        while len(body) < int(headers.get("content-length", "0")):
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    return int(lines[0].split()[1]), headers, body


@pytest.mark.parametrize("length", ["abc", "-1", "+5", "1_0", "５"])
def test_a_bad_content_length_is_a_json_400_at_once(echo, length):
    """`Content-Length: abc` was a traceback in the server thread and `-1` hung the request."""
    base, lines = echo
    started = time.monotonic()
    status, headers, body = raw(base, f"POST /things HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n"
                                      "Content-Type: application/json\r\n\r\n{}".encode())
    assert time.monotonic() - started < 5
    assert status == 400 and headers["content-type"] == "application/json"
    assert json.loads(body) == {"message": "Bad Request"}
    assert headers["connection"] == "close"
    assert not any(line.startswith("[pyecho]") for line in lines)


def test_a_413_is_json_like_every_other_answer(echo):
    base, _ = echo
    status, headers, body = raw(base, b"POST /things HTTP/1.1\r\nHost: x\r\nContent-Length: 10485761\r\n"
                                      b"Content-Type: application/json\r\n\r\n")
    assert status == 413 and headers["content-type"] == "application/json"
    assert json.loads(body) == {"message": "Request Too Long"}
    assert headers["access-control-allow-origin"] == "https://app.example.com"  # a gateway response


def test_the_servers_own_refusals_are_json_too(echo):
    base, _ = echo
    status, headers, body = raw(base, b"BREW /things HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 501 and headers["content-type"] == "application/json"
    assert "message" in json.loads(body)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "TEXT/CSV; q=1"])
def test_a_body_of_a_type_without_a_model_reaches_the_function_unvalidated(echo, content_type):
    """API Gateway validates a body against the model of its content type only ("If no matching
    content type is found, request validation is not performed"): the handler decides (415)."""
    base, lines = echo
    res = request(f"{base}/things", "POST", "name=a", {"Content-Type": content_type})
    assert res.status == 200, res.body
    assert res.json()["event"]["body"] == "name=a"


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "Application/JSON", None])
def test_json_bodies_and_bodies_without_a_type_are_validated(echo, content_type):
    """API Gateway takes a request without Content-Type as application/json (urllib would add a
    form content type, so the request is sent as it is)."""
    base, _ = echo
    header = f"Content-Type: {content_type}\r\n" if content_type else ""
    status, _, body = raw(base, f"POST /things HTTP/1.1\r\nHost: x\r\n{header}Content-Length: 11\r\n\r\n"
                                '{"size": 1}'.encode())
    assert status == 400 and json.loads(body) == {"message": "Invalid request body"}


def test_serve_against_a_stage_that_is_not_deployed_says_so_and_exits_2(cli, emulator, monkeypatch):
    import infra.loop.server

    def started(*args, **kwargs):  # it used to serve 500s until stopped: fail instead of hanging
        raise AssertionError("serve started serving")

    monkeypatch.setattr(infra.loop.server, "make_server", started)
    result = cli("serve", "--config", CATALOG, "--endpoint-url", emulator.endpoint_url, "--port", "0")
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and "the stage catalog-prod is not deployed there" in errors[0]
    assert "generate.py deploy --config" in errors[0] and "serving" not in result.stderr


def test_ctrl_c_stops_serve_with_exit_130_and_its_emulator(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    proc = subprocess.Popen([sys.executable, str(REPO / "generate.py"), "serve", "--config", str(CATALOG),
                             "--port", str(port), "--emulator"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=REPO, start_new_session=True)
    log: list[str] = []
    deadline = time.monotonic() + 120
    while not any("serving" in line for line in log):
        line = proc.stderr.readline()
        assert line or proc.poll() is None, "".join(log)
        assert time.monotonic() < deadline, "serve did not start"
        log.append(line)
    assert request(f"http://127.0.0.1:{port}/products").status == 200
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
    _, rest = proc.communicate(timeout=60)
    assert proc.returncode == 130, rest
    assert "Traceback" not in rest and rest.strip().splitlines()[-1] == "Error: Interrupted: serve stopped."
    emulator_port = int("".join(log).split("emulator: http://127.0.0.1:", 1)[1].split(" ", 1)[0])
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", emulator_port), timeout=2).close()


def test_a_saved_config_is_served_from_the_next_request_and_a_broken_one_is_not(tmp_path, users_node_modules):
    """serve follows its config as it follows the code: a new route answers, a new table is created
    in the emulator serve started (--emulator), and a config that does not load changes nothing."""
    from infra.loop.local import close_runners, make_runners
    from infra.loop.reload import ConfigReloader, route_functions

    path = tmp_path / "catalog-api.toml"
    path.write_text(CATALOG.read_text())
    cfg = load_config(path)
    lines: list[str] = []

    def save(text: str) -> None:   # a later whole second: the reload compares time and size
        path.write_text(text)
        later = path.stat().st_mtime_ns + 2 * 10**9
        os.utime(path, ns=(later, later))

    with backing(cfg, emulator=True, say=lines.append) as back:
        api = LocalApi(cfg, make_runners(cfg, route_functions(cfg.api.routes), back,
                                         lambda name, line: lines.append(f"[{name}] {line}")), lines.append)
        api.before_request = ConfigReloader(path, api, back, lines.append,
                                            lambda name, line: lines.append(f"[{name}] {line}")).check
        server = make_server(api, 0)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{server.server_address[1]}"
        try:
            assert request(f"{base}/orders").status == 403               # not a route yet
            text = CATALOG.read_text().replace(
                'TABLE_NAME = "${tables.products.name}"',
                'TABLE_NAME = "${tables.products.name}"\nORDERS_TABLE = "${tables.orders.name}"')
            text = text.replace("[tables.products]", '[tables.orders]\npartition_key = "id:S"\n\n[tables.products]')
            text += '\n[[api.routes]]\nmethod = "GET"\npath = "/orders"\nfunction = "products"\nauth = "NONE"\n'
            save(text)
            assert request(f"{base}/orders").status != 403              # routed to products now
            assert any(line.startswith("config changed in ") for line in lines)
            assert any("catalog-prod-orders" in line for line in lines if line.startswith("emulator: "))
            assert any(line.split()[:4] == ["GET", "/orders", "->", "products"] for line in lines)
            save("[project\n")                                               # broken: the previous one stays
            assert request(f"{base}/products").status == 200
            assert request(f"{base}/orders").status != 403
            assert [line for line in lines if line.startswith("config not applied: ")
                    and "is not valid TOML" in line and line.endswith("Still serving the previous config.")]
        finally:
            server.shutdown()
            server.server_close()
            thread.join()
            close_runners(api.functions)


def test_a_config_reload_that_fails_on_aws_is_said_and_the_previous_config_serves(tmp_path):
    """An AWS or emulator failure while applying a saved config (creating its tables) is one line,
    like a config that does not load, and never an exception in the request's thread."""
    from botocore.exceptions import EndpointConnectionError

    from infra.loop.local import Backing
    from infra.loop.reload import ConfigReloader

    path = tmp_path / "catalog-api.toml"
    path.write_text(CATALOG.read_text())
    cfg = load_config(path)
    lines: list[str] = []

    def unreachable(config):
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")

    api = LocalApi(cfg, {}, lines.append)
    reloader = ConfigReloader(path, api, Backing(lambda ref: ref, rebind=unreachable), lines.append,
                              lambda name, line: None)
    path.write_text(CATALOG.read_text() + "\n")
    later = path.stat().st_mtime_ns + 2 * 10**9
    os.utime(path, ns=(later, later))
    reloader.check()
    reloader.check()                                   # said once
    assert [line for line in lines if line.startswith("config not applied: EndpointConnectionError")] == lines
    assert len(lines) == 1 and api.cfg is cfg
