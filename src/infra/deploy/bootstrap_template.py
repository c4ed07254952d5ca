"""The bootstrap stack's template (troposphere, awacs): the artifact bucket and API Gateway's
CloudWatch Logs role of the account and region (`infra.deploy.bootstrap` says why)."""
from __future__ import annotations

import json
from typing import Any

from infra import grants
from infra.deploy.bootstrap import ACCOUNT_ID, BUCKET_ID, NONCURRENT_DAYS, ROLE_ID, ROLE_OUTPUT


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
