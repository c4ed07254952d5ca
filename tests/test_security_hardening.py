"""Issue 10: security hardening, asserted on the generated templates of every shipped config."""
from __future__ import annotations

import json

from support.match import actions_of, has_resource_properties, resources

ENI_ACTIONS = {"ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets",
               "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"}


def _roles(generated):
    for cfg, stacks in generated.items():
        for stack, tpl in stacks.items():
            for lid, role in resources(tpl, "AWS::IAM::Role").items():
                yield f"{cfg}/{stack}/{lid}", role


def _statements(role):
    return [st for p in role["Properties"].get("Policies", []) for st in p["PolicyDocument"]["Statement"]]


def test_no_role_attaches_an_aws_managed_policy(generated):
    roles = dict(_roles(generated))
    assert roles
    for where, role in roles.items():
        assert "ManagedPolicyArns" not in role["Properties"], where


def test_vpc_function_gets_exact_network_interface_statements(secure, catalog):
    role = resources(secure["compute"], "AWS::IAM::Role")["ApiFunctionRole"]
    assert ENI_ACTIONS <= actions_of(role)
    by_sid = {st["Sid"]: st for st in _statements(role)}
    create = by_sid["VpcNetworkInterfacesCreate"]
    assert create["Action"] == ["ec2:CreateNetworkInterface"]
    assert {r["Fn::Sub"].rsplit(":", 1)[1] for r in create["Resource"]} == {
        "network-interface/*", "subnet/*", "security-group/*"}
    # Only in this system's VPC: the condition names the VPC parameter of the stack.
    vpc = create["Condition"]["ArnEquals"]["ec2:Vpc"]
    assert vpc == [{"Fn::Sub": ["arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:vpc/${Vpc}",
                                {"Vpc": {"Ref": "VpcId"}}]}]
    assert "VpcId" in secure["compute"]["Parameters"]
    manage = by_sid["VpcNetworkInterfacesManage"]
    assert manage["Resource"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:network-interface/*"}]
    # "*" only where EC2 has no resource-level permission.
    assert by_sid["VpcNetworkInterfacesDescribe"] == {
        "Sid": "VpcNetworkInterfacesDescribe", "Effect": "Allow", "Resource": ["*"],
        "Action": ["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"]}
    # Functions outside the VPC get no network rights at all.
    for lid, other in resources(catalog["compute"], "AWS::IAM::Role").items():
        assert not any(a.startswith("ec2:") for a in actions_of(other)), lid


def test_apigateway_logging_role_is_inline_and_scoped():
    # Owned by the deployer's bootstrap stack, once per account and region (no stage template has it).
    from infra.deploy import bootstrap, bootstrap_template

    template = json.loads(bootstrap_template.template())
    role = resources(template, "AWS::IAM::Role")[bootstrap.ROLE_ID]
    assert actions_of(role) == {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogGroups",
                                "logs:DescribeLogStreams", "logs:FilterLogEvents", "logs:PutLogEvents",
                                "logs:GetLogEvents"}
    for st in _statements(role):
        for res in st["Resource"]:
            assert res["Fn::Sub"].startswith("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:")
    assert not role["Properties"].get("ManagedPolicyArns")
    # The role is shared by every API of the account and region, so it outlives the bootstrap stack too.
    assert role["DeletionPolicy"] == "Retain"


def test_every_policy_has_version_and_no_wildcard_action(generated):
    for where, role in _roles(generated):
        for policy in role["Properties"].get("Policies", []):
            assert policy["PolicyDocument"]["Version"] == "2012-10-17", where
            for st in policy["PolicyDocument"]["Statement"]:
                assert "*" not in json.dumps(st["Action"]).replace(":*", ""), where


# -- current runtimes ----------------------------------------------------------------------
# Pinned, so the test never changes with the calendar: on this date cfn-lint's lifecycle data
# lists python3.14 and nodejs24.x as the newest runtimes not yet deprecated.
PINNED = __import__("datetime").date(2026, 11, 23)


def _shipped_runtimes():
    import re
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    found = []
    for path in sorted((root / "config").glob("*.toml")):
        for name, fn in tomllib.loads(path.read_text()).get("functions", {}).items():
            found.append((f"{path.name}:functions.{name}", fn["runtime"]))
    from bench.large_config import RUNTIMES

    found += [(f"bench/large_config.py:RUNTIMES[{kind}]", rt) for kind, (rt, _, _) in RUNTIMES.items()]
    readme = (root / "README.md").read_text()
    found += [(f"README.md:{i}", rt) for i, rt in enumerate(re.findall(r'runtime = "([^"]+)"', readme))]
    return found


def test_newest_runtime_follows_cfn_lint_data():
    from infra.config.validate import newest_runtime

    assert newest_runtime("python", PINNED) == "python3.14"
    assert newest_runtime("nodejs", PINNED) == "nodejs24.x"
    # Versions compare as numbers (3.9 < 3.14), and deprecation is relative to the given date.
    assert newest_runtime("python", __import__("datetime").date(2020, 1, 1)) == "python3.14"


def test_shipped_configs_use_the_newest_runtime_of_each_family():
    from infra.config.validate import newest_runtime

    shipped = _shipped_runtimes()
    assert {rt for _, rt in shipped} >= {"python3.14", "nodejs24.x"}
    for where, runtime in shipped:
        family = "python" if runtime.startswith("python") else "nodejs"
        assert runtime == newest_runtime(family, PINNED), f"{where} uses {runtime}"


# -- CloudFront access logging ------------------------------------------------------------
def test_distribution_writes_access_logs_to_an_acl_enabled_private_bucket(secure):
    from support.match import has_resource_properties

    dist = resources(secure["edge"], "AWS::CloudFront::Distribution")["Distribution"]
    logging = dist["Properties"]["DistributionConfig"]["Logging"]
    assert logging == {"Bucket": {"Fn::GetAtt": ["CloudFrontLogsBucket", "DomainName"]},
                       "IncludeCookies": False, "Prefix": "tap-dev/"}
    skips = {s["id"] for s in dist.get("Metadata", {}).get("checkov", {}).get("skip", [])}
    assert "CKV_AWS_86" not in skips
    has_resource_properties(secure["edge"], "AWS::S3::Bucket", {
        # CloudFront's legacy log delivery writes through the bucket ACL.
        "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]},
        "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                           "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
        "BucketEncryption": {"ServerSideEncryptionConfiguration": [
            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
        "LoggingConfiguration": {"DestinationBucketName": {"Ref": "AccessLogsBucketName"}},
    }, count=1)
    has_resource_properties(secure["edge"], "AWS::S3::BucketPolicy", {"Bucket": {"Ref": "CloudFrontLogsBucket"}})
    # The server access logs of the log bucket need the security stack's access-log bucket.
    assert "AccessLogsBucket" in secure["security"]["Resources"]


def test_cloudfront_log_retention_comes_from_the_config(tmp_path):
    import shutil
    from pathlib import Path

    from infra.build import build_configs

    root = Path(__file__).resolve().parents[1]
    text = (root / "config" / "secure-api.toml").read_text()
    assert "[edge]\n" in text
    cfg = tmp_path / "config" / "secure-api.toml"
    cfg.parent.mkdir()
    cfg.write_text(text.replace("[edge]\n", "[edge]\nlog_retention_days = 400\n"))
    shutil.copy(root / "config" / "secure-api.lock.json", cfg.parent / "secure-api.lock.json")
    build_configs([cfg], tmp_path / "out")
    edge = json.loads((tmp_path / "out" / "secure-api" / "edge.json").read_text())
    rules = edge["Resources"]["CloudFrontLogsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert {"Id": "expire-objects", "Status": "Enabled", "ExpirationInDays": 400} in rules


# -- authorization choices: COGNITO and JWT ----------------------------------------------
def _body(stacks):
    return stacks["api"]["Resources"]["RestApi"]["Properties"]["Body"]


def test_secure_api_write_route_needs_a_cognito_user_and_keeps_the_api_key(secure, secure_prod):
    body = _body(secure)
    assert body["paths"]["/api/v1"]["post"]["security"] == [{"api_key": [], "cognito": []}]
    assert body["paths"]["/api/v1"]["get"]["security"] == [{"api_key": []}]
    scheme = body["components"]["securitySchemes"]["cognito"]
    assert scheme["x-amazon-apigateway-authtype"] == "cognito_user_pools"
    assert scheme["x-amazon-apigateway-authorizer"] == {"type": "cognito_user_pools",
                                                        "providerARNs": [{"Ref": "UserPoolArn"}]}
    assert "UserPoolArn" in secure["api"]["Parameters"]
    # The root fills it from the security stack, which creates the pool with secure defaults.
    api_stack = next(r for r in secure["root"]["Resources"].values()
                     if r["Type"] == "AWS::CloudFormation::Stack" and "UserPoolArn" in r["Properties"].get("Parameters", {}))
    assert api_stack["Properties"]["Parameters"]["UserPoolArn"] == {"Fn::GetAtt": ["Security", "Outputs.UserPoolArn"]}
    pool = resources(secure["security"], "AWS::Cognito::UserPool")["UserPool"]["Properties"]
    assert pool["AdminCreateUserConfig"] == {"AllowAdminCreateUserOnly": True}
    assert pool["MfaConfiguration"] == "OPTIONAL" and pool["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]
    assert pool["Policies"]["PasswordPolicy"] == {
        "MinimumLength": 14, "RequireLowercase": True, "RequireUppercase": True, "RequireNumbers": True,
        "RequireSymbols": True, "TemporaryPasswordValidityDays": 3}
    assert pool["UserPoolAddOns"] == {"AdvancedSecurityMode": "AUDIT"} and pool["UserPoolTier"] == "PLUS"
    prod_pool = resources(secure_prod["security"], "AWS::Cognito::UserPool")["UserPool"]
    assert prod_pool["Properties"]["MfaConfiguration"] == "ON"
    assert prod_pool["Properties"]["UserPoolAddOns"] == {"AdvancedSecurityMode": "ENFORCED"}
    assert prod_pool["Properties"]["DeletionProtection"] == "ACTIVE" and prod_pool["DeletionPolicy"] == "Retain"
    client = resources(secure["security"], "AWS::Cognito::UserPoolClient")["UserPoolClient"]["Properties"]
    assert client["GenerateSecret"] is False and client["PreventUserExistenceErrors"] == "ENABLED"
    assert client["EnableTokenRevocation"] is True and "AllowedOAuthFlows" not in client


JWT_CONFIG = '''
[project]
name = "shop"
stage = "dev"
region = "eu-west-1"

[functions.api]
runtime = "python3.14"
source = "handlers/api"
handler = "app.handler"

[functions.authorizer]
runtime = "nodejs24.x"
source = "handlers/authorizer"
handler = "index.handler"
memory = 128

[api.auth.jwt]
issuer = "https://login.example.com/"
audience = ["web", "mobile"]
function = "authorizer"
cache_seconds = 120

[api.auth.cognito]
user_pool_arn = "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_AbC123"

[[api.routes]]
method = "GET"
path = "/orders"
function = "api"
auth = "JWT"

[[api.routes]]
method = "DELETE"
path = "/orders/{id}"
function = "api"
auth = "JWT"
scopes = ["orders:admin"]

[[api.routes]]
method = "POST"
path = "/orders"
function = "api"
auth = "COGNITO"
scopes = ["https://shop.example.com/orders.write"]
'''


def _build(tmp_path, text, name="shop"):
    from infra.build import build_configs

    cfg = tmp_path / "config" / f"{name}.toml"
    cfg.parent.mkdir(exist_ok=True)
    cfg.write_text(text)
    build_configs([cfg], tmp_path / "out")
    out = tmp_path / "out" / name
    return {f.stem: json.loads(f.read_text()) for f in out.glob("*.json")}


def test_jwt_routes_use_a_cached_token_authorizer_built_from_the_function_name(tmp_path):
    stacks = _build(tmp_path, JWT_CONFIG)
    body = _body(stacks)
    scheme = body["components"]["securitySchemes"]["jwt"]
    assert scheme["x-amazon-apigateway-authtype"] == "custom"
    auth = scheme["x-amazon-apigateway-authorizer"]
    assert auth["type"] == "request" and auth["authorizerResultTtlInSeconds"] == 120
    # Cached per token AND route: a policy computed for one route is never served to another
    # (IAM's `*` spans `/`, so a per-token policy could not deny a route without its subroutes).
    assert auth["identitySource"] == (
        "method.request.header.Authorization, context.httpMethod, context.resourcePath")
    assert auth["authorizerUri"] == {"Fn::Sub": (
        "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/"
        "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:shop-dev-authorizer/invocations")}
    assert body["paths"]["/orders"]["get"]["security"] == [{"jwt": []}]
    assert body["paths"]["/orders/{id}"]["delete"]["security"] == [{"jwt": []}]
    # An existing pool is named by its ARN, its scopes used as written; no pool is created.
    assert body["paths"]["/orders"]["post"]["security"] == [{"cognito": ["https://shop.example.com/orders.write"]}]
    assert body["components"]["securitySchemes"]["cognito"]["x-amazon-apigateway-authorizer"]["providerARNs"] == [
        "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_AbC123"]
    assert not any(r["Type"].startswith("AWS::Cognito::") for s in stacks.values() for r in s.get("Resources", {}).values())
    compute = next(s for n, s in stacks.items() if "AuthorizerFunction" in s.get("Resources", {}))
    perm = compute["Resources"]["AuthorizerFunctionAuthorizerPermission"]["Properties"]
    assert perm["Principal"] == "apigateway.amazonaws.com"
    assert perm["SourceArn"]["Fn::Sub"][0].endswith(":${RestApiId}/authorizers/*")
    env = compute["Resources"]["AuthorizerFunction"]["Properties"]["Environment"]["Variables"]
    assert env == {"JWT_AUDIENCE": "web,mobile", "JWT_ISSUER": "https://login.example.com/",
                   "JWT_JWKS_URL": "https://login.example.com/.well-known/jwks.json",
                   "JWT_SCOPED_ROUTES": '[["DELETE","/orders/{id}",["orders:admin"]]]'}
    # The authorizer serves no route, so API Gateway may only call it as an authorizer.
    assert "AuthorizerFunctionApiPermission" not in compute["Resources"]
    # The plain OpenAPI document names the schemes without API Gateway's extensions.
    client = json.loads((tmp_path / "out" / "shop" / "openapi.json").read_text())
    assert "x-amazon-apigateway" not in json.dumps(client)
    assert set(client["components"]["securitySchemes"]) == {"cognito", "jwt"}
    assert client["paths"]["/orders/{id}"]["delete"]["description"] == "Requires the scope(s): orders:admin."


def test_created_pool_with_scopes_gets_resource_server_domain_and_oauth_client(tmp_path):
    text = JWT_CONFIG.replace(
        'user_pool_arn = "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_AbC123"',
        'callback_urls = ["https://shop.example.com/callback"]\ndomain_prefix = "shop-dev-login"\nmfa = "ON"\n'
        'threat_protection = "OFF"').replace('scopes = ["https://shop.example.com/orders.write"]', 'scopes = ["write"]')
    stacks = _build(tmp_path, text)
    assert _body(stacks)["paths"]["/orders"]["post"]["security"] == [{"cognito": ["shop-dev-api/write"]}]
    sec = stacks["security"]["Resources"]
    assert sec["UserPoolResourceServer"]["Properties"]["Identifier"] == "shop-dev-api"
    assert sec["UserPoolResourceServer"]["Properties"]["Scopes"][0]["ScopeName"] == "write"
    assert sec["UserPoolDomain"]["Properties"]["Domain"] == "shop-dev-login"
    client = sec["UserPoolClient"]["Properties"]
    assert client["AllowedOAuthFlows"] == ["code"]
    assert client["AllowedOAuthScopes"] == ["openid", "email", "shop-dev-api/write"]
    assert "UserPoolAddOns" not in sec["UserPool"]["Properties"]  # threat protection OFF: no Plus plan


def _error(tmp_path, text):
    import pytest

    from infra.errors import UserError

    with pytest.raises(UserError) as err:
        _build(tmp_path, text)
    return str(err.value)


def test_auth_config_errors_name_the_key_and_the_fix(tmp_path):
    base = JWT_CONFIG
    cases = {
        # A write route protected by an API key alone needs a written reason.
        base.replace('auth = "COGNITO"\nscopes = ["https://shop.example.com/orders.write"]',
                     'auth = "NONE"\napi_key = true') + "\n[api.usage_plan]\n":
            ("api.routes[2].api_key", "api_key_only_reason"),
        base.replace('[api.auth.jwt]', '[api.auth.jwt_off]'): ("api.auth", ""),
        base.replace('function = "authorizer"\ncache', 'function = "nope"\ncache'): ("api.auth.jwt.function", "no function named 'nope'"),
        base.replace('audience = ["web", "mobile"]', 'audience = []'): ("api.auth.jwt.audience", "is empty"),
        base.replace('auth = "JWT"\n\n[[api.routes]]\nmethod = "DELETE"',
                     'auth = "IAM"\nscopes = ["x"]\n\n[[api.routes]]\nmethod = "DELETE"'):
            ("api.routes[0].scopes", "COGNITO and JWT"),
        base.replace('issuer = "https://login.example.com/"', 'issuer = "http://login.example.com/"'):
            ("api.auth.jwt.issuer", "https"),
        base.replace('[api.auth.cognito]\nuser_pool_arn', '[api.auth.other]\nuser_pool_arn'): ("api.auth", "other"),
        # A created pool puts custom scopes only into tokens of its OAuth endpoints.
        base.replace('user_pool_arn = "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_AbC123"', ''):
            ("api.auth.cognito", "callback_urls and domain_prefix"),
        base.replace('function = "authorizer"\ncache', 'function = "api"\ncache'): ("api.auth.jwt.function", "Node.js"),
    }
    for text, (key, words) in cases.items():
        assert text != base
        message = _error(tmp_path, text)
        assert key in message and words in message, message
    # With a reason, the same route is accepted.
    ok = base.replace('auth = "COGNITO"\nscopes = ["https://shop.example.com/orders.write"]',
                      'auth = "NONE"\napi_key = true\napi_key_only_reason = "webhook from a partner that cannot sign"')
    _build(tmp_path, ok + "\n[api.usage_plan]\n", name="shop2")


# -- origin-verify rotation ---------------------------------------------------------------
def test_origin_verify_secret_rotates_on_the_configured_schedule(secure_prod):
    edge = secure_prod["edge"]["Resources"]
    schedule = edge["OriginVerifyRotationSchedule"]["Properties"]
    assert schedule["SecretId"] == {"Ref": "OriginVerifySecretArn"}
    assert schedule["RotationRules"] == {"AutomaticallyAfterDays": 30}
    assert schedule["RotateImmediatelyOnUpdate"] is False
    assert schedule["RotationLambdaARN"] == {"Fn::Sub": (
        "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:tap-prod-origin-verify")}
    targets = edge["OriginVerifyTargetsParameter"]["Properties"]
    assert targets["Name"] == "/tap/prod/edge/origin-verify-targets"
    assert targets["Value"]["Fn::Sub"][1] == {"Distribution": {"Ref": "Distribution"}, "WebAclArn": {"Ref": "WebAclArn"}}
    # The edge stack waits for the firewall (its WebAclArn), so no rotation precedes the web ACL.
    assert "WebAclArn" in secure_prod["edge"]["Parameters"]

    compute = secure_prod["compute"]["Resources"]
    env = compute["OriginVerifyFunction"]["Properties"]["Environment"]["Variables"]
    assert env == {"HEADER_NAME": "X-Origin-Verify", "TARGETS_PARAMETER": "/tap/prod/edge/origin-verify-targets"}
    perm = compute["OriginVerifyRotationPermission"]["Properties"]
    assert perm["Principal"] == "secretsmanager.amazonaws.com"
    role = compute["OriginVerifyFunctionRole"]
    by_sid = {st["Sid"]: st for st in _statements(role)}
    assert by_sid["OriginVerifySecret"]["Resource"] == [{"Ref": "OriginVerifySecretArn"}]
    assert by_sid["OriginVerifySecretWebAcl"]["Action"] == ["wafv2:GetWebACL", "wafv2:UpdateWebACL"]
    assert by_sid["OriginVerifySecretWebAcl"]["Resource"][0] == {
        "Fn::Sub": "arn:${AWS::Partition}:wafv2:${AWS::Region}:${AWS::AccountId}:regional/webacl/tap-prod-api-waf/*"}
    assert by_sid["OriginVerifySecretTargets"]["Resource"] == [{
        "Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/tap/prod/edge/origin-verify-targets"}]
    assert "kms:GenerateDataKey" in actions_of(role)  # it writes the secret, encrypted with the system key
    # The app secret's rotation function gets none of this.
    assert not any(a.startswith(("wafv2:", "cloudfront:")) for a in actions_of(compute["RotationFunctionRole"]))


def test_origin_verify_rotation_config_errors(tmp_path):
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    text = (root / "config" / "secure-api-prod.toml").read_text()
    wrong = text.replace('origin_verify_rotation_function = "origin-verify"', 'origin_verify_rotation_function = "rotation"')
    assert "app secret's rotation function" in _error(tmp_path, wrong)
    missing = text.replace('origin_verify_rotation_function = "origin-verify"', 'origin_verify_rotation_function = "nope"')
    assert "edge.origin_verify_rotation_function" in _error(tmp_path, missing)


def test_failed_asynchronous_events_go_to_an_encrypted_dead_letter_queue(generated):
    """Functions without an on-failure bucket keep failed events in the encrypted queue (those with
    one keep them there only: tests/test_aws_correctness_second_review.py)."""
    seen = 0
    for config, files in generated.items():
        users = [(stack, lid, fn) for stack in files if stack.startswith("compute")
                 for lid, fn in files[stack]["Resources"].items()
                 if fn["Type"] == "AWS::Lambda::Function" and "DeadLetterConfig" in fn["Properties"]]
        if not users:
            continue
        queue = has_resource_properties(files["security"], "AWS::SQS::Queue", {
            "QueueName": f"{files['manifest']['project']}-{files['manifest']['stage']}-failed-invocations",
            "KmsMasterKeyId": {"Ref": "Key"}, "MessageRetentionPeriod": 1209600})
        assert next(iter(queue.values()))["DeletionPolicy"] in ("Retain", "Delete")
        has_resource_properties(files["security"], "AWS::SQS::QueuePolicy", {"PolicyDocument": {"Statement": [
            {"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}})
        for stack, lid, fn in users:
            seen += 1
            assert fn["Properties"]["DeadLetterConfig"] == {"TargetArn": {"Ref": "FailedInvocationsQueueArn"}}
            role = files[stack]["Resources"][fn["Properties"]["Role"]["Fn::GetAtt"][0]]
            sts = [st for p in role["Properties"]["Policies"] for st in p["PolicyDocument"]["Statement"]]
            assert {"Sid": "DeadLetters", "Effect": "Allow", "Action": ["sqs:SendMessage"],
                    "Resource": [{"Ref": "FailedInvocationsQueueArn"}]} in sts, (config, lid)
            # No skip of checkov's DLQ check is needed for these.
            assert "CKV_AWS_116" not in json.dumps(fn.get("Metadata", {}))
    assert seen == 5  # secure-api's two functions and secure-api-prod's three
