"""The deploy plan is pure: made from the build, the stage's state and the options, with no AWS call.

Also the registries the plan relies on: resource-type facts (one table) and preflight checks (one
function each; the CLI's choices come from the registry).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.deploy import checks
from infra.deploy.bootstrap import logs_api_gateway
from infra.deploy.checks import CHECKS, Preflight, Result, check, run_checks
from infra.deploy.importing import Candidate, Found, Imports, candidates
from infra.deploy.manifest import Build
from infra.deploy.planner import API_LOGGING_ROLE, ARTIFACT_BUCKET, PlanOptions, plan_deploy
from infra.deploy.retained import FINDERS
from infra.deploy.stack_state import StackInfo
from infra.deploy.state import BootstrapState, StageState
from infra.deploy.steps import Bootstrap, DeployGlobal, ImportRoot, ImportStack, Package, Protect, ReplanRoot
from infra.resource_types import KEEPS_RESOURCE, KEEPS_SNAPSHOT, TYPES, facts, importable_types, retained_types, stateful_types
from recorded import ACCOUNT, ROOT_ID, T0
from stage_fixture import write_stage
from support.shipped import SHIPPED
from test_operations_stubbed import StubbedAws

READY = BootstrapState(exists=True, current=True, bucket="artifacts", status="UPDATE_COMPLETE")
DEPLOYED = StackInfo("shop-dev", ROOT_ID, "UPDATE_COMPLETE")


def kinds(plan) -> list[str]:
    return [type(s).__name__ for s in plan]


def with_api_stage(directory: Path) -> Path:
    """The fixture stage plus a REST API stage that writes access logs."""
    compute = json.loads((directory / "compute.json").read_text())
    compute["Resources"]["Stage"] = {"Type": "AWS::ApiGateway::Stage", "Properties": {
        "RestApiId": "abc", "StageName": "dev", "AccessLogSetting": {"DestinationArn": "arn:logs", "Format": "{}"}}}
    (directory / "compute.json").write_text(json.dumps(compute))
    return directory


def test_a_new_stage_in_a_fresh_region(tmp_path):
    build = Build.load(write_stage(tmp_path))
    plan = plan_deploy(build, StageState(region="us-east-1"), PlanOptions())
    assert kinds(plan) == ["Bootstrap", "Package", "DeployRoot", "Outputs"]
    bootstrap, package = plan.of(Bootstrap)[0], plan.of(Package)[0]
    assert bootstrap.create and bootstrap.needs == (ARTIFACT_BUCKET,)
    assert not package.before_approval          # the bucket does not exist yet: uploaded after the approval
    assert plan.lines()[0] == " 1. create the bootstrap stack serverless-infra-artifacts in us-east-1 (artifact bucket)"


def test_a_deployed_stage_uploads_before_the_approval_and_needs_no_bootstrap(tmp_path):
    build = Build.load(write_stage(tmp_path))
    plan = plan_deploy(build, StageState(region="us-east-1", root=DEPLOYED, bootstrap=READY, bucket="artifacts"),
                       PlanOptions())
    assert kinds(plan) == ["Package", "DeployRoot", "Outputs"]
    assert plan.of(Package)[0].before_approval


def test_the_bootstrap_stack_is_needed_for_api_gateways_role_even_with_a_bucket(tmp_path):
    plain = Build.load(write_stage(tmp_path / "a"))
    assert "Bootstrap" not in kinds(plan_deploy(plain, StageState(region="us-east-1", bucket="mine"),
                                                PlanOptions(bucket="mine")))
    api = Build.load(with_api_stage(write_stage(tmp_path / "b")))
    plan = plan_deploy(api, StageState(region="us-east-1", bucket="mine"), PlanOptions(bucket="mine"))
    assert plan.of(Bootstrap)[0].needs == (API_LOGGING_ROLE,)
    outdated = BootstrapState(exists=True, current=False, bucket="artifacts")
    update = plan_deploy(api, StageState(region="us-east-1", bootstrap=outdated, bucket="artifacts"), PlanOptions())
    assert not update.of(Bootstrap)[0].create and update.of(Bootstrap)[0].needs == (ARTIFACT_BUCKET, API_LOGGING_ROLE)


def test_logging_stages_need_the_role_and_silent_ones_do_not():
    stage = {"Type": "AWS::ApiGateway::Stage", "Properties": {"MethodSettings": [{"LoggingLevel": "OFF"}]}}
    assert not logs_api_gateway([{"Resources": {"S": stage}}])
    stage["Properties"]["MethodSettings"][0]["LoggingLevel"] = "ERROR"
    assert logs_api_gateway([{"Resources": {"S": stage}}])


def test_production_and_a_global_stack(tmp_path):
    build = Build.load(write_stage(tmp_path, production=True, global_outputs={"CertificateArn": ("CertificateArn", "x")}))
    plan = plan_deploy(build, StageState(region="us-east-1", bucket="b", bootstrap=READY), PlanOptions())
    assert kinds(plan) == ["Package", "DeployGlobal", "ReplanRoot", "DeployRoot", "Protect", "Outputs"]
    assert plan.of(DeployGlobal)[0].region == "us-east-1" and plan.of(ReplanRoot)[0].after == ("global-outputs",)
    assert plan.of(Protect)[0].stack_name == "shop-dev"
    assert plan.notes == ("shop-dev-global does not have the outputs for CertificateArn yet: the root plan uses a "
                          "placeholder for them until it is deployed.",)


def test_retained_resources_become_import_steps_before_the_deploy(tmp_path):
    build = Build.load(write_stage(tmp_path, production=True))
    table = Found(Candidate("shop-dev/Data", "Data", "ItemsTable", "AWS::DynamoDB::Table", "shop-dev-items"),
                  {"TableName": "shop-dev-items"})
    state = StageState(region="us-east-1", imports=Imports(found=[table]), tags={"Project": "shop"})
    plan = plan_deploy(build, state, PlanOptions())
    assert kinds(plan) == ["Bootstrap", "ImportStack", "ImportRoot", "Package", "DeployRoot", "Protect", "Outputs"]
    child, root = plan.of(ImportStack)[0], plan.of(ImportRoot)[0]
    assert (child.stack_name, child.child, child.found) == ("shop-dev-Data", "Data", (table,))
    assert list(child.template["Resources"]) == ["ItemsTable"]          # only what is imported
    assert root.children == ("Data",) and root.found == ()
    assert table.to_import() == {"ResourceType": "AWS::DynamoDB::Table", "LogicalResourceId": "ItemsTable",
                                 "ResourceIdentifier": {"TableName": "shop-dev-items"}}


def test_planning_calls_no_aws(tmp_path):
    aws = StubbedAws()                                  # any call would fail: nothing is stubbed
    build = Build.load(write_stage(tmp_path))
    plan_deploy(build, StageState(region="us-east-1"), PlanOptions())
    aws.assert_done()


# -- the resource-type facts ---------------------------------------------------------------------------
def test_every_type_the_generator_retains_is_in_the_table_and_can_be_imported_back(out_dir):
    retained_here = set()
    for config in SHIPPED:
        for template in (out_dir / config.stem).glob("*.json"):
            for res in (json.loads(template.read_text()).get("Resources") or {}).values():
                # A Lambda version is retained only so that a release never deletes the one its
                # alias serves; it goes with its function, nothing is left to import.
                if isinstance(res, dict) and res.get("DeletionPolicy") in KEEPS_RESOURCE and \
                        res.get("Type") != "AWS::CloudFormation::Stack" and not facts(res["Type"]).gone_with_parent:
                    retained_here.add(res["Type"])
    assert retained_here and retained_here <= set(retained_types())
    assert set(retained_types()) <= set(importable_types()) == set(FINDERS)
    manifest = json.loads((out_dir / SHIPPED[0].stem / "manifest.json").read_text())
    assert manifest["stateful_types"] == stateful_types()


def test_a_snapshot_keeps_something_but_nothing_to_import():
    assert not KEEPS_SNAPSHOT & KEEPS_RESOURCE
    template = {"Resources": {"T": {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": "Snapshot",
                                    "Properties": {"TableName": "t"}}}}
    assert candidates(template, "s", None, ACCOUNT, "us-east-1") == []
    template["Resources"]["T"]["DeletionPolicy"] = "RetainExceptOnCreate"
    assert [c.name for c in candidates(template, "s", None, ACCOUNT, "us-east-1")] == ["t"]


def test_types_with_a_name_or_found_by_tags():
    for rtype in importable_types():
        facts = TYPES[rtype]
        assert facts.import_identifier, rtype
        assert facts.name_property or rtype in ("AWS::KMS::Key", "AWS::Cognito::UserPool"), rtype


# -- the preflight checks ------------------------------------------------------------------------------
def test_the_cli_offers_exactly_the_registered_checks():
    from infra.deploy.commands import PREFLIGHT_CHECKS, preflight_cmd

    assert PREFLIGHT_CHECKS == tuple(CHECKS)
    option = next(p for p in preflight_cmd.params if p.name == "skip_checks")
    assert list(option.type.choices) == [*CHECKS, "all"]


def test_adding_a_preflight_check_is_one_function(tmp_path, monkeypatch):
    """The whole recipe: register a function; every command runs it, --skip-check skips it."""
    monkeypatch.setattr(checks, "CHECKS", dict(CHECKS))     # keep the real registry as it was

    @check("example", "a check added in one place")
    def example(pf: Preflight) -> Result:
        return Result("example", "ok", f"{len(pf.generated_templates())} templates looked at.")

    build = Build.load(write_stage(tmp_path))
    others = tuple(name for name in checks.CHECKS if name != "example")
    results = run_checks(Preflight(build, StubbedAws(), None), others)
    assert results[-1] == Result("example", "ok", "3 templates looked at.")
    assert run_checks(Preflight(build, StubbedAws(), None), ("all",))[-1].status == "skip"
    with pytest.raises(ValueError, match="registered twice"):
        check("example", "again")(example)


def test_api_gateways_logging_role_is_checked_against_the_plan(tmp_path):
    build = Build.load(with_api_stage(write_stage(tmp_path)))
    others = tuple(name for name in CHECKS if name != "api-logging-role")
    fresh = plan_deploy(build, StageState(region="us-east-1"), PlanOptions())

    # A fresh region: nothing set yet, and this deploy's bootstrap stack sets it.
    aws = StubbedAws()
    aws.stub("apigateway").add_response("get_account", {}, {})
    [result] = [r for r in run_checks(Preflight(build, aws, None, fresh), others) if r.check == "api-logging-role"]
    aws.assert_done()
    assert result.status == "ok" and result.message.endswith("this deploy's bootstrap stack sets it.")

    # The bootstrap stack is there (so the plan does not touch it), and the account points at a deleted role.
    settled = plan_deploy(build, StageState(region="us-east-1", bootstrap=READY, bucket="artifacts"), PlanOptions())
    role = f"arn:aws:iam::{ACCOUNT}:role/serverless-infra-artifacts-ApiGatewayCloudWatchRole-X"
    aws = StubbedAws()
    aws.stub("apigateway").add_response("get_account", {"cloudwatchRoleArn": f"arn:aws:iam::{ACCOUNT}:role/gone"}, {})
    aws.stub("iam").add_client_error("get_role", "NoSuchEntity", "The role with name gone cannot be found.",
                                     expected_params={"RoleName": "gone"})
    aws.stub("cloudformation").add_response("describe_stacks", {"Stacks": [{
        "StackName": "serverless-infra-artifacts", "StackId": "arn:aws:cloudformation:us-east-1:1:stack/s/1",
        "CreationTime": T0, "StackStatus": "UPDATE_COMPLETE",
        "Outputs": [{"OutputKey": "ApiGatewayCloudWatchRoleArn", "OutputValue": role}]}]},
        {"StackName": "serverless-infra-artifacts"})
    [result] = [r for r in run_checks(Preflight(build, aws, None, settled), others) if r.check == "api-logging-role"]
    aws.assert_done()
    assert result.status == "FAIL"
    assert f"point at the role arn:aws:iam::{ACCOUNT}:role/gone, which no longer exists" in result.message
    assert f"op=replace,path=/cloudwatchRoleArn,value={role}" in result.message
