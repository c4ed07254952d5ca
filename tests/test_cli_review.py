"""Issue 18, command line: what a new user's probes found, one test per finding (items 15-22).

AWS-facing cases run against the emulator in tests/deploy/test_cli_contract.py and
tests/loop/test_serve.py; these need no AWS at all.
"""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from infra.cli import main
from support.cli_result import one_line_error, read_only_dir
from support.shipped import REPO

CATALOG = REPO / "config" / "catalog-api.toml"
EXIT_FAILURE, EXIT_USAGE = 1, 2  # the README's exit codes


def run(*args: object, input: str | None = None, env: dict | None = None):
    return CliRunner().invoke(main, [str(a) for a in args], input=input, env=env)


@pytest.fixture
def a_file(tmp_path) -> Path:
    path = tmp_path / "a-file"
    path.write_text("x")
    return path


def refuse_to_serve(monkeypatch) -> None:
    """`serve` must refuse before it serves: one that starts would answer until stopped (it used to
    serve 500s), so starting fails the test at once instead of hanging it."""
    import infra.loop.server

    def started(*args, **kwargs):
        raise AssertionError("serve started serving")

    monkeypatch.setattr(infra.loop.server, "make_server", started)


# -- 15. tracebacks ----------------------------------------------------------------------------------
@pytest.mark.parametrize("command", [["lint", "{out}", "--format", "sarif"], ["schema"]], ids=["lint", "schema"])
@pytest.mark.parametrize("where", ["under a file", "read-only folder"])
def test_output_under_a_file_or_in_a_read_only_folder_is_one_line_exit_2(command, where, out_dir, a_file, tmp_path):
    target = a_file / "report.json" if where == "under a file" else read_only_dir(tmp_path) / "report.json"
    args = [a.replace("{out}", str(out_dir)) for a in command] + (["--no-cache"] if command[0] == "lint" else [])
    result = run(*args, "--output", target)
    assert result.exit_code == EXIT_USAGE
    line = one_line_error(result)
    assert "Invalid value for '--output'" in line and ("is a file" in line or "is not writable" in line)
    assert not target.exists()


def test_lint_of_a_folder_with_a_corrupt_manifest_is_one_line(out_dir, tmp_path):
    broken = tmp_path / "out"
    shutil.copytree(out_dir / "catalog-api", broken / "catalog-api")
    (broken / "catalog-api" / "manifest.json").write_text("{not json")
    result = run("lint", broken, "--no-cache")
    assert result.exit_code == EXIT_USAGE
    assert "manifest.json: not a manifest the generator wrote" in one_line_error(result)
    (broken / "catalog-api" / "manifest.json").write_text('{"region": "us-east-1"}')  # JSON, wrong shape
    result = run("lint", broken, "--no-cache")
    assert result.exit_code == EXIT_USAGE and "missing entry 'root_template'" in one_line_error(result)


def test_logs_with_an_endpoint_that_is_not_a_url_is_exit_2(aws_env):
    result = run("logs", "--config", CATALOG, "--endpoint-url", "notaurl")
    assert result.exit_code == EXIT_USAGE
    assert "'notaurl' is not an http:// or https:// URL" in one_line_error(result)


def test_an_event_file_that_is_not_utf8_is_one_line(tmp_path):
    event = tmp_path / "event.json"
    event.write_bytes(b'{"name": "\xff\xfe"}')
    result = run("invoke", "--config", CATALOG, "products", "--event", event)
    assert result.exit_code == EXIT_USAGE
    assert "is not UTF-8 text" in one_line_error(result)
    piped = CliRunner().invoke(main, ["invoke", "--config", str(CATALOG), "products", "--event", "-"],
                               input=b"\xff\xfe{}")
    assert piped.exit_code == EXIT_USAGE and "on standard input" in one_line_error(piped)


# -- 16. writing through links, and "-" -----------------------------------------------------------------
def test_output_files_are_written_through_symlinks(out_dir, tmp_path):
    real = tmp_path / "real" / "lint.sarif"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "link.sarif"
    link.symlink_to(real)
    result = run("lint", out_dir, "--format", "sarif", "--output", link, "--no-cache")
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and os.readlink(link) == str(real)  # the link is still a link ...
    assert json.loads(real.read_text())["version"] == "2.1.0"   # ... and its target got the SARIF
    schema_link = tmp_path / "schema.json"
    schema_link.symlink_to(tmp_path / "real" / "schema-target.json")  # dangling: created through the link
    assert run("schema", "--output", schema_link).exit_code == 0
    assert schema_link.is_symlink() and json.loads((tmp_path / "real" / "schema-target.json").read_text())


def test_a_replaced_file_keeps_its_permissions_and_a_new_one_gets_the_umasks(tmp_path):
    from infra.render import replace_file, umask

    kept = tmp_path / "kept.json"
    kept.write_text("{}")
    kept.chmod(0o640)
    replace_file(kept, b"[]")
    assert stat.S_IMODE(kept.stat().st_mode) == 0o640
    new = tmp_path / "new.json"
    replace_file(new, b"[]")
    assert stat.S_IMODE(new.stat().st_mode) == 0o666 & ~umask()  # mkstemp alone makes it 0600


@pytest.mark.parametrize("command", [["schema"], ["lint", "{out}", "--no-cache", "--format", "sarif"]],
                         ids=["schema", "lint"])
def test_dash_is_standard_output(command, out_dir):
    result = run(*[str(a).replace("{out}", str(out_dir)) for a in command], "--output", "-")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)  # the document itself, nothing else on standard output
    assert not Path("-").exists()


def test_a_link_to_standard_output_is_written_to_not_replaced(tmp_path):
    """/dev/stdout is a link to /proc/self/fd/1: the file was replaced by a regular file (once the
    system's /dev/stdout itself). A link of the same kind in tmp_path shows it without risk."""
    link = tmp_path / "stdout"
    link.symlink_to("/proc/self/fd/1")
    run_ = subprocess.run([sys.executable, str(REPO / "generate.py"), "schema", "--output", str(link)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert run_.returncode == 0, run_.stderr
    assert link.is_symlink()
    assert json.loads(run_.stdout.split("wrote ")[0])["title"] == "serverless-infra stage config"
    for path in ("/dev/stdout", "/dev/stderr"):
        assert os.path.islink(path)


# -- 17. exit codes -----------------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["invoke", "serve"])
@pytest.mark.parametrize("option, value, text", [
    ("--endpoint-url", "notaurl", "'notaurl' is not an http:// or https:// URL"),
    ("--endpoint-url", "http://127.0.0.1:notaport", "is not a valid URL"),
    ("--profile", "nosuch", "AWS profile 'nosuch' is not configured"),
])
def test_invoke_and_serve_check_the_endpoint_and_profile_like_deploy(command, option, value, text, aws_env,
                                                                    monkeypatch):
    refuse_to_serve(monkeypatch)
    args = ["products"] if command == "invoke" else []
    result = run(command, "--config", CATALOG, *args, option, value)
    assert result.exit_code == EXIT_USAGE
    assert text in one_line_error(result)


@pytest.mark.parametrize("bucket", ["Bad Bucket!!", "ab", "UPPER", "a..b", "192.168.0.1", "xn--bucket",
                                    "my-bucket-s3alias", "-leading", "a" * 64])
def test_a_bucket_name_s3_would_refuse_is_exit_2_before_anything_runs(bucket, aws_env, tmp_path):
    result = run("package", "--config", CATALOG, "--out", tmp_path / "out", "--bucket", bucket)
    assert result.exit_code == EXIT_USAGE
    assert "is not a valid S3 bucket name" in one_line_error(result)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("bucket", ["my-artifacts", "a.b.c", "abc", "team-42-artifacts-us-east-1"])
def test_valid_bucket_names_pass(bucket):
    from infra.args import bucket_problem

    assert bucket_problem(bucket) is None


def test_schema_check_help_states_its_real_exit_codes(tmp_path):
    from infra.config.json_schema import check_schema, render
    from infra.errors import ConfigError

    text = " ".join(run("schema", "--help").output.split())
    assert "exit 1 when the file is not what the config schema generates" in text
    assert "exit 2 when a config in config/ does not load" in text
    stale = tmp_path / "stale.json"
    stale.write_text("{}")
    assert run("schema", "--check", "--output", stale).exit_code == EXIT_FAILURE  # what the help says: 1
    fresh = tmp_path / "fresh.json"
    fresh.write_text(render())
    assert run("schema", "--check", "--output", fresh).exit_code == 0
    missing = run("schema", "--check", "--output", tmp_path / "missing.json")
    assert missing.exit_code == EXIT_FAILURE and "missing.json does not exist: run `python generate.py schema`" in \
        missing.output
    configs = tmp_path / "config"
    configs.mkdir()
    (configs / "broken.toml").write_text("#:schema ../schema/stage-config.json\n[project]\ncolour = 1\n")
    with pytest.raises(ConfigError) as err:  # ... and 2 for a config that does not load
        check_schema(fresh, configs)
    assert err.value.exit_code == EXIT_USAGE


# -- 19. the lock file ---------------------------------------------------------------------------------
@pytest.fixture
def own_config(tmp_path) -> Path:
    """catalog-api in a folder of its own (its handlers stay where the repository has them)."""
    folder = tmp_path / "config"
    folder.mkdir()
    config = folder / "catalog-api.toml"
    shutil.copy(CATALOG, config)
    return config


def test_only_templates_writes_the_lock_the_deploy_side_generation_reads_it(own_config, tmp_path):
    from infra.build import build_config

    lock = own_config.with_name("catalog-api.lock.json")
    build_config(own_config, tmp_path / "out")  # what diff, package, preflight ... generate with
    assert not lock.exists()
    assert (tmp_path / "out" / "catalog-api" / "root.json").is_file()
    assert run("templates", "--config", own_config, "--out", tmp_path / "out").exit_code == 0
    assert json.loads(lock.read_text())["placement"]


def test_templates_out_names_the_out_directory_in_its_messages(own_config, tmp_path):
    twin = tmp_path / "other" / "catalog-api.toml"
    twin.parent.mkdir()
    shutil.copy(CATALOG, twin)
    result = run("templates", "--config", own_config, "--config", twin, "--out", tmp_path / "X")
    assert result.exit_code == EXIT_USAGE
    assert f"two configs would both write {tmp_path / 'X' / 'catalog-api'}/" in one_line_error(result)


def test_a_lock_file_that_cannot_be_written_is_named_as_the_cause(own_config, tmp_path):
    lock = own_config.with_name("catalog-api.lock.json")
    if os.geteuid() == 0:  # root writes anywhere but in /proc/sys: the lock is a link to a place there
        lock.symlink_to("/proc/sys/catalog-api.lock.json")
    else:
        own_config.parent.chmod(0o500)
    try:
        result = run("templates", "--config", own_config, "--out", tmp_path / "out")
    finally:
        own_config.parent.chmod(0o700)
    assert result.exit_code == EXIT_USAGE
    line = one_line_error(result)
    assert f"cannot write the placement lock file {lock}" in line and "is not writable" in line
    assert "--out" not in line
    assert not (tmp_path / "out").exists()  # checked before anything was written


def test_a_lock_file_that_cannot_be_read_is_one_line(own_config, tmp_path):
    own_config.with_name("catalog-api.lock.json").mkdir()
    result = run("templates", "--config", own_config, "--out", tmp_path / "out")
    assert result.exit_code == EXIT_USAGE
    assert "catalog-api.lock.json: (file): cannot be read" in one_line_error(result)


# -- 20. generate-event --------------------------------------------------------------------------------
def test_generate_event_path_without_a_leading_slash_is_normalised():
    result = run("generate-event", "--config", CATALOG, "--path", "users/42?verbose=1")
    assert result.exit_code == 0, result.output
    event = json.loads(result.stdout)
    assert event["path"] == "/users/42" and event["resource"] == "/users/{id}"
    assert event["pathParameters"] == {"id": "42"} and event["queryStringParameters"] == {"verbose": "1"}
    assert event["requestContext"]["path"].endswith("/users/42")


# -- 22. output people copy from --------------------------------------------------------------------------
def test_out_folders_get_the_permissions_of_their_files(tmp_path):
    from infra.build import build_configs

    build_configs([CATALOG], tmp_path / "out", write_lock=False)
    target = tmp_path / "out" / "catalog-api"
    file_mode = stat.S_IMODE((target / "root.json").stat().st_mode)
    dir_mode = stat.S_IMODE(target.stat().st_mode)
    assert dir_mode == file_mode | ((file_mode & 0o444) >> 2)  # rw-r--r-- files, rwxr-xr-x folders
    for folder in [target, *(p for p in target.rglob("*") if p.is_dir())]:
        assert stat.S_IMODE(folder.stat().st_mode) == dir_mode, folder


def _terminal_ui(width: int):
    import io

    from rich.console import Console

    from infra.deploy.ui import Ui

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=width, color_system=None)
    return Ui(out=console, err=console), buffer


OUTPUTS = {"ApiUrl": "https://abcdef1234.execute-api.us-east-1.amazonaws.com/prod/",
           "WebAclArn": "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/catalog-prod-api/0f0f0f0f-1111-2222-3333",
           "Region": "us-east-1"}


@pytest.mark.parametrize("width", [60, 100, 200])
def test_outputs_in_a_terminal_never_wrap_a_url_or_arn(width):
    from infra.deploy.outputs import show_outputs

    ui, buffer = _terminal_ui(width)
    assert ui.live
    show_outputs(ui, OUTPUTS, title="Outputs of catalog-prod")
    text = buffer.getvalue()
    for value in OUTPUTS.values():
        assert any(value in line for line in text.splitlines()), (width, text)  # whole, on one line


def test_piped_tables_are_no_wider_than_their_content():
    """A diff table piped to a file or CI log: no line ends in blanks, and no line is wider than
    the table's content (the Notes column used to be padded to 12 even when empty)."""
    import io

    from rich.console import Console

    from infra.deploy.resource_diff import Diff, Row
    from infra.deploy.diff_render import ResourceChanges
    from infra.deploy.ui import Ui

    buffer = io.StringIO()
    ui = Ui(out=Console(file=buffer, width=160), err=Console(file=io.StringIO()))
    assert not ui.live
    diff = Diff(rows=[Row("shop-dev", "Modify", "Fn", "AWS::Lambda::Function", "False"),
                      Row("shop-dev/Data", "Add", "ItemsTableParameter", "AWS::SSM::Parameter")])
    ui.show(ResourceChanges(diff, "Changes to shop-dev", []))
    lines = buffer.getvalue().splitlines()
    assert lines and all(line == line.rstrip() for line in lines), lines
    header = next(line for line in lines if "Logical ID" in line)
    widest_row = max(len(line) for line in lines if "AWS::" in line)
    assert header.rstrip().endswith("Notes")
    assert max(len(line) for line in lines) <= max(len(header), widest_row) + 1  # the rule under the header
