"""Moving a bundle to another nested stack without replacing it: a changed `group` becomes a stack
refactor (CreateStackRefactor with ResourceMappings, wait, ExecuteStackRefactor, wait), planned,
shown as moves, and the lock file records the new stack only after the refactor succeeded.

CloudFormation's stack refactoring is not in moto: the API-facing part runs on recorded answers
(botocore Stubber checks every request against the service model).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.deploy import executor
from infra.deploy.execution import Run
from infra.deploy.manifest import Build
from infra.deploy.moves import mark_moves, pending, plan_refactor
from infra.deploy.planner import PlanOptions, plan_deploy
from infra.deploy.resource_diff import Row
from infra.deploy.stack_state import StackInfo
from infra.deploy.stage import Options, Stage
from infra.deploy.state import BootstrapState, DeployedChild, StageState
from infra.deploy.steps import DeployPlan, RecordPlacement, Refactor, ReplanRoot
from infra.errors import ConfigError, DeployError
from infra.placement import Cost, place, read_lock, render_lock
from recorded import ACCOUNT, ROOT_ID, quiet_ui
from test_operations_stubbed import StubbedAws

STACK = "shop-dev"
COMPUTE_ID = f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/{STACK}-Compute-AAA/1"
BILLING_ID = f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/{STACK}-ComputeBilling-BBB/2"
REFACTOR_ID = "9c384f70-4e07-4ed7-a65d-fee5eb430841"


def function(name: str) -> dict[str, dict]:
    """A function bundle: role, function, log group; they refer to each other and to a parameter."""
    cap = name.capitalize()
    return {
        f"{cap}Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {}}},
        f"{cap}Function": {"Type": "AWS::Lambda::Function", "Properties": {
            "FunctionName": f"{STACK}-{name}", "Role": {"Fn::GetAtt": [f"{cap}Role", "Arn"]},
            "Environment": {"Variables": {"KEY": {"Ref": "KeyArn"}}}}},
        f"{cap}LogGroup": {"Type": "AWS::Logs::LogGroup", "DeletionPolicy": "Delete",
                           "Properties": {"LogGroupName": {"Fn::Sub": f"/aws/lambda/${{{cap}Function}}"}}},
    }


def compute(*names: str) -> dict:
    resources: dict = {}
    outputs: dict = {}
    for name in names:
        resources.update(function(name))
        outputs[f"{name.capitalize()}FunctionArn"] = {"Value": {"Fn::GetAtt": [f"{name.capitalize()}Function", "Arn"]}}
    return {"Parameters": {"KeyArn": {"Type": "String"}}, "Resources": resources, "Outputs": outputs}


@pytest.fixture
def moved(tmp_path) -> tuple[Build, StageState, Path]:
    """`users` was placed in compute, `billing` in compute-billing; the config now gives `users` the
    group billing. Placement (the real one) moves it in the templates and keeps the lock as deployed."""
    config = tmp_path / "shop.toml"
    config.write_text("# stands in for the config\n")
    lock_file = tmp_path / "shop.lock.json"
    lock_file.write_bytes(render_lock({"functions.users": "compute", "functions.orders": "compute",
                                       "functions.billing": "compute-billing"}))
    costs = {k: Cost(3, 1, frozenset({"KeyArn"})) for k in ("functions.users", "functions.orders", "functions.billing")}
    placement = place(str(config), costs, {"functions.users": "billing", "functions.billing": "billing"},
                      read_lock(lock_file))
    assert placement.moves == {"functions.users": ("compute", "compute-billing")}
    lock_file.write_bytes(render_lock(placement))                # what `templates` writes: the lock is unchanged
    assert read_lock(lock_file)["functions.users"] == "compute"

    out = tmp_path / "out"
    out.mkdir()
    root = {"Parameters": {"AssetBucket": {"Type": "String"}}, "Resources": {
        "Compute": {"Type": "AWS::CloudFormation::Stack", "Properties": {"TemplateURL": "compute.json"}},
        "ComputeBilling": {"Type": "AWS::CloudFormation::Stack", "Properties": {"TemplateURL": "compute-billing.json"}}}}
    files = {"root.json": root, "compute.json": compute("orders"), "compute-billing.json": compute("billing", "users")}
    for name, body in files.items():
        (out / name).write_text(json.dumps(body))
    manifest = {"config": str(config), "name": "shop", "stack_name": STACK, "region": "us-east-1",
                "production": False, "root_template": "root.json",
                "templates": {"Compute": "compute.json", "ComputeBilling": "compute-billing.json"},
                "placement": dict(placement), "assets": [], "root_parameters": {"AssetBucket": "bucket"},
                "global": None, "tags": {"Project": "shop", "Environment": "dev"}}
    (out / "manifest.json").write_text(json.dumps(manifest))
    build = Build.load(out)
    state = StageState(region="us-east-1", root=StackInfo(STACK, ROOT_ID, "UPDATE_COMPLETE"),
                       bootstrap=BootstrapState(exists=True, current=True, bucket="artifacts"), bucket="artifacts",
                       lock_file=lock_file, lock=read_lock(lock_file), children={
                           "Compute": DeployedChild("Compute", COMPUTE_ID, compute("users", "orders")),
                           "ComputeBilling": DeployedChild("ComputeBilling", BILLING_ID, compute("billing"))})
    return build, state, lock_file


def test_a_group_change_is_planned_as_a_refactor_that_only_moves(moved):
    build, state, lock_file = moved
    assert pending(build, state.lock) == {"functions.users": ("compute", "compute-billing")}
    plan = plan_deploy(build, state, PlanOptions(config="shop.toml"))
    kinds = [type(s).__name__ for s in plan]
    assert kinds == ["Package", "Refactor", "RecordPlacement", "ReplanRoot", "DeployRoot", "Outputs"]
    [refactor] = plan.of(Refactor)
    assert {(m.logical_id, m.source, m.destination) for m in refactor.moves} == {
        (lid, "Compute", "ComputeBilling") for lid in ("UsersRole", "UsersFunction", "UsersLogGroup")}
    # The templates of the refactor are the deployed ones with only the moved resources (and the output
    # reading only them) carried over: a refactor may change nothing else.
    source, destination = refactor.stacks
    assert (source.child, destination.child) == ("Compute", "ComputeBilling")
    assert source.template == compute("orders") and destination.template == compute("billing", "users")
    assert (source.stack_name, destination.stack_name) == (f"{STACK}-Compute-AAA", f"{STACK}-ComputeBilling-BBB")
    assert plan.of(RecordPlacement)[0].entries == (("functions.users", "compute-billing"),)
    assert plan.of(ReplanRoot)[0].after == ("refactor",)
    assert "move UsersFunction (AWS::Lambda::Function) from Compute to ComputeBilling" in "\n".join(plan.lines())
    # A change set made before the refactor deletes them in one stack and adds them in the other: shown as moves.
    rows = [Row(f"{STACK}/Compute", "Remove", "UsersFunction", "AWS::Lambda::Function"),
            Row(f"{STACK}/ComputeBilling", "Add", "UsersFunction", "AWS::Lambda::Function"),
            Row(f"{STACK}/Compute", "Modify", "OrdersFunction", "AWS::Lambda::Function", "False")]
    shown = mark_moves(rows, refactor, STACK)
    assert [(r.stack, r.action, r.logical_id) for r in shown if r.logical_id == "UsersFunction"] == [
        (f"{STACK}/ComputeBilling", "Move", "UsersFunction")]
    assert {r.logical_id for r in shown if r.action == "Move"} == {"UsersRole", "UsersFunction", "UsersLogGroup"}
    assert read_lock(lock_file)["functions.users"] == "compute"        # planning writes nothing


def refactor_run(build: Build, state: StageState, steps: tuple) -> tuple[Run, StubbedAws]:
    aws = StubbedAws()
    ui, _, _ = quiet_ui()
    ui.assume_yes = True
    stage = Stage(build, aws, Options(config=Path("shop.toml"), out=Path("out"), bucket="artifacts"), state)
    return Run(stage, ui, DeployPlan(STACK, "us-east-1", steps)), aws


def expect_create(stub, refactor: Refactor) -> None:
    stub.add_response("create_stack_refactor", {"StackRefactorId": REFACTOR_ID}, {
        "Description": "serverless-infra: move 3 resource(s) between nested stacks", "EnableStackCreation": False,
        "ResourceMappings": [
            {"Source": {"StackName": f"{STACK}-Compute-AAA", "LogicalResourceId": m.logical_id},
             "Destination": {"StackName": f"{STACK}-ComputeBilling-BBB", "LogicalResourceId": m.logical_id}}
            for m in refactor.moves],
        "StackDefinitions": [
            {"StackName": s.stack_name, "TemplateBody": json.dumps(s.template, indent=2, sort_keys=True) + "\n"}
            for s in refactor.stacks]})


def test_the_refactor_executes_the_moves_then_the_lock_records_them(moved):
    build, state, lock_file = moved
    plan = plan_deploy(build, state, PlanOptions(config="shop.toml"))
    refactor, record = plan.of(Refactor)[0], plan.of(RecordPlacement)[0]
    run, aws = refactor_run(build, state, (refactor, record))
    stub = aws.stub("cloudformation")
    expect_create(stub, refactor)
    stub.add_response("describe_stack_refactor", {"StackRefactorId": REFACTOR_ID, "Status": "CREATE_COMPLETE",
                                                  "ExecutionStatus": "AVAILABLE"}, {"StackRefactorId": REFACTOR_ID})
    stub.add_response("list_stack_refactor_actions", {"StackRefactorActions": [
        {"Action": "MOVE", "Entity": "RESOURCE", "PhysicalResourceId": f"{STACK}-users",
         "ResourceMapping": {"Source": {"StackName": f"{STACK}-Compute-AAA", "LogicalResourceId": "UsersFunction"},
                             "Destination": {"StackName": f"{STACK}-ComputeBilling-BBB",
                                             "LogicalResourceId": "UsersFunction"}}}]},
                      {"StackRefactorId": REFACTOR_ID})
    stub.add_response("execute_stack_refactor", {}, {"StackRefactorId": REFACTOR_ID})
    stub.add_response("describe_stack_refactor", {"StackRefactorId": REFACTOR_ID, "Status": "CREATE_COMPLETE",
                                                  "ExecutionStatus": "EXECUTE_COMPLETE"}, {"StackRefactorId": REFACTOR_ID})
    executor.execute(run)
    aws.assert_done()
    assert run.refactored == refactor
    locked = read_lock(lock_file)
    assert locked == {"functions.users": "compute-billing", "functions.orders": "compute",
                      "functions.billing": "compute-billing"}


def test_a_refused_refactor_moves_nothing_and_leaves_the_lock_unchanged(moved):
    build, state, lock_file = moved
    before = lock_file.read_bytes()
    plan = plan_deploy(build, state, PlanOptions(config="shop.toml"))
    refactor, record = plan.of(Refactor)[0], plan.of(RecordPlacement)[0]
    run, aws = refactor_run(build, state, (refactor, record))
    stub = aws.stub("cloudformation")
    expect_create(stub, refactor)
    stub.add_response("describe_stack_refactor", {
        "StackRefactorId": REFACTOR_ID, "Status": "CREATE_FAILED",
        "StatusReason": "Resource UsersFunction in the destination stack refers to a parameter with a different value"},
        {"StackRefactorId": REFACTOR_ID})
    stub.add_response("describe_stack_refactor", {
        "StackRefactorId": REFACTOR_ID, "Status": "CREATE_FAILED",
        "StatusReason": "Resource UsersFunction in the destination stack refers to a parameter with a different value"},
        {"StackRefactorId": REFACTOR_ID})
    with pytest.raises(DeployError) as refused:
        executor.execute(run)
    aws.assert_done()                                   # never executed
    text = str(refused.value)
    assert "CloudFormation refused the stack refactor" in text and "different value" in text
    assert "Nothing was moved; the lock file is unchanged." in text
    assert lock_file.read_bytes() == before


def test_what_a_refactor_cannot_do_is_refused_before_asking_cloudformation(moved):
    build, state, _ = moved
    # The destination nested stack is not deployed yet: a refactor would create it standalone, outside the root.
    alone = StageState(**{**state.__dict__, "children": {"Compute": state.children["Compute"]}})
    with pytest.raises(ConfigError, match=r"moves it from Compute to ComputeBilling \(stack compute-billing of the placement\), "
                       "and ComputeBilling is not deployed yet: CloudFormation's stack refactoring"):
        plan_refactor(build, alone, "shop.toml")
    # The destination lacks a parameter the moved resources use: a refactor cannot add parameters.
    bare = {**compute("billing"), "Parameters": {}}
    lacking = StageState(**{**state.__dict__, "children": {
        **state.children, "ComputeBilling": DeployedChild("ComputeBilling", BILLING_ID, bare)}})
    with pytest.raises(ConfigError, match="needs KeyArn, which ComputeBilling does not declare yet"):
        plan_refactor(build, lacking, "shop.toml")
    # The move would empty the source stack (CloudFormation does not support empty stacks).
    only_users = StageState(**{**state.__dict__, "children": {
        **state.children, "Compute": DeployedChild("Compute", COMPUTE_ID, compute("users"))}})
    with pytest.raises(ConfigError, match="leave the nested stack Compute empty"):
        plan_refactor(build, only_users, "shop.toml")


def test_a_stage_created_by_this_deploy_records_its_placement_after_the_deploy(moved):
    build, state, _ = moved
    new = StageState(**{**state.__dict__, "root": None, "children": {}})
    plan = plan_deploy(build, new, PlanOptions(config="shop.toml"))
    kinds = [type(s).__name__ for s in plan]
    assert "Refactor" not in kinds
    assert kinds.index("RecordPlacement") > kinds.index("DeployRoot")       # nothing to move: created in place


def test_templates_put_a_regrouped_function_in_its_new_stack_and_keep_the_lock_as_deployed(tmp_path, monkeypatch):
    """Through the real generator: a `group` on a deployed function moves it in the templates (and the
    manifest and diagram), while the committed lock still says where it is deployed, so
    `templates --locked` passes until a deploy has moved it."""
    from deploy_emulator import REPO

    from infra.build import build_configs

    monkeypatch.chdir(REPO)
    config = tmp_path / "catalog-api.toml"
    text = (REPO / "config" / "catalog-api.toml").read_text()
    config.write_text(text.replace("[functions.users]\n", '[functions.users]\ngroup = "people"\n', 1))
    lock = tmp_path / "catalog-api.lock.json"
    lock.write_bytes((REPO / "config" / "catalog-api.lock.json").read_bytes())
    before = lock.read_bytes()
    [out] = build_configs([config], tmp_path / "out", locked=True)
    assert lock.read_bytes() == before                                  # still where it is deployed
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["placement"]["functions.users"] == "compute-people"
    assert "ComputePeople" in manifest["templates"]
    assert "UsersFunction" in json.loads((out / "compute-people.json").read_text())["Resources"]
    assert "UsersFunction" not in json.loads((out / "compute.json").read_text())["Resources"]


def test_preflight_does_not_take_a_moved_resources_name_for_a_new_one(moved):
    """A moved log group keeps its name: it exists (in the source stack) and must not fail `names`,
    which only looks for names the deploy would create."""
    from infra.deploy.checks import Preflight, run_checks

    build, state, _ = moved
    billing = build.templates["ComputeBilling"]
    template = json.loads(billing.read_text())
    template["Resources"]["UsersLogGroup"]["Properties"]["LogGroupName"] = f"/aws/lambda/{STACK}-users"
    billing.write_text(json.dumps(template))
    plan = plan_deploy(build, state, PlanOptions(config="shop.toml"))
    assert [m.logical_id for m in plan.of(Refactor)[0].moves if m.logical_id == "UsersLogGroup"]
    aws = StubbedAws()
    cfn = aws.stub("cloudformation")
    cfn.add_response("describe_stacks", {"Stacks": [{"StackName": STACK, "StackId": ROOT_ID,
                                                     "StackStatus": "UPDATE_COMPLETE", "CreationTime": "2025-01-01"}]},
                     {"StackName": STACK})

    def listing(stack: str, resources: dict[str, str]) -> None:
        cfn.add_response("list_stack_resources", {"StackResourceSummaries": [
            {"LogicalResourceId": lid, "PhysicalResourceId": phys, "ResourceType": "AWS::CloudFormation::Stack",
             "LastUpdatedTimestamp": "2025-01-01", "ResourceStatus": "UPDATE_COMPLETE"}
            for lid, phys in resources.items()]}, {"StackName": stack})

    listing(ROOT_ID, {"Compute": COMPUTE_ID, "ComputeBilling": BILLING_ID})
    listing(COMPUTE_ID, {lid: lid for lid in compute("users", "orders")["Resources"]})
    listing(BILLING_ID, {lid: lid for lid in compute("billing")["Resources"]})
    [names] = [r for r in run_checks(Preflight(build, aws, None, plan)) if r.check == "names"]
    aws.assert_done()                                     # the moved log group's name was never looked up
    assert (names.status, names.message) == ("ok", "nothing named to create.")


def test_an_endpoint_without_stack_refactoring_is_named_as_such_not_as_a_refusal(moved):
    """The emulator (moto) has no CreateStackRefactor: the user is told that, not that CloudFormation refused."""
    build, state, lock_file = moved
    before = lock_file.read_bytes()
    plan = plan_deploy(build, state, PlanOptions(config="shop.toml"))
    run, aws = refactor_run(build, state, (plan.of(Refactor)[0], plan.of(RecordPlacement)[0]))
    aws.stub("cloudformation").add_client_error("create_stack_refactor", "NotImplemented",
                                                "The create_stack_refactor action has not been implemented",
                                                http_status_code=501)
    with pytest.raises(DeployError) as failed:
        executor.execute(run)
    text = str(failed.value)
    assert "the endpoint does not implement CloudFormation's stack refactoring" in text
    assert "refused" not in text and text.endswith("Nothing was moved; the lock file is unchanged.")
    assert lock_file.read_bytes() == before


def test_a_moved_role_is_not_counted_as_widening_access(moved):
    """A move removes a role's statements from one stack's template and adds them to the other's: that
    grants nothing (a refactor changes no property), so `--yes` with `--require-approval broadening` must
    not stop on it. A statement that really widens, on the moved role, still counts."""
    from infra.deploy.access_diff import security_changes
    from infra.deploy.moves import mark_moved_access

    build, state, _ = moved
    refactor = plan_deploy(build, state, PlanOptions(config="shop.toml")).of(Refactor)[0]

    def with_policy(template: dict, *actions: str) -> dict:
        template["Resources"]["UsersRole"]["Properties"]["Policies"] = [{"PolicyName": "p", "PolicyDocument": {
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": a, "Resource": "*"} for a in actions]}}]
        return template

    old = with_policy(compute("users", "orders"), "s3:GetObject")
    same = security_changes(old, compute("orders"), f"{STACK}/Compute") + security_changes(
        compute("billing"), with_policy(compute("billing", "users"), "s3:GetObject"), f"{STACK}/ComputeBilling")
    assert [c.broadening for c in same if c.sign == "+"] == [True]        # what the raw diff says
    assert mark_moved_access(same, refactor, STACK) == []
    wider = security_changes(old, compute("orders"), f"{STACK}/Compute") + security_changes(
        compute("billing"), with_policy(compute("billing", "users"), "s3:GetObject", "s3:PutObject"),
        f"{STACK}/ComputeBilling")
    [left] = mark_moved_access(wider, refactor, STACK)
    assert (left.sign, left.stack, left.resource, left.broadening) == ("+", f"{STACK}/ComputeBilling", "UsersRole", True)
    assert left.item.actions == ("s3:PutObject",)
