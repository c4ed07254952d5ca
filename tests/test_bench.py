"""Tests of bench/run.py: seed extraction, statistics, formatting and the child-process timing.

Kept beside the benchmark for now; belongs in tests/ (the project's convention), where it runs
unchanged because pytest's pythonpath holds the repository root.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bench import run as bench

FENCE = "```"


def seed_text(*blocks: str, lang: str = "typescript") -> str:
    """A seed-like document: prose around fenced blocks."""
    parts = ["# Answer\n\nSome prose.\n"]
    for block in blocks:
        parts.append(f"{FENCE}{lang}\n{block}{FENCE}\n\nMore prose.\n")
    return "\n".join(parts)


def test_extracts_the_only_typescript_block_without_its_fences():
    code = "import * as cdk from 'aws-cdk-lib';\nnew cdk.App().synth();\n"
    assert bench.extract_typescript_block(seed_text(code)) == code


def test_accepts_the_short_ts_fence():
    assert bench.extract_typescript_block(seed_text("let a = 1;\n", lang="ts")) == "let a = 1;\n"


def test_picks_the_block_that_defines_the_stack_among_several():
    text = seed_text("// a test\n", "export class TapStack extends cdk.Stack {}\n")
    assert bench.extract_typescript_block(text) == "export class TapStack extends cdk.Stack {}\n"


def test_ignores_blocks_in_other_languages():
    text = seed_text("npm install\n", lang="bash") + seed_text("const x = 1;\n")
    assert bench.extract_typescript_block(text) == "const x = 1;\n"


@pytest.mark.parametrize("text", ["no code at all", seed_text("echo hi\n", lang="bash"),
                                  seed_text("// one\n", "// two\n")])
def test_refuses_a_seed_without_one_clear_app_block(text):
    with pytest.raises(ValueError):
        bench.extract_typescript_block(text)


@pytest.mark.skipif(not bench.DEFAULT_SEED.is_file(), reason="shared/ seeds are not beside the repository")
def test_extracts_the_real_seed_app():
    code = bench.extract_typescript_block(bench.DEFAULT_SEED.read_text())
    assert "class TapStack" in code and "app.synth()" in code
    assert FENCE not in code


def test_digest_depends_on_where_the_parts_split():
    assert bench.digest(b"ab", b"c") != bench.digest(b"a", b"bc")
    assert bench.digest(b"x") == bench.digest(b"x")


def measurement(tool: str, *samples: tuple[float, int]) -> bench.Measurement:
    return bench.Measurement(tool, [bench.Sample(wall, rss) for wall, rss in samples])


def test_measurement_reports_median_wall_and_largest_peak_in_mib():
    m = measurement("x", (0.3, 1024), (0.1, 4096), (0.2, 2048), (0.9, 1024))
    assert m.median_wall_s == pytest.approx(0.25)
    assert m.peak_mib == pytest.approx(4.0)
    assert m.wall_range == (0.1, 0.9)


def test_ratio():
    assert bench.ratio(6.8, 0.2) == "34.0x"
    assert bench.ratio(1.0, 0.0) == "n/a"


def test_table_gives_ratios_against_ours_in_aligned_columns():
    ours = measurement("ours", (0.2, 50 * 1024))
    cdk = measurement("cdk synth", (6.8, 460 * 1024))
    table = bench.format_table([ours, cdk], ours)
    header, rule, ours_line, cdk_line = table.splitlines()
    assert len({len(header), len(rule), len(ours_line), len(cdk_line)}) == 1
    assert ours_line.startswith("ours") and ours_line.rstrip().endswith("-")
    assert "34.0x" in cdk_line and "9.2x" in cdk_line


def test_table_without_our_row_shows_no_ratio():
    cdk = measurement("cdk synth", (6.8, 460 * 1024))
    assert bench.format_table([cdk], None).splitlines()[-1].split()[-2:] == ["-", "-"]


@pytest.mark.parametrize(("wall", "mib", "wall_ok", "peak_ok"), [
    (0.35, 99.9, True, True),  # the wall target is inclusive
    (0.351, 100.0, False, False),  # the memory target is strict
])
def test_targets_are_marked(wall, mib, wall_ok, peak_ok):
    wall_line, peak_line = bench.target_lines(measurement("ours", (wall, int(mib * 1024))))
    assert ("MISSED" not in wall_line) is wall_ok
    assert ("MISSED" not in peak_line) is peak_ok


def test_run_once_measures_the_childs_peak_memory(tmp_path):
    # The child holds 64 MiB, so its peak RSS must show at least that much.
    argv = [sys.executable, "-c", "b = bytearray(64 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096])"]
    sample = bench.run_once(argv, tmp_path, {}, tmp_path / "log.txt")
    assert sample.maxrss_kib >= 64 * 1024
    assert 0 < sample.wall_s < 30


def test_run_once_reports_a_failing_child_with_its_output(tmp_path):
    argv = [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"]
    with pytest.raises(bench.BenchError, match=r"exited 3:\nboom"):
        bench.run_once(argv, tmp_path, {}, tmp_path / "log.txt")


def test_measure_discards_the_warm_up_and_gives_each_run_a_fresh_folder(tmp_path):
    seen: list[Path] = []
    counter = tmp_path / "count"

    def factory(out: Path):
        seen.append(out)
        code = f"open({str(counter)!r}, 'a').write('.')"
        return [sys.executable, "-c", code], tmp_path, {}

    work = tmp_path / "work"
    work.mkdir()
    m = bench.measure("stand-in", factory, runs=3, workdir=work)
    assert len(m.samples) == 3
    assert counter.read_text() == "...."  # one warm-up and three timed runs
    assert len(set(seen)) == 4 and not any(p.exists() for p in seen)


def test_our_command_follows_the_generate_contract_or_a_stand_in(tmp_path):
    argv, cwd, _ = bench.ours_factory("/py", None)(tmp_path / "out")
    assert argv == ["/py", "generate.py", "templates", "--out", str(tmp_path / "out")]
    assert cwd == bench.REPO
    argv, _, _ = bench.ours_factory("/py", "true --to {out}")(tmp_path / "o")
    assert argv == ["true", "--to", str(tmp_path / "o")]


def test_cdk_environment_has_no_credentials():
    env = bench.cdk_env({"AWS_ACCESS_KEY_ID": "x", "AWS_PROFILE": "p", "PATH": "/bin"})
    assert "AWS_ACCESS_KEY_ID" not in env and "AWS_PROFILE" not in env
    assert env["PATH"] == "/bin" and env["CDK_DEFAULT_REGION"] == "us-west-2"
    assert env["CDK_DISABLE_CLI_TELEMETRY"] == "true"


def test_speedup_target_compares_the_same_system_with_the_cdk_cli():
    ours = measurement("ours, every shipped config", (0.25, 32 * 1024))
    same = measurement("ours, secure-api", (0.17, 30 * 1024))
    cli = measurement("npx cdk synth (CLI, offline)", (3.7, 450 * 1024))
    app = measurement("cdk app synth (node build/app.js)", (2.5, 450 * 1024))
    lines = bench.target_lines(ours, same, [same, ours, app, cli])
    assert lines[2] == "(for reference, secure-api alone vs cdk app synth (node build/app.js): 14.7x)"
    assert lines[3] == "target >= 30x vs npx cdk synth (CLI, offline) (every shipped config): 14.8x  MISSED  <<<"
    fast = measurement("ours, every shipped config", (0.1, 30 * 1024))
    assert bench.target_lines(fast, None, [cli])[2].endswith("37.0x  ok")


def test_scale_targets_are_marked():
    ours = measurement("ours, every shipped config", (0.1, 32 * 1024))
    cli = measurement("npx cdk synth (CLI, offline)", (4.0, 450 * 1024))
    large = measurement(bench.LARGE_ROW, (0.9, 60 * 1024))
    same = measurement(bench.LOOP_ROWS[0], (0.8, 60 * 1024))
    route = measurement(bench.LOOP_ROWS[1], (1.2, 60 * 1024))
    lines = bench.target_lines(ours, None, [cli, large, same, route])
    assert lines[3] == "target large config <= 1.0 s : 0.900 s   ok"
    assert lines[4] == "target make templates, unchanged tree <= cdk synth / 4 (1.00 s): 0.800 s  ok"
    assert lines[5].startswith("target make templates, one new route") and lines[5].endswith("MISSED  <<<")


def test_build_rows_put_a_cold_build_cache_in_each_run_and_a_warm_one_in_one_place(tmp_path):
    warm = bench.build_factory("python", ["config/a.toml"], tmp_path / "warm")
    cold = bench.build_factory("python", ["config/a.toml"], None, empty_downloads=True)
    argv, cwd, env = warm(tmp_path / "run1" / "out")
    assert argv == ["python", "generate.py", "templates", "--config", "config/a.toml", "--out", str(tmp_path / "run1" / "out")]
    assert cwd == bench.REPO and env[bench.BUILD_CACHE_ENV] == str(tmp_path / "warm")
    assert warm(tmp_path / "run2" / "out")[2][bench.BUILD_CACHE_ENV] == str(tmp_path / "warm")
    _, _, env = cold(tmp_path / "run3" / "out")
    assert env[bench.BUILD_CACHE_ENV] == str(tmp_path / "run3" / "build-cache")
    assert env["UV_CACHE_DIR"] == str(tmp_path / "run3" / "uv") and env["npm_config_cache"] == str(tmp_path / "run3" / "npm")


def test_the_fast_loop_bench_recognises_the_line_watch_prints_once_a_save_is_synced():
    import io
    import re

    from rich.console import Console

    from bench.sync_bench import WATCH_SYNCED
    from infra.deploy.ui import Ui

    out = io.StringIO()
    ui = Ui(Console(file=out, width=200, color_system=None), Console(file=io.StringIO()), stamped=True)  # as watch makes it
    ui.say("synced catalog-dev/Compute > ProductsFunction (catalog-dev-products): code in 0.21 s")
    assert re.search(WATCH_SYNCED, out.getvalue())
