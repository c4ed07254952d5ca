"""The deploy commands through the CLI against the emulator, on a small hand-written stage.

Fast cases around the main path: packaging, a diff that leaves nothing behind, leftovers from
earlier runs, refusing stateful replacements, the us-east-1 global stack, errors users can act on.
(The full system, config/catalog-api.toml, is deployed in test_deploy_catalog_e2e.py.)
"""
from __future__ import annotations

import json
import re

import pytest

import infra.deploy.manifest as manifest
from deploy_emulator import boto
from stage_fixture import write_stage

STACK = "shop-dev"
GLOBAL_STACK = "shop-dev-global"
CERT_ARN = "arn:aws:acm:us-east-1:123456789012:certificate/0f0f0f0f-1111-2222-3333-444444444444"
ACL_ARN = "arn:aws:wafv2:us-east-1:123456789012:global/webacl/shop-dev-edge/55555555-6666-7777-8888-999999999999"
# Output of the global stack -> (root parameter it fills, value). The second output's name differs
# from its parameter's, so the mapping's direction is tested too.
GLOBAL = {"CertificateArn": ("CertificateArn", CERT_ARN), "WebAclArn": ("EdgeWebAclArn", ACL_ARN)}
# Root and nested outputs, flattened by name (the root re-exports TableName and FunctionName).
FLAT_OUTPUTS = {"FunctionName": "shop-dev-items", "TableName": "shop-dev-items",
                "TableArn": "arn:aws:dynamodb:us-east-1:123456789012:table/shop-dev-items"}
# A pipeline: no prompt, and nothing needs a person (--require-approval never).
CI = ("--yes", "--require-approval", "never")


@pytest.fixture
def stage(emulator, tmp_path, monkeypatch):
    """The fixture stage as the generator's output; `stage.params` changes what is generated."""

    class Stage:
        params: dict = {}
        config = tmp_path / "shop.toml"
        out = tmp_path / "out"
        endpoint = emulator.endpoint_url

        def args(self, *extra):
            return ["--config", self.config, "--out", self.out, "--endpoint-url", self.endpoint, *extra]

        def client(self, service):
            return boto(self.endpoint, service)

    s = Stage()
    s.params = {}
    s.config.write_text("# stands in for a stage config; the generator is replaced by stage_fixture\n")
    monkeypatch.setattr(manifest, "_generate", lambda config, out: write_stage(out, **s.params))
    return s


def stacks(cfn) -> dict[str, str]:
    return {s["StackName"]: s["StackStatus"] for s in cfn.describe_stacks()["Stacks"]}


def change_sets(cfn, name=STACK) -> list[dict]:
    return [c for c in cfn.list_change_sets(StackName=name).get("Summaries", []) if c.get("StackName") == name]


def one_paragraph_error(result) -> str:
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("Error: "), result.stderr
    return errors[0]


def test_package_uploads_by_content_hash_once_and_prints_a_console_link(stage, cli):
    first = cli("package", *stage.args())
    assert first.exit_code == 0, first.output
    assert "4 object(s) uploaded, 0 already present;" in first.stdout
    assert first.stdout.count("already present") == 1          # said once, by the package step
    second = cli("package", *stage.args())
    assert "0 object(s) uploaded, 4 already present;" in second.stdout

    cfn, s3 = stage.client("cloudformation"), stage.client("s3")
    bucket = cfn.describe_stack_resource(StackName="serverless-infra-artifacts",
                                         LogicalResourceId="ArtifactBucket")["StackResourceDetail"]["PhysicalResourceId"]
    assert s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    packaged = json.loads((stage.out / "shop" / "packaged" / "root.json").read_text())
    for child in ("Data", "Compute"):
        url = packaged["Resources"][child]["Properties"]["TemplateURL"]
        assert url.startswith(f"https://{bucket}.s3.us-east-1.amazonaws.com/templates/")
        assert url.split(".amazonaws.com/")[1] in keys
    assert any(k.startswith("assets/") and k.endswith(".zip") for k in keys)
    lines = second.stdout.splitlines()
    root_url = next(line.split(": ", 1)[1] for line in lines if line.startswith("Template URL: "))
    assert root_url.split(".amazonaws.com/")[1] in keys
    link = next(line for line in lines if "/stacks/quickcreate?" in line)
    assert link.startswith("https://us-east-1.console.aws.amazon.com/cloudformation/home?region=us-east-1#")
    assert f"param_AssetBucket={bucket}" in link and "stackName=shop-dev" in link


def test_package_of_a_stage_with_a_global_stack_explains_the_order(stage, cli):
    stage.params = {"global_outputs": GLOBAL}
    result = cli("package", *stage.args())
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    first = lines.index(next(x for x in lines if x.startswith(
        "1. First create the us-east-1 stack shop-dev-global (certificate and CloudFront web ACL)")))
    assert "stackName=shop-dev-global" in lines[first + 1]
    assert lines[first + 2].startswith("2. Then create shop-dev, pasting each output of shop-dev-global into the root parameter")
    assert lines[first + 3:first + 5] == ["   output CertificateArn -> parameter CertificateArn",
                                         "   output WebAclArn -> parameter EdgeWebAclArn"]
    assert "stackName=shop-dev&" in lines[-1]
    assert "param_CertificateArn" not in lines[-1] and "param_EdgeWebAclArn" not in lines[-1]


def test_a_missing_bucket_is_one_sentence(stage, cli):
    result = cli("package", *stage.args("--bucket", "no-such-bucket"))
    assert "Artifact bucket 'no-such-bucket' does not exist" in one_paragraph_error(result)
    assert result.exit_code == 1


def test_missing_credentials_are_one_sentence(stage, cli, monkeypatch):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key)
    result = cli("deploy", *stage.args(*CI))
    assert "No AWS credentials found" in one_paragraph_error(result)


def test_an_unknown_region_is_one_sentence(stage, cli):
    result = cli("diff", *stage.args("--region", "mars-north-9x"))
    assert "Unknown AWS region 'mars-north-9x'" in one_paragraph_error(result)


def test_a_diff_is_read_only_and_fails_the_gate_on_changes(stage, cli):
    # A stage never deployed, in an account never bootstrapped: the plan comes from the templates.
    result = cli("diff", *stage.args())
    assert result.exit_code == 0, result.output
    for row in ("shop-dev/Data", "ItemsTable", "shop-dev/Compute", "FunctionRole", "Add"):
        assert row in result.stdout
    assert "5 to add" in result.stdout
    assert "shop-dev does not exist yet: everything in it is new (no change set was created)." in result.stdout
    cfn, s3 = stage.client("cloudformation"), stage.client("s3")
    assert stacks(cfn) == {}                                      # no bootstrap stack, no REVIEW_IN_PROGRESS stack
    assert s3.list_buckets()["Buckets"] == []                     # nothing uploaded anywhere
    assert cli("diff", *stage.args("--fail")).exit_code == 3

    # Deployed: a change set needs the templates in S3, so diff says it uses the existing bucket.
    assert cli("deploy", *stage.args(*CI)).exit_code == 0
    before = {s: st for s, st in stacks(cfn).items()}
    same = cli("diff", *stage.args("--fail"))
    assert same.exit_code == 0 and "shop-dev: no changes." in same.stdout
    stage.params = {"memory": 512}
    changed = cli("diff", *stage.args("--fail"))
    assert changed.exit_code == 3 and changed.stderr == "Error: Changes found (diff --fail).\n"
    assert "uploaded to the existing artifact bucket s3://serverless-infra-artifacts" in changed.stdout
    assert "MemorySize: 128 -> 512" in changed.stdout
    assert stacks(cfn) == before and change_sets(cfn) == [c for c in change_sets(cfn) if c["ExecutionStatus"] != "AVAILABLE"]
    assert boto(stage.endpoint, "lambda").get_function_configuration(FunctionName="shop-dev-items")["MemorySize"] == 128


def test_require_approval_any_stops_every_change_in_ci_and_force_takes_over_a_stack(stage, cli, tmp_path):
    stage.params = {}
    stopped = cli("deploy", *stage.args("--yes", "--require-approval", "any"))
    assert stopped.exit_code == 1
    assert "Not deployed: --require-approval any asks a person about every change" in one_paragraph_error(stopped)
    assert STACK not in stacks(stage.client("cloudformation"))
    assert cli("deploy", *stage.args(*CI)).exit_code == 0
    assert cli("deploy", *stage.args("--yes", "--require-approval", "any")).exit_code == 0   # nothing to approve
    twin = tmp_path / "shop-twin.toml"
    twin.write_text(stage.config.read_text())
    args = ["--config", twin, "--out", stage.out, "--endpoint-url", stage.endpoint]
    assert cli("deploy", *args, *CI).exit_code == 2
    warned = cli("diff", *args)
    assert warned.exit_code == 0 and "was deployed from the config file shop.toml" in warned.stderr
    taken = cli("deploy", *args, *CI, "--force")
    assert taken.exit_code == 0, taken.output
    assert "--force: deploy anyway" in taken.stderr
    # (The emulator drops tag-only changes from change sets, so the tag itself stays shop.toml here.)
    assert cli("destroy", *args, "--yes").exit_code == 2
    assert cli("destroy", *args, "--yes", "--force").exit_code == 0
    assert STACK not in stacks(stage.client("cloudformation"))


def test_a_destroyed_production_stage_is_imported_or_refused_by_preflight_with_no_import(stage, cli):
    stage.params = {"production": True}
    assert cli("deploy", *stage.args(*CI)).exit_code == 0
    assert cli("destroy", *stage.args("--yes", "--disable-termination-protection")).exit_code == 0
    refused = cli("deploy", *stage.args(*CI, "--no-import"))
    assert refused.exit_code == 1
    assert "Table shop-dev-items (shop-dev/Data > ItemsTable) exists: it was retained by this stage" in refused.stdout
    assert "Preflight: 1 check(s) failed (names)" in one_paragraph_error(refused)
    checked = cli("preflight", *stage.args())
    assert checked.exit_code == 0, checked.output
    assert "2 retained resource(s) of this stage will be imported" in checked.stdout
    planned = cli("diff", *stage.args("--fail"))
    assert planned.exit_code == 3
    assert "import shop-dev/Data > UploadsBucket (AWS::S3::Bucket) <- shop-dev-uploads" in planned.stdout
    back = cli("deploy", *stage.args(*CI))
    assert back.exit_code == 0, back.output
    assert re.search(r"shop-dev/Data\s+Import\s+ItemsTable", back.stdout)
    cfn = stage.client("cloudformation")
    assert cfn.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"] in ("UPDATE_COMPLETE", "IMPORT_COMPLETE")
    assert cli("diff", *stage.args("--fail")).exit_code == 0


def test_another_region_than_the_configs_is_said_out_loud(stage, cli):
    result = cli("deploy", *stage.args(*CI, "--region", "eu-west-1"))
    assert result.exit_code == 0, result.output
    assert ("--region eu-west-1: working on shop-dev in eu-west-1, not in the config's region us-east-1"
            in " ".join(result.stderr.split()))
    assert "Deploy" not in result.stderr and "Changes to create shop-dev (eu-west-1)" in result.stdout
    assert boto(stage.endpoint, "cloudformation", "eu-west-1").describe_stacks(StackName=STACK)["Stacks"]
    assert STACK not in stacks(stage.client("cloudformation"))      # nothing in the config's region
    synced = cli("sync", *stage.args("--region", "eu-west-1"))      # sync says it too
    assert ("--region eu-west-1: working on shop-dev in eu-west-1, not in the config's region us-east-1"
            in " ".join(synced.stderr.split())), synced.output


def test_a_repeated_config_is_a_usage_error_not_the_last_one_silently(stage, cli):
    for command in ("sync", "deploy", "outputs"):
        result = cli(command, *stage.args("--config", stage.config))
        assert result.exit_code == 2, result.output
        assert "Invalid value for '--config': given 2 times" in result.output


def test_drift_on_an_endpoint_without_the_api_is_one_line(stage, cli):
    assert cli("deploy", *stage.args(*CI)).exit_code == 0
    result = cli("drift", *stage.args())
    assert result.exit_code == 1
    assert "DetectStackDrift" in one_paragraph_error(result) or "drift" in one_paragraph_error(result)


def test_an_unconfirmed_deploy_changes_nothing(stage, cli):
    result = cli("deploy", *stage.args(), input="n\n")
    # One question covers the whole plan: the bootstrap stack this first deploy creates, and the stage.
    assert ("Deploy these changes to serverless-infra-artifacts (us-east-1) and shop-dev (us-east-1)? [y/N]"
            in result.stdout)
    assert "not confirmed (pass --yes" in one_paragraph_error(result)
    assert stacks(stage.client("cloudformation")) == {}            # nothing anywhere, not even the bootstrap stack


def test_leftovers_of_earlier_runs_are_cleaned_up(stage, cli):
    cfn, s3 = stage.client("cloudformation"), stage.client("s3")
    # An interrupted earlier diff: a CREATE change set never executed (REVIEW_IN_PROGRESS).
    cfn.create_change_set(StackName=STACK, ChangeSetName="serverless-infra-deploy", ChangeSetType="CREATE",
                          TemplateBody=json.dumps({"Resources": {"T": {"Type": "AWS::SNS::Topic"}}}))
    result = cli("deploy", *stage.args(*CI))
    assert result.exit_code == 0, result.output
    assert "REVIEW_IN_PROGRESS" in result.stdout and "deleting it first" in result.stdout
    # A stale change set with our fixed name on the deployed stack.
    s3.create_bucket(Bucket="scratch")
    s3.put_object(Bucket="scratch", Key="t.json", Body=json.dumps({"Resources": {"T": {"Type": "AWS::SNS::Topic"}}}))
    cfn.create_change_set(StackName=STACK, ChangeSetName="serverless-infra-deploy", ChangeSetType="UPDATE",
                          TemplateURL="https://scratch.s3.us-east-1.amazonaws.com/t.json")
    stage.params = {"memory": 512}
    result = cli("deploy", *stage.args(*CI))
    assert result.exit_code == 0, result.output
    assert boto(stage.endpoint, "lambda").get_function_configuration(FunctionName="shop-dev-items")["MemorySize"] == 512
    assert all(c["ExecutionStatus"] == "EXECUTE_COMPLETE" for c in change_sets(cfn))


def test_another_runs_change_set_under_review_is_left_alone(stage, cli):
    """Two deploys of one stage: the second no longer deletes the first's change set while the first
    waits at its question (it did, by their shared fixed name, and the first then failed)."""
    assert cli("deploy", *stage.args(*CI)).exit_code == 0
    stage.params = {"memory": 384}
    alone = cli("deploy", *stage.args(*CI))   # our own executed change set is no other run's
    assert alone.exit_code == 0 and "Another run" not in alone.output
    cfn, s3 = stage.client("cloudformation"), stage.client("s3")
    s3.create_bucket(Bucket="scratch")
    s3.put_object(Bucket="scratch", Key="t.json", Body=json.dumps({"Resources": {"T": {"Type": "AWS::SNS::Topic"}}}))
    theirs = cfn.create_change_set(StackName=STACK, ChangeSetName="serverless-infra-deploy-0123456789ab",
                                   ChangeSetType="UPDATE", TemplateURL="https://scratch.s3.us-east-1.amazonaws.com/t.json")
    stage.params = {"memory": 512}
    result = cli("deploy", *stage.args(*CI))
    assert result.exit_code == 0, result.output
    assert "Another run is reviewing a change set for shop-dev (made 1 min ago)" in " ".join(result.output.split())
    assert theirs["Id"] in {c["ChangeSetId"] for c in change_sets(cfn)}
    ours = [c for c in change_sets(cfn) if c["ChangeSetId"] != theirs["Id"]]
    assert ours and all(c["ChangeSetName"].startswith("serverless-infra-deploy-") for c in ours)


def test_no_changes_from_cloudformation_is_success_without_a_change_set(stage, cli, monkeypatch):
    assert cli("deploy", *stage.args(*CI)).exit_code == 0
    cfn = stage.client("cloudformation")
    before = len(change_sets(cfn))
    generate = manifest._generate

    def retagged(config, out):
        """Same templates and parameters, one more stack tag: our local comparison sees a change."""
        directory = generate(config, out)
        data = json.loads((directory / "manifest.json").read_text())
        data["tags"]["Owner"] = "team-a"
        (directory / "manifest.json").write_text(json.dumps(data))
        return directory

    monkeypatch.setattr(manifest, "_generate", retagged)
    # The emulator ignores tags in change sets: the one it computes "didn't contain changes".
    result = cli("deploy", *stage.args(*CI))
    assert result.exit_code == 0, result.output
    assert "shop-dev: no changes." in result.stdout and "Executing" not in result.stdout
    assert len(change_sets(cfn)) <= before  # the empty change set was deleted (and the stale one)


def test_replacing_a_fixed_name_is_refused_honestly_and_a_renamed_bucket_needs_allow_removal(stage, cli):
    stage.params = {"production": True}
    assert cli("deploy", *stage.args(*CI)).exit_code == 0
    cfn = stage.client("cloudformation")
    protected = {s: json.loads(cfn.get_stack_policy(StackName=s)["StackPolicyBody"]) for s in stacks(cfn)
                 if s.startswith(STACK)}
    assert len(protected) == 3 and all(p["Statement"][1]["Effect"] == "Deny" for p in protected.values())

    # A new key schema under the same TableName: CloudFormation cannot replace a custom-named resource.
    stage.params = {"production": True, "key_schema_attr": "pk"}
    diff = cli("diff", *stage.args())
    line = next(x for x in diff.stdout.splitlines() if "ItemsTable" in x and "Modify" in x)
    assert "REPLACE" in line and "stateful" in line
    # diff shows the plan and says what a deploy would do with it: a change found, not a failure.
    assert diff.exit_code == 0, diff.output
    assert "A deploy of shop-dev would be refused: these changes replace resources that have a fixed name" \
        in " ".join(diff.stderr.split())
    assert cli("diff", *stage.args("--fail")).exit_code == 3
    for flags in ((), ("--allow-removal",)):
        error = one_paragraph_error(cli("deploy", *stage.args(*CI, *flags)))
        assert "Refusing to deploy shop-dev" in error and "which CloudFormation cannot do" in error
        assert "shop-dev/Data > ItemsTable (AWS::DynamoDB::Table named shop-dev-items, changing" in error
        assert "rename the resource in the config" in error and "deploy imports the retained resources" in error
    replaced = cli("deploy", *stage.args(*CI, "--allow-replacement"))
    assert replaced.exit_code == 2 and "--allow-replacement is gone" in one_paragraph_error(replaced)

    # A bucket under a new name: possible (a new, empty bucket; the old one is retained), so it needs --allow-removal.
    stage.params = {"production": True, "bucket_name": "shop-dev-uploads-v2"}
    gate = cli("diff", *stage.args("--fail"))
    assert gate.exit_code == 3, gate.output
    assert ("A deploy of shop-dev would be refused: the change set removes or replaces stateful resources: "
            "shop-dev/Data > UploadsBucket (AWS::S3::Bucket, replaced)") in " ".join(gate.stderr.split())
    assert "If that is intended, deploy with --allow-removal." in " ".join(gate.stderr.split())
    refused = cli("deploy", *stage.args(*CI))
    error = one_paragraph_error(refused)
    assert refused.exit_code == 1
    assert "removes or replaces stateful resources: shop-dev/Data > UploadsBucket (AWS::S3::Bucket, replaced)" in error
    assert "--allow-removal" in error
    assert [c for c in change_sets(cfn) if c["ExecutionStatus"] == "AVAILABLE"] == []

    allowed = cli("deploy", *stage.args(*CI, "--allow-removal"))
    assert allowed.exit_code == 0, allowed.output
    assert "lifting the stack policies" in allowed.stderr
    assert "shop-dev-uploads-v2" in {b["Name"] for b in stage.client("s3").list_buckets()["Buckets"]}
    after = {s: json.loads(cfn.get_stack_policy(StackName=s)["StackPolicyBody"]) for s in stacks(cfn)
             if s.startswith(STACK)}
    assert all(p["Statement"][1]["Effect"] == "Deny" for p in after.values())


def test_the_global_stack_is_deployed_first_and_all_its_mapped_outputs_passed_on(stage, cli, tmp_path):
    stage.params = {"global_outputs": GLOBAL}
    outputs_file = tmp_path / "outputs.json"
    result = cli("deploy", *stage.args(*CI, "--outputs-file", outputs_file))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.index("Global stack shop-dev-global (us-east-1; certificate and CloudFront web ACL)") \
        < out.index("Change set for shop-dev (us-east-1)")
    cfn = stage.client("cloudformation")
    params = {p["ParameterKey"]: p["ParameterValue"] for p in cfn.describe_stacks(StackName=STACK)["Stacks"][0]["Parameters"]}
    assert params["CertificateArn"] == CERT_ARN and params["EdgeWebAclArn"] == ACL_ARN
    ssm = boto(stage.endpoint, "ssm")
    assert ssm.get_parameter(Name="/shop-dev/CertificateArn")["Parameter"]["Value"] == CERT_ARN
    assert ssm.get_parameter(Name="/shop-dev/EdgeWebAclArn")["Parameter"]["Value"] == ACL_ARN
    assert json.loads(outputs_file.read_text()) == FLAT_OUTPUTS
    gone = cli("destroy", *stage.args("--yes"))
    assert gone.exit_code == 0, gone.output
    assert gone.stdout.index("Destroy shop-dev (") < gone.stdout.index("Destroy shop-dev-global (")
    assert not {STACK, GLOBAL_STACK} & set(stacks(cfn))


def test_a_diff_uses_placeholders_for_outputs_the_global_stack_does_not_have_yet(stage, cli):
    stage.params = {"global_outputs": GLOBAL}
    new = cli("diff", *stage.args())
    assert new.exit_code == 0, new.output
    assert "Global stack shop-dev-global (us-east-1" in new.stdout
    assert "shop-dev-global does not have the outputs for CertificateArn, EdgeWebAclArn yet" in new.stdout
    assert "CertificateArnParameter" in new.stdout and "EdgeWebAclArnParameter" in new.stdout
    cfn = stage.client("cloudformation")
    assert not {STACK, GLOBAL_STACK} & set(stacks(cfn))   # a diff leaves nothing behind

    # Deployed with the certificate only; the web ACL output comes with the next change.
    stage.params = {"global_outputs": {"CertificateArn": GLOBAL["CertificateArn"]}}
    assert cli("deploy", *stage.args(*CI)).exit_code == 0
    stage.params = {"global_outputs": GLOBAL}
    grown = cli("diff", *stage.args())
    assert grown.exit_code == 0, grown.output
    assert "shop-dev-global does not have the outputs for EdgeWebAclArn yet" in grown.stdout
    assert "WebAclArnMarker" in grown.stdout


def test_a_global_output_missing_after_the_deploy_is_one_sentence(stage, cli, monkeypatch):
    generate = manifest._generate

    def misnamed(config, out):
        """The manifest maps an output the global template does not declare."""
        directory = generate(config, out)
        data = json.loads((directory / "manifest.json").read_text())
        data["global"]["outputs"] = {"CertArn": "CertificateArn", "WebAclArn": "EdgeWebAclArn"}
        (directory / "manifest.json").write_text(json.dumps(data))
        return directory

    stage.params = {"global_outputs": GLOBAL}
    monkeypatch.setattr(manifest, "_generate", misnamed)
    error = one_paragraph_error(cli("deploy", *stage.args(*CI)))
    assert "The us-east-1 stack shop-dev-global has no output CertArn (for root parameter CertificateArn)" in error
    assert STACK not in stacks(stage.client("cloudformation"))


def test_outputs_as_json(stage, cli):
    assert cli("deploy", *stage.args(*CI)).exit_code == 0
    result = cli("outputs", *stage.args("--json"))
    assert json.loads(result.stdout) == FLAT_OUTPUTS


def test_outputs_of_a_stack_not_deployed(stage, cli):
    assert "Stack shop-dev does not exist in us-east-1; deploy it first." in one_paragraph_error(cli("outputs", *stage.args()))


def test_destroy_of_nothing_is_fine(stage, cli):
    result = cli("destroy", *stage.args("--yes"))
    assert result.exit_code == 0 and "shop-dev does not exist in us-east-1: nothing to delete." in result.stdout


def test_destroy_empties_a_versioned_bucket_of_a_throwaway_stage_then_deletes_it(stage, cli):
    stage.params = {"versioned": True}
    assert cli("deploy", *stage.args(*CI)).exit_code == 0
    s3, cfn = stage.client("s3"), stage.client("cloudformation")
    bucket = "shop-dev-uploads"
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})  # moto's CFN ignores it
    for body in (b"one", b"two", b"three"):
        s3.put_object(Bucket=bucket, Key="data/item.json", Body=body)
    s3.put_object(Bucket=bucket, Key="logs/2026-11-01-12-00-00", Body=b"access log")
    s3.delete_object(Bucket=bucket, Key="data/item.json")                                   # a delete marker
    listed = s3.list_object_versions(Bucket=bucket)
    assert (len(listed["Versions"]), len(listed["DeleteMarkers"])) == (4, 1)
    artifacts = cfn.describe_stack_resource(StackName="serverless-infra-artifacts", LogicalResourceId="ArtifactBucket")[
        "StackResourceDetail"]["PhysicalResourceId"]
    artifact_keys = s3.list_objects_v2(Bucket=artifacts)["KeyCount"]

    result = cli("destroy", *stage.args("--yes"))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "will be emptied and deleted: shop-dev-uploads (shop-dev/Data/UploadsBucket)" in out
    assert out.index("will be emptied and deleted") < out.index(
        "shop-dev-uploads: emptied, 5 object(s) removed (4 object version(s), 1 delete marker(s)).")
    assert out.index("object(s) removed") < out.index("DELETE_IN_PROGRESS")
    assert STACK not in stacks(cfn)
    assert bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert s3.list_objects_v2(Bucket=artifacts)["KeyCount"] == artifact_keys   # the artifact bucket is untouched


def test_destroy_of_a_production_stage_keeps_its_bucket_and_its_contents(stage, cli):
    stage.params = {"production": True}
    assert cli("deploy", *stage.args(*CI)).exit_code == 0
    s3 = stage.client("s3")
    s3.put_object(Bucket="shop-dev-uploads", Key="keep.json", Body=b"{}")
    result = cli("destroy", *stage.args("--yes", "--disable-termination-protection"))
    assert result.exit_code == 0, result.output
    assert "will be emptied" not in result.stdout and "Kept after deletion" in result.stdout
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="shop-dev-uploads")["Contents"]] == ["keep.json"]


def test_the_emulator_keeps_a_retained_resource_an_update_removes(emulator):
    """As CloudFormation does: DeletionPolicy Retain keeps the resource in the account when an
    update takes it out of the template (the emulator deleted it, while diff said 'kept')."""
    cfn, s3, ddb = (boto(emulator.endpoint_url, s) for s in ("cloudformation", "s3", "dynamodb"))
    kept = {"Bucket": {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain",
                       "Properties": {"BucketName": "kept-bucket-0123"}},
            "Table": {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": "Retain", "Properties": {
                "TableName": "kept-table", "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}]}},
            "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "gone-topic"}}}
    cfn.create_stack(StackName="retain-test", TemplateBody=json.dumps({"Resources": kept}))
    cfn.update_stack(StackName="retain-test", TemplateBody=json.dumps(
        {"Resources": {"Other": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "other-topic"}}}}))
    assert "kept-bucket-0123" in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert "kept-table" in ddb.list_tables()["TableNames"]
    topics = {t["TopicArn"].rsplit(":", 1)[1] for t in boto(emulator.endpoint_url, "sns").list_topics()["Topics"]}
    assert "gone-topic" not in topics and "other-topic" in topics
    listed = {r["LogicalResourceId"] for r in cfn.list_stack_resources(StackName="retain-test")["StackResourceSummaries"]}
    assert listed == {"Other"}
