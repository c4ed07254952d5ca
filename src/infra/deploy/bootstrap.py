"""The artifact bucket, in a small per-region bootstrap stack (used when no --bucket is given).

The bucket is encrypted (SSE-S3), versioned, blocks all public access, enforces bucket-owner
object ownership, and its policy (awacs) denies any request not made over TLS. Old object
versions expire after 30 days. The bucket is retained if the bootstrap stack is deleted: deployed
stacks' console links and rollbacks may still need what it holds.
"""
from __future__ import annotations

import json
from typing import Any

STACK_NAME = "serverless-infra-artifacts"
BUCKET_ID = "ArtifactBucket"
NONCURRENT_DAYS = 30


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
    return t.to_json(indent=2, sort_keys=True) + "\n"


def bucket_name(cfn: Any) -> str:
    """The artifact bucket of the bootstrap stack (its physical id)."""
    detail = cfn.describe_stack_resource(StackName=STACK_NAME, LogicalResourceId=BUCKET_ID)
    return detail["StackResourceDetail"]["PhysicalResourceId"]
