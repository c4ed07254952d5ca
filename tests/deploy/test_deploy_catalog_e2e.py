"""End to end: the real CLI deploys config/catalog-api.toml to the emulator and back.

One story, in order: preflight stops a deploy the account is not ready for -> a CI deploy that
widens permissions is stopped -> create (every nested stack completes; functions and tables exist)
-> deploy again ("no changes") and `diff --fail` exits 0 -> change a config value and an IAM grant
(the diff shows 256 -> 512 and the IAM table; `diff --fail` exits 3; CI is stopped, then allowed)
-> destroy (only retained resources remain, with their data) -> deploy again, which imports the
retained resources (the table keeps its item) -> a second config file for the same stack is
refused.

The emulator is the shipped one (`generate.py emulator`: moto with the gaps in
src/infra/emulator/patches.py filled). Resource types moto does not implement (WAF, alarms, API
stages, ...) are inert placeholders there, so every assertion on resources is about ones moto
really implements: functions, tables, buckets, keys, parameters.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from deploy_emulator import REPO, boto
from support.cli_result import error_line

STACK = "catalog-prod"
NESTED = {"Security", "Monitoring", "Data", "Api", "Compute", "ApiStage", "Firewall", "Dashboard"}
CI = ("--yes", "--require-approval", "never")


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


def test_catalog_api_gated_reviewed_destroyed_and_recovered_with_its_data(catalog, cli, emulator, tmp_path):
    args = ["--config", catalog, "--out", tmp_path / "out", "--endpoint-url", emulator.endpoint_url]
    cfn = boto(emulator.endpoint_url, "cloudformation")
    lam = boto(emulator.endpoint_url, "lambda")
    ddb = boto(emulator.endpoint_url, "dynamodb")
    outputs_file = tmp_path / "outputs.json"
    lock = catalog.with_name("catalog-api.lock.json")   # the copy has none yet

    # 0. Preflight: the stage declares an AWS Config rule, and the account has no recorder yet.
    missing = cli("deploy", *args, *CI)
    assert missing.exit_code == 1
    assert re.search(r"^FAIL\s+config-recorder\s+the Config rule\(s\) LambdaSettings30s256mbRule need", missing.stdout, re.M)
    assert "Preflight: 1 check(s) failed (config-recorder)" in error_line(missing)
    assert stacks(cfn) == set()                                     # stopped before any change set
    boto(emulator.endpoint_url, "config").put_configuration_recorder(ConfigurationRecorder={
        "name": "default", "roleARN": "arn:aws:iam::123456789012:role/config"})

    # 1. CI without --require-approval never: a first deploy grants permissions, so it stops.
    gated = cli("deploy", *args, "--yes")
    assert gated.exit_code == 1
    assert "Not deployed: it widens access" in error_line(gated) and "--require-approval never" in error_line(gated)
    assert "IAM statement changes" in gated.stdout
    assert STACK not in stacks(cfn) and our_change_sets_anywhere(cfn) == []
    assert cli("diff", *args).exit_code == 0
    assert not lock.exists()      # issue 18.19: neither diff nor a deploy that did not happen writes the lock

    # 2. Create.
    created = cli("deploy", *args, *CI, "--outputs-file", outputs_file)
    assert created.exit_code == 0, created.output
    statuses = tree(cfn)
    assert set(statuses) == {STACK, *NESTED}
    assert set(statuses.values()) == {"CREATE_COMPLETE"}, statuses
    # The deployed placement is recorded once the deploy succeeded: the committed lock, byte for byte.
    assert lock.read_bytes() == (REPO / "config" / "catalog-api.lock.json").read_bytes()
    assert "Recorded where each resource is deployed in" in created.stdout
    for name in ("catalog-prod-users", "catalog-prod-products"):
        assert lam.get_function(FunctionName=name)["Configuration"]["FunctionName"] == name
        assert ddb.describe_table(TableName=name)["Table"]["TableStatus"] == "ACTIVE"
    out = created.stdout
    assert "Changes to create catalog-prod (us-east-1)" in out
    for label in NESTED:                                  # nested resources in the one diff table
        assert f"catalog-prod/{label}" in out
    assert re.search(r"catalog-prod/Data\s+Add\s+UsersTable\s+AWS::DynamoDB::Table", out)
    assert "CREATE_COMPLETE" in out and "catalog-prod/Compute" in out   # plain event lines (not a tty)
    outputs = json.loads(outputs_file.read_text())
    assert set(outputs["DataTableNames"].split(",")) == {"catalog-prod-users", "catalog-prod-products"}
    assert set(outputs["ComputeFunctionNames"].split(",")) == {"catalog-prod-users", "catalog-prod-products"}
    assert outputs["UsersTableName"] == "catalog-prod-users"      # a nested stack's output, flattened
    root = cfn.describe_stacks(StackName=STACK)["Stacks"][0]
    assert {t["Key"]: t["Value"] for t in root["Tags"]}["serverless-infra:config"] == "catalog-api.toml"
    policy = json.loads(cfn.get_stack_policy(StackName=STACK)["StackPolicyBody"])
    assert "AWS::DynamoDB::Table" in policy["Statement"][1]["Condition"]["StringEquals"]["ResourceType"]

    # The config sets no logging role: the bootstrap stack made in this fresh region owns API Gateway's
    # CloudWatch Logs role (the account-and-region setting every stage that logs needs).
    apigw, iam = boto(emulator.endpoint_url, "apigateway"), boto(emulator.endpoint_url, "iam")
    bootstrap = cfn.describe_stacks(StackName="serverless-infra-artifacts")["Stacks"][0]
    role_arn = {o["OutputKey"]: o["OutputValue"] for o in bootstrap["Outputs"]}["ApiGatewayCloudWatchRoleArn"]
    assert apigw.get_account()["cloudwatchRoleArn"] == role_arn
    assert iam.get_role(RoleName=role_arn.rsplit("/", 1)[-1])["Role"]["Arn"] == role_arn

    # 3. Nothing changed: deploy is a no-op, diff --fail passes.
    again = cli("deploy", *args, *CI)
    assert again.exit_code == 0, again.output
    assert "catalog-prod: no changes." in again.stdout and "Executing" not in again.stdout
    assert re.search(rf"^ok\s+api-logging-role\s+API Gateway logs through {re.escape(role_arn)}", again.stdout, re.M)
    assert cli("diff", *args, "--fail").exit_code == 0

    # Another tool (or a deleted stage that set it) points the account at a role that no longer exists:
    # preflight says so and how to fix it, and a deploy stops before any change set.
    apigw.update_account(patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn",
                                           "value": "arn:aws:iam::123456789012:role/deleted-stage-role"}])
    broken = cli("preflight", *args)
    assert broken.exit_code == 1
    assert re.search(r"^FAIL\s+api-logging-role\s+.*deleted-stage-role, which no longer exists", broken.stdout, re.M)
    assert f"value={role_arn}" in broken.stdout
    apigw.update_account(patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": role_arn}])

    # 4. A change: more memory for users, and read access to the products table (wider IAM).
    text = catalog.read_text()
    users = text.index("[functions.users]")
    catalog.write_text(text[:users] + text[users:].replace("memory = 256", "memory = 512", 1).replace(
        'tables = { users = "read-write" }', 'tables = { users = "read-write", products = "read" }', 1))
    diff = cli("diff", *args, "--fail")
    assert diff.exit_code == 3, diff.output
    assert "Error: Changes found (diff --fail)." in diff.stderr
    assert re.search(r"^\s+MemorySize: 256 -> 512$", diff.stdout, re.M)
    assert "IAM statement changes" in diff.stdout
    iam = [line for line in diff.stdout.splitlines() if line.lstrip().startswith("+!")]
    assert len(iam) == 1 and "catalog-prod/Compute > UsersFunctionRole" in iam[0], diff.stdout
    assert "!Ref ProductsTableArn" in iam[0] and "dynamodb:GetItem" in diff.stdout
    assert [c for c in our_change_sets(cfn) if c["ExecutionStatus"] == "AVAILABLE"] == []   # diff deletes it
    stopped = cli("deploy", *args, "--yes")
    assert stopped.exit_code == 1 and "widens access" in error_line(stopped)
    assert lam.get_function_configuration(FunctionName="catalog-prod-users")["MemorySize"] == 256
    updated = cli("deploy", *args, *CI)
    assert updated.exit_code == 0, updated.output
    assert "UPDATE_COMPLETE" in updated.stdout
    assert lam.get_function_configuration(FunctionName="catalog-prod-users")["MemorySize"] == 512
    assert cli("diff", *args, "--fail").exit_code == 0

    # 5. Destroy: production keeps its stateful resources, with their data.
    ddb.put_item(TableName="catalog-prod-users", Item={"id": {"S": "u-1"}, "name": {"S": "Ada"}})
    destroyed = cli("destroy", *args, "--yes", "--disable-termination-protection")
    assert destroyed.exit_code == 0, destroyed.output
    assert "Kept after deletion" in destroyed.stdout and "catalog-prod-users" in destroyed.stdout
    assert "will be emptied" not in destroyed.stdout            # its buckets are retained, never emptied
    assert stacks(cfn) == {"serverless-infra-artifacts"}        # the shared bootstrap stack only
    assert not [f for f in lam.list_functions()["Functions"] if f["FunctionName"].startswith("catalog-prod")]

    # The console cannot import them: package says so, and uploads nothing for a stack that would fail.
    console = cli("package", *args, "--skip-check", "config-recorder")
    assert console.exit_code == 1, console.output
    assert "Error: This stage's retained resources exist in the account (" in " ".join(console.stderr.split())
    assert "which imports them first; nothing was uploaded." in " ".join(console.stderr.split())

    # 6. Deploy again: the retained resources are imported, nothing is recreated or emptied.
    back = cli("deploy", *args, *CI)
    assert back.exit_code == 0, back.output
    assert re.search(r"import catalog-prod/Data > UsersTable \(AWS::DynamoDB::Table\) <- catalog-prod-users", back.stdout)
    assert "Importing" in back.stdout and "IMPORT_COMPLETE" in back.stdout
    assert set(tree(cfn).values()) <= {"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"}
    assert ddb.get_item(TableName="catalog-prod-users", Key={"id": {"S": "u-1"}})["Item"]["name"] == {"S": "Ada"}
    users_table = next(r for r in cfn.list_stack_resources(StackName=data_stack(cfn))["StackResourceSummaries"]
                       if r["LogicalResourceId"] == "UsersTable")
    assert users_table["PhysicalResourceId"] == "catalog-prod-users"
    value = cli("outputs", *args, "UsersTableName")
    assert value.exit_code == 0 and value.stdout == "catalog-prod-users\n"
    assert cli("diff", *args, "--fail").exit_code == 0

    # 7. Another config file with the same project and stage drives the same stack: refused.
    twin = tmp_path / "catalog-copy.toml"
    twin.write_text(catalog.read_text())
    refused = cli("deploy", "--config", twin, *args[2:], *CI)
    assert refused.exit_code == 2
    assert "catalog-prod was deployed from the config file catalog-api.toml" in error_line(refused)
    assert "--force" in error_line(refused)


def data_stack(cfn) -> str:
    return next(r["PhysicalResourceId"] for r in cfn.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
                if r["LogicalResourceId"] == "Data")


def stacks(cfn) -> set[str]:
    return {s["StackName"] for s in cfn.describe_stacks()["Stacks"] if s["StackStatus"] != "DELETE_COMPLETE"}


def our_change_sets_anywhere(cfn) -> list:
    try:
        return our_change_sets(cfn)
    except Exception:   # no such stack: no change set either
        return []


def test_catalog_api_package_for_the_console(catalog, cli, emulator, tmp_path):
    args = ["--config", catalog, "--out", tmp_path / "out", "--endpoint-url", emulator.endpoint_url]
    # The console is handed nothing a deploy would refuse: the preflight runs first (the emulator
    # has no AWS Config recorder, which catalog-api's Config rule needs).
    refused = cli("package", *args)
    assert refused.exit_code == 1 and "FAIL  config-recorder" in refused.stdout, refused.output
    assert not (tmp_path / "out" / "catalog-api" / "packaged").exists()
    result = cli("package", *args, "--skip-check", "config-recorder")
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
    # Created from the console, the production stage has no termination protection: diff says the
    # deploy turns it on, and counts it as a change.
    gate = cli("diff", *args, "--fail")
    assert gate.exit_code == 3, gate.output
    assert "This deploy will turn on termination protection of catalog-prod (it is off)" in " ".join(gate.stdout.split())
    deployed = cli("deploy", *args, *CI, "--skip-check", "config-recorder")
    assert deployed.exit_code == 0, deployed.output
    assert "catalog-prod: no changes." in deployed.stdout
    assert cfn.describe_stacks(StackName=STACK)["Stacks"][0]["EnableTerminationProtection"] is True
    assert cli("diff", *args, "--fail").exit_code == 0


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
    deployed = run("deploy", *CI, "--skip-check", "all")
    assert deployed.returncode == 0, deployed.stderr
    assert "\x1b[" not in deployed.stdout                       # no live view / colour in a pipe
    assert re.search(r"^\d\d:\d\d:\d\d  catalog-prod\s+CREATE_COMPLETE", deployed.stdout, re.M)
    outputs = run("outputs", "--json")
    assert "catalog-prod-products" in json.loads(outputs.stdout)["DataTableNames"].split(",")
