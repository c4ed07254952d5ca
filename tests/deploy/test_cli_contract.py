"""The command line holds to its word.

1. Every bad argument, path or endpoint answer is one line on stderr (`Error: ...`), never a
   traceback, with the documented exit code (2 bad config or arguments, 1 failure).
2. Every flag of every AWS command reaches the code that acts on it: each one is given through
   the real CLI and the value the command receives is checked, and a flag without such a case
   fails the completeness test (an audit once removed --timeout and --recreate-failed between the
   CLI and the deploy options, and no test noticed).
"""
from __future__ import annotations

import http.server
import io
import json
import threading
from pathlib import Path

import pytest

import infra.deploy.manifest as manifest
from infra.deploy.commands import COMMANDS
from infra.emulator import free_port
from stage_fixture import write_stage
from support import cli_result
from support.cli_result import read_only_dir

COMMAND_NAMES = [c.name for c in COMMANDS]


@pytest.fixture
def stage(aws_env, tmp_path, monkeypatch):
    """The hand-written fixture stage instead of the generator; no emulator needed."""
    config = tmp_path / "shop.toml"
    config.write_text("# stands in for a stage config\n")
    monkeypatch.setattr(manifest, "_generate", lambda c, out: write_stage(out))
    return config


def serve_html(status: int):
    """A web server on loopback that answers every request with an HTML page and `status` (not AWS)."""

    class Html(http.server.BaseHTTPRequestHandler):
        def answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            body = b"<!DOCTYPE html><html><head><title>Welcome to nginx</title></head><body>hi</body></html>"
            self.send_response(status)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_HEAD = answer

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Html)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def html_server():
    """An HTML error page (404), as a web server answers an unknown path."""
    yield from serve_html(404)


@pytest.fixture(scope="module")
def html_ok_server():
    """An HTML page with status 200 (a web server's welcome page): botocore sees no error status."""
    yield from serve_html(200)


def one_line_error(result) -> str:
    """The single `Error: ...` line of a failed command; no traceback anywhere."""
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return cli_result.one_line_error(result)


# -- 1. bad arguments ---------------------------------------------------------------------------------
BAD_ARGUMENTS = [
    # (case, arguments after --config/--out, exit code, part of the one-line error)
    ("endpoint is not a URL", ["diff", "--endpoint-url", "notaurl"], 2, "'notaurl' is not an http:// or https:// URL"),
    ("endpoint port is not a number", ["deploy", "--endpoint-url", "http://127.0.0.1:notaport"], 2,
     "'http://127.0.0.1:notaport' is not a valid URL"),
    ("endpoint port out of range", ["outputs", "--endpoint-url", "http://127.0.0.1:99999"], 2, "is not a valid URL"),
    ("endpoint without a host", ["drift", "--endpoint-url", "http://:80"], 2, "names no host"),
    ("unknown region", ["diff", "--region", "nonsense"], 2, "Unknown AWS region 'nonsense'"),
    ("unknown profile", ["deploy", "--profile", "nosuch"], 2, "AWS profile 'nosuch' is not configured"),
    ("outputs file under a file", ["deploy", "--outputs-file", "{file}/outputs.json"], 2, "is a file, so"),
    ("outputs file is a directory", ["outputs", "--outputs-file", "{dir}"], 2, "is a directory; choose another path"),
    ("outputs file in a read-only directory", ["deploy", "--outputs-file", "{read_only}/x/outputs.json"], 2,
     "is not writable"),
    # A folder that looks writable but refuses new files (/proc, /sys: even root's access() says
    # yes): refused before anything is deployed, not after the stack was updated.
    ("outputs file in a folder that refuses files", ["deploy", "--outputs-file", "/proc/outputs.json"], 2,
     "/proc/outputs.json cannot be created"),
    ("timeout is not a duration", ["deploy", "--timeout", "soon"], 2, "'soon' is not a duration"),
    ("approval level unknown", ["deploy", "--require-approval", "sometimes"], 2, "'sometimes' is not one of"),
    ("check name unknown", ["preflight", "--skip-check", "dns"], 2, "'dns' is not one of"),
    ("removed flag", ["deploy", "--allow-replacement"], 2, "--allow-replacement is gone"),
    ("unknown option", ["drift", "--frobnicate"], 2, "No such option '--frobnicate'"),
    ("extra argument", ["diff", "surplus"], 2, "unexpected extra argument"),
    ("a web server, not AWS", ["diff", "--endpoint-url", "{html}"], 1, "answered with an HTML page"),
    ("nothing listening", ["deploy", "--endpoint-url", "http://127.0.0.1:{closed}"], 1, "Could not reach AWS"),
]


@pytest.mark.parametrize("case, args, code, text", BAD_ARGUMENTS, ids=[c[0] for c in BAD_ARGUMENTS])
def test_every_bad_argument_is_one_line_and_its_exit_code(case, args, code, text, stage, cli, tmp_path, html_server):
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "a-dir").mkdir()
    values = {"file": tmp_path / "a-file", "dir": tmp_path / "a-dir", "read_only": read_only_dir(tmp_path),
              "html": html_server, "closed": free_port()}
    filled = [a.format(**values) for a in args]
    result = cli(filled[0], "--config", stage, "--out", tmp_path / "out", *filled[1:])
    assert result.exit_code == code, result.output
    assert text in one_line_error(result)


@pytest.mark.parametrize("command", [*COMMAND_NAMES, "sync", "logs"])
def test_an_endpoint_answering_an_html_page_with_200_is_one_line_not_a_parser_error(command, cli, aws_env, tmp_path,
                                                                                   html_ok_server):
    """botocore parses a 200 answer as AWS's: an HTML page was a KeyError ("deploy failed unexpectedly
    (KeyError: 'GetCallerIdentityResult')") for deploy and the other CloudFormation commands, and an empty
    answer for `logs`, which printed nothing and exited 0."""
    from deploy_emulator import REPO

    extra = ["--yes"] if command in ("deploy", "destroy", "recover", "sync") else []
    extra += ["--out", str(tmp_path / "out")] if command != "logs" else []
    config = REPO / "config" / ("secure-api.toml" if command == "sync" else "catalog-api.toml")   # sync: a dev stage
    result = cli(command, "--config", config, "--endpoint-url", html_ok_server, *extra)
    assert result.exit_code == 1, result.output
    error = one_line_error(result)
    assert "the endpoint answered with an HTML page (HTTP 200, Welcome to nginx), not an AWS API response; " \
           "check --endpoint-url." in error, error
    assert "unexpectedly" not in error


@pytest.mark.parametrize("command", COMMAND_NAMES)
def test_every_command_refuses_a_bad_endpoint_and_a_missing_config_the_same_way(command, stage, cli, tmp_path):
    bad = cli(command, "--config", stage, "--endpoint-url", "notaurl")
    assert bad.exit_code == 2 and "--endpoint-url" in one_line_error(bad)
    missing = cli(command, "--config", tmp_path / "nope.toml")
    assert missing.exit_code == 2 and "does not exist" in one_line_error(missing)


def test_an_invalid_config_is_exit_2_and_names_the_key(cli, aws_env, tmp_path):
    config = tmp_path / "broken.toml"
    config.write_text('[project]\nname = "shop"\nstage = "dev"\nregion = "us-east-1"\ncolour = "red"\n')
    result = cli("deploy", "--config", config, "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert "project.colour: unknown key" in one_line_error(result)


def test_the_outputs_file_is_checked_before_anything_is_deployed(stage, cli, tmp_path, emulator):
    (tmp_path / "a-file").write_text("x")
    result = cli("deploy", "--config", stage, "--out", tmp_path / "out", "--endpoint-url", emulator.endpoint_url,
                 "--yes", "--require-approval", "never", "--outputs-file", tmp_path / "a-file" / "o.json")
    assert result.exit_code == 2 and "a-file is a file" in one_line_error(result)
    assert result.stdout == ""                                  # not even generated or packaged
    from deploy_emulator import boto

    assert boto(emulator.endpoint_url, "cloudformation").describe_stacks()["Stacks"] == []


def test_an_unknown_output_key_is_one_line(stage, cli, tmp_path, emulator):
    args = ["--config", stage, "--out", tmp_path / "out", "--endpoint-url", emulator.endpoint_url]
    assert cli("deploy", *args, "--yes", "--require-approval", "never").exit_code == 0
    result = cli("outputs", *args, "TableNme")
    assert result.exit_code == 1
    assert one_line_error(result) == "Error: shop-dev has no output TableNme. Did you mean TableName or TableArn?"
    # A nested stack's output asked for with --root-only: the hint is to drop the flag.
    every = json.loads(cli("outputs", *args, "--json").stdout)
    nested_only = sorted(set(every) - set(json.loads(cli("outputs", *args, "--json", "--root-only").stdout)))
    nested = cli("outputs", *args, "--root-only", nested_only[0])
    assert nested.exit_code == 1 and "drop --root-only" in one_line_error(nested)
    # --json with a key is still JSON.
    as_json = cli("outputs", *args, "--json", "TableName")
    assert as_json.exit_code == 0 and json.loads(as_json.stdout) == {"TableName": "shop-dev-items"}
    # ... and so is the outputs file: KEY selects what it holds, as it selects what --json prints.
    piped = cli("outputs", *args, "TableName", "--outputs-file", "-")
    assert piped.exit_code == 0 and json.loads(piped.stdout) == {"TableName": "shop-dev-items"}
    saved = tmp_path / "one.json"
    assert cli("outputs", *args, "TableName", "--outputs-file", saved).exit_code == 0
    assert json.loads(saved.read_text()) == {"TableName": "shop-dev-items"}
    assert cli("outputs", *args, "TableNme", "--outputs-file", tmp_path / "none.json").exit_code == 1
    assert not (tmp_path / "none.json").exists()     # an unknown KEY writes no file


# -- 2. every flag reaches the command ------------------------------------------------------------------
# command -> [(arguments, where the value lands, expected)]; where: an Options field, "ui.yes",
# "target.<field>", or a keyword the command passes on (key, as_json, root_only, disable_protection).
TARGET = [(["--region", "us-east-1"], "target.region", "us-east-1"),
          (["--profile", "p"], "target.profile", "p"),
          (["--endpoint-url", "http://127.0.0.1:4566"], "target.endpoint_url", "http://127.0.0.1:4566"),
          (["--out", "elsewhere"], "out", Path("elsewhere"))]
WIRING: dict[str, list[tuple[list[str], str, object]]] = {
    "package": [(["--bucket", "my-artifacts"], "bucket", "my-artifacts"),
                (["--skip-check", "names"], "skip_checks", ("names",))],
    "diff": [(["--bucket", "my-artifacts"], "bucket", "my-artifacts"), (["--timeout", "90s"], "timeout", 90.0), (["--fail"], "fail", True)],
    "deploy": [
        (["--bucket", "my-artifacts"], "bucket", "my-artifacts"), (["--yes"], "yes", True), (["--yes"], "ui.yes", True),
        (["--require-approval", "any"], "require_approval", "any"), ([], "require_approval", "broadening"),
        (["--allow-removal"], "allow_removal", True), (["--recreate-failed"], "recreate_failed", True),
        (["--no-import"], "import_retained", False), (["--import"], "import_retained", True),
        (["--skip-check", "names", "--skip-check", "concurrency"], "skip_checks", ("names", "concurrency")),
        (["--force"], "force", True), (["--timeout", "15m"], "timeout", 900.0),
        (["--outputs-file", "o.json"], "outputs_file", Path("o.json")),
    ],
    "destroy": [(["--yes"], "ui.yes", True), (["--disable-termination-protection"], "disable_protection", True),
                (["--force"], "force", True), (["--timeout", "1h"], "timeout", 3600.0)],
    "outputs": [(["ApiUrl"], "key", "ApiUrl"), (["--json"], "as_json", True), (["--root-only"], "root_only", True),
                (["--outputs-file", "o.json"], "outputs_file", Path("o.json"))],
    "drift": [(["--timeout", "2m"], "timeout", 120.0), (["--fail"], "fail", True)],
    "preflight": [(["--skip-check", "all"], "skip_checks", ("all",))],
    "recover": [(["--yes"], "ui.yes", True), (["--force"], "force", True), (["--timeout", "20m"], "timeout", 1200.0)],
}
RUNNERS = {  # command -> (module, function it calls)
    "package": ("infra.deploy.console", "run_package"), "diff": ("infra.deploy.diff", "run_diff"),
    "deploy": ("infra.deploy.deploy", "run_deploy"), "destroy": ("infra.deploy.destroy", "run_destroy"),
    "outputs": ("infra.deploy.outputs", "run_outputs"), "drift": ("infra.deploy.drift", "run_drift"),
    "preflight": ("infra.deploy.preflight", "run_preflight"), "recover": ("infra.deploy.recover", "run_recover"),
}
CASES = [(cmd, args, where, expected) for cmd, cases in WIRING.items() for args, where, expected in cases + TARGET]


def invoke_captured(cli, monkeypatch, command: str, args: list[str], config: Path, returns=False):
    import importlib

    seen: dict = {}

    def capture(opts, ui, **kw):
        seen.update(opts=opts, ui=ui, **kw)
        return returns

    module, name = RUNNERS[command]
    monkeypatch.setattr(importlib.import_module(module), name, capture)
    result = cli(command, "--config", config, *args)
    return result, seen


@pytest.mark.parametrize("command, args, where, expected", CASES,
                         ids=[f"{c}:{' '.join(a) or 'default'}:{w}" for c, a, w, _ in CASES])
def test_every_flag_reaches_the_command(command, args, where, expected, cli, monkeypatch, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("")
    aws_config = tmp_path / "aws-config"
    aws_config.write_text("[profile p]\nregion = us-east-1\n")  # --profile p names a configured profile
    monkeypatch.setenv("AWS_CONFIG_FILE", str(aws_config))
    result, seen = invoke_captured(cli, monkeypatch, command, args, config)
    assert result.exit_code == 0, result.output
    if where == "ui.yes":
        value = seen["ui"].assume_yes
    elif where.startswith("target."):
        value = getattr(seen["opts"].target, where.split(".", 1)[1])
    elif where in seen:
        value = seen[where]
    else:
        value = getattr(seen["opts"], where)
    assert value == expected


def test_every_flag_of_every_command_has_a_wiring_case():
    covered = {cmd: {a for args, _, _ in cases + TARGET for a in args if a.startswith("--")} for cmd, cases in WIRING.items()}
    for command in COMMANDS:
        flags = {o for p in command.params if not getattr(p, "hidden", False) for o in p.opts + p.secondary_opts
                 if o.startswith("--")} - {"--config", "--help"}
        missing = flags - covered[command.name]
        assert not missing, f"{command.name}: flags without a test through the CLI: {sorted(missing)}"
        arguments = [p.name for p in command.params if p.param_type_name == "argument"]
        for name in arguments:
            assert any(w == name for _, w, _ in WIRING[command.name]), (command.name, name)


@pytest.mark.parametrize("command", ["diff", "drift"])
def test_fail_turns_found_changes_into_exit_3(command, cli, monkeypatch, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("")
    found, _ = invoke_captured(cli, monkeypatch, command, ["--fail"], config, returns=True)
    assert found.exit_code == 3 and one_line_error(found).endswith("found (" + command + " --fail).")
    quiet, _ = invoke_captured(cli, monkeypatch, command, [], config, returns=True)
    assert quiet.exit_code == 0
    clean, _ = invoke_captured(cli, monkeypatch, command, ["--fail"], config, returns=False)
    assert clean.exit_code == 0


def test_generate_py_itself_prints_one_line_for_a_bad_endpoint(stage, tmp_path):
    """The script users run, as a process: exit 2 and one line, whatever the endpoint string."""
    import subprocess
    import sys

    from deploy_emulator import REPO

    run = subprocess.run([sys.executable, "generate.py", "deploy", "--config", str(REPO / "config" / "catalog-api.toml"),
                          "--endpoint-url", "http://127.0.0.1:notaport"], cwd=REPO, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("Error: Invalid value for '--endpoint-url'")
    assert "Traceback" not in run.stderr + run.stdout


# -- issue 18: what a new user's probes found ------------------------------------------------------------
class CtrlC(io.BytesIO):
    """Standard input at which the user presses Ctrl-C (click probes it with read(0) first)."""

    def _interrupt(self, *args: object) -> bytes:
        if args and args[0] == 0:
            return b""
        raise KeyboardInterrupt

    read = read1 = readline = readinto = readinto1 = _interrupt  # type: ignore[assignment]


def test_ctrl_c_at_the_deploy_prompt_is_130_and_deploys_nothing(stage, tmp_path, emulator):
    """Ctrl-C at "Deploy these changes?" used to count as "no" (exit 1)."""
    from click.testing import CliRunner

    from deploy_emulator import boto
    from infra.cli import main

    args = ["deploy", "--config", str(stage), "--out", str(tmp_path / "out"), "--endpoint-url", emulator.endpoint_url]
    result = CliRunner().invoke(main, args, input=CtrlC())
    assert result.exit_code == 130, result.output
    assert "Deploy these changes to " in result.stdout and "shop-dev" in result.stdout  # it was asking
    assert one_line_error(result) == "Error: Interrupted: deploy stopped."
    cfn = boto(emulator.endpoint_url, "cloudformation")
    live = [s for s in cfn.describe_stacks()["Stacks"] if s["StackName"] == "shop-dev"]
    assert all(s["StackStatus"] == "REVIEW_IN_PROGRESS" for s in live)  # nothing executed
    for s in live:
        assert cfn.list_change_sets(StackName=s["StackName"]).get("Summaries", []) == []


def test_outputs_files_are_written_through_links_and_dash_is_standard_output(stage, cli, tmp_path, emulator):
    args = ["--config", stage, "--out", tmp_path / "out", "--endpoint-url", emulator.endpoint_url]
    real = tmp_path / "kept" / "outputs.json"
    real.parent.mkdir()
    real.write_text("{}")
    link = tmp_path / "outputs.json"
    link.symlink_to(real)
    deployed = cli("deploy", *args, "--yes", "--require-approval", "never", "--outputs-file", link)
    assert deployed.exit_code == 0, deployed.output
    assert link.is_symlink() and json.loads(real.read_text())["TableName"] == "shop-dev-items"
    # "-": standard output is the JSON alone (a pipe can parse it); the table and progress go to stderr.
    printed = cli("outputs", *args, "--outputs-file", "-")
    assert printed.exit_code == 0, printed.output
    assert json.loads(printed.stdout)["TableName"] == "shop-dev-items" and "TableName" in printed.stderr
    again = cli("deploy", *args, "--yes", "--require-approval", "never", "--outputs-file", "-")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["TableName"] == "shop-dev-items"
    assert "==> Preflight" in again.stderr and "Outputs written" not in again.stderr
    assert not (tmp_path / "-").exists() and not Path("-").exists()


def test_piped_tables_have_no_trailing_spaces(stage, cli, tmp_path, emulator):
    result = cli("diff", "--config", stage, "--out", tmp_path / "out", "--endpoint-url", emulator.endpoint_url)
    assert result.exit_code == 0, result.output
    assert "Changes to create shop-dev" in result.stdout and "IAM statement changes" in result.stdout
    assert [line for line in result.stdout.splitlines() if line != line.rstrip()] == []
