"""The CI recipes: the GitHub Actions workflow and the pre-commit config validate against their
published JSON Schemas (vendored in tests/schemas, so this runs offline), use OIDC rather than
stored keys, and only call commands the CLI has."""
from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import jsonschema
import pytest
import referencing
import yaml

from infra.cli import main
from support.shipped import REPO

SCHEMAS = Path(__file__).resolve().parent / "schemas"
WORKFLOW = REPO / "ci" / "github-actions" / "deploy.yml"
PRE_COMMIT = REPO / ".pre-commit-config.yaml"
# Options the recipes use that another branch adds to the CLI (issue 9: `diff --fail`).
PENDING = {("diff", "--fail")}


class _Yaml12Loader(yaml.SafeLoader):
    """YAML as GitHub reads it: `on` is a key, not the boolean YAML 1.1 makes of it."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|false)$"), list("tf"))


def load_yaml(path: Path):
    return yaml.load(path.read_text(), Loader=_Yaml12Loader)  # noqa: S506 - a SafeLoader subclass


def schema(name: str) -> dict:
    return json.loads((SCHEMAS / name).read_text())


def validate(document, schema_name: str) -> list[str]:
    # Schemas that $ref their siblings (pre-commit-config -> pre-commit-hooks) resolve from the
    # vendored copies, never from the network.
    registry = referencing.Registry().with_resources(
        (s["$id"], referencing.Resource.from_contents(s))
        for s in (schema(p.name) for p in SCHEMAS.glob("*.json")) if "$id" in s)
    validator = jsonschema.Draft7Validator(schema(schema_name), registry=registry)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def test_the_workflow_validates_against_the_published_schema():
    workflow = load_yaml(WORKFLOW)
    assert "on" in workflow  # read as YAML 1.2, like GitHub
    assert validate(workflow, "github-workflow.json") == []


def test_the_pre_commit_config_validates_against_the_published_schema():
    assert validate(load_yaml(PRE_COMMIT), "pre-commit-config.json") == []


def test_the_validation_would_catch_a_broken_workflow():
    workflow = load_yaml(WORKFLOW)
    workflow["jobs"]["deploy"]["runs-on"] = None
    workflow["jobs"]["check"]["steps"][0] = {"uses": 5}
    assert len(validate(workflow, "github-workflow.json")) >= 2
    for key, value in (("pass_filenames", "no"), ("stages", "commit")):  # stages: via pre-commit-hooks.json
        hooks = load_yaml(PRE_COMMIT)
        hooks["repos"][0]["hooks"][0][key] = value
        assert validate(hooks, "pre-commit-config.json"), key
    assert validate({"hooks": []}, "pre-commit-config.json")


def test_aws_access_is_oidc_role_assumption_only():
    workflow = load_yaml(WORKFLOW)
    text = WORKFLOW.read_text()
    for forbidden in ("aws-access-key-id", "aws-secret-access-key", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                      "${{ secrets."):
        assert forbidden not in text
    assert workflow["permissions"] == {"contents": "read"}  # least privilege by default
    credential_jobs = []
    for name, job in workflow["jobs"].items():
        uses = [s for s in job["steps"] if str(s.get("uses", "")).startswith("aws-actions/configure-aws-credentials")]
        if uses:
            credential_jobs.append(name)
            assert job["permissions"].get("id-token") == "write", name
            assert all(s["with"]["role-to-assume"].startswith("${{ vars.") for s in uses), name
        else:
            assert "id-token" not in job.get("permissions", {}), name
    assert sorted(credential_jobs) == ["deploy", "diff"]


def test_pull_requests_diff_with_fail_and_main_deploys():
    workflow = load_yaml(WORKFLOW)
    jobs = workflow["jobs"]
    assert set(workflow["on"]) == {"pull_request", "push"}
    diff_runs = " ".join(s.get("run", "") for s in jobs["diff"]["steps"])
    assert "generate.py diff --config" in diff_runs and "--fail" in diff_runs
    assert "pull_request" in jobs["diff"]["if"]
    assert "refs/heads/main" in jobs["deploy"]["if"] and jobs["deploy"]["environment"] == "production"
    deploy_runs = " ".join(s.get("run", "") for s in jobs["deploy"]["steps"])
    assert "generate.py deploy --config" in deploy_runs
    check_runs = " ".join(s.get("run", "") for s in jobs["check"]["steps"])
    assert "make test" in check_runs and "lint --format sarif" in check_runs
    assert jobs["diff"]["needs"] == jobs["deploy"]["needs"] == "check"


def test_the_workflow_cannot_run_in_this_repository():
    assert not (REPO / ".github" / "workflows").exists() or not any((REPO / ".github" / "workflows").iterdir())


def _invocations(text: str) -> list[list[str]]:
    """Every `generate.py COMMAND ...` in the text, as argument lists."""
    found = []
    for line in text.splitlines():
        if "generate.py " in line:
            words = shlex.split(line.split("generate.py ", 1)[1].replace('"$CONFIG"', "CONFIG"))
            found.append(words)
    return found


@pytest.mark.parametrize("recipe", [WORKFLOW, PRE_COMMIT], ids=["workflow", "pre-commit"])
def test_the_recipes_call_only_commands_and_options_the_cli_has(recipe):
    invocations = _invocations(recipe.read_text())
    assert invocations
    for words in invocations:
        command = main.get_command(None, words[0])
        assert command is not None, words
        known = {opt for param in command.params for opt in param.opts}
        for word in words[1:]:
            if word.startswith("--"):
                assert word in known or (words[0], word) in PENDING, (words[0], word)

