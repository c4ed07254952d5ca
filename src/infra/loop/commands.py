"""Click commands of the everyday loop: logs, invoke, serve, generate-event, schema.

The CLI adds them with `for c in COMMANDS: main.add_command(c)`. Only click is imported here;
boto3, moto and the handlers load when a command runs.
"""
from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from infra.deploy.commands import Duration
from infra.errors import UsageError

_CONFIG = click.option("--config", "config", required=True,
                       type=click.Path(exists=True, dir_okay=False, path_type=Path),
                       help="Stage config (TOML), e.g. config/catalog-api.toml.")


def _backing_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--stage-outputs", type=click.Path(dir_okay=False, path_type=Path),
                     help="Resolve ${tables...}/${buckets...}/${secret...}/${key...} from a deployed stage's "
                          "outputs (the JSON `outputs --json` prints); handlers use your AWS credentials."),
        click.option("--endpoint-url", help="Resolve them in an emulator at this URL; handlers get AWS_ENDPOINT_URL."),
        click.option("--emulator", is_flag=True,
                     help="Start a moto emulator on loopback holding the config's tables, buckets, key and secret."),
        click.option("--profile", help="AWS named profile for the handlers (with --stage-outputs)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _load(path: Path):
    from infra.config import load_config

    return load_config(path)


def _stderr(prefix: str = "") -> Callable[[str], None]:
    # Bound to the stream now: while a Python handler runs, sys.stdout/stderr are its log.
    stream = sys.stderr
    return lambda line: click.echo(f"{prefix}{line}", file=stream)


@click.command("logs")
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
@click.option("--profile", help="AWS named profile (default: the standard credential chain).")
@click.option("--endpoint-url", help="Send every AWS call to this endpoint (a local emulator).")
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
    try:
        with aws_errors(f"reading the logs of {', '.join(g.group for g in groups)}"):
            logs.run(reader, click.echo, since_seconds=since, follow=follow)
    except KeyboardInterrupt:
        pass
    for group in sorted(reader.missing):
        click.echo(f"note: log group {group} does not exist (not deployed, or another region).", err=True)


@click.command("invoke")
@_CONFIG
@click.argument("function")
@click.option("--event", "event_file", default=None, metavar="FILE|-",
              help="JSON event file, or - for standard input. Default: {}.")
@_backing_options
def invoke_cmd(config: Path, function: str, event_file: str | None, **backing: Any) -> None:
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
    with make_backing(cfg, say=log, **backing) as back:
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
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read the event {source}: {exc.strerror or exc}.") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UsageError(f"the event {'on standard input' if source == '-' else source} is not JSON ({exc}).") from None


@click.command("serve")
@_CONFIG
@click.option("--port", type=click.IntRange(0, 65535), default=3000, show_default=True,
              help="Port on 127.0.0.1 (0: any free port).")
@_backing_options
def serve_cmd(config: Path, port: int, **backing: Any) -> None:
    """Serve the config's API on 127.0.0.1 as API Gateway's Lambda proxy integration would.

    Routes, path parameters, query strings, CORS preflight and request-model validation behave
    as in the deployed API; IAM and API-key authorization are NOT enforced (a warning says so).
    Stop with Ctrl-C.
    """
    from infra.loop.local import backing as make_backing, functions
    from infra.loop.server import LocalApi, make_server

    cfg = _load(config)
    if not cfg.api:
        raise UsageError(f"{cfg.file}: the config has no [api] to serve; use `invoke` to run a function.")
    say = _stderr()
    names = sorted({r.function for r in cfg.api.routes})
    with _stop_on_signals(), make_backing(cfg, say=say, **backing) as back:
        with functions(cfg, names, back, lambda name, line: say(f"[{name}] {line}")) as runners:
            api = LocalApi(cfg, runners, say)
            server = make_server(api, port)
            host, bound = str(server.server_address[0]), server.server_address[1]
            for line in api.route_lines():
                say(line)
            say(f"serving {cfg.api.name or cfg.name} (stage {cfg.project.stage}, {back.summary}) "
                f"on http://{host}:{bound}  (Ctrl-C to stop)")
            try:
                server.serve_forever(poll_interval=0.2)
            except KeyboardInterrupt:
                pass
            finally:
                server.server_close()


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[None]:
    """SIGTERM (and SIGINT, which shells ignore in background jobs) end `serve` like Ctrl-C, so the
    emulator and the Node.js processes it started are stopped too. Restored afterwards."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        # Once: a second signal (make passes SIGTERM on too) must not cut the clean-up short.
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        raise KeyboardInterrupt

    previous: dict = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.signal(sig, stop)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@click.command("generate-event")
@_CONFIG
@click.option("--method", default="GET", show_default=True, help="HTTP method of the route.")
@click.option("--path", "path", required=True, help="Request path, e.g. /users/42 (a query string may follow '?').")
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
    return body.encode("utf-8")


@click.command("schema")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the JSON Schema. Default: schema/stage-config.json in the repository.")
@click.option("--check", is_flag=True,
              help="Write nothing; exit 1 when the file is not what the config schema generates, or a "
                   "config in config/ lacks the #:schema directive or does not load.")
def schema_cmd(output: Path | None, check: bool) -> None:
    """Write the stage config's JSON Schema (for editors), generated from the config schema code."""
    from infra.config import REPO_ROOT
    from infra.config.json_schema import DIRECTIVE, SCHEMA_PATH, render

    target = output or REPO_ROOT / SCHEMA_PATH
    text = render()
    if not check:
        from infra.deploy.package import write_atomic

        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, text.encode("utf-8"))
        click.echo(f"wrote {target}")
        return
    problems = []
    if not target.is_file() or target.read_text(encoding="utf-8") != text:
        problems.append(f"{target} is stale: run `python generate.py schema` (or `make schema`) and commit it")
    for path in sorted((REPO_ROOT / "config").glob("*.toml")):
        first = path.read_text(encoding="utf-8").split("\n", 1)[0].strip()
        if first != DIRECTIVE:
            problems.append(f"{path.name} does not start with `{DIRECTIVE}`")
        _load(path)  # a config that does not load fails here with its own message
    if problems:
        raise UsageError("; ".join(problems) + ".", exit_code=1)
    click.echo(f"{target} is up to date; every config in config/ references it.")


COMMANDS = [logs_cmd, invoke_cmd, serve_cmd, generate_event_cmd, schema_cmd]
