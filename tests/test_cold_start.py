"""What a `templates` run loads and how it writes, kept off the generator's cold path: modules it
never uses are not imported (or only as stand-ins), and its atomic writes need no tempfile."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest
from support.shipped import REPO

from infra import lazy_imports
from infra.render import replace_dirs, replace_file

# hashlib loads OpenSSL's libcrypto: a generation hashes only small inputs (infra.digest); shutil
# imports bz2 and lzma, for builds only (a cache hit builds nothing).
NEVER_LOADED = ("cfn_flip", "yaml", "cfn_tools", "boto3", "tempfile", "random", "importlib.util",
                "importlib.metadata", "hashlib", "_hashlib", "shutil", "bz2", "lzma")  # and submodules
# A lint whose every template is in its cache replays findings: it runs no cfn-lint, forks no
# worker and reads cfn-lint's version from its METADATA (importlib.metadata parses it with the
# email package, once per template as it was called).
NEVER_LOADED_BY_A_CACHED_LINT = ("cfnlint", "sympy", "multiprocessing", "concurrent.futures", "importlib.metadata",
                                 "email", "hashlib")


def test_a_warm_generation_loads_no_module_it_does_not_use(tmp_path):
    # The command as generate.py runs it, but with the regular exit (generate.py's ends the process).
    # Twice: the first run may build the functions' zips (the session's build cache starts empty).
    # Each into a new folder, as the benchmark generates (replacing an earlier out/ removes the old
    # tree with shutil.rmtree).
    for run in ("first", "second"):
        code = ("import json, sys; sys.path[:0] = ['src', '.']; from infra.cli import main\n"
                f"try:\n    main(['templates', '--config', 'config/catalog-api.toml', '--out', {str(tmp_path / run)!r}])\n"
                "except SystemExit:\n    pass\n"
                f"never = {NEVER_LOADED!r}\n"
                "print(json.dumps(sorted(m for m in sys.modules if any(m == n or m.startswith(n + '.') for n in never))))")
        proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                              check=False)
        assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == ["cfn_flip"]  # the deferred stand-in only
    assert (tmp_path / "second" / "catalog-api" / "root.json").is_file()
    import troposphere

    assert "Resources" in troposphere.Template().to_yaml()  # the deferred module loads on first use


def test_a_lint_that_replays_every_template_loads_no_lint_machinery(tmp_path):
    out, cache = tmp_path / "out", tmp_path / "cache"
    for argv in (["templates", "--config", "config/catalog-api.toml", "--out", str(out)],
                 ["lint", str(out), "--cache-dir", str(cache)]):  # the first lint fills the cache
        subprocess.run([sys.executable, "generate.py", *argv], cwd=REPO, capture_output=True, check=True, timeout=300)
    code = ("import json, sys; sys.path[:0] = ['src', '.']; from infra.cli import main\n"
            f"try:\n    main(['lint', {str(out)!r}, '--cache-dir', {str(cache)!r}])\n"
            "except SystemExit as exc:\n    assert exc.code == 0, exc.code\n"
            f"never = {NEVER_LOADED_BY_A_CACHED_LINT!r}\n"
            "print(json.dumps(sorted(m for m in sys.modules if any(m == n or m.startswith(n + '.') for n in never))))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert "0 errors" in proc.stdout
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


def test_generate_py_puts_src_first_and_each_path_once():
    code = ("import json, runpy, sys; runpy.run_path('generate.py', run_name='probe'); "
            "print(json.dumps(sys.path))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO), str(REPO / "src")])}
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60,
                          check=True, env=env)
    path = json.loads(proc.stdout)
    assert path[:2] == [str(REPO / "src"), str(REPO)]
    assert len(path) == len(set(path))


def test_a_write_that_fails_leaves_the_old_file_and_no_temporary_one(tmp_path, monkeypatch):
    target = tmp_path / "root.json"
    target.write_bytes(b"old")

    def broken(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError):
        replace_file(target, b"new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["root.json"]
    assert target.read_bytes() == b"old"


def test_a_taken_temporary_name_is_skipped(tmp_path, monkeypatch):
    draws = iter([b"\x00" * 6, b"\x00" * 6, b"\x01" * 6, b"\x02" * 6])
    monkeypatch.setattr(os, "urandom", lambda n: next(draws))
    (tmp_path / ".a.000000000000").mkdir()  # another writer's staging folder, by the first name drawn
    replace_file(tmp_path / "f", b"x")      # draws the taken name, then a free one
    replace_dirs({tmp_path / "a": {"x.json": b"{}"}})
    assert (tmp_path / "f").read_bytes() == b"x"
    assert (tmp_path / "a" / "x.json").read_bytes() == b"{}"
    assert (tmp_path / ".a.000000000000").is_dir()  # not touched


@pytest.fixture
def fake_module(tmp_path, monkeypatch):
    """A module `deferred_probe` that counts how often it runs (in `deferred_probe_runs`)."""
    (tmp_path / "deferred_probe.py").write_text("import time, deferred_probe_runs\n"
                                               "deferred_probe_runs.count += 1\n"
                                               "time.sleep(0.05)\n"
                                               "VALUE = 42\n")
    (tmp_path / "deferred_probe_runs.py").write_text("count = 0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "deferred_probe"
    for name in ("deferred_probe", "deferred_probe_runs"):
        sys.modules.pop(name, None)


def test_a_deferred_module_runs_at_its_first_attribute_once_across_threads(fake_module):
    import deferred_probe_runs

    lazy_imports.defer(fake_module)
    import deferred_probe  # the stand-in: nothing has run

    assert deferred_probe_runs.count == 0
    seen: list[int] = []
    threads = [threading.Thread(target=lambda: seen.append(deferred_probe.VALUE)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [42] * 4
    assert deferred_probe_runs.count == 1
    assert sys.modules[fake_module].VALUE == 42 and sys.modules[fake_module] is not deferred_probe


def test_a_deferred_module_that_does_not_exist_fails_at_first_use():
    lazy_imports.defer("no_such_module_here")
    try:
        import no_such_module_here

        with pytest.raises(ModuleNotFoundError):
            no_such_module_here.anything  # noqa: B018
    finally:
        sys.modules.pop("no_such_module_here", None)


@pytest.mark.parametrize("enabled_before", [True, False])
def test_cfn_lint_runs_with_the_collector_on_and_what_was_loaded_frozen(enabled_before, monkeypatch, tmp_path):
    import gc

    from infra import lint

    seen = []
    monkeypatch.setattr(lint, "_lint_batches", lambda by_region, jobs: seen.append(
        (gc.isenabled(), gc.get_freeze_count() > 0)) or {})
    was = gc.isenabled()
    (gc.enable if enabled_before else gc.disable)()
    try:
        assert lint._run_cfn_lint({"us-east-1": [tmp_path / "t.json"]}, 1) == {}
        after = (gc.isenabled(), gc.get_freeze_count())
    finally:
        (gc.enable if was else gc.disable)()
    assert seen == [(True, True)]
    assert after == (enabled_before, 0)  # unfrozen again: a long-lived caller collects as before
