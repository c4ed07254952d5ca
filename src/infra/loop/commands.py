"""Click commands of the everyday loop: logs, invoke, serve, generate-event, emulator.

Defined as every command is (`infra.command`); only click is imported here: boto3, moto and
the handlers load when a command runs.
"""
from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from infra.args import Duration, EndpointUrl, Once, Profile
from infra.command import command, stop_once
from infra.errors import UsageError

if TYPE_CHECKING:
    from infra.config import Config

F = TypeVar("F", bound=Callable[..., Any])

_CONFIG = click.option("--config", "config", cls=Once, required=True,
                       type=click.Path(exists=True, dir_okay=False, path_type=Path),
                       help="Stage config (TOML), e.g. config/catalog-api.toml.")


def _backing_options(fn: F) -> F:
    options = [
        click.option("--stage-outputs", type=click.Path(dir_okay=False, path_type=Path),
                     help="Resolve ${tables...}/${buckets...}/${secret...}/${key...} from a deployed stage's "
                          "outputs (the JSON `outputs --json` prints); handlers use your AWS credentials."),
        click.option("--endpoint-url", type=EndpointUrl(),
                     help="Resolve them in an emulator at this URL, where the stage is deployed; handlers get "
                          "AWS_ENDPOINT_URL."),
        click.option("--emulator", is_flag=True,
                     help="Start a moto emulator on loopback holding the config's tables, buckets, key and secret."),
        click.option("--profile", type=Profile(), help="AWS named profile for the handlers (with --stage-outputs)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _load(path: Path) -> Config:
    from infra.config import load_config

    return load_config(path)


def _stderr(prefix: str = "") -> Callable[[str], None]:
    # Bound to the stream now: while a Python handler runs, sys.stdout/stderr are its log.
    stream = sys.stderr
    return lambda line: click.echo(f"{prefix}{line}", file=stream)


@command("logs")
@_CONFIG
@click.option("--function", "function", metavar="NAME", help="Only this function's log group.")
@click.option("--api", "api", is_flag=True, help="Only the API's access log.")
@click.option("--since", type=Duration(), default="10m", show_default=True,
              help="How far back to start (90s, 10m, 2h; a bare number is minutes).")
@click.option("--follow", is_flag=True, help="Keep printing new events until Ctrl-C.")
@click.option("--filter", "pattern", metavar="PATTERN",
              help="CloudWatch Logs filter pattern: a term (ERROR), a phrase (\"\\\"request served\\\"\"), "
                   "or a JSON pattern ('{ $.status = 500 }').")
@click.option("--region", help="AWS region (default: the config's region).")
@click.option("--profile", type=Profile(), help="AWS named profile (default: the standard credential chain).")
@click.option("--endpoint-url", type=EndpointUrl(), help="Send every AWS call to this endpoint (a local emulator).")
def logs_cmd(config: Path, function: str | None, api: bool, since: float, follow: bool, pattern: str | None,
             region: str | None, profile: str | None, endpoint_url: str | None) -> None:
    """The stage's function logs and API access log, merged in time order, one line each."""
    from infra.deploy.session import Aws, Target, aws_errors
    from infra.loop import logs

    if function and api:
        raise UsageError("--function and --api exclude each other: give one (or neither, for all logs).")
    cfg = _load(config)
    groups = logs.sources(cfg, function, api)
    session = Aws(Target(region, profile, endpoint_url), cfg.project.region)
    session.check_credentials()
    reader = logs.Reader(session.client("logs"), groups, pattern)
    started = time.time()
    try:
        with aws_errors(f"reading the logs of {', '.join(g.group for g in groups)}"):
            printed = logs.run(reader, click.echo, since_seconds=since, follow=follow)
        if not printed and not follow:   # an empty answer is not a silent one: say what was searched
            since_text = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started - since))
            click.echo(f"note: no log events since {since_text}" + (f" matching {pattern!r}" if pattern else "")
                       + " (a longer --since, or --follow to wait for new ones).", err=True)
    finally:  # also when Ctrl-C ends --follow (exit 130)
        for group in sorted(reader.missing):
            click.echo(f"note: log group {group} does not exist (not deployed, or another region).", err=True)


@command("invoke")
@_CONFIG
@click.argument("function")
@click.option("--event", "event_file", default=None, metavar="FILE|-",
              help="JSON event file, or - for standard input. Default: {}.")
@_backing_options
def invoke_cmd(config: Path, function: str, event_file: str | None, stage_outputs: Path | None,
               endpoint_url: str | None, emulator: bool, profile: str | None) -> None:
    """Run one function locally with an event; print its result (JSON) on standard output.

    Its logs go to standard error. Python handlers run in this process, Node.js handlers in
    `node`; the environment is the config's, resolved as the options say.
    """
    from infra.loop.local import backing as make_backing, functions

    cfg = _load(config)
    if function not in cfg.functions:
        known = ", ".join(sorted(cfg.functions)) or "none"
        raise UsageError(f"{cfg.file}: no function named '{function}' (functions: {known}).")
    event = _read_event(event_file)
    log = _stderr()
    with make_backing(cfg, stage_outputs=stage_outputs, endpoint_url=endpoint_url, emulator=emulator,
                      profile=profile, say=log) as back:
        with functions(cfg, [function], back, lambda _, line: log(line)) as runners:
            outcome = runners[function].invoke(event)
    log(f"{function}: {outcome.duration_ms:.0f} ms, request id {outcome.request_id}")
    click.echo(json.dumps(outcome.error if outcome.error is not None else outcome.result, indent=2))
    if outcome.error is not None:
        raise UsageError(f"function {function} failed: {outcome.error.get('errorType')}: "
                         f"{outcome.error.get('errorMessage')}", exit_code=1)


def _read_event(source: str | None) -> Any:
    if source is None:
        return {}
    where = "on standard input" if source == "-" else source
    try:
        data = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read the event {source}: {exc.strerror or exc}.") from None
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise UsageError(f"the event {where} is not UTF-8 text ({exc.reason} at byte {exc.start}); "
                         "JSON events are UTF-8.") from None
    except ValueError as exc:
        raise UsageError(f"the event {where} is not JSON ({exc}).") from None


@command("serve")
@_CONFIG
@click.option("--port", type=click.IntRange(0, 65535), default=3000, show_default=True,
              help="Port on 127.0.0.1 (0: any free port).")
@_backing_options
def serve_cmd(config: Path, port: int, stage_outputs: Path | None, endpoint_url: str | None, emulator: bool,
              profile: str | None) -> None:
    """Serve the config's API on 127.0.0.1 as API Gateway's Lambda proxy integration would.

    Routes, path parameters, query strings, CORS preflight and request-model validation behave
    as in the deployed API; IAM and API-key authorization are NOT enforced (a warning says so).
    A saved handler runs from the next request on, and so does a saved config. Stop with Ctrl-C
    (exit 130).
    """
    from infra.loop.local import backing as make_backing, close_runners, make_runners
    from infra.loop.reload import ConfigReloader, route_functions, stamp
    from infra.errors import claim_port
    from infra.loop.server import LocalApi, make_server

    read_at = stamp(config)   # before reading: a save while serve starts is applied at the first request
    cfg = _load(config)
    if not cfg.api:
        raise UsageError(f"{cfg.file}: the config has no [api] to serve; use `invoke` to run a function.")
    if port:
        claim_port(port)   # a port in use is said before an emulator is started and filled
    say = _stderr()

    def function_log(name: str, line: str) -> None:
        say(f"[{name}] {line}")

    with stop_once(), make_backing(cfg, stage_outputs=stage_outputs, endpoint_url=endpoint_url, emulator=emulator,
                                   profile=profile, say=say) as back:
        api = LocalApi(cfg, make_runners(cfg, route_functions(cfg.api.routes), back, function_log), say)
        try:
            api.before_request = ConfigReloader(config, api, back, say, function_log, read_at).check
            server = make_server(api, port)
            host, bound = str(server.server_address[0]), server.server_address[1]
            for line in api.route_lines():
                say(line)
            say(f"serving {cfg.api.name or cfg.name} (stage {cfg.project.stage}, {back.summary}) "
                f"on http://{host}:{bound}  (Ctrl-C to stop)")
            try:
                server.serve_forever(poll_interval=0.2)
            finally:
                server.server_close()
        finally:  # Ctrl-C or SIGTERM: the emulator and Node.js processes are stopped on the way out
            close_runners(api.functions)


@command("generate-event")
@_CONFIG
@click.option("--method", default="GET", show_default=True, help="HTTP method of the route.")
@click.option("--path", "path", required=True,
              help="Request path, e.g. /users/42 (a query string may follow '?'; a missing leading / is added).")
@click.option("--body", default=None, help="Request body; @FILE reads it from a file.")
@click.option("--query", default="", help="Query string, e.g. 'limit=5&cursor=abc' (repeat keys for multi-value).")
@click.option("--header", "headers", multiple=True, metavar="'NAME: VALUE'", help="A request header (repeatable).")
def generate_event_cmd(config: Path, method: str, path: str, body: str | None, query: str,
                       headers: tuple[str, ...]) -> None:
    """Print the API Gateway proxy event a request to one of the config's routes produces."""
    from urllib.parse import parse_qsl

    from infra.loop.events import HttpRequest, proxy_event
    from infra.loop.routes import RouteTable

    cfg = _load(config)
    if not cfg.api:
        raise UsageError(f"{cfg.file}: the config has no [api], so no route to make an event for.")
    path, _, inline_query = path.partition("?")
    if not path.startswith("/"):  # a request path always starts with / (the request line has it)
        path = "/" + path
    match = RouteTable(cfg).match(method.upper(), path)
    if match is None or match.route is None:
        routes = ", ".join(f"{r.method} {r.path}" for r in cfg.api.routes)
        raise UsageError(f"{method.upper()} {path} matches no route of {cfg.file} (routes: {routes}).")
    pairs = []
    for header in headers:
        name, sep, value = header.partition(":")
        if not sep or not name.strip():
            raise UsageError(f"--header '{header}' is not 'Name: value'.")
        pairs.append((name.strip(), value.strip()))
    raw = _read_body(body)
    if raw is not None and not any(k.lower() == "content-type" for k, _ in pairs):
        pairs.append(("Content-Type", "application/json"))
    request = HttpRequest(method.upper(), path, pairs, parse_qsl("&".join(q for q in (inline_query, query) if q),
                                                                  keep_blank_values=True), raw)
    click.echo(json.dumps(proxy_event(cfg, request, match.resource, match.path_parameters, match.route), indent=2))


def _read_body(body: str | None) -> bytes | None:
    if body is None:
        return None
    if body.startswith("@"):
        try:
            return Path(body[1:]).read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read the body file {body[1:]}: {exc.strerror or exc}.") from None
    # The shell's bytes as they were: click decodes arguments with surrogateescape, so bytes that
    # are not UTF-8 come back unchanged (and the event base64-encodes such a body).
    return body.encode("utf-8", "surrogateescape")


@command("emulator")
@click.option("--port", type=click.IntRange(0, 65535), default=5000, show_default=True,
              help="Port on 127.0.0.1 (0: any free port).")
@click.option("--log", "log", type=click.Path(dir_okay=False), default=None,
              help="Append the server's own log (its requests and tracebacks) to this file.")
def emulator_cmd(port: int, log: str | None) -> None:
    """Run the local AWS emulator the deploy tests use, on 127.0.0.1, until Ctrl-C.

    moto in server mode with the CloudFormation gaps it has filled (nested stacks, change sets,
    imports; resource types moto lacks stand in as inert placeholders): deploy, diff, outputs and
    destroy work against it with --endpoint-url and no AWS account. See the README for its limits.
    """
    from infra.emulator import run_emulator

    if log:   # a bad argument (exit 2), said before the server starts: the log is appended to
        try:
            with open(log, "a", encoding="utf-8"):
                pass
        except OSError as exc:
            raise UsageError(f"cannot write the emulator's log to {log}: {exc.strerror or exc}; "
                             "choose another --log.") from None
    with stop_once():
        run_emulator(port, log=log, say=_stderr())


COMMANDS = [logs_cmd, invoke_cmd, serve_cmd, generate_event_cmd, emulator_cmd]
