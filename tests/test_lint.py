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


# -- the cache never hides a finding ---------------------------------------------------------------

def _copy(out_dir, tmp_path, name="catalog-api"):
    work = tmp_path / name
    shutil.copytree(out_dir / name, work)
    return work


def _break_root(work):
    """The root stops passing a parameter its firewall child requires (an E3043 finding)."""
    root = json.loads((work / "root.json").read_text())
    del root["Resources"]["Firewall"]["Properties"]["Parameters"]["ApiStageArn"]
    (work / "root.json").write_text(json.dumps(root, indent=2))


def test_cached_findings_are_replayed_not_dropped(out_dir, tmp_path):
    work = _copy(out_dir, tmp_path)
    _break_root(work)
    cache = tmp_path / "cache"
    first = lint([work], cache_dir=cache)
    assert "E3043" in {f.rule for f in first}
    assert any(cache.iterdir())
    # Second run: nothing changed, so nothing is linted again; the same findings come back.
    import infra.lint as mod
    calls = []
    real = mod._run_cfn_lint
    mod._run_cfn_lint = lambda *a, **k: calls.append(a) or real(*a, **k)
    try:
        assert lint([work], cache_dir=cache) == first
    finally:
        mod._run_cfn_lint = real
    assert calls == []


def test_a_changed_child_interface_relints_the_parent(out_dir, tmp_path):
    work = _copy(out_dir, tmp_path)
    cache = tmp_path / "cache"
    assert lint([work], cache_dir=cache) == []
    # The firewall template now requires a parameter the root does not pass: only the root's
    # check (E3043) can see it, and the root's own bytes did not change.
    fw = json.loads((work / "firewall.json").read_text())
    fw["Parameters"]["NewRequired"] = {"Type": "String", "Description": "new"}
    (work / "firewall.json").write_text(json.dumps(fw, indent=2))
    found = lint([work], cache_dir=cache)
    assert any(f.rule == "E3043" and f.file.endswith("root.json") for f in found), found


def test_changed_bytes_or_settings_miss_the_cache(out_dir, tmp_path, monkeypatch):
    import infra.lint as mod
    work = _copy(out_dir, tmp_path)
    cache = tmp_path / "cache"
    lint([work], cache_dir=cache)
    api = work / "api.json"
    before = mod.cache_key(api, api.read_bytes(), json.loads(api.read_bytes()), "us-east-1")
    assert before != mod.cache_key(api, api.read_bytes() + b" ", json.loads(api.read_bytes()), "us-east-1")
    assert before != mod.cache_key(api, api.read_bytes(), json.loads(api.read_bytes()), "eu-west-1")
    monkeypatch.setattr(mod, "IGNORED", ["W3002", "E3012"])
    assert before != mod.cache_key(api, api.read_bytes(), json.loads(api.read_bytes()), "us-east-1")


def test_a_corrupt_cache_entry_is_a_miss(out_dir, tmp_path):
    work = _copy(out_dir, tmp_path)
    _break_root(work)
    cache = tmp_path / "cache"
    lint([work], cache_dir=cache)
    for entry in cache.iterdir():
        entry.write_text("garbage")
    assert "E3043" in {f.rule for f in lint([work], cache_dir=cache)}


def test_parallel_and_serial_lint_agree(out_dir, tmp_path):
    work = _copy(out_dir, tmp_path)
    _break_root(work)
    serial = lint([work], jobs=1)
    assert serial and sorted(map(str, lint([work], jobs=2))) == sorted(map(str, serial))


def test_plain_cfn_lint_with_the_repositorys_settings_is_clean(out_dir, tmp_path):
    """CI systems run a bare `cfn-lint` on out/; .cfnlintrc must select templates only
    (not manifest.json or openapi.json) and keep the same rules as `generate.py lint`."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    shutil.copytree(out_dir, tmp_path / "out")
    shutil.copy(repo / ".cfnlintrc", tmp_path / ".cfnlintrc")
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    proc = subprocess.run([str(cfn_lint)], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
