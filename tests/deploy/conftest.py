"""Fixtures for the deploy tests: the shipped emulator on loopback, fake credentials, a CLI runner.

Helpers live in deploy_emulator.py (importing from a conftest is ambiguous: tests/ has one too).
Nothing here talks to anything but 127.0.0.1.
"""
from __future__ import annotations

import click
import pytest

from deploy_emulator import patched_server


@pytest.fixture(scope="session")
def moto_server():
    with patched_server() as server:
        yield server


@pytest.fixture
def emulator(moto_server, aws_env):
    """A clean emulator for one test."""
    moto_server.reset()
    yield moto_server


def make_cli() -> click.Group:
    """The project's CLI, exactly as `python generate.py` runs it."""
    from infra.cli import main

    return main


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


@pytest.fixture
def catalog_deployed(emulator, cli, tmp_path, monkeypatch):
    """A development copy of catalog-api (handlers in tmp_path) deployed to the emulator:
    (config, tmp_path, endpoint)."""
    from sync_stage import dev_catalog

    monkeypatch.chdir(tmp_path)
    config = dev_catalog(tmp_path)
    result = cli("deploy", "--config", config, "--out", tmp_path / "out", "--endpoint-url", emulator.endpoint_url,
                 "--yes", "--require-approval", "never", "--skip-check", "all")
    assert result.exit_code == 0, result.output
    return config, tmp_path, emulator.endpoint_url
