"""A `group` change on the emulator, as a user tries it: `diff` and `deploy` plan the move, the
preflight does not take the moved resources' names for new ones, the move is not counted as
widening access, and the emulator's missing stack refactoring is said as such (nothing moved, the
lock unchanged). The refactor itself is tested on recorded answers (test_moves_stubbed.py)."""
from __future__ import annotations

import json

from deploy_emulator import boto

STACK = "moves-dev"


def write_config(tmp_path, group_of_b: str | None) -> None:
    code = tmp_path / "fn"
    code.mkdir(exist_ok=True)
    (code / "app.py").write_text("def handler(event, context):\n    return {'ok': True}\n")
    functions = ""
    for name, group in (("a", "g"), ("b", group_of_b), ("c", None)):
        functions += (f'\n[functions.{name}]\nruntime = "python3.14"\nsource = "{code}"\nhandler = "app.handler"\n'
                      + (f'group = "{group}"\n' if group else ""))
    (tmp_path / "moves.toml").write_text(
        f'[project]\nname = "moves"\nstage = "dev"\nregion = "us-east-1"\n{functions}')


def test_a_group_change_plans_a_move_that_widens_nothing_and_the_emulator_says_it_cannot_run_it(
        cli, emulator, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config, lock = tmp_path / "moves.toml", tmp_path / "moves.lock.json"
    args = ["--config", config, "--out", tmp_path / "out", "--endpoint-url", emulator.endpoint_url]
    write_config(tmp_path, None)
    created = cli("deploy", *args, "--yes", "--require-approval", "never")
    assert created.exit_code == 0, created.output[-3000:]
    assert json.loads(lock.read_text())["placement"]["functions.b"] == "compute"

    write_config(tmp_path, "g")
    before = lock.read_bytes()
    diff = cli("diff", *args)
    assert diff.exit_code == 0, diff.output[-3000:]
    assert "move BFunction (AWS::Lambda::Function) from Compute to ComputeG" in diff.stdout
    assert "to move" in diff.stdout and "broadening" not in diff.stdout      # a move grants nothing new

    # --yes with the default --require-approval broadening: the move needs no person, the preflight
    # passes (the moved log group's name is not "taken"), and the emulator's missing API is named.
    moved = cli("deploy", *args, "--yes")
    assert moved.exit_code == 1, moved.output[-3000:]
    assert "ok    names" in moved.stdout
    [error] = [line for line in moved.stderr.splitlines() if line.strip()]
    assert error.startswith("Error: Could not move resources between moves-dev-Compute-"), error
    assert "the endpoint does not implement CloudFormation's stack refactoring" in error
    assert error.endswith("Nothing was moved; the lock file is unchanged.")
    assert lock.read_bytes() == before
    fn = boto(emulator.endpoint_url, "lambda").get_function(FunctionName=f"{STACK}-b")["Configuration"]
    assert fn["FunctionName"] == f"{STACK}-b"                                   # still there, untouched


def test_a_lost_lock_entry_is_named_as_such_not_as_a_retained_resource(cli, emulator, tmp_path, monkeypatch):
    """Without its lock entry a regrouped function is placed afresh: the plan would delete it in
    one stack and create it, same names, in the other. The preflight says the lock is the cause
    (it said a resource of the live stack "was retained by this stage")."""
    monkeypatch.chdir(tmp_path)
    config, lock = tmp_path / "moves.toml", tmp_path / "moves.lock.json"
    args = ["--config", config, "--out", tmp_path / "out", "--endpoint-url", emulator.endpoint_url]
    write_config(tmp_path, None)
    assert cli("deploy", *args, "--yes", "--require-approval", "never").exit_code == 0
    write_config(tmp_path, "g")
    data = json.loads(lock.read_text())
    del data["placement"]["functions.b"]                 # what the lock's own message allows
    lock.write_text(json.dumps(data, indent=2) + "\n")
    refused = cli("deploy", *args, "--yes", "--require-approval", "never")
    assert refused.exit_code == 1, refused.output[-3000:]
    said = " ".join(refused.stdout.split())
    assert "FAIL names BFunction" in said and "(deployed in moves-dev/Compute, placed in moves-dev/ComputeG)" in said
    assert "the placement lock (" in said and "moves.lock.json) is missing or lost their entries" in said
    assert "retained by this stage" not in said
