"""End to end at scale: the real CLI deploys bench/large-api.toml (201 functions, 400 routes, 50
tables, 10 buckets, 14 nested stacks, about 1,600 resources) to the emulator, deploys it again
(no changes) and destroys it."""
from __future__ import annotations

import json
import shutil

import pytest

from deploy_emulator import REPO, boto

STACK = "large-bench"


@pytest.fixture
def large(emulator, tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    config = tmp_path / "large-api.toml"
    shutil.copy(REPO / "bench" / "large-api.toml", config)
    shutil.copy(REPO / "bench" / "large-api.lock.json", tmp_path / "large-api.lock.json")
    return config


def test_large_config_create_noop_destroy(large, cli, emulator, tmp_path):
    args = ["--config", large, "--out", tmp_path / "out", "--endpoint-url", emulator.endpoint_url]
    region = "eu-west-1"
    cfn = boto(emulator.endpoint_url, "cloudformation", region)

    created = cli("deploy", *args, "--yes", "--require-approval", "never")
    assert created.exit_code == 0, created.output[-3000:]
    manifest = json.loads((tmp_path / "out" / "large-api" / "manifest.json").read_text())
    nested = {r["LogicalResourceId"]: r["PhysicalResourceId"]
              for r in cfn.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
              if r["ResourceType"] == "AWS::CloudFormation::Stack"}
    assert set(nested) == set(manifest["templates"]) and len(nested) == 13
    for physical in nested.values():
        assert cfn.describe_stacks(StackName=physical)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    # What moto really creates: every function, table and bucket, and the API's paths from its OpenAPI body.
    lam = boto(emulator.endpoint_url, "lambda", region)
    names = {f["FunctionName"] for page in lam.get_paginator("list_functions").paginate() for f in page["Functions"]}
    assert len([n for n in names if n.startswith("large-bench-")]) == 201
    ddb = boto(emulator.endpoint_url, "dynamodb", region)
    tables = [t for page in ddb.get_paginator("list_tables").paginate() for t in page["TableNames"]]
    assert len([t for t in tables if t.startswith("large-bench-svc")]) == 50
    agw = boto(emulator.endpoint_url, "apigateway", region)
    (api,) = agw.get_rest_apis()["items"]
    paths = {r["path"] for page in agw.get_paginator("get_resources").paginate(restApiId=api["id"], limit=500)
             for r in page["items"]}
    assert len(paths) == 251 and "/svc07/items/{id}/history" in paths

    again = cli("deploy", *args, "--yes", "--require-approval", "never")
    assert again.exit_code == 0, again.output[-3000:]
    assert "large-bench: no changes." in again.stdout

    gone = cli("destroy", *args, "--yes")
    assert gone.exit_code == 0, gone.output[-3000:]
    assert not [s for s in cfn.list_stacks()["StackSummaries"]
                if s["StackName"] == STACK and s["StackStatus"] != "DELETE_COMPLETE"]
    remaining = {f["FunctionName"] for page in lam.get_paginator("list_functions").paginate() for f in page["Functions"]}
    assert not [n for n in remaining if n.startswith("large-bench-")]
