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
    # No reserved concurrency unless the config asks (it fails in accounts with a low quota).
    common = {"TracingConfig": {"Mode": "Active"}, "ReservedConcurrentExecutions": ABSENT, "Timeout": 30,
              "MemorySize": 256, "VpcConfig": ABSENT}
    has_resource_properties(comp, "AWS::Lambda::Function", {
        "FunctionName": "catalog-prod-users", "Runtime": "nodejs24.x", "Handler": "index.handler", **common,
        "Environment": {"Variables": {"TABLE_NAME": {"Ref": "UsersTableName"}}}})
    has_resource_properties(comp, "AWS::Lambda::Function", {
        "FunctionName": "catalog-prod-products", "Runtime": "python3.14", "Handler": "app.handler", **common,
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
        "Scope": {"TagKey": "LambdaSettingsRule", "TagValue": "catalog-prod-lambda-settings-30s-256mb"},
        "InputParameters": {"runtime": "nodejs24.x,python3.14", "timeout": "30", "memorySize": "256"}})
    # Production releases gradually: the published ARN is the alias callers must use (see test_releases.py).
    has_resource_properties(catalog["compute"], "AWS::SSM::Parameter", {
        "Name": "/catalog/prod/functions/users/arn", "Value": {"Ref": "UsersFunctionAlias"}})
    has_resource_properties(catalog["compute"], "AWS::SSM::Parameter", {
        "Name": "/catalog/prod/functions/products/arn"})
    has_resource_properties(catalog["api-stage"], "AWS::SSM::Parameter", {"Name": "/catalog/prod/api/url"})
    has_resource_properties(catalog["firewall"], "AWS::SSM::Parameter", {
        "Name": "/catalog/prod/waf/web-acl-arn", "Value": {"Fn::GetAtt": ["WebAcl", "Arn"]}})


def body(files) -> dict:
    """The OpenAPI document of the REST API."""
    return files["api"]["Resources"]["RestApi"]["Properties"]["Body"]


def test_rest_api_named_regional_stage_logging_throttling_cors(catalog):
    has_resource_properties(catalog["api"], "AWS::ApiGateway::RestApi", {
        "Name": "prod-MyAPI", "EndpointConfiguration": {"Types": ["REGIONAL"]},
        "Parameters": {"endpointConfigurationTypes": "REGIONAL"}})
    stage = catalog["api-stage"]
    has_resource_properties(stage, "AWS::ApiGateway::Stage", {
        "StageName": "prod", "TracingEnabled": True, "RestApiId": {"Ref": "RestApiId"},
        "MethodSettings": [{"LoggingLevel": "ERROR", "MetricsEnabled": True, "ThrottlingRateLimit": 1000.0,
                            "ThrottlingBurstLimit": 2000}],
        "AccessLogSetting": {"DestinationArn": {"Fn::GetAtt": ["AccessLogGroup", "Arn"]}}})
    res = next(iter(resources(stage, "AWS::ApiGateway::Stage").values()))
    fmt = json.loads(res["Properties"]["AccessLogSetting"]["Format"])
    assert fmt["requestId"] == "$context.requestId" and fmt["status"] == "$context.status"
    # CORS: every path answers OPTIONS itself, without auth; API Gateway's own errors carry the origin.
    paths = body(catalog)["paths"]
    for path, ops in paths.items():
        preflight = ops["options"]
        assert "security" not in preflight
        headers = preflight["x-amazon-apigateway-integration"]["responses"]["default"]["responseParameters"]
        assert headers["method.response.header.Access-Control-Max-Age"] == "'3600'", path
        assert headers["method.response.header.Access-Control-Allow-Origin"] == "'*'"
    assert body(catalog)["x-amazon-apigateway-gateway-responses"]["DEFAULT_4XX"] == {
        "responseParameters": {"gatewayresponse.header.Access-Control-Allow-Origin": "'*'"}}


def test_request_validation_models_and_iam_auth_on_every_route(catalog):
    doc = body(catalog)
    assert doc["x-amazon-apigateway-request-validators"] == {
        "validate-request": {"validateRequestBody": True, "validateRequestParameters": True}}
    schemas = doc["components"]["schemas"]
    assert schemas["UserPost"]["required"] == ["name", "email"]
    assert schemas["UserPost"]["properties"] == {"name": {"type": "string"}, "email": {"type": "string"}}
    assert schemas["ProductPost"]["required"] == ["name", "price"]
    assert schemas["ProductPost"]["properties"] == {"name": {"type": "string"}, "price": {"type": "number"},
                                                    "category": {"type": "string"}}
    assert doc["components"]["securitySchemes"]["sigv4"] == {
        "type": "apiKey", "name": "Authorization", "in": "header", "x-amazon-apigateway-authtype": "awsSigv4",
        "description": "AWS Signature Version 4 (IAM)"}
    routes = {(m.upper(), p) for p, ops in doc["paths"].items() for m, op in ops.items()
              if op.get("security") == [{"sigv4": []}]}
    assert routes == {("GET", "/users"), ("POST", "/users"), ("GET", "/users/{id}"), ("PUT", "/users/{id}"),
                      ("DELETE", "/users/{id}"), ("GET", "/products"), ("POST", "/products"),
                      ("GET", "/products/{id}")}
    # Every method but the CORS preflight is IAM-authorized.
    assert all(op.get("security") for ops in doc["paths"].values() for m, op in ops.items() if m != "options")
    post = doc["paths"]["/users"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/UserPost"}
    assert post["x-amazon-apigateway-request-validator"] == "validate-request"
    get_one = doc["paths"]["/users/{id}"]["get"]
    assert get_one["parameters"] == [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
    assert get_one["x-amazon-apigateway-integration"] == {
        "type": "aws_proxy", "httpMethod": "POST", "passthroughBehavior": "when_no_match",
        "uri": {"Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/"
                           "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:"
                           "catalog-prod-users:live/invocations"}}
    # The list route validates nothing, so it names no validator.
    assert "x-amazon-apigateway-request-validator" not in doc["paths"]["/users"]["get"]


def test_one_lambda_permission_per_function(catalog):
    perms = find(catalog["compute"], "AWS::Lambda::Permission", {"Principal": "apigateway.amazonaws.com"})
    assert sorted(perms) == ["ProductsFunctionApiPermission", "UsersFunctionApiPermission"]
    for perm in perms.values():
        # Any route and method of this API's own stage, and nothing else.
        assert perm["Properties"]["SourceArn"]["Fn::Sub"][0].endswith(":${RestApiId}/prod/*/*")
        assert perm["Properties"]["SourceArn"]["Fn::Sub"][1] == {"RestApiId": {"Ref": "RestApiId"}}


def test_client_openapi_document(generated):
    doc = generated["catalog-api"]["openapi"]
    assert doc["openapi"] == "3.0.1" and doc["info"]["title"] == "prod-MyAPI"
    assert "x-amazon-apigateway" not in json.dumps(doc) and "Fn::" not in json.dumps(doc)
    assert doc["paths"]["/users/{id}"]["get"]["operationId"] == "getUsersById"
    ids = [op["operationId"] for ops in doc["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))


def test_waf_four_rules(catalog):
    acl = has_resource_properties(catalog["firewall"], "AWS::WAFv2::WebACL", {})
    rules = next(iter(acl.values()))["Properties"]["Rules"]
    # The seed's four rules, plus the body size limit that replaces the common rule set's 8 KB one.
    assert [r["Name"] for r in rules] == ["RateLimitRule", "BodySizeLimit", "AWSManagedRulesCommonRuleSet",
                                          "AWSManagedRulesKnownBadInputsRuleSet", "AWSManagedRulesSQLiRuleSet"]
    assert [r["Priority"] for r in rules] == sorted(r["Priority"] for r in rules)
    # No CloudFront in front: the API sees client IPs itself, and nothing requires CloudFront.
    assert "OriginVerifySecret" not in catalog["security"]["Resources"]
    assert rules[0]["Statement"] == {"RateBasedStatement": {"Limit": 2000, "AggregateKeyType": "IP"}}
    has_resource_properties(catalog["firewall"], "AWS::WAFv2::WebACLAssociation", {"ResourceArn": {"Ref": "ApiStageArn"}})


def test_monitoring_topic_alarms_dashboard(catalog):
    has_resource_properties(catalog["monitoring"], "AWS::SNS::Topic", {"KmsMasterKeyId": {"Ref": "KeyArn"}})
    # Each alarm lives with what it watches and notifies the topic (a parameter there).
    dims = [{"Name": "ApiName", "Value": {"Ref": "ApiName"}}, {"Name": "Stage", "Value": {"Ref": "Stage"}}]
    for metric, threshold in (("4XXError", 10), ("5XXError", 5), ("Latency", 1000)):
        has_resource_properties(catalog["api-stage"], "AWS::CloudWatch::Alarm", {
            "MetricName": metric, "Threshold": threshold, "Dimensions": dims,
            "AlarmActions": [{"Ref": "AlarmTopicArn"}]})
    # Function alarms reference the functions themselves, never hard-coded names.
    for fn in ("Users", "Products"):
        has_resource_properties(catalog["compute"], "AWS::CloudWatch::Alarm", {
            "MetricName": "Errors", "Threshold": 5, "AlarmActions": [{"Ref": "AlarmTopicArn"}],
            "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": f"{fn}Function"}}]})
    dash = next(iter(resources(catalog["dashboard"], "AWS::CloudWatch::Dashboard").values()))
    text = dash["Properties"]["DashboardBody"]["Fn::Sub"]
    # The compute stack passes its functions' metric rows; substitute an example to read the body.
    rows = '["AWS/Lambda","Invocations","FunctionName","a"],["AWS/Lambda","Invocations","FunctionName","b"]'
    widgets = json.loads(text.replace("${ComputeFunctionMetrics}", rows))["widgets"]
    titles = [w["properties"]["title"] for w in widgets]
    assert titles == ["API requests", "API latency", "API 4XX errors", "API 5XX errors", "Invocations: compute"]
    assert len(widgets[-1]["properties"]["metrics"]) == 2
    assert "prod-user-function" not in text and "catalog-prod-users" not in text
    metrics = catalog["compute"]["Outputs"]["ComputeFunctionMetrics"]["Value"]["Fn::Join"]
    assert metrics[0] == "," and {"Ref": "UsersFunction"} in [m["Fn::Sub"][1]["Fn"] for m in metrics[1]]


def test_outputs(catalog):
    outs = catalog["root"]["Outputs"]
    assert outs["Region"]["Value"] == {"Ref": "AWS::Region"}
    assert outs["Environment"]["Value"] == "prod"
    for name in ("ApiUrl", "WebAclArn", "AlarmTopicArn", "DashboardUrl", "ComputeFunctionNames",
                 "DataTableNames", "DataBucketNames", "KeyArn", "RestApiId"):
        assert outs[name]["Value"] == {"Fn::GetAtt": [outs[name]["Value"]["Fn::GetAtt"][0], f"Outputs.{name}"]}
    # System-level values only: per-resource ARNs stay in the nested stacks' outputs.
    assert "UsersFunctionArn" not in outs and "UsersTableArn" not in outs


def test_no_vpc_in_catalog(catalog):
    assert "network" not in catalog
    assert resource_count(catalog["compute"], "AWS::EC2::SecurityGroup") == 0


def test_api_gateway_logging_role_is_not_the_stages(catalog):
    # An account-wide setting shared by every stage: deleting one stage must not break the others, so the
    # bootstrap stack owns it (and retains it), never a stage.
    for rtype in ("AWS::IAM::Role", "AWS::ApiGateway::Account"):
        assert resource_count(catalog["api-stage"], rtype) == 0
