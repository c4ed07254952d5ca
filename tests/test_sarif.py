"""`lint --format sarif`: SARIF 2.1.0 that validates against the published schema (vendored)."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from infra.cli import main
from infra.lint import Finding, lint
from infra.sarif import render, to_sarif

SCHEMAS = Path(__file__).resolve().parent / "schemas"
SARIF_SCHEMA = json.loads((SCHEMAS / "sarif-2.1.0.json").read_text())


def assert_valid_sarif(log: dict) -> None:
    validator = jsonschema.Draft7Validator(SARIF_SCHEMA, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(log), key=str)
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]


FINDINGS = [
    Finding("out/catalog-api/api.json", 12, "E3012", "error", "Property X should be of type String"),
    Finding("out/catalog-api/api.json", 3, "W2001", "warning", "Parameter Y not used"),
    Finding("out/catalog-api/root.json", 0, "I3011", "informational", "Retain policy suggested"),
    Finding("/elsewhere/t.json", 1, "QUOTA", "error", "template is 1.2 MB; the quota is 1 MB"),
]


def test_findings_become_valid_sarif_with_one_rule_per_id(tmp_path):
    log = to_sarif(FINDINGS, base=Path.cwd())
    assert_valid_sarif(log)
    run = log["runs"][0]
    assert log["version"] == "2.1.0"
    rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert rules == ["E3012", "I3011", "QUOTA", "W2001"]
    by_rule = {r["ruleId"]: r for r in run["results"]}
    assert {k: v["level"] for k, v in by_rule.items()} == {
        "E3012": "error", "W2001": "warning", "I3011": "note", "QUOTA": "error"}
    for result in run["results"]:
        assert rules[result["ruleIndex"]] == result["ruleId"]
    location = by_rule["E3012"]["locations"][0]["physicalLocation"]
    assert location == {"artifactLocation": {"uri": "out/catalog-api/api.json", "uriBaseId": "%SRCROOT%"},
                        "region": {"startLine": 12}}
    assert by_rule["I3011"]["locations"][0]["physicalLocation"]["region"] == {"startLine": 1}
    assert by_rule["QUOTA"]["locations"][0]["physicalLocation"]["artifactLocation"] == {
        "uri": "file:///elsewhere/t.json"}
    assert run["tool"]["driver"]["rules"][0]["helpUri"].endswith("rules.md#E3012")


def test_sarif_is_deterministic_and_valid_without_findings():
    assert render(FINDINGS) == render(list(reversed(FINDINGS)))
    empty = to_sarif([])
    assert_valid_sarif(empty)
    assert empty["runs"][0]["results"] == []


BROKEN = {
    "AWSTemplateFormatVersion": "2010-09-09",
    "Parameters": {"Unused": {"Type": "String"}},
    "Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": 5, "Bogus": True}}},
}


@pytest.fixture(scope="module")
def broken_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("lint") / "broken.json"
    path.write_text(json.dumps(BROKEN, indent=2))
    return path


def test_real_cfn_lint_findings_as_sarif_through_the_cli(broken_template, tmp_path):
    findings = lint([broken_template])
    assert {f.rule for f in findings} >= {"E3002", "W2001"}
    out = tmp_path / "reports" / "lint.sarif"
    result = CliRunner().invoke(main, ["lint", str(broken_template), "--format", "sarif", "--output", str(out)])
    assert result.exit_code == 1  # findings fail the command, and the report is written first
    log = json.loads(out.read_text())
    assert_valid_sarif(log)
    assert {r["ruleId"] for r in log["runs"][0]["results"]} == {f.rule for f in findings}
    on_stdout = CliRunner().invoke(main, ["lint", str(broken_template), "--format", "sarif"])
    assert json.loads(on_stdout.stdout) == log  # stdout holds the SARIF alone; the summary is on stderr
    text = CliRunner().invoke(main, ["lint", str(broken_template)])
    assert text.exit_code == 1 and text.stdout.splitlines() == [str(f) for f in findings]


def test_clean_output_as_sarif_is_an_empty_valid_log(out_dir):
    result = CliRunner().invoke(main, ["lint", str(out_dir / "catalog-api"), "--format", "sarif"])
    assert result.exit_code == 0, result.output
    log = json.loads(result.stdout)
    assert_valid_sarif(log)
    assert log["runs"][0]["results"] == []
    assert "0 errors, 0 warnings" in result.stderr
