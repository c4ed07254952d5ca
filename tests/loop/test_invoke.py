"""`invoke` and `generate-event`: a handler run locally with the environment the config gives it."""
from __future__ import annotations

import json
import os
import sys
import time

import boto3
import pytest

import infra.bundle.local

from loop_support import CATALOG, SECURE
from infra.config import load_config
from infra.errors import UsageError, UserError
from infra.loop import env as envmod
from infra.loop.local import backing, function_environment, functions
from infra.loop.runtime import LOG_GRACE_S
from infra.loop.provision import provision
from support.shipped import SHIPPED


def _provisioned(endpoint: str, config=CATALOG):
    cfg = load_config(config)
    provision(cfg, lambda s: boto3.client(s, region_name=cfg.project.region, endpoint_url=endpoint))
    return cfg


def _event(cli, *args) -> dict:
    result = cli("generate-event", "--config", CATALOG, *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_generate_event_prints_a_proxy_event_for_a_route(cli):
    event = _event(cli, "--method", "PUT", "--path", "/users/42?x=1", "--query", "x=2&y=",
                   "--body", '{"name":"a"}', "--header", "X-Test: yes")
    assert event["resource"] == "/users/{id}" and event["path"] == "/users/42" and event["httpMethod"] == "PUT"
    assert event["pathParameters"] == {"id": "42"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"], "y": [""]}
    assert event["queryStringParameters"] == {"x": "2", "y": ""}
    assert event["headers"] == {"X-Test": "yes", "Content-Type": "application/json"}
    assert event["body"] == '{"name":"a"}' and event["isBase64Encoded"] is False
    ctx = event["requestContext"]
    assert ctx["stage"] == "prod" and ctx["resourcePath"] == "/users/{id}" and ctx["httpMethod"] == "PUT"
    assert ctx["path"] == "/prod/users/42" and ctx["requestId"]
    assert isinstance(ctx["requestTimeEpoch"], int)


def test_generate_event_keeps_a_body_argument_that_is_not_utf8_as_its_bytes(cli):
    """The shell passes bytes; Python decodes arguments with surrogateescape ('\\xff' -> '\\udcff')."""
    body = b"\xff\xfe".decode("utf-8", "surrogateescape")
    event = _event(cli, "--method", "POST", "--path", "/users", "--body", body)
    assert event["isBase64Encoded"] is True and event["body"] == "//4="


@pytest.mark.parametrize("args, message", [
    (("--method", "PATCH", "--path", "/users/1"), "matches no route"),
    (("--path", "/nowhere"), "matches no route"),
    (("--path", "/users", "--header", "no colon"), "is not 'Name: value'"),
])
def test_generate_event_refuses_what_is_not_a_route(cli, args, message):
    result = cli("generate-event", "--config", CATALOG, *args)
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_invoke_runs_the_python_handler_against_the_emulator(cli, emulator, tmp_path):
    _provisioned(emulator.endpoint_url)
    event = _event(cli, "--method", "POST", "--path", "/products", "--body", '{"name": "pen", "price": 2}')
    (tmp_path / "event.json").write_text(json.dumps(event))
    result = cli("invoke", "--config", CATALOG, "products", "--event", tmp_path / "event.json",
                 "--endpoint-url", emulator.endpoint_url)
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)  # only the result is on stdout; the logs are on stderr
    assert answer["statusCode"] == 201
    product = json.loads(answer["body"])
    assert product["name"] == "pen" and product["price"] == 2
    logged = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert "product created" in [entry["message"] for entry in logged]
    stored = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=emulator.endpoint_url).get_item(
        TableName="catalog-prod-products", Key={"id": {"S": product["id"]}})
    assert stored["Item"]["name"] == {"S": "pen"}


def test_invoke_runs_the_node_handler_with_an_event_on_stdin(cli, emulator, users_node_modules):
    _provisioned(emulator.endpoint_url)
    event = _event(cli, "--method", "POST", "--path", "/users", "--body", '{"name": "Ann", "email": "a@example.com"}')
    result = cli("invoke", "--config", CATALOG, "users", "--event", "-", "--endpoint-url", emulator.endpoint_url,
                 input=json.dumps(event))
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["statusCode"] == 201
    user = json.loads(answer["body"])
    stored = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=emulator.endpoint_url).get_item(
        TableName="catalog-prod-users", Key={"id": {"S": user["id"]}})
    assert stored["Item"]["email"] == {"S": "a@example.com"}
    assert '"message":"user created"' in result.stderr


def test_each_python_function_gets_its_own_fresh_modules(echo_config, emulator):
    """Two functions whose directories both hold app.py run side by side without sharing it."""
    with backing(echo_config, endpoint_url=emulator.endpoint_url) as back:
        provision(echo_config, lambda s: boto3.client(s, region_name="us-east-1", endpoint_url=emulator.endpoint_url))
        cfg = load_config(CATALOG)
        provision(cfg, lambda s: boto3.client(s, region_name="us-east-1", endpoint_url=emulator.endpoint_url))
        with backing(cfg, endpoint_url=emulator.endpoint_url) as catalog_back, \
                functions(cfg, ["products"], catalog_back, lambda *_: None) as catalog_runners, \
                functions(echo_config, ["pyecho"], back, lambda *_: None) as echo_runners:
            echo = echo_runners["pyecho"].invoke({"path": "/x"})
            products = catalog_runners["products"].invoke({"httpMethod": "GET", "path": "/products",
                                                           "resource": "/products"})
            again = echo_runners["pyecho"].invoke({"path": "/y"})
    assert json.loads(echo.result["body"])["table"] == "echo-dev-items"
    assert products.result["statusCode"] == 200, products
    assert json.loads(again.result["body"])["event"] == {"path": "/y"}
    assert catalog_runners["products"].module is not echo_runners["pyecho"].module


def test_a_failing_handler_prints_lambdas_error_object_and_exits_1(cli, echo_config, emulator):
    with backing(echo_config, endpoint_url=emulator.endpoint_url) as back:
        provision(echo_config, lambda s: boto3.client(s, region_name="us-east-1", endpoint_url=emulator.endpoint_url))
        with functions(echo_config, ["pyecho"], back, lambda *_: None) as runners:
            outcome = runners["pyecho"].invoke({"path": "/boom"})
    assert outcome.result is None
    assert outcome.error["errorType"] == "RuntimeError" and outcome.error["errorMessage"] == "boom"
    assert any("raise RuntimeError" in line for line in outcome.error["stackTrace"])


def test_python_timeout_drops_the_result_as_lambda_would(echo_config, emulator):
    with backing(echo_config, endpoint_url=emulator.endpoint_url) as back:
        provision(echo_config, lambda s: boto3.client(s, region_name="us-east-1", endpoint_url=emulator.endpoint_url))
        with functions(echo_config, ["pyecho"], back, lambda *_: None) as runners:
            runner = runners["pyecho"]
            ticks = iter([100.0, 100.0])  # start, then the handler's remaining-time call
            runner.clock = lambda: next(ticks, 131.0)  # ... and it "returns" 31 s in, of 30
            outcome = runner.invoke({"path": "/x"})
    assert outcome.result is None
    assert outcome.error == {"errorType": "Sandbox.Timedout", "errorMessage": "Task timed out after 30.00 seconds"}


def test_node_errors_and_timeouts_are_lambdas_and_the_environment_is_replaced(echo_config, emulator):
    with backing(echo_config, endpoint_url=emulator.endpoint_url) as back:
        provision(echo_config, lambda s: boto3.client(s, region_name="us-east-1", endpoint_url=emulator.endpoint_url))
        with functions(echo_config, ["jsecho"], back, lambda *_: None) as runners:
            runner = runners["jsecho"]
            failed = runner.invoke({"path": "/throw"})
            first_process = runner.proc.pid
            timed_out = runner.invoke({"path": "/sleep"})  # the function's timeout is 3 s
            assert runner.proc is None  # a timed-out environment is not reused
            after = runner.invoke({"path": "/ok"})
            assert runner.proc.pid != first_process
    assert failed.error["errorType"] == "TypeError" and failed.error["errorMessage"] == "bad thing"
    assert timed_out.error == {"errorType": "Sandbox.Timedout", "errorMessage": "Task timed out after 3.00 seconds"}
    assert after.result["statusCode"] == 200


def test_a_saved_handler_runs_in_a_new_environment_from_the_next_invocation(echo_project, echo_config, emulator,
                                                                            monkeypatch):
    """serve keeps each function warm; a save of its code (a file its zip holds) ends that
    environment, as a deploy would, and a save elsewhere (its tests) does not."""
    said: list[tuple[str, str]] = []
    with backing(echo_config, endpoint_url=emulator.endpoint_url) as back:
        provision(echo_config, lambda s: boto3.client(s, region_name="us-east-1", endpoint_url=emulator.endpoint_url))
        with functions(echo_config, ["pyecho", "jsecho"], back, lambda name, line: said.append((name, line))) as runners:
            py, js = runners["pyecho"], runners["jsecho"]
            assert json.loads(py.invoke({"path": "/x"}).result["body"])["table"] == "echo-dev-items"
            assert json.loads(js.invoke({"path": "/x"}).result["body"])["table"].endswith(":table/echo-dev-items")
            module, process = py.module, js.proc.pid
            (echo_project / "echo-py" / "tests").mkdir()
            (echo_project / "echo-py" / "tests" / "test_app.py").write_text("def test_nothing(): pass\n")
            py.invoke({"path": "/x"})
            assert py.module is module                        # not code: the same environment
            for folder, name, old in (("echo-py", "app.py", 'os.environ.get("TABLE_NAME")'),
                                      ("echo-js", "index.mjs", "process.env.TABLE_NAME")):
                path = echo_project / folder / name
                path.write_text(path.read_text().replace(old, "'saved'"))
            assert json.loads(py.invoke({"path": "/x"}).result["body"])["table"] == "saved"
            assert json.loads(js.invoke({"path": "/x"}).result["body"])["table"] == "saved"
            assert py.module is not module and js.proc.pid != process
            (echo_project / "echo-py" / "helper.py").write_text("VALUE = 1\n")   # a new file is code too
            py.invoke({"path": "/x"})
            # A new environment that fails to start (its dependencies do not install) is tried again.
            (echo_project / "echo-py" / "helper.py").write_text("VALUE = 22\n")
            with monkeypatch.context() as patched:
                patched.setattr(infra.bundle.local, "python_dependencies", _failing_install)
                with pytest.raises(UserError, match="cannot install"):
                    py.invoke({"path": "/x"})
            assert py.invoke({"path": "/x"}).result["statusCode"] == 200 and py.module.__dict__.get("handler")
            # The zip leaves the lockfile out, but a change to it is one.
            (echo_project / "echo-js" / "package-lock.json").write_text("{}\n")
            assert js.code_changed() is not None
    reloads = [(name, line) for name, line in said if line.startswith("code changed")]
    assert reloads == [("pyecho", "code changed in echo-py: a new execution environment (cold start) with it"),
                       ("jsecho", "code changed in echo-js: a new execution environment (cold start) with it"),
                       ("pyecho", "code changed in echo-py: a new execution environment (cold start) with it"),
                       ("pyecho", "code changed in echo-py: a new execution environment (cold start) with it")]


def _failing_install(cfg, name, cache=None):
    raise UserError(f"function {name}: cannot install its dependencies (a stand-in failure).")


def test_code_saved_before_the_first_invocation_is_the_code_that_runs(echo_project, echo_config, emulator):
    """The code is recorded when the function is set up (serve's start), not at its first request."""
    said: list[tuple[str, str]] = []
    with backing(echo_config, endpoint_url=emulator.endpoint_url) as back:
        provision(echo_config, lambda s: boto3.client(s, region_name="us-east-1", endpoint_url=emulator.endpoint_url))
        with functions(echo_config, ["pyecho"], back, lambda name, line: said.append((name, line))) as runners:
            app = echo_project / "echo-py" / "app.py"
            app.write_text(app.read_text().replace('os.environ.get("TABLE_NAME")', "'before the first'"))
            assert json.loads(runners["pyecho"].invoke({"path": "/x"}).result["body"])["table"] == "before the first"
            assert runners["pyecho"].code_changed() is None
    assert not [line for _, line in said if line.startswith("code changed")]   # nothing ran before it


def test_invoke_with_an_unknown_function_or_bad_event_is_a_usage_error(cli, tmp_path):
    result = cli("invoke", "--config", CATALOG, "orders")
    assert result.exit_code == 2 and "no function named 'orders'" in result.output
    (tmp_path / "bad.json").write_text("{not json")
    result = cli("invoke", "--config", CATALOG, "products", "--event", tmp_path / "bad.json")
    assert result.exit_code == 2 and "is not JSON" in result.output


def test_references_without_a_backing_name_the_options(cli):
    result = cli("invoke", "--config", CATALOG, "products")
    assert result.exit_code == 2
    assert "--stage-outputs" in result.output and "--emulator" in result.output


def test_stage_outputs_resolve_every_reference(cli, tmp_path):
    cfg = load_config(SECURE)
    outputs = {"DataTableName": "tap-dev-data", "StaticContentBucketName": "tap-dev-static-content-1-us-west-2",
               "SecretArn": "arn:aws:secretsmanager:us-west-2:1:secret:tap-dev-app-secrets-AbCdEf", "KeyId": "k-1"}
    (tmp_path / "outputs.json").write_text(json.dumps(outputs))
    with backing(cfg, stage_outputs=tmp_path / "outputs.json", profile="dev") as back:
        env = function_environment(cfg, "api", back)
    assert env["TABLE_NAME"] == "tap-dev-data" and env["BUCKET_NAME"] == outputs["StaticContentBucketName"]
    assert env["SECRET_ARN"] == outputs["SecretArn"] and env["KMS_KEY_ID"] == "k-1"
    assert env["AWS_PROFILE"] == "dev" and env["AWS_REGION"] == "us-west-2"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "tap-dev-api" and env["_HANDLER"] == "app.handler"
    del outputs["KeyId"]
    (tmp_path / "outputs.json").write_text(json.dumps(outputs))
    with backing(cfg, stage_outputs=tmp_path / "outputs.json") as back, pytest.raises(UsageError, match="'KeyId'"):
        function_environment(cfg, "api", back)


def test_emulator_resolves_every_kind_of_reference(emulator):
    cfg = _provisioned(emulator.endpoint_url, SECURE)
    with backing(cfg, endpoint_url=emulator.endpoint_url) as back:
        env = function_environment(cfg, "api", back)
    assert env["TABLE_NAME"] == "tap-dev-data"
    assert env["BUCKET_NAME"] == "tap-dev-static-content-123456789012-us-west-2"
    assert env["SECRET_ARN"].startswith("arn:aws:secretsmanager:us-west-2:123456789012:secret:tap-dev-app-secrets")
    kms = boto3.client("kms", region_name="us-west-2", endpoint_url=emulator.endpoint_url)
    assert env["KMS_KEY_ID"] == kms.describe_key(KeyId="alias/tap-dev-kms-key")["KeyMetadata"]["KeyId"]
    assert env["AWS_ENDPOINT_URL"] == emulator.endpoint_url


def test_a_reference_missing_from_the_emulator_says_how_to_fix_it(emulator):
    cfg = load_config(SECURE)  # nothing provisioned
    with backing(cfg, endpoint_url=emulator.endpoint_url) as back, pytest.raises(UsageError, match="--emulator"):
        function_environment(cfg, "api", back)


def test_backing_options_exclude_each_other(tmp_path):
    cfg = load_config(CATALOG)
    with pytest.raises(UsageError, match="exclude each other"):
        with backing(cfg, stage_outputs=tmp_path / "x.json", emulator=True):
            pass


@pytest.mark.parametrize("config", SHIPPED, ids=lambda p: p.stem)
def test_output_names_are_outputs_of_the_generated_stacks(config, generated):
    """Every reference a shipped config's functions make resolves to an output of a stack."""
    cfg = load_config(config)
    # Per-resource values are outputs of the nested stack holding the resource (`outputs` lists them all).
    outputs = {name for files in generated[cfg.name].values() for name in files.get("Outputs", {})}
    refs = envmod.references(cfg, list(cfg.functions))
    assert refs, "the shipped configs reference their resources"
    for ref in refs:
        assert envmod.output_name(ref) in outputs, ref


@pytest.mark.parametrize("config", SHIPPED, ids=lambda p: p.stem)
def test_bucket_names_are_those_the_data_stack_declares(config, generated):
    cfg = load_config(config)
    data = generated[cfg.name].get("data", {}).get("Resources", {})
    for name in cfg.buckets:
        declared = data[envmod.logical_id(name, "Bucket")]["Properties"]["BucketName"]["Fn::Sub"]
        rendered = envmod.bucket_name(cfg, name, "${AWS::AccountId}").replace(cfg.project.region, "${AWS::Region}")
        assert rendered == declared


def test_invoke_with_its_own_emulator(cli, aws_env):
    """--emulator: a moto server started for the command, filled from the config, stopped after."""
    event = _event(cli, "--path", "/products")
    result = cli("invoke", "--config", CATALOG, "products", "--event", "-", "--emulator", input=json.dumps(event))
    assert result.exit_code == 0, result.output
    assert json.loads(json.loads(result.stdout)["body"]) == {"items": [], "cursor": None}
    assert "emulator: http://127.0.0.1:" in result.stderr and "catalog-prod-products" in result.stderr


@pytest.fixture
def html_endpoint():
    """A web server on loopback that answers every request with an HTML page (not AWS)."""
    import http.server
    import threading

    from infra.emulator import free_port

    class Html(http.server.BaseHTTPRequestHandler):
        def answer(self) -> None:
            body = b"<!DOCTYPE html><html><head><title>Welcome to nginx</title></head><body>hi</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = answer

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Html)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.parametrize("command", [["invoke", "products"], ["serve", "--port", "0"]])
def test_an_endpoint_that_answers_html_is_one_line(command, cli, aws_env, html_endpoint, monkeypatch):
    """invoke printed a botocore traceback; serve started and answered 500 to everything."""
    import infra.loop.server

    def started(*args, **kwargs):  # fail instead of serving until stopped
        raise AssertionError("serve started serving")

    monkeypatch.setattr(infra.loop.server, "make_server", started)
    name, *rest = command
    result = cli(name, "--config", CATALOG, *rest, "--endpoint-url", html_endpoint)
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and "answered with an HTML page" in errors[0], result.stderr
    assert "Traceback" not in result.output and "serving" not in result.stderr


def test_a_same_size_save_within_the_second_of_the_last_import_runs_the_new_code(echo_project, echo_config,
                                                                                 emulator, monkeypatch):
    """CPython trusts a cached .pyc whose recorded source time (whole seconds) and size match the
    source: an edit of the same size in the same second would run the old code. A function's own
    modules are compiled from their source in each new environment instead."""
    monkeypatch.setattr(sys, "dont_write_bytecode", False)   # as on a user's machine: .pyc files are written
    folder = echo_project / "echo-py"
    (folder / "helper.py").write_text("VALUE = 'one'\n")
    app = folder / "app.py"
    app.write_text(app.read_text().replace('os.environ.get("TABLE_NAME")', "__import__('helper').VALUE + '/a'"))
    second = (time.time_ns() // 10**9 - 5) * 10**9     # a whole second, so that +0.1 s and +0.5 s share it
    for path in (folder / "helper.py", app):
        os.utime(path, ns=(second + 10**8, second + 10**8))
    with backing(echo_config, endpoint_url=emulator.endpoint_url) as back:
        provision(echo_config, lambda s: boto3.client(s, region_name="us-east-1", endpoint_url=emulator.endpoint_url))
        with functions(echo_config, ["pyecho"], back, lambda *_: None) as runners:
            py = runners["pyecho"]
            assert json.loads(py.invoke({"path": "/x"}).result["body"])["table"] == "one/a"
            for path, old, new in ((folder / "helper.py", "one", "two"), (app, "/a", "/b")):
                path.write_text(path.read_text().replace(old, new))      # same size ...
                os.utime(path, ns=(second + 5 * 10**8, second + 5 * 10**8))   # ... in the same second
            assert json.loads(py.invoke({"path": "/x"}).result["body"])["table"] == "two/b"
    assert not list(folder.rglob("*.pyc"))   # nothing cached that a later edit could be mistaken for


def test_a_node_invocations_log_is_read_before_its_answer_is_returned(echo_config, emulator):
    """The runner prints the handler's log on stderr and answers on stdout: two pipes, read by two
    threads. A slow log reader must not let the answer (and serve's request line) overtake it."""
    said: list[str] = []

    def slow_log(name: str, line: str) -> None:
        if "echo called" in line:
            time.sleep(0.3)
        said.append(line)

    with backing(echo_config, endpoint_url=emulator.endpoint_url) as back:
        provision(echo_config, lambda s: boto3.client(s, region_name="us-east-1", endpoint_url=emulator.endpoint_url))
        with functions(echo_config, ["jsecho"], back, slow_log) as runners:
            for _ in range(2):
                outcome = runners["jsecho"].invoke({"path": "/x"})
                assert outcome.result["statusCode"] == 200
                assert said.count("node echo called") == 1
                said.clear()
            assert runners["jsecho"].invoke({"path": "/throw"}).error["errorType"] == "TypeError"
    assert not [line for line in said if "end-of-log" in line]   # the marker itself is never shown


def test_a_node_log_without_a_final_newline_still_ends_before_the_answer(echo_project, echo_config, emulator):
    """A handler's process.stdout.write('...') with no newline: the runner's end mark still gets a
    line of its own (it was glued to the output and never recognised: a 2 s wait on every call)."""
    (echo_project / "echo-js" / "index.mjs").write_text(
        "export const handler = async () => { process.stdout.write('progress...'); console.log(''); "
        "process.stdout.write('half'); return { statusCode: 200, body: 'ok' }; };\n")
    said: list[str] = []
    with backing(echo_config, endpoint_url=emulator.endpoint_url) as back:
        provision(echo_config, lambda s: boto3.client(s, region_name="us-east-1", endpoint_url=emulator.endpoint_url))
        with functions(echo_config, ["jsecho"], back, lambda name, line: said.append(line)) as runners:
            started = time.monotonic()
            for _ in range(3):
                assert runners["jsecho"].invoke({"path": "/x"}).result["statusCode"] == 200
            elapsed = time.monotonic() - started
    assert said == ["progress...", "half"] * 3   # console.log('') ended the first line; the mark, the second
    assert elapsed < 3 * LOG_GRACE_S   # not every invocation waited out the grace period for its mark

