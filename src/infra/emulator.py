"""A moto server on a free loopback port, for tests and local trials.

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

    def __init__(self, port: int | None = None, startup_timeout: float = 30.0, log: str | None = None):
        self.port = port or free_port()
        self._log = log  # a file for the server's output (its tracebacks), else discarded
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self._timeout = startup_timeout
        self._proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        """The server's command line; subclasses may wrap moto (e.g. to load test patches)."""
        exe = Path(sys.executable).with_name("moto_server")
        cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "moto.server"]
        return [*cmd, "-H", "127.0.0.1", "-p", str(self.port)]

    def start(self) -> "MotoServer":
        """Start the server and wait until it answers."""
        env = {**os.environ, **FAKE_CREDENTIALS}
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
