"""Issue 10: security hardening, asserted on the generated templates of every shipped config."""
from __future__ import annotations

import json

from support.match import actions_of, resources

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


def test_apigateway_logging_role_is_inline_and_scoped(secure):
    role = resources(secure["api-stage"], "AWS::IAM::Role")["CloudWatchRole"]
    assert actions_of(role) == {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogGroups",
                                "logs:DescribeLogStreams", "logs:FilterLogEvents", "logs:PutLogEvents",
                                "logs:GetLogEvents"}
    for st in _statements(role):
        for res in st["Resource"]:
            assert res["Fn::Sub"].startswith("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:")
    # The role is shared by every API of the account and region, so it outlives any one stack.
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
