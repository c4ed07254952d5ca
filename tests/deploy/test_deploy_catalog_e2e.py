"""End to end: the real CLI deploys config/catalog-api.toml to the emulator and back.

One story, in order: create (every nested stack completes; functions and tables exist) -> deploy
again ("no changes", exit 0, no change set) -> change a config value (diff shows a Modify, then
deploy it) -> destroy (only retained resources remain) -> deploy again, which fails on the
retained resources (root cause printed, non-zero exit).

The emulator is moto with the gaps in emulator_patches.py filled. Resource types moto does not
implement (WAF, alarms, API stages, ...) are inert placeholders there, so every assertion on
resources is about ones moto really implements: functions, tables, buckets, keys, parameters.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from deploy_emulator import REPO, boto

STACK = "catalog-prod"
NESTED = {"Security", "Monitoring", "Data", "Api", "Compute", "ApiStage", "Firewall", "Dashboard"}


@pytest.fixture
def catalog(emulator, tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    config = tmp_path / "catalog-api.toml"   # a copy we can edit; handler paths stay repo-relative
    config.write_text((REPO / "config" / "catalog-api.toml").read_text())
    return config


def tree(cfn) -> dict[str, str]:
    """Stack name -> status of the root and its nested stacks, from CloudFormation itself."""
    resources = cfn.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
    nested = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources
              if r["ResourceType"] == "AWS::CloudFormation::Stack"}
    statuses = {STACK: cfn.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"]}
    for logical, physical in nested.items():
        statuses[logical] = cfn.describe_stacks(StackName=physical)["Stacks"][0]["StackStatus"]
    return statuses


def our_change_sets(cfn) -> list[dict]:
    return [c for c in cfn.list_change_sets(StackName=STACK).get("Summaries", []) if c.get("StackName") == STACK]


def test_catalog_api_create_noop_change_destroy_and_failure(catalog, cli, emulator, tmp_path):
    args = ["--config", catalog, "--out", tmp_path / "out", "--endpoint-url", emulator.endpoint_url]
    cfn = boto(emulator.endpoint_url, "cloudformation")
    lam = boto(emulator.endpoint_url, "lambda")
    ddb = boto(emulator.endpoint_url, "dynamodb")
    outputs_file = tmp_path / "outputs.json"

    # 1. Create.
    created = cli("deploy", *args, "--yes", "--outputs-file", outputs_file)
    assert created.exit_code == 0, created.output
    statuses = tree(cfn)
    assert set(statuses) == {STACK, *NESTED}
    assert set(statuses.values()) == {"CREATE_COMPLETE"}, statuses
    for name in ("catalog-prod-users", "catalog-prod-products"):
        assert lam.get_function(FunctionName=name)["Configuration"]["FunctionName"] == name
        assert ddb.describe_table(TableName=name)["Table"]["TableStatus"] == "ACTIVE"
    assert lam.get_function_configuration(FunctionName="catalog-prod-users")["Runtime"].startswith("nodejs")
    assert lam.get_function_configuration(FunctionName="catalog-prod-products")["Runtime"].startswith("python")
    out = created.stdout
    assert "Changes to create catalog-prod (us-east-1)" in out
    for label in NESTED:                                  # nested resources in the one diff table
        assert f"catalog-prod/{label}" in out
    assert re.search(r"catalog-prod/Data\s+Add\s+UsersTable\s+AWS::DynamoDB::Table", out)
    assert "CREATE_COMPLETE" in out and "catalog-prod/Compute" in out   # plain event lines (not a tty)
    outputs = json.loads(outputs_file.read_text())
    assert set(outputs["DataTableNames"].split(",")) == {"catalog-prod-users", "catalog-prod-products"}
    assert set(outputs["ComputeFunctionNames"].split(",")) == {"catalog-prod-users", "catalog-prod-products"}
    policy = json.loads(cfn.get_stack_policy(StackName=STACK)["StackPolicyBody"])
    assert "AWS::DynamoDB::Table" in policy["Statement"][1]["Condition"]["StringEquals"]["ResourceType"]
    data_stack = next(r["PhysicalResourceId"] for r in cfn.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
                      if r["LogicalResourceId"] == "Data")
    assert json.loads(cfn.get_stack_policy(StackName=data_stack)["StackPolicyBody"])["Statement"][1]["Effect"] == "Deny"

    # 2. Deploy again: nothing changed.
    change_sets_before = len(our_change_sets(cfn))
    again = cli("deploy", *args, "--yes")
    assert again.exit_code == 0, again.output
    assert "catalog-prod: no changes." in again.stdout and "Executing" not in again.stdout
    assert len(our_change_sets(cfn)) <= change_sets_before   # none created (the old one cleaned)

    # 3. Change a config value: the users function's memory.
    text = catalog.read_text()
    users = text.index("[functions.users]")
    catalog.write_text(text[:users] + text[users:].replace("memory = 256", "memory = 512", 1))
    diff = cli("diff", *args)
    assert diff.exit_code == 0, diff.output
    row = next(line for line in diff.stdout.splitlines() if "UsersFunction " in line or line.rstrip().endswith("UsersFunction"))
    assert "catalog-prod/Compute" in row and "Modify" in row and "MemorySize" in row
    assert re.search(r"catalog-prod\s+Modify\s+Compute\s+AWS::CloudFormation::Stack", diff.stdout)
    assert [c for c in our_change_sets(cfn) if c["ExecutionStatus"] == "AVAILABLE"] == []   # diff deletes it
    assert lam.get_function_configuration(FunctionName="catalog-prod-users")["MemorySize"] == 256
    updated = cli("deploy", *args, "--yes")
    assert updated.exit_code == 0, updated.output
    assert "UPDATE_COMPLETE" in updated.stdout
    assert lam.get_function_configuration(FunctionName="catalog-prod-users")["MemorySize"] == 512

    # 4. Destroy: production keeps its stateful resources, and says so.
    destroyed = cli("destroy", *args, "--yes")
    assert destroyed.exit_code == 0, destroyed.output
    assert "Kept after deletion" in destroyed.stdout and "catalog-prod-users" in destroyed.stdout
    assert "will be emptied" not in destroyed.stdout            # its buckets are retained, never emptied
    remaining = {s["StackName"] for s in cfn.describe_stacks()["Stacks"]}
    assert remaining == {"serverless-infra-artifacts"}        # the shared bootstrap stack only
    assert {"catalog-prod-users", "catalog-prod-products"} <= set(ddb.list_tables()["TableNames"])
    assert not [f for f in lam.list_functions()["Functions"] if f["FunctionName"].startswith("catalog-prod")]

    # 5. A forced failure: deploying again collides with what was retained.
    failed = cli("deploy", *args, "--yes")
    assert failed.exit_code == 1
    assert "Traceback" not in failed.output
    errors = [line for line in failed.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, failed.stderr
    assert errors[0].startswith("Error: CloudFormation could not execute the change set for catalog-prod: ")
    assert re.search(r"already exists|not available", errors[0]), errors[0]


def test_catalog_api_package_for_the_console(catalog, cli, emulator, tmp_path):
    result = cli("package", "--config", catalog, "--out", tmp_path / "out", "--endpoint-url", emulator.endpoint_url)
    assert result.exit_code == 0, result.output
    packaged = json.loads(Path(tmp_path / "out" / "catalog-api" / "packaged" / "root.json").read_text())
    urls = [r["Properties"]["TemplateURL"] for r in packaged["Resources"].values()
            if r["Type"] == "AWS::CloudFormation::Stack"]
    assert len(urls) == len(NESTED) and all(u.startswith("https://") for u in urls)
    assert "quickcreate?templateURL=https%3A%2F%2F" in result.stdout and "stackName=catalog-prod" in result.stdout
    # A stack created from the console link (same template, same parameter) is "no changes" to deploy.
    bucket = re.search(r"param_AssetBucket=([a-z0-9.-]+)", result.stdout).group(1)
    root_url = re.search(r"Template URL: (\S+)", result.stdout).group(1)
    cfn = boto(emulator.endpoint_url, "cloudformation")
    cs = cfn.create_change_set(StackName=STACK, ChangeSetName="console", ChangeSetType="CREATE", TemplateURL=root_url,
                               Parameters=[{"ParameterKey": "AssetBucket", "ParameterValue": bucket}],
                               Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
                               Tags=[{"Key": k, "Value": v} for k, v in
                                     {"Project": "catalog", "Environment": "prod", "ManagedBy": "serverless-infra"}.items()])
    cfn.execute_change_set(ChangeSetName=cs["Id"])
    deployed = cli("deploy", "--config", catalog, "--out", tmp_path / "out", "--endpoint-url", emulator.endpoint_url, "--yes")
    assert deployed.exit_code == 0, deployed.output
    assert "catalog-prod: no changes." in deployed.stdout


def test_generate_py_in_a_subprocess(catalog, emulator, tmp_path):
    """The script users run, as a separate process: plain progress lines, exit codes, JSON outputs."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")})
    common = ["--config", str(catalog), "--out", str(tmp_path / "out"), "--endpoint-url", emulator.endpoint_url]

    def run(*args):
        return subprocess.run([sys.executable, "generate.py", *args, *common], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=120)

    missing = run("outputs")
    assert missing.returncode == 1 and missing.stderr.strip() == \
        "Error: Stack catalog-prod does not exist in us-east-1; deploy it first."
    deployed = run("deploy", "--yes")
    assert deployed.returncode == 0, deployed.stderr
    assert "\x1b[" not in deployed.stdout                       # no live view / colour in a pipe
    assert re.search(r"^\d\d:\d\d:\d\d  catalog-prod\s+CREATE_COMPLETE", deployed.stdout, re.M)
    outputs = run("outputs", "--json")
    assert "catalog-prod-products" in json.loads(outputs.stdout)["DataTableNames"].split(",")
