"""Fixtures for the rotation handler tests (shared ones are in handlers/testkit.py)."""
from __future__ import annotations

import boto3
import pytest

pytest.register_assert_rewrite("handlers.testkit")
from handlers.testkit import *  # noqa: E402,F403 - the shared fixtures


@pytest.fixture(scope="module")
def rotation(aws_env, load):
    return load("rotation")


@pytest.fixture
def secrets(rotation, aws_env):
    """A Secrets Manager client on the emptied emulator."""
    aws_env.reset()
    return boto3.client("secretsmanager", endpoint_url=aws_env.endpoint_url)
