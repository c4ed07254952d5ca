"""Fixtures for the everyday-loop tests: one moto server on loopback, fake credentials, a CLI runner,
and configs with echo handlers that return the event they received.

Nothing here talks to anything but 127.0.0.1.
"""
from __future__ import annotations

import textwrap
import tomllib
from pathlib import Path

import pytest

from infra.config import parse_config
from infra.emulator import MotoServer
from loop_support import ECHO_CONFIG, ECHO_JS, ECHO_PY


@pytest.fixture(scope="session")
def moto_server():
    with MotoServer() as server:
        yield server


@pytest.fixture(scope="session")
def users_node_modules():
    """handlers/users' dependencies, installed from its lockfile if they are not yet."""
    from handlers.testkit import HANDLERS, ensure_node_modules

    ensure_node_modules(HANDLERS / "users")


@pytest.fixture
def emulator(moto_server, aws_env):
    """A clean emulator for one test."""
    moto_server.reset()
    return moto_server


@pytest.fixture
def cli():
    """Run the CLI in-process: cli("invoke", "--config", ...) -> click Result (stdout and stderr apart)."""
    from click.testing import CliRunner

    from infra.cli import main

    def run(*args, input: str | None = None):
        return CliRunner().invoke(main, [str(a) for a in args], input=input, catch_exceptions=False)

    return run


@pytest.fixture
def echo_project(tmp_path) -> Path:
    """A directory with an echo config (config.toml) and its two echo handlers."""
    (tmp_path / "echo-py").mkdir()
    (tmp_path / "echo-py" / "app.py").write_text(ECHO_PY)
    (tmp_path / "echo-js").mkdir()
    (tmp_path / "echo-js" / "index.mjs").write_text(ECHO_JS)
    (tmp_path / "config.toml").write_text(textwrap.dedent(ECHO_CONFIG))
    return tmp_path


@pytest.fixture
def echo_config(echo_project):
    return parse_config(tomllib.loads((echo_project / "config.toml").read_text()), "config.toml", "echo",
                        root=echo_project)
