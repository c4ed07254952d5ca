"""What every Secrets Manager rotation function does around its four steps.

Linked into each rotation handler's directory (packaging follows the link, so each zip carries
its own copy): the event checks, the version-stage checks, one JSON log line per step, and the
pending-version lookup. The steps themselves are the handler's.
https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_lambda-functions.html
"""
from __future__ import annotations

import json
import os
import sys
import traceback
from datetime import datetime, timezone
from typing import Any, Callable

from botocore.exceptions import ClientError

STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")
# Our own staging label: testSecret attaches it to the version it has just tested, finishSecret
# promotes only a version that carries it, then takes it off. A label is on one version at a
# time (UpdateSecretVersionStage), so a version tested in an earlier rotation loses it.
# https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_UpdateSecretVersionStage.html
TESTED = "ROTATION_TESTED"
_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40}


class RotationError(Exception):
    """The rotation cannot proceed; Secrets Manager marks it as failed (and retries it)."""


def log(level: str, message: str, **fields: Any) -> None:
    """One JSON log line on stdout; never a secret's value."""
    threshold = _LEVELS.get(os.environ.get("LOG_LEVEL", "INFO").upper(), _LEVELS["INFO"])
    if _LEVELS[level] >= threshold:
        record = {"timestamp": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                  "level": level, "message": message, **fields}
        sys.stdout.write(json.dumps(record, default=str) + "\n")
        sys.stdout.flush()


def pending_exists(secrets: Any, secret_id: str, token: str) -> bool:
    """Whether version `token` of the secret is already staged AWSPENDING."""
    try:
        secrets.get_secret_value(SecretId=secret_id, VersionId=token, VersionStage="AWSPENDING")
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return False
        raise
    return True


def version_stages(secrets: Any, secret_id: str) -> dict[str, list[str]]:
    """Every version of the secret and its staging labels."""
    return secrets.describe_secret(SecretId=secret_id).get("VersionIdsToStages", {})


def mark_tested(secrets: Any, secret_id: str, token: str) -> None:
    """Record that version `token` passed testSecret (moves the TESTED label to it)."""
    holder = next((v for v, stages in version_stages(secrets, secret_id).items() if TESTED in stages), None)
    if holder == token:
        return
    moved = {"RemoveFromVersionId": holder} if holder else {}
    secrets.update_secret_version_stage(SecretId=secret_id, VersionStage=TESTED, MoveToVersionId=token, **moved)


def require_tested(secrets: Any, secret_id: str, token: str) -> None:
    """finishSecret's precondition: the pending version holds a value and passed testSecret.

    Without it, a finishSecret run out of order (by hand, or by a retry after a failed
    createSecret or testSecret) would make AWSCURRENT a version that has no value, or one that
    nothing checked.
    """
    if not pending_exists(secrets, secret_id, token):
        raise RotationError("The AWSPENDING version has no value (createSecret never stored one); "
                            "refusing to make it AWSCURRENT")
    if TESTED not in version_stages(secrets, secret_id).get(token, []):
        raise RotationError("The AWSPENDING version has not passed testSecret; refusing to make it AWSCURRENT")


def clear_tested(secrets: Any, secret_id: str, token: str) -> None:
    """Take the TESTED label off version `token` (once it is AWSCURRENT)."""
    if TESTED in version_stages(secrets, secret_id).get(token, []):
        secrets.update_secret_version_stage(SecretId=secret_id, VersionStage=TESTED, RemoveFromVersionId=token)


def run_step(event: Any, context: Any, secrets: Any, steps: dict[str, Callable[[str, str], None]], *,
             finish_when_current: bool = False) -> None:
    """Check the event and the version's stages, then run the step it names; raise (so that the
    rotation fails) when it cannot be done.

    A version already AWSCURRENT has nothing left to do, unless `finish_when_current`: a rotation
    that must clean up after the switch (retire the old value elsewhere) runs finishSecret again.
    """
    if not isinstance(event, dict):
        raise RotationError("The event is not an object")
    secret_id, token, step = (event.get(k) for k in ("SecretId", "ClientRequestToken", "Step"))
    if not all(isinstance(v, str) and v for v in (secret_id, token, step)):
        raise RotationError("The event needs SecretId, ClientRequestToken and Step")
    if step not in steps:
        raise RotationError(f"Unknown step {step!r}; expected one of {', '.join(STEPS)}")
    fields = {"secretId": secret_id, "step": step, "version": token,
              "lambdaRequestId": getattr(context, "aws_request_id", None)}
    try:
        metadata = secrets.describe_secret(SecretId=secret_id)
        if not metadata.get("RotationEnabled"):
            raise RotationError("Rotation is not enabled on the secret")
        stages = metadata.get("VersionIdsToStages", {})
        if token not in stages:
            raise RotationError("The token is not a version of the secret")
        current = "AWSCURRENT" in stages[token]
        if current and not (finish_when_current and step == "finishSecret"):
            log("INFO", "Version is already AWSCURRENT; nothing to do", **fields)
            return
        if not current and "AWSPENDING" not in stages[token]:
            raise RotationError("The version is not AWSPENDING")
        steps[step](secret_id, token)
    except Exception as err:
        log("ERROR", "Rotation step failed", error=type(err).__name__, detail=str(err),
            exception=traceback.format_exc(), **fields)
        raise
    log("INFO", "Rotation step done", **fields)
