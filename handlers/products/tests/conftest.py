"""Fixtures for the products handler tests (shared ones are in handlers/testkit.py)."""
from __future__ import annotations

import pytest

pytest.register_assert_rewrite("handlers.testkit")
from handlers.testkit import *  # noqa: E402,F403 - the shared fixtures

TABLE = "products-test"


@pytest.fixture(scope="module")
def products(aws_env, load):
    return load("products")


@pytest.fixture
def table(products, aws_env, new_table, monkeypatch):
    """An empty products table (the emulator is reset first) named by TABLE_NAME."""
    aws_env.reset()
    monkeypatch.setenv("TABLE_NAME", TABLE)
    return new_table(TABLE, ("id", "S"))


@pytest.fixture
def call(products, table, invoker):
    return invoker(products)
