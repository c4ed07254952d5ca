"""Lambda and API Gateway updates, each waited for and never left half-done (thin I/O).

A function gets its configuration first (UpdateFunctionConfiguration), then its code
(UpdateFunctionCode); each is waited for until `LastUpdateStatus` leaves InProgress, since Lambda
refuses a second update while one runs ("Lambda function states",
https://docs.aws.amazon.com/lambda/latest/dg/functions-states.html). If the code update fails,
the configuration is put back as it was, so the function runs what was deployed before; the
error names the function and the state Lambda reports for it.
"""
from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from infra.deploy.session import aws_exceptions, error_code, error_message
from infra.digest import sha256
from infra.errors import DeployError

WAIT_LIMIT_S = 300.0
# "Deployment package (.zip file archive) size: 50 MB (zipped, when uploading through the API)"
# (Lambda quotas, https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html): larger
# zips go through the artifact bucket.
INLINE_ZIP_LIMIT = 50 * 1024 * 1024
SYNC_DESCRIPTION = "serverless-infra sync"


@dataclass
class FunctionUpdate:
    label: str                                  # catalog-dev/Compute > UsersFunction
    name: str                                   # the function's physical name
    code: bytes | None = None                   # the new zip, or None when the code is unchanged
    code_s3: tuple[str, str] | None = None      # (bucket, key) of that zip, for zips over the inline limit
    config: dict[str, Any] = field(default_factory=dict)   # MemorySize / Timeout / Environment to set


def code_sha256(zip_bytes: bytes) -> str:
    """Lambda's CodeSha256 of a zip: base64 of its SHA-256."""
    return base64.b64encode(sha256(zip_bytes).digest()).decode()


class Waiter:
    def __init__(self, sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                 limit: float = WAIT_LIMIT_S):
        self.sleep, self.clock, self.limit = sleep, clock, limit

    def function(self, lam: Any, name: str, label: str, answer: dict[str, Any]) -> dict[str, Any]:
        """Poll until the function's last update is no longer InProgress; the final configuration."""
        deadline = self.clock() + self.limit
        interval = 0.1
        while answer.get("LastUpdateStatus") == "InProgress" or answer.get("State") == "Pending":
            if self.clock() >= deadline:
                raise DeployError(f"{label} ({name}): Lambda still reports its update InProgress after "
                                  f"{int(self.limit)} s; check it in the console and run sync again.")
            self.sleep(interval)
            interval = min(interval * 2, 2.0)
            answer = lam.get_function_configuration(FunctionName=name)
        return answer


def _state(answer: dict[str, Any]) -> str:
    reason = answer.get("LastUpdateStatusReason") or answer.get("StateReason") or ""
    text = f"State {answer.get('State', '?')}, LastUpdateStatus {answer.get('LastUpdateStatus', '?')}"
    return text + (f": {reason}" if reason else "")


def previous_config(live: dict[str, Any], keys: list[str]) -> dict[str, Any] | None:
    """The live values of `keys`, to put back; None when Lambda does not show them (an environment
    it could not decrypt for this caller)."""
    out: dict[str, Any] = {}
    for key in keys:
        if key == "Environment":
            env = live.get("Environment") or {}
            if env.get("Error"):
                return None
            out[key] = {"Variables": dict(env.get("Variables") or {})}
        else:
            out[key] = live[key]
    return out


def check_function(lam: Any, update: FunctionUpdate) -> None:
    """Raise FunctionGone when the function does not exist (deleted outside CloudFormation)."""
    try:
        lam.get_function_configuration(FunctionName=update.name)
    except aws_exceptions() as exc:
        if error_code(exc) == "ResourceNotFoundException":
            raise FunctionGone(update.label, update.name) from None
        raise


def update_function(lam: Any, update: FunctionUpdate, waiter: Waiter) -> dict[str, Any]:
    """Apply `update`; the function's configuration afterwards. A failure raises a DeployError that
    names the function and the state it is left in (its previous configuration and code)."""
    label, name = update.label, update.name
    try:
        live = waiter.function(lam, name, label, lam.get_function_configuration(FunctionName=name))
    except aws_exceptions() as exc:
        if error_code(exc) == "ResourceNotFoundException":
            raise FunctionGone(label, name) from None
        raise
    answer = live
    if update.config:
        restore = previous_config(live, sorted(update.config))
        try:
            answer = lam.update_function_configuration(FunctionName=name, **update.config)
        except aws_exceptions() as exc:
            raise DeployError(f"{label} ({name}): Lambda refused the configuration update "
                              f"({error_code(exc)}: {error_message(exc)}); nothing was changed.") from None
        answer = waiter.function(lam, name, label, answer)
        if answer.get("LastUpdateStatus") == "Failed":
            raise DeployError(f"{label} ({name}): the configuration update failed ({_state(answer)}); Lambda keeps "
                              "the previous configuration and code.")
    else:
        restore = {}
    if update.code is not None:
        kwargs: dict[str, Any] = ({"S3Bucket": update.code_s3[0], "S3Key": update.code_s3[1]} if update.code_s3
                                  else {"ZipFile": update.code})
        failure = ""
        try:
            started = lam.update_function_code(FunctionName=name, **kwargs)
        except aws_exceptions() as exc:
            failure = f"{error_code(exc)}: {error_message(exc)}"
        else:
            try:
                answer = waiter.function(lam, name, label, started)
            except DeployError:   # still InProgress: nothing can be put back while it runs
                raise PartlyApplied(
                    f"{label} ({name}): the code update did not finish within {int(waiter.limit)} s (Lambda "
                    "still reports it InProgress). " + (
                        "Its configuration was not changed." if not update.config else
                        f"Its new configuration ({', '.join(sorted(update.config))}) was applied before and stays: it "
                        "cannot be put back while the update runs.") +
                    " Check the function in the console, then run sync again (or deploy).",
                    {**answer, "CodeSha256": code_sha256(update.code)}) from None
            except aws_exceptions() as exc:
                failure = f"{error_code(exc)}: {error_message(exc)}"
            else:
                if answer.get("LastUpdateStatus") == "Failed":
                    failure = _state(answer)
                elif answer.get("CodeSha256") != code_sha256(update.code):
                    failure = f"Lambda reports CodeSha256 {answer.get('CodeSha256')}, not that of the new zip"
        if failure:
            raise DeployError(f"{label} ({name}): the code update failed ({failure}). "
                              + _put_back(lam, name, label, restore, waiter))
    return answer


def _put_back(lam: Any, name: str, label: str, restore: dict[str, Any] | None, waiter: Waiter) -> str:
    """Restore the configuration changed before a failed code update; what state that leaves."""
    if restore == {}:
        state = _current(lam, name)
        return f"Its configuration was not changed; it runs the code deployed before ({state})."
    if restore is None:
        return ("Its new configuration stays (Lambda did not show the old environment to put it back); "
                f"it runs the code deployed before ({_current(lam, name)}). Run deploy to make it whole.")
    try:
        waiter.function(lam, name, label, lam.get_function_configuration(FunctionName=name))
        waiter.function(lam, name, label, lam.update_function_configuration(FunctionName=name, **restore))
    except aws_exceptions() as exc:
        return (f"Putting its previous configuration back failed too ({error_code(exc)}); it has the new "
                f"configuration with the code deployed before ({_current(lam, name)}). Run deploy.")
    return f"Its previous configuration was put back; it runs what was deployed before ({_current(lam, name)})."


def _current(lam: Any, name: str) -> str:
    try:
        return _state(lam.get_function_configuration(FunctionName=name))
    except aws_exceptions():
        return "state unknown"


class PartlyApplied(DeployError):
    """The code update did not finish within the wait (after the configuration update, if any,
    took effect). Lambda almost always finishes it later, so what sync sent is recorded as synced:
    `expected` is the function's configuration as it will be, the new zip's CodeSha256 included
    (a sync or diff then checks the live function against it, and sends again what is missing)."""

    def __init__(self, message: str, expected: dict[str, Any]):
        super().__init__(message)
        self.expected = expected


class FunctionGone(DeployError):
    def __init__(self, label: str, name: str):
        super().__init__(f"{label}: the function {name} does not exist although CloudFormation lists it (deleted "
                         "outside CloudFormation?). sync cannot recreate it; run deploy (if CloudFormation does not "
                         "recreate it either, remove the function from the config, deploy, and add it back).")


def update_api(apigw: Any, label: str, rest_api_id: str, document: dict[str, Any], parameters: dict[str, str],
               stage: str, digest: str, to_deployment: str | None = None, keep_stage: str = "") -> tuple[str, str]:
    """Put the OpenAPI document (overwrite), deploy it, point `stage` at it; the new deployment's id
    and the one the stage served before. `to_deployment`: the document is the deployed one, put
    back, and the stage goes back to that deployment (CloudFormation's), which already serves it.
    `keep_stage` (the deployment an earlier sync made): the document is the deployed one, and the
    stage's own entry is gone. A stage still on that sync's deployment goes to `to_deployment`
    (or a new one); one on a deployment older than the sync's (a deploy pointed it back at
    CloudFormation's) stays; one on a newer deployment, made from the API while it held the synced
    document (a deploy that changed only the user pool makes one), gets a new deployment of the
    document put back.

    Earlier sync deployments that no stage uses any more are deleted (a deploy leaves the one the
    last sync made behind: CloudFormation does not know it).
    """
    try:
        apigw.put_rest_api(restApiId=rest_api_id, mode="overwrite", failOnWarnings=False, parameters=parameters,
                           body=json.dumps(document).encode())
    except aws_exceptions() as exc:
        raise DeployError(f"{label} ({rest_api_id}): API Gateway refused the OpenAPI document ({error_code(exc)}: "
                          f"{error_message(exc)}); the API is unchanged.") from None
    try:
        previous = str(apigw.get_stage(restApiId=rest_api_id, stageName=stage).get("deploymentId", ""))
        on_cloudformations = bool(keep_stage) and previous != keep_stage
        if on_cloudformations:   # kept if made before the sync, else it serves the synced document
            deployment = previous if _made_before(apigw, rest_api_id, previous, keep_stage) else ""
        else:
            deployment = to_deployment or ""
        deployment = deployment or apigw.create_deployment(restApiId=rest_api_id,
                                                           description=f"{SYNC_DESCRIPTION} {digest}")["id"]
        if deployment != previous:
            apigw.update_stage(restApiId=rest_api_id, stageName=stage,
                               patchOperations=[{"op": "replace", "path": "/deploymentId", "value": deployment}])
    except aws_exceptions() as exc:
        raise DeployError(f"{label} ({rest_api_id}): the new definition is in place but deploying it to the stage "
                          f"{stage} failed ({error_code(exc)}: {error_message(exc)}); the stage still serves the "
                          "previous deployment. Run sync again, or deploy.") from None
    _prune(apigw, rest_api_id, keep=deployment)
    return str(deployment), previous


def _made_before(apigw: Any, rest_api_id: str, deployment: str, synced: str) -> bool:
    """`deployment` was created before the `synced` one, by API Gateway's own times (to the second:
    the same second counts as before, since a deploy made after a sync takes longer than that);
    False when either cannot be read (the sync's may have been deleted since): nothing says which."""
    try:
        made, then = (apigw.get_deployment(restApiId=rest_api_id, deploymentId=d).get("createdDate")
                      for d in (deployment, synced))
    except aws_exceptions():
        return False
    return made is not None and then is not None and bool(made <= then)


def _prune(apigw: Any, rest_api_id: str, keep: str) -> None:
    try:
        used = {s.get("deploymentId") for s in apigw.get_stages(restApiId=rest_api_id).get("item", [])}
        for dep in apigw.get_deployments(restApiId=rest_api_id, limit=500).get("items", []):
            ours = str(dep.get("description", "")).startswith(SYNC_DESCRIPTION)
            if ours and dep["id"] != keep and dep["id"] not in used:
                apigw.delete_deployment(restApiId=rest_api_id, deploymentId=dep["id"])
    except aws_exceptions():
        pass  # an old deployment left behind costs nothing
