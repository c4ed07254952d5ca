"""Issue 8: what cfn-lint and the emulator accept but real AWS rejects or does wrong.

Each test asserts the corrected property of the generated templates (or config load); the AWS
documentation behind each is cited beside the generator code and in the README's section
"Verified against AWS documentation".
"""
from __future__ import annotations

import json
import re
import tomllib

import pytest
from click.testing import CliRunner

from infra.build import generate
from infra.cli import main
from infra.config import parse_config
from infra.config.advice import placeholder_domain, warnings
from infra.config.names import generated as generated_names, problems
from infra.errors import ConfigError
from support.match import ABSENT, has_resource_properties, resources
from support.shipped import REPO, SHIPPED

SECRET_HEADERS = {"x-origin-verify", "x-api-key", "authorization", "cookie"}


def config_text(name: str) -> str:
    return (REPO / "config" / f"{name}.toml").read_text()


def load(text: str, name: str = "variant"):
    return parse_config(tomllib.loads(text), f"{name}.toml", name)


def build(text: str) -> dict[str, dict]:
    """Stack file name (without .json) -> template, for a config given as TOML text."""
    out = generate(load(text))
    return {f.removesuffix(".json"): json.loads(body) for f, body in out.files.items() if f.endswith(".json")}


def sub(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def only(template: dict, rtype: str) -> dict:
    found = resources(template, rtype)
    assert len(found) == 1, (rtype, list(found))
    return next(iter(found.values()))


def web_acl_rules(template: dict) -> dict[str, dict]:
    return {r["Name"]: r for r in only(template, "AWS::WAFv2::WebACL")["Properties"]["Rules"]}


# -- WAF logs and sampled requests -----------------------------------------------------------

@pytest.mark.parametrize("config,stack", [("secure-api", "firewall"), ("secure-api", "global"),
                                          ("catalog-api", "firewall"), ("secure-api-prod", "global")])
def test_waf_logs_redact_every_secret_bearing_header(generated, config, stack):
    logging = only(generated[config][stack], "AWS::WAFv2::LoggingConfiguration")["Properties"]
    redacted = {f["SingleHeader"]["Name"] for f in logging["RedactedFields"]}
    assert redacted == SECRET_HEADERS


def test_nothing_behind_cloudfront_samples_requests_carrying_the_origin_secret(secure):
    acl = only(secure["firewall"], "AWS::WAFv2::WebACL")["Properties"]
    rules = web_acl_rules(secure["firewall"])
    assert rules["RequireCloudFront"]["VisibilityConfig"]["SampledRequestsEnabled"] is False
    assert all(r["VisibilityConfig"]["SampledRequestsEnabled"] is False for r in rules.values())
    assert acl["VisibilityConfig"]["SampledRequestsEnabled"] is False


def test_acls_that_never_see_the_origin_secret_keep_sampling(catalog, secure):
    for template in (catalog["firewall"], secure["global"]):
        acl = only(template, "AWS::WAFv2::WebACL")["Properties"]
        assert acl["VisibilityConfig"]["SampledRequestsEnabled"] is True


# -- rate limits -----------------------------------------------------------------------------

def test_no_rate_rule_keys_on_a_header_the_client_writes(generated):
    for config, files in generated.items():
        for name, template in files.items():
            assert "FORWARDED_IP" not in json.dumps(template), (config, name)


def test_behind_cloudfront_the_viewer_limit_is_the_edge_acls(secure):
    assert "RateLimitRule" not in web_acl_rules(secure["firewall"])
    edge = web_acl_rules(secure["global"])["RateLimitRule"]
    assert edge["Statement"]["RateBasedStatement"] == {"AggregateKeyType": "IP", "Limit": 2000}
    assert edge["Action"] == {"Block": {}}


def test_without_cloudfront_the_regional_acl_limits_per_source_ip(catalog):
    rule = web_acl_rules(catalog["firewall"])["RateLimitRule"]
    assert rule["Statement"]["RateBasedStatement"] == {"AggregateKeyType": "IP", "Limit": 2000}


# -- body size -------------------------------------------------------------------------------

def handler_body_limits() -> set[int]:
    """The handlers' default MAX_BODY_BYTES, read from both handler sources."""
    py = (REPO / "handlers" / "shared" / "apigw.py").read_text()
    js = (REPO / "handlers" / "users" / "http.mjs").read_text()
    found = set()
    for text, pattern in ((py, r"DEFAULT_MAX_BODY_BYTES = (\d+) \* (\d+)"),
                          (js, r"DEFAULT_MAX_BODY_BYTES = (\d+) \* (\d+)")):
        a, b = re.search(pattern, text).groups()
        found.add(int(a) * int(b))
    return found


@pytest.mark.parametrize("config,stack,resource_type", [
    ("secure-api", "firewall", "API_GATEWAY"), ("secure-api", "global", "CLOUDFRONT"),
    ("catalog-api", "firewall", "API_GATEWAY")])
def test_waf_and_handlers_agree_on_the_body_limit(generated, config, stack, resource_type):
    template = generated[config][stack]
    rules = web_acl_rules(template)
    common = rules["AWSManagedRulesCommonRuleSet"]["Statement"]["ManagedRuleGroupStatement"]
    # The managed 8 KB rule only counts ...
    assert common["RuleActionOverrides"] == [{"Name": "SizeRestrictions_BODY", "ActionToUse": {"Count": {}}}]
    # ... and bodies above the handlers' limit are blocked, before the managed groups run.
    size = rules["BodySizeLimit"]
    assert size["Action"] == {"Block": {}}
    assert size["Priority"] < rules["AWSManagedRulesCommonRuleSet"]["Priority"]
    statement = size["Statement"]["SizeConstraintStatement"]
    assert handler_body_limits() == {statement["Size"]}
    assert statement["ComparisonOperator"] == "GT"
    assert statement["FieldToMatch"] == {"Body": {"OversizeHandling": "MATCH"}}
    # WAF sees 64 KB of body (16 KB by default), so nothing the handlers accept is "oversize".
    acl = only(template, "AWS::WAFv2::WebACL")["Properties"]
    assert acl["AssociationConfig"] == {"RequestBody": {resource_type: {"DefaultSizeInspectionLimit": "KB_64"}}}
    assert statement["Size"] == 64 * 1024


def test_without_the_common_rule_set_there_is_no_body_rule_to_align():
    text = sub(config_text("catalog-api"), '  "AWSManagedRulesCommonRuleSet",\n', "")
    template = build(text)["firewall"]
    assert "BodySizeLimit" not in web_acl_rules(template)
    assert "AssociationConfig" not in only(template, "AWS::WAFv2::WebACL")["Properties"]


# -- alarm recipients ------------------------------------------------------------------------

def test_alarm_topic_subscribes_the_configured_endpoints():
    text = sub(config_text("catalog-api"), "[monitoring]\ntopic = true\n",
               '[monitoring]\ntopic = true\nemails = ["oncall@corp.test", "dev@corp.test"]\n'
               'https_endpoints = ["https://hooks.corp.test/alarms"]\n')
    subs = resources(build(text)["monitoring"], "AWS::SNS::Subscription")
    got = sorted((s["Properties"]["Protocol"], s["Properties"]["Endpoint"]) for s in subs.values())
    assert got == [("email", "dev@corp.test"), ("email", "oncall@corp.test"),
                   ("https", "https://hooks.corp.test/alarms")]
    assert all(s["Properties"]["TopicArn"] == {"Ref": "AlarmTopic"} for s in subs.values())
    assert warnings(load(text)) == []


def test_alarms_without_a_subscriber_get_a_warning_not_an_error():
    cfg = load(config_text("catalog-api"))
    assert any("no subscriber" in w and "monitoring.emails" in w for w in warnings(cfg))
    silent = load(sub(config_text("catalog-api"), "[monitoring]\ntopic = true\n", "[monitoring]\ntopic = false\n"))
    assert any("notify nobody" in w for w in warnings(silent))


def test_the_warning_goes_to_stderr_and_generation_succeeds(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["templates", "--config", str(REPO / "config" / "catalog-api.toml"),
                                       "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "Warning:" in result.stderr and "no subscriber" in result.stderr
    assert "Warning:" not in result.stdout
    assert (tmp_path / "out" / "catalog-api" / "monitoring.json").is_file()


def test_subscriptions_without_a_topic_are_a_config_error():
    text = sub(config_text("catalog-api"), "[monitoring]\ntopic = true\n",
               '[monitoring]\ntopic = false\nemails = ["oncall@corp.test"]\n')
    with pytest.raises(ConfigError, match="monitoring.emails"):
        load(text)


def test_a_malformed_email_is_a_config_error():
    text = sub(config_text("catalog-api"), "[monitoring]\ntopic = true\n", '[monitoring]\ntopic = true\nemails = ["oncall"]\n')
    with pytest.raises(ConfigError, match=r"monitoring\.emails\[0\]"):
        load(text)


# -- API Gateway execution logs and the account setting ----------------------------------------

def test_execution_log_group_exists_encrypted_and_expiring_before_the_stage(secure):
    stage_stack = secure["api-stage"]
    has_resource_properties(stage_stack, "AWS::Logs::LogGroup", {
        "LogGroupName": {"Fn::Sub": "API-Gateway-Execution-Logs_${RestApiId}/dev"},
        "KmsKeyId": {"Ref": "KeyArn"}, "RetentionInDays": 30})
    stage = only(stage_stack, "AWS::ApiGateway::Stage")
    assert "ExecutionLogGroup" in stage["DependsOn"]
    assert stage["Properties"]["RestApiId"] == {"Ref": "RestApiId"}


def test_execution_log_retention_comes_from_the_config():
    text = sub(config_text("secure-api"), "[api]\n", "[api]\nexecution_log_retention_days = 90\n")
    group = build(text)["api-stage"]["Resources"]["ExecutionLogGroup"]["Properties"]
    assert group["RetentionInDays"] == 90


def test_no_execution_log_group_when_execution_logging_is_off():
    text = sub(config_text("secure-api"), 'logging_level = "INFO"', 'logging_level = "OFF"')
    assert "ExecutionLogGroup" not in build(text)["api-stage"]["Resources"]


def test_no_stage_sets_the_account_and_region_logging_role():
    # "you should only have one AWS::ApiGateway::Account resource per region per account": a stage that set it
    # would leave every other stage of the region pointing at a deleted role when it is destroyed. The
    # deployer's bootstrap stack owns it (tests/deploy/test_bootstrap.py).
    for config in SHIPPED:
        for name, template in build(config.read_text()).items():
            assert resources(template, "AWS::ApiGateway::Account") == {}, (config.name, name)
    stage_stack = build(config_text("secure-api"))["api-stage"]
    assert only(stage_stack, "AWS::ApiGateway::Stage")["DependsOn"] == ["ExecutionLogGroup"]


def test_the_old_cloudwatch_role_key_is_accepted_with_a_warning_and_changes_nothing():
    text = config_text("secure-api")
    old = sub(text, "[api]\n", "[api]\ncloudwatch_role = true\n")
    assert build(old) == build(text)
    advice = " ".join(warnings(load(old)))
    assert "api.cloudwatch_role is deprecated and has no effect" in advice and "remove the key" in advice
    assert not any("cloudwatch_role" in w for w in warnings(load(text)))


# -- AWS Config rule scope ---------------------------------------------------------------------

def test_config_rule_judges_only_this_systems_functions(catalog):
    rule = only(catalog["monitoring"], "AWS::Config::ConfigRule")["Properties"]
    # A tag whose value is the rule's own name (project and stage in it): no other stage's or
    # system's function carries it (issue 18 splits the rule by settings).
    assert rule["Scope"] == {"TagKey": "LambdaSettingsRule", "TagValue": "catalog-prod-lambda-settings-30s-256mb"}
    assert rule["ConfigRuleName"] == rule["Scope"]["TagValue"]
    # The functions carry that tag.
    for function in resources(catalog["compute"], "AWS::Lambda::Function").values():
        assert {"Key": "LambdaSettingsRule", "Value": rule["ConfigRuleName"]} in function["Properties"]["Tags"]


# -- CORS for IAM-signed browser calls -------------------------------------------------------------

def preflight_allowed_headers(api_template: dict) -> list[list[str]]:
    body = only(api_template, "AWS::ApiGateway::RestApi")["Properties"]["Body"]
    out = []
    for ops in body["paths"].values():
        params = ops["options"]["x-amazon-apigateway-integration"]["responses"]["default"]["responseParameters"]
        out.append(params["method.response.header.Access-Control-Allow-Headers"].strip("'").split(","))
    return out


def test_iam_routes_preflight_allows_the_sigv4_headers(catalog):
    for headers in preflight_allowed_headers(catalog["api"]):
        assert {"Authorization", "X-Amz-Date", "X-Amz-Security-Token"} <= set(headers)
        assert len({h.lower() for h in headers}) == len(headers)


def test_routes_without_iam_get_no_sigv4_headers_added():
    text = sub(config_text("secure-api"), 'headers = ["Content-Type", "X-Amz-Date", "Authorization", "X-Api-Key"]',
               'headers = ["Content-Type"]')
    for headers in preflight_allowed_headers(build(text)["api"]):
        assert headers == ["Content-Type", "X-Api-Key"]  # the API key routes need X-Api-Key


# -- implicit names --------------------------------------------------------------------------------

LONG_PROJECT = """
[project]
name = "abcdefghijklmnop"
stage = "abcdefghijkl"
region = "ap-southeast-2"

[functions.f]
runtime = "python3.13"
source = "handlers/products"
handler = "app.handler"
"""


def test_the_access_log_bucket_name_is_checked_naming_the_key():
    text = LONG_PROJECT + '\n[pipeline]\nrepository = "org/repo"\n'
    with pytest.raises(ConfigError) as err:
        load(text)
    message = str(err.value)
    assert "project.name" in message and "69 characters" in message and "S3 allows 63" in message
    assert "access-logs" in message


def test_a_config_bucket_name_is_checked_naming_its_key():
    text = LONG_PROJECT.replace('stage = "abcdefghijkl"', 'stage = "dev"') + "\n[buckets.static-content-archive]\n"
    with pytest.raises(ConfigError, match=r"buckets\.static-content-archive: .* 71 characters \(S3 allows 63"):
        load(text)


def test_log_group_names_reject_characters_aws_does_not_allow():
    text = LONG_PROJECT.replace('stage = "abcdefghijkl"', 'stage = "dev"') + (
        '\n[api]\nname = "My API"\n[[api.routes]]\nmethod = "GET"\npath = "/x"\nfunction = "f"\n')
    with pytest.raises(ConfigError, match=r"api\.name.*'/aws/apigateway/My API-dev/access'"):
        load(text)


@pytest.mark.parametrize("prefix,why", [("/aws/catalog", "not valid"), ("/" + "/".join("abcdefghijklmnop"), "not valid"),
                                        ("/" + "p" * 1010, "Parameter Store allows 1011")])
def test_parameter_names_are_checked(prefix, why):
    text = sub(config_text("catalog-api"), "[parameters]\n", f'[parameters]\nprefix = "{prefix}"\n')
    with pytest.raises(ConfigError, match=rf"parameters\.prefix.*{why}"):
        load(text)


@pytest.mark.parametrize("name, valid", [
    ("/catalog/prod/api/url", True), ("catalog/x", False), ("/Catalog/A_b.c-d", True),
    ("/aws/x", False), ("/AWS/x", False), ("/Ssm/x", False), ("aws/x", False), ("/awsome/x", False),
    ("/x/aws", True), ("/a b", False), ("/" + "/".join("abcdefghijklmno"), True),
    ("/" + "/".join("abcdefghijklmnop"), False),
    ("/\u212aeys/x", False),  # the Kelvin sign: a K only to a case-insensitive class; Parameter Store takes ASCII
])
def test_the_parameter_name_rule_is_parameter_stores(name, valid):
    """At most 15 levels of letters, digits and _.-, not beginning with aws or ssm in any case
    (the case-insensitive part of the pattern is the prefix alone)."""
    import re

    from infra.config.names import PARAMETER

    assert bool(re.fullmatch(PARAMETER.pattern, name)) is valid


def test_a_certificate_domain_longer_than_acm_allows_is_refused():
    text = sub(config_text("secure-api"), '[edge]\nprice_class = "PriceClass_100"\n',
               '[edge]\nprice_class = "PriceClass_100"\ndomain = "' + "d" * 60 + '.com"\nhosted_zone_id = "Z123"\n')
    with pytest.raises(ConfigError, match=r"edge\.domain.*ACM allows 64"):
        load(text)


def test_every_name_of_the_shipped_configs_is_checked_and_fits():
    for path in SHIPPED:
        cfg = load(path.read_text(), path.stem)
        kinds = {n.limit.what for n in generated_names(cfg)}
        assert {"S3 bucket", "Lambda function", "CloudWatch log group"} <= kinds, path.name
        assert list(problems(cfg)) == []


def test_the_checked_names_are_the_generated_ones(generated):
    """The name table follows the templates: each checked name is in the output."""
    for path in SHIPPED:
        text = json.dumps(generated[path.stem])
        cfg = load(path.read_text(), path.stem)
        for n in generated_names(cfg):
            shown = (n.name.replace("123456789012", "${AWS::AccountId}").replace(cfg.project.region, "${AWS::Region}")
                     .replace("a1b2c3d4e5", "${RestApiId}"))
            assert shown in text, (path.name, n.name)


# -- shipped configs deploy in a fresh account -----------------------------------------------------

def test_shipped_configs_carry_no_placeholder_domain():
    for path in SHIPPED:
        cfg = load(path.read_text(), path.stem)
        if cfg.edge and cfg.edge.domain:
            assert not placeholder_domain(cfg.edge.domain), path.name
        assert not any("needs real values" in w for w in warnings(cfg)), path.name


def test_the_custom_domain_example_is_marked_as_needing_real_values():
    example = REPO / "config" / "examples" / "custom-domain.toml"
    cfg = load(example.read_text(), "custom-domain")
    assert any("edge.domain 'example.com'" in w and "needs real values" in w for w in warnings(cfg))
    files = build(example.read_text())
    has_resource_properties(files["global"], "AWS::CertificateManager::Certificate", {"DomainName": "api.example.com"})


def test_reserved_concurrency_is_unset_unless_the_config_asks(generated):
    for config, files in generated.items():
        for name, template in files.items():
            if name.startswith("compute"):
                for lid, fn in resources(template, "AWS::Lambda::Function").items():
                    assert "ReservedConcurrentExecutions" not in fn["Properties"], (config, lid)
                    skips = {s["id"] for s in fn["Metadata"]["checkov"]["skip"]}
                    assert "CKV_AWS_115" in skips


def test_a_configured_reservation_is_kept():
    text = sub(config_text("catalog-api"), "[functions.users]\n", "[functions.users]\nreserved_concurrency = 25\n")
    compute = build(text)["compute"]
    has_resource_properties(compute, "AWS::Lambda::Function", {"FunctionName": "catalog-prod-users",
                                                               "ReservedConcurrentExecutions": 25})
    users = resources(compute, "AWS::Lambda::Function")["UsersFunction"]
    assert "CKV_AWS_115" not in {s["id"] for s in users["Metadata"]["checkov"]["skip"]}
    has_resource_properties(compute, "AWS::Lambda::Function", {"FunctionName": "catalog-prod-products",
                                                               "ReservedConcurrentExecutions": ABSENT})
