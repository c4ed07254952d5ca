"""Shared fixtures: every shipped config generated once per session."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from infra.build import build_configs
from support.dates import PINNED_TODAY
from support.shipped import SHIPPED


_SESSION_DIRS: list[str] = []


def _check_every_action() -> None:
    """Every IAM action the code makes while the tests run is one awacs's service module names:
    infra.actions makes them without importing those modules, tests/test_actions.py reads the
    names in the code, and this catches one made from a computed name."""
    import importlib

    from awacs.aws import Action

    from infra.actions import Service

    get, make = Service.__getattr__, Service.Action

    def known(service: Service, name: str) -> None:
        module = importlib.import_module(f"awacs.{service.module}")
        if name != "*" and not isinstance(getattr(module, name, None), Action):
            raise AssertionError(f"{service.prefix}:{name} is not an action awacs knows (awacs.{service.module})")

    def checked_get(self: Service, name: str) -> Action:
        action = get(self, name)      # names starting with "_" raise AttributeError here
        known(self, name)
        return action

    def checked_make(self: Service, name: str) -> Action:
        known(self, name)
        return make(self, name)

    Service.__getattr__ = checked_get  # type: ignore[method-assign]
    Service.Action = checked_make  # type: ignore[method-assign]


def pytest_configure(config):
    _check_every_action()
    # No test depends on the day it runs (support/dates.py); subprocesses inherit the variable.
    os.environ["SERVERLESS_INFRA_TODAY"] = PINNED_TODAY.isoformat()
    # Builds of functions with dependencies: one build cache and one download cache (uv's, npm's)
    # for the whole session, shared by every test and subprocess; none of them left behind.
    import tempfile

    home = tempfile.mkdtemp(prefix="build-caches-")
    _SESSION_DIRS.append(home)
    os.environ["SERVERLESS_INFRA_BUILD_CACHE"] = os.path.join(home, "build")
    os.environ["UV_CACHE_DIR"] = os.path.join(home, "uv")
    os.environ["npm_config_cache"] = os.path.join(home, "npm")


def pytest_unconfigure(config):
    import shutil

    for folder in _SESSION_DIRS:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def out_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("out")
    # locked: a shipped config whose committed lock file is stale fails here, never rewrites it.
    build_configs(SHIPPED, out, locked=True)
    return out


@pytest.fixture(scope="session")
def generated(out_dir) -> dict[str, dict[str, dict]]:
    """config name -> file name (without .json) -> parsed JSON."""
    result: dict[str, dict[str, dict]] = {}
    for cfg_dir in sorted(p for p in out_dir.iterdir() if p.is_dir()):
        result[cfg_dir.name] = {f.stem: json.loads(f.read_text()) for f in sorted(cfg_dir.glob("*.json"))}
    return result


@pytest.fixture(scope="session")
def secure(generated):
    return generated["secure-api"]


@pytest.fixture(scope="session")
def secure_prod(generated):
    return generated["secure-api-prod"]


@pytest.fixture(scope="session")
def catalog(generated):
    return generated["catalog-api"]


@pytest.fixture(scope="session")
def custom_domain(tmp_path_factory) -> dict[str, dict]:
    """config/examples/custom-domain.toml generated: the custom domain (certificate in us-east-1)
    that no shipped config can carry without a real hosted zone."""
    from support.shipped import REPO

    out = tmp_path_factory.mktemp("example")
    (target,) = build_configs([REPO / "config" / "examples" / "custom-domain.toml"], out, locked=True)
    return {f.stem: json.loads(f.read_text()) for f in sorted(target.glob("*.json"))}


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    """Fake credentials only: no profile files, no instance metadata, no endpoint or region from
    the shell; wide terminal output (tables are not wrapped)."""
    import os

    from infra.emulator import FAKE_CREDENTIALS

    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key, raising=False)
    for key, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("COLUMNS", "200")
