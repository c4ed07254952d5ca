"""drift, preflight and import on recorded AWS answers (botocore Stubber).

moto has no drift detection API, no AWS Config-aware or CodeConnections preflight answers, no
Lambda account settings and no CloudFormation tags on retained KMS keys; these tests hold the
API-shaped parts to AWS's request and response shapes instead (Stubber validates every request
against the service model).
"""
from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from infra.deploy import importing, retained
from infra.deploy.drift import detect_tree, run_drift, show
from infra.deploy.manifest import Build
from infra.deploy.checks import Preflight, run_checks
from recorded import ACCOUNT, DATA_ID, ROOT_ID, STACK, T0, quiet_ui
from stage_fixture import write_stage

CFN_LOGICAL, CFN_STACK = retained.CFN_LOGICAL_TAG, retained.CFN_STACK_TAG


class StubbedAws:
    """What the deploy code needs from `Aws`, with one stubbed client per service and region."""

    endpoint_url = None
    partition_suffix = "amazonaws.com"

    def __init__(self, region: str = "us-east-1", shared: dict | None = None):
        self.region = region
        self.unsupported: set[str] = set()
        self._shared = shared if shared is not None else {}

    def _pair(self, service: str):
        key = (service, self.region)
        if key not in self._shared:
            client = boto3.client(service, region_name=self.region, aws_access_key_id="x",
                                  aws_secret_access_key="x", aws_session_token="x")
            stub = Stubber(client)
            stub.activate()
            self._shared[key] = (client, stub)
        return self._shared[key]

    def client(self, service: str):
        return self._pair(service)[0]

    def stub(self, service: str) -> Stubber:
        return self._pair(service)[1]

    def in_region(self, region: str) -> "StubbedAws":
        return self if region == self.region else StubbedAws(region, self._shared)

    def account_id(self) -> str:
        return ACCOUNT

    def assert_done(self) -> None:
        for _, stub in self._shared.values():
            stub.assert_no_pending_responses()


def missing_stack(stub: Stubber, name: str) -> None:
    stub.add_client_error("describe_stacks", "ValidationError", f"Stack with id {name} does not exist",
                          expected_params={"StackName": name})


# -- drift ----------------------------------------------------------------------------------------
def drift_answers(stub: Stubber) -> None:
    stub.add_response("detect_stack_drift", {"StackDriftDetectionId": "d-root"}, {"StackName": ROOT_ID})
    stub.add_response("detect_stack_drift", {"StackDriftDetectionId": "d-data"}, {"StackName": DATA_ID})
    status = {"StackId": ROOT_ID, "StackDriftDetectionId": "d-root", "Timestamp": T0}
    stub.add_response("describe_stack_drift_detection_status",
                      {**status, "DetectionStatus": "DETECTION_IN_PROGRESS"}, {"StackDriftDetectionId": "d-root"})
    stub.add_response("describe_stack_drift_detection_status",
                      {**status, "DetectionStatus": "DETECTION_COMPLETE", "StackDriftStatus": "IN_SYNC"},
                      {"StackDriftDetectionId": "d-root"})
    stub.add_response("describe_stack_drift_detection_status",
                      {**status, "StackId": DATA_ID, "StackDriftDetectionId": "d-data",
                       "DetectionStatus": "DETECTION_COMPLETE", "StackDriftStatus": "DRIFTED",
                       "DriftedStackResourceCount": 2}, {"StackDriftDetectionId": "d-data"})
    stub.add_response("describe_stack_resource_drifts", {"StackResourceDrifts": [
        {"StackId": DATA_ID, "LogicalResourceId": "UsersTable", "PhysicalResourceId": "catalog-prod-users",
         "ResourceType": "AWS::DynamoDB::Table", "StackResourceDriftStatus": "MODIFIED", "Timestamp": T0,
         "PropertyDifferences": [
             {"PropertyPath": "/PointInTimeRecoverySpecification/PointInTimeRecoveryEnabled",
              "ExpectedValue": "true", "ActualValue": "false", "DifferenceType": "NOT_EQUAL"},
             {"PropertyPath": "/Tags/1", "ExpectedValue": "", "ActualValue": '{"Key":"Owner","Value":"ops"}',
              "DifferenceType": "ADD"}]},
        {"StackId": DATA_ID, "LogicalResourceId": "Uploads", "PhysicalResourceId": "catalog-prod-uploads",
         "ResourceType": "AWS::S3::Bucket", "StackResourceDriftStatus": "DELETED", "Timestamp": T0},
    ]}, {"StackName": DATA_ID, "StackResourceDriftStatusFilters": ["MODIFIED", "DELETED"]})


def test_drift_is_detected_on_the_root_and_each_nested_stack_with_expected_and_actual_values():
    aws = StubbedAws()
    drift_answers(aws.stub("cloudformation"))
    slept: list[float] = []
    drifts = detect_tree(aws.client("cloudformation"), [(STACK, ROOT_ID), (f"{STACK}/Data", DATA_ID)],
                         sleep=slept.append, clock=lambda: 0.0)
    aws.assert_done()
    assert slept == [1.0]                       # one wait while the root's detection ran
    ui, out, _ = quiet_ui()
    assert show(ui, drifts) is True
    text = out.getvalue()
    assert f"{STACK}: IN_SYNC" in text
    assert f"{STACK}/Data: DRIFTED: 2 resource(s) changed outside CloudFormation" in text
    assert ("PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled: expected true -> actual false "
            "(NOT_EQUAL)") in text
    assert f"DELETED {STACK}/Data > Uploads (AWS::S3::Bucket, catalog-prod-uploads)" in text


def test_the_drift_command_walks_the_whole_tree(tmp_path, monkeypatch):
    import infra.deploy.drift as drift
    from infra.deploy.session import Target
    from infra.deploy.stage import Options

    build = Build.load(write_stage(tmp_path))
    aws = StubbedAws()
    cfn = aws.stub("cloudformation")
    cfn.add_response("describe_stacks", {"Stacks": [{"StackName": "shop-dev", "StackId": ROOT_ID, "CreationTime": T0,
                                                     "StackStatus": "UPDATE_COMPLETE"}]}, {"StackName": "shop-dev"})
    cfn.add_response("list_stack_resources", {"StackResourceSummaries": [
        {"LogicalResourceId": "Data", "PhysicalResourceId": DATA_ID, "ResourceType": "AWS::CloudFormation::Stack",
         "LastUpdatedTimestamp": T0, "ResourceStatus": "UPDATE_COMPLETE"}]}, {"StackName": ROOT_ID})
    cfn.add_response("list_stack_resources", {"StackResourceSummaries": []}, {"StackName": DATA_ID})
    drift_answers(cfn)
    monkeypatch.setattr(drift, "open_stage", lambda opts, ui=None: (build, aws))
    ui, out, _ = quiet_ui()
    drifted = run_drift(Options(config=Path("c"), out=Path("o"), target=Target()), ui, sleep=lambda s: None)
    aws.assert_done()
    assert drifted and out.getvalue().rstrip().endswith("Drift found.")


def test_a_stack_in_sync_reports_no_drift():
    aws = StubbedAws()
    stub = aws.stub("cloudformation")
    stub.add_response("detect_stack_drift", {"StackDriftDetectionId": "d"}, {"StackName": ROOT_ID})
    stub.add_response("describe_stack_drift_detection_status", {
        "StackId": ROOT_ID, "StackDriftDetectionId": "d", "Timestamp": T0, "DetectionStatus": "DETECTION_FAILED",
        "DetectionStatusReason": "Failed to detect drift on resource [Custom]", "StackDriftStatus": "IN_SYNC"},
        {"StackDriftDetectionId": "d"})
    drifts = detect_tree(aws.client("cloudformation"), [(STACK, ROOT_ID)], sleep=lambda s: None, clock=lambda: 0.0)
    ui, out, _ = quiet_ui()
    assert show(ui, drifts) is False
    assert "not every resource could be checked: Failed to detect drift on resource [Custom]" in out.getvalue()


# -- preflight ------------------------------------------------------------------------------------
CERT = f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/11111111-2222-3333-4444-555555555555"
CONNECTION = f"arn:aws:codeconnections:us-east-1:{ACCOUNT}:connection/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"


def preflight_stage(tmp_path) -> Build:
    """The fixture stage plus what the preflight looks for: a zone, a certificate, a Config rule,
    a pipeline on a GitHub connection, and reserved concurrency."""
    directory = write_stage(tmp_path)
    compute = json.loads((directory / "compute.json").read_text())
    compute["Resources"]["Function"]["Properties"]["ReservedConcurrentExecutions"] = 100
    compute["Resources"].update({
        "Record": {"Type": "AWS::Route53::RecordSet", "Properties": {
            "HostedZoneId": "Z0123456789ABC", "Name": "api.example.com", "Type": "A",
            "AliasTarget": {"DNSName": "d.cloudfront.net", "HostedZoneId": "Z2FDTNDATAQYW2"}}},
        "Cdn": {"Type": "AWS::CloudFront::Distribution", "Properties": {"DistributionConfig": {
            "Enabled": True, "ViewerCertificate": {"AcmCertificateArn": CERT, "SslSupportMethod": "sni-only"}}}},
        "Rule": {"Type": "AWS::Config::ConfigRule", "Properties": {"Source": {
            "Owner": "AWS", "SourceIdentifier": "LAMBDA_FUNCTION_SETTINGS_CHECK"}}},
        "Pipeline": {"Type": "AWS::CodePipeline::Pipeline", "Properties": {"Stages": [{"Name": "Source", "Actions": [
            {"Name": "GitHub", "Configuration": {"ConnectionArn": CONNECTION, "FullRepositoryId": "o/r"}}]}]}},
    })
    (directory / "compute.json").write_text(json.dumps(compute))
    return Build.load(directory)


def no_root(aws: StubbedAws) -> None:
    missing_stack(aws.stub("cloudformation"), "shop-dev")


def test_every_preflight_check_fails_clearly_when_the_account_is_not_ready(tmp_path):
    build = preflight_stage(tmp_path)
    aws = StubbedAws()
    no_root(aws)
    ddb, s3 = aws.stub("dynamodb"), aws.stub("s3")
    table_arn = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/shop-dev-items"
    ddb.add_response("describe_table", {"Table": {"TableName": "shop-dev-items", "TableArn": table_arn}},
                     {"TableName": "shop-dev-items"})
    ddb.add_response("list_tags_of_resource", {"Tags": [{"Key": "Project", "Value": "billing"}]},
                     {"ResourceArn": table_arn})
    s3.add_client_error("head_bucket", "403", "Forbidden", http_status_code=403,
                        expected_params={"Bucket": "shop-dev-uploads"})
    aws.stub("route53").add_client_error("get_hosted_zone", "NoSuchHostedZone", "No hosted zone found",
                                         expected_params={"Id": "Z0123456789ABC"})
    aws.stub("acm").add_response("describe_certificate", {"Certificate": {"CertificateArn": CERT,
                                                                          "Status": "PENDING_VALIDATION"}},
                                 {"CertificateArn": CERT})
    aws.stub("config").add_response("describe_configuration_recorders", {"ConfigurationRecorders": []}, {})
    aws.stub("codeconnections").add_response("get_connection", {"Connection": {"ConnectionArn": CONNECTION,
                                                                              "ConnectionStatus": "PENDING"}},
                                             {"ConnectionArn": CONNECTION})
    lam = aws.stub("lambda")
    lam.add_response("get_account_settings", {"AccountLimit": {"UnreservedConcurrentExecutions": 150}}, {})
    lam.add_client_error("get_function_concurrency", "ResourceNotFoundException", "Function not found",
                         expected_params={"FunctionName": "shop-dev-items"})
    results = {r.check: r for r in run_checks(Preflight(build, aws, None))}
    aws.assert_done()
    assert {r.status for c, r in results.items() if c not in ("api-logging-role", "table-indexes")} == {"FAIL"}
    assert results["api-logging-role"].status == "skip"       # the fixture stage has no REST API
    assert results["table-indexes"].status == "skip"          # nor a deployed table (see the tests below)
    assert "Table shop-dev-items (shop-dev/Data > ItemsTable) is taken: it does not carry this stage's" in results["names"].message
    assert "Bucket shop-dev-uploads (shop-dev/Data > UploadsBucket) is taken: the name is taken by a bucket of another account" \
        in results["names"].message
    assert results["hosted-zone"].message.startswith("hosted zone(s) Z0123456789ABC do not exist")   # not CloudFront's
    assert f"{CERT} is PENDING_VALIDATION, not ISSUED" in results["certificate"].message
    assert "need an AWS Config configuration recorder in us-east-1" in results["config-recorder"].message
    assert f"{CONNECTION} is PENDING: approve it in the console" in results["connection"].message
    assert ("reserve 100 concurrent executions (0 reserved now), which leaves 50 unreserved; Lambda keeps at least 100"
            in results["concurrency"].message)
    ui, out, _ = quiet_ui()
    from infra.deploy.checks import failure, report

    failed = report(ui, list(results.values()))
    assert len(out.getvalue().splitlines()) == 9          # a heading and one line per check
    assert str(failure(failed, deploying=True)).startswith("Preflight: 6 check(s) failed (names, hosted-zone, ")


def test_preflight_passes_when_the_account_is_ready_and_every_check_can_be_skipped(tmp_path):
    build = preflight_stage(tmp_path)
    aws = StubbedAws()
    no_root(aws)
    aws.stub("dynamodb").add_client_error("describe_table", "ResourceNotFoundException", "not found")
    aws.stub("s3").add_client_error("head_bucket", "404", "Not Found", http_status_code=404)
    aws.stub("route53").add_response("get_hosted_zone", {"HostedZone": {
        "Id": "/hostedzone/Z0123456789ABC", "Name": "example.com.", "CallerReference": "r"}}, {"Id": "Z0123456789ABC"})
    aws.stub("acm").add_response("describe_certificate", {"Certificate": {"CertificateArn": CERT, "Status": "ISSUED"}})
    config = aws.stub("config")
    config.add_response("describe_configuration_recorders", {"ConfigurationRecorders": [{"name": "default"}]})
    config.add_response("describe_configuration_recorder_status", {"ConfigurationRecordersStatus": [
        {"name": "default", "recording": True}]})
    aws.stub("codeconnections").add_response("get_connection", {"Connection": {"ConnectionStatus": "AVAILABLE"}})
    lam = aws.stub("lambda")
    lam.add_response("get_account_settings", {"AccountLimit": {"UnreservedConcurrentExecutions": 900}})
    lam.add_response("get_function_concurrency", {"ReservedConcurrentExecutions": 100})
    results = run_checks(Preflight(build, aws, None))
    aws.assert_done()
    assert [(r.check, r.status) for r in results] == [(c, "ok") for c in (
        "names", "hosted-zone", "certificate", "config-recorder", "connection", "concurrency")] + [
        ("api-logging-role", "skip"), ("table-indexes", "skip")]   # no REST API, no deployed table
    assert results[-3].message == "100 reserved, 900 of the account's concurrency stays unreserved."

    again = StubbedAws()
    skipped = run_checks(Preflight(build, again, None), ("all",))
    again.assert_done()                                  # no check called AWS (not even to read the stacks)
    assert {r.status for r in skipped} == {"skip"}
    # The names line up at the longest one shown, two spaces from the message.
    assert skipped[0].line(len("api-logging-role")) == "skip  names             skipped (--skip-check names)."
    assert skipped[-2].line(len("api-logging-role")) == "skip  api-logging-role  skipped (--skip-check api-logging-role)."


def test_a_check_that_cannot_run_warns_instead_of_failing(tmp_path):
    build = preflight_stage(tmp_path)
    aws = StubbedAws()
    no_root(aws)
    aws.stub("lambda").add_client_error("get_account_settings", "AccessDeniedException",
                                        "User is not authorized to perform: lambda:GetAccountSettings")
    [result] = [r for r in run_checks(Preflight(build, aws, None), ("names", "hosted-zone", "certificate", "config-recorder",
                                                               "connection")) if r.check == "concurrency"]
    assert result.status == "warn"
    assert result.message == "could not check: User is not authorized to perform: lambda:GetAccountSettings."


# -- import ---------------------------------------------------------------------------------------
def test_names_resolve_from_literals_and_pseudo_parameters_only():
    sub = {"Fn::Sub": "tap-prod-static-${AWS::AccountId}-${AWS::Region}"}
    assert importing.resolve_name(sub, ACCOUNT, "us-west-2") == f"tap-prod-static-{ACCOUNT}-us-west-2"
    assert importing.resolve_name("tap-prod-data", ACCOUNT, "us-west-2") == "tap-prod-data"
    assert importing.resolve_name({"Fn::Sub": "${Prefix}-data"}, ACCOUNT, "us-west-2") is None
    assert importing.resolve_name({"Ref": "Name"}, ACCOUNT, "us-west-2") is None


def test_an_import_template_keeps_only_what_refers_to_nothing_else():
    table = {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain",
             "DependsOn": "Other", "Condition": "IsProd",
             "Properties": {"TableName": "t", "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                            "SSESpecification": {"SSEEnabled": True, "KMSMasterKeyId": {"Ref": "KeyArn"}},
                            "Tags": [{"Key": "Stack", "Value": {"Ref": "AWS::StackName"}}]}}
    resource, missing = importing.import_resource(table)
    assert missing == []
    assert resource == {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain",
                        "Properties": {"TableName": "t", "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                                       "Tags": [{"Key": "Stack", "Value": {"Ref": "AWS::StackName"}}]}}
    keyed = {**table, "Properties": {**table["Properties"], "KeySchema": {"Ref": "Schema"}}}
    assert importing.import_resource(keyed)[1] == ["KeySchema"]     # required, so this one cannot be imported
    template = importing.import_template({"Parameters": {"KeyArn": {}}, "Outputs": {"X": {}},
                                      "Resources": {"T": table, "Other": {"Type": "AWS::SNS::Topic"}}}, ["T"], "d")
    assert set(template) == {"AWSTemplateFormatVersion", "Description", "Resources"} and list(template["Resources"]) == ["T"]


def test_the_root_imports_each_child_stack_with_its_template_and_tags(tmp_path):
    build = Build.load(write_stage(tmp_path, production=True))
    root = json.loads(build.root_template.read_text())
    root["Resources"]["Data"]["Properties"]["Tags"] = [{"Key": "Project", "Value": "shop"}]
    build.root_template.write_text(json.dumps(root))
    template, to_import = importing.root_import_template(build, {"Data": ("https://b.s3.amazonaws.com/t.json", DATA_ID)}, [])
    assert template["Resources"] == {"Data": {"Type": "AWS::CloudFormation::Stack", "DeletionPolicy": "Retain",
                                              "Properties": {"TemplateURL": "https://b.s3.amazonaws.com/t.json",
                                                             "Tags": [{"Key": "Project", "Value": "shop"}]}}}
    assert to_import == [{"ResourceType": "AWS::CloudFormation::Stack", "LogicalResourceId": "Data",
                          "ResourceIdentifier": {"StackId": DATA_ID}}]
    # The request CloudFormation gets is valid for its API (Stubber checks it against the model).
    from infra.deploy import changeset

    aws = StubbedAws()
    stub = aws.stub("cloudformation")
    cs = ROOT_ID.replace(":stack/", ":changeSet/")
    stub.add_response("create_change_set", {"Id": cs, "StackId": ROOT_ID}, {
        "StackName": "shop-dev", "ChangeSetName": "serverless-infra-import", "ChangeSetType": "IMPORT",
        "Parameters": [], "Tags": [], "Capabilities": changeset.CAPABILITIES, "Description": "import of shop-dev by serverless-infra",
        "TemplateURL": "https://b/t.json", "ResourcesToImport": to_import})
    stub.add_response("describe_change_set", {"Status": "CREATE_COMPLETE", "Changes": [
        {"Type": "Resource", "ResourceChange": {"Action": "Import", "LogicalResourceId": "Data",
                                                "ResourceType": "AWS::CloudFormation::Stack"}}]})
    made = changeset.create(aws.client("cloudformation"), stack="shop-dev", kind="IMPORT", name="serverless-infra-import",
                            parameters={}, tags={}, template_url="https://b/t.json", resources_to_import=to_import)
    aws.assert_done()
    assert made.changes[0]["ResourceChange"]["Action"] == "Import"


def key_tags(logical: str, stack: str) -> dict:
    return {"Tags": [{"TagKey": "aws:cloudformation:logical-id", "TagValue": logical},
                     {"TagKey": "aws:cloudformation:stack-name", "TagValue": stack},
                     {"TagKey": "Project", "TagValue": "catalog"}]}


def test_a_retained_key_is_found_by_the_tags_cloudformation_left_on_it():
    from datetime import timedelta

    aws = StubbedAws()
    kms = aws.stub("kms")
    kms.add_response("list_keys", {"Keys": [{"KeyId": k} for k in ("aws-managed", "other", "old", "new")]})
    kms.add_client_error("list_resource_tags", "AccessDeniedException", "not yours", expected_params={"KeyId": "aws-managed"})
    kms.add_response("list_resource_tags", key_tags("Key", "billing-prod-Security-X"), {"KeyId": "other"})
    kms.add_response("list_resource_tags", key_tags("Key", f"{STACK}-Security-OLD1"), {"KeyId": "old"})
    kms.add_response("describe_key", {"KeyMetadata": {"KeyId": "old", "KeyState": "Enabled", "CreationDate": T0}},
                     {"KeyId": "old"})
    kms.add_response("list_resource_tags", key_tags("Key", f"{STACK}-Security-NEW2"), {"KeyId": "new"})
    kms.add_response("describe_key", {"KeyMetadata": {"KeyId": "new", "KeyState": "Enabled",
                                                      "CreationDate": T0 + timedelta(days=30)}}, {"KeyId": "new"})
    ctx = retained.Context(aws, (STACK,), {"Project": "catalog", "Environment": "prod"})
    found = retained.find_key(ctx, importing.Candidate(f"{STACK}/Security", "Security", "Key", "AWS::KMS::Key", ""))
    aws.assert_done()
    assert found == ({"KeyId": "new"}, None)      # the newest of this stage's, never another stack's


def test_a_secret_scheduled_for_deletion_is_not_imported_and_says_how_to_restore_it():
    aws = StubbedAws()
    arn = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:tap-prod-app-secrets-AbCdEf"
    aws.stub("secretsmanager").add_response("describe_secret", {"ARN": arn, "Name": "tap-prod-app-secrets",
                                                                "DeletedDate": T0}, {"SecretId": "tap-prod-app-secrets"})
    ctx = retained.Context(aws, ("tap-prod",), {"Project": "tap", "Environment": "prod"})
    identifier, problem = retained.find_secret(ctx, importing.Candidate("tap-prod/Security", "Security", "AppSecret",
                                                                "AWS::SecretsManager::Secret", "tap-prod-app-secrets"))
    assert identifier == {"Id": arn} and "restore-secret" in problem


@pytest.mark.parametrize("tags, owner", [
    ({"aws:cloudformation:stack-name": "catalog-prod-Data-1AB"}, None),
    ({"aws:cloudformation:stack-name": "catalog-prod"}, None),
    ({"aws:cloudformation:stack-name": "catalog-prodx-Data-1AB"}, "it belongs to the stack catalog-prodx-Data-1AB"),
    ({"Project": "catalog", "Environment": "prod"}, None),
    ({"Project": "catalog", "Environment": "dev"}, "it does not carry this stage's Project and Environment tags"),
    ({}, "it does not carry this stage's Project and Environment tags"),
])
def test_only_this_stages_resources_are_adopted(tags, owner):
    ctx = retained.Context(StubbedAws(), ("catalog-prod",), {"Project": "catalog", "Environment": "prod", "ManagedBy": "x"})
    assert ctx.owner(tags) == owner


def test_a_retained_user_pool_is_found_by_the_tags_cloudformation_left_on_it():
    aws = StubbedAws()
    idp = aws.stub("cognito-idp")
    idp.add_response("list_user_pools", {"UserPools": [{"Id": "us-east-1_other"}, {"Id": "us-east-1_ours"}]},
                     {"MaxResults": 60})
    idp.add_response("describe_user_pool", {"UserPool": {"Id": "us-east-1_other", "CreationDate": T0, "UserPoolTags": {
        CFN_LOGICAL: "UserPool", CFN_STACK: "shop-prod-Security-AB"}}}, {"UserPoolId": "us-east-1_other"})
    idp.add_response("describe_user_pool", {"UserPool": {"Id": "us-east-1_ours", "CreationDate": T0, "UserPoolTags": {
        CFN_LOGICAL: "UserPool", CFN_STACK: "tap-prod-Security-1X2Y"}}}, {"UserPoolId": "us-east-1_ours"})
    ctx = retained.Context(aws, ("tap-prod",), {"Project": "tap", "Environment": "prod"})
    found = retained.find_user_pool(ctx, importing.Candidate("tap-prod/Security", "Security", "UserPool",
                                                      "AWS::Cognito::UserPool", ""))
    aws.assert_done()
    assert found == ({"UserPoolId": "us-east-1_ours"}, None)


def test_a_retained_queue_is_found_by_name_and_owned_by_its_tags():
    aws = StubbedAws()
    sqs = aws.stub("sqs")
    url = f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/tap-prod-failed-invocations"
    sqs.add_response("get_queue_url", {"QueueUrl": url}, {"QueueName": "tap-prod-failed-invocations"})
    sqs.add_response("list_queue_tags", {"Tags": {"Project": "tap", "Environment": "prod"}}, {"QueueUrl": url})
    ctx = retained.Context(aws, ("tap-prod",), {"Project": "tap", "Environment": "prod"})
    found = retained.find_queue(ctx, importing.Candidate("tap-prod/Security", "Security", "Queue", "AWS::SQS::Queue",
                                                  "tap-prod-failed-invocations"))
    aws.assert_done()
    assert found == ({"QueueUrl": url}, None)
