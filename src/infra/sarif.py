"""Lint findings as SARIF 2.1.0, the format GitHub code scanning (and most CI dashboards) read.

Operates on the `Finding`s that `infra.lint.lint()` returns: one result per finding, one rule per
distinct rule id (cfn-lint's E/W/I rules and our QUOTA and JSON checks). Output is deterministic:
same findings, same bytes. Reference: the OASIS SARIF 2.1.0 specification
(https://docs.oasis-open.org/sarif/sarif/v2.1.0/sarif-v2.1.0.html) and GitHub's "SARIF support
for code scanning".
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

from infra.lint import Finding

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
VERSION = "2.1.0"
TOOL = "serverless-infra lint"
TOOL_URI = "https://github.com/aws-cloudformation/cfn-lint"
CFN_LINT_RULES = "https://github.com/aws-cloudformation/cfn-lint/blob/main/docs/rules.md"
_LEVELS = {"error": "error", "warning": "warning", "informational": "note", "info": "note"}
_OWN_RULES = {
    "QUOTA": "A generated template exceeds a CloudFormation quota (size, resources, parameters, outputs).",
    "JSON": "A generated template is not valid JSON.",
}
_CFN_LINT_ID = re.compile(r"[EWI]\d{4}")


def level(severity: str) -> str:
    """SARIF result level of a finding's severity."""
    return _LEVELS.get(severity.lower(), "warning")


def to_sarif(findings: Iterable[Finding], base: Path | None = None) -> dict:
    """A SARIF log with one run holding every finding; paths relative to `base` (default cwd)."""
    base = (base or Path.cwd()).resolve()
    ordered = sorted(findings, key=lambda f: (f.file, f.line, f.rule, f.message))
    rule_ids = sorted({f.rule for f in ordered})
    index = {rule: i for i, rule in enumerate(rule_ids)}
    results = [{
        "ruleId": f.rule,
        "ruleIndex": index[f.rule],
        "level": level(f.severity),
        "message": {"text": f.message},
        "locations": [{"physicalLocation": {
            "artifactLocation": _artifact(f.file, base),
            "region": {"startLine": max(1, int(f.line or 1))},
        }}],
    } for f in ordered]
    return {
        "$schema": SCHEMA_URI,
        "version": VERSION,
        "runs": [{
            "tool": {"driver": {
                "name": TOOL,
                "informationUri": TOOL_URI,
                "rules": [_rule(rule, ordered) for rule in rule_ids],
            }, "extensions": [{"name": "cfn-lint", "version": _version("cfn-lint"), "informationUri": TOOL_URI}]},
            "originalUriBaseIds": {"%SRCROOT%": {"uri": base.as_uri() + "/"}},
            "invocations": [{"executionSuccessful": True}],
            "results": results,
        }],
    }


def render(findings: Iterable[Finding], base: Path | None = None) -> str:
    """The SARIF log as text (two-space indent, final newline)."""
    return json.dumps(to_sarif(findings, base), indent=2) + "\n"


def _rule(rule: str, findings: list[Finding]) -> dict:
    severity = next(f.severity for f in findings if f.rule == rule)
    out: dict = {"id": rule, "name": rule,
                 "defaultConfiguration": {"level": level(severity)}}
    if rule in _OWN_RULES:
        out["shortDescription"] = {"text": _OWN_RULES[rule]}
    elif _CFN_LINT_ID.fullmatch(rule):
        out["shortDescription"] = {"text": f"cfn-lint rule {rule}"}
        out["helpUri"] = f"{CFN_LINT_RULES}#{rule}"
    else:
        out["shortDescription"] = {"text": f"rule {rule}"}
    return out


def _artifact(file: str, base: Path) -> dict:
    path = Path(file)
    try:
        relative = path.resolve().relative_to(base)
    except ValueError:
        return {"uri": path.resolve().as_uri()}
    return {"uri": relative.as_posix(), "uriBaseId": "%SRCROOT%"}


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"
