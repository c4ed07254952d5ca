"""sync's pure parts: what it may apply, how values resolve, what the ledger counts; watch's
in-process lint (same findings as the lint command)."""
from __future__ import annotations

import contextlib
import copy
import io
import functools
import json
import re
import shutil
import time
from pathlib import Path

import pytest
from support.shipped import REPO
from support.signals import SIGINT_IGNORED

from infra.deploy.drift import StackDrift, show
from infra.deploy.sync_ledger import Synced, carry_over, current, explains, record, untouched
from infra.deploy.ui import Ui
from infra.sync.compare import compare_root, compare_stack, may_sync_function, merge
from infra.sync.resolve import (
    Unresolvable,
    needs_parameters,
    pseudo_parameters,
    resolve,
)

PSEUDO = pseudo_parameters("eu-west-1", "123456789012")


def function(**props):
    base = {"FunctionName": "shop-dev-items", "Runtime": "python3.14", "Handler": "app.handler",
            "MemorySize": 256, "Timeout": 30, "Code": {"S3Bucket": {"Ref": "AssetBucket"}, "S3Key": "assets/a.zip"},
            "Environment": {"Variables": {"TABLE": {"Ref": "TableName"}}}}
    base.update(props)
    return {"Type": "AWS::Lambda::Function", "Properties": base}


def stack(**resources):
    return {"AWSTemplateFormatVersion": "2010-09-09", "Parameters": {"TableName": {"Type": "String"}},
            "Resources": resources}


def test_code_environment_memory_and_timeout_may_be_synced():
    old = stack(Fn=function())
    new = stack(Fn=function(MemorySize=512, Timeout=60, Code={"S3Bucket": {"Ref": "AssetBucket"}, "S3Key": "assets/b.zip"},
                            Environment={"Variables": {"TABLE": {"Ref": "TableName"}, "MODE": "on"}}))
    out = compare_stack("shop-dev/Compute", "Compute", old, new)
    assert out.blockers == [] and out.api is None
    (change,) = out.functions
    assert (change.stack, change.logical_id, change.code) == ("Compute", "Fn", True)
    assert change.config == ("Environment", "MemorySize", "Timeout")
    assert change.what == ["code", "environment", "memory", "timeout"]


@pytest.mark.parametrize("edit, blocker", [
    (lambda t: t["Resources"]["Fn"]["Properties"].update(Runtime="python3.13"), "Fn (AWS::Lambda::Function) changes Runtime"),
    (lambda t: t["Resources"].update(Table={"Type": "AWS::DynamoDB::Table", "Properties": {}}),
     "Table (AWS::DynamoDB::Table) is new"),
    (lambda t: t["Resources"].update(Perm={"Type": "AWS::Lambda::Permission", "Properties": {}}),
     "Perm (AWS::Lambda::Permission) is new"),
    (lambda t: t["Resources"]["Fn"].update(DependsOn="Role"), "Fn (AWS::Lambda::Function) changes DependsOn"),
    (lambda t: t["Parameters"].update(New={"Type": "String"}), "shop-dev/Compute: its Parameters changed"),
    (lambda t: t.update(Outputs={"X": {"Value": "1"}}), "shop-dev/Compute: its Outputs changed"),
])
def test_everything_else_is_named_as_a_blocker(edit, blocker):
    old = stack(Fn=function())
    new = copy.deepcopy(old)
    edit(new)
    out = compare_stack("shop-dev/Compute", "Compute", old, new)
    assert any(blocker in b for b in out.blockers), out.blockers
    assert not out.functions


def test_a_function_that_releases_gradually_is_never_synced():
    alias = {"Type": "AWS::Lambda::Alias", "Properties": {"FunctionName": {"Ref": "Fn"}, "Name": "live"}}
    old = stack(Fn=function(), Live=alias)
    new = stack(Fn=function(Code={"S3Bucket": {"Ref": "AssetBucket"}, "S3Key": "assets/b.zip"}), Live=alias)
    assert "releases gradually (AWS::Lambda::Alias Live)" in (may_sync_function(new, "Fn") or "")
    out = compare_stack("shop-dev/Compute", "Compute", old, new)
    assert not out.functions and "may not be synced: it releases gradually" in out.blockers[0]


def test_an_api_definition_with_its_new_deployment_is_one_api_change():
    api_old = stack(RestApi={"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": "a", "Body": {"paths": {}}}})
    api_new = stack(RestApi={"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": "a", "Body": {"paths": {"/x": {}}}}})
    st_old = stack(DeploymentAAA={"Type": "AWS::ApiGateway::Deployment", "Properties": {}},
                   Stage={"Type": "AWS::ApiGateway::Stage", "Properties": {"DeploymentId": {"Ref": "DeploymentAAA"}}})
    st_new = stack(DeploymentBBB={"Type": "AWS::ApiGateway::Deployment", "Properties": {}},
                   Stage={"Type": "AWS::ApiGateway::Stage", "Properties": {"DeploymentId": {"Ref": "DeploymentBBB"}}})
    out = merge([compare_stack("s/Api", "Api", api_old, api_new), compare_stack("s/ApiStage", "ApiStage", st_old, st_new)])
    assert out.blockers == []
    assert out.api is not None and (out.api.stack, out.api.logical_id) == ("Api", "RestApi")
    assert (out.api.stage_stack, out.api.stage_logical_id) == ("ApiStage", "Stage")
    alone = merge([compare_stack("s/ApiStage", "ApiStage", st_old, st_new)])
    assert alone.api is None and "new deployment although its OpenAPI document is unchanged" in alone.blockers[0]


def test_the_root_may_differ_only_in_where_its_children_are_stored():
    deployed = {"Resources": {"Compute": {"Type": "AWS::CloudFormation::Stack", "Properties": {
        "TemplateURL": "https://b.s3.eu-west-1.amazonaws.com/templates/abc.json", "Parameters": {"A": "1"}}}}}
    generated = copy.deepcopy(deployed)
    generated["Resources"]["Compute"]["Properties"]["TemplateURL"] = "compute.json"
    assert compare_root("s", deployed, generated) == []
    generated["Resources"]["Compute"]["Properties"]["Parameters"]["B"] = "2"
    assert compare_root("s", deployed, generated) == ["s > Compute (AWS::CloudFormation::Stack) changes Parameters"]


def test_values_resolve_against_the_deployed_stack():
    params = {"TableName": "shop-dev-items", "Secret": "****"}
    assert resolve({"Ref": "TableName"}, params, PSEUDO) == "shop-dev-items"
    assert resolve({"Fn::Sub": "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:f"},
                   {}, PSEUDO) == "arn:aws:lambda:eu-west-1:123456789012:function:f"
    assert resolve({"Fn::Sub": ["${X}-${!Literal}", {"X": {"Ref": "TableName"}}]}, params, PSEUDO) == \
        "shop-dev-items-${Literal}"
    assert resolve({"Fn::Join": ["/", ["a", {"Ref": "AWS::Region"}]]}, {}, PSEUDO) == "a/eu-west-1"
    assert resolve({"Variables": {"N": 3, "L": ["x"]}}, {}, PSEUDO) == {"Variables": {"N": 3, "L": ["x"]}}
    assert needs_parameters({"Ref": "TableName"}) and not needs_parameters({"Fn::Sub": "${AWS::Region}"})
    for value, why in (({"Ref": "Missing"}, "not a parameter"), ({"Ref": "Secret"}, "NoEcho"),
                       ({"Fn::GetAtt": ["Role", "Arn"]}, "Fn::GetAtt"), ({"Fn::Sub": "${Role.Arn}"}, "attribute")):
        with pytest.raises(Unresolvable, match=why):
            resolve(value, params, PSEUDO)
    assert pseudo_parameters("cn-north-1", "1")["AWS::Partition"] == "aws-cn"


def test_the_ledger_counts_an_entry_until_its_stack_gets_another_template():
    entries: dict = {}
    record(entries, "Compute/Fn", {"stack": "Compute", "base": "templates/a.json", "what": ["code"]})
    record(entries, "Compute/Fn", {"stack": "Compute", "base": "templates/a.json", "what": ["environment"]})
    assert entries["Compute/Fn"]["what"] == ["code", "environment"]     # accumulated over the same template
    assert set(current(entries, {"Compute": "templates/a.json"})) == {"Compute/Fn"}
    assert current(entries, {"Compute": "templates/b.json"}) == {}        # deployed since: CloudFormation has it
    record(entries, "Compute/Fn", {"stack": "Compute", "base": "templates/b.json", "what": ["memory"]})
    assert entries["Compute/Fn"]["what"] == ["memory"]


def test_drift_shows_what_sync_changed_as_synced_and_does_not_count_it():
    synced = [Synced("s/Compute > Fn", "s/Compute", "Fn", "AWS::Lambda::Function", "s-fn", ("environment",), "now")]
    fn = {"LogicalResourceId": "Fn", "ResourceType": "AWS::Lambda::Function", "StackResourceDriftStatus": "MODIFIED",
          "PropertyDifferences": [{"PropertyPath": "/Environment/Variables/MODE", "ExpectedValue": "a",
                                   "ActualValue": "b", "DifferenceType": "NOT_EQUAL"}]}
    role = {"LogicalResourceId": "Role", "ResourceType": "AWS::IAM::Role", "StackResourceDriftStatus": "MODIFIED",
            "PropertyDifferences": [{"PropertyPath": "/Policies", "DifferenceType": "NOT_EQUAL"}]}
    out = io.StringIO()
    from rich.console import Console

    ui = Ui(Console(file=out, width=200), Console(file=io.StringIO()))
    assert show(ui, [StackDrift("s/Compute", "id", "DRIFTED", resources=[copy.deepcopy(fn)])], synced) is False
    assert "SYNCED s/Compute > Fn" in out.getvalue() and "IN_SYNC apart from what sync changed" in out.getvalue()
    assert show(ui, [StackDrift("s/Compute", "id", "DRIFTED", resources=[copy.deepcopy(fn), role])], synced) is True
    assert explains(synced, "s/Compute", "Fn", ["/Environment/Variables/MODE"])
    assert not explains(synced, "s/Compute", "Fn", ["/Role"])            # not a property sync changes


def test_watch_lints_in_process_with_the_same_findings_as_the_lint_command(tmp_path):
    from infra.build import build_configs
    from infra.lint import MemoryLintCache, lint

    (target,) = build_configs([REPO / "config" / "catalog-api.toml"], tmp_path / "out")
    broken = json.loads((target / "compute.json").read_text())
    fn = next(r for r in broken["Resources"].values() if r["Type"] == "AWS::Lambda::Function")
    fn["Properties"]["MemorySize"] = 1                      # E3034: below Lambda's minimum
    fn["Properties"]["Runtime"] = "nodejs18.x"              # W2531 / E2531: deprecated runtime
    (target / "compute.json").write_text(json.dumps(broken, indent=1))
    expected = lint([target], jobs=1)
    cache = MemoryLintCache()
    assert lint([target], jobs=1, cache=cache) == expected and expected
    misses = cache.misses
    assert lint([target], jobs=1, cache=cache) == expected and cache.misses == misses   # replayed, not re-run
    # A new code hash only: the same findings, replayed.
    text = (target / "compute.json").read_text()
    key = next(k for k in json.loads(text)["Resources"].values() if k["Type"] == "AWS::Lambda::Function"
               )["Properties"]["Code"]["S3Key"]
    (target / "compute.json").write_text(text.replace(key, "assets/" + "f" * 64 + ".zip"))
    assert [(f.rule, f.line) for f in lint([target], jobs=1, cache=cache)] == [(f.rule, f.line) for f in expected]
    assert cache.misses == misses


def test_watch_replays_the_lint_commands_cache_and_adds_to_it(tmp_path, monkeypatch):
    import re

    import infra.lint
    from infra.build import build_configs
    from infra.lint import LintCache, MemoryLintCache, lint

    (target,) = build_configs([REPO / "config" / "catalog-api.toml"], tmp_path / "out")
    compute = target / "compute.json"
    broken = json.loads(compute.read_text())
    fn = next(r for r in broken["Resources"].values() if r["Type"] == "AWS::Lambda::Function")
    fn["Properties"]["MemorySize"] = 1                      # E3034, so there are findings to replay
    compute.write_text(json.dumps(broken, indent=1))
    disk = tmp_path / "lint-cache"
    expected = lint([target], cache_dir=disk)               # what `make templates` leaves behind
    assert [f.rule for f in expected] == ["E3034"]

    def no_cfn_lint(*_args, **_kwargs):
        raise AssertionError("cfn-lint ran")

    monkeypatch.setattr(infra.lint, "_lint_files", no_cfn_lint)
    monkeypatch.setattr(infra.lint, "_run_cfn_lint", no_cfn_lint)
    # A watch started now lints nothing: every template's findings come from lint's cache.
    cache = MemoryLintCache(LintCache(disk))
    assert lint([target], jobs=1, cache=cache) == expected and cache.misses == 0
    # A saved handler changes only a code hash: replayed from memory, and written through, so
    # the next `make templates` replays it too instead of linting compute.json again.
    text = compute.read_text()
    old_key = re.search(r"assets/[0-9a-f]{64}\.zip", text).group(0)
    compute.write_text(text.replace(old_key, "assets/" + "e" * 64 + ".zip"))
    before = len(list(disk.iterdir()))
    assert lint([target], jobs=1, cache=cache) == expected and cache.misses == 0
    assert len(list(disk.iterdir())) == before + 1
    assert lint([target], cache_dir=disk) == expected


def lambda_stub():
    import boto3
    from botocore.stub import Stubber

    client = boto3.client("lambda", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


def config_answer(**extra):
    return {"FunctionName": "shop-dev-items", "State": "Active", "LastUpdateStatus": "Successful", "MemorySize": 256,
            "Timeout": 30, "Environment": {"Variables": {"MODE": "a"}}, "CodeSha256": "old", **extra}


def test_a_failed_code_update_puts_the_configuration_back_and_says_what_state_the_function_is_in():
    from infra.errors import DeployError
    from infra.sync.apply import FunctionUpdate, Waiter, update_function

    lam, stub = lambda_stub()
    name = {"FunctionName": "shop-dev-items"}
    stub.add_response("get_function_configuration", config_answer(), name)
    stub.add_response("update_function_configuration", config_answer(LastUpdateStatus="InProgress"),
                      {**name, "Environment": {"Variables": {"MODE": "b"}}})
    stub.add_response("get_function_configuration", config_answer(Environment={"Variables": {"MODE": "b"}}), name)
    stub.add_client_error("update_function_code", "InvalidParameterValueException", "Unzipped size must be smaller",
                          expected_params={**name, "ZipFile": b"zip"})
    stub.add_response("get_function_configuration", config_answer(Environment={"Variables": {"MODE": "b"}}), name)
    stub.add_response("update_function_configuration", config_answer(), {**name, "Environment": {"Variables": {"MODE": "a"}}})
    stub.add_response("get_function_configuration", config_answer(), name)
    update = FunctionUpdate("shop-dev/Compute > Fn", "shop-dev-items", code=b"zip",
                            config={"Environment": {"Variables": {"MODE": "b"}}})
    with stub, pytest.raises(DeployError) as failed:
        update_function(lam, update, Waiter(sleep=lambda _s: None))
    text = str(failed.value)
    assert text.startswith("shop-dev/Compute > Fn (shop-dev-items): the code update failed "
                           "(InvalidParameterValueException: Unzipped size must be smaller).")
    assert "Its previous configuration was put back; it runs what was deployed before (State Active, " \
           "LastUpdateStatus Successful)." in text
    stub.assert_no_pending_responses()


@pytest.mark.parametrize("configured", [True, False])
def test_a_code_update_that_never_finishes_says_whether_the_configuration_was_changed(configured):
    """The code update stays InProgress past the wait, after the configuration update took effect:
    nothing can be put back while it runs, and the error says that the new configuration stays;
    without a configuration change it says none was made. Either way it carries what the function
    will run (the new zip's hash), which sync records as synced."""
    from infra.sync.apply import FunctionUpdate, PartlyApplied, Waiter, update_function

    lam, stub = lambda_stub()
    name = {"FunctionName": "shop-dev-items"}
    env = {"Environment": {"Variables": {"MODE": "b"}}}
    stub.add_response("get_function_configuration", config_answer(), name)
    if configured:
        stub.add_response("update_function_configuration", config_answer(**env), {**name, **env})
    stub.add_response("update_function_code", config_answer(LastUpdateStatus="InProgress", **env),
                      {**name, "ZipFile": b"zip"})
    for _ in range(3):
        stub.add_response("get_function_configuration", config_answer(LastUpdateStatus="InProgress", **env), name)
    clock = iter(range(0, 10_000, 100))
    update = FunctionUpdate("shop-dev/Compute > Fn", "shop-dev-items", code=b"zip", config=env if configured else {})
    with stub, pytest.raises(PartlyApplied) as failed:
        update_function(lam, update, Waiter(sleep=lambda _s: None, clock=lambda: float(next(clock)), limit=250))
    text = str(failed.value)
    assert text.startswith("shop-dev/Compute > Fn (shop-dev-items): the code update did not finish within 250 s")
    from infra.sync.apply import code_sha256

    assert failed.value.expected["CodeSha256"] == code_sha256(b"zip")   # what the function will run
    if configured:
        assert "Its new configuration (Environment) was applied before and stays" in text
        assert failed.value.expected["Environment"] == env["Environment"]
    else:
        assert "Its configuration was not changed." in text


def test_an_update_still_in_progress_is_waited_for_then_given_up_with_the_function_named():
    from infra.errors import DeployError
    from infra.sync.apply import Waiter

    lam, stub = lambda_stub()
    for _ in range(3):
        stub.add_response("get_function_configuration", config_answer(LastUpdateStatus="InProgress"))
    clock = iter(range(0, 1000, 100))
    with stub, pytest.raises(DeployError, match=r"shop-dev/Compute > Fn \(shop-dev-items\): Lambda still reports"):
        Waiter(sleep=lambda _s: None, clock=lambda: float(next(clock)), limit=250).function(
            lam, "shop-dev-items", "shop-dev/Compute > Fn", config_answer(LastUpdateStatus="InProgress"))


def test_watch_shows_a_failing_build_and_goes_on(tmp_path):
    from infra.sync.watch import Session, affected, relevant, watched

    config = tmp_path / "catalog-api.toml"
    shutil.copy(REPO / "config" / "catalog-api.toml", config)
    shutil.copy(REPO / "config" / "catalog-api.lock.json", tmp_path / "catalog-api.lock.json")
    said: list[str] = []
    synced: list[Path] = []
    session = Session(tmp_path / "out", said.append, synced.append)
    assert session.rebuild([config]) and synced == [config]
    good = config.read_text()
    config.write_text(good.replace("memory = 256", "memory = 1", 1))          # below Lambda's minimum
    assert not session.rebuild([config])
    assert said[-1].startswith("build failed: ") and "memory" in said[-1] and synced == [config]
    config.write_text(good + '\n[[api.routes]]\nmethod = "GET"\npath = "/more"\nfunction = "users"\n')
    assert session.rebuild([config]) and synced == [config, config]
    assert "re-linted 2 changed template(s)" in said[-1]        # api.json and api-stage.json only
    # What watch looks at: the config and its handler directories, not caches, tests or editor files.
    (item,) = watched([config])
    assert REPO / "handlers" / "users" in item.sources
    assert affected({REPO / "handlers" / "users" / "index.mjs"}, [item]) == ([item], [REPO / "handlers" / "users" / "index.mjs"])
    assert affected({REPO / "README.md"}, [item]) == ([], [])
    assert not relevant(Path("/x/handlers/users/node_modules/a.js")) and not relevant(Path("/x/app.py~"))
    assert relevant(Path("/x/handlers/users/index.mjs"))
    # A shared module reached through a link in the handler directory: its target is watched too.
    products = watched([REPO / "config" / "catalog-api.toml"])[0]
    shared = (REPO / "handlers" / "shared" / "apigw.py").resolve()
    assert shared in products.links
    assert affected({shared}, [products])[0] == [products]


def test_a_project_under_a_hidden_folder_is_watched_all_the_same():
    """Only the part of a path below the watched folder decides (a git worktree in .worktrees/)."""
    from infra.sync.watch import relevant

    roots = [Path("/repo/.worktrees/feature/config"), Path("/repo/.worktrees/feature/handlers/users")]
    assert relevant(Path("/repo/.worktrees/feature/config/catalog-api.toml"), roots)
    assert relevant(Path("/repo/.worktrees/feature/handlers/users/index.mjs"), roots)
    assert not relevant(Path("/repo/.worktrees/feature/handlers/users/.cache/x.js"), roots)
    assert not relevant(Path("/repo/.worktrees/feature/handlers/users/node_modules/a.js"), roots)
    assert not relevant(Path("/repo/.worktrees/feature/config/.#catalog-api.toml"), roots)   # emacs' lock
    assert not relevant(Path("/repo/.worktrees/feature/config/catalog-api.toml"))             # no roots: the old rule


def test_sync_refuses_exactly_the_functions_the_config_releases_gradually(tmp_path):
    # Two predicates must agree: the config's (releases_gradually, what the generator builds
    # aliases and deployment groups for) and sync's (may_sync_function, read from the templates).
    import tomllib

    from infra.build import generate
    from infra.config import parse_config
    from infra.config.release import releases_gradually
    from infra.naming import logical_id

    text = (REPO / "config" / "catalog-api.toml").read_text().replace("production = true", "production = false", 1)
    text = text.replace('[functions.users.access]',
                        '[functions.users.release]\ntraffic = "canary-10-percent-5-minutes"\n\n[functions.users.access]', 1)
    cfg = parse_config(tomllib.loads(text), str(REPO / "config" / "catalog-api.toml"), "catalog-dev")
    files = generate(cfg).files
    templates = {name: json.loads(body) for name, body in files.items() if name.startswith("compute")}
    verdicts = {}
    for name in cfg.functions:
        lid = logical_id(name, "Function")
        (template,) = [t for t in templates.values() if lid in t.get("Resources", {})]
        verdicts[name] = may_sync_function(template, lid) is not None
    assert verdicts == {name: releases_gradually(cfg, name) for name in cfg.functions}
    assert verdicts == {"users": True, "products": False}


def said_line(said: list[str], text: str, timeout: float = 120.0) -> str:
    """The last line of a running watch's output holding `text`, waited for."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [line for line in said if text in line]
        if found:
            return found[-1]
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not said within {timeout} s: {said}")


@contextlib.contextmanager
def watching(configs: list[Path], out: Path, **options):
    """`run_watch` in a thread (50 ms debounce) while the block runs: the lines it says, as said.
    It is stopped at the end of the block, and must then end."""
    import threading

    from infra.sync.watch import run_watch

    said: list[str] = []
    stop = threading.Event()
    # watch counts files saved from a millisecond before its start on as changed (found by their
    # time when its watcher starts): what the test wrote just before is older than that.
    time.sleep(0.02)
    watcher = threading.Thread(target=run_watch, args=(configs, out, said.append),
                               kwargs={"debounce": 50, "stop": stop, **options}, daemon=True)
    watcher.start()
    try:
        yield said
    finally:
        stop.set()
        watcher.join(timeout=30)
    assert not watcher.is_alive()


def test_watch_without_config_follows_the_config_folder(tmp_path):
    """A config added to the folder is generated and watched; an editor's hidden file is not a
    config; a config removed is not watched any more."""
    folder = tmp_path / "config"
    folder.mkdir()
    first = folder / "catalog-api.toml"
    shutil.copy(REPO / "config" / "catalog-api.toml", first)
    shutil.copy(REPO / "config" / "catalog-api.lock.json", folder / "catalog-api.lock.json")
    with watching([first], tmp_path / "out", folder=folder) as said:
        wait_for = functools.partial(said_line, said)
        wait_for("watching")
        (folder / ".#shop.toml").write_text("not = [a config")     # emacs' lock file: ignored
        shutil.copy(first, folder / "shop.toml")
        wait_for("new config: shop.toml")
        assert "0 finding(s)" in wait_for("shop.toml: generated in")
        assert (tmp_path / "out" / "shop" / "root.json").is_file()
        assert (folder / "shop.lock.json").is_file()
        (folder / "shop.toml").unlink()
        wait_for("not watched any more (removed): shop.toml")
        (folder / "shop.toml").write_text(first.read_text().replace("memory = 256", "memory = 1", 1))
        assert "memory" in wait_for("build failed: ")                  # back again, and invalid: shown
    assert not any(".#shop" in line for line in said)
    assert (tmp_path / "out" / "shop").is_dir()                     # a removed config's output is left


def test_watch_rebuilds_on_a_save_of_a_shared_module_a_handler_links_to(tmp_path):
    """handlers/products/apigw.py is a link to handlers/shared/apigw.py: the zip holds it, so a
    save of the shared file is a change of products (a watch on handlers/products never sees it)."""
    import re

    for name in ("products", "users", "shared"):
        shutil.copytree(REPO / "handlers" / name, tmp_path / "handlers" / name, symlinks=True,
                        ignore=shutil.ignore_patterns("node_modules", "__pycache__", "tests"))
    assert (tmp_path / "handlers" / "products" / "apigw.py").is_symlink()
    config = tmp_path / "catalog-api.toml"
    config.write_text(re.sub(r'source = "handlers/(\w+)"', lambda m: f'source = "{tmp_path / "handlers" / m.group(1)}"',
                             (REPO / "config" / "catalog-api.toml").read_text()))
    shutil.copy(REPO / "config" / "catalog-api.lock.json", tmp_path / "catalog-api.lock.json")
    with watching([config], tmp_path / "out") as said:
        wait_for = functools.partial(said_line, said)
        wait_for("watching")
        shared = tmp_path / "handlers" / "shared" / "apigw.py"
        shared.write_text(shared.read_text() + "\nSHARED_MARK = 1\n")
        assert wait_for("changed: ") == "changed: shared/apigw.py"
        assert "catalog-api.toml: generated in" in wait_for("generated in")


@pytest.mark.parametrize("signum, code", [(2, 130), (15, 143)])
def test_watch_ends_on_sigint_and_sigterm_with_their_exit_codes(tmp_path, signum, code):
    import os
    import subprocess
    import time

    config = tmp_path / "catalog-api.toml"
    shutil.copy(REPO / "config" / "catalog-api.toml", config)
    shutil.copy(REPO / "config" / "catalog-api.lock.json", tmp_path / "catalog-api.lock.json")
    log = tmp_path / "log.txt"
    with log.open("w") as sink:
        # SIGINT ignored, as a script's `watch &` starts it: watch must end on it all the same.
        proc = subprocess.Popen([*SIGINT_IGNORED, str(REPO / "generate.py"), "watch",
                                 "--config", str(config), "--out", str(tmp_path / "out")],
                                cwd=tmp_path, stdout=sink, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            deadline = time.monotonic() + 120
            while "watching" not in log.read_text() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert "watching" in log.read_text(), log.read_text()
            proc.send_signal(signum)
            assert proc.wait(timeout=30) == code
        finally:
            proc.kill()
            proc.wait()
    assert log.read_text().splitlines()[-1] == "Error: Interrupted: watch stopped."


def test_watch_sync_passes_over_production_stages_it_follows_and_refuses_those_named(tmp_path, monkeypatch):
    from click.testing import CliRunner

    import infra.config
    from infra.build import build_configs
    from infra.cli import main
    from infra.errors import UsageError
    from infra.sync.commands import Fallback, Syncer, watch_sync

    config = tmp_path / "catalog-api.toml"                       # production = true
    shutil.copy(REPO / "config" / "catalog-api.toml", config)
    shutil.copy(REPO / "config" / "catalog-api.lock.json", tmp_path / "catalog-api.lock.json")
    build_configs([config], tmp_path / "out")
    # No credentials and no endpoint: a production stage is decided before any AWS call.
    syncer = Syncer(Fallback(tmp_path / "out", None, None, None, None, False, "broadening", (), False, None,
                             tmp_path / "cache"))
    said: list[str] = []
    followed = watch_sync(syncer, said.append, follow=True)
    followed(config)
    followed(config)
    assert said == ["catalog-api.toml: a production stage, regenerated and linted but never synced"]
    with pytest.raises(UsageError, match="Refusing to sync catalog-prod: it is a production stage"):
        watch_sync(syncer, said.append, follow=False)(config)
    # watch --sync over a config folder that holds production stages only: nothing to sync, exit 2.
    monkeypatch.setattr(infra.config, "CONFIG_DIR", tmp_path)
    monkeypatch.setattr(infra.config, "config_files", lambda folder=tmp_path: [config])
    result = CliRunner().invoke(main, ["watch", "--sync", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: watch --sync has no development stage to sync in {tmp_path}: every "
                                    "config there is a production stage")
    # A followed config that does not load is a failed build to show, not a reason to refuse the watch.
    from infra.config import ConfigError
    from infra.sync.commands import _production

    broken = tmp_path / "broken.toml"
    broken.write_text("[project]\nname = 1\n")
    assert _production([config, broken], skip_invalid=True) == [config]
    with pytest.raises(ConfigError):
        _production([config, broken])


def test_watch_sees_a_removed_handler_directory_come_back(tmp_path):
    """A branch switch removes a handler directory and brings it back: the failed build is shown,
    and the directory's return builds the config again (watch used to stop watching it)."""
    import time

    from infra.sync.watch import _paths, affected, watched

    handler = tmp_path / "handlers" / "products"
    shutil.copytree(REPO / "handlers" / "products", handler, ignore=shutil.ignore_patterns("__pycache__", "tests"))
    config = tmp_path / "catalog-api.toml"
    text = (REPO / "config" / "catalog-api.toml").read_text()
    config.write_text(text.replace('source = "handlers/products"', f'source = "{handler}"', 1))
    (item,) = watched([config])
    away = tmp_path / "away"
    handler.rename(away)
    (kept,) = watched([config], [item])                      # does not load: keeps what it watched
    assert kept.sources == item.sources and handler not in _paths([kept]) and tmp_path / "handlers" in _paths([kept])
    assert affected({handler}, [kept]) == ([kept], [handler])
    away.rename(handler)

    with watching([config], tmp_path / "out") as said:
        def wait_for(text: str, after: int = 0, timeout: float = 120.0) -> int:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                for i, line in enumerate(said[after:], after):
                    if text in line:
                        return i
                time.sleep(0.05)
            raise AssertionError(f"{text!r} not said within {timeout} s: {said}")

        ready = wait_for("watching")
        handler.rename(away)
        failed = wait_for("build failed: ", ready)
        assert "does not exist" in said[failed]
        away.rename(handler)
        assert "0 finding(s)" in said[wait_for("catalog-api.toml: generated in", failed)]


def test_watch_builds_a_new_function_once_the_handler_its_error_asks_for_is_created(tmp_path):
    """The README's flow: a function added to the config before its handler exists fails to build
    ("handler directory ... does not exist"); creating that directory (and then the file its next
    error asks for) builds the config again, with no other save (watch used to keep only the
    directories of the config's last good build)."""
    from infra.sync.watch import _paths, affected, declared_sources, watched

    config = tmp_path / "catalog-api.toml"
    shutil.copy(REPO / "config" / "catalog-api.toml", config)
    shutil.copy(REPO / "config" / "catalog-api.lock.json", tmp_path / "catalog-api.lock.json")
    orders = tmp_path / "handlers" / "orders"
    block = (f'\n[functions.orders]\ndescription = "Orders"\nruntime = "python3.14"\nsource = "{orders}"\n'
             'handler = "app.handler"\narchitecture = "arm64"\n'
             '\n[[api.routes]]\nmethod = "GET"\npath = "/orders"\nfunction = "orders"\n')
    (before,) = watched([config])
    config.write_text(config.read_text() + block)
    (item,) = watched([config], [before])                   # does not load: orders/ is missing
    assert item.sources == before.sources | {orders} and declared_sources(config, REPO) >= {orders}
    assert tmp_path in _paths([item])                        # the nearest folder that exists
    assert affected({orders}, [item]) == ([item], [orders])
    assert declared_sources(tmp_path / "nowhere.toml", REPO) == set()

    config.write_text(config.read_text().removesuffix(block))
    with watching([config], tmp_path / "out") as said:
        def next_line(text: str) -> str:
            """The first line holding `text` said after every line so far."""
            return _after(said, len(said), text)

        said_line(said, "watching")
        config.write_text(config.read_text() + block)
        assert "does not exist" in next_line("build failed: ")
        orders.mkdir(parents=True)                           # the directory (and its parent), not yet its app.py
        assert "needs app.py" in next_line("build failed: ")
        shutil.copy(REPO / "handlers" / "products" / "app.py", orders / "app.py")
        assert "0 finding(s)" in next_line("catalog-api.toml: generated in")
    assert "orders" in (tmp_path / "out" / "catalog-api" / "manifest.json").read_text()


def _own_handlers(tmp_path: Path) -> Path:
    """catalog-api with its handler directories (and the shared one their links lead to) copied
    under `tmp_path`, all saved a while ago."""
    import re

    for name in ("products", "users", "shared"):
        shutil.copytree(REPO / "handlers" / name, tmp_path / "handlers" / name, symlinks=True,
                        ignore=shutil.ignore_patterns("node_modules", "__pycache__", "tests"))
    config = tmp_path / "catalog-api.toml"
    config.write_text(re.sub(r'source = "handlers/(\w+)"', lambda m: f'source = "{tmp_path / "handlers" / m.group(1)}"',
                             (REPO / "config" / "catalog-api.toml").read_text()))
    shutil.copy(REPO / "config" / "catalog-api.lock.json", tmp_path / "catalog-api.lock.json")
    _saved_a_while_ago(tmp_path)
    return config


def _after(said: list[str], start: int, text: str, timeout: float = 120.0) -> str:
    """The first line holding `text` that a running watch said after its first `start` lines."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in said[start:]:
            if text in line:
                return line
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not said within {timeout} s: {said}")


def test_a_new_link_in_a_handler_directory_is_a_change(tmp_path):
    """`ln -s ../shared/secret_rotation.py handlers/products/rotation.py` adds a file to the zip;
    the event's path leads to handlers/shared, which no config builds from: watch takes the path as
    named too (it used to see only where the link leads, and rebuilt nothing)."""
    config = _own_handlers(tmp_path)
    with watching([config], tmp_path / "out") as said:
        said_line(said, "watching")
        start = len(said)
        (tmp_path / "handlers" / "products" / "rotation.py").symlink_to("../shared/secret_rotation.py")
        assert "rotation.py" in _after(said, start, "changed: ", timeout=30)
        _after(said, start, "catalog-api.toml: generated in")


def test_a_save_while_a_build_changes_the_watched_folders_is_not_lost(tmp_path, monkeypatch):
    """A config save that adds a function with a handler directory of its own changes the folders
    watched, so the notifier is replaced after that build; a handler saved while the build (and its
    sync, or a fallback deploy of minutes) ran is found by its time (it used to be lost with the
    old notifier's events)."""
    import infra.sync.watch as watch_module

    config = _own_handlers(tmp_path)
    shutil.copytree(tmp_path / "handlers" / "products", tmp_path / "handlers" / "extra", symlinks=True)
    _saved_a_while_ago(tmp_path)
    products = tmp_path / "handlers" / "products" / "app.py"
    real = watch_module.Session.rebuild
    builds: list[int] = []

    def rebuild(self, configs):
        ok = real(self, configs)
        builds.append(1)
        if len(builds) == 2:     # the build has read the files: the user saves while it syncs
            products.write_text(products.read_text() + "\nSAVED_DURING_SYNC = 1\n")
        return ok

    monkeypatch.setattr(watch_module.Session, "rebuild", rebuild)
    with watching([config], tmp_path / "out") as said:
        said_line(said, "watching")
        start = len(said)
        config.write_text(config.read_text() + f'''
[functions.extra]
runtime = "python3.14"
source = "{tmp_path / "handlers" / "extra"}"
handler = "app.handler"
''')
        assert _after(said, start, "changed: ") == "changed: catalog-api.toml"
        start = said.index("changed: catalog-api.toml", start) + 1
        assert "app.py" in _after(said, start, "changed: ", timeout=30)
    assert len(builds) >= 3


def _saved_a_while_ago(folder: Path) -> None:
    """Every file and folder under `folder` as if saved a minute ago: watch counts what was saved
    from the start of its last build on (by the file's time) as changed, and a test that writes its
    files just before starting it must not have them counted again."""
    import os

    past = time.time_ns() - 60_000_000_000
    for path in [folder, *folder.rglob("*")]:
        os.utime(path, ns=(past, past), follow_symlinks=False)
    time.sleep(0.02)   # the change time, which no call sets back, is now 20 ms old too


def test_a_handler_directory_back_while_no_watcher_ran_is_still_seen(tmp_path, monkeypatch):
    """The directory comes back between the failed build and the moment the new watcher runs
    (no event for it): the new watcher's first look finds it, and the config is built again."""
    import infra.sync.watch as watch_module

    handler = tmp_path / "handlers" / "products"
    shutil.copytree(REPO / "handlers" / "products", handler, ignore=shutil.ignore_patterns("__pycache__", "tests"))
    config = tmp_path / "catalog-api.toml"
    text = (REPO / "config" / "catalog-api.toml").read_text()
    config.write_text(text.replace('source = "handlers/products"', f'source = "{handler}"', 1))
    away = tmp_path / "away"
    _saved_a_while_ago(tmp_path)
    watchers: list[list[Path]] = []

    def scripted(paths, **_kwargs):
        watchers.append(paths)
        if len(watchers) == 1:
            yield set()                    # watching
            handler.rename(away)
            yield {handler}                # the removal's event: the build fails, the watch restarts
        elif len(watchers) == 2:
            away.rename(handler)           # back before the new watcher runs: no event
            yield set()                    # watching again
        # a third watcher (back on the directory itself) ends the test

    monkeypatch.setattr(watch_module, "file_changes", scripted)
    said: list[str] = []
    watch_module.run_watch([config], tmp_path / "out", said.append)
    assert [line.split(":")[0] for line in said if not line.startswith("watching")] == [
        "catalog-api.toml", "changed", "build failed", "changed", "catalog-api.toml"]
    assert said[-1].startswith("catalog-api.toml: generated in") and len(watchers) == 3


def test_watch_builds_and_syncs_each_config_on_its_own_and_stops_on_an_interrupt(tmp_path, monkeypatch):
    from infra.errors import UserError
    from infra.lint import Finding
    from infra.sync.watch import Session

    dev, prod = tmp_path / "dev.toml", tmp_path / "prod.toml"
    text = (REPO / "config" / "catalog-api.toml").read_text()
    dev.write_text(text)
    prod.write_text(text.replace("memory = 256", "memory = 1", 1))      # does not build
    said: list[str] = []
    synced: list[Path] = []
    session = Session(tmp_path / "out", said.append, synced.append)
    assert not session.rebuild([dev, prod])                             # one failed: not all clean
    assert any(line.startswith("build failed: ") and "prod.toml" in line for line in said)
    assert synced == [dev]                                              # the other built and synced
    # A finding in one config's templates holds back that config's sync only.
    prod.write_text(text)
    real = Session.lint
    monkeypatch.setattr(Session, "lint", lambda self, targets: real(self, targets) + [
        Finding(str(tmp_path / "out" / "prod" / "compute.json"), 1, "E0000", "error", "made up")])
    synced.clear()
    assert not session.rebuild([dev, prod])
    assert synced == [dev] and "prod.toml: not synced: fix its lint findings first" in said
    # A sync stopped by Ctrl-C (a fallback deploy's exit 130) ends the watch instead of going on.
    def interrupted(config: Path) -> None:
        raise UserError("Interrupted: deploy stopped.", exit_code=130)

    session.sync = interrupted
    with pytest.raises(UserError, match="Interrupted"):
        session.rebuild([dev])


class _FakeStage:
    """What `prepare` reads of a deployed stage, with nothing deployed through sync yet."""

    class aws:
        region = "us-east-1"

    root = type("Root", (), {"parameters": {"AssetBucket": "bucket"}})()

    def account(self):
        return "123456789012"

    def child_key(self, child):
        return f"templates/{child}.json"

    def parameters(self, child):
        return {}

    def physical_id(self, child, logical_id):
        return f"fn-{logical_id.lower()}"


def test_a_blocker_found_while_preparing_leaves_nothing_else_to_apply(tmp_path):
    """A deploy makes every change once a blocker is known: a value only a deploy can resolve
    (Fn::GetAtt) in one function must not let another function's new code go out first."""
    from infra.sync.compare import Comparison, FunctionChange
    from infra.sync.run import prepare

    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "b.zip").write_bytes(b"PK new code")
    compute = {"Resources": {
        "AFunction": {"Type": "AWS::Lambda::Function", "Properties": {
            "Environment": {"Variables": {"ROLE": {"Fn::GetAtt": ["Role", "Arn"]}}}}},
        "BFunction": {"Type": "AWS::Lambda::Function", "Properties": {"Code": {"S3Key": "assets/b.zip"}}}}}
    (tmp_path / "compute.json").write_text(json.dumps(compute))
    build = type("Build", (), {"stack_name": "shop-dev", "directory": tmp_path,
                               "templates": {"Compute": tmp_path / "compute.json"},
                               "template": staticmethod(lambda path: json.loads(path.read_text()))})()
    comparison = Comparison(functions=[FunctionChange("Compute", "AFunction", False, ("Environment",)),
                                       FunctionChange("Compute", "BFunction", True, ())])
    prepared = prepare(_FakeStage(), build, comparison, {})
    assert prepared.blockers == ["shop-dev/Compute > AFunction: its Environment refers to Fn::GetAtt ['Role', "
                                 "'Arn'], which only a deploy can resolve"]
    assert prepared.functions == [] and prepared.api is None


def test_the_ledger_is_one_root_stacks_and_reads_the_earlier_format():
    import io

    from infra.deploy.stack_state import StackInfo
    from infra.deploy.sync_ledger import Ledger

    entry = {"base": "templates/x.json", "type": "AWS::Lambda::Function", "stack": "Compute"}
    stored: dict[str, bytes] = {}

    class S3:
        def get_object(self, Bucket, Key):  # noqa: N803 - boto3's names
            return {"Body": io.BytesIO(stored[Key])}

        def put_object(self, Bucket, Key, Body, ContentType):  # noqa: N803
            stored[Key] = Body

    aws = type("Aws", (), {"client": lambda self, service: S3()})()
    first = StackInfo("shop-dev", "arn:stack/shop-dev/1", "UPDATE_COMPLETE", parameters={"AssetBucket": "b"})
    again = StackInfo("shop-dev", "arn:stack/shop-dev/2", "CREATE_COMPLETE", parameters={"AssetBucket": "b"})
    Ledger(aws, first).write({"Compute/Fn": entry})
    assert Ledger(aws, first).read() == {"Compute/Fn": entry}
    assert Ledger(aws, again).read() == {}          # the stage destroyed and deployed again: not its ledger
    stored["sync/shop-dev.json"] = json.dumps({"Compute/Fn": entry}).encode()   # written before the stack id
    assert Ledger(aws, again).read() == {"Compute/Fn": entry}


def test_links_are_followed_inside_the_project_only_and_loops_are_skipped(tmp_path):
    import os

    from infra.sync.watch import linked

    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    (project / "handlers" / "f").mkdir(parents=True)
    (project / "handlers" / "shared").mkdir()
    (project / "handlers" / "shared" / "util.py").write_text("")
    elsewhere.mkdir()
    (elsewhere / "notes.json").write_text("{}")
    f = project / "handlers" / "f"
    os.symlink(project / "handlers" / "shared" / "util.py", f / "util.py")
    os.symlink(elsewhere / "notes.json", f / "notes.json")          # outside the project: its folder is not watched
    os.symlink(f / "loop2", f / "loop1")
    os.symlink(f / "loop1", f / "loop2")                            # a loop
    os.symlink(f / "missing", f / "broken")                         # a broken link
    assert linked([f], project) == {(project / "handlers" / "shared" / "util.py").resolve()}


def test_a_deploy_carries_over_what_it_left_alone_and_nothing_it_changed():
    """What of a ledger entry a deploy leaves live, from the resource's definition in the template
    it was synced over and in the one deployed now."""
    fn = {"Type": "AWS::Lambda::Function", "Properties": {"Code": {"S3Key": "a.zip"}, "MemorySize": 256}}
    entry = {"type": "AWS::Lambda::Function", "code_sha256": "new", "config": {"MemorySize": 512},
             "what": ["code", "memory"]}
    assert untouched(entry, fn, copy.deepcopy(fn)) == entry                 # not touched: all of it stays
    other = {"Type": fn["Type"], "Properties": {**fn["Properties"], "Timeout": 9}}
    assert untouched(entry, fn, other) == {**entry, "config": {}, "what": ["code"]}   # configuration set, code not
    new_code = {"Type": fn["Type"], "Properties": {**fn["Properties"], "Code": {"S3Key": "b.zip"}}}
    assert untouched(entry, fn, new_code) is None                          # CloudFormation put its own code
    assert untouched({**entry, "code_sha256": None}, fn, other) is None    # only settings, which it set
    assert untouched(entry, fn, None) is None and untouched(entry, None, fn) is None
    stage = {"Type": "AWS::ApiGateway::Stage", "Properties": {"DeploymentId": {"Ref": "DeploymentA"},
                                                              "RestApiId": "api", "StageName": "dev"}}
    synced = {"type": "AWS::ApiGateway::Stage", "deployment": "sync1", "cfn_deployment": "cfn1", "what": ["deployment"]}
    moved = {"Type": stage["Type"], "Properties": {**stage["Properties"], "DeploymentId": {"Ref": "DeploymentB"}}}
    assert untouched(synced, stage, moved) is None                         # CloudFormation points it at its own
    throttled = {"Type": stage["Type"], "Properties": {**stage["Properties"], "MethodSettings": [{"ThrottlingRateLimit": 5}]}}
    assert untouched(synced, stage, throttled) == synced                   # other settings: the deployment stays
    renamed = {"Type": stage["Type"], "Properties": {**stage["Properties"], "StageName": "test"}}
    assert untouched(synced, stage, renamed) is None                       # a new stage (replacement)
    assert untouched({**synced, "deployment": None}, stage, throttled) is None


def test_a_function_whose_code_setting_properties_changed_keeps_nothing_synced():
    """Architectures changes only through UpdateFunctionCode: CloudFormation sends the template's
    code again even when the zip (a handler without dependencies) is the same."""
    fn = {"Type": "AWS::Lambda::Function", "Properties": {"Code": {"S3Key": "a.zip"}, "Architectures": ["arm64"]}}
    entry = {"type": "AWS::Lambda::Function", "code_sha256": "new", "config": {}, "what": ["code"]}
    x86 = {"Type": fn["Type"], "Properties": {**fn["Properties"], "Architectures": ["x86_64"]}}
    assert untouched(entry, fn, x86) is None


def test_a_file_removed_from_a_watched_folder_while_no_watcher_ran_is_found(tmp_path):
    """Removing a file changes only its folder's time: the folder itself is looked at too."""
    import os

    from infra.sync.watch import file_clock_ns, modified_since

    handler = tmp_path / "handler"
    (handler / "sub").mkdir(parents=True)
    (handler / "gone.py").write_text("x = 1\n")
    (handler / "sub" / "kept.py").write_text("y = 2\n")
    past = time.time_ns() - 60_000_000_000
    for path in (handler, handler / "sub", handler / "gone.py", handler / "sub" / "kept.py"):
        os.utime(path, ns=(past, past))
    time.sleep(0.02)
    since = file_clock_ns()
    assert modified_since([handler], since, []) == set()
    (handler / "gone.py").unlink()
    assert handler in modified_since([handler], since, [])


def test_a_source_that_is_no_path_is_left_out_of_what_a_broken_config_is_watched_on(tmp_path):
    from infra.sync.watch import declared_sources

    config = tmp_path / "broken.toml"
    config.write_text('[functions.a]\nsource = "ok"\n[functions.b]\nsource = "bad\\u0000name"\n')
    assert declared_sources(config, tmp_path) == {(tmp_path / "ok").resolve()}


def test_a_source_still_being_typed_does_not_widen_the_watch_to_the_project(tmp_path):
    """A broken config's sources are watched, but not one whose nearest existing folder holds the
    whole project (or more): that would watch every file of it."""
    from infra.sync.watch import watched

    config = tmp_path / "typing.toml"
    config.write_text('[project]\nname = 1\n[functions.a]\nsource = "h"\n[functions.b]\nsource = "/ho"\n'
                      '[functions.c]\nsource = "handlers/not-yet"\n')
    (item,) = watched([config])
    assert item.sources == {(REPO / "handlers" / "not-yet").resolve()}


def test_a_deploy_carries_over_every_untouched_entry_of_a_stack_current_before_it():
    """Two entries of one nested stack whose resources the deploy left alone are both carried over
    (a variable of the loop once took the name of the keys from before the deploy, so only the
    first was); one synced over an older template than the stack had before is not; one changed
    since is not."""
    fn = {"Type": "AWS::Lambda::Function", "Properties": {"Code": {"S3Key": "a.zip"}}}
    defs = {("t/old.json", "A"): fn, ("t/new.json", "A"): fn, ("t/old.json", "B"): fn, ("t/new.json", "B"): fn,
            ("t/older.json", "C"): fn, ("t/new.json", "C"): fn, ("t/old.json", "D"): fn, ("t/new.json", "D"): fn}

    def entry(lid: str, base: str = "t/old.json") -> dict:
        return {"stack": "Compute", "logical_id": lid, "type": "AWS::Lambda::Function", "base": base,
                "code_sha256": "x", "config": {}, "what": ["code"]}

    entries = {"Compute/A": entry("A"), "Compute/B": entry("B"), "Compute/C": entry("C", "t/older.json"),
               "Compute/D": entry("D")}
    kept, carried = carry_over(entries, {"Compute": "t/new.json"}, {"Compute": "t/old.json"},
                               lambda key, lid: defs.get((key, lid)), lambda e: e["logical_id"] != "D")
    assert sorted(kept) == ["Compute/A", "Compute/B"] and [e["logical_id"] for e in carried] == ["A", "B"]
    assert all(e["base"] == "t/new.json" for e in kept.values())
    assert carry_over(entries, {"Compute": "t/new.json"}, None, lambda key, lid: fn, lambda e: True) == ({}, [])


def test_a_synced_stage_whose_other_settings_a_deploy_changed_is_carried_while_it_still_serves_the_sync():
    """A deploy that changes only the stage's settings (its throttling) has no other deployment to
    point it at: the entry is carried over while the live stage still serves the synced deployment,
    and dropped when CloudFormation did point it back (the live check decides)."""
    old = {"Type": "AWS::ApiGateway::Stage", "Properties": {"DeploymentId": {"Ref": "Dep1"}, "RestApiId": "r",
                                                            "StageName": "dev"}}
    new = {"Type": old["Type"], "Properties": {**old["Properties"], "MethodSettings": [{"ThrottlingRateLimit": 5}]}}
    defs = {("t/old.json", "Stage"): old, ("t/new.json", "Stage"): new}
    entries = {"ApiStage/Stage": {"stack": "ApiStage", "logical_id": "Stage", "type": "AWS::ApiGateway::Stage",
                                  "base": "t/old.json", "deployment": "sync1", "cfn_deployment": "cfn1",
                                  "stage": "dev", "what": ["deployment"]}}
    for serves_sync in (True, False):
        kept, carried = carry_over(entries, {"ApiStage": "t/new.json"}, {"ApiStage": "t/old.json"},
                                   lambda key, lid: defs.get((key, lid)), lambda e, live=serves_sync: live)
        if serves_sync:
            assert kept == {"ApiStage/Stage": {**entries["ApiStage/Stage"], "base": "t/new.json"}}
            assert carried == [kept["ApiStage/Stage"]]
        else:
            assert kept == {} and carried == []


def test_a_stamped_ui_starts_each_line_said_with_the_time_and_leaves_blank_lines_blank():
    from rich.console import Console

    out, err = io.StringIO(), io.StringIO()
    ui = Ui(Console(file=out, width=200, color_system=None), Console(file=err, width=200, color_system=None),
            stamped=True)
    ui.step("sync catalog-dev")
    ui.say("synced [products] code")   # brackets in the text stay text, never markup
    ui.say()
    ui.success("done")
    ui.warn("other region")
    stamp = r"\[\d\d:\d\d:\d\d\] "
    lines = out.getvalue().splitlines()
    assert [re.sub(stamp, "[T] ", line) for line in lines] == [
        "[T] ==> sync catalog-dev", "[T] synced [products] code", "", "[T] done"], lines
    assert re.fullmatch(stamp + r"Warning: other region\n", err.getvalue()), err.getvalue()

    plain = io.StringIO()
    Ui(Console(file=plain, width=200, color_system=None), Console(file=io.StringIO())).say("synced [products] code")
    assert plain.getvalue() == "synced [products] code\n"   # without stamped: as before


def test_sync_under_watch_stamps_its_lines_and_a_single_sync_does_not(monkeypatch):
    from click.testing import CliRunner

    import infra.sync.commands as commands
    from infra.cli import main

    seen: dict[str, bool] = {}
    monkeypatch.setattr(commands, "_watch", lambda configs, out, syncer: seen.__setitem__("sync --watch", syncer.ui.stamped))
    monkeypatch.setattr(commands.Syncer, "__call__", lambda self, config, **kw: seen.__setitem__("sync", self.ui.stamped))
    for args in (["--watch"], []):
        result = CliRunner().invoke(main, ["sync", "--config", str(REPO / "config" / "secure-api.toml"), *args])
        assert result.exit_code == 0, result.output
    assert seen == {"sync --watch": True, "sync": False}


def test_an_undone_api_edit_is_put_back_from_either_of_its_two_entries(tmp_path):
    """Sync records an API edit twice: the RestApi's document and the Stage's deployment. A deploy
    may leave only one of them (it pointed the stage back at CloudFormation's deployment; or it
    changed the RestApi's other settings while the stage still serves the sync's deployment): the
    undone edit is put back from the one left, the other resource found in the templates."""
    from infra.sync.compare import Comparison
    from infra.sync.run import prepare

    api = {"Resources": {"RestApi": {"Type": "AWS::ApiGateway::RestApi", "Properties": {
        "Body": {"openapi": "3.0.1", "paths": {}}}}}}
    staged = {"Resources": {"Stage": {"Type": "AWS::ApiGateway::Stage", "Properties": {"StageName": "dev"}},
                            "DeploymentABC": {"Type": "AWS::ApiGateway::Deployment", "Properties": {}}}}
    for name, template in (("api", api), ("stage", staged)):
        (tmp_path / f"{name}.json").write_text(json.dumps(template))
    build = type("Build", (), {"stack_name": "shop-dev", "directory": tmp_path,
                               "templates": {"Api": tmp_path / "api.json", "ApiStage": tmp_path / "stage.json"},
                               "template": staticmethod(lambda path: json.loads(path.read_text()))})()

    class Stage(_FakeStage):
        def child_template(self, child):
            return {"Api": api, "ApiStage": staged}[child]

    rest = {"type": "AWS::ApiGateway::RestApi", "stack": "Api", "logical_id": "RestApi",
            "base": "templates/Api.json", "deployment": "sync1", "stage": "dev", "digest": "XYZ"}
    stage_entry = {"type": "AWS::ApiGateway::Stage", "stack": "ApiStage", "logical_id": "Stage",
                   "base": "templates/ApiStage.json", "deployment": "sync1", "stage": "dev", "cfn_deployment": "cfn1"}
    only_document = prepare(Stage(), build, Comparison(), {"Api/RestApi": rest}).api
    assert only_document is not None and only_document.restoring and only_document.keep_stage
    assert (only_document.stack, only_document.logical_id, only_document.stage_stack,
            only_document.stage_logical_id, only_document.stage) == ("Api", "RestApi", "ApiStage", "Stage", "dev")
    only_stage = prepare(Stage(), build, Comparison(), {"ApiStage/Stage": stage_entry}).api
    assert only_stage is not None and only_stage.restoring and not only_stage.keep_stage
    assert only_stage.restore_to == "fn-deploymentabc"          # CloudFormation's deployment, from the stage stack
    assert (only_stage.stack, only_stage.logical_id) == ("Api", "RestApi")
    assert prepare(Stage(), build, Comparison(), {}).api is None
    # A stage entry that replaces CloudFormation's deployment (made from a synced document) is no
    # undone edit: going back to that deployment would serve the edit again.
    replacing = {**stage_entry, "cfn_deployment": "cfn2", "replaces_cfn": True}
    assert prepare(Stage(), build, Comparison(), {"ApiStage/Stage": replacing}).api is None


class _FakeApiGateway:
    """API Gateway's calls update_api makes, on deployments with creation times."""

    def __init__(self, stage_on: str, created: dict[str, int]):
        self.stage_on, self.created, self.calls = stage_on, dict(created), []

    def put_rest_api(self, **kw):
        self.calls.append("put_rest_api")

    def get_stage(self, **kw):
        return {"deploymentId": self.stage_on}

    def get_deployment(self, restApiId, deploymentId):
        from botocore.exceptions import ClientError

        if deploymentId not in self.created:
            raise ClientError({"Error": {"Code": "NotFoundException", "Message": "gone"}}, "GetDeployment")
        return {"id": deploymentId, "createdDate": self.created[deploymentId]}

    def create_deployment(self, **kw):
        self.calls.append("create_deployment")
        self.created["new"] = max(self.created.values(), default=0) + 1
        return {"id": "new"}

    def update_stage(self, patchOperations, **kw):
        self.calls.append("update_stage")
        self.stage_on = patchOperations[0]["value"]

    def get_stages(self, **kw):
        return {"item": [{"deploymentId": self.stage_on}]}

    def get_deployments(self, **kw):
        return {"items": []}


@pytest.mark.parametrize("created, kept", [
    ({"cfn": 100, "sync1": 200}, True),    # CloudFormation's is the one from before the sync: it serves the deployed document
    ({"cfn": 200, "sync1": 200}, True),    # the same second: a deploy made after a sync takes longer
    ({"cfn": 300, "sync1": 200}, False),   # made after the sync (a deploy that changed only the user pool): it
                                           # snapshotted the synced document, so the document put back is deployed anew
    ({"cfn": 300}, False),                 # the sync's deployment is gone: nothing says which is older
])
def test_a_document_put_back_keeps_the_stage_only_on_a_deployment_older_than_the_sync(created, kept):
    from infra.sync.apply import update_api

    apigw = _FakeApiGateway("cfn", created)
    deployment, previous = update_api(apigw, "shop-dev/Api > RestApi", "api1", {"openapi": "3.0.1"}, {}, "dev", "D1",
                                      keep_stage="sync1")
    assert previous == "cfn"
    if kept:
        assert deployment == "cfn" and apigw.calls == ["put_rest_api"]
    else:
        assert deployment == "new" and apigw.calls == ["put_rest_api", "create_deployment", "update_stage"]
        assert apigw.stage_on == "new"


@pytest.mark.parametrize("stage_on, created, to, entry", [
    # the stage still on the sync's own deployment (its entry lost): back to CloudFormation's
    ("sync1", {"cfn": 100, "sync1": 200}, "cfn", None),
    # on CloudFormation's deployment from before the sync: left there, nothing recorded
    ("cfn", {"cfn": 100, "sync1": 200}, "cfn", None),
    # on one CloudFormation made after the sync, from the synced document: a new deployment of the
    # document put back, recorded as synced (drift explains it) and never restored to CloudFormation's
    ("cfn2", {"cfn2": 300, "sync1": 200}, "new", {"deployment": "new", "cfn_deployment": "cfn2", "replaces_cfn": True}),
])
def test_putting_an_api_document_back_leaves_the_stage_serving_it_and_the_ledger_saying_so(stage_on, created, to,
                                                                                            entry):
    from rich.console import Console

    from infra.sync.run import ApiUpdate, Prepared, apply

    apigw = _FakeApiGateway(stage_on, created)

    class Aws:
        region = "us-east-1"

        def client(self, name):
            return apigw

    class Stage(_FakeStage):
        aws = Aws()

    class Book:
        bucket, key, written = "bucket", "sync/shop-dev.json", None

        def write(self, entries):
            Book.written = dict(entries)

    update = ApiUpdate("shop-dev/Api > RestApi", "Api", "RestApi", "api1", {"openapi": "3.0.1"}, {}, "dev", "D1",
                       "ApiStage", "Stage", restoring=True, restore_to="cfn", keep_stage="sync1")
    entries = {"Api/RestApi": {"type": "AWS::ApiGateway::RestApi", "stack": "Api", "logical_id": "RestApi",
                               "base": "templates/Api.json", "deployment": "sync1", "stage": "dev"}}
    out = io.StringIO()
    ui = Ui(Console(file=out, width=300, color_system=None), Console(file=io.StringIO()))
    build = type("Build", (), {"stack_name": "shop-dev"})()
    apply(Stage(), build, Prepared(api=update), ui, Book(), entries)
    assert apigw.stage_on == to
    stage_entry = (Book.written or {}).get("ApiStage/Stage")
    assert "Api/RestApi" not in Book.written
    if entry is None:
        assert stage_entry is None
    else:
        assert {k: stage_entry[k] for k in entry} == entry and stage_entry["base"] == "templates/ApiStage.json"
        assert "made from the synced document; shown as synced" in out.getvalue()
