"""Seed 000 ("TapStack"), feature by feature, on the generated secure-api templates."""
from __future__ import annotations

import json

import pytest

from support.match import ABSENT, ArrayWith, actions_of, find, has_resource_properties, resource_count, resources

TAGS = [{"Key": "Environment", "Value": "dev"}, {"Key": "ManagedBy", "Value": "serverless-infra"},
        {"Key": "Project", "Value": "tap"}]


def test_tags_on_every_taggable_resource(secure):
    for name, tpl in secure.items():
        if name in ("manifest", "openapi"):
            continue
        for lid, res in tpl["Resources"].items():
            tags = res.get("Properties", {}).get("Tags")
            if tags is None:
                continue
            if isinstance(tags, dict):
                assert tags == {"Environment": "dev", "ManagedBy": "serverless-infra", "Project": "tap"}, lid
            else:
                assert tags == TAGS, f"{name}/{lid}"
    # The resources that take tags really got them.
    has_resource_properties(secure["data"], "AWS::DynamoDB::Table", {"Tags": TAGS})
    has_resource_properties(secure["network"], "AWS::EC2::VPC", {"Tags": TAGS})
    has_resource_properties(secure["compute"], "AWS::Lambda::Function", {"Tags": TAGS})
    has_resource_properties(secure["root"], "AWS::CloudFormation::Stack", {"Tags": TAGS})


def test_names_follow_project_stage_resource(secure):
    has_resource_properties(secure["data"], "AWS::DynamoDB::Table", {"TableName": "tap-dev-data"})
    has_resource_properties(secure["compute"], "AWS::Lambda::Function", {"FunctionName": "tap-dev-api"})
    has_resource_properties(secure["security"], "AWS::SecretsManager::Secret", {"Name": "tap-dev-app-secrets"})
    has_resource_properties(secure["security"], "AWS::KMS::Alias", {"AliasName": "alias/tap-dev-kms-key"})
    has_resource_properties(secure["data"], "AWS::S3::Bucket",
                            {"BucketName": {"Fn::Sub": "tap-dev-static-content-${AWS::AccountId}-${AWS::Region}"}})


def test_vpc_three_azs_public_and_private_subnets(secure):
    net = secure["network"]
    has_resource_properties(net, "AWS::EC2::VPC", {"CidrBlock": "10.0.0.0/16", "EnableDnsHostnames": True,
                                                    "EnableDnsSupport": True})
    publics = find(net, "AWS::EC2::Subnet", {"MapPublicIpOnLaunch": False})
    cidrs = sorted(r["Properties"]["CidrBlock"] for r in publics.values())
    assert cidrs == [f"10.0.{i}.0/24" for i in range(6)]
    assert {r["Properties"]["AvailabilityZone"]["Fn::Select"][0] for r in publics.values()} == {0, 1, 2}
    assert resource_count(net, "AWS::EC2::InternetGateway") == 1
    assert resource_count(net, "AWS::EC2::NatGateway") == 1  # dev: one shared NAT
    # Every private route table sends 0.0.0.0/0 to a NAT gateway.
    has_resource_properties(net, "AWS::EC2::Route", {"DestinationCidrBlock": "0.0.0.0/0",
                                                     "NatGatewayId": {"Ref": "NatGateway1"}}, count=3)
    has_resource_properties(net, "AWS::EC2::SecurityGroup", {
        "SecurityGroupEgress": [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": "0.0.0.0/0",
                                 "Description": "HTTPS to AWS APIs"}],
        "SecurityGroupIngress": ABSENT})
    has_resource_properties(net, "AWS::EC2::FlowLog", {"ResourceType": "VPC", "TrafficType": "ALL"})
    for service in ("dynamodb", "s3"):
        has_resource_properties(net, "AWS::EC2::VPCEndpoint", {
            "VpcEndpointType": "Gateway", "ServiceName": {"Fn::Sub": f"com.amazonaws.${{AWS::Region}}.{service}"},
            "RouteTableIds": [{"Ref": f"PrivateRouteTable{i}"} for i in (1, 2, 3)]})


def test_nat_gateways_one_per_az_in_prod(secure_prod):
    assert resource_count(secure_prod["network"], "AWS::EC2::NatGateway") == 3


def test_kms_key_rotation_alias_and_policy(secure):
    key = has_resource_properties(secure["security"], "AWS::KMS::Key", {"EnableKeyRotation": True})
    policy = next(iter(key.values()))["Properties"]["KeyPolicy"]
    assert policy["Version"] == "2012-10-17"
    for st in policy["Statement"]:
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        assert not any(a.endswith("*") for a in actions), st["Sid"]
        assert st.get("Principal") != "*"
    # The key encrypts the table, bucket, secret and logs.
    key_ref = {"Ref": "KeyArn"}
    has_resource_properties(secure["data"], "AWS::DynamoDB::Table", {"SSESpecification": {
        "SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": key_ref}})
    has_resource_properties(secure["data"], "AWS::S3::Bucket", {"BucketEncryption": {
        "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {
            "SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_ref}, "BucketKeyEnabled": True}]}})
    has_resource_properties(secure["security"], "AWS::SecretsManager::Secret", {"KmsKeyId": {"Ref": "Key"}})
    for lg in resources(secure["compute"], "AWS::Logs::LogGroup").values():
        assert lg["Properties"]["KmsKeyId"] == key_ref


def test_secret_generated_password_and_rotation(secure):
    has_resource_properties(secure["security"], "AWS::SecretsManager::Secret", {"GenerateSecretString": {
        "SecretStringTemplate": json.dumps({"username": "admin"}), "GenerateStringKey": "password",
        "ExcludeCharacters": "\"@/\\"}})
    has_resource_properties(secure["compute"], "AWS::SecretsManager::RotationSchedule", {
        "SecretId": {"Ref": "SecretArn"}, "RotationLambdaARN": {"Fn::GetAtt": ["RotationFunction", "Arn"]},
        "RotationRules": {"AutomaticallyAfterDays": 30}})
    has_resource_properties(secure["compute"], "AWS::Lambda::Permission", {
        "Principal": "secretsmanager.amazonaws.com"})


def test_table_keys_capacity_autoscaling_pitr_stream(secure):
    data = secure["data"]
    has_resource_properties(data, "AWS::DynamoDB::Table", {
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}, {"AttributeName": "timestamp", "KeyType": "RANGE"}],
        # Each key attribute once, the index's included: CloudFormation refuses one defined twice.
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"},
                                 {"AttributeName": "timestamp", "AttributeType": "N"},
                                 {"AttributeName": "feed", "AttributeType": "S"}],
        "BillingMode": "PROVISIONED",
        "ProvisionedThroughput": {"ReadCapacityUnits": 500, "WriteCapacityUnits": 500},
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "StreamSpecification": {"StreamViewType": "NEW_AND_OLD_IMAGES"},
        "GlobalSecondaryIndexes": [{
            "IndexName": "by-time",
            "KeySchema": [{"AttributeName": "feed", "KeyType": "HASH"},
                          {"AttributeName": "timestamp", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"},
            "ProvisionedThroughput": {"ReadCapacityUnits": 500, "WriteCapacityUnits": 500}}]})
    for dim in ("Read", "Write"):
        for kind, resource_id in (("table", "table/tap-dev-data"), ("index", "table/tap-dev-data/index/by-time")):
            has_resource_properties(data, "AWS::ApplicationAutoScaling::ScalableTarget", {
                "MinCapacity": 500, "MaxCapacity": 5000, "ScalableDimension": f"dynamodb:{kind}:{dim}CapacityUnits",
                "ResourceId": resource_id, "RoleARN": ABSENT}, count=1)
        has_resource_properties(data, "AWS::ApplicationAutoScaling::ScalingPolicy", {
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": {
                "TargetValue": 70.0,
                "PredefinedMetricSpecification": {"PredefinedMetricType": f"DynamoDB{dim}CapacityUtilization"}}},
            count=2)


def test_the_index_has_its_own_throttle_alarm(secure):
    alarms = resources(secure["data"], "AWS::CloudWatch::Alarm")
    metrics = alarms["DataByTimeIndexThrottlesAlarm"]["Properties"]["Metrics"]
    dimensions = [m["MetricStat"]["Metric"]["Dimensions"] for m in metrics if "MetricStat" in m]
    assert dimensions == [[{"Name": "TableName", "Value": {"Ref": "DataTable"}},
                           {"Name": "GlobalSecondaryIndexName", "Value": "by-time"}]] * 2


def test_on_demand_billing_selectable(catalog):
    has_resource_properties(catalog["data"], "AWS::DynamoDB::Table", {
        "BillingMode": "PAY_PER_REQUEST", "ProvisionedThroughput": ABSENT}, count=2)
    assert resource_count(catalog["data"], "AWS::ApplicationAutoScaling::ScalableTarget") == 0


def test_static_bucket_versioned_private_expiring_tls_only(secure):
    data = secure["data"]
    has_resource_properties(data, "AWS::S3::Bucket", {
        "BucketName": {"Fn::Sub": "tap-dev-static-content-${AWS::AccountId}-${AWS::Region}"},
        "VersioningConfiguration": {"Status": "Enabled"},
        "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                           "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
        "LifecycleConfiguration": {"Rules": ArrayWith({"NoncurrentVersionExpiration": {"NoncurrentDays": 30},
                                                       "Status": "Enabled"})},
        "LoggingConfiguration": {"DestinationBucketName": {"Ref": "AccessLogsBucketName"}}})
    # The access-log bucket is the security stack's, shared by every bucket of the system.
    has_resource_properties(secure["security"], "AWS::S3::Bucket", {
        "BucketName": {"Fn::Sub": "tap-dev-access-logs-${AWS::AccountId}-${AWS::Region}"}})
    policy = has_resource_properties(data, "AWS::S3::BucketPolicy", {"Bucket": {"Ref": "StaticContentBucket"}})
    (doc,) = [p["Properties"]["PolicyDocument"] for p in policy.values()]
    assert doc["Statement"][0] == {
        "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": ["s3:*"],
        "Resource": [{"Fn::GetAtt": ["StaticContentBucket", "Arn"]},
                     {"Fn::Sub": ["${Arn}/*", {"Arn": {"Fn::GetAtt": ["StaticContentBucket", "Arn"]}}]}],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}


def test_function_settings(secure):
    fn = has_resource_properties(secure["compute"], "AWS::Lambda::Function", {
        "FunctionName": "tap-dev-api", "Timeout": 30, "MemorySize": 512, "ReservedConcurrentExecutions": ABSENT,
        "TracingConfig": {"Mode": "Active"}, "Runtime": "python3.14", "KmsKeyArn": {"Ref": "KeyArn"},
        "VpcConfig": {"SubnetIds": {"Ref": "PrivateSubnetIds"},
                      "SecurityGroupIds": [{"Ref": "LambdaSecurityGroupId"}]},
        "Environment": {"Variables": {"TABLE_NAME": {"Ref": "DataTableName"}, "ITEMS_INDEX": "by-time",
                                      "BUCKET_NAME": {"Ref": "StaticContentBucketName"},
                                      "SECRET_ARN": {"Ref": "SecretArn"}, "KMS_KEY_ID": {"Ref": "KeyId"}}},
        "LoggingConfig": {"LogGroup": {"Ref": "ApiFunctionLogGroup"}},
        "Code": {"S3Bucket": {"Ref": "AssetBucket"}}})
    assert next(iter(fn.values()))["Properties"]["Code"]["S3Key"].startswith("assets/")
    has_resource_properties(secure["compute"], "AWS::Lambda::EventInvokeConfig", {
        "FunctionName": {"Ref": "ApiFunction"}, "MaximumRetryAttempts": 2})
    has_resource_properties(secure["compute"], "AWS::Logs::LogGroup", {
        "LogGroupName": "/aws/lambda/tap-dev-api", "RetentionInDays": 30})


def test_function_role_is_least_privilege(secure):
    roles = resources(secure["compute"], "AWS::IAM::Role")
    api = roles["ApiFunctionRole"]
    assert actions_of(api) == {
        "logs:CreateLogStream", "logs:PutLogEvents",
        "xray:PutTelemetryRecords", "xray:PutTraceSegments", "xray:GetSamplingRules", "xray:GetSamplingTargets",
        "dynamodb:BatchGetItem", "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable", "dynamodb:GetItem",
        "dynamodb:Query", "dynamodb:Scan", "dynamodb:BatchWriteItem", "dynamodb:DeleteItem", "dynamodb:PutItem",
        "dynamodb:UpdateItem", "s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket",
        "secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue",
        "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom",
        "kms:ReEncryptTo",
        # VPC network interfaces, as exact statements (no AWS managed policy)
        "ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface", "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSubnets", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses",
        # failed asynchronous events to the dead-letter queue
        "sqs:SendMessage"}
    assert "ManagedPolicyArns" not in api["Properties"]  # exact EC2 statements instead of the managed policy
    for role in roles.values():
        for policy in role["Properties"]["Policies"]:
            assert policy["PolicyDocument"]["Version"] == "2012-10-17"
            for st in policy["PolicyDocument"]["Statement"]:
                assert "*" not in json.dumps(st["Action"]).replace(":*", "")  # no wildcard actions
                if st["Resource"] == ["*"]:
                    assert all(a.startswith(("xray:", "secretsmanager:GetRandomPassword", "ec2:Describe"))
                               for a in st["Action"])
    # Table access is exactly the table and its indexes.
    dyn = [st for p in api["Properties"]["Policies"] for st in p["PolicyDocument"]["Statement"]
           if st["Sid"] == "DataTable"]
    assert dyn[0]["Resource"] == [{"Ref": "DataTableArn"},
                                  {"Fn::Sub": ["${Arn}/index/*", {"Arn": {"Ref": "DataTableArn"}}]}]


def test_rest_api_stage_tracing_logging_metrics_cors(secure):
    has_resource_properties(secure["api-stage"], "AWS::ApiGateway::Stage", {
        "StageName": "dev", "TracingEnabled": True,
        "MethodSettings": [{"HttpMethod": "*", "ResourcePath": "/*", "LoggingLevel": "INFO", "MetricsEnabled": True,
                            "DataTraceEnabled": False, "ThrottlingRateLimit": 1000.0, "ThrottlingBurstLimit": 2000}],
        "AccessLogSetting": {"DestinationArn": {"Fn::GetAtt": ["AccessLogGroup", "Arn"]}}})
    paths = secure["api"]["Resources"]["RestApi"]["Properties"]["Body"]["paths"]
    assert sorted(paths) == ["/api/v1"]
    # GET: the API key (auth = "NONE"); POST: a Cognito sign-in, the key on top.
    assert paths["/api/v1"]["get"]["security"] == [{"api_key": []}]
    assert paths["/api/v1"]["post"]["security"] == [{"api_key": [], "cognito": []}]
    for method in ("get", "post"):
        op = paths["/api/v1"][method]
        assert op["x-amazon-apigateway-integration"]["type"] == "aws_proxy"
        assert "tap-dev-api/invocations" in op["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
    preflight = paths["/api/v1"]["options"]
    assert "security" not in preflight and preflight["x-amazon-apigateway-integration"]["type"] == "mock"
    assert preflight["x-amazon-apigateway-integration"]["responses"]["default"]["responseParameters"] == {
        "method.response.header.Access-Control-Allow-Origin": "'*'",
        "method.response.header.Access-Control-Allow-Headers": "'Content-Type,X-Amz-Date,Authorization,X-Api-Key'",
        "method.response.header.Access-Control-Allow-Methods": "'GET,POST,PUT,PATCH,DELETE,OPTIONS'",
        "method.response.header.Access-Control-Max-Age": "'600'"}
    body = secure["api"]["Resources"]["RestApi"]["Properties"]["Body"]
    assert set(body["x-amazon-apigateway-gateway-responses"]) == {"DEFAULT_4XX", "DEFAULT_5XX"}
    assert body["components"]["securitySchemes"]["api_key"] == {
        "type": "apiKey", "name": "x-api-key", "in": "header", "description": "API key of the usage plan"}


def test_usage_plan_and_key(secure):
    stage = secure["api-stage"]
    has_resource_properties(stage, "AWS::ApiGateway::UsagePlan", {
        "Throttle": {"RateLimit": 1000.0, "BurstLimit": 2000}, "Quota": {"Limit": 1000000, "Period": "MONTH"},
        "ApiStages": [{"ApiId": {"Ref": "RestApiId"}, "Stage": {"Ref": "Stage"}}]})
    has_resource_properties(stage, "AWS::ApiGateway::UsagePlanKey", {"KeyType": "API_KEY"})


def test_waf_rate_limit_and_common_rules_on_stage(secure):
    fw = secure["firewall"]
    acl = has_resource_properties(fw, "AWS::WAFv2::WebACL", {"Scope": "REGIONAL", "DefaultAction": {"Allow": {}}})
    rules = next(iter(acl.values()))["Properties"]["Rules"]
    # Behind CloudFront the API sees edge addresses and a forwarded address the client writes:
    # no per-IP rule here; the CloudFront web ACL limits real client IPs.
    assert [r["Name"] for r in rules] == ["RequireCloudFront", "BodySizeLimit", "AWSManagedRulesCommonRuleSet",
                                          "AWSManagedRulesKnownBadInputsRuleSet"]
    assert [r["Priority"] for r in rules] == sorted(r["Priority"] for r in rules)
    assert "FORWARDED_IP" not in json.dumps(rules)
    has_resource_properties(fw, "AWS::WAFv2::WebACLAssociation", {"ResourceArn": {"Ref": "ApiStageArn"}})
    has_resource_properties(fw, "AWS::WAFv2::LoggingConfiguration", {})


def test_cloudfront_web_acl_in_us_east_1_limits_real_client_ips(secure):
    acl = has_resource_properties(secure["global"], "AWS::WAFv2::WebACL", {"Scope": "CLOUDFRONT"})
    rules = next(iter(acl.values()))["Properties"]["Rules"]
    assert rules[0]["Statement"] == {"RateBasedStatement": {"Limit": 2000, "AggregateKeyType": "IP"}}
    assert [r["Name"] for r in rules[1:]] == ["BodySizeLimit", "AWSManagedRulesCommonRuleSet",
                                             "AWSManagedRulesKnownBadInputsRuleSet"]
    has_resource_properties(secure["global"], "AWS::WAFv2::LoggingConfiguration", {})
    has_resource_properties(secure["global"], "AWS::KMS::Key", {"EnableKeyRotation": True})
    has_resource_properties(secure["edge"], "AWS::CloudFront::Distribution", {"DistributionConfig": {
        "WebACLId": {"Ref": "EdgeWebAclArn"}}})
    assert secure["root"]["Resources"]["Edge"]["Properties"]["Parameters"]["EdgeWebAclArn"] == {"Ref": "EdgeWebAclArn"}


def test_api_answers_only_requests_through_cloudfront(secure):
    has_resource_properties(secure["security"], "AWS::SecretsManager::Secret", {
        "Name": "tap-dev-origin-verify", "KmsKeyId": {"Ref": "Key"},
        "GenerateSecretString": {"PasswordLength": 48, "ExcludePunctuation": True}})
    value = {"Fn::Sub": ["{{resolve:secretsmanager:${Arn}:SecretString}}", {"Arn": {"Ref": "OriginVerifySecretArn"}}]}
    has_resource_properties(secure["edge"], "AWS::CloudFront::Distribution", {"DistributionConfig": {"Origins": [
        {"OriginCustomHeaders": [{"HeaderName": "X-Origin-Verify", "HeaderValue": value}]}]}})
    acl = secure["firewall"]["Resources"]["WebAcl"]
    first = acl["Properties"]["Rules"][0]
    assert first["Name"] == "RequireCloudFront" and first["Priority"] == 0 and first["Action"] == {"Block": {}}
    assert first["Statement"] == {"NotStatement": {"Statement": {"ByteMatchStatement": {
        "FieldToMatch": {"SingleHeader": {"Name": "x-origin-verify"}}, "PositionalConstraint": "EXACTLY",
        "SearchString": value, "TextTransformations": [{"Priority": 0, "Type": "NONE"}]}}}}
    # Both stacks get the secret's ARN from the security stack, which orders them after it.
    root = secure["root"]["Resources"]
    for stack in ("Edge", "Firewall"):
        assert root[stack]["Properties"]["Parameters"]["OriginVerifySecretArn"] == {
            "Fn::GetAtt": ["Security", "Outputs.OriginVerifySecretArn"]}


def test_cloudfront_in_front_of_api(secure):
    edge = secure["edge"]
    dist = has_resource_properties(edge, "AWS::CloudFront::Distribution", {"DistributionConfig": {
        "PriceClass": "PriceClass_100", "Enabled": True,
        "DefaultCacheBehavior": {
            "ViewerProtocolPolicy": "redirect-to-https",
            "AllowedMethods": ["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"],
            "CachePolicyId": "4135ea2d-6df8-44a3-9df3-4b5a84be39ad",  # CachingDisabled
            # AllViewerExceptHostHeader, not the seed's ALL_VIEWER (API Gateway rejects CloudFront's Host)
            "OriginRequestPolicyId": "b689b0a8-53d0-40ab-baf2-68738e2966ac"},
        "Origins": [{"DomainName": {"Ref": "ApiDomain"}, "OriginPath": {"Fn::Sub": "/${ApiStageName}"},
                     "CustomOriginConfig": {"OriginProtocolPolicy": "https-only"}}]}})
    assert "Aliases" not in next(iter(dist.values()))["Properties"]["DistributionConfig"]


def test_custom_domain_certificate_in_us_east_1(custom_domain):
    secure_prod = custom_domain  # config/examples/custom-domain.toml: a shipped config has no placeholder zone
    assert secure_prod["manifest"]["global"]["region"] == "us-east-1"
    has_resource_properties(secure_prod["global"], "AWS::CertificateManager::Certificate", {
        "DomainName": "api.example.com", "ValidationMethod": "DNS",
        "DomainValidationOptions": [{"DomainName": "api.example.com", "HostedZoneId": "Z0123456789ABCDEFGHIJ"}]})
    # The edge stack never creates a certificate itself: it takes the us-east-1 ARN.
    assert resource_count(secure_prod["edge"], "AWS::CertificateManager::Certificate") == 0
    has_resource_properties(secure_prod["edge"], "AWS::CloudFront::Distribution", {"DistributionConfig": {
        "Aliases": ["api.example.com"], "ViewerCertificate": {
            "AcmCertificateArn": {"Ref": "CertificateArn"}, "SslSupportMethod": "sni-only",
            "MinimumProtocolVersion": "TLSv1.2_2021"}}})
    for kind in ("A", "AAAA"):
        has_resource_properties(secure_prod["edge"], "AWS::Route53::RecordSet", {
            "Name": "api.example.com.", "Type": kind, "HostedZoneId": "Z0123456789ABCDEFGHIJ",
            "AliasTarget": {"HostedZoneId": "Z2FDTNDATAQYW2"}})
    assert secure_prod["root"]["Parameters"]["CertificateArn"]["Type"] == "String"


def test_xray_sampling_rule(secure):
    has_resource_properties(secure["monitoring"], "AWS::XRay::SamplingRule", {"SamplingRule": {
        "FixedRate": 0.1, "ReservoirSize": 1, "Priority": 9000, "Version": 1}})


def test_alarms_api_5xx_lambda_errors_table_throttles(secure):
    topic = [{"Ref": "AlarmTopicArn"}]
    has_resource_properties(secure["api-stage"], "AWS::CloudWatch::Alarm", {
        "MetricName": "5XXError", "Namespace": "AWS/ApiGateway", "Threshold": 10, "AlarmActions": topic})
    has_resource_properties(secure["compute"], "AWS::CloudWatch::Alarm", {
        "MetricName": "Errors", "Namespace": "AWS/Lambda", "Threshold": 5, "AlarmActions": topic,
        "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": "ApiFunction"}}]})
    has_resource_properties(secure["data"], "AWS::CloudWatch::Alarm", {"Threshold": 1, "AlarmActions": topic,
                                                                       "Metrics": ArrayWith(
        {"Id": "throttles", "Expression": "reads + writes"})})
    has_resource_properties(secure["monitoring"], "AWS::SNS::Topic", {"TopicName": "tap-dev-alarms"})


def test_pipeline_least_privilege(secure_prod):
    pl = secure_prod["pipeline"]
    has_resource_properties(pl, "AWS::CodeConnections::Connection", {"ProviderType": "GitHub"})
    has_resource_properties(pl, "AWS::CodeBuild::Project", {
        "EncryptionKey": {"Ref": "KeyArn"}, "Environment": {"PrivilegedMode": False}})
    has_resource_properties(pl, "AWS::CodePipeline::Pipeline", {"Stages": [
        {"Name": "Source", "Actions": [{"Configuration": {"FullRepositoryId": "example-org/tap", "BranchName": "main"}}]},
        {"Name": "Build"}]})
    for lid, role in resources(pl, "AWS::IAM::Role").items():
        for st in role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]:
            assert st["Resource"] != ["*"], f"{lid} {st['Sid']}"
            assert all("*" not in a for a in st["Action"]), f"{lid} {st['Sid']}"


def test_outputs(secure, secure_prod):
    outs = secure["root"]["Outputs"]
    for name in ("ApiUrl", "CloudFrontUrl", "DataTableNames", "DataBucketNames", "ComputeFunctionNames",
                 "UsagePlanId"):
        assert outs[name]["Value"]["Fn::GetAtt"][1] == f"Outputs.{name}"
    # The table, bucket and function names (seed 000's outputs) as lists, one per stack.
    assert secure["data"]["Outputs"]["DataTableNames"]["Value"] == {"Fn::Join": [",", [{"Ref": "DataTable"}]]}
    assert secure["compute"]["Outputs"]["ComputeFunctionNames"]["Value"] == {
        "Fn::Join": [",", [{"Ref": "ApiFunction"}, {"Ref": "RotationFunction"}]]}
    assert "CustomDomainUrl" not in secure_prod["root"]["Outputs"]  # no placeholder domain shipped


@pytest.mark.parametrize("stack", ["data", "security", "compute"])
def test_stateful_resources_deletable_in_dev_retained_in_prod(secure, secure_prod, stack):
    stateful = ("AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::KMS::Key", "AWS::SecretsManager::Secret",
                "AWS::Logs::LogGroup")
    for tpl, policy in ((secure[stack], "Delete"), (secure_prod[stack], "Retain")):
        found = [r for r in tpl["Resources"].values() if r["Type"] in stateful]
        assert found
        for res in found:
            assert res["DeletionPolicy"] == policy and res["UpdateReplacePolicy"] == policy
