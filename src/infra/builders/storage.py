"""Tables and buckets with secure defaults: CMK encryption, PITR, TLS-only, no public access."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from awacs.aws import Bool, Condition, Deny, Principal, Statement, StringEquals
from troposphere import GetAtt, Ref, Sub
from troposphere import applicationautoscaling as aas
from troposphere import dynamodb, s3

from infra.actions import s3 as as3
from infra.config.schema import PROJECTIONS, Autoscaling, Bucket, Index, Table, key_attributes, key_roles
from infra.grants import allow, document, suffixed
from infra.naming import logical_id

_TYPES = {"S": "S", "N": "N", "B": "B"}


def _key_schema(partition_key: str, sort_key: str) -> list:
    return [dynamodb.KeySchema(AttributeName=name, KeyType=role) for name, role in key_roles(partition_key, sort_key)]


def _attributes(table: Table) -> list:
    """Each key attribute of the table and its indexes, once (CloudFormation refuses an attribute
    defined twice, or one no key uses)."""
    return [dynamodb.AttributeDefinition(AttributeName=name, AttributeType=_TYPES[kind])
            for name, kind in key_attributes(table).items()]


def _capacity(table: Table, index: Index) -> tuple[int, int]:
    """An index's base read and write capacity: its own, else the table's."""
    return index.read_capacity or table.read_capacity, index.write_capacity or table.write_capacity


def _indexes(table: Table) -> list:
    out = []
    for name, index in sorted(table.indexes.items()):
        props: dict[str, Any] = dict(
            IndexName=name, KeySchema=_key_schema(index.partition_key, index.sort_key),
            Projection=dynamodb.Projection(ProjectionType=PROJECTIONS[index.projection]))
        if table.billing == "provisioned":
            reads, writes = _capacity(table, index)
            props["ProvisionedThroughput"] = dynamodb.ProvisionedThroughput(ReadCapacityUnits=reads,
                                                                            WriteCapacityUnits=writes)
        out.append(dynamodb.GlobalSecondaryIndex(**props))
    return out


def table(logical_id: str, name: str, table: Table, key_arn: Any, *, production: bool) -> dynamodb.Table:
    """A DynamoDB table encrypted with the system key, with point-in-time recovery."""
    props: dict[str, Any] = dict(
        TableName=name,
        AttributeDefinitions=_attributes(table),
        KeySchema=_key_schema(table.partition_key, table.sort_key),
        SSESpecification=dynamodb.SSESpecification(SSEEnabled=True, SSEType="KMS", KMSMasterKeyId=key_arn),
        PointInTimeRecoverySpecification=dynamodb.PointInTimeRecoverySpecification(
            PointInTimeRecoveryEnabled=table.point_in_time_recovery),
        # A production table also resists deletion by anything but a deliberate API call.
        DeletionProtectionEnabled=production,
    )
    if table.billing == "provisioned":
        props["BillingMode"] = "PROVISIONED"
        props["ProvisionedThroughput"] = dynamodb.ProvisionedThroughput(
            ReadCapacityUnits=table.read_capacity, WriteCapacityUnits=table.write_capacity)
    else:
        props["BillingMode"] = "PAY_PER_REQUEST"
    if table.stream:
        props["StreamSpecification"] = dynamodb.StreamSpecification(StreamViewType=table.stream)
    if table.indexes:
        props["GlobalSecondaryIndexes"] = _indexes(table)
    return dynamodb.Table(logical_id, **props)


def table_autoscaling(prefix: str, table_name: str, table: Table, depends_on: str) -> list:
    """Target-tracking auto scaling of reads and writes: min = base, max = base x multiplier, for
    the table and for each of its indexes (an index's capacity is its own: one left out keeps its
    base capacity and throttles the table's writes once they outgrow it).

    No RoleARN: Application Auto Scaling then uses its service-linked role, so we create no
    role with broad DynamoDB rights.
    """
    if table.autoscaling is None:
        return []
    out = _scaling(prefix, table_name, f"table/{table_name}", "table",
                   (table.read_capacity, table.write_capacity), table.autoscaling, depends_on)
    for name, index in sorted(table.indexes.items()):
        out += _scaling(logical_id(prefix, name, "Index"), f"{table_name}-{name}", f"table/{table_name}/index/{name}",
                        "index", _capacity(table, index), table.autoscaling, depends_on)
    return out


def _scaling(prefix: str, policy_prefix: str, resource_id: str, kind: str, bases: tuple[int, int],
             autoscaling: Autoscaling, depends_on: str) -> list:
    """A scalable target and a target-tracking policy for reads and for writes.
    Resource IDs and dimensions: https://docs.aws.amazon.com/autoscaling/application/APIReference/API_RegisterScalableTarget.html"""
    out = []
    for (dim, metric), base in zip((("Read", "DynamoDBReadCapacityUtilization"),
                                    ("Write", "DynamoDBWriteCapacityUtilization")), bases):
        target = aas.ScalableTarget(
            f"{prefix}{dim}ScalableTarget",
            MinCapacity=base,
            MaxCapacity=base * autoscaling.max_multiplier,
            ResourceId=resource_id,
            ScalableDimension=f"dynamodb:{kind}:{dim}CapacityUnits",
            ServiceNamespace="dynamodb",
            DependsOn=[depends_on],
        )
        policy = aas.ScalingPolicy(
            f"{prefix}{dim}ScalingPolicy",
            PolicyName=f"{policy_prefix}-{dim.lower()}-utilization",
            PolicyType="TargetTrackingScaling",
            ScalingTargetId=Ref(target),
            TargetTrackingScalingPolicyConfiguration=aas.TargetTrackingScalingPolicyConfiguration(
                TargetValue=float(autoscaling.target_utilization),
                PredefinedMetricSpecification=aas.PredefinedMetricSpecification(
                    PredefinedMetricType=metric)),
        )
        out += [target, policy]
    return out


def bucket_name(prefix: str) -> Sub:
    """Bucket names are global: account and region make `<project>-<stage>-<name>` unique."""
    return Sub(f"{prefix}-${{AWS::AccountId}}-${{AWS::Region}}")


def _lifecycle(expiry_days: int, noncurrent_days: int) -> s3.LifecycleConfiguration | None:
    rules = []
    if expiry_days:
        rules.append(s3.LifecycleRule(Id="expire-objects", Status="Enabled", ExpirationInDays=expiry_days))
    if noncurrent_days:
        rules.append(s3.LifecycleRule(
            Id="expire-noncurrent-versions", Status="Enabled",
            NoncurrentVersionExpiration=s3.NoncurrentVersionExpiration(NoncurrentDays=noncurrent_days)))
    # Incomplete multipart uploads are invisible storage cost; always clean them up.
    rules.append(s3.LifecycleRule(Id="abort-incomplete-uploads", Status="Enabled",
                                  AbortIncompleteMultipartUpload=s3.AbortIncompleteMultipartUpload(
                                      DaysAfterInitiation=7)))
    return s3.LifecycleConfiguration(Rules=rules)


def bucket(logical_id: str, name: Any, spec: Bucket, key_arn: Any, log_bucket: Any, log_prefix: str) -> s3.Bucket:
    """A private, versioned, encrypted bucket that logs access to the access-log bucket."""
    if spec.encryption == "kms":
        default = s3.ServerSideEncryptionByDefault(SSEAlgorithm="aws:kms", KMSMasterKeyID=key_arn)
    else:
        default = s3.ServerSideEncryptionByDefault(SSEAlgorithm="AES256")
    return s3.Bucket(
        logical_id,
        BucketName=name,
        BucketEncryption=s3.BucketEncryption(ServerSideEncryptionConfiguration=[
            # Bucket keys cut KMS request costs by orders of magnitude.
            s3.ServerSideEncryptionRule(ServerSideEncryptionByDefault=default,
                                        BucketKeyEnabled=spec.encryption == "kms")]),
        PublicAccessBlockConfiguration=block_all(),
        OwnershipControls=s3.OwnershipControls(Rules=[s3.OwnershipControlsRule(ObjectOwnership="BucketOwnerEnforced")]),
        VersioningConfiguration=s3.VersioningConfiguration(Status="Enabled" if spec.versioned else "Suspended"),
        LifecycleConfiguration=_lifecycle(spec.expiry_days, spec.noncurrent_version_expiry_days),
        LoggingConfiguration=s3.LoggingConfiguration(DestinationBucketName=log_bucket, LogFilePrefix=log_prefix),
    )


def block_all() -> s3.PublicAccessBlockConfiguration:
    return s3.PublicAccessBlockConfiguration(BlockPublicAcls=True, BlockPublicPolicy=True,
                                             IgnorePublicAcls=True, RestrictPublicBuckets=True)


def _log_target(name: Any, retention_days: int, ownership: str) -> dict[str, Any]:
    """A bucket that receives logs from an AWS service: SSE-S3 (log delivery cannot use the
    system key), private, versioned, emptied of logs after `retention_days`."""
    return dict(
        BucketName=name,
        BucketEncryption=s3.BucketEncryption(ServerSideEncryptionConfiguration=[
            s3.ServerSideEncryptionRule(ServerSideEncryptionByDefault=s3.ServerSideEncryptionByDefault(
                SSEAlgorithm="AES256"))]),
        PublicAccessBlockConfiguration=block_all(),
        OwnershipControls=s3.OwnershipControls(Rules=[s3.OwnershipControlsRule(ObjectOwnership=ownership)]),
        VersioningConfiguration=s3.VersioningConfiguration(Status="Enabled"),
        LifecycleConfiguration=_lifecycle(retention_days, 1),
    )


def access_log_bucket(logical_id: str, name: Any, retention_days: int) -> s3.Bucket:
    """Target of S3 server access logs. SSE-S3 because S3 log delivery cannot use SSE-KMS."""
    return s3.Bucket(logical_id, **_log_target(name, retention_days, "BucketOwnerEnforced"))


def cloudfront_log_bucket(logical_id: str, name: Any, retention_days: int, log_bucket: Any) -> s3.Bucket:
    """Target of a distribution's standard (legacy) access logs.

    CloudFront writes these logs through the bucket ACL (it grants its awslogsdelivery account
    FULL_CONTROL when logging is enabled), so ACLs must stay enabled: BucketOwnerPreferred, not
    BucketOwnerEnforced, makes the bucket owner own every delivered object
    (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/standard-logging-legacy-s3.html,
    "Permissions"). SSE-S3: CloudFront cannot write to a bucket encrypted with the AWS managed
    aws/s3 KMS key, and SSE-S3 needs no key policy for the log delivery service. Public ACLs
    stay blocked: the only ACL grant is to CloudFront's log delivery account.
    """
    return s3.Bucket(logical_id, **_log_target(name, retention_days, "BucketOwnerPreferred"),
                     LoggingConfiguration=s3.LoggingConfiguration(DestinationBucketName=log_bucket,
                                                                  LogFilePrefix="cloudfront-logs/"))


def tls_only_policy(logical_id: str, bucket: s3.Bucket, extra: Sequence[Statement] = ()) -> s3.BucketPolicy:
    """Deny every request that does not use TLS, for the bucket and its objects."""
    arn = GetAtt(bucket, "Arn")
    deny = Statement(Sid="DenyInsecureTransport", Effect=Deny, Principal=Principal("*"),
                     Action=[as3.Action("*")], Resource=[arn, suffixed(arn, "/*")],
                     Condition=Condition(Bool("aws:SecureTransport", "false")))
    return s3.BucketPolicy(logical_id, Bucket=Ref(bucket), PolicyDocument=document([deny, *extra]))


def log_delivery_statement(bucket: s3.Bucket) -> Statement:
    """Let S3 server access logging write into the log bucket, for this account's buckets only."""
    return allow([as3.PutObject], [suffixed(GetAtt(bucket, "Arn"), "/*")], "S3ServerAccessLogs",
                 Principal=Principal("Service", ["logging.s3.amazonaws.com"]),
                 Condition=Condition(StringEquals("aws:SourceAccount", Sub("${AWS::AccountId}"))))
