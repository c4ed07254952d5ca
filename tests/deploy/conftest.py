"""Fixtures for the deploy tests: a moto server on loopback, fake credentials, a CLI runner.

The emulator is moto 5.2.5 in server mode with the two CloudFormation fixes in
`emulator_patches.py` (nested-stack outputs, outputs after ExecuteChangeSet). Nothing here talks
to anything but 127.0.0.1.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import click
import pytest

from infra.emulator import FAKE_CREDENTIALS, MotoServer
from infra.errors import UserError

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


class PatchedMotoServer(MotoServer):
    """`MotoServer`, started with `emulator_patches.apply()` loaded into the server process."""

    def start(self) -> "PatchedMotoServer":
        code = (
            "import sys; sys.path.insert(0, {here!r}); import emulator_patches; emulator_patches.apply(); "
            "from moto.server import main; main(['-H', '127.0.0.1', '-p', {port!r}])"
        ).format(here=str(HERE), port=str(self.port))
        env = {**os.environ, **FAKE_CREDENTIALS}
        self._proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"moto server exited with code {self._proc.returncode}")
            try:
                with urllib.request.urlopen(f"{self.endpoint_url}/moto-api/", timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"moto server did not answer on {self.endpoint_url}")


@pytest.fixture(scope="session")
def moto_server():
    with PatchedMotoServer() as server:
        yield server


@pytest.fixture
def emulator(moto_server, aws_env):
    """A clean emulator for one test."""
    moto_server.reset()
    yield moto_server


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    """Fake credentials only; no profile files, no instance metadata, no real region default."""
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key, raising=False)
    for key, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("COLUMNS", "200")


def make_cli() -> click.Group:
    """The project's CLI when it exists; else a stand-in group that handles errors the same way."""
    try:
        from infra.cli import main  # the lead's CLI

        return main
    except ImportError:
        pass
    from infra.deploy.commands import COMMANDS

    class Main(click.Group):
        def invoke(self, ctx: click.Context):
            try:
                return super().invoke(ctx)
            except UserError as exc:
                click.echo(f"Error: {exc}", err=True)
                ctx.exit(exc.exit_code)

    group = Main("generate")
    for command in COMMANDS:
        group.add_command(command)
    return group


@pytest.fixture
def cli():
    """Run the CLI in-process: cli("deploy", "--config", ...) -> click Result."""
    from click.testing import CliRunner

    runner = CliRunner()
    main = make_cli()

    def run(*args: str, input: str | None = None):
        result = runner.invoke(main, [str(a) for a in args], input=input, catch_exceptions=True)
        if result.exception and not isinstance(result.exception, SystemExit):
            import traceback

            traceback.print_exception(result.exception)
        return result

    return run


def boto(endpoint: str, service: str, region: str = "us-east-1"):
    import boto3

    return boto3.client(service, region_name=region, endpoint_url=endpoint)
