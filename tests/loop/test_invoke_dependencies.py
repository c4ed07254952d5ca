"""`invoke` of functions with dependencies (tests/fixtures/deps/): each runs with its own lockfile
installed for this machine, as the cloud runs it with the same lockfile built for Lambda."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from infra.config import load_config
from infra.loop.runtime import local_function

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "tests" / "fixtures" / "deps" / "deps.toml"


@pytest.fixture
def deps_config(tmp_path) -> Path:
    config = tmp_path / "deps.toml"   # a copy: a run writes nothing beside the repository's config
    shutil.copy(CONFIG, config)
    return config


def invoke(cli, config: Path, tmp_path: Path, function: str, event: dict):
    (tmp_path / "event.json").write_text(json.dumps(event))
    return cli("invoke", "--config", config, function, "--event", tmp_path / "event.json")


@pytest.mark.parametrize("function", ["py", "orders"])
def test_a_python_function_imports_its_locked_dependencies(cli, deps_config, tmp_path, function):
    result = invoke(cli, deps_config, tmp_path, function, {"name": "pen", "price": "2.5"})
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["item"] == {"name": "pen", "price": 2.5}         # pydantic coerced the string
    assert answer["pydantic"] == "2.14.3" and answer["python"] == f"{sys.version_info[0]}.{sys.version_info[1]}"


def test_a_node_function_runs_with_its_locked_dependencies(cli, deps_config, tmp_path):
    result = invoke(cli, deps_config, tmp_path, "js", {"name": "pen", "price": 2})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["item"] == {"name": "pen", "price": 2}
    failed = invoke(cli, deps_config, tmp_path, "js", {"name": "", "price": -1})
    assert failed.exit_code == 1 and "function js failed: ZodError" in failed.stderr


def test_dependencies_do_not_leak_between_functions_or_into_this_process():
    cfg = load_config(CONFIG)
    before = sys.modules.get("pydantic")
    runner = local_function(cfg, "py", {}, lambda line: None)
    outcome = runner.invoke({"name": "pen", "price": 1})
    assert outcome.error is None, outcome.error
    theirs = runner.own["pydantic"]
    assert Path(theirs.__file__).is_relative_to(runner.dependencies)
    assert sys.modules.get("pydantic") is before                    # this process's own, or none
    assert not any(Path(getattr(m, "__file__", None) or "/").is_relative_to(runner.dependencies)
                   for m in list(sys.modules.values()))
    other = local_function(cfg, "py-arm", {}, lambda line: None)    # same lockfile, its own modules
    assert other.invoke({"name": "cup", "price": 2}).error is None
    assert other.own["pydantic"] is not theirs


@pytest.mark.parametrize("function", ["py", "js"])
def test_dependencies_pruned_under_a_running_process_are_installed_again(function, tmp_path):
    """serve keeps a function loaded for days; each invocation marks its installed dependencies as
    used (so the build cache's pruning, least recently used first, passes them over), and a tree
    pruned all the same is installed again at its place before the function runs."""
    import os

    from infra.bundle.cache import _remove

    runner = local_function(load_config(CONFIG), function, {}, lambda line: None)
    try:
        event = {"name": "pen", "price": 1}
        assert runner.invoke(event).error is None
        tree = (runner.dependencies if function == "py"
                else Path(os.readlink(runner.run_folder / "node_modules")).parent)
        marker = tree / ".complete"
        os.utime(marker, (1_000_000_000, 1_000_000_000))   # last used in 2001
        assert runner.invoke(event).error is None
        assert marker.stat().st_mtime > 1_000_000_000        # used now
        _remove(marker)                                     # what the cache's prune does to an entry
        assert not tree.exists()
        outcome = runner.invoke(event)
        assert outcome.error is None, outcome.error
        assert marker.is_file()
    finally:
        runner.close()
