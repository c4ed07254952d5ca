"""Fixtures for the origin-verify rotation tests (shared ones are in handlers/testkit.py)."""
from __future__ import annotations

import pytest

pytest.register_assert_rewrite("handlers.testkit")
from handlers.testkit import *  # noqa: E402,F403 - the shared fixtures


@pytest.fixture(scope="module")
def rotation(aws_env, load):
    return load("origin_verify")
