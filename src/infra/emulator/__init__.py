"""A moto server on a free loopback port, for tests and local trials (`generate.py emulator`).

`MotoServer(patched=True)` is the emulator the deploy commands are tested against and the one
`generate.py emulator` runs: moto with the CloudFormation gaps of `patches.py` filled (nested
stacks, change sets, imports, stand-ins for resource types moto lacks). Plain `MotoServer()` is
moto as released (what `serve --emulator` fills with tables and buckets).

The emulator is started and stopped by whoever uses it; nothing here talks to anything but
127.0.0.1.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

# Credentials moto accepts; set so that no real profile or metadata service is ever consulted.
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MotoServer:
    """Run `moto_server` on 127.0.0.1 for the lifetime of a `with` block.

    >>> with MotoServer() as server:
    ...     boto3.client("dynamodb", endpoint_url=server.endpoint_url, region_name="us-east-1")
    """

    def __init__(self, port: int | None = None, startup_timeout: float = 30.0, log: str | None = None, *,
                 patched: bool = False):
        self.port = port or free_port()
        self.patched = patched
        self._log = log  # a file for the server's output (its tracebacks), else discarded
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self._timeout = startup_timeout
        self._proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        """The server's command line: moto's own, or moto with the patches loaded first."""
        if self.patched:
            cmd = [sys.executable, "-m", "infra.emulator.server"]
        else:
            exe = Path(sys.executable).with_name("moto_server")
            cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "moto.server"]
        return [*cmd, "-H", "127.0.0.1", "-p", str(self.port)]

    def start(self) -> "MotoServer":
        """Start the server and wait until it answers."""
        src = str(Path(__file__).resolve().parents[2])  # where `infra` is, for the patched server
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ, **FAKE_CREDENTIALS, "PYTHONPATH": src + (os.pathsep + path if path else "")}
        out = open(self._log, "ab") if self._log else subprocess.DEVNULL
        self._proc = subprocess.Popen(self.command(), stdout=out, stderr=out, env=env)
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"moto_server exited with code {self._proc.returncode}")
            try:
                with urllib.request.urlopen(f"{self.endpoint_url}/moto-api/", timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"moto_server did not answer on {self.endpoint_url} in {self._timeout}s")

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def exit_code(self) -> int | None:
        return self._proc.returncode if self._proc is not None else None

    def reset(self) -> None:
        """Forget every resource the emulator holds (between tests)."""
        req = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(req, timeout=10):
            pass

    def stop(self) -> None:
        """Stop the server (idempotent)."""
        if self._proc and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def __enter__(self) -> "MotoServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def moto_version() -> str | None:
    """The installed moto's version, or None when moto is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("moto")
    except PackageNotFoundError:
        return None


def run_emulator(port: int, *, log: str | None = None, say: Callable[[str], None] = print) -> None:
    """`generate.py emulator`: the patched emulator on 127.0.0.1:`port` (0: any free port) until
    Ctrl-C or SIGTERM, which stop it; everything it holds is then gone."""
    from infra.errors import DeployError, claim_port

    moto = moto_version()
    if moto is None:
        raise DeployError("The emulator needs moto, which is not installed: pip install "
                          "'moto[server,cloudformation]==5.2.5' (make venv installs it from requirements.lock).")
    port = claim_port(port)
    server = MotoServer(port, log=log, patched=True)
    try:
        server.start()
    except RuntimeError as exc:
        raise DeployError(f"The emulator did not start: {exc}" + (f"; see {log}." if log else
                          "; run again with --log FILE to see why.")) from None
    try:
        url = server.endpoint_url
        say(f"emulator: {url} (moto {moto} with the CloudFormation gaps of infra/emulator/patches.py "
            "filled); Ctrl-C stops it, and what it holds is lost.")
        say("It accepts any credentials. In another terminal:")
        say("  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing")
        say(f"  python generate.py deploy  --config config/catalog-api.toml --endpoint-url {url} "
            "--skip-check config-recorder")
        say(f"  python generate.py diff    --config config/catalog-api.toml --endpoint-url {url}")
        say(f"  python generate.py destroy --config config/catalog-api.toml --endpoint-url {url} "
            "--disable-termination-protection")
        say("A development stage, which sync (and watch --sync) updates in place; production ones are refused:")
        say(f"  python generate.py deploy  --config config/secure-api.toml --endpoint-url {url} "
            "--require-approval never")
        say(f"  python generate.py sync    --config config/secure-api.toml --endpoint-url {url}")
        while server.running():
            time.sleep(0.5)
        raise DeployError(f"The emulator stopped by itself (exit code {server.exit_code()})"
                          + (f"; see {log}." if log else "; run again with --log FILE to see why."))
    finally:
        server.stop()
