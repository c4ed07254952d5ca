"""The lint cache never answers for a template it has not seen linted by this cfn-lint (issue 18
item 27): a new cfn-lint version changes every key, and an entry of the wrong shape is a miss."""
from __future__ import annotations

import json
import shutil

import pytest

import infra.lint as lint_module
from infra.lint import LintCache, cache_key, lint


def _upgrade_cfn_lint(monkeypatch):
    """The version lint reads (once per process: the cfn-lint it runs is the one it loaded) is now another."""
    real = lint_module.installed_version
    monkeypatch.setattr(lint_module, "installed_version",
                        lambda dist, package: "999.0.0" if dist == "cfn-lint" else real(dist, package))


@pytest.fixture
def broken(out_dir, tmp_path):
    """A copy of catalog-api whose root stops passing a parameter its firewall child requires
    (an E3043 finding), linted once into a fresh cache."""
    work = tmp_path / "catalog-api"
    shutil.copytree(out_dir / "catalog-api", work)
    root = json.loads((work / "root.json").read_text())
    del root["Resources"]["Firewall"]["Properties"]["Parameters"]["ApiStageArn"]
    (work / "root.json").write_text(json.dumps(root, indent=2))
    cache = tmp_path / "cache"
    assert "E3043" in {f.rule for f in lint([work], cache_dir=cache)}
    return work, cache


def test_a_new_cfn_lint_version_changes_the_key(broken, monkeypatch):
    work, _ = broken
    root = work / "root.json"
    body = root.read_bytes()
    before = cache_key(root, body, json.loads(body), "us-east-1")
    _upgrade_cfn_lint(monkeypatch)
    assert cache_key(root, body, json.loads(body), "us-east-1") != before


def test_entries_of_another_cfn_lint_are_not_read(broken, monkeypatch):
    work, cache = broken
    _upgrade_cfn_lint(monkeypatch)
    calls = []
    run = lint_module._run_cfn_lint
    monkeypatch.setattr(lint_module, "_run_cfn_lint", lambda *a, **k: calls.append(a) or run(*a, **k))
    assert "E3043" in {f.rule for f in lint([work], cache_dir=cache)}
    assert calls, "a cfn-lint upgrade must lint again, not replay the old version's answers"


@pytest.mark.parametrize("entry", ["{}", '{"rows": []}', "null", '"clean"', "[[1, 2, 3]]", '[{"a": 1}]'])
def test_an_entry_of_the_wrong_shape_is_a_miss(tmp_path, entry):
    (tmp_path / "key.json").write_text(entry)
    assert LintCache(tmp_path).get("key") is None
    (tmp_path / "key.json").write_text("[]")
    assert LintCache(tmp_path).get("key") == []  # while an empty list is a clean template


def test_a_valid_json_entry_of_the_wrong_shape_never_hides_a_finding(broken):
    work, cache = broken
    for path in cache.iterdir():
        path.write_text("{}")
    assert "E3043" in {f.rule for f in lint([work], cache_dir=cache)}


def test_the_cache_keeps_its_most_recently_used_entries_under_its_bound(tmp_path):
    import os

    cache = LintCache(tmp_path / "cache", max_entries=10)
    assert cache.prune() == 0                                   # nothing written: nothing to do
    for i in range(12):
        cache.put(f"k{i:02d}", [] if i % 2 else [(1, "E3034", "error", "m")])
        os.utime(tmp_path / "cache" / f"k{i:02d}.json", (1_000_000 + i, 1_000_000 + i))
    assert cache.get("k00") == [(1, "E3034", "error", "m")]    # the oldest, used now: kept
    assert cache.prune() == 4                                   # 12 > 10: down to 8, least recently used first
    left = sorted(p.stem for p in (tmp_path / "cache").glob("*.json"))
    assert left == ["k00", "k05", "k06", "k07", "k08", "k09", "k10", "k11"]
    for i in range(12, 15):
        cache.put(f"k{i:02d}", [])
    assert cache.prune() == 0                                   # pruned less than an hour ago
    assert cache.prune(force=True) == 3                         # forced: 11 > 10, down to 8 again


def test_a_template_named_twice_is_linted_once_and_its_findings_are_kept(broken, tmp_path):
    """Named twice (`lint out out`), a template was linted twice: the second copy got an empty
    share of the findings and recorded the template as clean, so every later run passed it."""
    work, _ = broken
    cache = tmp_path / "fresh-cache"
    twice = lint([work, work, work / "root.json"], cache_dir=cache)
    assert [f.rule for f in twice].count("E3043") == 1
    assert [f.rule for f in lint([work], cache_dir=cache)].count("E3043") == 1   # replayed, not "clean"


def test_lint_refuses_a_file_that_is_not_a_template_whatever_the_working_directory(out_dir, tmp_path, monkeypatch):
    """openapi.json named on its own gave a finding on a file called '?' from the repository (its
    .cfnlintrc ignores that file), a clean cached result after, and real findings elsewhere."""
    from infra.errors import UsageError

    for where in (tmp_path, lint_module.Path(__file__).resolve().parents[1]):
        monkeypatch.chdir(where)
        with pytest.raises(UsageError, match="openapi.json: not a CloudFormation template"):
            lint([out_dir / "catalog-api" / "openapi.json"], cache_dir=tmp_path / "cache")
