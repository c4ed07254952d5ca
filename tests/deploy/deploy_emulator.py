"""Helpers for the deploy tests: the emulator is the shipped one (`MotoServer(patched=True)`, what
`generate.py emulator` runs), reached with plain boto3 clients."""
from __future__ import annotations

import os
from pathlib import Path

from infra.emulator import MotoServer

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def patched_server() -> MotoServer:
    # DEPLOY_TEST_SERVER_LOG=<file>: keep the server's log (tracebacks of HTTP 500s) for debugging.
    return MotoServer(log=os.environ.get("DEPLOY_TEST_SERVER_LOG"), patched=True)


def boto(endpoint: str, service: str, region: str = "us-east-1"):
    import boto3

    return boto3.client(service, region_name=region, endpoint_url=endpoint)
