"""End to end: config/secure-api.toml (throwaway dev stage with VPC, CloudFront and the us-east-1
stack) deploys to the emulator through the real CLI and is destroyed again, buckets included.

Assertions stay on what moto implements (functions, tables, buckets, VPCs, secrets, stacks);
WAF, CloudFront and the other placeholder types of the emulator (src/infra/emulator/patches.py)
are not looked at.
"""
from __future__ import annotations

import json

from deploy_emulator import REPO, boto

ROOT, GLOBAL = "tap-dev", "tap-dev-global"
CI = ("--yes", "--require-approval", "never")


def test_secure_api_global_stack_first_then_root_then_destroy_everything(cli, emulator, tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    args = ["--config", REPO / "config" / "secure-api.toml", "--out", tmp_path / "out",
            "--endpoint-url", emulator.endpoint_url]
    west = {s: boto(emulator.endpoint_url, s, "us-west-2") for s in ("cloudformation", "lambda", "dynamodb", "s3", "ec2")}
    east = boto(emulator.endpoint_url, "cloudformation", "us-east-1")
    outputs_file = tmp_path / "outputs.json"

    # One plan, one question: both stacks' diffs come first; answering no leaves nothing anywhere.
    declined = cli("deploy", *args, input="n\n")
    assert declined.exit_code == 1
    out = declined.stdout
    assert out.count("[y/N]") == 1
    question = out.index("[y/N]")
    assert out.index(f"Changes to create {GLOBAL} (us-east-1)") < out.index(f"Changes to create {ROOT} (us-west-2)") < question
    # The region's bootstrap stack (artifact bucket, API Gateway's logging role) is part of the plan too.
    assert (f"Deploy these changes to serverless-infra-artifacts (us-west-2) and {GLOBAL} (us-east-1) and {ROOT} "
            "(us-west-2)?") in out
    assert "Nothing deployed" in declined.stderr
    assert not [s for s in east.list_stacks()["StackSummaries"] if s["StackStatus"] != "DELETE_COMPLETE"]
    assert not [s for s in west["cloudformation"].list_stacks()["StackSummaries"] if s["StackStatus"] != "DELETE_COMPLETE"]

    created = cli("deploy", *args, *CI, "--outputs-file", outputs_file)
    assert created.exit_code == 0, created.output
    out = created.stdout
    assert out.index(f"Executing the change set on {GLOBAL}\n") < out.index(f"Executing the change set on {ROOT}\n")
    assert east.describe_stacks(StackName=GLOBAL)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    edge_acl = {o["OutputKey"]: o["OutputValue"]
                for o in east.describe_stacks(StackName=GLOBAL)["Stacks"][0]["Outputs"]}["EdgeWebAclArn"]
    root = west["cloudformation"].describe_stacks(StackName=ROOT)["Stacks"][0]
    assert root["StackStatus"] == "CREATE_COMPLETE"
    assert {p["ParameterKey"]: p["ParameterValue"] for p in root["Parameters"]}["EdgeWebAclArn"] == edge_acl
    for name in ("tap-dev-api", "tap-dev-rotation"):
        config = west["lambda"].get_function_configuration(FunctionName=name)
        assert config["Runtime"] == "python3.14" and config["VpcConfig"]["SubnetIds"]
    assert west["dynamodb"].describe_table(TableName="tap-dev-data")["Table"]["TableStatus"] == "ACTIVE"
    assert any(v["CidrBlock"] == "10.0.0.0/16" for v in west["ec2"].describe_vpcs()["Vpcs"])
    outputs = json.loads(outputs_file.read_text())
    assert outputs["DataTableNames"] == "tap-dev-data" and outputs["Environment"] == "dev"

    again = cli("deploy", *args, *CI)
    assert again.exit_code == 0, again.output
    assert "tap-dev-global: no changes." in again.stdout and "tap-dev: no changes." in again.stdout

    (bucket,) = outputs["DataBucketNames"].split(",")
    west["s3"].put_object(Bucket=bucket, Key="index.html", Body=b"<h1>hi</h1>")
    # One question for both stacks, as deploy asks: no deletes nothing, one piped "y" deletes both.
    kept = cli("destroy", *args, input="n\n")
    assert kept.exit_code == 1 and kept.stdout.count("[y/N]") == 1
    assert (f"Delete {ROOT} and its " in kept.stdout and f"nested stack(s) in us-west-2 and {GLOBAL} and its 0 "
            "nested stack(s) in us-east-1, emptying the 3 S3 bucket(s) listed" in kept.stdout)
    assert f"Nothing deleted: {ROOT} and {GLOBAL} were not confirmed" in kept.stderr
    assert west["cloudformation"].describe_stacks(StackName=ROOT)["Stacks"][0]["StackStatus"] != "DELETE_COMPLETE"
    gone = cli("destroy", *args, input="y\n")
    assert gone.exit_code == 0, gone.output
    assert gone.stdout.count("[y/N]") == 1
    assert "will be emptied and deleted: " + bucket in gone.stdout
    names = {s["StackName"] for s in west["cloudformation"].list_stacks()["StackSummaries"]
             if s["StackStatus"] != "DELETE_COMPLETE"}
    assert ROOT not in names
    assert GLOBAL not in {s["StackName"] for s in east.list_stacks()["StackSummaries"]
                          if s["StackStatus"] != "DELETE_COMPLETE"}
    assert bucket not in {b["Name"] for b in west["s3"].list_buckets()["Buckets"]}
    assert "tap-dev-data" not in west["dynamodb"].list_tables()["TableNames"]  # dev: Delete, not Retain
