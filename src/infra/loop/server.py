"""`serve`: the config's API on 127.0.0.1, answering as API Gateway's Lambda proxy integration.

`LocalApi.handle` is the gateway (routing, CORS preflight, request validation, proxy event,
proxy response); `make_server` puts it behind the standard library's HTTP server. Invocations
run one at a time: in-process Python handlers share this process's environment variables.
"""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from infra.config.schema import Api, Config
from infra.errors import UserError, cannot_listen
from infra.loop import auth
from infra.loop.events import BadProxyResponse, HttpRequest, HttpResponse, http_response, proxy_event
from infra.loop.routes import (INVALID_BODY, MISSING_TOKEN, RouteTable, body_validator, cors_headers,
                               gateway_headers, model_schema, validated_content_type)

INTERNAL_ERROR = {"message": "Internal server error"}
TOO_LARGE = {"message": "Request Too Long"}  # API Gateway's REQUEST_TOO_LARGE gateway response
BAD_REQUEST = {"message": "Bad Request"}
MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit


@dataclass(frozen=True)
class _Served:
    cfg: Config
    api: Api
    routes: RouteTable
    validators: dict
    functions: dict


class LocalApi:
    """The API of one config, served by local functions (name -> runner with `invoke(event)`)."""

    def __init__(self, cfg: Config, functions: dict, log: Callable[[str], None],
                 clock: Callable[[], float] = time.time):
        self.log, self.clock = log, clock
        self.lock = threading.Lock()
        self.before_request: Callable[[], None] | None = None   # serve's config reload (reload.py)
        self._use(cfg, functions)

    def _use(self, cfg: Config, functions: dict) -> None:
        assert cfg.api is not None, "serve refuses a config without an [api]"
        api: Api = cfg.api
        validators = {name: body_validator(model_schema(name, m)) for name, m in api.models.items()}
        # One attribute, swapped whole: a request reads it once and is answered by one config.
        self.served = _Served(cfg, api, RouteTable(cfg), validators, functions)

    @property
    def cfg(self) -> Config:
        return self.served.cfg

    @property
    def functions(self) -> dict:
        return self.served.functions

    def replace(self, cfg: Config, functions: dict) -> dict:
        """Serve `cfg` with `functions` from the next request on (a running invocation ends first);
        the functions it served until now, for the caller to close."""
        with self.lock:
            old = self.functions
            self._use(cfg, functions)
        return old

    def route_lines(self) -> list[str]:
        """One line per route for the start-up banner, with what is not enforced locally."""
        lines = []
        for r in self.served.routes.routes:
            notes = auth.warnings(r)
            lines.append(f"{r.method:<7} {r.path:<28} -> {r.function}"
                         + (f"   WARNING: {'; '.join(notes)}" if notes else ""))
        return lines

    def handle(self, request: HttpRequest) -> HttpResponse:
        started = time.monotonic()
        if self.before_request is not None:
            self.before_request()
        with self.lock:   # one request at a time, answered wholly by one config (see replace)
            response, target = self._answer(request)
        self.log(f'{request.source_ip} "{request.method} {request.path}" {response.status} '
                 f"{(time.monotonic() - started) * 1000:.0f}ms{target}")
        return response

    def _answer(self, request: HttpRequest) -> tuple[HttpResponse, str]:
        served = self.served
        api = served.api
        match = served.routes.match(request.method, request.path)
        if request.method == "OPTIONS" and api.cors and match is not None:
            # The generated OPTIONS method: a MOCK integration answering 204 with the CORS headers.
            return HttpResponse(204, [*cors_headers(api).items(), ("Content-Type", "application/json")],
                                b""), ""
        if match is None or match.route is None:
            return self.gateway(403, MISSING_TOKEN, "MissingAuthenticationTokenException"), ""
        route = match.route
        if (api.request_validation and route.model and validated_content_type(request.headers)
                and not served.validators[route.model](request.body)):
            return self.gateway(400, INVALID_BODY, "BadRequestException"), f" (invalid {route.model} body)"
        event = proxy_event(served.cfg, request, match.resource, match.path_parameters, route, now=self.clock())
        request_id = event["requestContext"]["requestId"]
        target = f" -> {route.function} ({request_id})"
        try:
            outcome = served.functions[route.function].invoke(event)
        except UserError as exc:  # the handler could not even be loaded
            self.log(f"{route.function}: {exc}")
            return self.gateway(502, INTERNAL_ERROR, "InternalServerErrorException"), target
        if outcome.error is not None:
            self.log(f"{route.function}: {outcome.error.get('errorType')}: {outcome.error.get('errorMessage')}")
            return self.gateway(502, INTERNAL_ERROR, "InternalServerErrorException"), target
        try:
            response = http_response(outcome.result)
        except BadProxyResponse as exc:
            self.log(f"{route.function}: malformed Lambda proxy response: {exc}")
            return self.gateway(502, INTERNAL_ERROR, "InternalServerErrorException"), target
        response.headers.append(("x-amzn-RequestId", request_id))
        return response, target

    def gateway(self, status: int, payload: dict, error_type: str | None = None) -> HttpResponse:
        """An answer API Gateway makes itself, as JSON (its gateway responses carry the CORS origin)."""
        headers = [("Content-Type", "application/json"), *gateway_headers(self.served.api).items()]
        if error_type:
            headers.insert(1, ("x-amzn-ErrorType", error_type))
        return HttpResponse(status, headers, json.dumps(payload).encode())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    api: LocalApi  # set on the subclass make_server creates

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        body = self._body()
        if isinstance(body, HttpResponse):
            # The body was not read (too large, or its length unknown): the connection cannot be reused.
            self.close_connection = True
            self.api.log(f'{self.client_address[0]} "{self.command} {parts.path}" {body.status}')
            self._send(body)
            return
        request = HttpRequest(method=self.command, path=parts.path or "/", headers=list(self.headers.items()),
                              query=parse_qsl(parts.query, keep_blank_values=True), body=body,
                              source_ip=self.client_address[0])
        self._send(self.api.handle(request))

    def _send(self, response: HttpResponse) -> None:
        self.send_response(response.status)
        for key, value in response.headers:
            if key.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def _body(self) -> bytes | HttpResponse:
        """The request body, or the gateway's JSON answer when it cannot be read."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks, total = [], 0
            while True:
                try:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                except ValueError:
                    return self.api.gateway(400, BAD_REQUEST)
                if size < 0:
                    return self.api.gateway(400, BAD_REQUEST)
                if size == 0:
                    self.rfile.readline()
                    break
                total += size
                if total > MAX_BODY:
                    return self.api.gateway(413, TOO_LARGE)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        declared = (self.headers.get("Content-Length") or "0").strip()
        # Digits only: int() would also take "-1", "+5", "1_0" and " 7 ", which HTTP does not allow.
        if not declared.isascii() or not declared.isdigit():
            return self.api.gateway(400, BAD_REQUEST)
        length = int(declared)
        if length > MAX_BODY:
            return self.api.gateway(413, TOO_LARGE)
        return self.rfile.read(length) if length else b""

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The standard library's own refusals (a malformed request line, an unknown method, headers
        too long) as JSON like every other answer here, never its HTML page."""
        self.close_connection = True
        text = message or self.responses.get(code, ("Error",))[0]
        self._send(self.api.gateway(code, {"message": text}))

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the stdlib's signature
        pass  # LocalApi.handle logs one line per request


def make_server(api: LocalApi, port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """An HTTP server for `api` on host:port (port 0: any free port); not started. A port that
    cannot be had is a bad argument (exit 2), as for `emulator`."""
    handler = type("LocalApiHandler", (_Handler,), {"api": api})
    try:
        server = ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        raise cannot_listen(host, port, exc) from None
    server.daemon_threads = True
    return server
