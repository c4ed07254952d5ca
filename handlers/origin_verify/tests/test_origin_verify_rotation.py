"""Origin-verify rotation against the moto server: Secrets Manager, the regional web ACL, the
CloudFront distribution and the SSM parameter naming them, through the four steps."""
from __future__ import annotations

import json
import urllib.request
import uuid

import boto3
import pytest
from botocore.exceptions import ClientError

NO_SUCH_LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:not-deployed-here"
ORIGINAL = "original-origin-verify-value-0123456789abcdefghij"
HEADER = "X-Origin-Verify"
PARAMETER = "/tap/dev/edge/origin-verify-targets"


def _match(value):
    return {"ByteMatchStatement": {"FieldToMatch": {"SingleHeader": {"Name": HEADER.lower()}},
                                   "PositionalConstraint": "EXACTLY", "SearchString": value.encode(),
                                   "TextTransformations": [{"Priority": 0, "Type": "NONE"}]}}


def _visibility(name):
    return {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True, "MetricName": name}


@pytest.fixture
def system(rotation, aws_env, monkeypatch):
    """A deployed edge as the stacks leave it: secret, web ACL rule, distribution, parameter."""
    aws_env.reset()
    clients = {s: boto3.client(s, endpoint_url=aws_env.endpoint_url)
               for s in ("secretsmanager", "wafv2", "cloudfront", "ssm")}
    secret = clients["secretsmanager"].create_secret(Name="tap-dev-origin-verify", SecretString=ORIGINAL)["ARN"]
    acl = clients["wafv2"].create_web_acl(
        Name="tap-dev-api-waf", Scope="REGIONAL", DefaultAction={"Allow": {}}, VisibilityConfig=_visibility("acl"),
        Rules=[{"Name": "RequireCloudFront", "Priority": 0, "Action": {"Block": {}},
                "Statement": {"NotStatement": {"Statement": _match(ORIGINAL)}},
                "VisibilityConfig": _visibility("RequireCloudFront")},
               {"Name": "AWSManagedRulesCommonRuleSet", "Priority": 2, "OverrideAction": {"None": {}},
                "Statement": {"ManagedRuleGroupStatement": {"VendorName": "AWS", "Name": "AWSManagedRulesCommonRuleSet"}},
                "VisibilityConfig": _visibility("Common")}])["Summary"]
    dist = clients["cloudfront"].create_distribution(DistributionConfig={
        "CallerReference": str(uuid.uuid4()), "Comment": "tap-dev API", "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [{
            "Id": "api", "DomainName": "abc123.execute-api.us-east-1.amazonaws.com", "OriginPath": "/dev",
            "CustomHeaders": {"Quantity": 1, "Items": [{"HeaderName": HEADER, "HeaderValue": ORIGINAL}]},
            "CustomOriginConfig": {"HTTPPort": 80, "HTTPSPort": 443, "OriginProtocolPolicy": "https-only"}}]},
        "DefaultCacheBehavior": {"TargetOriginId": "api", "ViewerProtocolPolicy": "redirect-to-https",
                                 "CachePolicyId": "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"}})["Distribution"]
    clients["ssm"].put_parameter(Name=PARAMETER, Type="String",
                                 Value=json.dumps({"webAclArn": acl["ARN"], "distributionId": dist["Id"]}))
    monkeypatch.setenv("TARGETS_PARAMETER", PARAMETER)
    monkeypatch.setenv("DEPLOY_WAIT_SECONDS", "0")
    monkeypatch.setenv("WAF_PROPAGATION_SECONDS", "0")
    return {"secret": secret, "acl": acl, "distribution": dist["Id"], **clients}


def start_rotation(system) -> str:
    """The state Secrets Manager leaves before invoking the function (see handlers/rotation's
    tests: the emulator records it, then fails to invoke the unknown function)."""
    token = str(uuid.uuid4())
    with pytest.raises(ClientError):
        system["secretsmanager"].rotate_secret(SecretId=system["secret"], ClientRequestToken=token,
                                               RotationLambdaARN=NO_SUCH_LAMBDA,
                                               RotationRules={"AutomaticallyAfterDays": 30})
    return token


def step(rotation, system, token, name):
    rotation.handler({"SecretId": system["secret"], "ClientRequestToken": token, "Step": name}, None)


def accepted(rotation, system):
    acl = system["wafv2"].get_web_acl(Name=system["acl"]["Name"], Scope="REGIONAL", Id=system["acl"]["Id"])["WebACL"]
    rule = next(r for r in acl["Rules"] if r["Name"] == "RequireCloudFront")
    return rotation.accepted_values(rule), [r["Name"] for r in acl["Rules"]]


def sent(system):
    config = system["cloudfront"].get_distribution_config(Id=system["distribution"])["DistributionConfig"]
    return [h["HeaderValue"] for o in config["Origins"]["Items"] for h in o["CustomHeaders"]["Items"]]


def value(system, **version):
    return system["secretsmanager"].get_secret_value(SecretId=system["secret"], **version)["SecretString"]


def test_four_steps_keep_two_values_valid_until_every_edge_sends_the_new_one(rotation, system):
    token = start_rotation(system)

    step(rotation, system, token, "createSecret")
    new = value(system, VersionId=token, VersionStage="AWSPENDING")
    assert new != ORIGINAL and len(new) == 48 and new.isalnum()
    assert accepted(rotation, system)[0] == [ORIGINAL] and sent(system) == [ORIGINAL]  # nothing changed yet

    step(rotation, system, token, "setSecret")
    # The dual-value window: the web ACL lets both through, CloudFront already sends the new one.
    values, rules = accepted(rotation, system)
    assert values == [ORIGINAL, new]
    assert rules == ["RequireCloudFront", "AWSManagedRulesCommonRuleSet"]  # the other rules are kept
    assert sent(system) == [new]
    assert value(system, VersionStage="AWSCURRENT") == ORIGINAL

    step(rotation, system, token, "testSecret")
    step(rotation, system, token, "finishSecret")
    assert value(system, VersionStage="AWSCURRENT") == new
    assert accepted(rotation, system)[0] == [new]  # the old value is retired
    assert sent(system) == [new]
    stages = system["secretsmanager"].describe_secret(SecretId=system["secret"])["VersionIdsToStages"]
    assert stages[token] == ["AWSCURRENT"]


def test_steps_are_idempotent_when_secrets_manager_retries_them(rotation, system):
    token = start_rotation(system)
    for name in ("createSecret", "createSecret", "setSecret", "setSecret"):
        step(rotation, system, token, name)
    new = value(system, VersionId=token, VersionStage="AWSPENDING")
    assert accepted(rotation, system)[0] == [ORIGINAL, new] and sent(system) == [new]
    for name in ("testSecret", "finishSecret"):
        step(rotation, system, token, name)
    step(rotation, system, token, "finishSecret")  # retried after success: still one value
    assert accepted(rotation, system)[0] == [new]


def test_a_rotation_after_an_abandoned_one_keeps_accepting_what_cloudfront_sends(rotation, system, monkeypatch):
    """Rotation A got through setSecret (CloudFront sends A), then failed testSecret (still
    deploying) and was abandoned. Rotation B must not drop A from the web ACL while every edge
    still sends it; and it waits for the web ACL change to spread before CloudFront moves."""
    first = start_rotation(system)
    step(rotation, system, first, "createSecret")
    step(rotation, system, first, "setSecret")
    abandoned = value(system, VersionId=first, VersionStage="AWSPENDING")
    assert sent(system) == [abandoned]
    system["secretsmanager"].update_secret_version_stage(SecretId=system["secret"], VersionStage="AWSPENDING",
                                                         RemoveFromVersionId=first)   # as AWS's docs advise
    slept: list[float] = []
    monkeypatch.setattr(rotation.time, "sleep", slept.append)
    monkeypatch.setenv("WAF_PROPAGATION_SECONDS", "60")
    second = start_rotation(system)
    step(rotation, system, second, "createSecret")
    step(rotation, system, second, "setSecret")
    new = value(system, VersionId=second, VersionStage="AWSPENDING")
    assert accepted(rotation, system)[0] == [ORIGINAL, abandoned, new]   # what CloudFront sent stays accepted
    assert sent(system) == [new] and slept == [60]
    step(rotation, system, second, "testSecret")
    step(rotation, system, second, "finishSecret")
    assert accepted(rotation, system)[0] == [new]                        # narrowed once every edge sends it


def test_test_step_fails_while_cloudfront_still_sends_the_old_value(rotation, system):
    token = start_rotation(system)
    step(rotation, system, token, "createSecret")
    rotation.set_accepted([ORIGINAL, value(system, VersionId=token, VersionStage="AWSPENDING")])
    with pytest.raises(rotation.RotationError, match="does not send the pending value"):
        step(rotation, system, token, "testSecret")
    # Nothing was retired: the current value is still accepted.
    assert ORIGINAL in accepted(rotation, system)[0]


def test_refuses_what_secrets_manager_would_never_send(rotation, system):
    with pytest.raises(rotation.RotationError, match="not enabled"):
        step(rotation, system, str(uuid.uuid4()), "createSecret")
    token = start_rotation(system)
    with pytest.raises(rotation.RotationError, match="Unknown step"):
        step(rotation, system, token, "dropSecret")
    with pytest.raises(rotation.RotationError, match="not a version"):
        step(rotation, system, str(uuid.uuid4()), "setSecret")


def test_bad_targets_parameter_is_a_clear_failure(rotation, system, monkeypatch):
    system["ssm"].put_parameter(Name=PARAMETER, Type="String", Value="{}", Overwrite=True)
    token = start_rotation(system)
    step(rotation, system, token, "createSecret")
    with pytest.raises(rotation.RotationError, match="does not hold"):
        step(rotation, system, token, "setSecret")


# -- issue 18: configuration tests, finishSecret out of order, CloudFront still deploying, call order --

@pytest.fixture
def hold_deploying(aws_env):
    """`hold_deploying()`: from then on, CloudFront distributions stay InProgress (moto's state
    manager, server side), as a real one does for minutes after an update; moto's default
    (Deployed at once) is restored afterwards."""
    def transition(path, body):
        req = urllib.request.Request(f"{aws_env.endpoint_url}/moto-api/state-manager/{path}", method="POST",
                                     data=json.dumps(body).encode())
        with urllib.request.urlopen(req, timeout=10):
            pass

    def hold():
        transition("set-transition", {"model_name": "cloudfront::distribution",
                                      "transition": {"progression": "manual", "times": 10**6}})

    yield hold
    transition("unset-transition", {"model_name": "cloudfront::distribution"})


def labels(system, token):
    return system["secretsmanager"].describe_secret(SecretId=system["secret"])["VersionIdsToStages"].get(token, [])


def test_a_configuration_test_on_an_empty_pending_version_changes_nothing(rotation, system):
    """RotateImmediatelyOnUpdate false: Secrets Manager runs testSecret on an AWSPENDING version with no value."""
    token = start_rotation(system)
    step(rotation, system, token, "testSecret")
    assert accepted(rotation, system)[0] == [ORIGINAL] and sent(system) == [ORIGINAL]
    assert labels(system, token) == ["AWSPENDING"]  # not marked tested


def test_a_configuration_test_fails_when_a_target_is_unreachable(rotation, system):
    token = start_rotation(system)
    system["ssm"].put_parameter(Name=PARAMETER, Type="String", Value="{}", Overwrite=True)
    with pytest.raises(rotation.RotationError, match="does not hold"):
        step(rotation, system, token, "testSecret")


def test_test_step_fails_while_the_distribution_is_in_progress(rotation, system, hold_deploying):
    hold_deploying()
    token = start_rotation(system)
    for name in ("createSecret", "setSecret"):
        step(rotation, system, token, name)
    new = value(system, VersionId=token, VersionStage="AWSPENDING")
    with pytest.raises(rotation.RotationError, match="still InProgress"):
        step(rotation, system, token, "testSecret")
    assert "ROTATION_TESTED" not in labels(system, token)
    assert accepted(rotation, system)[0] == [ORIGINAL, new]  # both stay valid
    with pytest.raises(rotation.RotationError, match="not passed testSecret"):
        step(rotation, system, token, "finishSecret")
    assert accepted(rotation, system)[0] == [ORIGINAL, new]
    assert value(system, VersionStage="AWSCURRENT") == ORIGINAL


def test_set_secret_widens_the_web_acl_before_it_changes_the_header(rotation, system):
    calls = []

    def record(event_name, **_):
        calls.append(event_name.split(".", 1)[1])

    hooks = [(rotation._WAF, "before-call.wafv2"), (rotation._CLOUDFRONT, "before-call.cloudfront")]
    token = start_rotation(system)
    step(rotation, system, token, "createSecret")
    for client, event in hooks:
        client.meta.events.register(event, record)
    try:
        step(rotation, system, token, "setSecret")
    finally:
        for client, event in hooks:
            client.meta.events.unregister(event, record)
    writes = [c for c in calls if ".Update" in c]
    assert len(writes) == 2 and writes[0] == "wafv2.UpdateWebACL" and writes[1].startswith("cloudfront.UpdateDistribution")


@pytest.mark.parametrize("steps", [(), ("createSecret",), ("createSecret", "setSecret")])
def test_finish_refuses_a_version_that_was_not_created_and_tested(rotation, system, steps):
    token = start_rotation(system)
    for name in steps:
        step(rotation, system, token, name)
    before = (accepted(rotation, system), sent(system))
    with pytest.raises(rotation.RotationError, match="no value|not passed testSecret"):
        step(rotation, system, token, "finishSecret")
    assert (accepted(rotation, system), sent(system)) == before
    assert value(system, VersionStage="AWSCURRENT") == ORIGINAL


def _rotate(rotation, system):
    token = start_rotation(system)
    for name in ("createSecret", "setSecret", "testSecret", "finishSecret"):
        step(rotation, system, token, name)
    return token, value(system, VersionId=token)


def test_a_late_finish_never_narrows_to_a_value_cloudfront_no_longer_sends(rotation, system):
    """A retried finishSecret of a finished rotation, while a newer rotation's setSecret already
    points CloudFront at the newer value."""
    first, first_value = _rotate(rotation, system)
    second = start_rotation(system)
    for name in ("createSecret", "setSecret"):
        step(rotation, system, second, name)
    newer = value(system, VersionId=second, VersionStage="AWSPENDING")
    with pytest.raises(rotation.RotationError, match="does not send"):
        step(rotation, system, first, "finishSecret")
    assert accepted(rotation, system)[0] == [first_value, newer] and sent(system) == [newer]


def test_a_retried_finish_waits_for_cloudfront_to_be_deployed(rotation, system, hold_deploying):
    token, current = _rotate(rotation, system)
    rotation.set_accepted([current, ORIGINAL])  # as if the first run stopped before narrowing
    # moto never takes a Deployed distribution back to InProgress (CloudFront does, on every
    # update): the targets parameter now names a distribution still deploying the same header.
    hold_deploying()
    config = system["cloudfront"].get_distribution_config(Id=system["distribution"])["DistributionConfig"]
    config["CallerReference"] = str(uuid.uuid4())
    redeploying = system["cloudfront"].create_distribution(DistributionConfig=config)["Distribution"]["Id"]
    system["ssm"].put_parameter(Name=PARAMETER, Type="String", Overwrite=True, Value=json.dumps(
        {"webAclArn": system["acl"]["ARN"], "distributionId": redeploying}))
    with pytest.raises(rotation.RotationError, match="still InProgress"):
        step(rotation, system, token, "finishSecret")
    assert accepted(rotation, system)[0] == [current, ORIGINAL]


def test_a_finish_when_the_distribution_sends_another_value_leaves_the_web_acl(rotation, system):
    token, current = _rotate(rotation, system)
    config = system["cloudfront"].get_distribution_config(Id=system["distribution"])
    config["DistributionConfig"]["Origins"]["Items"][0]["CustomHeaders"]["Items"][0]["HeaderValue"] = ORIGINAL
    system["cloudfront"].update_distribution(Id=system["distribution"], IfMatch=config["ETag"],
                                             DistributionConfig=config["DistributionConfig"])
    rotation.set_accepted([current, ORIGINAL])
    with pytest.raises(rotation.RotationError, match="does not send"):
        step(rotation, system, token, "finishSecret")
    assert accepted(rotation, system)[0] == [current, ORIGINAL]
