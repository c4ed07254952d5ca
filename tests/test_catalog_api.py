"""Seed 002 (users and products API), feature by feature, on the generated catalog-api templates."""
from __future__ import annotations

import json

from support.match import ABSENT, ArrayWith, actions_of, find, has_resource_properties, resource_count, resources


def test_key_rotation_and_alias_encrypt_function_environment(catalog):
    has_resource_properties(catalog["security"], "AWS::KMS::Key", {"EnableKeyRotation": True})
    has_resource_properties(catalog["security"], "AWS::KMS::Alias", {"AliasName": "alias/catalog-prod-lambda-env"})
    has_resource_properties(catalog["compute"], "AWS::Lambda::Function", {"KmsKeyArn": {"Ref": "KeyArn"}}, count=2)


def test_failed_events_bucket_is_on_failure_destination(catalog):
    has_resource_properties(catalog["data"], "AWS::S3::Bucket", {
        "BucketName": {"Fn::Sub": "catalog-prod-failed-events-${AWS::AccountId}-${AWS::Region}"},
        "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                           "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
        "BucketEncryption": {"ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {
            "SSEAlgorithm": "aws:kms"}}]},
        "LifecycleConfiguration": {"Rules": ArrayWith({"ExpirationInDays": 30, "Status": "Enabled"})}})
    for fn in ("UsersFunction", "ProductsFunction"):
        has_resource_properties(catalog["compute"], "AWS::Lambda::EventInvokeConfig", {
            "FunctionName": {"Ref": fn},
            "DestinationConfig": {"OnFailure": {"Destination": {"Ref": "FailedEventsBucketArn"}}}})


def test_each_function_role_basic_execution_xray_decrypt_and_only_its_table(catalog):
    roles = resources(catalog["compute"], "AWS::IAM::Role")
    for fn, table in (("Users", "UsersTableArn"), ("Products", "ProductsTableArn")):
        role = roles[f"{fn}FunctionRole"]
        acts = actions_of(role)
        assert {"logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTraceSegments", "kms:Decrypt"} <= acts
        assert "ManagedPolicyArns" not in role["Properties"]  # no VPC: no ENI rights
        resources_used = json.dumps(role["Properties"]["Policies"])
        other = "ProductsTableArn" if table == "UsersTableArn" else "UsersTableArn"
        assert table in resources_used and other not in resources_used


def test_users_node_and_products_python_functions(catalog):
    comp = catalog["compute"]
    common = {"TracingConfig": {"Mode": "Active"}, "ReservedConcurrentExecutions": 100, "Timeout": 30,
              "MemorySize": 256, "VpcConfig": ABSENT}
    has_resource_properties(comp, "AWS::Lambda::Function", {
        "FunctionName": "catalog-prod-users", "Runtime": "nodejs24.x", "Handler": "index.handler", **common,
        "Environment": {"Variables": {"TABLE_NAME": {"Ref": "UsersTableName"}}}})
    has_resource_properties(comp, "AWS::Lambda::Function", {
        "FunctionName": "catalog-prod-products", "Runtime": "python3.13", "Handler": "app.handler", **common,
        "Environment": {"Variables": {"TABLE_NAME": {"Ref": "ProductsTableName"}}}})
    has_resource_properties(comp, "AWS::Logs::LogGroup", {"RetentionInDays": 7}, count=2)


def test_users_and_products_tables_retained(catalog):
    for name in ("catalog-prod-users", "catalog-prod-products"):
        has_resource_properties(catalog["data"], "AWS::DynamoDB::Table", {
            "TableName": name, "DeletionProtectionEnabled": True},
            DeletionPolicy="Retain", UpdateReplacePolicy="Retain")


def test_config_rule_and_ssm_parameters(catalog):
    has_resource_properties(catalog["monitoring"], "AWS::Config::ConfigRule", {
        "Source": {"Owner": "AWS", "SourceIdentifier": "LAMBDA_FUNCTION_SETTINGS_CHECK"},
        "Scope": {"ComplianceResourceTypes": ["AWS::Lambda::Function"]},
        "InputParameters": {"runtime": "nodejs24.x,python3.13", "timeout": "30", "memorySize": "256"}})
    has_resource_properties(catalog["compute"], "AWS::SSM::Parameter", {
        "Name": "/catalog/prod/functions/users/arn", "Value": {"Fn::GetAtt": ["UsersFunction", "Arn"]}})
    has_resource_properties(catalog["compute"], "AWS::SSM::Parameter", {
        "Name": "/catalog/prod/functions/products/arn"})
    has_resource_properties(catalog["api"], "AWS::SSM::Parameter", {"Name": "/catalog/prod/api/url"})
    has_resource_properties(catalog["firewall"], "AWS::SSM::Parameter", {
        "Name": "/catalog/prod/waf/web-acl-arn", "Value": {"Fn::GetAtt": ["WebAcl", "Arn"]}})


def test_rest_api_named_regional_stage_logging_throttling_cors(catalog):
    api = catalog["api"]
    has_resource_properties(api, "AWS::ApiGateway::RestApi", {
        "Name": "prod-MyAPI", "EndpointConfiguration": {"Types": ["REGIONAL"]}})
    has_resource_properties(api, "AWS::ApiGateway::Stage", {
        "StageName": "prod", "TracingEnabled": True,
        "MethodSettings": [{"LoggingLevel": "ERROR", "MetricsEnabled": True, "ThrottlingRateLimit": 1000.0,
                            "ThrottlingBurstLimit": 2000}],
        "AccessLogSetting": {"DestinationArn": {"Fn::GetAtt": ["AccessLogGroup", "Arn"]}}})
    stage = next(iter(resources(api, "AWS::ApiGateway::Stage").values()))
    fmt = json.loads(stage["Properties"]["AccessLogSetting"]["Format"])
    assert fmt["requestId"] == "$context.requestId" and fmt["status"] == "$context.status"
    has_resource_properties(api, "AWS::ApiGateway::Method", {"HttpMethod": "OPTIONS", "Integration": {
        "IntegrationResponses": [{"ResponseParameters": {"method.response.header.Access-Control-Max-Age": "'3600'"}}]}})


def test_request_validation_models_and_iam_auth_on_every_route(catalog):
    api = catalog["api"]
    has_resource_properties(api, "AWS::ApiGateway::RequestValidator", {
        "ValidateRequestBody": True, "ValidateRequestParameters": True})
    schemas = {m["Properties"]["Name"]: json.loads(m["Properties"]["Schema"])
               for m in resources(api, "AWS::ApiGateway::Model").values()}
    assert schemas["UserPost"]["required"] == ["name", "email"]
    assert schemas["UserPost"]["properties"] == {"name": {"type": "string"}, "email": {"type": "string"}}
    assert schemas["ProductPost"]["required"] == ["name", "price"]
    assert schemas["ProductPost"]["properties"] == {"name": {"type": "string"}, "price": {"type": "number"},
                                                    "category": {"type": "string"}}
    routes = {(m["Properties"]["HttpMethod"], m["Properties"]["ResourceId"]["Ref"])
              for m in find(api, "AWS::ApiGateway::Method", {"AuthorizationType": "AWS_IAM"}).values()}
    assert routes == {("GET", "UsersResource"), ("POST", "UsersResource"), ("GET", "UsersIdParamResource"),
                      ("PUT", "UsersIdParamResource"), ("DELETE", "UsersIdParamResource"),
                      ("GET", "ProductsResource"), ("POST", "ProductsResource"), ("GET", "ProductsIdParamResource")}
    # Every non-OPTIONS method is IAM-authorized.
    assert not find(api, "AWS::ApiGateway::Method", {"AuthorizationType": "NONE", "HttpMethod": "GET"})
    has_resource_properties(api, "AWS::ApiGateway::Method", {
        "HttpMethod": "POST", "ResourceId": {"Ref": "UsersResource"},
        "RequestModels": {"application/json": {"Ref": "UserPostModel"}},
        "RequestValidatorId": {"Ref": "RequestValidator"}})
    has_resource_properties(api, "AWS::ApiGateway::Method", {
        "HttpMethod": "GET", "ResourceId": {"Ref": "UsersIdParamResource"},
        "RequestParameters": {"method.request.path.id": True}})


def test_lambda_permissions_are_per_route(catalog):
    perms = find(catalog["api"], "AWS::Lambda::Permission", {"Principal": "apigateway.amazonaws.com"})
    assert len(perms) == 8
    arns = sorted(p["Properties"]["SourceArn"]["Fn::Sub"].split("${RestApi}/")[1] for p in perms.values())
    assert "prod/GET/users/*" in arns and "prod/POST/products" in arns


def test_waf_four_rules(catalog):
    acl = has_resource_properties(catalog["firewall"], "AWS::WAFv2::WebACL", {})
    rules = next(iter(acl.values()))["Properties"]["Rules"]
    assert [r["Name"] for r in rules] == ["RateLimitRule", "AWSManagedRulesCommonRuleSet",
                                          "AWSManagedRulesKnownBadInputsRuleSet", "AWSManagedRulesSQLiRuleSet"]
    assert [r["Priority"] for r in rules] == [1, 2, 3, 4]
    # No CloudFront in front: the API sees client IPs itself, and nothing requires CloudFront.
    assert "OriginVerifySecret" not in catalog["security"]["Resources"]
    assert rules[0]["Statement"] == {"RateBasedStatement": {"Limit": 2000, "AggregateKeyType": "IP"}}
    has_resource_properties(catalog["firewall"], "AWS::WAFv2::WebACLAssociation", {"ResourceArn": {"Ref": "ApiStageArn"}})


def test_monitoring_topic_alarms_dashboard(catalog):
    mon = catalog["monitoring"]
    has_resource_properties(mon, "AWS::SNS::Topic", {"KmsMasterKeyId": {"Ref": "KeyArn"}})
    dims = [{"Name": "ApiName", "Value": {"Ref": "ApiName"}}, {"Name": "Stage", "Value": {"Ref": "ApiStageName"}}]
    for metric, threshold in (("4XXError", 10), ("5XXError", 5), ("Latency", 1000)):
        has_resource_properties(mon, "AWS::CloudWatch::Alarm", {
            "MetricName": metric, "Threshold": threshold, "Dimensions": dims,
            "AlarmActions": [{"Ref": "AlarmTopic"}]})
    # Function alarms reference the functions through parameters, never hard-coded names.
    for fn in ("Users", "Products"):
        has_resource_properties(mon, "AWS::CloudWatch::Alarm", {
            "MetricName": "Errors", "Threshold": 5,
            "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": f"{fn}FunctionName"}}]})
    dash = next(iter(resources(mon, "AWS::CloudWatch::Dashboard").values()))
    body = json.loads(dash["Properties"]["DashboardBody"]["Fn::Sub"])
    titles = [w["properties"]["title"] for w in body["widgets"]]
    assert titles == ["API requests", "API latency", "API 4XX errors", "API 5XX errors", "users invocations",
                      "products invocations"]
    assert "prod-user-function" not in dash["Properties"]["DashboardBody"]["Fn::Sub"]


def test_outputs(catalog):
    outs = catalog["root"]["Outputs"]
    assert outs["Region"]["Value"] == {"Ref": "AWS::Region"}
    assert outs["Environment"]["Value"] == "prod"
    for name in ("ApiUrl", "WebAclArn", "AlarmTopicArn", "DashboardUrl"):
        assert outs[name]["Value"] == {"Fn::GetAtt": [outs[name]["Value"]["Fn::GetAtt"][0], f"Outputs.{name}"]}


def test_no_vpc_in_catalog(catalog):
    assert "network" not in catalog
    assert resource_count(catalog["compute"], "AWS::EC2::SecurityGroup") == 0


def test_api_gateway_logging_role_outlives_the_stage(catalog):
    # An account-wide setting shared by every stage: deleting one stage must not break the others.
    for rtype in ("AWS::IAM::Role", "AWS::ApiGateway::Account"):
        has_resource_properties(catalog["api"], rtype, {}, DeletionPolicy="Retain", UpdateReplacePolicy="Retain")
