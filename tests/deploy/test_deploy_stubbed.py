"""Root cause, change sets and stack states on recorded CloudFormation responses (botocore Stubber).

These cover what the emulator cannot produce: nested change sets, asynchronous operations,
rollbacks, an operation already running, and cancelling an update.
"""
from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from infra.command import Stopped
from infra.deploy import changeset
from infra.deploy.changeset import collect
from infra.deploy.diff_render import render_text
from infra.deploy.rootcause import explain_failure, find_root_cause
from infra.deploy.runner import Cancelled, Plan, StackRunner, StackSpec
from infra.deploy.stack_state import StackInfo
from infra.errors import DeployError
from recorded import (ANY, COMPUTE_ID, CS_ARN, DATA_ID, NESTED_CS_ARN, ROOT_ID, STACK, STACK_TYPE, T0,
                      FakeAws, Sleeper, ev, nested_resources, newest_first, no_resources, not_found,
                      quiet_ui, s3_stubbed, stack, stubbed)

EMBEDDED = ("Embedded stack {} was not successfully created: The following resource(s) failed to "
            "create: [UsersTable].")


def failed_create_events() -> tuple[dict, dict]:
    """A first creation that failed in the Data nested stack and rolled back (ROLLBACK_COMPLETE)."""
    root = newest_first(
        ev(ROOT_ID, STACK, "REVIEW_IN_PROGRESS", seconds=-60, reason="User Initiated"),
        ev(ROOT_ID, STACK, "CREATE_IN_PROGRESS", seconds=0, reason="User Initiated"),
        ev(ROOT_ID, "Data", "CREATE_IN_PROGRESS", seconds=1, rtype=STACK_TYPE, physical=DATA_ID),
        ev(ROOT_ID, "Compute", "CREATE_IN_PROGRESS", seconds=1, rtype=STACK_TYPE, physical=COMPUTE_ID),
        ev(ROOT_ID, "Data", "CREATE_FAILED", seconds=30, rtype=STACK_TYPE, physical=DATA_ID,
           reason=EMBEDDED.format(DATA_ID)),
        ev(ROOT_ID, "Compute", "CREATE_FAILED", seconds=31, rtype=STACK_TYPE, physical=COMPUTE_ID,
           reason="Resource creation cancelled"),
        ev(ROOT_ID, STACK, "ROLLBACK_IN_PROGRESS", seconds=32,
           reason="The following resource(s) failed to create: [Data, Compute]. Rollback requested by user."),
        ev(ROOT_ID, STACK, "ROLLBACK_COMPLETE", seconds=90),
    )
    data = newest_first(
        ev(DATA_ID, "catalog-prod-Data-ABC", "CREATE_IN_PROGRESS", seconds=1, reason="User Initiated"),
        ev(DATA_ID, "ProductsTable", "CREATE_FAILED", seconds=20, reason="Resource creation cancelled"),
        ev(DATA_ID, "UsersTable", "CREATE_FAILED", seconds=19,
           reason="Resource handler returned message: \"Table already exists: catalog-prod-users\""),
        ev(DATA_ID, "catalog-prod-Data-ABC", "CREATE_FAILED", seconds=29,
           reason="The following resource(s) failed to create: [UsersTable, ProductsTable]."),
    )
    return root, data


# -- root cause -------------------------------------------------------------------------------------
def test_root_cause_follows_the_failed_nested_stack_to_the_first_real_failure():
    cfn, stub = stubbed()
    root, data = failed_create_events()
    stub.add_response("describe_stack_events", root, {"StackName": ROOT_ID})  # operation start
    stub.add_response("describe_stack_events", root, {"StackName": ROOT_ID})
    stub.add_response("describe_stack_events", data, {"StackName": DATA_ID})
    cause = explain_failure(cfn, ROOT_ID, STACK)
    stub.assert_no_pending_responses()
    assert cause is not None
    assert (cause.stack, cause.logical_id, cause.status) == ("catalog-prod/Data", "UsersTable", "CREATE_FAILED")
    assert "Table already exists: catalog-prod-users" in cause.reason
    assert "Embedded stack" not in cause.sentence()


def getter(events: dict[str, list[dict]]):
    return lambda stack_id, since: events.get(stack_id, [])


def test_root_cause_prefers_a_real_reason_over_cancellations_at_the_same_level():
    events = {ROOT_ID: [
        ev(ROOT_ID, STACK, "UPDATE_IN_PROGRESS", seconds=0, reason="User Initiated"),
        ev(ROOT_ID, "Topic", "UPDATE_FAILED", seconds=2, rtype="AWS::SNS::Topic", reason="Resource update cancelled"),
        ev(ROOT_ID, "Role", "UPDATE_FAILED", seconds=3, rtype="AWS::IAM::Role",
           reason="Resource handler returned message: \"Access denied for operation 'iam:PutRolePolicy'\""),
    ]}
    cause = find_root_cause(getter(events), ROOT_ID, STACK)
    assert cause and cause.logical_id == "Role" and "Access denied" in cause.reason


def test_root_cause_two_levels_deep():
    inner = f"arn:aws:cloudformation:us-east-1:123456789012:stack/{STACK}-Compute-Inner/6"
    events = {
        ROOT_ID: [ev(ROOT_ID, "Compute", "UPDATE_FAILED", rtype=STACK_TYPE, physical=COMPUTE_ID,
                     reason="Embedded stack x was not successfully updated")],
        COMPUTE_ID: [ev(COMPUTE_ID, "Inner", "UPDATE_FAILED", rtype=STACK_TYPE, physical=inner,
                        reason="Embedded stack y was not successfully updated")],
        inner: [ev(inner, "Fn", "UPDATE_FAILED", rtype="AWS::Lambda::Function", reason="Memory must be at most 10240")],
    }
    cause = find_root_cause(getter(events), ROOT_ID, STACK)
    assert cause and cause.stack == "catalog-prod/Compute/Inner" and cause.reason == "Memory must be at most 10240"


def test_root_cause_of_a_stack_level_failure_and_of_nothing():
    own = {ROOT_ID: [ev(ROOT_ID, STACK, "UPDATE_ROLLBACK_IN_PROGRESS"),
                     ev(ROOT_ID, STACK, "UPDATE_FAILED", reason="Parameters: [AssetBucket] must have values")]}
    cause = find_root_cause(getter(own), ROOT_ID, STACK)
    assert cause and "AssetBucket" in cause.reason
    assert find_root_cause(getter({ROOT_ID: [ev(ROOT_ID, STACK, "UPDATE_COMPLETE")]}), ROOT_ID, STACK) is None


# -- change sets ------------------------------------------------------------------------------------
def test_create_waits_reads_every_page_and_passes_nested_and_capabilities():
    cfn, stub = stubbed()
    stub.add_response("create_change_set", {"Id": CS_ARN, "StackId": ROOT_ID}, {
        "StackName": STACK, "ChangeSetName": "serverless-infra-deploy", "ChangeSetType": "UPDATE",
        "Parameters": [{"ParameterKey": "AssetBucket", "ParameterValue": "b"}],
        "Tags": [{"Key": "Project", "Value": "catalog"}],
        "Capabilities": ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
        "IncludeNestedStacks": True, "Description": ANY, "TemplateURL": "https://b.s3.us-east-1.amazonaws.com/t.json"})
    stub.add_response("describe_change_set", {"Status": "CREATE_PENDING", "ChangeSetId": CS_ARN},
                      {"ChangeSetName": CS_ARN, "StackName": ROOT_ID})
    change = {"Type": "Resource", "ResourceChange": {"Action": "Modify", "LogicalResourceId": "Compute",
                                                     "ResourceType": STACK_TYPE, "ChangeSetId": NESTED_CS_ARN}}
    stub.add_response("describe_change_set", {"Status": "CREATE_COMPLETE", "Changes": [change], "NextToken": "p2"},
                      {"ChangeSetName": CS_ARN, "StackName": ROOT_ID})
    stub.add_response("describe_change_set", {"Changes": [change]},
                      {"ChangeSetName": CS_ARN, "StackName": ROOT_ID, "NextToken": "p2"})
    sleeper = Sleeper()
    cs = changeset.create(cfn, stack=STACK, kind="UPDATE", name="serverless-infra-deploy",
                          parameters={"AssetBucket": "b"}, tags={"Project": "catalog"},
                          template_url="https://b.s3.us-east-1.amazonaws.com/t.json", sleep=sleeper)
    stub.assert_no_pending_responses()
    assert cs.status == "CREATE_COMPLETE" and len(cs.changes) == 2 and sleeper.calls == 1


@pytest.mark.parametrize("reason", [
    "The submitted information didn't contain changes. Submit different information to create a change set.",
    "No updates are to be performed.",
])
def test_an_empty_change_set_is_no_changes_and_is_deleted(reason):
    cfn, stub = stubbed()
    stub.add_response("create_change_set", {"Id": CS_ARN, "StackId": ROOT_ID})
    stub.add_response("describe_change_set", {"Status": "FAILED", "StatusReason": reason})
    stub.add_response("delete_change_set", {}, {"ChangeSetName": CS_ARN, "StackName": ROOT_ID})
    with pytest.raises(changeset.NoChanges):
        changeset.create(cfn, stack=STACK, kind="UPDATE", name="n", parameters={}, tags={}, template_body="{}")
    stub.assert_no_pending_responses()


def test_a_refused_update_saying_no_updates_is_no_changes():
    cfn, stub = stubbed()
    stub.add_client_error("create_change_set", "ValidationError", "No updates are to be performed.")
    with pytest.raises(changeset.NoChanges):
        changeset.create(cfn, stack=STACK, kind="UPDATE", name="n", parameters={}, tags={}, template_body="{}")


def test_a_failed_change_set_is_an_error_with_its_reason():
    cfn, stub = stubbed()
    stub.add_response("create_change_set", {"Id": CS_ARN, "StackId": ROOT_ID})
    stub.add_response("describe_change_set", {"Status": "FAILED",
                                              "StatusReason": "Template format error: Unresolved resource dependencies [Nope]"})
    stub.add_client_error("describe_events", "ValidationError", "not available here")   # best effort: skipped
    stub.add_response("delete_change_set", {})
    with pytest.raises(DeployError, match="Unresolved resource dependencies") as failed:
        changeset.create(cfn, stack=STACK, kind="UPDATE", name="n", parameters={}, tags={}, template_body="{}")
    stub.assert_no_pending_responses()
    assert "Pre-deployment validation" not in str(failed.value)


def test_cloudformations_pre_deployment_validation_is_shown_with_a_failed_change_set():
    """FAIL-mode validations (property syntax, name conflicts) fail the change set; DescribeEvents says
    which resource, where, and why (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/validate-stack-deployments.html)."""
    cfn, stub = stubbed()
    stub.add_response("create_change_set", {"Id": CS_ARN, "StackId": ROOT_ID})
    stub.add_response("describe_change_set", {"Status": "FAILED", "StatusReason": "Validation failed."})
    stub.add_response("describe_events", {"OperationEvents": [
        {"EventId": "e1", "StackId": ROOT_ID, "LogicalResourceId": "UploadsBucket", "EventType": "VALIDATION_ERROR",
         "ValidationName": "NAME_CONFLICT_VALIDATION", "ValidationStatus": "FAILED", "ValidationFailureMode": "FAIL",
         "ValidationPath": "/Resources/UploadsBucket/Properties/BucketName",
         "ValidationStatusReason": "Resource of type AWS::S3::Bucket with identifier shop-dev-uploads already exists."},
    ]}, {"ChangeSetName": CS_ARN, "StackName": ROOT_ID, "Filters": {"FailedEvents": True}})
    stub.add_response("delete_change_set", {})
    with pytest.raises(DeployError) as failed:
        changeset.create(cfn, stack=STACK, kind="UPDATE", name="n", parameters={}, tags={}, template_body="{}")
    stub.assert_no_pending_responses()
    assert str(failed.value) == (
        f"CloudFormation could not create the change set for {STACK}: Validation failed. Pre-deployment validation: "
        "UploadsBucket (/Resources/UploadsBucket/Properties/BucketName): Resource of type AWS::S3::Bucket with "
        "identifier shop-dev-uploads already exists.")


def test_stale_change_sets_of_this_stack_and_name_are_deleted_only():
    """A killed run's leftovers go (the old fixed name, or a run's name 6 hours old); another run's
    change set under review (younger) stays, counted; other stacks' and other tools' stay."""
    from datetime import timedelta

    cfn, stub = stubbed()
    now = T0 + timedelta(days=1)
    summary = lambda name, stack_name, arn, age_h=10.0, execution="AVAILABLE": {  # noqa: E731
        "ChangeSetName": name, "StackName": stack_name, "ChangeSetId": arn, "StackId": "x",
        "ExecutionStatus": execution, "Status": "CREATE_COMPLETE", "CreationTime": now - timedelta(hours=age_h)}
    stub.add_response("list_change_sets", {"Summaries": [
        summary("serverless-infra-deploy", STACK, CS_ARN, age_h=0.1),
        summary("serverless-infra-deploy", "other-stack", "arn:other"),
        summary("someone-elses", STACK, "arn:mine-not"),
        summary("serverless-infra-deploy-0a1b2c3d4e5f", STACK, "arn:killed-run", age_h=7),
        summary("serverless-infra-deploy-aaaaaaaaaaaa", STACK, "arn:reviewing", age_h=0.5),
        summary("serverless-infra-deployment", STACK, "arn:not-ours"),
        summary("serverless-infra-deploy-bbbbbbbbbbbb", STACK, "arn:ours-executed", age_h=0.2,
                execution="EXECUTE_COMPLETE"),
        summary("serverless-infra-deploy-cccccccccccc", STACK, "arn:voided", age_h=0.2, execution="OBSOLETE"),
    ], "NextToken": "t"}, {"StackName": STACK})
    stub.add_response("delete_change_set", {}, {"ChangeSetName": CS_ARN})
    stub.add_response("delete_change_set", {}, {"ChangeSetName": "arn:killed-run"})
    stub.add_response("delete_change_set", {}, {"ChangeSetName": "arn:ours-executed"})
    stub.add_response("delete_change_set", {}, {"ChangeSetName": "arn:voided"})
    stub.add_response("list_change_sets", {"Summaries": []}, {"StackName": STACK, "NextToken": "t"})
    stale = changeset.delete_stale(cfn, STACK, "serverless-infra-deploy", now=now)
    stub.assert_no_pending_responses()
    assert stale.deleted == 4 and stale.waiting == [1800.0]


def test_each_run_names_its_own_change_set():
    first, second = (changeset.run_name("serverless-infra-deploy") for _ in range(2))
    assert first != second and first.startswith("serverless-infra-deploy-") and len(first) <= 128
    assert all(c.isalnum() or c == "-" for c in first)


def test_nested_change_sets_are_walked_into_one_diff():
    cfn, stub = stubbed()
    root_changes = [{"Type": "Resource", "ResourceChange": {
        "Action": "Modify", "LogicalResourceId": "Data", "ResourceType": STACK_TYPE, "Replacement": "False",
        "PhysicalResourceId": DATA_ID, "ChangeSetId": NESTED_CS_ARN}}]
    nested = {"Changes": [
        {"Type": "Resource", "ResourceChange": {
            "Action": "Modify", "LogicalResourceId": "UsersTable", "ResourceType": "AWS::DynamoDB::Table",
            "Replacement": "True", "PhysicalResourceId": "catalog-prod-users",
            "Details": [{"Target": {"Attribute": "Properties", "Name": "TableName", "RequiresRecreation": "Always"}}]}},
        {"Type": "Resource", "ResourceChange": {
            "Action": "Modify", "LogicalResourceId": "UsersRole", "ResourceType": "AWS::IAM::Role",
            "Replacement": "False",
            "Details": [{"Target": {"Attribute": "Properties", "Name": "Policies", "RequiresRecreation": "Never"}}]}},
        {"Type": "Resource", "ResourceChange": {
            "Action": "Add", "LogicalResourceId": "Alarm", "ResourceType": "AWS::CloudWatch::Alarm"}},
    ]}
    stub.add_response("describe_change_set", nested, {"ChangeSetName": NESTED_CS_ARN})
    diff = collect(cfn, root_changes, STACK)
    stub.assert_no_pending_responses()
    assert [(r.stack, r.logical_id, r.action, r.replacement) for r in diff.rows] == [
        ("catalog-prod", "Data", "Modify", "False"),
        ("catalog-prod/Data", "UsersTable", "Modify", "True"),
        ("catalog-prod/Data", "UsersRole", "Modify", "False"),
        ("catalog-prod/Data", "Alarm", "Add", ""),
    ]
    assert [r.logical_id for r in diff.stateful_risks(["AWS::DynamoDB::Table"])] == ["UsersTable"]
    text = render_text(diff, "Changes to update catalog-prod", ["AWS::DynamoDB::Table"])
    assert "REPLACE" in text and "IAM" in text and "stateful" in text
    assert "1 to add, 2 to modify (1 replaced), 0 to remove; permissions change on 1 resource" in text


# -- stack states -----------------------------------------------------------------------------------
def runner_for(cfn, *, timeout=None, sleeper=None, terminal=False):
    ui, out, err = quiet_ui(terminal)
    sleeper = sleeper or Sleeper()
    spec = StackSpec(name=STACK, template={}, parameters={"AssetBucket": "bucket"}, tags={"Project": "catalog"})
    runner = StackRunner(FakeAws(cfn), ui, spec, change_set_name="serverless-infra-deploy", timeout=timeout,
                         sleep=sleeper, clock=sleeper.clock)
    return runner, out, err


def test_rollback_complete_is_explained_with_its_root_cause_and_not_touched():
    cfn, stub = stubbed()
    root, data = failed_create_events()
    stub.add_response("describe_stacks", stack("ROLLBACK_COMPLETE"), {"StackName": STACK})
    stub.add_response("describe_stack_events", root)
    stub.add_response("describe_stack_events", root)
    stub.add_response("describe_stack_events", data)
    runner, _, _ = runner_for(cfn)
    with pytest.raises(DeployError) as err:
        runner.ready(recreate_failed=False, read_only=False)
    stub.assert_no_pending_responses()
    text = str(err.value)
    assert "ROLLBACK_COMPLETE" in text and "--recreate-failed" in text
    assert "catalog-prod/Data > UsersTable" in text and "Table already exists" in text


def test_rollback_complete_with_recreate_failed_is_deleted_then_created():
    cfn, stub = stubbed()
    stub.add_response("describe_stacks", stack("ROLLBACK_COMPLETE"), {"StackName": STACK})
    stub.add_response("list_stack_resources", no_resources(), {"StackName": ROOT_ID})
    stub.add_response("describe_stack_events", newest_first(ev(ROOT_ID, STACK, "ROLLBACK_COMPLETE")))
    stub.add_response("delete_stack", {}, {"StackName": ROOT_ID, "ClientRequestToken": ANY})
    stub.add_response("describe_stack_events", newest_first(
        ev(ROOT_ID, STACK, "DELETE_IN_PROGRESS", seconds=10, reason="User Initiated"),
        ev(ROOT_ID, STACK, "DELETE_COMPLETE", seconds=20)))
    stub.add_response("describe_stack_events", {"StackEvents": []})
    not_found(stub, "describe_stacks")
    runner, out, _ = runner_for(cfn)
    assert runner.ready(recreate_failed=True, read_only=False) is None  # -> CREATE
    stub.assert_no_pending_responses()
    assert "DELETE_COMPLETE" in out.getvalue()


def test_an_update_in_progress_is_waited_for_with_its_events_shown():
    cfn, stub = stubbed()
    stub.add_response("describe_stacks", stack("UPDATE_IN_PROGRESS"), {"StackName": STACK})
    stub.add_response("list_stack_resources", no_resources())
    stub.add_response("describe_stack_events", newest_first(ev(ROOT_ID, STACK, "UPDATE_IN_PROGRESS", reason="User Initiated")))
    stub.add_response("describe_stack_events", newest_first(
        ev(ROOT_ID, "UsersFunction", "UPDATE_COMPLETE", seconds=5, rtype="AWS::Lambda::Function"),
        ev(ROOT_ID, STACK, "UPDATE_COMPLETE", seconds=6)))
    stub.add_response("describe_stacks", stack("UPDATE_COMPLETE"), {"StackName": ROOT_ID})
    stub.add_response("list_stack_resources", no_resources())
    stub.add_response("describe_stack_events", {"StackEvents": []})
    stub.add_response("describe_stacks", stack("UPDATE_COMPLETE"), {"StackName": STACK})
    runner, out, _ = runner_for(cfn)
    info = runner.ready(recreate_failed=False, read_only=False)
    stub.assert_no_pending_responses()
    assert info and info.status == "UPDATE_COMPLETE"
    assert "busy (UPDATE_IN_PROGRESS)" in out.getvalue() and "UsersFunction" in out.getvalue()


def test_an_operation_in_progress_past_the_timeout_fails_clearly():
    cfn, stub = stubbed()
    stub.add_response("describe_stacks", stack("UPDATE_ROLLBACK_IN_PROGRESS"), {"StackName": STACK})
    stub.add_response("list_stack_resources", no_resources())
    stub.add_response("describe_stack_events", {"StackEvents": []})
    for _ in range(4):
        stub.add_response("describe_stack_events", {"StackEvents": []})
        stub.add_response("describe_stacks", stack("UPDATE_ROLLBACK_IN_PROGRESS"))
    runner, _, _ = runner_for(cfn, timeout=3.0)
    with pytest.raises(DeployError, match=r"still busy \(UPDATE_ROLLBACK_IN_PROGRESS\) after 3 s"):
        runner.ready(recreate_failed=False, read_only=False)


def update_plan() -> Plan:
    spec = StackSpec(name=STACK, template={}, parameters={}, tags={})
    info = StackInfo(STACK, ROOT_ID, "UPDATE_COMPLETE")
    return Plan(spec, info, kind="UPDATE",
                change_set=changeset.ChangeSet(arn=CS_ARN, stack_id=ROOT_ID, stack_name=STACK, kind="UPDATE"))


def execute_until_first_poll(stub):
    stub.add_response("list_stack_resources", no_resources(), {"StackName": ROOT_ID})
    stub.add_response("describe_stack_events", newest_first(ev(ROOT_ID, STACK, "UPDATE_COMPLETE", seconds=-100)))
    stub.add_response("execute_change_set", {}, {"ChangeSetName": CS_ARN, "StackName": ROOT_ID, "ClientRequestToken": ANY})
    stub.add_response("describe_stack_events", newest_first(
        ev(ROOT_ID, STACK, "UPDATE_IN_PROGRESS", seconds=1, reason="User Initiated"),
        ev(ROOT_ID, "UsersFunction", "UPDATE_IN_PROGRESS", seconds=2, rtype="AWS::Lambda::Function")))


def rollback_to_completion(stub, fifth_poll=False):
    stub.add_response("cancel_update_stack", {}, {"StackName": ROOT_ID})
    stub.add_response("describe_stack_events", newest_first(
        ev(ROOT_ID, STACK, "UPDATE_ROLLBACK_IN_PROGRESS", seconds=10, reason="Stack update cancelled"),
        ev(ROOT_ID, STACK, "UPDATE_ROLLBACK_COMPLETE", seconds=20)))
    stub.add_response("describe_stacks", stack("UPDATE_ROLLBACK_COMPLETE"), {"StackName": ROOT_ID})
    stub.add_response("list_stack_resources", no_resources())
    if fifth_poll:  # every fifth poll also lists the nested stacks
        stub.add_response("list_stack_resources", no_resources())
    stub.add_response("describe_stack_events", {"StackEvents": []})


def test_ctrl_c_during_an_update_cancels_it_and_waits_for_the_rollback():
    cfn, stub = stubbed()
    execute_until_first_poll(stub)
    rollback_to_completion(stub)
    runner, out, err = runner_for(cfn, sleeper=Sleeper({1: KeyboardInterrupt()}))
    with pytest.raises(Cancelled) as exc:
        runner.execute(update_plan())
    stub.assert_no_pending_responses()
    assert exc.value.exit_code == 130
    assert "cancelled and rolled back (UPDATE_ROLLBACK_COMPLETE)" in str(exc.value)
    assert "CancelUpdateStack" in err.getvalue()
    assert "UPDATE_ROLLBACK_COMPLETE" in out.getvalue()


def test_sigterm_during_an_update_cancels_it_and_exits_143():
    # `kill` or make passing SIGTERM on: the same cancel and rollback as Ctrl-C, named and coded as SIGTERM.
    cfn, stub = stubbed()
    execute_until_first_poll(stub)
    rollback_to_completion(stub)
    runner, _, err = runner_for(cfn, sleeper=Sleeper({1: Stopped(signal.SIGTERM)}))
    with pytest.raises(Cancelled) as exc:
        runner.execute(update_plan())
    stub.assert_no_pending_responses()
    assert exc.value.exit_code == 143
    assert str(exc.value).startswith("Interrupted (SIGTERM): the update of") and "SIGTERM" in err.getvalue()


def test_timeout_during_an_update_cancels_it_too():
    cfn, stub = stubbed()
    execute_until_first_poll(stub)
    stub.add_response("describe_stack_events", {"StackEvents": []})  # second and third polls, still running
    stub.add_response("describe_stack_events", {"StackEvents": []})
    rollback_to_completion(stub, fifth_poll=True)
    runner, _, _ = runner_for(cfn, timeout=1.5)
    with pytest.raises(Cancelled) as exc:
        runner.execute(update_plan())
    stub.assert_no_pending_responses()
    assert exc.value.exit_code == 1 and "--timeout of 1.5 s reached" in str(exc.value)


def test_ctrl_c_during_a_create_explains_it_cannot_be_cancelled():
    cfn, stub = stubbed()
    plan = update_plan()
    plan.kind = "CREATE"
    stub.add_response("describe_stack_events", newest_first(ev(ROOT_ID, STACK, "REVIEW_IN_PROGRESS")))
    stub.add_response("execute_change_set", {})
    stub.add_response("describe_stack_events", newest_first(ev(ROOT_ID, STACK, "CREATE_IN_PROGRESS", seconds=1)))
    runner, _, _ = runner_for(cfn, sleeper=Sleeper({1: KeyboardInterrupt()}))
    with pytest.raises(DeployError, match="cannot be cancelled and continues") as exc:
        runner.execute(plan)
    assert exc.value.exit_code == 130


def _interrupted_execute(monkeypatch, *, reached: bool):
    """ExecuteChangeSet stopped by Ctrl-C while in flight: after (reached) or before it got to AWS."""
    real = changeset.execute

    def execute(cfn, cs, token):
        if reached:
            real(cfn, cs, token)
        raise KeyboardInterrupt

    monkeypatch.setattr(changeset, "execute", execute)


def test_ctrl_c_while_execute_change_set_is_in_flight_cancels_the_update_it_started(monkeypatch):
    cfn, stub = stubbed()
    stub.add_response("list_stack_resources", no_resources(), {"StackName": ROOT_ID})
    stub.add_response("describe_stack_events", newest_first(ev(ROOT_ID, STACK, "UPDATE_COMPLETE", seconds=-100)))
    stub.add_response("execute_change_set", {}, {"ChangeSetName": CS_ARN, "StackName": ROOT_ID, "ClientRequestToken": ANY})
    stub.add_response("describe_change_set", {"ExecutionStatus": "EXECUTE_IN_PROGRESS"},
                      {"ChangeSetName": CS_ARN, "StackName": ROOT_ID})
    rollback_to_completion(stub)
    _interrupted_execute(monkeypatch, reached=True)
    runner, _, err = runner_for(cfn)
    with pytest.raises(Cancelled) as exc:
        runner.execute(update_plan())
    stub.assert_no_pending_responses()
    assert exc.value.exit_code == 130 and "cancelled and rolled back" in str(exc.value)
    assert "CancelUpdateStack" in err.getvalue()


def test_ctrl_c_before_execute_change_set_reached_aws_says_nothing_changed(monkeypatch):
    cfn, stub = stubbed()
    stub.add_response("list_stack_resources", no_resources(), {"StackName": ROOT_ID})
    stub.add_response("describe_stack_events", newest_first(ev(ROOT_ID, STACK, "UPDATE_COMPLETE", seconds=-100)))
    stub.add_response("describe_change_set", {"ExecutionStatus": "AVAILABLE"},
                      {"ChangeSetName": CS_ARN, "StackName": ROOT_ID})
    _interrupted_execute(monkeypatch, reached=False)
    runner, _, _ = runner_for(cfn)
    with pytest.raises(DeployError) as exc:
        runner.execute(update_plan())
    stub.assert_no_pending_responses()
    assert exc.value.exit_code == 130
    assert str(exc.value) == (f"Interrupted (Ctrl-C) before CloudFormation executed the change set: {STACK} was "
                              "not changed.")


def test_ctrl_c_when_another_run_executed_first_cancels_nothing(monkeypatch):
    """Our change set is gone: another run's execution deleted it, and the update running is theirs."""
    cfn, stub = stubbed()
    stub.add_response("list_stack_resources", no_resources(), {"StackName": ROOT_ID})
    stub.add_response("describe_stack_events", newest_first(ev(ROOT_ID, STACK, "UPDATE_COMPLETE", seconds=-100)))
    stub.add_client_error("describe_change_set", service_error_code="ChangeSetNotFound",
                          service_message=f"ChangeSet [{CS_ARN}] does not exist", http_status_code=404)
    _interrupted_execute(monkeypatch, reached=False)
    runner, _, _ = runner_for(cfn)
    with pytest.raises(DeployError) as exc:
        runner.execute(update_plan())
    stub.assert_no_pending_responses()   # no CancelUpdateStack
    assert exc.value.exit_code == 130 and "before CloudFormation executed the change set" in str(exc.value)


def test_a_failed_update_reports_the_nested_root_cause():
    cfn, stub = stubbed()
    stub.add_response("list_stack_resources", nested_resources(("Compute", COMPUTE_ID)), {"StackName": ROOT_ID})
    stub.add_response("list_stack_resources", no_resources(), {"StackName": COMPUTE_ID})
    stub.add_response("describe_stack_events", newest_first(ev(ROOT_ID, STACK, "UPDATE_COMPLETE", seconds=-100)))
    stub.add_response("describe_stack_events", newest_first(
        ev(COMPUTE_ID, "catalog-prod-Compute-DEF", "UPDATE_COMPLETE", seconds=-100)))
    stub.add_response("execute_change_set", {})
    root_events = [
        ev(ROOT_ID, STACK, "UPDATE_IN_PROGRESS", seconds=1, reason="User Initiated"),
        ev(ROOT_ID, "Compute", "UPDATE_FAILED", seconds=30, rtype=STACK_TYPE, physical=COMPUTE_ID,
           reason="Embedded stack was not successfully updated. The following resource(s) failed to update: [UsersFunction]."),
        ev(ROOT_ID, STACK, "UPDATE_ROLLBACK_IN_PROGRESS", seconds=31),
        ev(ROOT_ID, STACK, "UPDATE_ROLLBACK_COMPLETE", seconds=60),
    ]
    compute_events = [
        ev(COMPUTE_ID, "UsersFunction", "UPDATE_FAILED", seconds=20, rtype="AWS::Lambda::Function",
           reason="Resource handler returned message: \"Value 20000 at 'memorySize' failed to satisfy constraint\""),
    ]
    stub.add_response("describe_stack_events", newest_first(*root_events))
    stub.add_response("describe_stack_events", newest_first(*compute_events))
    stub.add_response("list_stack_resources", nested_resources(("Compute", COMPUTE_ID)))  # finish()
    stub.add_response("list_stack_resources", no_resources())
    stub.add_response("describe_stack_events", {"StackEvents": []})
    stub.add_response("describe_stack_events", {"StackEvents": []})
    stub.add_response("describe_stack_events", newest_first(*root_events), {"StackName": ROOT_ID})  # root cause
    stub.add_response("describe_stack_events", newest_first(*compute_events), {"StackName": COMPUTE_ID})
    runner, out, _ = runner_for(cfn)
    with pytest.raises(DeployError) as exc:
        runner.execute(update_plan())
    stub.assert_no_pending_responses()
    text = str(exc.value)
    assert text.startswith("Update of catalog-prod failed (UPDATE_ROLLBACK_COMPLETE). Root cause: catalog-prod/Compute > UsersFunction")
    assert "memorySize" in text
    assert "catalog-prod/Compute" in out.getvalue()


# -- production safeguards and destroy ----------------------------------------------------------------
def production_build(tmp_path):
    from infra.deploy.manifest import Build
    from stage_fixture import write_stage

    return Build.load(write_stage(tmp_path, production=True))


def test_production_gets_termination_protection_and_policies_on_every_stack(tmp_path):
    from infra.deploy.policy import protect
    from infra.deploy.policy import protective_policy

    build = production_build(tmp_path)
    cfn, stub = stubbed()
    stub.add_response("update_termination_protection", {"StackId": ROOT_ID},
                      {"StackName": ROOT_ID, "EnableTerminationProtection": True})
    stub.add_response("get_stack_policy", {}, {"StackName": ROOT_ID})
    stub.add_response("set_stack_policy", {}, {"StackName": ROOT_ID,
                                               "StackPolicyBody": protective_policy(build.stateful_types, root=True)})
    stub.add_response("list_stack_resources", nested_resources(("Data", DATA_ID)), {"StackName": ROOT_ID})
    stub.add_response("list_stack_resources", no_resources(), {"StackName": DATA_ID})
    stub.add_response("get_stack_policy", {"StackPolicyBody": protective_policy(build.stateful_types)}, {"StackName": DATA_ID})
    ui, out, _ = quiet_ui()
    protect(FakeAws(cfn), ui, build, StackInfo(STACK, ROOT_ID, "CREATE_COMPLETE"))
    stub.assert_no_pending_responses()   # the nested policy already matched: not set again
    assert "and its 1 nested stack(s)" in out.getvalue()


def destroy_lookups(stub, protection: bool):
    stub.add_response("describe_stacks", stack("UPDATE_COMPLETE", protection=protection), {"StackName": "shop-dev"})
    stub.add_response("list_stack_resources", no_resources(), {"StackName": ROOT_ID})
    stub.add_response("get_template", {"TemplateBody": json.dumps({"Resources": {
        "Table": {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": "Retain"},
        "Topic": {"Type": "AWS::SNS::Topic"}}})}, {"StackName": ROOT_ID, "TemplateStage": "Original"})
    stub.add_response("list_stack_resources", {"StackResourceSummaries": [
        {"LogicalResourceId": "Table", "PhysicalResourceId": "shop-dev-items", "ResourceType": "AWS::DynamoDB::Table",
         "LastUpdatedTimestamp": T0, "ResourceStatus": "UPDATE_COMPLETE"}]}, {"StackName": ROOT_ID})


def destroy_stack(aws, ui, name, opts, *, disable_protection):
    """What run_destroy does for one stack tree: survey, its question (answered yes), delete; what
    it kept (None: no such stack)."""
    from infra.deploy.destroy import delete, prepare, question

    doomed = prepare(aws, ui, name, opts, disable_protection=disable_protection)
    if doomed is None:
        return None
    assert ui.confirm(question([doomed]))
    return delete(ui, doomed)


def destroy(cfn, disable_protection):
    from infra.deploy.stage import Options
    from infra.deploy.session import Target

    ui, out, err = quiet_ui()
    opts = Options(config=Path("c.toml"), out=Path("out"), target=Target())
    s3, s3_stub = s3_stubbed()
    forget_syncs(s3_stub)
    kept = destroy_stack(FakeAws(cfn, s3), ui, "shop-dev", opts, disable_protection=disable_protection)
    return kept, out.getvalue(), err.getvalue()


def forget_syncs(s3_stub):
    """A destroyed stage's sync ledger goes with it (in the artifact bucket, the root's AssetBucket)."""
    s3_stub.add_response("delete_object", {}, {"Bucket": "bucket", "Key": "sync/shop-dev.json"})


def test_destroy_lists_what_is_kept_and_refuses_a_protected_stack(tmp_path):
    cfn, stub = stubbed()
    destroy_lookups(stub, protection=True)
    with pytest.raises(DeployError, match="has termination protection .* --disable-termination-protection"):
        destroy(cfn, disable_protection=False)
    stub.assert_no_pending_responses()   # nothing deleted


def test_destroy_with_protection_disabled_explicitly(tmp_path):
    cfn, stub = stubbed()
    destroy_lookups(stub, protection=True)
    stub.add_response("update_termination_protection", {"StackId": ROOT_ID},
                      {"StackName": ROOT_ID, "EnableTerminationProtection": False})
    stub.add_response("list_stack_resources", no_resources(), {"StackName": ROOT_ID})
    stub.add_response("describe_stack_events", newest_first(ev(ROOT_ID, STACK, "UPDATE_COMPLETE")))
    stub.add_response("delete_stack", {}, {"StackName": ROOT_ID, "ClientRequestToken": ANY})
    stub.add_response("describe_stack_events", newest_first(
        ev(ROOT_ID, STACK, "DELETE_IN_PROGRESS", seconds=5),
        ev(ROOT_ID, "Table", "DELETE_SKIPPED", seconds=6, physical="shop-dev-items"),
        ev(ROOT_ID, STACK, "DELETE_COMPLETE", seconds=9)))
    stub.add_response("describe_stack_events", {"StackEvents": []})
    kept, out, err = destroy(cfn, disable_protection=True)
    stub.assert_no_pending_responses()
    assert [(k.logical_id, k.physical_id) for k in kept] == [("Table", "shop-dev-items")]
    assert "Kept after deletion" in out and "DELETE_SKIPPED" in out and "DELETE_COMPLETE" in out
    assert "Turning off termination protection" in err


# -- destroy empties the buckets it deletes -------------------------------------------------------------
BUCKET = "shop-dev-uploads"
NOT_EMPTY = ("Resource handler returned message: \"The bucket you tried to delete is not empty. You must "
             "delete all versions in the bucket. (Service: S3, Status Code: 409, Request ID: X)\"")


def versions_page(versions=(), markers=(), *, next_marker=None) -> dict:
    page = {"Versions": [{"Key": k, "VersionId": v, "IsLatest": False} for k, v in versions],
            "DeleteMarkers": [{"Key": k, "VersionId": v, "IsLatest": True} for k, v in markers],
            "IsTruncated": next_marker is not None}
    if next_marker:
        page.update(NextKeyMarker=next_marker[0], NextVersionIdMarker=next_marker[1])
    return page


def objects(pairs) -> list[dict]:
    return [{"Key": k, "VersionId": v} for k, v in pairs]


def expect_delete(s3_stub, bucket, pairs, errors=None):
    s3_stub.add_response("delete_objects", {"Errors": errors} if errors else {},
                         {"Bucket": bucket, "Delete": {"Objects": objects(pairs), "Quiet": True}})


def test_every_version_and_delete_marker_is_deleted_across_pages_in_batches_of_1000():
    from infra.deploy.buckets import empty_bucket

    s3, stub = s3_stubbed()
    page1_versions = [(f"data/{i:04}.json", f"v{i}") for i in range(800)]
    page1_markers = [(f"data/{i:04}.json", f"m{i}") for i in range(300)]
    page2_versions = [(f"logs/{i:04}", "null") for i in range(400)]   # written before versioning: "null"
    stub.add_response("list_object_versions",
                      versions_page(page1_versions, page1_markers, next_marker=("data/0299.json", "m299")),
                      {"Bucket": BUCKET})
    expect_delete(stub, BUCKET, page1_versions + page1_markers[:200])     # the first 1000
    stub.add_response("list_object_versions", versions_page(page2_versions),
                      {"Bucket": BUCKET, "KeyMarker": "data/0299.json", "VersionIdMarker": "m299"})
    expect_delete(stub, BUCKET, page1_markers[200:] + page2_versions)      # the remaining 500
    done = empty_bucket(s3, BUCKET)
    stub.assert_no_pending_responses()
    assert (done.versions, done.delete_markers, done.removed) == (1200, 300, 1500)
    assert done.sentence() == (f"{BUCKET}: emptied, 1500 object(s) removed (1200 object version(s), "
                               "300 delete marker(s)).")


def test_an_empty_bucket_and_a_bucket_already_gone_are_fine():
    from infra.deploy.buckets import empty_bucket

    s3, stub = s3_stubbed()
    stub.add_response("list_object_versions", versions_page(), {"Bucket": BUCKET})
    stub.add_client_error("list_object_versions", "NoSuchBucket", "The specified bucket does not exist",
                          http_status_code=404)
    assert empty_bucket(s3, BUCKET).sentence() == f"{BUCKET}: already empty."
    gone = empty_bucket(s3, BUCKET)
    assert not gone.exists and "does not exist" in gone.sentence()
    stub.assert_no_pending_responses()


def test_keys_s3_refuses_to_delete_are_a_clear_error():
    from infra.deploy.buckets import empty_bucket

    s3, stub = s3_stubbed()
    pairs = [(f"k{i}", f"v{i}") for i in range(5)]
    stub.add_response("list_object_versions", versions_page(pairs), {"Bucket": BUCKET})
    expect_delete(stub, BUCKET, pairs, errors=[
        {"Key": f"k{i}", "VersionId": f"v{i}", "Code": "AccessDenied", "Message": "Access Denied"} for i in range(4)])
    with pytest.raises(DeployError) as err:
        empty_bucket(s3, BUCKET)
    text = str(err.value)
    assert text.startswith(f"Could not empty the S3 bucket {BUCKET}: S3 refused to delete 4 of 5 object version(s)")
    assert "k0 (version v0): AccessDenied: Access Denied" in text and "and 1 more" in text


def data_stack_lookups(stub, resources: dict[str, tuple[str, str]], *, bootstrap_bucket: str | None = None):
    """describe + survey of a root with one nested stack Data holding `resources` (id -> (policy, bucket))."""
    stub.add_response("describe_stacks", stack("UPDATE_COMPLETE"), {"StackName": "shop-dev"})
    stub.add_response("list_stack_resources", nested_resources(("Data", DATA_ID)), {"StackName": ROOT_ID})
    stub.add_response("list_stack_resources", no_resources(), {"StackName": DATA_ID})
    stub.add_response("get_template", {"TemplateBody": json.dumps({"Resources": {
        "Data": {"Type": STACK_TYPE}}})}, {"StackName": ROOT_ID, "TemplateStage": "Original"})
    stub.add_response("list_stack_resources", nested_resources(("Data", DATA_ID)), {"StackName": ROOT_ID})
    template = {}
    for lid, (policy, _) in resources.items():
        template[lid] = {"Type": "AWS::S3::Bucket", "Properties": {}}
        if policy:
            template[lid]["DeletionPolicy"] = policy
    stub.add_response("get_template", {"TemplateBody": json.dumps({"Resources": template})},
                      {"StackName": DATA_ID, "TemplateStage": "Original"})
    stub.add_response("list_stack_resources", data_resources(resources), {"StackName": DATA_ID})
    if bootstrap_bucket:
        stub.add_response("describe_stack_resource", {"StackResourceDetail": {
            "LogicalResourceId": "ArtifactBucket", "PhysicalResourceId": bootstrap_bucket, "ResourceType": "AWS::S3::Bucket",
            "LastUpdatedTimestamp": T0, "ResourceStatus": "CREATE_COMPLETE"}},
            {"StackName": "serverless-infra-artifacts", "LogicalResourceId": "ArtifactBucket"})
    else:
        not_found(stub, "describe_stack_resource", "serverless-infra-artifacts")


def data_resources(resources: dict[str, tuple[str, str]]) -> dict:
    return {"StackResourceSummaries": [
        {"LogicalResourceId": lid, "PhysicalResourceId": bucket, "ResourceType": "AWS::S3::Bucket",
         "LastUpdatedTimestamp": T0, "ResourceStatus": "UPDATE_COMPLETE"} for lid, (_, bucket) in resources.items()]}


def delete_attempt(stub, resources, *, before: list[dict], root: list[dict], data: list[dict]):
    """One delete_and_wait on the root with nested Data: prime, DeleteStack, one poll, finish."""
    stub.add_response("list_stack_resources", nested_resources(("Data", DATA_ID)), {"StackName": ROOT_ID})
    stub.add_response("list_stack_resources", data_resources(resources), {"StackName": DATA_ID})
    stub.add_response("describe_stack_events", newest_first(*[e for e in before if e["StackId"] == ROOT_ID]),
                      {"StackName": ROOT_ID})
    stub.add_response("describe_stack_events", newest_first(*[e for e in before if e["StackId"] == DATA_ID]),
                      {"StackName": DATA_ID})
    stub.add_response("delete_stack", {}, {"StackName": ROOT_ID, "ClientRequestToken": ANY})
    stub.add_response("describe_stack_events", newest_first(*of(ROOT_ID, before), *root), {"StackName": ROOT_ID})
    stub.add_response("describe_stack_events", newest_first(*of(DATA_ID, before), *data), {"StackName": DATA_ID})


def of(stack_id: str, events: list[dict]) -> list[dict]:
    return [e for e in events if e["StackId"] == stack_id]


def destroy_with_s3(cfn, s3):
    from infra.deploy.stage import Options
    from infra.deploy.session import Target

    ui, out, err = quiet_ui()
    opts = Options(config=Path("c.toml"), out=Path("out"), target=Target())
    kept = destroy_stack(FakeAws(cfn, s3), ui, "shop-dev", opts, disable_protection=False)
    return kept, out.getvalue(), err.getvalue()


def deleted(*, at: int) -> tuple[list[dict], list[dict]]:
    root = [ev(ROOT_ID, STACK, "DELETE_IN_PROGRESS", seconds=at, reason="User Initiated"),
            ev(ROOT_ID, "Data", "DELETE_COMPLETE", seconds=at + 5, rtype=STACK_TYPE, physical=DATA_ID),
            ev(ROOT_ID, STACK, "DELETE_COMPLETE", seconds=at + 6)]
    data = [ev(DATA_ID, "catalog-prod-Data-ABC", "DELETE_IN_PROGRESS", seconds=at + 1),
            ev(DATA_ID, "Uploads", "DELETE_COMPLETE", seconds=at + 2, rtype="AWS::S3::Bucket", physical=BUCKET),
            ev(DATA_ID, "catalog-prod-Data-ABC", "DELETE_COMPLETE", seconds=at + 4)]
    return root, data


def test_destroy_empties_delete_policy_buckets_only_and_never_the_artifact_bucket():
    resources = {"Uploads": ("Delete", BUCKET), "Logs": ("", "shop-dev-logs"),   # no policy: Delete
                 "Archive": ("Retain", "shop-dev-archive"), "Later": ("RetainExceptOnCreate", "shop-dev-later"),
                 "Snap": ("Snapshot", "shop-dev-snap"), "Artifacts": ("Delete", "serverless-infra-artifacts-abc")}
    cfn, stub = stubbed()
    s3, s3_stub = s3_stubbed()
    data_stack_lookups(stub, resources, bootstrap_bucket="serverless-infra-artifacts-abc")
    pairs = [("a.json", "v1"), ("a.json", "v2")]
    s3_stub.add_response("list_object_versions", versions_page(pairs, [("a.json", "m1")]), {"Bucket": BUCKET})
    expect_delete(s3_stub, BUCKET, pairs + [("a.json", "m1")])
    s3_stub.add_client_error("list_object_versions", "NoSuchBucket", "The specified bucket does not exist",
                             http_status_code=404, expected_params={"Bucket": "shop-dev-logs"})
    root, data = deleted(at=10)
    before = [ev(ROOT_ID, STACK, "UPDATE_COMPLETE", seconds=-100)]
    delete_attempt(stub, resources, before=before, root=root, data=data)
    stub.add_response("describe_stack_events", newest_first(*before, *root), {"StackName": ROOT_ID})  # finish()
    not_found(stub, "describe_stack_events", DATA_ID)
    forget_syncs(s3_stub)
    kept, out, _ = destroy_with_s3(cfn, s3)
    stub.assert_no_pending_responses()
    s3_stub.assert_no_pending_responses()     # the retained buckets and the artifact bucket: no S3 call at all
    assert {k.logical_id for k in kept} == {"Archive", "Later", "Snap"}
    assert f"will be emptied and deleted: {BUCKET} (catalog-prod/Data/Uploads)" in out
    assert "will be emptied and deleted: shop-dev-logs (catalog-prod/Data/Logs)" in out
    assert "will be emptied and deleted: serverless-infra-artifacts" not in out
    assert not any(f"will be emptied and deleted: shop-dev-{b}" in out for b in ("archive", "later", "snap"))
    assert out.index("will be emptied and deleted") < out.index(f"{BUCKET}: emptied, 3 object(s) removed "
                                                                "(2 object version(s), 1 delete marker(s)).")
    assert "shop-dev-logs: does not exist (already deleted)" in out
    assert "shop-dev: DELETE_COMPLETE." in out


def test_destroy_stops_before_deleting_when_a_bucket_cannot_be_emptied():
    resources = {"Uploads": ("Delete", BUCKET)}
    cfn, stub = stubbed()
    s3, s3_stub = s3_stubbed()
    data_stack_lookups(stub, resources)
    s3_stub.add_response("list_object_versions", versions_page([("locked", "v1")]), {"Bucket": BUCKET})
    expect_delete(s3_stub, BUCKET, [("locked", "v1")], errors=[
        {"Key": "locked", "VersionId": "v1", "Code": "AccessDenied", "Message": "Access Denied because object protected by object lock."}])
    with pytest.raises(DeployError) as err:
        destroy_with_s3(cfn, s3)
    stub.assert_no_pending_responses()       # no DeleteStack
    assert "locked (version v1): AccessDenied" in str(err.value)
    assert str(err.value).endswith("shop-dev itself was not deleted.")


def failed_delete(*, at: int) -> tuple[list[dict], list[dict]]:
    """Root and Data events of a deletion that failed on a non-empty Uploads bucket."""
    root = [ev(ROOT_ID, STACK, "DELETE_IN_PROGRESS", seconds=at, reason="User Initiated"),
            ev(ROOT_ID, "Data", "DELETE_FAILED", seconds=at + 20, rtype=STACK_TYPE, physical=DATA_ID,
               reason="Embedded stack was not successfully deleted: The following resource(s) failed to delete: [Uploads]."),
            ev(ROOT_ID, STACK, "DELETE_FAILED", seconds=at + 21,
               reason="The following resource(s) failed to delete: [Data].")]
    data = [ev(DATA_ID, "catalog-prod-Data-ABC", "DELETE_IN_PROGRESS", seconds=at + 1),
            ev(DATA_ID, "Uploads", "DELETE_FAILED", seconds=at + 10, rtype="AWS::S3::Bucket", physical=BUCKET,
               reason=NOT_EMPTY),
            ev(DATA_ID, "catalog-prod-Data-ABC", "DELETE_FAILED", seconds=at + 11,
               reason="The following resource(s) failed to delete: [Uploads].")]
    return root, data


def after_failure(stub, resources, before, root, data):
    """What delete_and_wait reads after a DELETE_FAILED: finish() (list, poll), then the root cause."""
    stub.add_response("list_stack_resources", nested_resources(("Data", DATA_ID)), {"StackName": ROOT_ID})
    stub.add_response("list_stack_resources", data_resources(resources), {"StackName": DATA_ID})
    for _ in range(2):
        stub.add_response("describe_stack_events", newest_first(*of(ROOT_ID, before), *root), {"StackName": ROOT_ID})
        stub.add_response("describe_stack_events", newest_first(*of(DATA_ID, before), *data), {"StackName": DATA_ID})


@pytest.mark.parametrize("second_succeeds", [True, False])
def test_a_bucket_refilled_during_the_deletion_is_emptied_again_and_the_deletion_retried_once(second_succeeds):
    resources = {"Uploads": ("Delete", BUCKET)}
    cfn, stub = stubbed()
    s3, s3_stub = s3_stubbed()
    data_stack_lookups(stub, resources)
    s3_stub.add_response("list_object_versions", versions_page([("a", "v1")]), {"Bucket": BUCKET})
    expect_delete(s3_stub, BUCKET, [("a", "v1")])
    # First attempt: an access log landed in the bucket meanwhile; Data, and so the root, fail.
    before = [ev(ROOT_ID, STACK, "UPDATE_COMPLETE", seconds=-100),
              ev(DATA_ID, "catalog-prod-Data-ABC", "UPDATE_COMPLETE", seconds=-100)]
    root1, data1 = failed_delete(at=1)
    delete_attempt(stub, resources, before=before, root=root1, data=data1)
    after_failure(stub, resources, before, root1, data1)
    # Emptied again: the late access log.
    s3_stub.add_response("list_object_versions", versions_page([("logs/2026-11-01-12-00-05", "v9")]), {"Bucket": BUCKET})
    expect_delete(s3_stub, BUCKET, [("logs/2026-11-01-12-00-05", "v9")])
    # Second and last attempt.
    before2 = before + root1 + data1
    if second_succeeds:
        root2, data2 = deleted(at=40)
        delete_attempt(stub, resources, before=before2, root=root2, data=data2)
        stub.add_response("describe_stack_events", newest_first(*of(ROOT_ID, before2), *root2), {"StackName": ROOT_ID})
        not_found(stub, "describe_stack_events", DATA_ID)
        forget_syncs(s3_stub)
        kept, out, err = destroy_with_s3(cfn, s3)
    else:
        root2, data2 = failed_delete(at=40)
        delete_attempt(stub, resources, before=before2, root=root2, data=data2)
        after_failure(stub, resources, before2, root2, data2)
        with pytest.raises(DeployError) as failed:
            destroy_with_s3(cfn, s3)
    stub.assert_no_pending_responses()
    s3_stub.assert_no_pending_responses()
    if second_succeeds:
        assert kept == []
        assert "shop-dev ended in DELETE_FAILED: a bucket was not empty again" in err
        assert "retrying the deletion once" in err
        assert out.count(f"{BUCKET}: emptied, 1 object(s) removed") == 2
        assert out.rstrip().endswith("shop-dev: DELETE_COMPLETE.")
    else:   # no third attempt: the existing error, with its root cause
        text = str(failed.value)
        assert text.startswith("Could not delete it: catalog-prod ended in DELETE_FAILED. Root cause: "
                               "catalog-prod/Data > Uploads (AWS::S3::Bucket) DELETE_FAILED: ")
        assert "is not empty" in text and text.endswith("deletion retried once.)")


def test_only_a_non_empty_bucket_of_ours_makes_the_deletion_retry():
    from infra.deploy.destroy import DoomedBucket, blocked_by_our_bucket
    from infra.deploy.rootcause import RootCause

    ours = [DoomedBucket("catalog-prod/Data", "Uploads", BUCKET)]
    bucket = lambda stack, lid, physical, reason=NOT_EMPTY: RootCause(  # noqa: E731
        stack, lid, "AWS::S3::Bucket", "DELETE_FAILED", reason, physical)
    assert blocked_by_our_bucket(bucket("catalog-prod/Data", "Uploads", BUCKET), ours)
    assert blocked_by_our_bucket(bucket("catalog-prod/Data", "Uploads", ""), ours)      # no physical id in the event
    assert not blocked_by_our_bucket(bucket("catalog-prod/Data", "Other", "someone-elses"), ours)
    assert not blocked_by_our_bucket(bucket("catalog-prod/Data", "Uploads", BUCKET, "Access Denied"), ours)
    assert not blocked_by_our_bucket(RootCause("catalog-prod/Data", "Role", "AWS::IAM::Role", "DELETE_FAILED",
                                               "is not empty"), ours)
    assert not blocked_by_our_bucket(None, ours)


@pytest.mark.parametrize("reached, status, message", [
    (True, "DELETE_IN_PROGRESS", f"Stopped waiting: the deletion of {STACK} continues in CloudFormation."),
    (False, "UPDATE_COMPLETE", f"Interrupted (Ctrl-C) before CloudFormation started deleting {STACK}: it was not "
                               "deleted."),
    # destroy's retry after a bucket was not empty: the stack is DELETE_FAILED, not what the survey saw
    (False, "DELETE_FAILED", f"Interrupted (Ctrl-C) before CloudFormation started deleting {STACK}: it was not "
                             "deleted."),
])
def test_ctrl_c_while_delete_stack_is_in_flight_says_whether_the_deletion_runs(reached, status, message):
    cfn, stub = stubbed()
    stub.add_response("list_stack_resources", no_resources(), {"StackName": ROOT_ID})
    stub.add_response("describe_stack_events", newest_first(ev(ROOT_ID, STACK, "UPDATE_COMPLETE", seconds=-100)))
    if reached:
        stub.add_response("delete_stack", {}, {"StackName": ROOT_ID, "ClientRequestToken": ANY})
    stub.add_response("describe_stacks", stack(status), {"StackName": ROOT_ID})
    real = cfn.delete_stack

    def delete_stack(**kwargs):
        if reached:
            real(**kwargs)
        raise KeyboardInterrupt

    cfn.delete_stack = delete_stack
    runner, _, _ = runner_for(cfn)
    with pytest.raises(DeployError) as exc:
        runner.delete_and_wait(StackInfo(STACK, ROOT_ID, "UPDATE_COMPLETE"), purpose="destroy")
    stub.assert_no_pending_responses()
    assert exc.value.exit_code == 130 and str(exc.value) == message


def test_a_change_set_another_run_voided_stops_saying_nothing_changed():
    """Another run executed its change set first: CloudFormation deleted ours with the stack's others."""
    cfn, stub = stubbed()
    stub.add_response("list_stack_resources", no_resources(), {"StackName": ROOT_ID})
    stub.add_response("describe_stack_events", newest_first(ev(ROOT_ID, STACK, "UPDATE_COMPLETE", seconds=-100)))
    stub.add_client_error("execute_change_set", service_error_code="ChangeSetNotFound",
                          service_message=f"ChangeSet [{CS_ARN}] does not exist", http_status_code=404)
    stub.add_response("list_stack_resources", no_resources(), {"StackName": ROOT_ID})   # finish(): the events so far
    stub.add_response("describe_stack_events", {"StackEvents": []})
    stub.add_response("describe_stack_events", {"StackEvents": []})                      # the root-cause search
    runner, _, _ = runner_for(cfn)
    with pytest.raises(DeployError) as exc:
        runner.execute(update_plan())
    assert str(exc.value).startswith(f"The change set for {STACK} is gone: another run executed its own")
    assert "This run changed nothing: run it again" in str(exc.value)
