"""The lint gate finds real problems: cfn-lint (E3043 across nested stacks) and quotas."""
from __future__ import annotations

import json
import shutil

import pytest

from infra.errors import UsageError
from infra.lint import lint, templates_under


def test_templates_under_reads_regions_from_manifest(out_dir):
    found = {(p.parent.name, p.name): region for p, region in templates_under([out_dir])}
    assert found[("catalog-api", "root.json")] == "us-east-1"
    assert found[("secure-api", "network.json")] == "us-west-2"
    assert found[("secure-api-prod", "global.json")] == "us-east-1"


def test_parameter_mismatch_with_child_is_caught(out_dir, tmp_path):
    work = tmp_path / "catalog-api"
    shutil.copytree(out_dir / "catalog-api", work)
    root = json.loads((work / "root.json").read_text())
    del root["Resources"]["Firewall"]["Properties"]["Parameters"]["ApiStageArn"]
    (work / "root.json").write_text(json.dumps(root, indent=2))
    rules = {f.rule for f in lint([work / "root.json"])}
    assert "E3043" in rules


def test_clean_output_has_no_findings(out_dir):
    assert lint([out_dir / "catalog-api" / "root.json", out_dir / "catalog-api" / "api.json"]) == []


def test_missing_output_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="no generated output here"):
        lint([tmp_path])


def test_unparsable_template_is_a_finding_not_a_crash(tmp_path):
    bad = tmp_path / "root.json"
    bad.write_text("{ not json")
    (finding,) = lint([bad])
    assert finding.rule == "JSON" and "not valid JSON" in finding.message
