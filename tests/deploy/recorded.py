"""Recorded CloudFormation responses for Stubber-based tests, and small builders for them."""
from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone
from typing import Any

import boto3
from botocore.stub import ANY, Stubber
from rich.console import Console

from infra.deploy.ui import Ui

T0 = datetime(2026, 11, 1, 12, 0, 0, tzinfo=timezone.utc)
ACCOUNT = "123456789012"
STACK = "catalog-prod"
ROOT_ID = f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/{STACK}/11111111-1111-1111-1111-111111111111"
DATA_ID = f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/{STACK}-Data-ABC/22222222-2222-2222-2222-222222222222"
COMPUTE_ID = f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/{STACK}-Compute-DEF/33333333-3333-3333-3333-333333333333"
CS_ARN = f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:changeSet/serverless-infra-deploy/44444444-4444-4444-4444-444444444444"
NESTED_CS_ARN = f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:changeSet/serverless-infra-deploy-Compute/55555555-5555-5555-5555-555555555555"
STACK_TYPE = "AWS::CloudFormation::Stack"

_counter = iter(range(1, 1_000_000))


def client() -> Any:
    return boto3.client("cloudformation", region_name="us-east-1", aws_access_key_id="x",
                        aws_secret_access_key="x", aws_session_token="x")


def stubbed() -> tuple[Any, Stubber]:
    cfn = client()
    stub = Stubber(cfn)
    stub.activate()
    return cfn, stub


def ev(stack_id: str, logical: str, status: str, *, seconds: int = 0, physical: str | None = None,
       rtype: str = "AWS::DynamoDB::Table", reason: str | None = None, stack_name: str | None = None) -> dict[str, Any]:
    """One StackEvent. `logical == stack name` with physical None makes it the stack's own event."""
    name = stack_name or stack_id.split("/")[1]
    own = physical is None and logical == name
    event = {
        "StackId": stack_id,
        "EventId": f"event-{next(_counter)}",
        "StackName": name,
        "LogicalResourceId": logical,
        "PhysicalResourceId": stack_id if own else (physical or f"{logical}-physical"),
        "ResourceType": STACK_TYPE if own else rtype,
        "Timestamp": T0 + timedelta(seconds=seconds),
        "ResourceStatus": status,
    }
    if reason:
        event["ResourceStatusReason"] = reason
    return event


def newest_first(*events: dict[str, Any]) -> dict[str, Any]:
    """A DescribeStackEvents page (the API lists newest first)."""
    return {"StackEvents": sorted(events, key=lambda e: e["Timestamp"], reverse=True)}


def stack(status: str, *, stack_id: str = ROOT_ID, name: str = STACK, outputs: list | None = None,
          protection: bool = False, reason: str | None = None) -> dict[str, Any]:
    s: dict[str, Any] = {
        "StackId": stack_id, "StackName": name, "CreationTime": T0, "StackStatus": status,
        "EnableTerminationProtection": protection,
        "Parameters": [{"ParameterKey": "AssetBucket", "ParameterValue": "bucket"}],
        "Tags": [{"Key": "Project", "Value": "catalog"}],
    }
    if outputs:
        s["Outputs"] = outputs
    if reason:
        s["StackStatusReason"] = reason
    return {"Stacks": [s]}


def no_resources() -> dict[str, Any]:
    return {"StackResourceSummaries": []}


def nested_resources(*pairs: tuple[str, str]) -> dict[str, Any]:
    return {"StackResourceSummaries": [
        {"LogicalResourceId": lid, "PhysicalResourceId": pid, "ResourceType": STACK_TYPE,
         "LastUpdatedTimestamp": T0, "ResourceStatus": "UPDATE_COMPLETE"} for lid, pid in pairs
    ]}


def not_found(stub: Stubber, method: str, name: str = STACK) -> None:
    stub.add_client_error(method, service_error_code="ValidationError",
                          service_message=f"Stack with id {name} does not exist", http_status_code=400)


def quiet_ui(terminal: bool = False) -> tuple[Ui, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    ui = Ui(out=Console(file=out, width=200, force_terminal=terminal, color_system=None),
            err=Console(file=err, width=200, color_system=None), assume_yes=True)
    return ui, out, err


def s3_stubbed() -> tuple[Any, Stubber]:
    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x",
                      aws_session_token="x")
    stub = Stubber(s3)
    stub.activate()
    return s3, stub


class FakeAws:
    """What StackRunner (and destroy) need from `Aws`: stubbed clients, not an emulator."""

    endpoint_url = None
    region = "us-east-1"

    def __init__(self, cfn: Any, s3: Any = None):
        self.cfn, self.s3 = cfn, s3
        self.unsupported: set[str] = set()

    def client(self, service: str) -> Any:
        if service == "s3" and self.s3 is not None:
            return self.s3
        assert service == "cloudformation", service
        return self.cfn


class Sleeper:
    """A fake `sleep`: records the waits, raises what it is told to on a given call."""

    def __init__(self, raise_on: dict[int, BaseException] | None = None):
        self.calls = 0
        self.raise_on = raise_on or {}
        self.now = 0.0

    def __call__(self, seconds: float) -> None:
        self.calls += 1
        self.now += seconds
        if self.calls in self.raise_on:
            raise self.raise_on[self.calls]

    def clock(self) -> float:
        return self.now


__all__ = ["ANY"]
