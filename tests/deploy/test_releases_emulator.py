"""End to end on the emulator: the production config's functions are reached through their alias
`live`, and a deploy that changes a function publishes a version and moves the alias to it.

CodeDeploy's traffic shifting itself is not emulated (see src/infra/emulator/patches.py, 4d): the alias
moves at once here. What a release reports while it shifts, and its rollback, are tested on
recorded answers in test_releases_stubbed.py.
"""
from __future__ import annotations

import json

import pytest

from deploy_emulator import REPO, boto

STACK = "catalog-prod"
CI = ("--yes", "--require-approval", "never", "--skip-check", "config-recorder")


@pytest.fixture
def catalog(emulator, tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    config = tmp_path / "catalog-api.toml"
    config.write_text((REPO / "config" / "catalog-api.toml").read_text())
    return config


def test_the_alias_serves_each_new_version_and_diff_announces_the_release(catalog, cli, emulator, tmp_path):
    args = ["--config", catalog, "--out", tmp_path / "out", "--endpoint-url", emulator.endpoint_url]
    lam = boto(emulator.endpoint_url, "lambda")

    created = cli("deploy", *args, *CI)
    assert created.exit_code == 0, created.output
    assert "This deploy creates the alias 'live' for products, users:" in created.stdout
    for name in ("catalog-prod-users", "catalog-prod-products"):
        alias = lam.get_alias(FunctionName=name, Name="live")
        assert alias["FunctionVersion"] == "1"
        assert alias["AliasArn"].endswith(f":function:{name}:live")
    ssm = boto(emulator.endpoint_url, "ssm")
    assert ssm.get_parameter(Name="/catalog/prod/functions/users/arn")["Parameter"]["Value"].endswith(
        ":function:catalog-prod-users:live")

    # A configuration change alone (memory) publishes a version: the diff says the release is gradual.
    text = catalog.read_text()
    users = text.index("[functions.users]")
    catalog.write_text(text[:users] + text[users:].replace("memory = 256", "memory = 512", 1))
    diff = cli("diff", *args)
    assert diff.exit_code == 0, diff.output
    assert "Gradual release (CodeDeploy) of 1 function(s): users (canary: 10% at once, the rest after 15 minutes)." \
        in diff.stdout
    # The version the alias serves leaves the template, and is kept (Retain): said so, not as a deletion.
    removed = [line for line in diff.stdout.splitlines() if "Remove" in line and "AWS::Lambda::Version" in line]
    assert removed and all("kept in the account (Retain)" in line for line in removed), diff.stdout
    # ... and, on the emulator, that the release there is none: no CodeDeploy, no hook, no alarm.
    said = " ".join(diff.stdout.split())
    assert "On AWS this deploy takes at least 15 minutes. The emulator has no CodeDeploy: it moves each alias " \
           "at once, runs no before- or after-traffic hook and watches no alarm." in said
    updated = cli("deploy", *args, *CI)
    assert updated.exit_code == 0, updated.output
    alias = lam.get_alias(FunctionName="catalog-prod-users", Name="live")
    assert alias["FunctionVersion"] == "2"
    assert lam.get_function_configuration(FunctionName="catalog-prod-users", Qualifier="live")["MemorySize"] == 512
    assert lam.get_alias(FunctionName="catalog-prod-products", Name="live")["FunctionVersion"] == "1"
    versions = [v["Version"] for v in lam.list_versions_by_function(FunctionName="catalog-prod-users")["Versions"]]
    assert versions == ["$LATEST", "1", "2"]           # the previous version is kept (retained)
    assert cli("diff", *args, "--fail").exit_code == 0

    gone = cli("destroy", *args, "--yes", "--disable-termination-protection")
    assert gone.exit_code == 0, gone.output
    assert "AWS::Lambda::Version" not in gone.stdout   # versions go with their function, nothing "kept"
    outputs = json.loads((tmp_path / "out" / "catalog-api" / "manifest.json").read_text())
    assert set(outputs["releases"]) == {"users", "products"}
