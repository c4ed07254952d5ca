"""Whole-output properties: determinism, wiring, quotas, assets, nested stacks."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from infra import quotas
from infra.assets import build_asset, package_files, source_entries
from infra.build import build_configs
from infra.config import load_config
from infra.errors import QuotaError, UserError

REPO = Path(__file__).resolve().parents[1]
SHIPPED = sorted((REPO / "config").glob("*.toml"))


def tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_generating_twice_is_byte_identical_across_processes(tmp_path):
    outs = []
    for seed in ("1", "2"):
        out = tmp_path / f"out{seed}"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([sys.executable, "generate.py", "templates", "--out", str(out)], cwd=REPO, env=env,
                       check=True, capture_output=True)
        outs.append(tree(out))
    assert outs[0] == outs[1]
    assert len(outs[0]) >= 3 * 8


def test_regenerating_replaces_stale_files(tmp_path):
    out = tmp_path / "out"
    (out / "catalog-api").mkdir(parents=True)
    (out / "catalog-api" / "stale.json").write_text("{}")
    build_configs([REPO / "config" / "catalog-api.toml"], out)
    assert not (out / "catalog-api" / "stale.json").exists()
    assert (out / "catalog-api" / "root.json").exists()
    assert [p.name for p in out.iterdir()] == ["catalog-api"]  # no staging leftovers


def test_only_the_stacks_a_config_needs(generated):
    assert sorted(generated["catalog-api"]) == ["api", "api-stage", "compute", "dashboard", "data", "firewall",
                                                "manifest", "monitoring", "openapi", "root", "security"]
    assert sorted(generated["secure-api-prod"]) == ["api", "api-stage", "compute", "data", "edge", "firewall",
                                                    "global", "manifest", "monitoring", "network", "openapi",
                                                    "pipeline", "root", "security"]


def test_root_wires_children_by_outputs_never_exports(generated):
    for name, files in generated.items():
        root = files["root"]
        stacks = {k: v for k, v in root["Resources"].items() if v["Type"] == "AWS::CloudFormation::Stack"}
        file_of = files["manifest"]["templates"]
        assert set(file_of) == set(stacks)
        for lid, res in stacks.items():
            child = files[file_of[lid].removesuffix(".json")]
            assert res["Properties"]["TemplateURL"] == file_of[lid]
            assert "StackName" not in res["Properties"]  # troposphere 4.11: nested stacks take no StackName
            passed = res["Properties"].get("Parameters", {})
            assert set(passed) == set(child.get("Parameters", {})), f"{name}/{lid}"
            for param, value in passed.items():
                if isinstance(value, dict) and "Fn::GetAtt" in value:
                    assert value["Fn::GetAtt"][1] == f"Outputs.{param}"
                    assert param in files[file_of[value["Fn::GetAtt"][0]].removesuffix(".json")]["Outputs"]
        text = json.dumps(files)
        assert "Fn::ImportValue" not in text and '"Export"' not in text


def test_arns_are_built_from_pseudo_parameters(generated):
    text = json.dumps(generated)
    assert "arn:aws:" not in text
    assert "us-west-2" not in text.replace('"region": "us-west-2"', "")
    assert "123456789012" not in text


def test_manifest_describes_the_deployment(generated):
    m = generated["secure-api-prod"]["manifest"]
    assert m["stack_name"] == "tap-prod" and m["region"] == "us-west-2" and m["production"] is True
    assert m["termination_protection"] is True
    assert set(m["root_parameters"]) == {"AssetBucket", "EdgeWebAclArn"}
    assert m["global"] == {"template": "global.json", "stack_name": "tap-prod-global", "region": "us-east-1",
                           "outputs": {"EdgeWebAclArn": "EdgeWebAclArn"}}
    assert m["templates"]["Network"] == "network.json"
    assert {a["source"] for a in m["assets"]} == {"handlers/api", "handlers/rotation", "handlers/origin_verify"}
    assert m["placement"] == {"buckets.static-content": "data", "functions.api": "compute",
                              "functions.origin-verify": "compute", "functions.rotation": "compute",
                              "tables.data": "data"}
    assert generated["secure-api"]["manifest"]["global"]["outputs"] == {"EdgeWebAclArn": "EdgeWebAclArn"}
    assert generated["catalog-api"]["manifest"]["global"] is None


def test_manifest_of_a_custom_domain_names_the_certificate(custom_domain):
    m = custom_domain["manifest"]
    assert set(m["root_parameters"]) == {"AssetBucket", "CertificateArn", "EdgeWebAclArn"}
    assert m["global"]["outputs"] == {"CertificateArn": "CertificateArn", "EdgeWebAclArn": "EdgeWebAclArn"}


def test_asset_keys_are_content_hashes_and_zips_reproducible(out_dir, generated):
    from infra.bundle.build import assets, build_code

    rebuilt = {a.key: a for a in assets(build_code(load_config(REPO / "config" / "catalog-api.toml")))}
    for asset in generated["catalog-api"]["manifest"]["assets"]:
        data = (out_dir / "catalog-api" / asset["file"]).read_bytes()
        again = rebuilt[asset["key"]]
        assert again.data == data and asset["key"] == again.key == f"assets/{again.sha256}.zip"
        names = zipfile.ZipFile(out_dir / "catalog-api" / asset["file"]).namelist()
        # Installed dependencies (if any) first, then the function's own files; each part in name order.
        own = {name for name, _ in source_entries(REPO / again.source)}
        assert names == sorted(set(names) - own) + sorted(set(names) & own)
        assert not any(n.startswith(("tests/", "test/", "node_modules/")) or "__pycache__" in n or
                       n.endswith("package-lock.json") for n in names)


def test_asset_excludes_tests_caches_and_dev_files(tmp_path):
    src = tmp_path / "h"
    for rel in ("app.py", "lib/util.py", "tests/test_app.py", "__pycache__/app.cpython-311.pyc",
                "node_modules/x/index.js", "package-lock.json", ".env"):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text("x")
    assert [p.relative_to(src).as_posix() for p in package_files(src)] == ["app.py", "lib/util.py"]
    first = build_asset(tmp_path, "h")
    os.utime(src / "app.py", (0, 0))  # mtimes must not matter
    assert build_asset(tmp_path, "h").data == first.data
    (src / "app.py").write_text("y")
    assert build_asset(tmp_path, "h").key != first.key


@pytest.mark.parametrize("what,limit", [("Resources", 500), ("Parameters", 200), ("Outputs", 200)])
def test_quota_counts_name_the_stack(what, limit):
    template = {what: {f"X{i}": {} for i in range(limit + 1)}}
    with pytest.raises(QuotaError, match=rf"stack demo/api.json: {limit + 1} {what.lower()}"):
        quotas.check("demo/api.json", template, b"{}")
    quotas.check("demo/api.json", {what: {f"X{i}": {} for i in range(limit)}}, b"{}")


def test_quota_body_size():
    with pytest.raises(QuotaError, match="1,000,001 bytes"):
        quotas.check("demo/api.json", {}, b"x" * 1_000_001)


def test_more_paths_than_api_gateway_allows_fail_before_writing(tmp_path):
    text = (REPO / "config" / "catalog-api.toml").read_text()
    # The root, /users, /users/{id}, /products, /products/{id} and 296 more: 301 resources.
    text += "".join(f'\n[[api.routes]]\nmethod = "GET"\npath = "/r{i}"\nfunction = "users"\n' for i in range(296))
    cfg = tmp_path / "big.toml"
    cfg.write_text(text)
    from click.testing import CliRunner
    from infra.cli import main
    result = CliRunner().invoke(main, ["templates", "--config", str(cfg), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "Traceback" not in result.output
    assert "api.routes: the routes need 301 API Gateway resources" in result.output
    assert "quota is 300" in result.output and "api.resource_quota" in result.output
    assert not (tmp_path / "out").exists() and not (tmp_path / "big.lock.json").exists()
    # An API whose quota AWS raised says so, and generates.
    cfg.write_text(text.replace('description = "Production Serverless API"',
                                'description = "Production Serverless API"\nresource_quota = 400'))
    result = CliRunner().invoke(main, ["templates", "--config", str(cfg), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output


def test_user_adds_a_route_and_function_by_config_only(tmp_path):
    text = (REPO / "config" / "catalog-api.toml").read_text()
    text += '''
[functions.orders]
runtime = "python3.13"
source = "handlers/products"
handler = "app.handler"
[functions.orders.access]
tables = { products = "read" }

[[api.routes]]
method = "GET"
path = "/orders/{id}"
function = "orders"
'''
    cfg = tmp_path / "orders.toml"
    cfg.write_text(text)
    load_config(cfg)
    (out,) = build_configs([cfg], tmp_path / "out")
    compute = json.loads((out / "compute.json").read_text())
    api = json.loads((out / "api.json").read_text())
    assert compute["Resources"]["OrdersFunction"]["Properties"]["FunctionName"] == "catalog-prod-orders"
    assert "OrdersFunctionApiPermission" in compute["Resources"]
    operation = api["Resources"]["RestApi"]["Properties"]["Body"]["paths"]["/orders/{id}"]["get"]
    assert operation["security"] == [{"sigv4": []}]
    assert "catalog-prod-orders" in operation["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
    root = json.loads((out / "root.json").read_text())
    assert root["Resources"]["ApiStage"]["DependsOn"] == ["Compute"]
    assert json.loads((tmp_path / "orders.lock.json").read_text())["placement"]["functions.orders"] == "compute"


def test_api_deployment_changes_with_routes_only(generated, tmp_path):
    def deployment_ids(files):
        return [k for k, v in files["api-stage"]["Resources"].items() if v["Type"] == "AWS::ApiGateway::Deployment"]
    base = deployment_ids(generated["catalog-api"])
    text = (REPO / "config" / "catalog-api.toml").read_text()
    cfg = tmp_path / "catalog-api.toml"
    cfg.write_text(text.replace("max_age = 3600", "max_age = 3500"))
    (out,) = build_configs([cfg], tmp_path / "out")
    changed = [k for k, v in json.loads((out / "api-stage.json").read_text())["Resources"].items()
               if v["Type"] == "AWS::ApiGateway::Deployment"]
    assert len(base) == len(changed) == 1 and base != changed
    cfg.write_text(text.replace('description = "Users CRUD"', 'description = "Users"'))
    (out,) = build_configs([cfg], tmp_path / "out2")
    same = [k for k, v in json.loads((out / "api-stage.json").read_text())["Resources"].items()
            if v["Type"] == "AWS::ApiGateway::Deployment"]
    assert same == base


def test_unwritable_output_is_one_sentence(tmp_path):
    from click.testing import CliRunner
    from infra.cli import main
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = CliRunner().invoke(main, ["templates", "--config", str(REPO / "config" / "catalog-api.toml"),
                                       "--out", str(blocker / "out")])
    # The error is the last line: a cold build cache prints what it installs before it.
    assert result.exit_code == 2
    assert result.output.splitlines()[-1].startswith(f"Error: cannot write {blocker}/out: Not a directory. ")
    assert "Traceback" not in result.output


def test_an_output_root_that_is_a_device_is_named_as_not_a_directory(tmp_path):
    from click.testing import CliRunner
    from infra.cli import main
    result = CliRunner().invoke(main, ["templates", "--config", str(REPO / "config" / "catalog-api.toml"),
                                       "--out", "/dev/null"])
    assert result.exit_code == 2
    assert result.output.splitlines()[-1] == ("Error: cannot write /dev/null: it exists and is not a directory. "
                                              "Choose another --out directory than /dev/null.")


def test_a_failure_while_writing_leaves_every_output_as_it_was(tmp_path, monkeypatch):
    out = tmp_path / "out"
    for name in ("catalog-api", "secure-api"):
        (out / name).mkdir(parents=True)
        (out / name / "root.json").write_text("previous\n")
    before = tree(out)
    real, calls = Path.write_bytes, []

    def failing(self, data):
        calls.append(self)
        if len(calls) == 12:  # somewhere in the second config
            raise OSError(28, "No space left on device", str(self))
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", failing)
    with pytest.raises(Exception, match="No space left on device"):
        build_configs([REPO / "config" / "catalog-api.toml", REPO / "config" / "secure-api.toml"], out)
    monkeypatch.undo()
    assert tree(out) == before
    assert sorted(p.name for p in out.iterdir()) == ["catalog-api", "secure-api"]  # no staging leftovers


def test_root_tells_the_console_what_it_is_and_groups_its_parameters(generated):
    import tomllib

    from infra import __version__

    assert __version__ == tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    root = generated["secure-api-prod"]["root"]
    assert root["Description"].startswith("tap-prod: the prod stage of tap, root of ")
    assert f"Generated from secure-api-prod.toml by serverless-infra {__version__}" in root["Description"]
    ui = root["Metadata"]["AWS::CloudFormation::Interface"]
    assert ui["ParameterGroups"] == [
        {"Label": {"default": "Code"}, "Parameters": ["AssetBucket"]},
        {"Label": {"default": "From the us-east-1 stack (deploy it first; its outputs have these names)"},
         "Parameters": ["EdgeWebAclArn"]}]
    assert set(ui["ParameterLabels"]) == set(root["Parameters"])
    # catalog-api has no us-east-1 stack: only the code bucket.
    assert generated["catalog-api"]["root"]["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"] == [
        {"Label": {"default": "Code"}, "Parameters": ["AssetBucket"]}]


def test_one_pass_encoding_equals_troposphere_to_dict():
    from infra.build import generate
    from infra.bundle.build import build_code
    from infra.render import template_dict
    from templates import edge_global, root

    for path in [*SHIPPED, REPO / "config" / "examples" / "custom-domain.toml"]:
        cfg = load_config(path)
        plan = root.layout(cfg, build_code(cfg), {})
        stacks = [root.build(cfg, plan.children), *(k.stack for k in plan.children)]
        if edge_global.needed(cfg):
            stacks.append(edge_global.build(cfg))
        for st in stacks:
            assert template_dict(st.template) == st.template.to_dict(), (path.name, st.name)
        assert generate(cfg).files["root.json"]  # and generation uses it


def test_the_cycle_collector_is_paused_while_generating_and_resumed_after(tmp_path, monkeypatch):
    """Generation runs with CPython's cycle collector paused (build.cycle_collector_paused) and
    leaves it as it found it, after a failure too."""
    import gc

    import infra.build as build

    seen = []
    real = build.generate
    monkeypatch.setattr(build, "generate", lambda *a, **k: (seen.append(gc.isenabled()), real(*a, **k))[1])
    assert gc.isenabled()
    build_configs([REPO / "config" / "catalog-api.toml"], tmp_path / "out", write_lock=False)
    assert seen == [False] and gc.isenabled()
    monkeypatch.setattr(build, "generate", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        build_configs([REPO / "config" / "catalog-api.toml"], tmp_path / "out", write_lock=False)
    assert gc.isenabled()
    gc.disable()
    try:  # a caller that had it off finds it off
        with build.cycle_collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_cached_zips_are_hard_linked_into_out_with_a_new_files_permissions(tmp_path, monkeypatch):
    """A function's zip (a megabyte with its dependencies) is the build cache's file, linked: no
    second copy is written. The link carries the permissions any new file gets, and its bytes are
    the ones the generator checked."""
    monkeypatch.setenv("SERVERLESS_INFRA_BUILD_CACHE", str(tmp_path / "cache"))
    configs = [REPO / "config" / "catalog-api.toml", REPO / "config" / "secure-api.toml"]
    build_configs(configs, tmp_path / "first", write_lock=False)
    build_configs(configs, tmp_path / "out", write_lock=False)
    zips = sorted((tmp_path / "out").glob("*/assets/*.zip"))
    cached = {(p.stat().st_ino, p.stat().st_dev) for p in (tmp_path / "cache" / "zips").glob("*.zip")}
    assert zips and all((z.stat().st_ino, z.stat().st_dev) in cached for z in zips)
    from infra.render import umask

    assert {oct(z.stat().st_mode & 0o777) for z in zips} == {oct(0o666 & ~umask())}
    import hashlib

    assert all(f"{hashlib.sha256(z.read_bytes()).hexdigest()}.zip" == z.name for z in zips)


def _change_before_linking(monkeypatch, change):
    """Make `change(cache file)` happen to each cached zip just before it is linked into out/."""
    from infra import render

    real_link, linked = render._link, []

    def link_after_a_change(source, path):
        change(Path(source.path))
        linked.append(real_link(source, path))
        return linked[-1]

    monkeypatch.setattr(render, "_link", link_after_a_change)
    return linked


def _rewrite_same_bytes(path: Path) -> None:   # what another process writing the same entry does
    path.with_name("replacement").write_bytes(path.read_bytes())
    os.replace(path.with_name("replacement"), path)


def test_a_cache_file_replaced_after_it_was_checked_is_written_not_linked(tmp_path, monkeypatch):
    monkeypatch.setenv("SERVERLESS_INFRA_BUILD_CACHE", str(tmp_path / "cache"))
    config = [REPO / "config" / "catalog-api.toml"]
    build_configs(config, tmp_path / "first", write_lock=False)
    linked = _change_before_linking(monkeypatch, _rewrite_same_bytes)
    (out,) = build_configs(config, tmp_path / "out", write_lock=False)
    assert linked and not any(linked)
    assert tree(out) == tree(tmp_path / "first" / "catalog-api")
    assert all(z.stat().st_nlink == 1 for z in (out / "assets").glob("*.zip"))


def test_a_cache_file_given_other_bytes_after_it_was_checked_stops_the_run_with_nothing_written(tmp_path, monkeypatch):
    monkeypatch.setenv("SERVERLESS_INFRA_BUILD_CACHE", str(tmp_path / "cache"))
    config = [REPO / "config" / "catalog-api.toml"]
    expected = tree(build_configs(config, tmp_path / "first", write_lock=False)[0])  # (first/ links the cache's files)
    _change_before_linking(monkeypatch, lambda p: p.write_bytes(p.read_bytes() + b"!"))  # same inode, new size
    with pytest.raises(UserError, match="changed while this run was using it.*nothing was written"):
        build_configs(config, tmp_path / "out", write_lock=False)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    monkeypatch.undo()
    monkeypatch.setenv("SERVERLESS_INFRA_BUILD_CACHE", str(tmp_path / "cache"))
    (out,) = build_configs(config, tmp_path / "out", write_lock=False)  # the bad entry is a miss: rebuilt
    assert tree(out) == expected


def test_an_output_on_another_file_system_gets_the_bytes_written(tmp_path, monkeypatch):
    import os

    monkeypatch.setenv("SERVERLESS_INFRA_BUILD_CACHE", str(tmp_path / "cache"))
    config = [REPO / "config" / "catalog-api.toml"]
    build_configs(config, tmp_path / "first", write_lock=False)
    monkeypatch.setattr(os, "link", lambda *a: (_ for _ in ()).throw(OSError(18, "Invalid cross-device link")))
    (out,) = build_configs(config, tmp_path / "out", write_lock=False)
    assert tree(out) == tree(tmp_path / "first" / "catalog-api")


def test_the_configs_of_a_folder_are_its_toml_files_but_hidden_ones(tmp_path):
    from infra.config import config_files

    for name in ("b.toml", "a.toml", ".#a.toml", "a.toml~", "notes.txt"):
        (tmp_path / name).write_text("")
    assert config_files(tmp_path) == [tmp_path / "a.toml", tmp_path / "b.toml"]
