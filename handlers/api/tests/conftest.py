"""Fixtures for the secure-api handler tests (shared ones are in handlers/testkit.py)."""
from __future__ import annotations

import pytest

pytest.register_assert_rewrite("handlers.testkit")
from handlers.testkit import *  # noqa: E402,F403 - the shared fixtures

TABLE = "api-test"
INDEX = "by-time"


@pytest.fixture(scope="module")
def api(aws_env, load):
    return load("api")


@pytest.fixture
def table(api, aws_env, new_table, monkeypatch):
    """An empty (id S, timestamp N) table (the emulator is reset first) named by TABLE_NAME."""
    aws_env.reset()
    monkeypatch.setenv("TABLE_NAME", TABLE)
    return new_table(TABLE, ("id", "S"), ("timestamp", "N"))


@pytest.fixture
def call(api, table, invoker):
    return invoker(api)


@pytest.fixture
def indexed_table(api, aws_env, new_table, monkeypatch):
    """The same table with the index GET reads (feed S, timestamp N), named by ITEMS_INDEX."""
    aws_env.reset()
    monkeypatch.setenv("TABLE_NAME", TABLE)
    monkeypatch.setenv("ITEMS_INDEX", INDEX)
    return new_table(TABLE, ("id", "S"), ("timestamp", "N"), indexes={INDEX: (("feed", "S"), ("timestamp", "N"))})


@pytest.fixture
def indexed_call(api, indexed_table, invoker):
    return invoker(api)
