"""Rotation function against Secrets Manager in the moto server: the four steps and the checks."""
from __future__ import annotations

import json
import uuid

import pytest
from botocore.exceptions import ClientError

NO_SUCH_LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:not-deployed-here"
ORIGINAL = {"username": "admin", "password": "original-password", "engine": "none"}


def new_secret(secrets, value=ORIGINAL, name="app-secret"):
    secrets.create_secret(Name=name, SecretString=value if isinstance(value, str)
                          else json.dumps(value))
    return name


def start_rotation(secrets, secret_id: str) -> str:
    """Put the secret in the state Secrets Manager leaves it in before it invokes the function.

    RotateSecret turns rotation on and adds an empty version labelled AWSPENDING, then invokes
    the Lambda. The emulator cannot run one, and fails the call *after* recording that state
    (the ARN names no function it knows), which is exactly what the steps expect to find.
    """
    token = str(uuid.uuid4())
    with pytest.raises(ClientError) as failure:
        secrets.rotate_secret(SecretId=secret_id, ClientRequestToken=token,
                              RotationLambdaARN=NO_SUCH_LAMBDA,
                              RotationRules={"AutomaticallyAfterDays": 30})
    assert failure.value.response["Error"]["Code"] == "ResourceNotFoundException"
    described = secrets.describe_secret(SecretId=secret_id)
    assert described["RotationEnabled"] is True
    assert described["VersionIdsToStages"][token] == ["AWSPENDING"]
    return token


def run(rotation, secret_id, token, *steps):
    for step in steps:
        rotation.handler({"SecretId": secret_id, "ClientRequestToken": token, "Step": step},
                         None)


def stages(secrets, secret_id):
    return secrets.describe_secret(SecretId=secret_id)["VersionIdsToStages"]


def current_value(secrets, secret_id):
    # The label is named on purpose: moto answers a call without one from the version that was
    # current when the secret was last written, not from where AWSCURRENT is now.
    return json.loads(secrets.get_secret_value(SecretId=secret_id,
                                               VersionStage="AWSCURRENT")["SecretString"])


ALL_STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")


def test_full_rotation_makes_the_new_version_current(rotation, secrets):
    secret_id = new_secret(secrets)
    old_version = next(v for v, s in stages(secrets, secret_id).items() if "AWSCURRENT" in s)
    token = start_rotation(secrets, secret_id)

    run(rotation, secret_id, token, "createSecret")
    pending = json.loads(secrets.get_secret_value(SecretId=secret_id, VersionId=token,
                                                  VersionStage="AWSPENDING")["SecretString"])
    assert current_value(secrets, secret_id) == ORIGINAL  # nothing switched yet

    run(rotation, secret_id, token, "setSecret", "testSecret", "finishSecret")
    assert stages(secrets, secret_id) == {old_version: ["AWSPREVIOUS"], token: ["AWSCURRENT"]}
    value = current_value(secrets, secret_id)
    assert value == pending
    assert value["username"] == "admin" and value["engine"] == "none"
    assert value["password"] != ORIGINAL["password"] and len(value["password"]) == 32
    assert not set(value["password"]) & set('"@/\\')
    previous = secrets.get_secret_value(SecretId=secret_id, VersionStage="AWSPREVIOUS")
    assert json.loads(previous["SecretString"]) == ORIGINAL


def test_a_second_rotation_moves_previous_along(rotation, secrets):
    secret_id = new_secret(secrets)
    first = start_rotation(secrets, secret_id)
    run(rotation, secret_id, first, *ALL_STEPS)
    second = start_rotation(secrets, secret_id)
    run(rotation, secret_id, second, *ALL_STEPS)
    labelled = {v: s for v, s in stages(secrets, secret_id).items() if s}
    assert labelled == {first: ["AWSPREVIOUS"], second: ["AWSCURRENT"]}


def test_password_settings_come_from_the_environment(rotation, secrets, monkeypatch):
    monkeypatch.setenv("EXCLUDE_CHARACTERS", "abcdefghijklmABCDEFGHIJKLM01234!#$%")
    monkeypatch.setenv("PASSWORD_LENGTH", "64")
    secret_id = new_secret(secrets)
    token = start_rotation(secrets, secret_id)
    run(rotation, secret_id, token, *ALL_STEPS)
    password = current_value(secrets, secret_id)["password"]
    assert len(password) == 64 and not set(password) & set("abcdefghijklmABCDEFGHIJKLM01234!#$%")


@pytest.mark.parametrize("length", ["3", "5000", "many"])
def test_out_of_range_password_length_falls_back_to_32(rotation, secrets, monkeypatch, length):
    monkeypatch.setenv("PASSWORD_LENGTH", length)
    secret_id = new_secret(secrets)
    token = start_rotation(secrets, secret_id)
    run(rotation, secret_id, token, *ALL_STEPS)
    assert len(current_value(secrets, secret_id)["password"]) == 32


def test_empty_exclude_characters_excludes_nothing(rotation, secrets, monkeypatch):
    monkeypatch.setenv("EXCLUDE_CHARACTERS", "")
    secret_id = new_secret(secrets)
    token = start_rotation(secrets, secret_id)
    run(rotation, secret_id, token, *ALL_STEPS)
    assert len(current_value(secrets, secret_id)["password"]) == 32


def test_create_secret_is_idempotent(rotation, secrets):
    secret_id = new_secret(secrets)
    token = start_rotation(secrets, secret_id)
    run(rotation, secret_id, token, "createSecret")
    first = secrets.get_secret_value(SecretId=secret_id, VersionId=token)["SecretString"]
    run(rotation, secret_id, token, "createSecret")  # a retried invocation
    assert secrets.get_secret_value(SecretId=secret_id, VersionId=token)["SecretString"] == first


def test_create_secret_keeps_a_pending_value_put_beforehand(rotation, secrets):
    secret_id = new_secret(secrets)
    token = str(uuid.uuid4())
    start_token = start_rotation(secrets, secret_id)
    chosen = json.dumps({"username": "admin", "password": "chosen-by-operator"})
    secrets.put_secret_value(SecretId=secret_id, ClientRequestToken=token, SecretString=chosen,
                             VersionStages=["AWSPENDING"])
    assert start_token not in {v for v, s in stages(secrets, secret_id).items() if s}
    run(rotation, secret_id, token, *ALL_STEPS)
    assert current_value(secrets, secret_id)["password"] == "chosen-by-operator"


def test_steps_on_the_current_version_do_nothing(rotation, secrets):
    secret_id = new_secret(secrets)
    token = start_rotation(secrets, secret_id)
    run(rotation, secret_id, token, *ALL_STEPS)
    before = (stages(secrets, secret_id), current_value(secrets, secret_id))
    run(rotation, secret_id, token, *ALL_STEPS)  # e.g. Secrets Manager retrying finishSecret
    assert (stages(secrets, secret_id), current_value(secrets, secret_id)) == before


def test_rotation_must_be_enabled(rotation, secrets):
    secret_id = new_secret(secrets)
    token = str(uuid.uuid4())
    secrets.put_secret_value(SecretId=secret_id, ClientRequestToken=token,
                             SecretString=json.dumps(ORIGINAL), VersionStages=["AWSPENDING"])
    with pytest.raises(rotation.RotationError, match="not enabled"):
        run(rotation, secret_id, token, "createSecret")


def test_token_must_be_a_version_of_the_secret(rotation, secrets):
    secret_id = new_secret(secrets)
    start_rotation(secrets, secret_id)
    with pytest.raises(rotation.RotationError, match="not a version"):
        run(rotation, secret_id, str(uuid.uuid4()), "createSecret")


def test_version_must_be_pending(rotation, secrets):
    secret_id = new_secret(secrets)
    first = start_rotation(secrets, secret_id)
    run(rotation, secret_id, first, *ALL_STEPS)
    original = next(v for v, s in stages(secrets, secret_id).items() if "AWSPREVIOUS" in s)
    start_rotation(secrets, secret_id)
    with pytest.raises(rotation.RotationError, match="not AWSPENDING"):
        run(rotation, secret_id, original, "finishSecret")


@pytest.mark.parametrize("pending, message", [
    ("not json", "not a JSON object"),
    ('["a"]', "not a JSON object"),
    ('{"username": "admin"}', "no password"),
    ('{"username": "admin", "password": ""}', "no password"),
    ('{"username": "admin", "password": 5}', "no password"),
    ('{"username": "root", "password": "abcdefgh"}', "changed the username"),
    ('{"username": "admin", "password": "has@sign"}', "excluded character"),
])
def test_test_secret_rejects_a_bad_pending_value(rotation, secrets, pending, message):
    secret_id = new_secret(secrets)
    token = start_rotation(secrets, secret_id)
    secrets.put_secret_value(SecretId=secret_id, ClientRequestToken=token, SecretString=pending,
                             VersionStages=["AWSPENDING"])
    with pytest.raises(rotation.RotationError, match=message):
        run(rotation, secret_id, token, "testSecret")
    assert current_value(secrets, secret_id) == ORIGINAL


@pytest.mark.parametrize("value", ["plain text", "[1, 2]", "null"])
def test_create_secret_needs_a_json_object(rotation, secrets, value):
    secret_id = new_secret(secrets, value)
    token = start_rotation(secrets, secret_id)
    with pytest.raises(rotation.RotationError, match="AWSCURRENT value is not a JSON object"):
        run(rotation, secret_id, token, "createSecret")


def test_missing_secret_fails_the_step(rotation, secrets, capsys):
    with pytest.raises(ClientError):
        run(rotation, "no-such-secret", str(uuid.uuid4()), "createSecret")
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert logged[-1]["level"] == "ERROR" and logged[-1]["step"] == "createSecret"


@pytest.mark.parametrize("event", [
    None, [], {"SecretId": "s", "ClientRequestToken": "t"},
    {"SecretId": "s", "ClientRequestToken": "t", "Step": "rotateEverything"},
    {"SecretId": "", "ClientRequestToken": "t", "Step": "createSecret"},
    {"SecretId": 5, "ClientRequestToken": "t", "Step": "createSecret"},
])
def test_malformed_events_are_refused(rotation, secrets, event):
    with pytest.raises(rotation.RotationError):
        rotation.handler(event, None)


def test_logs_are_json_lines(rotation, secrets, capsys):
    secret_id = new_secret(secrets)
    token = start_rotation(secrets, secret_id)
    run(rotation, secret_id, token, *ALL_STEPS)
    entries = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    done = [e for e in entries if e["message"] == "Rotation step done"]
    assert [e["step"] for e in done] == list(ALL_STEPS)
    assert all({"timestamp", "level", "message"} <= set(e) for e in entries)
    password = current_value(secrets, secret_id)["password"]
    assert all(password not in json.dumps(e) for e in entries)  # secrets never logged


def test_client_is_built_once_against_the_configured_endpoint(rotation):
    client = rotation._SECRETS
    assert client.meta.endpoint_url.startswith("http://127.0.0.1:")
    assert client.meta.config.retries["mode"] == "standard"


# -- issue 18: the configuration test, and finishSecret's precondition -------------------------------

def test_a_configuration_test_on_an_empty_pending_version_checks_reachability_only(rotation, secrets):
    """RotateImmediately false: Secrets Manager runs testSecret on an AWSPENDING version with no value."""
    secret_id = new_secret(secrets)
    token = start_rotation(secrets, secret_id)
    before = stages(secrets, secret_id)
    run(rotation, secret_id, token, "testSecret")
    assert stages(secrets, secret_id) == before  # nothing written, nothing marked tested
    assert current_value(secrets, secret_id) == ORIGINAL


def test_a_configuration_test_still_fails_when_create_secret_could_not_run(rotation, secrets):
    secret_id = new_secret(secrets, "plain text")
    token = start_rotation(secrets, secret_id)
    with pytest.raises(rotation.RotationError, match="AWSCURRENT value is not a JSON object"):
        run(rotation, secret_id, token, "testSecret")


@pytest.mark.parametrize("steps", [(), ("createSecret",), ("createSecret", "setSecret")])
def test_finish_refuses_a_version_that_was_not_created_and_tested(rotation, secrets, steps):
    secret_id = new_secret(secrets)
    token = start_rotation(secrets, secret_id)
    run(rotation, secret_id, token, *steps)
    before = stages(secrets, secret_id)
    with pytest.raises(rotation.RotationError, match="no value|not passed testSecret"):
        run(rotation, secret_id, token, "finishSecret")
    assert stages(secrets, secret_id) == before
    assert current_value(secrets, secret_id) == ORIGINAL


def test_a_version_tested_in_an_earlier_rotation_does_not_vouch_for_a_new_one(rotation, secrets):
    secret_id = new_secret(secrets)
    first = start_rotation(secrets, secret_id)
    run(rotation, secret_id, first, "createSecret", "setSecret", "testSecret")
    assert "ROTATION_TESTED" in stages(secrets, secret_id)[first]
    run(rotation, secret_id, first, "finishSecret")
    assert "ROTATION_TESTED" not in stages(secrets, secret_id)[first]  # taken off once current
    second = start_rotation(secrets, secret_id)
    run(rotation, secret_id, second, "createSecret")
    with pytest.raises(rotation.RotationError, match="not passed testSecret"):
        run(rotation, secret_id, second, "finishSecret")
    run(rotation, secret_id, second, "testSecret", "finishSecret")
    assert "AWSCURRENT" in stages(secrets, secret_id)[second]
