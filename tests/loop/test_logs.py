"""`logs`: real log events in the emulator's CloudWatch Logs, read back merged and readable."""
from __future__ import annotations

import dataclasses
import functools
import json
import time

import boto3
import pytest

from infra.config import load_config
from infra.errors import UsageError
from infra.loop import logs
from infra.naming import api_access_log_group, function_log_group
from loop_support import CATALOG
from support.shipped import SHIPPED

USERS = "/aws/lambda/catalog-prod-users"
PRODUCTS = "/aws/lambda/catalog-prod-products"
ACCESS = "/aws/apigateway/prod-MyAPI-prod/access"


@pytest.fixture
def cw(emulator):
    client = boto3.client("logs", region_name="us-east-1", endpoint_url=emulator.endpoint_url)
    for group in (USERS, PRODUCTS, ACCESS):
        client.create_log_group(logGroupName=group)
        client.create_log_stream(logGroupName=group, logStreamName="s1")
    return client


def put(client, group: str, *events: tuple[int, str]) -> None:
    client.put_log_events(logGroupName=group, logStreamName="s1",
                          logEvents=[{"timestamp": ts, "message": msg} for ts, msg in sorted(events)])


def iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def test_logs_merges_every_group_in_time_order_one_readable_line_each(cli, cw, emulator):
    now = int(time.time() * 1000)
    t = now - 60_000
    put(cw, USERS,
        (t + 10, "START RequestId: 11111111-aaaa Version: $LATEST\n"),
        (t + 30, f"{iso(t + 30)}\t11111111-aaaa\tINFO\t" + json.dumps(
            {"timestamp": iso(t + 30), "level": "INFO", "message": "user created", "requestId": "api-req-1",
             "lambdaRequestId": "11111111-aaaa", "userId": "u1"}) + "\n"))
    put(cw, PRODUCTS,
        (t + 20, json.dumps({"timestamp": iso(t + 20), "level": "ERROR", "message": "AWS request failed",
                             "requestId": "api-req-2", "exception": "Traceback (most recent call last):\n  boom"})),
        (t - 20 * 60_000, "too old for --since 10m"))
    put(cw, ACCESS, (t + 40, json.dumps({"requestId": "api-req-1", "ip": "203.0.113.9", "httpMethod": "POST",
                                         "resourcePath": "/users", "status": "201", "caller": "-",
                                         "requestTime": "x", "wafStatus": "-", "integrationLatency": "35"})))
    result = cli("logs", "--config", CATALOG, "--endpoint-url", emulator.endpoint_url)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines == [
        f"{iso(t + 10)} users    START RequestId: 11111111-aaaa Version: $LATEST",
        f"{iso(t + 20)} products ERROR AWS request failed "
        'exception="Traceback (most recent call last):\\n  boom" requestId=api-req-2',
        f"{iso(t + 30)} users    INFO user created userId=u1 requestId=api-req-1 lambdaRequestId=11111111-aaaa",
        f"{iso(t + 40)} api      POST /users 201 ip=203.0.113.9 integrationLatency=35 requestId=api-req-1",
    ]


def test_logs_of_one_function_or_the_api_only_and_a_filter(cli, cw, emulator):
    now = int(time.time() * 1000)
    put(cw, USERS, (now - 3000, "users says hello"), (now - 2000, "users says ERROR"))
    put(cw, PRODUCTS, (now - 2500, "products says ERROR"))
    put(cw, ACCESS, (now - 1000, json.dumps({"requestId": "r9", "httpMethod": "GET", "status": "200"})))
    only_users = cli("logs", "--config", CATALOG, "--function", "users", "--endpoint-url", emulator.endpoint_url)
    assert [line.split(" ", 2)[1:] for line in only_users.stdout.splitlines()] == [
        ["users", "users says hello"], ["users", "users says ERROR"]]
    only_api = cli("logs", "--config", CATALOG, "--api", "--endpoint-url", emulator.endpoint_url)
    assert only_api.stdout.splitlines()[0].endswith(" api GET 200 requestId=r9")
    errors = cli("logs", "--config", CATALOG, "--filter", "ERROR", "--endpoint-url", emulator.endpoint_url)
    assert [line.split(" ", 1)[1] for line in errors.stdout.splitlines()] == [
        "products products says ERROR", "users    users says ERROR"]


def test_follow_prints_new_events_until_stopped_without_waiting(cw, emulator):
    cfg = load_config(CATALOG)
    reader = logs.Reader(cw, logs.sources(cfg), None)
    base = int(time.time() * 1000) - 5000
    put(cw, USERS, (base, "first"), (base + 1, "second, same poll"))
    printed: list[str] = []
    polls = []

    def sleep(seconds: float) -> None:
        # While the command "waits", new events arrive: one at the very timestamp already seen
        # (CloudWatch allows that) and one later, in another group.
        polls.append(seconds)
        if len(polls) == 1:
            put(cw, USERS, (base + 1, "third, same millisecond as the second"))
            put(cw, PRODUCTS, (base + 2, "fourth"))

    count = logs.run(reader, printed.append, since_seconds=60, follow=True, sleep=sleep,
                     stop=lambda: len(polls) >= 2, poll_seconds=7.0)
    assert [line.split(None, 2)[2] for line in printed] == [
        "first", "second, same poll", "third, same millisecond as the second", "fourth"]
    assert count == 4 and polls == [7.0, 7.0]


def test_follow_prints_an_event_that_arrives_after_a_newer_one(cw, emulator):
    """CloudWatch delivers late, by different delays per group: an access log line can arrive
    after a newer function line was read, and --follow must still print it (it did not)."""
    cfg = load_config(CATALOG)
    reader = logs.Reader(cw, logs.sources(cfg), None)
    base = int(time.time() * 1000) - 5000
    put(cw, USERS, (base + 3000, "newer, read first"))
    printed: list[str] = []
    polls = []

    def sleep(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 1:
            put(cw, PRODUCTS, (base, "older, delivered late"))

    logs.run(reader, printed.append, since_seconds=60, follow=True, sleep=sleep, stop=lambda: len(polls) >= 2)
    assert [line.split(None, 2)[2] for line in printed] == ["newer, read first", "older, delivered late"]


def test_since_uses_the_injected_clock(cw):
    cfg = load_config(CATALOG)
    now = int(time.time() * 1000)
    put(cw, USERS, (now - 90_000, "ninety seconds ago"), (now - 30_000, "thirty seconds ago"))
    printed: list[str] = []
    logs.run(logs.Reader(cw, logs.sources(cfg, "users")), printed.append, since_seconds=60,
             clock=lambda: now / 1000)
    assert [line.split(None, 2)[2] for line in printed] == ["thirty seconds ago"]


def test_a_stage_that_is_not_deployed_is_one_sentence(cli, emulator):
    result = cli("logs", "--config", CATALOG, "--endpoint-url", emulator.endpoint_url)
    assert result.exit_code == 1
    assert "None of the stage's log groups exist" in result.output and "Traceback" not in result.output


def test_a_missing_group_among_others_is_noted(cli, emulator):
    client = boto3.client("logs", region_name="us-east-1", endpoint_url=emulator.endpoint_url)
    client.create_log_group(logGroupName=USERS)
    result = cli("logs", "--config", CATALOG, "--endpoint-url", emulator.endpoint_url)
    assert result.exit_code == 0, result.output
    assert f"note: log group {PRODUCTS} does not exist" in result.stderr


def test_no_events_is_said_on_stderr_not_silence(cli, cw, emulator):
    """The groups exist but hold nothing recent: stdout stays empty (scripts), stderr says what was searched."""
    put(cw, USERS, (int(time.time() * 1000) - 3 * 3600_000, "too old"))
    result = cli("logs", "--config", CATALOG, "--endpoint-url", emulator.endpoint_url, "--filter", "ERROR")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "note: no log events since " in result.stderr and "matching 'ERROR'" in result.stderr


@pytest.mark.parametrize("args, message", [
    (("--function", "orders"), "no function named 'orders'"),
    (("--function", "users", "--api"), "exclude each other"),
    (("--since", "soon"), "is not a duration"),
    (("--since", "nan"), "is not a duration"),        # float() took these: an internal error, then
    (("--since", "inf"), "is not a duration"),
    (("--since", "1e9"), "is not a duration"),
    (("--since", "0"), "'0' is not more than zero"),   # it said "the timeout must be positive"
    (("--since", "600000"), "is more than a year"),    # minutes: AWS refused the start time
])
def test_bad_arguments_exit_2(cli, args, message):
    result = cli("logs", "--config", CATALOG, *args)
    assert result.exit_code == 2 and message in result.output


def test_sources_without_an_api():
    cfg = load_config(CATALOG)
    cfg = dataclasses.replace(cfg, api=None)
    assert [s.label for s in logs.sources(cfg)] == ["products", "users"]
    with pytest.raises(UsageError, match="no \\[api\\]"):
        logs.sources(cfg, api=True)


@pytest.mark.parametrize("message, line", [
    ("plain text\n", "plain text"),
    ("line one\nline two", "line one\\nline two"),
    ('{"level":"WARNING","message":"slow","durationMs":1200.5,"detail":{"b":1,"a":"x y"}}',
     'WARNING slow durationMs=1200.5 detail={"a":"x y","b":1}'),
    ("[ERROR]\t2024-01-01T00:00:00.000Z\tabc-123\tSomething broke\n",
     "ERROR Something broke awsRequestId=abc-123"),
    ('2024-01-01T00:00:00.000Z\tabc-123\tINFO\t{"message":"hi","note":"a=b"}',
     'INFO hi note="a=b" awsRequestId=abc-123'),
    ("[1, 2]", "[1, 2]"),
])
def test_readable(message, line):
    assert logs.readable(message) == line


def test_format_event_pads_the_source():
    event = logs.Event(5, "users", "e1", "m")
    assert logs.format_event(event, 8).startswith("1970-01-01T00:00:00.005Z users    m")


@pytest.mark.parametrize("config", SHIPPED, ids=lambda p: p.stem)
def test_log_group_names_are_those_the_stacks_create(config, generated):
    """The naming helpers `logs` reads through agree with the generated templates."""
    cfg = load_config(config)
    declared = {r["Properties"]["LogGroupName"] for stack in generated[cfg.name].values()
                for r in stack.get("Resources", {}).values() if r.get("Type") == "AWS::Logs::LogGroup"
                and isinstance(r["Properties"]["LogGroupName"], str)}  # not the Sub-named execution log
    for name in cfg.functions:
        assert function_log_group(cfg, name) in declared
    if cfg.api:
        assert api_access_log_group(cfg) in declared


def test_ctrl_c_ends_follow_with_exit_130_after_the_notes(cli, emulator, monkeypatch):
    """`logs --follow` ended by Ctrl-C exited 0; every command exits 130 on Ctrl-C."""
    client = boto3.client("logs", region_name="us-east-1", endpoint_url=emulator.endpoint_url)
    client.create_log_group(logGroupName=USERS)
    client.create_log_stream(logGroupName=USERS, logStreamName="s1")
    client.put_log_events(logGroupName=USERS, logStreamName="s1",
                          logEvents=[{"timestamp": int(time.time() * 1000), "message": "before the Ctrl-C"}])

    def ctrl_c(seconds: float) -> None:  # the poll's sleep is where Ctrl-C lands
        raise KeyboardInterrupt

    monkeypatch.setattr(logs, "run", functools.partial(logs.run, sleep=ctrl_c))
    result = cli("logs", "--config", CATALOG, "--endpoint-url", emulator.endpoint_url, "--follow")
    assert result.exit_code == 130
    assert "before the Ctrl-C" in result.stdout
    assert f"note: log group {PRODUCTS} does not exist" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == "Error: Interrupted: logs stopped."
