"""The command layer (issue 17): one way to define and register a command, the same error handling
for every command, typed parameters, and exit codes the README states.

Every command is run here through the real root group (`infra.cli.main`), as generate.py runs it.
"""
from __future__ import annotations

import dataclasses
import importlib
import inspect
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest
from click import termui
from click.testing import CliRunner

from infra import cli
from infra.command import EXIT_INTERRUPTED, Command, Group, command
from infra.errors import UserError
from support.cli_result import one_line_error
from support.shipped import REPO
from support.signals import SIGINT_DEFAULT

CATALOG = REPO / "config" / "catalog-api.toml"
ALL_COMMANDS = sorted(cli.main.load_all().values(), key=lambda c: c.name or "")


def run(*args: object, input: str | None = None):
    return CliRunner().invoke(cli.main, [str(a) for a in args], input=input)


# -- one way to define and register a command ---------------------------------------------------------
def test_every_command_is_defined_the_one_way_and_listed_once():
    listed = [c for module in cli.COMMAND_MODULES for c in importlib.import_module(module).COMMANDS]
    assert sorted(c.name for c in listed) == sorted(cli.COMMANDS)  # the registry names exactly these
    assert len({c.name for c in listed}) == len(listed)
    assert all(isinstance(c, Command) for c in listed)
    for module in cli.COMMAND_MODULES:  # ... each in the module that defines it
        defined = {c.name for c in importlib.import_module(module).COMMANDS}
        assert defined == {name for name, where in cli.COMMANDS.items() if where == module}, module
    assert cli.main.load_all() == {c.name: c for c in listed}  # nothing registered elsewhere


def test_a_registry_that_disagrees_with_a_module_is_refused():
    group = Group("g", lazy={"templates": "infra.generate_commands", "nosuch": "infra.generate_commands"})
    with pytest.raises(LookupError, match=r"infra.generate_commands.COMMANDS defines \['lint', 'schema', "
                                          r"'templates'\], but the command registry names \['nosuch', 'templates'\]"):
        group.get_command(None, "templates")


def test_generating_imports_no_other_command_module():
    """Commands load on first use: `templates` (the cold start the bench times) imports neither the
    deploy, loop nor sync commands, nor boto3; `--help`, which lists every command, loads them all."""
    probe = ("import sys; from infra.cli import main; main.get_command(None, 'templates'); "
             "print(sorted(m for m in sys.modules if m.startswith(('infra.deploy', 'infra.loop', 'infra.sync', "
             "'boto', 'rich'))))")
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}:{REPO}"}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]"
    result = run("--help")
    assert result.exit_code == 0 and all(f"  {name} " in result.output for name in cli.COMMANDS)


def test_the_root_group_refuses_a_command_defined_another_way():
    group = Group("g")
    with pytest.raises(TypeError, match="define commands with @infra.command.command"):
        group.add_command(click.Command("plain", callback=lambda: None))


def test_schema_is_a_file_command_not_a_loop_command():
    from infra import generate_commands
    from infra.loop import commands as loop

    assert "schema" in {c.name for c in generate_commands.COMMANDS}
    assert "schema" not in {c.name for c in loop.COMMANDS}


# -- typed parameters -----------------------------------------------------------------------------------
@pytest.mark.parametrize("cmd", ALL_COMMANDS, ids=lambda c: c.name)
def test_commands_take_typed_parameters_matching_their_options(cmd):
    """No **kw: every option arrives as a named, annotated parameter (so mypy checks what the body
    does with it), and the parameters are exactly the options click passes."""
    signature = inspect.signature(cmd.callback)
    kinds = {p.kind for p in signature.parameters.values()}
    assert inspect.Parameter.VAR_KEYWORD not in kinds and inspect.Parameter.VAR_POSITIONAL not in kinds
    assert all(p.annotation is not inspect.Parameter.empty for p in signature.parameters.values())
    assert signature.return_annotation in ("None", None)
    passed = {p.name for p in cmd.params if p.expose_value}
    assert set(signature.parameters) == passed


def test_deploy_options_are_built_with_every_field_given():
    """`options()` mirrors the deploy Options with no defaults: a command that forgets a field is
    a type error ("Missing named argument"), never a silently defaulted flag."""
    from infra.deploy.commands import options
    from infra.deploy.stage import Options

    params = inspect.signature(options).parameters
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is inspect.Parameter.empty
               for p in params.values())
    fields = {f.name for f in dataclasses.fields(Options)} - {"target"} | {"region", "profile", "endpoint_url"}
    assert set(params) == fields


def test_no_command_body_takes_untyped_keywords():
    """The command modules have no `**kw: Any` left anywhere (the pattern issue 17 removed)."""
    for module in cli.COMMAND_MODULES:
        source = Path(importlib.import_module(module).__file__).read_text()
        assert "**kw" not in source and "**backing" not in source, module


class CtrlC(io.BytesIO):
    """Standard input at which the user presses Ctrl-C."""

    def _interrupt(self, *args: object) -> bytes:
        if args and args[0] == 0:  # click probes the stream with read(0)
            return b""
        raise KeyboardInterrupt

    read = read1 = readline = readinto = readinto1 = _interrupt  # type: ignore[assignment]


# -- the same error handling for every command ------------------------------------------------------
def _group_with(fn) -> Group:
    group = Group("g")
    group.add_command(command("boom")(fn))
    return group


@pytest.mark.parametrize("raised, code, text", [
    (RuntimeError("kaput\nsecond line"), 1, "boom failed unexpectedly (RuntimeError: kaput second line); "
                                           "run again with SERVERLESS_INFRA_DEBUG=1 to see where."),
    (PermissionError(13, "Permission denied", "/x/y"), 1, "boom failed on the file system (/x/y): Permission denied."),
    (KeyboardInterrupt(), 130, "Interrupted: boom stopped."),
    (UserError("changes found", exit_code=3), 3, "changes found"),
])
def test_what_escapes_a_command_is_one_line_and_its_exit_code(raised, code, text):
    def boom() -> None:
        raise raised

    result = CliRunner().invoke(_group_with(boom), ["boom"])
    assert result.exit_code == code
    assert one_line_error(result) == f"Error: {text}"


def test_no_command_prints_the_help_laid_out_and_exits_2():
    result = CliRunner().invoke(cli.main, [])
    assert result.exit_code == 2
    lines = result.output.splitlines()
    assert lines[0] == "Usage: main [OPTIONS] COMMAND [ARGS]..."
    listed = [line.split()[0] for line in lines[lines.index("Commands:") + 1:]]
    assert listed == sorted(cli.COMMANDS)
    assert "Error" not in result.output


def test_ctrl_c_at_a_prompt_is_130_and_end_of_input_is_a_refusal():
    def asks() -> None:
        click.confirm("Go on?", abort=True)

    group = _group_with(asks)
    eof = CliRunner().invoke(group, ["boom"], input="")
    assert eof.exit_code == 1 and "no answer" in one_line_error(eof)

    interrupted = CliRunner().invoke(group, ["boom"], input=CtrlC())
    assert interrupted.exit_code == EXIT_INTERRUPTED and "Interrupted" in one_line_error(interrupted)


def test_the_deploy_prompt_stops_on_ctrl_c_instead_of_answering_no(monkeypatch):
    """Ui.confirm (every deploy and destroy question): Ctrl-C propagates (exit 130), end of input is no."""
    from infra.deploy.ui import Ui

    def ctrl_c(prompt: str = "") -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr(termui, "visible_prompt_func", ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        Ui().confirm("Deploy?")

    def eof(prompt: str = "") -> str:
        raise EOFError

    monkeypatch.setattr(termui, "visible_prompt_func", eof)
    assert Ui().confirm("Deploy?") is False


@pytest.mark.parametrize("args, text", [
    (["templates", "--bogus"], "No such option '--bogus'"),
    (["nosuch"], "No such command 'nosuch'"),
    (["--bogus"], "No such option '--bogus'"),
    (["lint", "--jobs", "0"], "Invalid value for '--jobs'"),
    (["generate-event", "--config", CATALOG], "Missing option '--path'"),
    (["serve", "--config", CATALOG, "--port", "x"], "Invalid value for '--port'"),
])
def test_click_usage_errors_are_one_error_line_and_exit_2(args, text):
    result = run(*args)
    assert result.exit_code == 2
    line = one_line_error(result)
    assert text in line and line.endswith("--help)") and "Usage:" not in result.output


@pytest.mark.parametrize("args, patch", [
    (["templates", "--config", CATALOG, "--out", "{tmp}/out"], ("infra.build", "build_configs")),
    (["lint", "{tmp}"], ("infra.lint", "lint")),
    (["schema", "--check"], ("infra.config.json_schema", "check_schema")),
    (["generate-event", "--config", CATALOG, "--path", "/users"], ("infra.loop.events", "proxy_event")),
    (["logs", "--config", CATALOG], ("infra.loop.logs", "sources")),
])
def test_commands_that_had_no_safety_net_now_have_the_same_one(args, patch, tmp_path, monkeypatch):
    """templates, lint, schema and the loop commands used to print a traceback for an unexpected
    error (only the deploy commands had AwsCommand's net) and click's "Aborted!" (exit 1) for Ctrl-C."""
    module, name = patch

    def fail(*a, **k):
        raise ValueError("something odd")

    monkeypatch.setattr(importlib.import_module(module), name, fail)
    filled = [str(a).replace("{tmp}", str(tmp_path)) for a in args]
    result = run(*filled)
    assert result.exit_code == 1
    assert "failed unexpectedly (ValueError: something odd)" in one_line_error(result)

    def interrupt(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(importlib.import_module(module), name, interrupt)
    stopped = run(*filled)
    assert stopped.exit_code == EXIT_INTERRUPTED
    assert "Interrupted" in one_line_error(stopped)


# -- Ctrl-C in a real process ------------------------------------------------------------------------
def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def test_ctrl_c_during_a_parallel_lint_is_130_and_one_line(out_dir, tmp_path):
    """The terminal sends SIGINT to the whole process group: the cfn-lint workers used to print a
    traceback each and the command ended as click's "Aborted!" (exit 1)."""
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}:{REPO}"}
    proc = subprocess.Popen([*SIGINT_DEFAULT, str(REPO / "generate.py"), "lint", str(out_dir), "--no-cache",
                             "--jobs", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=tmp_path, start_new_session=True)
    deadline = time.monotonic() + 60
    while not _children(proc.pid):  # the workers are forked: linting has started
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_INTERRUPTED, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert [line for line in err.splitlines() if line.strip()] == ["Error: Interrupted: lint stopped."]


def test_the_readme_lists_every_command_and_its_exit_codes():
    readme = (REPO / "README.md").read_text()
    block = readme.split("## Command line", 1)[1].split("```", 2)[1]
    listed = {line.split()[2] for line in block.splitlines() if line.startswith("python generate.py ")}
    assert listed == set(cli.COMMANDS)
    table = readme.split("| exit | meaning |", 1)[1].split("\n\n", 1)[0]
    assert [row.split("|")[1].strip() for row in table.splitlines()[2:]] == ["0", "1", "2", "3", "130"]


# -- ending the process: a fast_exit command skips the interpreter's teardown --------------------------
class _Exited(BaseException):
    pass


@pytest.mark.parametrize("fast_exit, hard_exit, raised, code, ended_with", [
    (True, True, None, 0, "os._exit"),
    (True, True, UserError("bad", exit_code=2), 2, "os._exit"),
    (False, True, None, 0, "sys.exit"),   # the command did not say it leaves nothing behind
    (True, False, None, 0, "sys.exit"),   # the caller (CliRunner, a test, watch) did not ask
])
def test_a_fast_exit_command_ends_the_process_at_once_when_asked(fast_exit, hard_exit, raised, code, ended_with,
                                                                  monkeypatch, capsys):
    def boom() -> None:
        print("written before the end")
        if raised:
            raise raised

    group = Group("g")
    group.add_command(command("boom", fast_exit=fast_exit)(boom))
    flushed = []
    monkeypatch.setattr(sys.stdout, "flush", lambda: flushed.append("stdout"))

    def os_exit(status: int) -> None:
        raise _Exited("os._exit", status)

    monkeypatch.setattr(os, "_exit", os_exit)
    with pytest.raises((_Exited, SystemExit)) as ended:
        group.main(["boom"], hard_exit=hard_exit)
    if ended_with == "os._exit":
        assert ended.value.args == ("os._exit", code) and flushed
    else:
        assert isinstance(ended.value, SystemExit) and ended.value.code == code
    assert "written before the end" in capsys.readouterr().out


def test_only_templates_sync_and_lint_end_the_process_at_once():
    """templates, sync and lint write their files, close them and leave no thread or child process
    behind (lint's pool is shut down before it returns); the other commands (servers, watchers,
    deploys) keep the regular exit."""
    assert {name for name, cmd in cli.main.load_all().items() if isinstance(cmd, Command) and cmd.fast_exit} == {
        "templates", "sync", "lint"}


def test_generate_py_lint_prints_every_finding_and_exits_with_its_code(tmp_path):
    """Through generate.py (the hard exit), with two templates (two forked workers): every finding
    reaches the pipe, the SARIF file is whole, and a clean lint exits 0."""
    bad = {"AWSTemplateFormatVersion": "2010-09-09",
           "Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": "soon"}}}}
    clean = {"AWSTemplateFormatVersion": "2010-09-09", "Resources": {"T": {"Type": "AWS::SNS::Topic"}}}
    for name, body in (("a.json", bad), ("b.json", bad), ("c.json", clean)):
        (tmp_path / name).write_text(json.dumps(body))
    found = subprocess.run([sys.executable, "generate.py", "lint", str(tmp_path / "a.json"), str(tmp_path / "b.json"),
                            "--no-cache"], cwd=REPO, capture_output=True, text=True)
    assert found.returncode == 1, found.stderr
    assert {line.split(":")[0] for line in found.stdout.splitlines()} == {str(tmp_path / "a.json"),
                                                                          str(tmp_path / "b.json")}
    assert found.stderr.startswith("Error: ") and "lint finding(s)" in found.stderr
    sarif = subprocess.run([sys.executable, "generate.py", "lint", str(tmp_path / "a.json"), str(tmp_path / "b.json"),
                            "--no-cache", "--format", "sarif", "--output", str(tmp_path / "r.sarif")], cwd=REPO,
                           capture_output=True, text=True)
    assert sarif.returncode == 1
    assert len(json.loads((tmp_path / "r.sarif").read_text())["runs"][0]["results"]) == len(found.stdout.splitlines())
    ok = subprocess.run([sys.executable, "generate.py", "lint", str(tmp_path / "c.json"), "--no-cache"], cwd=REPO,
                        capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout.startswith("cfn-lint: 0 errors, 0 warnings")


def test_generate_py_templates_prints_everything_and_exits_with_its_code(tmp_path):
    """Through generate.py (the hard exit): all output reaches a file and a pipe, and the codes hold."""
    out_file = tmp_path / "stdout.txt"
    with out_file.open("w") as fh:
        ok = subprocess.run([sys.executable, "generate.py", "templates", "--config", str(CATALOG), "--out",
                             str(tmp_path / "out")], cwd=REPO, stdout=fh, stderr=subprocess.PIPE, text=True)
    assert ok.returncode == 0, ok.stderr
    assert out_file.read_text().startswith(f"{tmp_path / 'out'}/catalog-api/: 9 stacks")
    assert (tmp_path / "out" / "catalog-api" / "root.json").is_file()
    bad = subprocess.run([sys.executable, "generate.py", "templates", "--config", str(tmp_path / "none.toml"), "--out",
                          str(tmp_path / "out2")], cwd=REPO, capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("Error: ") and len(bad.stderr.splitlines()) == 1


@pytest.mark.parametrize("fast_exit, collector_on", [(True, False), (False, True)])
def test_generate_pys_paused_cycle_collector_comes_back_for_every_command_but_a_fast_exit_one(
        fast_exit, collector_on, monkeypatch):
    """generate.py pauses the cycle collector while it starts; Group.main(hard_exit=True) turns it
    back on before a command that lives on (watch, serve, deploy) runs."""
    import gc

    seen = []
    group = Group("g")
    group.add_command(command("c", fast_exit=fast_exit)(lambda: seen.append(gc.isenabled())))
    monkeypatch.setattr(os, "_exit", lambda status: (_ for _ in ()).throw(_Exited(status)))
    gc.disable()
    try:
        with pytest.raises((_Exited, SystemExit)):
            group.main(["c"], hard_exit=True)
    finally:
        gc.enable()
    assert seen == [collector_on]


def test_generate_py_run_by_an_interpreter_without_the_packages_hands_over_to_the_projects(tmp_path):
    """The README's `python generate.py ...` with the system's python (no click, no troposphere):
    a traceback before; now the project's .venv interpreter runs the command."""
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    base = getattr(sys, "_base_executable", sys.executable)   # this venv's own interpreter, without its packages
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    run = subprocess.run([base, "-I", str(repo / "generate.py")], capture_output=True, text=True, env=env,
                         timeout=120, cwd=tmp_path)
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    assert run.stdout.startswith("Usage: generate.py [OPTIONS] COMMAND [ARGS]...") or \
        run.stderr.startswith("Usage: generate.py [OPTIONS] COMMAND [ARGS]...")
