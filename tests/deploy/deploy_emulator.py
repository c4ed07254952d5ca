"""The test emulator: moto in server mode on loopback, with the gaps of emulator_patches.py filled."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from infra.emulator import MotoServer

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


class PatchedMotoServer(MotoServer):
    """`MotoServer`, started with `emulator_patches.apply()` loaded into the server process."""

    def __init__(self, **kwargs):
        # DEPLOY_TEST_SERVER_LOG=<file>: keep the server's log (tracebacks of HTTP 500s) for debugging.
        super().__init__(log=os.environ.get("DEPLOY_TEST_SERVER_LOG"), **kwargs)

    def command(self) -> list[str]:
        code = (
            "import sys; sys.path.insert(0, {here!r}); import emulator_patches; emulator_patches.apply(); "
            "from moto.server import main; main(['-H', '127.0.0.1', '-p', {port!r}])"
        ).format(here=str(HERE), port=str(self.port))
        return [sys.executable, "-c", code]


def boto(endpoint: str, service: str, region: str = "us-east-1"):
    import boto3

    return boto3.client(service, region_name=region, endpoint_url=endpoint)
