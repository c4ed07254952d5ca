"""The per-account-and-region bootstrap stack (like the CDK's): what every stage in a region shares.

- The artifact bucket (used when no --bucket is given): encrypted (SSE-S3), versioned, all public
  access blocked, bucket-owner object ownership, a policy (awacs) denying any request not made over
  TLS; old object versions expire after 30 days. Retained if the bootstrap stack is deleted:
  deployed stacks' console links and rollbacks may still need what it holds.
- API Gateway's CloudWatch Logs role (`AWS::ApiGateway::Account`), an account-and-region setting
  ("you should only have one AWS::ApiGateway::Account resource per region per account":
  https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-apigateway-account.html).
  No stage can log without it (a stage with logging fails to create: "CloudWatch Logs role ARN
  must be set in account settings to enable logging"), and a stage that set it would leave every
  other stage of the region pointing at a deleted role when it is destroyed. Owned here, once, and
  retained like the bucket. `preflight` checks it (GetAccount).
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from infra import grants

STACK_NAME = "serverless-infra-artifacts"
BUCKET_ID = "ArtifactBucket"
ROLE_ID = "ApiGatewayCloudWatchRole"
ACCOUNT_ID = "ApiGatewayAccount"
ROLE_OUTPUT = "ApiGatewayCloudWatchRoleArn"
NONCURRENT_DAYS = 30
STAGE_TYPE = "AWS::ApiGateway::Stage"


def template() -> str:
    """The bootstrap template (troposphere), deterministic JSON."""
    from awacs.aws import Bool, Condition, Deny, PolicyDocument, Principal, Statement
    from awacs.s3 import ARN as S3_ARN
    from awacs.s3 import Action as S3Action
    from troposphere import GetAtt, Output, Ref, Sub, Tags, Template, s3

    t = Template(Description="serverless-infra artifact bucket: handler zips and templates, stored by content hash.")
    t.set_version("2010-09-09")
    bucket = t.add_resource(s3.Bucket(
        BUCKET_ID,
        BucketEncryption=s3.BucketEncryption(ServerSideEncryptionConfiguration=[
            s3.ServerSideEncryptionRule(
                ServerSideEncryptionByDefault=s3.ServerSideEncryptionByDefault(SSEAlgorithm="AES256"),
            ),
        ]),
        VersioningConfiguration=s3.VersioningConfiguration(Status="Enabled"),
        PublicAccessBlockConfiguration=s3.PublicAccessBlockConfiguration(
            BlockPublicAcls=True, BlockPublicPolicy=True, IgnorePublicAcls=True, RestrictPublicBuckets=True,
        ),
        OwnershipControls=s3.OwnershipControls(Rules=[
            s3.OwnershipControlsRule(ObjectOwnership="BucketOwnerEnforced"),
        ]),
        LifecycleConfiguration=s3.LifecycleConfiguration(Rules=[
            s3.LifecycleRule(
                Id="ExpireOldVersions",
                Status="Enabled",
                NoncurrentVersionExpiration=s3.NoncurrentVersionExpiration(NoncurrentDays=NONCURRENT_DAYS),
                AbortIncompleteMultipartUpload=s3.AbortIncompleteMultipartUpload(DaysAfterInitiation=1),
            ),
        ]),
        Tags=Tags(ManagedBy="serverless-infra", Purpose="artifacts"),
        DeletionPolicy="Retain",
        UpdateReplacePolicy="Retain",
    ))
    policy = PolicyDocument(Version="2012-10-17", Statement=[
        Statement(
            Sid="DenyInsecureTransport",
            Effect=Deny,
            Principal=Principal("*"),
            Action=[S3Action("*")],
            Resource=[S3_ARN("${%s}" % BUCKET_ID), S3_ARN("${%s}/*" % BUCKET_ID)],
            Condition=Condition(Bool({"aws:SecureTransport": "false"})),
        ),
    ])
    doc = json.loads(policy.to_json())
    for st in doc["Statement"]:
        st["Resource"] = [Sub(r.replace("arn:aws:", "arn:${AWS::Partition}:")).to_dict() for r in st["Resource"]]
    t.add_resource(s3.BucketPolicy("ArtifactBucketPolicy", Bucket=Ref(bucket), PolicyDocument=doc))
    t.add_output(Output("BucketName", Value=Ref(bucket), Description="Artifact bucket name"))
    t.add_output(Output("BucketArn", Value=GetAtt(bucket, "Arn"), Description="Artifact bucket ARN"))
    _api_gateway_account(t)
    return t.to_json(indent=2, sort_keys=True) + "\n"


def _api_gateway_account(t: Any) -> None:
    """API Gateway's CloudWatch Logs role for the account and region (scoped as grants explains)."""
    from troposphere import GetAtt, Output, Tags, apigateway, iam

    role = t.add_resource(iam.Role(
        ROLE_ID,
        Description="API Gateway pushes execution and access logs of every REST API in this region with it",
        AssumeRolePolicyDocument=grants.assume_role("apigateway.amazonaws.com"),
        Policies=[iam.Policy(PolicyName="push-to-cloudwatch-logs",
                             PolicyDocument=grants.document(grants.apigateway_logging("ApiGatewayLogs")))],
        Tags=Tags(ManagedBy="serverless-infra", Purpose="api-gateway-logging"),
        DeletionPolicy="Retain",
        UpdateReplacePolicy="Retain",
    ))
    t.add_resource(apigateway.Account(ACCOUNT_ID, CloudWatchRoleArn=GetAtt(role, "Arn"),
                                      DeletionPolicy="Retain", UpdateReplacePolicy="Retain"))
    t.add_output(Output(ROLE_OUTPUT, Value=GetAtt(role, "Arn"),
                        Description="API Gateway's CloudWatch Logs role for this account and region"))


def logs_api_gateway(templates: Iterable[dict[str, Any]]) -> bool:
    """True when a REST API stage in `templates` logs (access or execution logs), so it needs
    API Gateway's CloudWatch Logs role set for the account and region."""
    for template in templates:
        for res in (template.get("Resources") or {}).values():
            if res.get("Type") != STAGE_TYPE:
                continue
            props = res.get("Properties") or {}
            if props.get("AccessLogSetting"):
                return True
            if any((m or {}).get("LoggingLevel", "OFF") != "OFF" for m in props.get("MethodSettings") or []):
                return True
    return False


def bucket_name(cfn: Any) -> str:
    """The artifact bucket of the bootstrap stack (its physical id)."""
    detail = cfn.describe_stack_resource(StackName=STACK_NAME, LogicalResourceId=BUCKET_ID)
    return detail["StackResourceDetail"]["PhysicalResourceId"]
