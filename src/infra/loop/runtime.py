"""Run a config's function locally: Python in this process, Node.js in a `node` child process.

Both behave like one warm Lambda execution environment: the handler module is imported once
(with the function's environment, as Lambda's init does) and then serves invocations one at a
time. A save of the function's code (a file its zip would hold) ends that environment: the next
invocation starts a new one, with the new code (a cold start, as a deploy of it would give).
Each Python function gets its own fresh import of its module and of the modules beside it
(handlers/products/apigw.py and handlers/api/apigw.py are different modules here, as they are in
two zips). What the handler prints is its log: it goes to `log`, never into the result.

A function that declares dependencies (requirements.txt, uv.lock, package-lock.json) runs with
the same lockfile installed for this machine (infra.bundle.local): a Python function imports
them from its own folder, after its sources, and never sees another function's copies; a
Node.js function runs from a copy of its sources beside its own node_modules.
"""
from __future__ import annotations

import contextlib
import importlib.machinery
import importlib.util
import io
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from infra.config.schema import Config
from infra.errors import UserError
from infra.naming import function_log_group, physical

RUNNER = Path(__file__).with_name("node_runner.mjs")
Log = Callable[[str], None]


@dataclass
class Invocation:
    """One invocation's outcome: `result` (the JSON value returned) or `error` (Lambda's error
    object: errorType, errorMessage, stackTrace)."""

    request_id: str
    result: Any = None
    error: dict | None = None
    duration_ms: float = 0.0


class FunctionInitError(UserError):
    """The handler module could not be loaded (Lambda's Runtime.ImportModuleError and kin)."""


def local_function(cfg: Config, name: str, env: dict[str, str], log: Log) -> "PythonFunction | NodeFunction":
    """The local runner for function `name`, by runtime."""
    runtime = cfg.functions[name].runtime
    cls = PythonFunction if runtime.startswith("python") else NodeFunction
    return cls(cfg, name, env, log)


class _Function:
    def __init__(self, cfg: Config, name: str, env: dict[str, str], log: Log):
        self.cfg, self.name, self.env, self.log = cfg, name, env, log
        self.spec = cfg.functions[name]
        self.source = Path(cfg.root) / self.spec.source
        self.lock = threading.Lock()
        self.clock: Callable[[], float] = time.monotonic  # tests move it to time out without waiting
        self.code = self._code_now()  # what the environment was started with (before any copy or install)

    def _code_now(self) -> tuple:
        """The function's code files (`package_files`: what its zip holds, and the lockfile, which
        the zip leaves out but which decides the dependencies) with their sizes and times."""
        from infra.assets import package_files

        files = package_files(self.source) if self.source.is_dir() else []
        lockfile = self.source / "package-lock.json"
        if lockfile.is_file():
            files.append(lockfile)
        code = []
        for path in files:
            with contextlib.suppress(OSError):  # removed while being read: the next check sees it
                info = path.stat()
                code.append((str(path), info.st_size, info.st_mtime_ns))
        return tuple(code)

    def code_changed(self) -> tuple | None:
        """The code as it is now, if a file of it was saved, added or removed since the environment
        started; else None. Checked before each invocation (a handler directory is a few files):
        the caller starts a new environment, then records it as `self.code`, so a new environment
        that failed to start (a lockfile that does not install) is tried again on the next one."""
        now = self._code_now()
        return None if now == self.code else now

    def say_reloaded(self) -> None:
        self.log(f"code changed in {self.spec.source}: a new execution environment (cold start) with it")

    def context_fields(self, request_id: str) -> dict[str, Any]:
        region, fname = self.cfg.project.region, physical(self.cfg, self.name)
        return {
            "functionName": fname,
            "functionVersion": "$LATEST",
            "invokedFunctionArn": f"arn:aws:lambda:{region}:123456789012:function:{fname}",
            "memoryLimitInMB": str(self.spec.memory),
            "awsRequestId": request_id,
            "logGroupName": function_log_group(self.cfg, self.name),
            "logStreamName": "local",
        }

    def timed_out(self, request_id: str, started: float) -> Invocation:
        return Invocation(request_id, error={
            "errorType": "Sandbox.Timedout",
            "errorMessage": f"Task timed out after {self.spec.timeout:.2f} seconds"},
            duration_ms=(self.clock() - started) * 1000)

    def close(self) -> None:
        """Release what the runner holds (a child process); idempotent."""


class LambdaContext:
    """The context object the Python runtime passes: the attributes handlers use."""

    def __init__(self, fields: dict[str, Any], deadline: float, clock: Callable[[], float] = time.monotonic):
        self.function_name = fields["functionName"]
        self.function_version = fields["functionVersion"]
        self.invoked_function_arn = fields["invokedFunctionArn"]
        self.memory_limit_in_mb = int(fields["memoryLimitInMB"])
        self.aws_request_id = fields["awsRequestId"]
        self.log_group_name = fields["logGroupName"]
        self.log_stream_name = fields["logStreamName"]
        self.identity = None
        self.client_context = None
        self._deadline, self._clock = deadline, clock

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - self._clock()) * 1000))


# One process has one sys.modules, sys.path and sys.stdout: Python handlers take turns with them.
_PROCESS_STATE = threading.RLock()


def _top_level_names(folder: Path) -> set[str]:
    """Names importable from `folder`: packages (namespace ones too) and modules (.py, extensions)."""
    names = set()
    for entry in folder.iterdir():
        if entry.is_dir():
            if entry.name.isidentifier():
                names.add(entry.name)
        elif entry.suffix in (".py", ".so", ".pyd"):
            names.add(entry.name.split(".", 1)[0])
    return names


class _FromSource(importlib.machinery.SourceFileLoader):
    """Compiles a function's own modules from their source, never from a cached .pyc (and writes
    none): CPython trusts a .pyc whose recorded source time (whole seconds) and size match, so an
    edit of the same size in the same second as the last import would run the old code. Handler
    modules are small; compiling them in each new environment costs milliseconds."""

    def path_stats(self, path: str) -> Mapping[str, Any]:
        raise OSError("a function's own modules are compiled from source")  # SourceLoader: no bytecode


_FROM_SOURCE = importlib.machinery.FileFinder.path_hook(
    (importlib.machinery.ExtensionFileLoader, importlib.machinery.EXTENSION_SUFFIXES),
    (_FromSource, importlib.machinery.SOURCE_SUFFIXES),
    (importlib.machinery.SourcelessFileLoader, importlib.machinery.BYTECODE_SUFFIXES))


@contextlib.contextmanager
def _compiled_from_source(folder: Path) -> Iterator[None]:
    """While it lasts, modules imported from `folder` (and its packages) are compiled from source."""
    root = str(folder)

    def inside(path: str) -> bool:
        return path == root or path.startswith(root + os.sep)

    def hook(path: str) -> Any:
        if not inside(path):
            raise ImportError("not a function's own folder")  # the next hook handles it
        return _FROM_SOURCE(path)

    def forget() -> None:  # finders are cached per folder: ours must neither be kept nor be shadowed
        for path in [p for p in sys.path_importer_cache if isinstance(p, str) and inside(p)]:
            del sys.path_importer_cache[path]

    forget()
    sys.path_hooks.insert(0, hook)
    try:
        yield
    finally:
        sys.path_hooks.remove(hook)
        forget()


class PythonFunction(_Function):
    """A Python handler imported into this process, with its own copy of its sibling modules and
    of its dependencies."""

    def __init__(self, cfg: Config, name: str, env: dict[str, str], log: Log):
        super().__init__(cfg, name, env, log)
        from infra.bundle.local import python_dependencies

        self.module_name, _, self.attr = self.spec.handler.rpartition(".")
        self.own: dict[str, ModuleType] = {}  # the modules of its directory, as it imported them
        self.module: ModuleType | None = None
        self.dependencies = python_dependencies(cfg, name)  # installed for this machine, or None
        self.dependency_names = _top_level_names(self.dependencies) if self.dependencies else set()

    def _load(self) -> ModuleType:
        file = self.source / f"{self.module_name.replace('.', '/')}.py"
        unique = f"_local_{self.name.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
        spec = importlib.util.spec_from_file_location(unique, file, loader=_FromSource(unique, str(file)))
        if spec is None or not file.is_file():
            raise FunctionInitError(f"function {self.name}: {file} is missing (handler {self.spec.handler}).")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # noqa: BLE001 - any import-time failure is the handler's init error
            raise FunctionInitError(f"function {self.name}: importing {file.name} failed "
                                    f"({type(exc).__name__}: {exc}).") from None
        if not callable(getattr(module, self.attr, None)):
            raise FunctionInitError(f"function {self.name}: {file.name} has no function '{self.attr}' "
                                    f"(handler {self.spec.handler}).")
        return module

    def invoke(self, event: Any, request_id: str | None = None) -> Invocation:
        request_id = request_id or str(uuid.uuid4())
        with self.lock:
            changed = self.code_changed()
            if changed is not None:
                self._new_environment()
                self.code = changed
            self._keep_dependencies()
            return self._invoke(event, request_id)

    def _new_environment(self) -> None:
        """Forget the imported handler and its sibling modules (imported again on this
        invocation), and install its dependencies again if its lockfile changed."""
        from infra.bundle.local import python_dependencies

        dependencies = python_dependencies(self.cfg, self.name)  # failing, it leaves everything as it was
        loaded, self.module, self.own = self.module is not None, None, {}
        self.dependencies = dependencies
        self.dependency_names = _top_level_names(dependencies) if dependencies else set()
        if loaded:
            self.say_reloaded()

    def _keep_dependencies(self) -> None:
        """The dependencies stay in the build cache while this process uses them; pruned meanwhile
        (another build, hours later), they are installed again at the same place."""
        from infra.bundle.cache import in_use
        from infra.bundle.local import python_dependencies

        if self.dependencies is not None and not in_use(self.dependencies):
            self.dependencies = python_dependencies(self.cfg, self.name)

    def _invoke(self, event: Any, request_id: str) -> Invocation:
        with _PROCESS_STATE, _environment(self.env), self._isolated(), _captured(self.log):
            if self.module is None:
                self.module = self._load()
            started = self.clock()
            deadline = started + self.spec.timeout
            context = LambdaContext(self.context_fields(request_id), deadline, self.clock)
            try:
                # Lambda serialises the result to JSON; a value that cannot be is an error there too.
                result = json.loads(json.dumps(getattr(self.module, self.attr)(event, context)))
            except Exception as exc:  # noqa: BLE001 - the handler's failure is the invocation's error
                trace = traceback.format_exception(type(exc), exc, exc.__traceback__)
                self.log("".join(trace).rstrip())
                error = {"errorType": type(exc).__name__, "errorMessage": str(exc),
                         "stackTrace": [line.rstrip() for line in trace[1:-1]]}
                return Invocation(request_id, error=error, duration_ms=(self.clock() - started) * 1000)
            if self.clock() > deadline:
                # Python code cannot be stopped from outside; Lambda would have, so the result is dropped.
                return self.timed_out(request_id, started)
            return Invocation(request_id, result=result, duration_ms=(self.clock() - started) * 1000)

    @contextlib.contextmanager
    def _isolated(self) -> Iterator[None]:
        """The function's directory first on sys.path (then its dependencies, as /var/task and
        /opt/python are in Lambda) and its own modules in sys.modules, for the duration of an
        import or an invocation; whatever was there before comes back."""
        folders = [self.source, *([self.dependencies] if self.dependencies else [])]
        stems = {p.stem for p in self.source.glob("*.py")} | {
            p.name for p in self.source.iterdir() if (p / "__init__.py").is_file()}
        stems |= self.dependency_names
        ours = [m for m in sys.modules if m.partition(".")[0] in stems]
        saved = {m: sys.modules.pop(m) for m in ours}
        sys.modules.update(self.own)
        sys.path[0:0] = [str(f) for f in folders]
        importlib.invalidate_caches()
        try:
            with _compiled_from_source(self.source):
                yield
        finally:
            for folder in folders:
                sys.path.remove(str(folder))
            for name in [m for m in sys.modules if m.partition(".")[0] in stems]:
                self.own[name] = sys.modules.pop(name)
            sys.modules.update(saved)


@contextlib.contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    """os.environ with `env` applied, restored afterwards (the process has one environment)."""
    before = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class _LineLog(io.TextIOBase):
    def __init__(self, log: Log):
        self.log, self.pending = log, ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            self.log(line)
        return len(text)

    def flush(self) -> None:
        if self.pending:
            self.log(self.pending)
            self.pending = ""


@contextlib.contextmanager
def _captured(log: Log) -> Iterator[None]:
    """The handler's prints (stdout and stderr) become log lines."""
    sink = _LineLog(log)
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        try:
            yield
        finally:
            sink.flush()


END_OF_LOG = "\0end-of-log"  # node_runner.mjs's last log line of each invocation ("<mark> <n>"), before its answer
LOG_GRACE_S = 2.0  # how long an answer waits for its log to be read (it was written first)


class NodeFunction(_Function):
    """A Node.js handler run by node_runner.mjs in a `node` child process, kept warm."""

    def __init__(self, cfg: Config, name: str, env: dict[str, str], log: Log):
        super().__init__(cfg, name, env, log)
        from infra.bundle.local import recipe_of

        self.proc: subprocess.Popen | None = None
        self.answers: queue.Queue = queue.Queue()
        # Invocations sent to the runner, and the last whose END_OF_LOG line was read.
        self.sent, self.logged = 0, 0
        self.log_read = threading.Condition()
        self.run_folder: Path | None = None  # a copy of the sources beside their node_modules
        self.has_dependencies = recipe_of(cfg, name) is not None
        if self.has_dependencies:
            self._prepare()

    def _prepare(self) -> None:
        """A fresh copy of the sources (so edits are seen on every start) with the lockfile's
        dependencies for this machine."""
        from infra.bundle.local import node_run_folder

        self._remove_run_folder()
        self.run_folder = node_run_folder(self.cfg, self.name)

    def _dependencies_kept(self) -> bool:
        """Mark the installed node_modules the run folder links to as in use (see
        PythonFunction._keep_dependencies); False when it has been pruned."""
        from infra.bundle.cache import in_use

        assert self.run_folder is not None
        link = self.run_folder / "node_modules"
        return not link.is_symlink() or in_use(Path(os.readlink(link)).parent)

    def _start(self) -> None:
        node = shutil.which("node")
        if node is None:
            raise FunctionInitError(f"function {self.name} ({self.spec.runtime}) needs Node.js: install "
                                    "Node.js 20 or later and put `node` on PATH.")
        self.answers = queue.Queue()
        self.sent = self.logged = 0   # a new runner counts from 1 again
        if self.has_dependencies and self.run_folder is None:
            self._prepare()
        folder = self.run_folder or self.source
        self.proc = subprocess.Popen(
            [node, str(RUNNER), str(folder), self.spec.handler], cwd=folder,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            # The local Node.js may be older than the runtime; the SDK's nag about it is noise here.
            env={"AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED": "true", **os.environ, **self.env},
            text=True, encoding="utf-8", bufsize=1)
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.answers.put), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, self._log_line), daemon=True).start()
        first = self._next(timeout=max(10.0, float(self.spec.timeout)))
        if first is None or "initError" in first:
            err = (first or {}).get("initError", {})
            self.close()
            hint = ""
            if "Cannot find package '@aws-sdk" in err.get("errorMessage", ""):
                hint = (" The Lambda runtime provides the AWS SDK; locally it comes from the handler's "
                        f"devDependencies: run `npm ci` in {self.spec.source}.")
            message = err.get("errorMessage", "the runner did not start")
            raise FunctionInitError(f"function {self.name}: loading {self.spec.handler} failed "
                                    f"({err.get('errorType', 'Error')}: {message}).{hint}")

    def _log_line(self, line: str) -> None:
        mark, _, number = line.partition(" ")
        if mark == END_OF_LOG and number.isdigit():
            with self.log_read:
                self.logged = int(number)
                self.log_read.notify_all()
        else:
            self.log(line)

    @staticmethod
    def _pump(stream, sink) -> None:
        for line in stream:
            sink(line.rstrip("\n"))

    def _next(self, timeout: float) -> dict | None:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                line = self.answers.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                if self.proc is None or self.proc.poll() is not None:
                    return None
                continue
            try:
                return json.loads(line)
            except ValueError:
                self.log(line)  # not protocol: printed before the runner took stdout over

    def invoke(self, event: Any, request_id: str | None = None) -> Invocation:
        request_id = request_id or str(uuid.uuid4())
        with self.lock:
            changed = self.code_changed()
            if changed is not None:
                from infra.bundle.local import recipe_of

                running = self.proc is not None
                self.close()  # _start copies the sources again (and installs a changed lockfile's dependencies)
                self.has_dependencies = recipe_of(self.cfg, self.name) is not None
                self.code = changed
                if running:
                    self.say_reloaded()
            if self.run_folder is not None and not self._dependencies_kept():
                self.close()  # its node_modules was pruned meanwhile: _start makes a new copy, installed again
            if self.proc is None or self.proc.poll() is not None:
                self._start()
            started = time.monotonic()
            fields = {**self.context_fields(request_id), "timeoutMs": self.spec.timeout * 1000}
            self.sent += 1
            try:
                self.proc.stdin.write(json.dumps({"event": event, "context": fields}) + "\n")
                self.proc.stdin.flush()
            except OSError:
                self.close()
                return Invocation(request_id, error={"errorType": "Runtime.ExitError",
                                                     "errorMessage": "the Node.js process exited"})
            answer = self._next(timeout=self.spec.timeout)
            elapsed = (time.monotonic() - started) * 1000
            if answer is not None:
                # Its log was written before its answer, but on the other pipe: shown first.
                with self.log_read:
                    self.log_read.wait_for(lambda: self.logged >= self.sent, timeout=LOG_GRACE_S)
            if answer is None:
                exited = self.proc.poll() is not None
                self.close()  # as Lambda does, a timed-out or crashed environment is not reused
                if exited:
                    return Invocation(request_id, error={"errorType": "Runtime.ExitError",
                                                         "errorMessage": "the Node.js process exited"},
                                      duration_ms=elapsed)
                return self.timed_out(request_id, started)
            if "error" in answer:
                return Invocation(request_id, error=answer["error"], duration_ms=elapsed)
            return Invocation(request_id, result=answer.get("result"), duration_ms=elapsed)

    def _remove_run_folder(self) -> None:
        folder, self.run_folder = self.run_folder, None
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    def close(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                with contextlib.suppress(OSError, ValueError):
                    stream.close()
        self._remove_run_folder()
