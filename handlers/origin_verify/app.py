"""Secrets Manager rotation of the CloudFront origin-verification secret, without dropping a
request: Lambda handler ``app.handler``, runtime python3.14.

The secret's value is the header CloudFront adds to every origin request (X-Origin-Verify), and
the regional web ACL in front of the API blocks requests without it. Both must change together,
and CloudFront takes minutes to reach every edge location, so the steps keep two values valid:

* ``createSecret``: a new random value (GetRandomPassword, letters and digits) as AWSPENDING,
  unless that version already has one (a retried step).
* ``setSecret``: the web ACL's RequireCloudFront rule accepts the pending value besides every
  value it accepts already and every value the distribution sends now (never fewer: an earlier
  rotation abandoned after its setSecret left CloudFront sending a value that is not AWSCURRENT);
  after WAF_PROPAGATION_SECONDS, for the change to reach every WAF node, the distribution's origin
  header is set to the pending value.
* ``testSecret``: the web ACL accepts the pending value, every origin sends it, and the
  distribution is Deployed (every edge sends the new value); the version then gets the
  ROTATION_TESTED label. Still deploying after DEPLOY_WAIT_SECONDS: the step fails and Secrets
  Manager retries the rotation later; nothing is lost, both values stay valid meanwhile. An
  AWSPENDING version with no value is Secrets Manager testing the rotation configuration (the
  schedule has RotateImmediatelyOnUpdate false): then only reachability is checked (the secret,
  GetRandomPassword, the targets parameter, the web ACL and its rule, the distribution and its
  origin header), and nothing is changed.
* ``finishSecret``: only for a version that holds a value and passed testSecret; and, checked
  again right before anything changes, only while every origin of the distribution sends that
  value and the distribution is Deployed. AWSCURRENT moves to the new version, then the web ACL
  accepts only it (the old value is retired). Run again for a version already AWSCURRENT (a
  retry), it narrows the web ACL under the same check, so a late or early run never makes the
  web ACL refuse what CloudFront sends.

Before any step the same checks as handlers/rotation apply: rotation enabled, the token is a
version of the secret, an AWSCURRENT version means the rotation is complete, anything else
must be AWSPENDING.

Environment:
  TARGETS_PARAMETER    SSM parameter holding {"webAclArn": ..., "distributionId": ...}
                       (written by the edge stack)
  HEADER_NAME          origin header carrying the value (default X-Origin-Verify)
  RULE_NAME            web ACL rule checking it (default RequireCloudFront)
  VALUE_LENGTH         length of new values, 32 to 128 (default 48)
  DEPLOY_WAIT_SECONDS  how long testSecret waits for CloudFront (default 240)
  WAF_PROPAGATION_SECONDS  how long setSecret waits between the web ACL and the distribution
                       (default 60: "AWS WAF ... propagates ... usually within a minute")
  LOG_LEVEL            DEBUG, INFO (default), WARNING or ERROR
"""
from __future__ import annotations

import json
import os
import time
from typing import Any

import boto3
from botocore.config import Config

from secret_rotation import (RotationError, clear_tested, log, mark_tested, pending_exists, require_tested,
                             run_step)

# UpdateWebACL takes the whole ACL and resets what it is not given: every other part GetWebACL
# gave that UpdateWebACL takes (data protection, association, captcha, ... and parts added to the
# API later) is passed back as it was.
_ACL_SET_HERE = {"Name", "Scope", "Id", "DefaultAction", "Rules", "VisibilityConfig", "LockToken"}
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=3, read_timeout=10)
# Created once per container; honour AWS_ENDPOINT_URL (the emulator in tests).
_SECRETS = boto3.client("secretsmanager", config=_CONFIG)
_SSM = boto3.client("ssm", config=_CONFIG)
_WAF = boto3.client("wafv2", config=_CONFIG)
_CLOUDFRONT = boto3.client("cloudfront", config=_CONFIG)
POLL_SECONDS = 15



def _int_env(name: str, default: int, low: int, high: int) -> int:
    try:
        value = int(os.environ.get(name, default))
    except ValueError:
        return default
    return value if low <= value <= high else default


def _header() -> str:
    return os.environ.get("HEADER_NAME", "X-Origin-Verify")


def _rule_name() -> str:
    return os.environ.get("RULE_NAME", "RequireCloudFront")


def _targets() -> tuple[str, str, str]:
    """(web ACL name, web ACL id, distribution id) from the edge stack's SSM parameter."""
    name = os.environ.get("TARGETS_PARAMETER")
    if not name:
        raise RotationError("TARGETS_PARAMETER is not set")
    try:
        raw = json.loads(_SSM.get_parameter(Name=name)["Parameter"]["Value"])
        # arn:<partition>:wafv2:<region>:<account>:regional/webacl/<name>/<id>
        scope_part, kind, acl_name, acl_id = raw["webAclArn"].split(":", 5)[5].split("/")
        distribution = raw["distributionId"]
    except (ValueError, KeyError, TypeError):
        raise RotationError(f"SSM parameter {name} does not hold the web ACL ARN and distribution ID") from None
    if scope_part != "regional" or kind != "webacl" or not isinstance(distribution, str):
        raise RotationError(f"SSM parameter {name} does not name a regional web ACL")
    return acl_name, acl_id, distribution


def _value(secret_id: str, **version: str) -> str:
    text = _SECRETS.get_secret_value(SecretId=secret_id, **version).get("SecretString")
    if not isinstance(text, str) or not text:
        raise RotationError("The secret version has no string value")
    return text


def _pending_exists(secret_id: str, token: str) -> bool:
    return pending_exists(_SECRETS, secret_id, token)


# -- the web ACL ---------------------------------------------------------------------------------
def _byte_match(value: str) -> dict:
    return {"ByteMatchStatement": {
        "FieldToMatch": {"SingleHeader": {"Name": _header().lower()}}, "PositionalConstraint": "EXACTLY",
        "SearchString": value.encode(), "TextTransformations": [{"Priority": 0, "Type": "NONE"}]}}


def _search_string(statement: dict) -> str:
    raw = statement["ByteMatchStatement"]["SearchString"]
    return raw.decode() if isinstance(raw, (bytes, bytearray)) else str(raw)


def accepted_values(rule: dict) -> list[str]:
    """The header values a RequireCloudFront rule lets through (one, or two during rotation)."""
    inner = rule["Statement"]["NotStatement"]["Statement"]
    if "OrStatement" in inner:
        return [_search_string(s) for s in inner["OrStatement"]["Statements"]]
    return [_search_string(inner)]


def _web_acl() -> tuple[dict, str]:
    name, acl_id, _ = _targets()
    got = _WAF.get_web_acl(Name=name, Scope="REGIONAL", Id=acl_id)
    return got["WebACL"], got["LockToken"]


def _rule(acl: dict) -> dict:
    for rule in acl.get("Rules", []):
        if rule.get("Name") == _rule_name():
            return rule
    raise RotationError(f"The web ACL has no rule {_rule_name()}")


def set_accepted(values: list[str]) -> None:
    """Make the web ACL's rule block requests whose header is none of `values`."""
    acl, lock = _web_acl()
    rule = _rule(acl)
    if accepted_values(rule) == values:
        return
    matches = [_byte_match(v) for v in values]
    # WAF's OrStatement takes two or more statements.
    rule["Statement"] = {"NotStatement": {"Statement": matches[0] if len(matches) == 1
                                          else {"OrStatement": {"Statements": matches}}}}
    takes = _WAF.meta.service_model.operation_model("UpdateWebACL").input_shape.members
    kwargs = {k: v for k, v in acl.items() if k in takes and k not in _ACL_SET_HERE and v}
    _WAF.update_web_acl(Name=acl["Name"], Scope="REGIONAL", Id=acl["Id"], DefaultAction=acl["DefaultAction"],
                        Rules=acl["Rules"], VisibilityConfig=acl["VisibilityConfig"], LockToken=lock, **kwargs)
    log("INFO", "web ACL updated", acceptedValues=len(values))


# -- the distribution ----------------------------------------------------------------------------
def _origin_headers(config: dict) -> list[dict]:
    found = []
    for origin in config.get("Origins", {}).get("Items", []):
        for header in origin.get("CustomHeaders", {}).get("Items", []):
            if header.get("HeaderName", "").lower() == _header().lower():
                found.append(header)
    return found


def set_origin_header(value: str) -> None:
    """Point every origin's verification header at `value` (no-op when already there)."""
    _, _, distribution = _targets()
    got = _CLOUDFRONT.get_distribution_config(Id=distribution)
    config = got["DistributionConfig"]
    headers = _origin_headers(config)
    if not headers:
        raise RotationError(f"No origin of distribution {distribution} sends {_header()}")
    if all(h["HeaderValue"] == value for h in headers):
        return
    for h in headers:
        h["HeaderValue"] = value
    _CLOUDFRONT.update_distribution(Id=distribution, IfMatch=got["ETag"], DistributionConfig=config)
    log("INFO", "distribution origin header updated", distribution=distribution)


def _sent_values() -> list[str]:
    """The header values the distribution's origins send now (in its configuration)."""
    _, _, distribution = _targets()
    config = _CLOUDFRONT.get_distribution_config(Id=distribution)["DistributionConfig"]
    return [h["HeaderValue"] for h in _origin_headers(config)]


def _origins_send(value: str) -> bool:
    sent = _sent_values()
    return bool(sent) and all(v == value for v in sent)


def _wait_deployed(deadline: float) -> None:
    _, _, distribution = _targets()
    while True:
        status = _CLOUDFRONT.get_distribution(Id=distribution)["Distribution"]["Status"]
        if status == "Deployed":
            return
        if time.monotonic() + POLL_SECONDS > deadline:
            raise RotationError(f"Distribution {distribution} is still {status}; the rotation is retried later "
                                "and both values stay accepted meanwhile")
        time.sleep(POLL_SECONDS)


# -- the four steps ------------------------------------------------------------------------------
def _random_value() -> str:
    return _SECRETS.get_random_password(PasswordLength=_int_env("VALUE_LENGTH", 48, 32, 128),
                                        ExcludePunctuation=True, IncludeSpace=False)["RandomPassword"]


def _require_sent_everywhere(value: str) -> None:
    """Every origin of the distribution sends `value` and the distribution is Deployed (every
    edge location has that configuration): only then may the web ACL accept nothing else."""
    if not _origins_send(value):
        raise RotationError("The distribution does not send this version's value; the web ACL is left as it is")
    _wait_deployed(time.monotonic())  # one look: testSecret did the waiting


def create_secret(secret_id: str, token: str) -> None:
    _value(secret_id, VersionStage="AWSCURRENT")
    if _pending_exists(secret_id, token):
        log("INFO", "createSecret: pending version already has a value", version=token)
        return
    value = _random_value()
    _SECRETS.put_secret_value(SecretId=secret_id, ClientRequestToken=token, SecretString=value,
                              VersionStages=["AWSPENDING"])
    log("INFO", "createSecret: stored the new value as AWSPENDING", version=token)


def set_secret(secret_id: str, token: str) -> None:
    current = _value(secret_id, VersionStage="AWSCURRENT")
    pending = _value(secret_id, VersionId=token, VersionStage="AWSPENDING")
    # The web ACL first, and it only widens here: edges still sending whatever they send now
    # (the current value, or an abandoned rotation's) and edges already sending the pending one
    # all get through. finishSecret narrows it, once every edge sends one value.
    already = accepted_values(_rule(_web_acl()[0]))
    wanted = list(dict.fromkeys([*already, *_sent_values(), current, pending]))
    if wanted != already:
        set_accepted(wanted)
        time.sleep(_int_env("WAF_PROPAGATION_SECONDS", 60, 0, 300))
    set_origin_header(pending)


def _test_reachability(secret_id: str, token: str) -> None:
    """Secrets Manager testing the rotation configuration (an AWSPENDING version with no value,
    "RotateImmediately", https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotateSecret.html):
    every call the rotation makes can be made, and nothing changes."""
    _value(secret_id, VersionStage="AWSCURRENT")
    _random_value()
    _rule(_web_acl()[0])
    _, _, distribution = _targets()
    if not _origin_headers(_CLOUDFRONT.get_distribution_config(Id=distribution)["DistributionConfig"]):
        raise RotationError(f"No origin of distribution {distribution} sends {_header()}")
    _CLOUDFRONT.get_distribution(Id=distribution)
    log("INFO", "testSecret: no pending value (a configuration test); the secret, web ACL and distribution "
        "are reachable", version=token)


def test_secret(secret_id: str, token: str) -> None:
    if not _pending_exists(secret_id, token):
        _test_reachability(secret_id, token)
        return
    pending = _value(secret_id, VersionId=token, VersionStage="AWSPENDING")
    acl, _ = _web_acl()
    if pending not in accepted_values(_rule(acl)):
        raise RotationError("The web ACL does not accept the pending value")
    if not _origins_send(pending):
        raise RotationError("The distribution does not send the pending value")
    _wait_deployed(time.monotonic() + _int_env("DEPLOY_WAIT_SECONDS", 240, 0, 840))
    mark_tested(_SECRETS, secret_id, token)
    log("INFO", "testSecret: the pending value is accepted and sent by every edge", version=token)


def finish_secret(secret_id: str, token: str) -> None:
    versions = _SECRETS.describe_secret(SecretId=secret_id).get("VersionIdsToStages", {})
    current = next((v for v, stages in versions.items() if "AWSCURRENT" in stages), None)
    if current != token:
        require_tested(_SECRETS, secret_id, token)
    value = _value(secret_id, VersionId=token)
    # Whatever ran before (or did not), the web ACL is narrowed to this value only while
    # CloudFront sends it from every edge: not after createSecret alone, not when a newer
    # rotation's setSecret already points the distribution elsewhere.
    _require_sent_everywhere(value)
    if current != token:
        _SECRETS.update_secret_version_stage(SecretId=secret_id, VersionStage="AWSCURRENT",
                                             MoveToVersionId=token, RemoveFromVersionId=current)
        _SECRETS.update_secret_version_stage(SecretId=secret_id, VersionStage="AWSPENDING",
                                             RemoveFromVersionId=token)
        clear_tested(_SECRETS, secret_id, token)
    set_accepted([value])
    log("INFO", "finishSecret: the new value is current and the only one accepted", version=token,
        previous=current)


_STEP_FUNCTIONS = {"createSecret": create_secret, "setSecret": set_secret, "testSecret": test_secret,
                   "finishSecret": finish_secret}


def handler(event: Any, context: Any) -> None:
    """Run one rotation step; raise (so that the rotation fails) when it cannot be done."""
    run_step(event, context, _SECRETS, _STEP_FUNCTIONS, finish_when_current=True)
