"""Issue 16, safe releases: production functions reach traffic through CodeDeploy on an alias,
gradually, and roll back on the alarms the system generates; development stays all at once.

Generated templates are checked as CloudFormation reads them: every caller targets the alias,
each deployment group's alarms are alarms some template creates (across nested stacks), and a
change of code or of configuration alone publishes a new version.
"""
from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from infra.build import generate
from infra.cli import main
from infra.config import parse_config
from infra.config.advice import warnings
from infra.config.release import ALIAS, gradual_functions, releases_gradually, strategy
from infra.config.traffic import PRESETS
from infra.errors import ConfigError
from support.match import resources
from support.shipped import REPO

PRODUCTION = ("catalog-api", "secure-api-prod")
DEVELOPMENT = ("secure-api",)


def templates(cfg: Any) -> dict[str, dict]:
    out = generate(cfg)
    return {f.removesuffix(".json"): json.loads(body) for f, body in out.files.items()
            if f.endswith(".json") and f != "openapi.json"}


def of_type(tpls: dict[str, dict], rtype: str) -> dict[tuple[str, str], dict]:
    """(stack, logical id) -> resource, for every resource of `rtype` in every template."""
    return {(stack, lid): res for stack, tpl in tpls.items() for lid, res in resources(tpl, rtype).items()}


def alarm_names(tpls: dict[str, dict]) -> set[str]:
    return {res["Properties"]["AlarmName"] for res in of_type(tpls, "AWS::CloudWatch::Alarm").values()}


def literal(tpl: dict, value: Any) -> Any:
    """A literal, or the literal property a same-template Ref stands for (an alarm's name)."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        res = tpl["Resources"][value["Ref"]]
        assert res["Type"] == "AWS::CloudWatch::Alarm", value
        return res["Properties"]["AlarmName"]
    return value


def integration_uris(tpls: dict[str, dict]) -> list[str]:
    body = next(iter(of_type(tpls, "AWS::ApiGateway::RestApi").values()))["Properties"]["Body"]
    uris = [op["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"] for ops in body["paths"].values()
            for op in ops.values() if op.get("x-amazon-apigateway-integration", {}).get("type") == "aws_proxy"]
    for scheme in body.get("components", {}).get("securitySchemes", {}).values():
        if "authorizerUri" in scheme.get("x-amazon-apigateway-authorizer", {}):
            uris.append(scheme["x-amazon-apigateway-authorizer"]["authorizerUri"]["Fn::Sub"])
    return uris


# -- the shipped configs ------------------------------------------------------------------------------
@pytest.mark.parametrize("config", PRODUCTION)
def test_production_configs_release_their_api_functions_gradually(generated, config):
    tpls = generated[config]
    assert tpls["manifest"]["production"] is True
    groups = of_type(tpls, "AWS::CodeDeploy::DeploymentGroup")
    assert groups, config
    for (_stack, _lid), group in groups.items():
        props = group["Properties"]
        assert props["DeploymentConfigName"] == "CodeDeployDefault.LambdaCanary10Percent15Minutes"
        assert props["DeploymentStyle"] == {"DeploymentType": "BLUE_GREEN", "DeploymentOption": "WITH_TRAFFIC_CONTROL"}
        assert props["AutoRollbackConfiguration"] == {"Enabled": True,
                                                      "Events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]}
        assert props["AlarmConfiguration"]["Enabled"] is True
        assert props["ApplicationName"] == {"Ref": "ReleaseApplicationName"}
    (app,) = of_type(tpls, "AWS::CodeDeploy::Application").items()
    assert app[0] == ("security", "ReleaseApplication")
    assert app[1]["Properties"] == {"ApplicationName": f"{tpls['manifest']['stack_name']}-releases",
                                    "ComputePlatform": "Lambda", "Tags": app[1]["Properties"]["Tags"]}


def test_rotation_functions_and_development_configs_stay_all_at_once(generated, out_dir):
    prod = generated["secure-api-prod"]
    assert {lid for _, lid in of_type(prod, "AWS::Lambda::Alias")} == {"ApiFunctionAlias"}
    for config in DEVELOPMENT:
        tpls = generated[config]
        for rtype in ("AWS::Lambda::Alias", "AWS::Lambda::Version", "AWS::CodeDeploy::DeploymentGroup",
                      "AWS::CodeDeploy::Application"):
            assert not of_type(tpls, rtype), (config, rtype)
        assert "releases" not in tpls["manifest"]
        assert all(":live/" not in uri for uri in integration_uris(tpls))
        assert {c["Properties"]["Qualifier"] for c in of_type(tpls, "AWS::Lambda::EventInvokeConfig").values()} == {
            "$LATEST"}


@pytest.mark.parametrize("config", PRODUCTION)
def test_every_integration_permission_and_async_setting_targets_the_alias(generated, config):
    tpls = generated[config]
    releases = tpls["manifest"]["releases"]
    gradual = {entry["function_name"] for entry in releases.values()}
    for uri in integration_uris(tpls):
        name = re.search(r":function:([^/]+)/invocations$", uri).group(1)
        assert name.removesuffix(f":{ALIAS}") in gradual and name.endswith(f":{ALIAS}"), uri
    aliases = {lid for _, lid in of_type(tpls, "AWS::Lambda::Alias")}
    for entry in releases.values():
        assert entry["alias_logical_id"] in aliases
    for (stack, lid), perm in of_type(tpls, "AWS::Lambda::Permission").items():
        if perm["Properties"]["Principal"] == "apigateway.amazonaws.com":
            assert perm["Properties"]["FunctionName"]["Ref"] in aliases, (stack, lid)
    for (_stack, lid), conf in of_type(tpls, "AWS::Lambda::EventInvokeConfig").items():
        alias = lid.removesuffix("InvokeConfig") + "Alias"
        if alias in aliases:
            assert conf["Properties"]["Qualifier"] == ALIAS and conf["DependsOn"] == [alias], lid
    for (_stack, lid), param in of_type(tpls, "AWS::SSM::Parameter").items():
        if lid.endswith("FunctionArnParameter") and lid.replace("ArnParameter", "Alias") in aliases:
            assert param["Properties"]["Value"] == {"Ref": lid.replace("ArnParameter", "Alias")}


@pytest.mark.parametrize("config", PRODUCTION)
def test_each_deployment_groups_alarms_are_alarms_that_exist(generated, config):
    tpls = generated[config]
    existing = alarm_names(tpls)
    for (stack, lid), group in of_type(tpls, "AWS::CodeDeploy::DeploymentGroup").items():
        names = [literal(tpls[stack], a["Name"]) for a in group["Properties"]["AlarmConfiguration"]["Alarms"]]
        assert names and set(names) <= existing, (lid, names)
        function = group["Properties"]["DeploymentGroupName"]
        assert f"{function}-errors" in names                      # its own errors alarm, in its bundle (Ref)
        api_5xx = f"{tpls['manifest']['stack_name']}-api-5xx-errors"
        assert api_5xx in names                                    # the API stage's, in the api-stage stack
        # The role may read exactly these alarms.
        role = tpls[stack]["Resources"][group["Properties"]["ServiceRoleArn"]["Fn::GetAtt"][0]]
        statements = role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        (alarms_read,) = [s for s in statements if s["Action"] == ["cloudwatch:DescribeAlarms"]]
        assert sorted(r["Fn::Sub"].rsplit(":", 1)[1] for r in alarms_read["Resource"]) == sorted(names)


@pytest.mark.parametrize("config", PRODUCTION)
def test_the_alias_update_policy_names_the_application_and_the_group(generated, config):
    tpls = generated[config]
    root = tpls["root"]["Resources"]
    for (stack, _lid), alias in of_type(tpls, "AWS::Lambda::Alias").items():
        policy = alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]
        assert policy["ApplicationName"] == {"Ref": "ReleaseApplicationName"}
        group = tpls[stack]["Resources"][policy["DeploymentGroupName"]["Ref"]]
        assert group["Type"] == "AWS::CodeDeploy::DeploymentGroup"
        assert alias["Properties"]["Name"] == ALIAS
        version = alias["Properties"]["FunctionVersion"]["Fn::GetAtt"]
        assert version[1] == "Version" and tpls[stack]["Resources"][version[0]]["Type"] == "AWS::Lambda::Version"
        assert tpls[stack]["Resources"][version[0]]["DeletionPolicy"] == "Retain"
        # The root fills the compute stack's parameter from the security stack's application.
        child = next(r for r in root.values() if r["Properties"].get("TemplateURL") == f"{stack}.json")
        assert child["Properties"]["Parameters"]["ReleaseApplicationName"] == {
            "Fn::GetAtt": ["Security", "Outputs.ReleaseApplicationName"]}
    assert tpls["security"]["Outputs"]["ReleaseApplicationName"]["Value"] == {"Ref": "ReleaseApplication"}


@pytest.mark.parametrize("config", PRODUCTION)
def test_the_release_role_has_exact_statements_and_no_managed_policy(generated, config):
    tpls = generated[config]
    for (_stack, lid), role in of_type(tpls, "AWS::IAM::Role").items():
        if not lid.endswith("ReleaseRole"):
            continue
        props = role["Properties"]
        assert "ManagedPolicyArns" not in props
        trust = props["AssumeRolePolicyDocument"]["Statement"][0]
        assert trust["Principal"] == {"Service": ["codedeploy.amazonaws.com"]}
        statements = props["Policies"][0]["PolicyDocument"]["Statement"]
        actions = sorted(a for s in statements for a in s["Action"])
        assert actions == ["cloudwatch:DescribeAlarms", "lambda:GetAlias", "lambda:UpdateAlias"]
        function = lid.removesuffix("FunctionReleaseRole")
        name = tpls["manifest"]["releases"][re.sub(r"(?<!^)(?=[A-Z])", "-", function).lower()]["function_name"]
        for s in statements:
            assert s["Resource"] != "*" and all("*" not in r["Fn::Sub"] for r in s["Resource"])
        aliases = next(s for s in statements if "lambda:UpdateAlias" in s["Action"])["Resource"]
        assert [r["Fn::Sub"].split(":function:")[1] for r in aliases] == [name, f"{name}:{ALIAS}"]


# -- versions follow content ------------------------------------------------------------------------
BASE = """
[project]
name = "shop"
stage = "prod"
region = "eu-west-1"
production = true

[functions.orders]
runtime = "python3.14"
source = "fn"
handler = "app.handler"
memory = 256

[api]
[[api.routes]]
method = "GET"
path = "/orders"
function = "orders"

[monitoring]
[monitoring.alarms]
function_errors = 1
api_5xx = 1
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "fn").mkdir()
    (tmp_path / "fn" / "app.py").write_text("def handler(event, context):\n    return {'statusCode': 200}\n")
    return tmp_path


def load(text: str, root: Path = REPO, name: str = "shop") -> Any:
    return parse_config(tomllib.loads(text), f"{name}.toml", name, root)


def compute(text: str, root: Path) -> dict:
    return templates(load(text, root))["compute"]


def version_of(compute_tpl: dict) -> str:
    alias = compute_tpl["Resources"]["OrdersFunctionAlias"]
    return alias["Properties"]["FunctionVersion"]["Fn::GetAtt"][0]


def test_a_code_change_publishes_a_new_version_and_the_alias_moves_to_it(project):
    before = compute(BASE, project)
    (project / "fn" / "app.py").write_text("def handler(event, context):\n    return {'statusCode': 204}\n")
    after = compute(BASE, project)
    old, new = version_of(before), version_of(after)
    assert old != new and old.startswith("OrdersFunctionVersion") and new.startswith("OrdersFunctionVersion")
    assert old not in after["Resources"] and after["Resources"][new]["Properties"]["FunctionName"] == {
        "Ref": "OrdersFunction"}
    policy = after["Resources"]["OrdersFunctionAlias"]["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]
    assert policy == {"ApplicationName": {"Ref": "ReleaseApplicationName"},
                      "DeploymentGroupName": {"Ref": "OrdersFunctionDeploymentGroup"}}
    group = after["Resources"]["OrdersFunctionDeploymentGroup"]["Properties"]
    assert group["DeploymentGroupName"] == "shop-prod-orders"
    # Nothing else about the release changes with the code.
    same = {lid for lid in before["Resources"] if lid != old} & {lid for lid in after["Resources"] if lid != new}
    assert all(before["Resources"][lid] == after["Resources"][lid] for lid in same
               if lid not in ("OrdersFunction", "OrdersFunctionAlias"))


def test_a_memory_change_alone_publishes_a_new_version(project):
    before = compute(BASE, project)
    after = compute(BASE.replace("memory = 256", "memory = 512"), project)
    assert version_of(before) != version_of(after)
    assert after["Resources"]["OrdersFunction"]["Properties"]["MemorySize"] == 512


def test_what_no_version_holds_publishes_nothing_and_generation_is_deterministic(project):
    base = compute(BASE, project)
    assert version_of(base) == version_of(compute(BASE, project))
    tagged = BASE.replace('production = true', 'production = true\ntags = { team = "shop" }')
    assert version_of(base) == version_of(compute(tagged, project))
    reserved = BASE.replace("memory = 256", "memory = 256\nreserved_concurrency = 5")
    assert version_of(base) == version_of(compute(reserved, project))


def test_a_vpc_functions_version_follows_the_network_it_joins(project):
    vpc = BASE.replace("memory = 256", "memory = 256\nvpc = true") + '\n[network]\ncidr = "10.0.0.0/16"\n'
    moved = vpc.replace('cidr = "10.0.0.0/16"', 'cidr = "10.1.0.0/16"')
    assert version_of(compute(vpc, project)) != version_of(compute(moved, project))


# -- settings -------------------------------------------------------------------------------------------
def test_every_preset_maps_to_codedeploys_predefined_configuration(project):
    for name, preset in PRESETS.items():
        text = BASE + f'\n[functions.orders.release]\ntraffic = "{name}"\n'
        if preset.kind == "all-at-once":
            assert not releases_gradually(load(text, project), "orders")
            assert "OrdersFunctionAlias" not in compute(text, project)["Resources"]
            continue
        group = compute(text, project)["Resources"]["OrdersFunctionDeploymentGroup"]["Properties"]
        assert group["DeploymentConfigName"] == preset.codedeploy
        assert re.fullmatch(r"CodeDeployDefault\.Lambda(Canary10Percent(5|10|15|30)Minutes|"
                            r"Linear10PercentEvery(1Minute|(2|3|10)Minutes))", preset.codedeploy)


def test_the_least_time_of_each_release():
    from infra.config.release import resolved

    assert resolved("canary-10-percent-30-minutes").minutes() == 30
    assert resolved("linear-10-percent-every-3-minutes").minutes() == 27   # 9 waits between 10 steps
    assert resolved("linear", 25, 4).minutes() == 12                      # 25, 50, 75, 100
    assert resolved("canary", 20, 7).describe() == "canary: 20% at once, the rest after 7 minutes"
    assert resolved("all-at-once").minutes() == 0


def test_custom_traffic_is_a_generated_deployment_configuration(project):
    text = BASE + '\n[functions.orders.release]\ntraffic = "linear"\npercent = 25\ninterval_minutes = 4\n'
    tpl = compute(text, project)
    config = tpl["Resources"]["OrdersFunctionReleaseConfig"]
    assert config["Properties"] == {"ComputePlatform": "Lambda", "TrafficRoutingConfig": {
        "Type": "TimeBasedLinear", "TimeBasedLinear": {"LinearPercentage": 25, "LinearInterval": 4}}}
    assert "DeploymentConfigName" not in config["Properties"]   # unnamed: replacing it never collides
    assert tpl["Resources"]["OrdersFunctionDeploymentGroup"]["Properties"]["DeploymentConfigName"] == {
        "Ref": "OrdersFunctionReleaseConfig"}
    canary = compute(BASE + '\n[functions.orders.release]\ntraffic = "canary"\npercent = 5\ninterval_minutes = 20\n',
                     project)["Resources"]["OrdersFunctionReleaseConfig"]["Properties"]["TrafficRoutingConfig"]
    assert canary == {"Type": "TimeBasedCanary", "TimeBasedCanary": {"CanaryPercentage": 5, "CanaryInterval": 20}}


HOOKED = BASE + """
[functions.smoke]
runtime = "python3.14"
source = "fn"
handler = "app.handler"

[functions.orders.release]
traffic = "canary-10-percent-30-minutes"
before_traffic = "smoke"
after_traffic = "smoke"
provisioned_concurrency = 2
"""


def test_hooks_and_provisioned_concurrency(project):
    cfg = load(HOOKED, project)
    assert releases_gradually(cfg, "orders") and not releases_gradually(cfg, "smoke")
    tpl = compute(HOOKED, project)
    alias = tpl["Resources"]["OrdersFunctionAlias"]
    assert alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]["BeforeAllowTrafficHook"] == "shop-prod-smoke"
    assert alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]["AfterAllowTrafficHook"] == "shop-prod-smoke"
    assert alias["Properties"]["ProvisionedConcurrencyConfig"] == {"ProvisionedConcurrentExecutions": 2}
    release_role = tpl["Resources"]["OrdersFunctionReleaseRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    by_action = {a: s["Resource"] for s in release_role["Statement"] for a in s["Action"]}
    assert [r["Fn::Sub"] for r in by_action["lambda:InvokeFunction"]] == [
        "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:shop-prod-smoke"]
    assert [r["Fn::Sub"] for r in by_action["lambda:GetProvisionedConcurrencyConfig"]] == [
        "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:shop-prod-orders:*"]
    # The hook reports to CodeDeploy (an action without resource-level permissions) and calls the
    # versions of the function it tests; it is told which one.
    hook = tpl["Resources"]["SmokeFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    report = next(s for s in hook if s["Action"] == ["codedeploy:PutLifecycleEventHookExecutionStatus"])
    assert report["Resource"] == ["*"]
    invoke = next(s for s in hook if s["Action"] == ["lambda:InvokeFunction"])
    targets = [r["Fn::Sub"].split(":function:")[1] for r in invoke["Resource"]]
    assert targets == ["shop-prod-orders", "shop-prod-orders:*"]
    env = tpl["Resources"]["SmokeFunction"]["Properties"]["Environment"]["Variables"]
    assert env["RELEASE_TARGETS"] == "shop-prod-orders"
    assert "SmokeFunctionAlias" not in tpl["Resources"]


def test_all_at_once_with_a_hook_still_goes_through_codedeploy(project):
    text = HOOKED.replace('traffic = "canary-10-percent-30-minutes"', 'traffic = "all-at-once"')
    cfg = load(text, project)
    assert strategy(cfg, "orders").describe() == "all at once, with a before-traffic hook and after-traffic hook"
    group = compute(text, project)["Resources"]["OrdersFunctionDeploymentGroup"]["Properties"]
    assert group["DeploymentConfigName"] == "CodeDeployDefault.LambdaAllAtOnce"


def test_a_development_stage_can_opt_in_and_production_can_opt_out(project):
    dev = BASE.replace("production = true", "production = false")
    assert gradual_functions(load(dev, project)) == []
    opted = dev + '\n[functions.orders.release]\ntraffic = "canary-10-percent-5-minutes"\n'
    assert gradual_functions(load(opted, project)) == ["orders"]
    out = BASE + '\n[functions.orders.release]\ntraffic = "all-at-once"\n'
    assert gradual_functions(load(out, project)) == []
    assert "OrdersFunctionAlias" not in compute(out, project)["Resources"]


# -- bad settings: exit 2, naming the key and the fix ---------------------------------------------------
@pytest.mark.parametrize("release,key,message", [
    ('traffic = "canary-10-percent-5-minute"', "functions.orders.release.traffic",
     "did you mean 'canary-10-percent-5-minutes'?"),
    ('trafic = "all-at-once"', "functions.orders.release.trafic", "did you mean 'traffic'?"),
    ('traffic = "canary"\ninterval_minutes = 5', "functions.orders.release.percent",
     "custom traffic 'canary' needs percent"),
    ('traffic = "linear"\npercent = 10', "functions.orders.release.interval_minutes", "needs interval_minutes"),
    ('traffic = "canary-10-percent-5-minutes"\npercent = 20', "functions.orders.release.percent",
     "applies to custom traffic"),
    ('traffic = "canary"\npercent = 100\ninterval_minutes = 5', "functions.orders.release.percent", "out of range"),
    ('traffic = "canary"\npercent = 0\ninterval_minutes = 5', "functions.orders.release.percent",
     "0 is out of range. Fix: use a value from 1 to 99."),
    ('traffic = "linear"\npercent = 10\ninterval_minutes = 0', "functions.orders.release.interval_minutes",
     "0 is out of range. Fix: use a value from 1 to 1440."),
    ('traffic = "all-at-once"\nbefore_traffic = "nobody"', "functions.orders.release.before_traffic",
     "no function named 'nobody'"),
    ('traffic = "all-at-once"\nafter_traffic = "orders"', "functions.orders.release.after_traffic",
     "cannot be its own release hook"),
    ('traffic = "all-at-once"\nprovisioned_concurrency = 3', "functions.orders.release.provisioned_concurrency",
     "only functions released through CodeDeploy"),
])
def test_bad_release_settings_are_config_errors(project, release, key, message):
    with pytest.raises(ConfigError) as exc:
        load(BASE + f"\n[functions.orders.release]\n{release}\n", project)
    assert exc.value.key == key and message in str(exc.value), str(exc.value)
    assert exc.value.exit_code == 2


def test_functions_that_take_no_traffic_cannot_release_gradually(project):
    rotation = BASE + """
[secret]
rotation_function = "rotate"

[functions.rotate]
runtime = "python3.14"
source = "fn"
handler = "app.handler"
access = { secret = "rotate" }
"""
    assert not releases_gradually(load(rotation, project), "rotate")   # production default skips it
    with pytest.raises(ConfigError, match=r"functions.rotate.release: 'rotate' cannot release gradually: Secrets "
                                          r"Manager invokes the secret's rotation function by its own ARN"):
        load(rotation + '\n[functions.rotate.release]\ntraffic = "canary-10-percent-5-minutes"\n', project)
    with pytest.raises(ConfigError, match=r"functions.smoke.release.traffic: 'smoke' is a release hook of 'orders'"):
        load(HOOKED + '\n[functions.smoke.release]\ntraffic = "linear-10-percent-every-1-minute"\n', project)
    with pytest.raises(ConfigError, match=r"provisioned_concurrency: 5 is more than the function's reserved"):
        load(HOOKED.replace("memory = 256", "memory = 256\nreserved_concurrency = 1").replace(
            "provisioned_concurrency = 2", "provisioned_concurrency = 5"), project)


def test_a_function_that_serves_the_api_is_no_release_hook(project):
    """A hook is invoked by CodeDeploy by name and updated all at once: an API function made a hook
    would have its routes lose their gradual release, silently."""
    second = BASE.replace("[api]", '[functions.billing]\nruntime = "python3.14"\nsource = "fn"\n'
                                   'handler = "app.handler"\n\n[api]')
    second += '\n[[api.routes]]\nmethod = "GET"\npath = "/bills"\nfunction = "billing"\n'
    with pytest.raises(ConfigError) as exc:
        load(second + '\n[functions.orders.release]\ntraffic = "canary-10-percent-15-minutes"\n'
                      'before_traffic = "billing"\n', project)
    assert exc.value.key == "functions.orders.release.before_traffic"
    assert "'billing' serves the API (GET /bills); CodeDeploy invokes a release hook" in str(exc.value)
    assert "its API traffic would skip the gradual releases of production stages" in str(exc.value)
    assert "Fix: declare a function of its own as the hook" in str(exc.value)


def test_the_cli_exits_2_on_a_bad_release(tmp_path):
    cfg = tmp_path / "catalog-api.toml"
    text = (REPO / "config" / "catalog-api.toml").read_text()
    cfg.write_text(text.replace('[functions.users.access]', '[functions.users.release]\ntraffic = "canery"\n'
                                                            '[functions.users.access]'))
    result = CliRunner().invoke(main, ["templates", "--config", str(cfg), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "functions.users.release.traffic: 'canery' is not allowed. Fix: did you mean 'canary'?" in result.output
    assert not (tmp_path / "out").exists()


def test_warnings_for_releases_no_alarm_can_stop(project):
    quiet = BASE.replace("function_errors = 1\napi_5xx = 1", "function_errors = 0\napi_5xx = 0")
    assert any("functions.orders releases through CodeDeploy but no generated alarm watches it" in w
               for w in warnings(load(quiet, project)))
    short = BASE + '\n[functions.orders.release]\ntraffic = "canary-10-percent-5-minutes"\n'
    assert any("traffic has fully moved after 5 minutes" in w and "need 10 minutes" in w
               for w in warnings(load(short, project)))
    assert not [w for w in warnings(load(BASE, project)) if "functions.orders" in w]   # the default fits


# -- placement and quotas ---------------------------------------------------------------------------------
def test_the_release_resources_are_part_of_the_functions_bundle_and_its_cost(project):
    from templates import compute as compute_stack
    from templates.root import _bundles

    cfg = load(BASE, project)
    plain_cfg = load(BASE + '\n[functions.orders.release]\ntraffic = "all-at-once"\n', project)
    from infra.bundle.build import build_code

    codes = build_code(cfg)
    _, costs, _ = _bundles(cfg, codes)
    _, plain_costs, _ = _bundles(plain_cfg, codes)
    gradual, flat = costs["functions.orders"], plain_costs["functions.orders"]
    assert gradual.resources == flat.resources + 4          # version, alias, deployment group, its role
    assert gradual.parameters == flat.parameters | {"ReleaseApplicationName"}
    bundle = compute_stack.bundle(cfg, "orders", codes).template.resources
    assert {"OrdersFunctionAlias", "OrdersFunctionDeploymentGroup", "OrdersFunctionReleaseRole"} <= set(bundle)


def test_the_large_config_released_gradually_still_fits_every_quota(tmp_path):
    from infra import quotas
    from infra.build import build_configs
    from infra.placement import BUDGET
    from infra.render import compact_json

    text = (REPO / "bench" / "large-api.toml").read_text().replace(
        'region = "eu-west-1"', 'region = "eu-west-1"\nproduction = true', 1)
    cfg = tmp_path / "large-prod.toml"
    cfg.write_text(text)
    (target,) = build_configs([cfg], tmp_path / "out")
    tpls = {p.name: json.loads(p.read_text()) for p in target.glob("*.json")
            if p.name not in ("manifest.json", "openapi.json")}
    releases = json.loads((target / "manifest.json").read_text())["releases"]
    assert len(releases) == 200                  # every service function (not the rotation function)
    total = 0
    for name, tpl in tpls.items():
        quotas.check(name, tpl, compact_json(tpl))
        assert len(tpl["Resources"]) <= quotas.MAX_RESOURCES * BUDGET + 10, name
        total += len(tpl["Resources"])
    assert total <= quotas.MAX_NESTED_OPERATION, total
