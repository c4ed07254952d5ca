"""Secrets Manager rotation for a JSON secret ``{"username": ..., "password": ...}`` that no
database or other service checks: Lambda handler ``app.handler``, runtime python3.13.

Secrets Manager invokes the function four times per rotation with
``{"SecretId", "ClientRequestToken", "Step"}``:

* ``createSecret``: unless the version ``ClientRequestToken`` already holds a value (a retried
  step), copy the AWSCURRENT JSON object, replace ``password`` with GetRandomPassword
  (PASSWORD_LENGTH characters, without EXCLUDE_CHARACTERS) and store it as that version with
  the AWSPENDING label.
* ``setSecret``: nothing to do. The secret is not attached to a database or any other service,
  so there is no credential to change anywhere but in Secrets Manager itself. A secret that
  does back a service needs a rotation function that sets the password there in this step.
* ``testSecret``: the AWSPENDING value must be a JSON object with a non-empty string
  ``password``, keeping the ``username`` of the current value when it had one; the version then
  gets the ROTATION_TESTED label. An AWSPENDING version with no value is Secrets Manager testing
  the rotation configuration (RotateSecret with RotateImmediately false, a schedule with
  RotateImmediatelyOnUpdate false): then only what createSecret needs is checked, the current
  value (a JSON object) and GetRandomPassword.
* ``finishSecret``: only for a version that holds a value and passed testSecret (it carries
  ROTATION_TESTED); move AWSCURRENT to it (Secrets Manager then labels the old one
  AWSPREVIOUS) and take AWSPENDING and ROTATION_TESTED off it.

Before any step: rotation must be enabled on the secret, the token must be a version of it,
and a version that is already AWSCURRENT means that the rotation is complete (no-op); any
other version must carry AWSPENDING. Violations raise, so Secrets Manager records the
rotation as failed; a raised error is the only signal a rotation function has.

Environment:
  EXCLUDE_CHARACTERS  characters the new password must not contain (default ``"@/\\``;
                      empty means none excluded)
  PASSWORD_LENGTH     length of the new password, 8 to 4096 (default 32)
  LOG_LEVEL           DEBUG, INFO (default), WARNING or ERROR

IAM: secretsmanager:DescribeSecret, secretsmanager:GetSecretValue,
secretsmanager:PutSecretValue, secretsmanager:UpdateSecretVersionStage (AWSCURRENT,
AWSPENDING and ROTATION_TESTED) on the secret;
secretsmanager:GetRandomPassword (Resource "*": it is not tied to a secret); kms:Decrypt and
kms:GenerateDataKey on the secret's customer managed key. Secrets Manager must be allowed to
invoke the function (lambda:InvokeFunction, principal secretsmanager.amazonaws.com).
"""
from __future__ import annotations

import json
import os
from typing import Any

import boto3
from botocore.config import Config

from secret_rotation import (RotationError, clear_tested, log, mark_tested, pending_exists, require_tested,
                             run_step)

DEFAULT_EXCLUDE_CHARACTERS = '"@/\\'
DEFAULT_PASSWORD_LENGTH = 32

# Created once per container; honours AWS_ENDPOINT_URL (the emulator in tests).
_SECRETS = boto3.client(
    "secretsmanager",
    config=Config(
        retries={"mode": "standard", "max_attempts": 4},  # 4 retries: 5 attempts in all
        connect_timeout=3,
        read_timeout=10,
    ),
)



def _password_length() -> int:
    try:
        value = int(os.environ.get("PASSWORD_LENGTH", DEFAULT_PASSWORD_LENGTH))
    except ValueError:
        return DEFAULT_PASSWORD_LENGTH
    return value if 8 <= value <= 4096 else DEFAULT_PASSWORD_LENGTH


def _exclude_characters() -> str:
    return os.environ.get("EXCLUDE_CHARACTERS", DEFAULT_EXCLUDE_CHARACTERS)


def _secret_object(text: str | None, what: str) -> dict:
    try:
        value = json.loads(text) if text is not None else None
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise RotationError(f"The {what} value is not a JSON object")
    return value


def _pending_exists(secret_id: str, token: str) -> bool:
    return pending_exists(_SECRETS, secret_id, token)


def _random_password() -> str:
    kwargs: dict[str, Any] = {"PasswordLength": _password_length()}
    exclude = _exclude_characters()
    if exclude:
        kwargs["ExcludeCharacters"] = exclude
    return _SECRETS.get_random_password(**kwargs)["RandomPassword"]


def create_secret(secret_id: str, token: str) -> None:
    current = _SECRETS.get_secret_value(SecretId=secret_id, VersionStage="AWSCURRENT")
    if _pending_exists(secret_id, token):
        log("INFO", "createSecret: pending version already has a value", version=token)
        return
    value = _secret_object(current.get("SecretString"), "AWSCURRENT")
    value["password"] = _random_password()
    _SECRETS.put_secret_value(
        SecretId=secret_id,
        ClientRequestToken=token,
        SecretString=json.dumps(value),
        VersionStages=["AWSPENDING"],
    )
    log("INFO", "createSecret: stored the new value as AWSPENDING", version=token)


def set_secret(secret_id: str, token: str) -> None:
    # Nothing outside Secrets Manager holds this credential; see the module docstring.
    log("INFO", "setSecret: no backing service, nothing to set", version=token)


def test_secret(secret_id: str, token: str) -> None:
    if not _pending_exists(secret_id, token):
        # Secrets Manager testing the rotation configuration: an AWSPENDING version with no value
        # ("RotateImmediately", https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotateSecret.html).
        # Check that createSecret could run: the current value is readable and a JSON object, and
        # a password can be generated.
        current = _SECRETS.get_secret_value(SecretId=secret_id, VersionStage="AWSCURRENT")
        _secret_object(current.get("SecretString"), "AWSCURRENT")
        _random_password()
        log("INFO", "testSecret: no pending value (a configuration test); the secret and GetRandomPassword "
            "are reachable", version=token)
        return
    pending = _SECRETS.get_secret_value(
        SecretId=secret_id, VersionId=token, VersionStage="AWSPENDING"
    )
    value = _secret_object(pending.get("SecretString"), "AWSPENDING")
    password = value.get("password")
    if not isinstance(password, str) or not password:
        raise RotationError("The AWSPENDING value has no password")
    exclude = _exclude_characters()
    if any(ch in exclude for ch in password):
        raise RotationError("The AWSPENDING password contains an excluded character")
    current = _SECRETS.get_secret_value(SecretId=secret_id, VersionStage="AWSCURRENT")
    try:
        previous = json.loads(current.get("SecretString") or "null")
    except ValueError:
        previous = None
    if isinstance(previous, dict) and "username" in previous:
        if value.get("username") != previous["username"]:
            raise RotationError("The AWSPENDING value changed the username")
    mark_tested(_SECRETS, secret_id, token)
    log("INFO", "testSecret: the pending value is well formed", version=token)


def finish_secret(secret_id: str, token: str) -> None:
    versions = _SECRETS.describe_secret(SecretId=secret_id).get("VersionIdsToStages", {})
    current = next((v for v, stages in versions.items() if "AWSCURRENT" in stages), None)
    if current == token:
        log("INFO", "finishSecret: version is already AWSCURRENT", version=token)
        return
    require_tested(_SECRETS, secret_id, token)
    _SECRETS.update_secret_version_stage(
        SecretId=secret_id,
        VersionStage="AWSCURRENT",
        MoveToVersionId=token,
        RemoveFromVersionId=current,
    )
    _SECRETS.update_secret_version_stage(
        SecretId=secret_id, VersionStage="AWSPENDING", RemoveFromVersionId=token
    )
    clear_tested(_SECRETS, secret_id, token)
    log("INFO", "finishSecret: version is now AWSCURRENT", version=token, previous=current)


_STEP_FUNCTIONS = {
    "createSecret": create_secret,
    "setSecret": set_secret,
    "testSecret": test_secret,
    "finishSecret": finish_secret,
}


def handler(event: Any, context: Any) -> None:
    """Run one rotation step; raise (so that the rotation fails) when it cannot be done."""
    run_step(event, context, _SECRETS, _STEP_FUNCTIONS)
