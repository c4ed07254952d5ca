"""Pure pieces of the deploy side: states, diffs, rendering, policies, errors, options."""
from __future__ import annotations

import json
import subprocess
import sys

import boto3
import click
import pytest
from botocore.exceptions import ClientError, NoCredentialsError
from botocore.parsers import ResponseParserError
from rich.console import Console

from infra.deploy import bootstrap_template as bootstrap
from infra.deploy.resource_diff import Diff, Row, diff_templates, value_changes
from infra.deploy.commands import COMMANDS, Duration
from infra.deploy.diff_render import render_text, summary
from infra.deploy.events import LiveSink, PlainSink, format_event
from infra.deploy.manifest import Build
from infra.deploy.package import quick_create_link, s3_url
from infra.deploy.policy import permissive_policy, protective_policy
from infra.deploy.session import Aws, Target, check_region, explain, unparseable_body_message
from infra.deploy.stack_state import CREATE, RECREATE, REFUSE, UPDATE, WAIT, StackInfo, decide
from infra.errors import DeployError, UsageError
from recorded import COMPUTE_ID, ROOT_ID, STACK, ev, quiet_ui


# -- states -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("status, recreate, read_only, action", [
    (None, False, False, CREATE),
    ("CREATE_COMPLETE", False, False, UPDATE),
    ("UPDATE_ROLLBACK_COMPLETE", False, False, UPDATE),
    ("REVIEW_IN_PROGRESS", False, True, RECREATE),
    ("UPDATE_IN_PROGRESS", False, False, WAIT),
    ("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", False, False, WAIT),
    ("DELETE_IN_PROGRESS", False, False, WAIT),
    ("ROLLBACK_COMPLETE", False, False, REFUSE),
    ("ROLLBACK_COMPLETE", True, False, RECREATE),
    ("ROLLBACK_COMPLETE", True, True, REFUSE),   # diff never deletes a stack
    ("ROLLBACK_FAILED", True, False, RECREATE),
    ("UPDATE_ROLLBACK_FAILED", True, False, REFUSE),
    ("DELETE_FAILED", False, False, REFUSE),
])
def test_what_a_deploy_does_in_each_stack_state(status, recreate, read_only, action):
    info = None if status is None else StackInfo(STACK, ROOT_ID, status)
    decision = decide(info, recreate_failed=recreate, read_only=read_only)
    assert decision.action == action
    if action in (REFUSE, WAIT, RECREATE):
        assert STACK in decision.message and status in decision.message


def test_update_rollback_failed_names_the_command_that_unblocks_it():
    message = decide(StackInfo(STACK, ROOT_ID, "UPDATE_ROLLBACK_FAILED"), recreate_failed=False).message
    assert "Run recover (it shows the cause, skips the resources that cannot roll back" in message


# -- local diff (endpoints without nested change sets) ----------------------------------------------
def table(name="t", key="id", **extra):
    return {"Type": "AWS::DynamoDB::Table", "Properties": {"TableName": name, "KeySchema": [{"AttributeName": key}], **extra}}


def test_local_template_diff_knows_what_replaces_a_resource():
    old = {"Resources": {"Users": table(), "Fn": {"Type": "AWS::Lambda::Function", "Properties": {"MemorySize": 128}},
                         "Gone": {"Type": "AWS::SNS::Topic"}}}
    new = {"Resources": {"Users": table(name="t2"), "Fn": {"Type": "AWS::Lambda::Function", "Properties": {"MemorySize": 256}},
                         "New": {"Type": "AWS::SQS::Queue"}}}
    rows = {r.logical_id: r for r in diff_templates(old, new, "s/Data")}
    assert (rows["Users"].action, rows["Users"].replacement, rows["Users"].properties) == ("Modify", "True", ("TableName",))
    assert (rows["Fn"].replacement, rows["Fn"].properties) == ("False", ("MemorySize",))
    assert rows["New"].action == "Add" and rows["Gone"].action == "Remove"
    assert all(r.local for r in rows.values())


def test_key_schema_change_replaces_a_table():
    rows = diff_templates({"Resources": {"T": table(key="id")}}, {"Resources": {"T": table(key="pk")}}, "s")
    assert rows[0].replacement == "True"


def test_parameter_changes_ignore_masked_values():
    assert value_changes({"A": "1", "Secret": "****"}, {"A": "2", "Secret": "x"}) == [("A", "1", "2")]


# -- rendering --------------------------------------------------------------------------------------
def sample_diff() -> Diff:
    return Diff(rows=[
        Row(STACK, "Modify", "Data", "AWS::CloudFormation::Stack", "False"),
        Row(f"{STACK}/Data", "Modify", "UsersTable", "AWS::DynamoDB::Table", "True", properties=("TableName",)),
        Row(f"{STACK}/Compute", "Add", "UsersRole", "AWS::IAM::Role"),
        Row(f"{STACK}/Compute", "Modify", "UsersFunction", "AWS::Lambda::Function", "Conditional"),
        Row(f"{STACK}/Compute", "Remove", "OldTopic", "AWS::SNS::Topic", policy_action="Retain"),
    ], parameters=[("AssetBucket", "old", "new")], tags=[("Owner", None, "team")],
        notes=["catalog-prod/Compute: rows computed locally"])


def test_diff_table_has_every_column_and_highlights_without_colour():
    text = render_text(sample_diff(), "Changes to update catalog-prod", ["AWS::DynamoDB::Table"])
    header = next(line for line in text.splitlines() if "Logical ID" in line)
    for column in ("Stack", "Action", "Logical ID", "Type", "Replacement"):
        assert column in header
    users = next(line for line in text.splitlines() if "UsersTable" in line)
    assert "REPLACE" in users and "stateful" in users and "catalog-prod/Data" in users
    assert "IAM" in next(line for line in text.splitlines() if "UsersRole" in line)
    assert "REPLACE (conditional)" in text
    assert "kept in the account (Retain)" in " ".join(text.split())     # a removal that keeps the resource
    assert "AssetBucket" in text and "Owner" in text and "note: catalog-prod/Compute" in text
    assert text.strip().endswith("1 to add, 2 to modify (2 replaced), 1 to remove; permissions change on 1 resource; "
                                 "1 parameter change; 1 tag change")


def test_diff_in_colour_marks_replacements_red():
    from infra.deploy.diff_render import render

    console = Console(width=200, record=True, force_terminal=True, color_system="truecolor", file=open("/dev/null", "w"))
    console.print(render(sample_diff(), "t", ["AWS::DynamoDB::Table"]))
    assert "\x1b[1;31m" in console.export_text(styles=True)


def test_removing_a_stateful_resource_is_a_risk_like_replacing_it():
    diff = Diff(rows=[Row("s/Data", "Remove", "OldTable", "AWS::DynamoDB::Table"),
                      Row("s/Data", "Remove", "OldTopic", "AWS::SNS::Topic"),
                      Row("s/Data", "Modify", "Table", "AWS::DynamoDB::Table", "False")])
    assert [r.logical_id for r in diff.stateful_risks(["AWS::DynamoDB::Table"])] == ["OldTable"]


def test_summary_of_an_empty_diff():
    assert summary(Diff()) == "0 to add, 0 to modify, 0 to remove"


def test_plain_lines_when_not_a_terminal():
    ui, out, _ = quiet_ui(terminal=False)
    sink = PlainSink(ui)
    sink.event(f"{STACK}/Compute", ev(COMPUTE_ID, "UsersFunction", "CREATE_FAILED", seconds=5,
                                       rtype="AWS::Lambda::Function", reason="boom"))
    line = out.getvalue().strip()
    assert line == format_event(f"{STACK}/Compute", ev(COMPUTE_ID, "UsersFunction", "CREATE_FAILED", seconds=5,
                                                       rtype="AWS::Lambda::Function", reason="boom")).strip()
    assert "12:00:05" in line and "CREATE_FAILED" in line and "boom" in line and "\x1b[" not in line


def test_live_view_counts_resources_completing_per_stack():
    ui, out, _ = quiet_ui(terminal=True)
    with LiveSink(ui, expected={STACK: 2, f"{STACK}/Compute": 3}) as sink:
        sink.event(STACK, ev(ROOT_ID, STACK, "CREATE_IN_PROGRESS"))
        sink.event(f"{STACK}/Compute", ev(COMPUTE_ID, "Role", "CREATE_COMPLETE", rtype="AWS::IAM::Role"))
        sink.event(f"{STACK}/Compute", ev(COMPUTE_ID, "Fn", "CREATE_IN_PROGRESS", rtype="AWS::Lambda::Function"))
        sink.event(f"{STACK}/Compute", ev(COMPUTE_ID, "Perm", "CREATE_FAILED", rtype="AWS::Lambda::Permission", reason="denied"))
    text = out.getvalue()
    compute = [line for line in text.splitlines() if f"{STACK}/Compute" in line and "1/3" in line]
    assert compute, text
    assert "Fn" in compute[-1] and "denied" in text  # in-progress names; failures printed above the table


def test_live_view_says_when_no_resource_event_was_seen_instead_of_zero_progress():
    ui, out, _ = quiet_ui(terminal=True)
    with LiveSink(ui, expected={STACK: 19, f"{STACK}/Compute": 3}) as sink:
        sink.event(STACK, ev(ROOT_ID, STACK, "CREATE_COMPLETE"))
        sink.event(f"{STACK}/Compute", ev(COMPUTE_ID, "Role", "CREATE_COMPLETE", rtype="AWS::IAM::Role"))
    final = out.getvalue().split("Stack progress")[-1]
    root = next(line for line in final.splitlines() if f"{STACK} " in line and "CREATE_COMPLETE" in line)
    assert "no resource events seen" in root and "0/19" not in final
    assert "1/3" in next(line for line in final.splitlines() if f"{STACK}/Compute" in line)


# -- policies ---------------------------------------------------------------------------------------
def test_stack_policy_denies_replacing_and_deleting_stateful_types_only():
    policy = json.loads(protective_policy(["AWS::DynamoDB::Table", "AWS::S3::Bucket"]))
    allow, deny = policy["Statement"]
    assert allow == {"Action": ["Update:*"], "Effect": "Allow", "Principal": "*", "Resource": ["*"]}
    assert deny["Effect"] == "Deny" and deny["Action"] == ["Update:Replace", "Update:Delete"]
    assert deny["Condition"] == {"StringEquals": {"ResourceType": ["AWS::DynamoDB::Table", "AWS::S3::Bucket"]}}
    root = json.loads(protective_policy(["AWS::DynamoDB::Table"], root=True))
    assert "AWS::CloudFormation::Stack" in root["Statement"][1]["Condition"]["StringEquals"]["ResourceType"]
    assert json.loads(permissive_policy())["Statement"] == [allow]


# -- bootstrap --------------------------------------------------------------------------------------
def test_bootstrap_bucket_is_encrypted_versioned_private_and_tls_only():
    text = bootstrap.template()
    assert text == bootstrap.template()  # deterministic
    tpl = json.loads(text)
    bucket = tpl["Resources"]["ArtifactBucket"]["Properties"]
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    statement = tpl["Resources"]["ArtifactBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert tpl["Resources"]["ArtifactBucket"]["DeletionPolicy"] == "Retain"


def test_bootstrap_template_passes_cfn_lint(tmp_path):
    from pathlib import Path

    (tmp_path / "bootstrap.json").write_text(bootstrap.template())
    exe = Path(sys.executable).with_name("cfn-lint")
    run = subprocess.run([str(exe), "--include-checks", "I", "--", "bootstrap.json"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr


# -- package helpers ---------------------------------------------------------------------------------
def test_template_urls_and_the_console_link():
    url = s3_url("my-bucket", "eu-west-1", "templates/abc.json")
    assert url == "https://my-bucket.s3.eu-west-1.amazonaws.com/templates/abc.json"
    link = quick_create_link("eu-west-1", "catalog-prod", url, {"AssetBucket": "my-bucket"})
    assert link.startswith("https://eu-west-1.console.aws.amazon.com/cloudformation/home?region=eu-west-1#/stacks/quickcreate?")
    assert "templateURL=https%3A%2F%2Fmy-bucket.s3.eu-west-1.amazonaws.com%2Ftemplates%2Fabc.json" in link
    assert "stackName=catalog-prod" in link and "param_AssetBucket=my-bucket" in link


def test_manifest_problems_are_one_sentence(tmp_path):
    with pytest.raises(DeployError, match="manifest.json: not found"):
        Build.load(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"name": "x"}))
    with pytest.raises(DeployError, match="missing or malformed entry 'stack_name'"):
        Build.load(tmp_path)


GLOBAL = {"CertificateArn": ("CertificateArn", "arn:cert"), "WebAclArn": ("EdgeWebAclArn", "arn:acl")}


def rewrite_manifest(directory, drop=(), **changes):
    data = json.loads((directory / "manifest.json").read_text())
    for key in drop:
        data.pop(key, None)
    data.update(changes)
    (directory / "manifest.json").write_text(json.dumps(data))


def test_the_global_stack_of_the_manifest(tmp_path):
    from stage_fixture import write_stage

    glob = Build.load(write_stage(tmp_path, global_outputs=GLOBAL)).global_stack
    assert glob is not None
    assert (glob.template.name, glob.stack_name, glob.region) == ("global.json", "shop-dev-global", "us-east-1")
    assert glob.outputs == {"CertificateArn": "CertificateArn", "WebAclArn": "EdgeWebAclArn"}
    assert glob.label == "the us-east-1 stack shop-dev-global (certificate and CloudFront web ACL)"


def test_a_manifest_without_a_global_stack(tmp_path):
    from stage_fixture import write_stage

    directory = write_stage(tmp_path)
    assert Build.load(directory).global_stack is None    # "global": null
    rewrite_manifest(directory, drop=["global"])
    assert Build.load(directory).global_stack is None    # neither key
    rewrite_manifest(directory, certificate=None)
    assert Build.load(directory).global_stack is None    # an older generator's "certificate": null


def test_problems_with_the_global_stack_entry_are_one_sentence(tmp_path):
    from stage_fixture import write_stage

    directory = write_stage(tmp_path, global_outputs=GLOBAL)
    entry = json.loads((directory / "manifest.json").read_text())["global"]
    rewrite_manifest(directory, drop=["global"], certificate={"template": "global.json", "stack_name": "x"})
    with pytest.raises(DeployError, match="has a 'certificate' entry, which the generator no longer writes"):
        Build.load(directory)
    rewrite_manifest(directory, drop=["certificate"], **{"global": {**entry, "outputs": {}}})
    with pytest.raises(DeployError, match="missing or malformed entry 'global.outputs'"):
        Build.load(directory)
    rewrite_manifest(directory, **{"global": {**entry, "outputs": {"WebAclArn": "WebAcl"}}})
    with pytest.raises(DeployError, match="'global' fills root parameter\\(s\\) WebAcl, which root.json does not declare"):
        Build.load(directory)
    rewrite_manifest(directory, **{"global": {**entry, "template": "missing.json"}})
    with pytest.raises(DeployError, match="lists missing.json, which is not in"):
        Build.load(directory)


def test_root_parameters_are_the_bucket_and_every_mapped_global_output(tmp_path):
    from infra.deploy.specs import root_parameters
    from stage_fixture import write_stage

    directory = write_stage(tmp_path, global_outputs=GLOBAL)
    build = Build.load(directory)
    from_global = {"CertificateArn": "arn:cert", "EdgeWebAclArn": "arn:acl"}
    assert root_parameters(build, "b", from_global) == {"AssetBucket": "b", **from_global}
    with pytest.raises(DeployError, match="Root parameter EdgeWebAclArn needs an output of the us-east-1 stack shop-dev-global"):
        root_parameters(build, "b", {"CertificateArn": "arn:cert"})
    data = json.loads((directory / "manifest.json").read_text())
    rewrite_manifest(directory, root_parameters={**data["root_parameters"], "DomainName": "d"})
    with pytest.raises(DeployError, match="root parameter 'DomainName' is not one the deployer knows how to supply "
                                          "\\(AssetBucket, CertificateArn, EdgeWebAclArn\\)"):
        root_parameters(Build.load(directory), "b", from_global)
    assert root_parameters(Build.load(write_stage(tmp_path / "plain")), "b", None) == {"AssetBucket": "b"}


def test_the_global_template_goes_inline_and_must_fit(tmp_path):
    from infra.deploy.specs import TEMPLATE_BODY_LIMIT, global_spec
    from stage_fixture import write_stage

    build = Build.load(write_stage(tmp_path, global_outputs=GLOBAL))
    spec = global_spec(build)
    assert spec.name == "shop-dev-global" and spec.template_url is None
    assert json.loads(spec.template_body or "") == spec.template and spec.parameters == {}
    build.global_stack.template.write_text(json.dumps({"Description": "x" * TEMPLATE_BODY_LIMIT}))
    with pytest.raises(DeployError, match="the template of the us-east-1 stack shop-dev-global .* too large to send inline"):
        global_spec(build)


# -- sessions and errors ----------------------------------------------------------------------------
def test_clients_use_adaptive_retries(aws_env):
    aws = Aws(Target(region="eu-west-1"))
    config = aws.client("cloudformation").meta.config
    assert config.retries["mode"] == "adaptive" and config.retries["total_max_attempts"] == 10
    assert Aws(Target(region="eu-west-1", endpoint_url="http://127.0.0.1:1")).client("s3").meta.endpoint_url == "http://127.0.0.1:1"


def test_the_first_call_gives_up_within_seconds_on_an_endpoint_that_never_answers(aws_env):
    """STS GetCallerIdentity answers at once; 10 attempts of 60 s each were minutes of silence."""
    config = Aws(Target(region="eu-west-1")).client("sts", quick=True).meta.config
    assert config.retries["total_max_attempts"] == 2 and config.read_timeout == 10 and config.connect_timeout == 5
    assert Aws(Target(region="eu-west-1")).client("sts").meta.config.read_timeout == 60   # the other calls


def test_unknown_region_is_one_sentence_with_a_suggestion():
    with pytest.raises(UsageError, match=r"Unknown AWS region 'us-est-1'\. Did you mean .*us-east-1"):
        check_region(boto3.Session(), "us-est-1")
    assert check_region(boto3.Session(), "eu-central-2") == "eu-central-2"


def test_unknown_profile_is_one_sentence(aws_env):
    with pytest.raises(UsageError, match="AWS profile 'nope' is not configured"):
        Aws(Target(profile="nope", region="us-east-1"))


def client_error(code, message="m"):
    return ClientError({"Error": {"Code": code, "Message": message}}, "CreateChangeSet")


@pytest.mark.parametrize("exc, expected", [
    (NoCredentialsError(), "No usable AWS credentials while deploying x"),
    (client_error("Throttling", "Rate exceeded"), "kept throttling the requests while deploying x, even after adaptive retries"),
    (client_error("ExpiredToken", "The security token included in the request is expired"), "rejected the credentials"),
    (client_error("AccessDenied", "not authorized to perform: cloudformation:CreateChangeSet"), "Access denied while deploying x"),
    (client_error("NoSuchBucket", "The specified bucket does not exist"), "bucket does not exist"),
    (client_error("ValidationError", "Template format error"), "AWS refused deploying x: ValidationError: Template format error."),
])
def test_aws_errors_become_one_sentence(exc, expected):
    text = str(explain(exc, "deploying x"))
    assert expected in text and "\n" not in text and "Traceback" not in text


def test_an_emulators_foreign_error_body_is_read():
    body = b'{"__type": "com.amazonaws.dynamodb.v20120810#ResourceInUseException", "message": "Table already exists: t"}'
    exc = ResponseParserError(f"Unable to parse response (not well-formed), invalid XML received. Further retries may succeed:\n{body!r}")
    assert unparseable_body_message(str(exc)) == "ResourceInUseException: Table already exists: t"
    assert "Table already exists: t" in str(explain(exc, "x"))


# -- command line -------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, seconds", [("90s", 90), ("15m", 900), ("1h", 3600), ("1h30m", 5400), ("20", 1200), ("0.5", 30)])
def test_durations(text, seconds):
    assert Duration().convert(text, None, None) == seconds


@pytest.mark.parametrize("text", ["soon", "", "-5", "0"])
def test_bad_durations_are_usage_errors(text):
    with pytest.raises(click.BadParameter):
        Duration().convert(text, None, None)


def test_every_aws_command_takes_the_target_options():
    names = {c.name: {p.name for p in c.params} for c in COMMANDS}
    assert set(names) == {"package", "diff", "deploy", "destroy", "outputs", "drift", "preflight", "recover"}
    for params in names.values():
        assert {"config", "out", "region", "profile", "endpoint_url"} <= params
    assert {"bucket", "yes", "require_approval", "allow_removal", "recreate_failed", "timeout", "outputs_file",
            "force", "skip_checks", "import_retained"} <= names["deploy"]


def test_importing_the_commands_does_not_import_boto3_or_rich():
    code = ("import sys; import infra.deploy.commands; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 'rich')]; "
            "assert not bad, bad")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PYTHONPATH": "src", "PATH": "/usr/bin:/bin"}, cwd=str(__import__("pathlib").Path(__file__).parents[2]))
    assert run.returncode == 0, run.stderr


def test_the_us_east_1_stack_says_what_it_holds():
    from pathlib import Path

    from infra.deploy.manifest import GlobalStack

    both = GlobalStack(Path("global.json"), "tap-prod-global", "us-east-1",
                       {"CertificateArn": "CertificateArn", "EdgeWebAclArn": "EdgeWebAclArn"})
    assert both.label == "the us-east-1 stack tap-prod-global (certificate and CloudFront web ACL)"
    acl_only = GlobalStack(Path("global.json"), "tap-dev-global", "us-east-1", {"EdgeWebAclArn": "EdgeWebAclArn"})
    assert acl_only.purpose == "CloudFront web ACL"
