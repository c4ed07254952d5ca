"""Scale: a system of real size splits itself across nested stacks, within every quota, and
growing or shrinking it by one route, function or table moves no resource between templates."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from infra import quotas
from infra.build import build_configs
from infra.config import load_config, parse_config
from infra.errors import ConfigError
from infra.openapi import resource_paths
from infra.placement import BUDGET, Cost, place, read_lock, render_lock
from infra.render import compact_json

REPO = Path(__file__).resolve().parents[1]
LARGE = REPO / "bench" / "large-api.toml"


def load_tree(out: Path) -> dict[str, dict]:
    tree = {p.name: json.loads(p.read_text()) for p in sorted(out.glob("*.json"))}
    tree["manifest.json"].pop("config")  # where the config file was: differs between the copies here
    return tree


def templates_of(tree: dict[str, dict]) -> dict[str, dict]:
    m = tree["manifest.json"]
    names = [m["root_template"], *m["templates"].values()]
    return {n: tree[n] for n in names}


def where(tree: dict[str, dict]) -> dict[str, str]:
    """Logical ID -> template file, for every resource of every nested stack (not the root)."""
    found: dict[str, str] = {}
    for name, tpl in templates_of(tree).items():
        if name == "root.json":
            continue
        for lid in tpl["Resources"]:
            assert lid not in found or lid.startswith("Deployment"), f"{lid} in {found.get(lid)} and {name}"
            found[lid] = name
    return found


@pytest.fixture(scope="module")
def large(tmp_path_factory) -> dict[str, dict]:
    out = tmp_path_factory.mktemp("large")
    (target,) = build_configs([LARGE], out, locked=True)
    return load_tree(target)


def test_the_benchmark_config_is_what_its_script_writes():
    from bench.large_config import render
    assert LARGE.read_text() == render()


def test_large_config_is_of_real_size(large):
    cfg = load_config(LARGE)
    assert len(cfg.functions) >= 200 and len(cfg.api.routes) >= 400
    assert len(cfg.tables) >= 50 and len(cfg.buckets) >= 10
    assert {f.runtime.rstrip("0123456789.x") for f in cfg.functions.values()} == {"python", "nodejs"}
    assert sum(f.vpc for f in cfg.functions.values()) >= 20
    assert any("{id}" in r.path and r.path.count("/") >= 3 for r in cfg.api.routes)
    assert len(resource_paths(cfg.api)) <= cfg.api.resource_quota


def test_large_config_within_every_quota_with_headroom(large):
    tpls = templates_of(large)
    assert sum(1 for n in tpls if n.startswith("compute")) >= 4
    total = 0
    for name, tpl in tpls.items():
        body = compact_json(tpl)
        quotas.check(name, tpl, body)  # raises on any quota
        assert len(tpl["Resources"]) <= quotas.MAX_RESOURCES * BUDGET + 10, name
        assert len(tpl.get("Parameters", {})) <= quotas.MAX_PARAMETERS * BUDGET, name
        assert len(tpl.get("Outputs", {})) <= quotas.MAX_OUTPUTS * BUDGET, name
        assert len(body) <= quotas.MAX_BODY_BYTES * BUDGET, name
        total += len(tpl["Resources"])
    assert 1500 < total <= quotas.MAX_NESTED_OPERATION
    # The root exports system-level values, not every child output.
    assert len(tpls["root.json"]["Outputs"]) < 40


def test_each_function_bundle_lives_in_one_stack(large):
    at = where(large)
    for name in load_config(LARGE).functions:
        lid = re.sub(r"(^|-)(\w)", lambda m: m.group(2).upper(), name) + "Function"
        parts = [lid, f"{lid}Role", f"{lid}LogGroup", f"{lid}InvokeConfig"]
        homes = {at[p] for p in parts}
        assert len(homes) == 1 and next(iter(homes)).startswith("compute"), (name, homes)
        for extra in (f"{lid}ApiPermission", lid.removesuffix("Function") + "ErrorsAlarm"):
            if extra in at:
                assert at[extra] in homes, extra


def test_one_invoke_permission_per_function_and_parallel_compute_stacks(large):
    perms = [lid for lid in where(large) if lid.endswith("ApiPermission")]
    assert len(perms) == 200  # every function serving routes, once; not one per route (400)
    root = large["root.json"]["Resources"]
    computes = [lid for lid in root if lid.startswith("Compute")]
    for lid in computes:
        # No compute stack waits for another: CloudFormation creates them in parallel.
        refs = json.dumps(root[lid])
        assert not any(f'"{other}"' in refs for other in computes if other != lid)
    assert sorted(root["ApiStage"]["DependsOn"]) == sorted(computes)


# -- stability -----------------------------------------------------------------------------------

def _generate(tmp: Path, name: str, text: str, lock: bytes | None) -> dict[str, dict]:
    folder = tmp / name
    folder.mkdir()
    cfg = folder / "large-api.toml"
    cfg.write_text(text)
    if lock is not None:
        (folder / "large-api.lock.json").write_bytes(lock)
    (target,) = build_configs([cfg], folder / "out")
    return load_tree(target)


ROUTE = '\n[[api.routes]]\nmethod = "PATCH"\npath = "/svc07/items/{id}"\nfunction = "svc07-write"\nmodel = "Item"\n'
FUNCTION = ('\n[functions.svc07-extra]\nruntime = "python3.13"\nsource = "handlers/products"\nhandler = "app.handler"\n'
            '[functions.svc07-extra.access]\ntables = { svc07 = "read" }\n')
TABLE = '\n[tables.zz-audit]\npartition_key = "id:S"\n'


def _cut(text: str, start: str, count: int = 1) -> str:
    """Remove the TOML block starting at `start` (up to the next blank line), `count` times."""
    for _ in range(count):
        i = text.index(start)
        j = text.index("\n\n", i)
        text = text[:i] + text[j + 2:]
    return text


def _insert_before_api(text: str, block: str) -> str:
    return text.replace("[api]\n", block.lstrip("\n") + "\n[api]\n", 1)


CHANGES = {
    "add a route": (lambda t: t + ROUTE, {"api.json", "api-stage.json", "openapi.json"}),
    "remove a route": (lambda t: _cut(t, '[[api.routes]]\nmethod = "GET"\npath = "/svc07/status"'),
                       {"api.json", "api-stage.json", "openapi.json"}),
    "add a function": (lambda t: _insert_before_api(t, FUNCTION), {"manifest.json"}),
    "add a function with a route": (
        lambda t: _insert_before_api(t, FUNCTION) + ROUTE.replace("svc07-write", "svc07-extra"),
        {"manifest.json", "api.json", "api-stage.json", "openapi.json"}),
    "remove a function": (lambda t: _cut(_cut(_cut(t, "[functions.svc07-admin]"),
                                              '[[api.routes]]\nmethod = "DELETE"\npath = "/svc07/items/{id}"'),
                                         '[[api.routes]]\nmethod = "POST"\npath = "/svc07/items/{id}/history"'),
                          {"manifest.json", "api.json", "api-stage.json", "openapi.json"}),
    "add a table": (lambda t: _insert_before_api(t, TABLE), {"manifest.json"}),
    "remove a table": (lambda t: t.replace('tables = { svc49 = "read" }', "")
                       .replace('tables = { svc49 = "read-write" }', "")
                       .replace('TABLE_NAME = "${tables.svc49.name}"', 'TABLE_NAME = "none"')
                       .replace("[tables.svc49]\npartition_key = \"id:S\"\n", ""),
                       {"manifest.json"}),
}


@pytest.fixture(scope="module")
def base(tmp_path_factory, large):
    tmp = tmp_path_factory.mktemp("stability")
    return tmp, LARGE.read_text(), (LARGE.with_name("large-api.lock.json")).read_bytes()


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_one_change_moves_nothing_and_touches_only_what_it_must(base, large, change):
    tmp, text, lock = base
    edit, expected = CHANGES[change]
    after = _generate(tmp, change.replace(" ", "-"), edit(text), lock)
    before_at, after_at = where(large), where(after)
    moved = {lid: (before_at[lid], after_at[lid]) for lid in before_at.keys() & after_at.keys()
             if before_at[lid] != after_at[lid]}
    assert not moved, f"{change} moved resources between templates: {moved}"
    changed = {name for name in large.keys() | after.keys() if large.get(name) != after.get(name)}
    # Besides the files every such change touches, only the stack that holds the changed bundle.
    stacks = {name for name in changed - expected if re.fullmatch(r"(compute|data)(-\d+)?\.json", name)}
    # At most one stack per family: the one holding the bundle (and, for a table, its users).
    assert len({s.partition("-")[0].removesuffix(".json") for s in stacks}) == len(stacks), (change, sorted(changed))
    # The root changes only when it must pass that stack a new parameter (a table it did not use yet).
    wiring = {"root.json"} if any(set(large.get(s, {}).get("Parameters", {})) != set(after.get(s, {}).get("Parameters", {}))
                                  for s in stacks) else set()
    assert changed - stacks - wiring == expected, (change, sorted(changed))


# -- placement -----------------------------------------------------------------------------------

def cost(n: int = 8, params: tuple[str, ...] = ("KeyArn",), value: int = 60) -> Cost:
    return Cost(n, 2, frozenset(params), value)


def test_placement_fills_stacks_to_the_budget_then_opens_the_next():
    costs = {f"functions.f{i:03d}": cost() for i in range(100)}
    placed = place("x.toml", costs, {}, {})
    per = {}
    for stack in placed.values():
        per[stack] = per.get(stack, 0) + 1
    assert list(per) == ["compute", "compute-2", "compute-3"] or sorted(per) == ["compute", "compute-2", "compute-3"]
    assert all(n * 8 <= 500 * BUDGET for n in per.values())


def test_placement_honours_the_lock_and_never_moves_a_resource():
    costs = {f"functions.f{i}": cost() for i in range(3)}
    lock = {"functions.f0": "compute-2", "functions.f1": "compute"}
    placed = place("x.toml", costs, {}, lock)
    assert placed["functions.f0"] == "compute-2" and placed["functions.f1"] == "compute"
    assert placed["functions.f2"] == "compute"  # new: first stack with room


def test_explicit_group_and_a_group_that_moves_a_resource():
    costs = {"functions.a": cost(), "tables.t": cost(3)}
    placed = place("x.toml", costs, {"functions.a": "billing", "tables.t": "billing"}, {})
    assert placed == {"functions.a": "compute-billing", "tables.t": "data-billing"}
    # A changed group is a move: the templates put it in the group's stack, the lock keeps the stack it is
    # deployed in until a deploy has moved it (a stack refactor; infra.deploy.moves).
    moved = place("x.toml", costs, {"functions.a": "billing"}, {"functions.a": "compute"})
    assert moved["functions.a"] == "compute-billing" and moved.moves == {"functions.a": ("compute", "compute-billing")}
    assert json.loads(render_lock(moved))["placement"]["functions.a"] == "compute"


def test_a_stack_grown_past_a_quota_is_an_error_naming_the_key_not_a_move():
    costs = {f"functions.f{i}": cost(60) for i in range(9)}
    lock = {k: "compute" for k in costs}  # 540 resources in one stack
    with pytest.raises(ConfigError, match=r"stack compute.json would hold 9 bundles with 540 resources"):
        place("x.toml", costs, {}, lock)


def test_lock_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "c.lock.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="c.lock.json: \\(file\\): is not a valid lock file"):
        read_lock(bad)
    bad.write_text(json.dumps({"version": 1, "placement": {"functions.a": "data"}}))
    with pytest.raises(ConfigError, match="placement: is not a lock this version"):
        read_lock(bad)
    assert read_lock(tmp_path / "missing.lock.json") == {}


def test_templates_locked_refuses_a_stale_lock(tmp_path):
    from click.testing import CliRunner
    from infra.cli import main

    cfg = tmp_path / "catalog-api.toml"
    shutil.copy(REPO / "config" / "catalog-api.toml", cfg)
    args = ["templates", "--config", str(cfg), "--out", str(tmp_path / "out"), "--locked"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "catalog-api.lock.json: placement: the lock file is missing." in result.output
    assert not (tmp_path / "out").exists() and not (tmp_path / "catalog-api.lock.json").exists()
    assert CliRunner().invoke(main, args[:-1]).exit_code == 0  # writes the lock
    assert CliRunner().invoke(main, args).exit_code == 0
    lock = tmp_path / "catalog-api.lock.json"
    written = lock.read_text()
    cfg.write_text(cfg.read_text() + TABLE)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "it is out of date (not recorded: tables." in result.output
    # An entry it records in excess is named too, not called one the config lacks.
    data = json.loads(written)
    data["placement"]["functions.zzz"] = "compute"
    lock.write_text(json.dumps(data))
    cfg.write_text(cfg.read_text().replace(TABLE, ""))
    said = " ".join(CliRunner().invoke(main, args).output.split())
    assert "it is out of date (recorded but no longer in the config: functions.zzz)" in said
    lock.write_text(json.dumps(json.loads(written), indent=4))          # the same entries, other formatting
    said = " ".join(CliRunner().invoke(main, args).output.split())
    assert "it records the same placement, but not as `templates` writes it" in said


def test_shipped_locks_are_committed_and_current():
    for cfg in sorted((REPO / "config").glob("*.toml")):
        lock = cfg.with_name(f"{cfg.stem}.lock.json")
        assert lock.is_file(), f"{lock} is missing: run `python generate.py templates` and commit it"
    assert LARGE.with_name("large-api.lock.json").is_file()


# -- limits that splitting cannot fix ------------------------------------------------------------

def _doc(functions: int, tables: int = 1, access_tables: int = 1, api: bool = False) -> dict:
    doc = {"project": {"name": "big", "stage": "test", "region": "eu-west-1"},
           "tables": {f"t{i}": {"partition_key": "id:S"} for i in range(tables)},
           "functions": {f"f{i}": {"runtime": "python3.13", "source": "handlers/products", "handler": "app.handler",
                                   "access": {"tables": {f"t{j}": "read-write" for j in range(access_tables)}}}
                         for i in range(functions)},
           "monitoring": {"alarms": {"function_errors": 1, "api_5xx": 0}}, "parameters": {"function_arns": True}}
    if api:
        doc["api"] = {"routes": [{"method": "GET", "path": f"/f{i}", "function": f"f{i}"} for i in range(functions)]}
    return doc


def test_a_role_policy_over_iams_limit_names_the_function():
    from infra.build import generate

    cfg = parse_config(_doc(1, tables=60, access_tables=60), "big.toml", "big")
    with pytest.raises(ConfigError, match=r"big.toml: functions.f0.access: the function's role policy would be "
                                          r"about [\d,]+ characters; IAM allows 10,240"):
        generate(cfg)


def test_more_resources_than_one_nested_stack_operation_allows():
    from infra.build import generate

    cfg = parse_config(_doc(430), "big.toml", "big")  # 6 resources each
    with pytest.raises(ConfigError, match=r"big.toml: \(system\): the root and its nested stacks hold \d+ "
                                          r"resources; one CloudFormation operation on nested stacks may touch at most 2500"):
        generate(cfg)


def test_dashboard_widget_limit():
    from templates import dashboard

    cfg = parse_config({**_doc(1, api=True), "monitoring": {"dashboard": True}}, "big.toml", "big")
    with pytest.raises(ConfigError, match="monitoring.dashboard: the dashboard would chart 500 compute stacks in 504 widgets"):
        dashboard.build(cfg, [f"compute-{i}" for i in range(500)])
