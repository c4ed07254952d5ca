"""The release live view and its rollback root cause, on recorded CodeDeploy and CloudWatch answers
(botocore Stubber): moto implements no CodeDeploy deployment of a Lambda alias, so what a real
release reports is replayed here, shaped as the APIs document it.
"""
from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from infra.deploy import changeset, release
from infra.deploy.resource_diff import Diff, Row
from infra.deploy.runner import Plan, StackRunner, StackSpec
from infra.deploy.stack_state import StackInfo
from infra.errors import DeployError
from recorded import (ANY, COMPUTE_ID, CS_ARN, ROOT_ID, STACK, STACK_TYPE, T0, Sleeper, ev, nested_resources,
                      newest_first, no_resources, quiet_ui, stubbed)

USERS = {
    "function_name": "catalog-prod-users", "alias": "live", "alias_logical_id": "UsersFunctionAlias",
    "version_logical_id_prefix": "UsersFunctionVersion", "application": "catalog-prod-releases",
    "deployment_group": "catalog-prod-users", "traffic": "canary-10-percent-15-minutes", "kind": "canary",
    "percent": 10, "interval_minutes": 15, "minutes": 15,
    "describe": "canary: 10% at once, the rest after 15 minutes",
    "alarms": ["catalog-prod-users-errors", "catalog-prod-api-5xx-errors", "catalog-prod-api-latency"],
}
PRODUCTS = {**USERS, "function_name": "catalog-prod-products", "alias_logical_id": "ProductsFunctionAlias",
            "version_logical_id_prefix": "ProductsFunctionVersion", "deployment_group": "catalog-prod-products"}
MANIFEST = {"releases": {"users": USERS, "products": PRODUCTS}}
COMPUTE = "catalog-prod/Compute"
NEW_USERS_VERSION = Row(COMPUTE, "Add", "UsersFunctionVersion0A1B2C3D4E", "AWS::Lambda::Version")
SHIFT = [Row(COMPUTE, "Modify", "UsersFunction", "AWS::Lambda::Function", "False"), NEW_USERS_VERSION,
         Row(COMPUTE, "Modify", "UsersFunctionAlias", "AWS::Lambda::Alias", "False")]
DEPLOYMENT, ROLLBACK = "d-ABCDEFGH1", "d-ABCDEFGH2"
TARGET = "catalog-prod-users:live"


def client(service: str) -> tuple[Any, Stubber]:
    c = boto3.client(service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x",
                     aws_session_token="x")
    stub = Stubber(c)
    stub.activate()
    return c, stub


def deployment(dep_id: str, status: str, *, creator: str = "CloudFormation", **extra: Any) -> dict:
    return {"deploymentInfo": {"deploymentId": dep_id, "applicationName": "catalog-prod-releases",
                               "deploymentGroupName": "catalog-prod-users", "status": status, "creator": creator,
                               "createTime": T0, "computePlatform": "Lambda", **extra}}


def target(dep_id: str, weight: float, *, traffic_started_minutes_ago: float | None) -> dict:
    events = [{"lifecycleEventName": "BeforeAllowTraffic", "status": "Succeeded"}]
    if traffic_started_minutes_ago is not None:
        events.append({"lifecycleEventName": "AllowTraffic", "status": "InProgress",
                       "startTime": NOW - timedelta(minutes=traffic_started_minutes_ago)})
    return {"deploymentTarget": {"deploymentTargetType": "LambdaTarget", "lambdaTarget": {
        "deploymentId": dep_id, "targetId": TARGET, "status": "InProgress", "lifecycleEvents": events,
        "lambdaFunctionInfo": {"functionName": "catalog-prod-users", "functionAlias": "live", "currentVersion": "3",
                               "targetVersion": "4", "targetVersionWeight": weight}}}}


NOW = T0 + timedelta(minutes=5)
ALARM_REASON = ("Threshold Crossed: 2 datapoints [9.0 (01/11/26 12:04:00), 7.0 (01/11/26 11:59:00)] were greater "
                "than the threshold (5.0).")
FIRED = {"AlarmHistoryItems": [{
    "AlarmName": "catalog-prod-users-errors", "AlarmType": "MetricAlarm", "Timestamp": T0 + timedelta(minutes=6),
    "HistoryItemType": "StateUpdate", "HistorySummary": "Alarm updated from OK to ALARM",
    "HistoryData": json.dumps({"version": "1.0", "oldState": {"stateValue": "OK"},
                               "newState": {"stateValue": "ALARM", "stateReason": ALARM_REASON}})}]}
STOPPED = dict(errorInformation={"code": "ALARM_ACTIVE", "message": "One or more alarms have been activated"},
               rollbackInfo={"rollbackDeploymentId": ROLLBACK, "rollbackMessage": "Deployment stopped"})


def expect_in_progress(cd: Stubber, start: Any = T0) -> None:
    """One poll of a canary at 10%, two minutes after traffic started to move (deployments
    created since `start`, when the deploy began)."""
    cd.add_response("list_deployments", {"deployments": [DEPLOYMENT]}, {
        "applicationName": "catalog-prod-releases", "deploymentGroupName": "catalog-prod-users",
        "createTimeRange": {"start": start}})
    cd.add_response("get_deployment", deployment(DEPLOYMENT, "InProgress"), {"deploymentId": DEPLOYMENT})
    cd.add_response("list_deployment_targets", {"targetIds": [TARGET]}, {"deploymentId": DEPLOYMENT})
    cd.add_response("get_deployment_target", target(DEPLOYMENT, 0.1, traffic_started_minutes_ago=2),
                    {"deploymentId": DEPLOYMENT, "targetId": TARGET})


def expect_rolled_back(cd: Stubber, cw: Stubber) -> None:
    """The poll after the users errors alarm fired: the release stopped, CodeDeploy rolls back
    (the alarms' history is read from the stopped deployment's creation on)."""
    cd.add_response("list_deployments", {"deployments": [DEPLOYMENT, ROLLBACK]})
    cd.add_response("get_deployment", deployment(DEPLOYMENT, "Stopped", **STOPPED), {"deploymentId": DEPLOYMENT})
    cd.add_response("get_deployment_target", target(DEPLOYMENT, 0.0, traffic_started_minutes_ago=None),
                    {"deploymentId": DEPLOYMENT, "targetId": TARGET})
    for alarm in USERS["alarms"]:
        history = FIRED if alarm.endswith("users-errors") else {"AlarmHistoryItems": []}
        cw.add_response("describe_alarm_history", history,
                        {"AlarmName": alarm, "HistoryItemType": "StateUpdate", "StartDate": T0, "EndDate": ANY,
                         "ScanBy": "TimestampAscending"})
    cd.add_response("get_deployment", deployment(ROLLBACK, "Succeeded", creator="autoRollback"),
                    {"deploymentId": ROLLBACK})
    cd.add_response("list_deployment_targets", {"targetIds": [TARGET]}, {"deploymentId": ROLLBACK})
    cd.add_response("get_deployment_target", target(ROLLBACK, 1.0, traffic_started_minutes_ago=None),
                    {"deploymentId": ROLLBACK, "targetId": TARGET})


# -- the plan -----------------------------------------------------------------------------------------
def test_a_plan_says_which_functions_shift_and_how_long_the_deploy_takes_at_least():
    releases = release.releases_of(MANIFEST)
    shifts, new = release.shifting(SHIFT, releases)
    assert [r.function for r in shifts] == ["users"] and new == []
    lines = release.plan_lines(SHIFT, releases)
    assert lines == [
        "Gradual release (CodeDeploy) of 1 function(s): users (canary: 10% at once, the rest after 15 minutes).",
        "This deploy takes at least 15 minutes: CloudFormation waits for every release, and an alarm that fires "
        "during one rolls it back and fails the deploy."]
    # A first deploy creates the aliases: nothing shifts yet.
    created = [Row(COMPUTE, "Add", "UsersFunctionAlias", "AWS::Lambda::Alias"), NEW_USERS_VERSION]
    assert release.plan_lines(created, releases) == [
        "This deploy creates the alias 'live' for users: their releases go through CodeDeploy from the next deploy "
        "that changes them on."]
    # An alias change without a new version of its function (a description) shifts nothing, and a
    # version of another function never counts for this one.
    other = [Row(COMPUTE, "Modify", "UsersFunctionAlias", "AWS::Lambda::Alias"),
             Row(COMPUTE, "Add", "UsersFunctionVersionExtraFunctionVersion0A1B2C3D4E", "AWS::Lambda::Version")]
    assert release.plan_lines(other, releases) == [] and release.plan_lines([], releases) == []


def test_diff_rendering_shows_the_release_lines(tmp_path):
    from infra.deploy.manifest import Build
    from infra.deploy.review import show_plan
    from infra.deploy.specs import local_root_spec
    from stage_fixture import write_stage

    build = Build.load(write_stage(tmp_path, production=True))
    build.raw["releases"] = MANIFEST["releases"]
    # The spec carries the manifest's releases to the review (as root_spec does for a deploy).
    assert local_root_spec(build, {}, {}).releases == MANIFEST["releases"]
    ui, out, _ = quiet_ui()
    spec = StackSpec(name=STACK, template={}, parameters={}, tags={}, releases=MANIFEST["releases"])
    plan = Plan(spec, None, kind="UPDATE", diff=Diff(rows=SHIFT))
    show_plan(ui, plan, "us-east-1", build.stateful_types)
    text = out.getvalue()
    assert "Gradual release (CodeDeploy) of 1 function(s): users" in text
    assert "This deploy takes at least 15 minutes" in text
    assert text.index("UsersFunctionAlias") < text.index("Gradual release")


# -- progress and rollback ------------------------------------------------------------------------------
def test_progress_and_rollback_from_recorded_answers():
    (users,) = [r for r in release.releases_of(MANIFEST) if r.function == "users"]
    running = release.progress(users, deployment(DEPLOYMENT, "InProgress")["deploymentInfo"],
                               target(DEPLOYMENT, 0.1, traffic_started_minutes_ago=2)["deploymentTarget"], NOW)
    assert (running.percent, running.minutes_left, running.version) == (10.0, 13.0, "4")
    assert release.progress_line(running) == (
        "Release of users: 10% of traffic on version 4, about 13 minutes until all of it.")
    waiting = release.progress(users, deployment(DEPLOYMENT, "InProgress")["deploymentInfo"],
                               target(DEPLOYMENT, 0.0, traffic_started_minutes_ago=None)["deploymentTarget"], NOW)
    assert release.progress_line(waiting) == "Release of users: InProgress (version 4 before traffic moves)."
    done = release.progress(users, deployment(DEPLOYMENT, "Succeeded")["deploymentInfo"], None, NOW)
    assert release.progress_line(done) == "Release of users: all traffic on version (succeeded)."
    cause = release.rollback_cause(users, deployment(DEPLOYMENT, "Stopped", **STOPPED)["deploymentInfo"],
                                   FIRED["AlarmHistoryItems"])
    assert cause.startswith("the release of function users (catalog-prod-users) was rolled back by CodeDeploy: "
                            "alarm catalog-prod-users-errors went to ALARM at 12:06:00 UTC (Threshold Crossed: "
                            "2 datapoints")
    # Without an alarm in the history, CodeDeploy's own error is the cause; an alarm of another
    # system in the same account never is.
    foreign = [{**FIRED["AlarmHistoryItems"][0], "AlarmName": "someone-else"}]
    fallback = release.rollback_cause(users, deployment(DEPLOYMENT, "Stopped", **STOPPED)["deploymentInfo"], foreign)
    assert "ALARM_ACTIVE: One or more alarms have been activated" in fallback
    assert release.weight_percent(0.25) == 25.0 and release.weight_percent(25.0) == 25.0


def test_the_watch_follows_a_release_and_names_the_alarm_that_rolled_it_back():
    cd, cd_stub = client("codedeploy")
    cw, cw_stub = client("cloudwatch")
    expect_in_progress(cd_stub)
    lines: list[str] = []
    clock = Sleeper()
    users = [r for r in release.releases_of(MANIFEST) if r.function == "users"]
    watch = release.ReleaseWatch(cd, cw, lines.append, users, T0, every=10.0, clock=clock.clock, now=lambda: NOW)
    watch.poll()
    watch.poll()                       # within 10 s: no call
    assert lines == ["Release of users: 10% of traffic on version 4, about 13 minutes until all of it."]
    expect_rolled_back(cd_stub, cw_stub)
    clock(10.0)
    watch.poll()
    cd_stub.assert_no_pending_responses()
    cw_stub.assert_no_pending_responses()
    assert lines[1:] == ["Release of users: stopped; traffic goes back to the previous version.",
                         "Release of users: CodeDeploy is moving traffic back to the previous version (succeeded)."]
    (cause,) = watch.causes()
    assert "alarm catalog-prod-users-errors went to ALARM" in cause


def test_a_watch_that_cannot_ask_codedeploy_says_so_once_and_the_deploy_goes_on():
    cd, cd_stub = client("codedeploy")
    cw, _ = client("cloudwatch")
    cd_stub.add_client_error("list_deployments", service_error_code="AccessDeniedException",
                             service_message="not authorized to perform: codedeploy:ListDeployments")
    lines: list[str] = []
    watch = release.ReleaseWatch(cd, cw, lines.append, release.releases_of(MANIFEST)[1:], T0, every=0.0)
    watch.poll()
    watch.poll()
    assert lines == ["Release of users: cannot follow it (not authorized to perform: codedeploy:ListDeployments); "
                     "CloudFormation still waits for it and reports how it ends."]
    assert release.failure_text(watch) == ""


# -- the deploy's live view: a rollback exits 1 with the alarm as root cause ----------------------------
class ReleaseAws:
    endpoint_url = None
    region = "us-east-1"

    def __init__(self, **clients: Any):
        self.clients = clients
        self.unsupported: set[str] = set()

    def client(self, service: str) -> Any:
        return self.clients[service]


def test_a_rolled_back_release_fails_the_deploy_naming_the_alarm():
    cfn, stub = stubbed()
    cd, cd_stub = client("codedeploy")
    cw, cw_stub = client("cloudwatch")
    # Before: the root and its compute stack, as deployed.
    stub.add_response("list_stack_resources", nested_resources(("Compute", COMPUTE_ID)), {"StackName": ROOT_ID})
    stub.add_response("list_stack_resources", no_resources(), {"StackName": COMPUTE_ID})
    stub.add_response("describe_stack_events", newest_first(ev(ROOT_ID, STACK, "UPDATE_COMPLETE", seconds=-100)))
    stub.add_response("describe_stack_events", newest_first(
        ev(COMPUTE_ID, "catalog-prod-Compute-DEF", "UPDATE_COMPLETE", seconds=-100)))
    stub.add_response("execute_change_set", {},
                      {"ChangeSetName": CS_ARN, "StackName": ROOT_ID, "ClientRequestToken": ANY})
    # CloudFormation hands the alias to CodeDeploy; the release is stopped by the users errors
    # alarm; the alias update fails and the stack rolls back.
    reason = ("Deployment d-ABCDEFGH1 failed: The deployment was stopped because alarm(s) were activated. "
              "(Service: AmazonCodeDeploy)")
    root_events = [
        ev(ROOT_ID, STACK, "UPDATE_IN_PROGRESS", seconds=1, reason="User Initiated"),
        ev(ROOT_ID, "Compute", "UPDATE_FAILED", seconds=700, rtype=STACK_TYPE, physical=COMPUTE_ID,
           reason="Embedded stack was not successfully updated. The following resource(s) failed to update: "
                  "[UsersFunctionAlias]."),
        ev(ROOT_ID, STACK, "UPDATE_ROLLBACK_IN_PROGRESS", seconds=701),
        ev(ROOT_ID, STACK, "UPDATE_ROLLBACK_COMPLETE", seconds=800),
    ]
    compute_events = [ev(COMPUTE_ID, "UsersFunctionAlias", "UPDATE_FAILED", seconds=690, rtype="AWS::Lambda::Alias",
                         reason=reason)]
    # First poll: the release is under way.
    stub.add_response("describe_stack_events", newest_first(
        ev(ROOT_ID, STACK, "UPDATE_IN_PROGRESS", seconds=1, reason="User Initiated")))
    stub.add_response("describe_stack_events", newest_first(
        ev(COMPUTE_ID, "UsersFunctionAlias", "UPDATE_IN_PROGRESS", seconds=5, rtype="AWS::Lambda::Alias")))
    expect_in_progress(cd_stub, start=ANY)
    # Second poll: everything that followed.
    stub.add_response("describe_stack_events", newest_first(*root_events))
    stub.add_response("describe_stack_events", newest_first(*compute_events))
    stub.add_response("list_stack_resources", nested_resources(("Compute", COMPUTE_ID)))  # finish()
    stub.add_response("list_stack_resources", no_resources())
    stub.add_response("describe_stack_events", {"StackEvents": []})
    stub.add_response("describe_stack_events", {"StackEvents": []})
    stub.add_response("describe_stack_events", newest_first(*root_events), {"StackName": ROOT_ID})   # root cause
    stub.add_response("describe_stack_events", newest_first(*compute_events), {"StackName": COMPUTE_ID})
    expect_rolled_back(cd_stub, cw_stub)       # the last look at the releases

    ui, out, _ = quiet_ui()
    sleeper = Sleeper()
    spec = StackSpec(name=STACK, template={}, parameters={}, tags={}, releases=MANIFEST["releases"])
    runner = StackRunner(ReleaseAws(cloudformation=cfn, codedeploy=cd, cloudwatch=cw), ui, spec,
                         change_set_name="serverless-infra-deploy", sleep=sleeper, clock=sleeper.clock)
    plan = Plan(spec, StackInfo(STACK, ROOT_ID, "UPDATE_COMPLETE"), kind="UPDATE", diff=Diff(rows=SHIFT),
                change_set=changeset.ChangeSet(arn=CS_ARN, stack_id=ROOT_ID, stack_name=STACK, kind="UPDATE"))
    with pytest.raises(DeployError) as exc:
        runner.execute(plan)
    stub.assert_no_pending_responses()
    cd_stub.assert_no_pending_responses()
    cw_stub.assert_no_pending_responses()
    assert exc.value.exit_code == 1
    text = str(exc.value)
    assert text.startswith("Update of catalog-prod failed (UPDATE_ROLLBACK_COMPLETE). Root cause: The release of "
                           "function users (catalog-prod-users) was rolled back by CodeDeploy: alarm "
                           "catalog-prod-users-errors went to ALARM at 12:06:00 UTC (Threshold Crossed"), text
    shown = out.getvalue()
    assert "Release of users: 10% of traffic on version 4" in shown
    assert "Release of users: stopped; traffic goes back to the previous version." in shown
    assert shown.index("UsersFunctionAlias") < shown.index("Release of users: 10%")
