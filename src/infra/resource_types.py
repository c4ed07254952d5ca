"""What the tool knows about each CloudFormation resource type, in one table.

Every fact about a type lives here and nowhere else: which types hold data (the generator lists
them in manifest.json; stack policies protect them; a diff notes them), which ones production
stages retain and how a retained one is found and imported again, which property names it, which
property changes replace it, and which ones carry access policies. The generator, the diff, the
import of retained resources, the preflight checks and `destroy` all read this table.

Adding a type is one entry in `TYPES` (an importable one also needs its finder in
`infra.deploy.retained`, which a test checks).
"""
from __future__ import annotations

import functools

from infra.records import record

NESTED_STACK = "AWS::CloudFormation::Stack"
# The types sync changes in place (and the Deployment a synced stage points away from).
FUNCTION = "AWS::Lambda::Function"
REST_API = "AWS::ApiGateway::RestApi"
DEPLOYMENT = "AWS::ApiGateway::Deployment"
STAGE = "AWS::ApiGateway::Stage"

# Deletion policies (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-attribute-deletionpolicy.html):
# with these the resource itself outlives its stack, so a later deploy can import it again;
KEEPS_RESOURCE = frozenset({"Retain", "RetainExceptOnCreate"})
# with Snapshot the resource is deleted and a snapshot of it stays: something is kept, nothing to import.
KEEPS_SNAPSHOT = frozenset({"Snapshot"})
KEPT_ON_DELETE = KEEPS_RESOURCE | KEEPS_SNAPSHOT


@record
class ResourceType:
    """Facts about one resource type (all default to "no")."""

    stateful: bool = False            # holds data: protected by stack policies, removal needs --allow-removal
    retained: bool = False            # the generator retains it in production stages (DeletionPolicy Retain)
    name_property: str = ""           # the property giving it a custom name ("" when it has none)
    import_identifier: str = ""       # ResourcesToImport identifier key (its schema's primaryIdentifier)
    replacing: frozenset[str] = frozenset()   # "Update requires: Replacement" beyond createOnlyProperties
    replacing_complete: bool = False  # `replacing` is complete without the registry schema
    policy_property: str = ""         # the property holding an access policy document
    grants_access: bool = False       # any change to it is an IAM change (permissions, key policies)
    gone_with_parent: bool = False    # deleted with what holds it even when retained (destroy keeps nothing)

    @property
    def importable(self) -> bool:
        return bool(self.import_identifier)


def _set(*names: str) -> frozenset[str]:
    return frozenset(names)


TYPES: dict[str, ResourceType] = {
    # Stateful: the data a stage exists for. Retained in production, importable after a destroy.
    "AWS::DynamoDB::Table": ResourceType(
        stateful=True, retained=True, name_property="TableName", import_identifier="TableName",
        replacing=_set("TableName", "KeySchema", "LocalSecondaryIndexes", "ImportSourceSpecification"),
        replacing_complete=True),
    "AWS::S3::Bucket": ResourceType(
        stateful=True, retained=True, name_property="BucketName", import_identifier="BucketName",
        replacing=_set("BucketName", "ObjectLockEnabled"), replacing_complete=True),
    # A KMS key has no unique name: a retained one is found by the tags CloudFormation put on it.
    "AWS::KMS::Key": ResourceType(
        stateful=True, retained=True, import_identifier="KeyId", replacing=_set("KeySpec", "KeyUsage", "Origin"),
        replacing_complete=True, policy_property="KeyPolicy", grants_access=True),
    "AWS::SecretsManager::Secret": ResourceType(
        stateful=True, retained=True, name_property="Name", import_identifier="Id", replacing=_set("Name"),
        replacing_complete=True),
    # Retained in production too (their contents matter), but not protected by stack policies.
    "AWS::Logs::LogGroup": ResourceType(
        retained=True, name_property="LogGroupName", import_identifier="LogGroupName", replacing=_set("LogGroupName")),
    "AWS::SQS::Queue": ResourceType(
        retained=True, name_property="QueueName", import_identifier="QueueUrl", replacing=_set("QueueName", "FifoQueue")),
    # A user pool has no unique name either: found by CloudFormation's tags, like a key.
    "AWS::Cognito::UserPool": ResourceType(retained=True, import_identifier="UserPoolId"),
    # Named resources: "If you specify a name, you can't perform updates that require replacement of this
    # resource" (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-name.html).
    "AWS::Lambda::Function": ResourceType(name_property="FunctionName", replacing=_set("FunctionName", "PackageType")),
    # Retained so that a release never deletes the version its alias serves; it goes with its function.
    "AWS::Lambda::Version": ResourceType(gone_with_parent=True),
    "AWS::IAM::Role": ResourceType(name_property="RoleName", replacing=_set("RoleName", "Path"), grants_access=True),
    "AWS::IAM::ManagedPolicy": ResourceType(name_property="ManagedPolicyName", replacing=_set("ManagedPolicyName", "Path"),
                                            policy_property="PolicyDocument", grants_access=True),
    "AWS::IAM::Policy": ResourceType(policy_property="PolicyDocument", grants_access=True),
    "AWS::IAM::RolePolicy": ResourceType(policy_property="PolicyDocument", grants_access=True),
    "AWS::SNS::Topic": ResourceType(name_property="TopicName", replacing=_set("TopicName", "FifoTopic")),
    "AWS::SSM::Parameter": ResourceType(name_property="Name", replacing=_set("Name")),
    "AWS::KMS::Alias": ResourceType(name_property="AliasName", replacing=_set("AliasName")),
    "AWS::CloudWatch::Alarm": ResourceType(name_property="AlarmName", replacing=_set("AlarmName")),
    "AWS::CloudWatch::Dashboard": ResourceType(name_property="DashboardName", replacing=_set("DashboardName")),
    "AWS::CodeBuild::Project": ResourceType(name_property="Name"),
    "AWS::CodePipeline::Pipeline": ResourceType(name_property="Name"),
    "AWS::ApiGateway::RestApi": ResourceType(name_property="Name", policy_property="Policy"),
    "AWS::ApiGateway::Resource": ResourceType(replacing=_set("ParentId", "PathPart", "RestApiId")),
    "AWS::ApiGateway::Method": ResourceType(replacing=_set("RestApiId", "ResourceId", "HttpMethod")),
    "AWS::ApiGateway::Stage": ResourceType(replacing=_set("RestApiId", "StageName")),
    "AWS::ApiGateway::Deployment": ResourceType(replacing=_set("RestApiId", "DeploymentCanarySettings")),
    "AWS::ApiGateway::Model": ResourceType(replacing=_set("RestApiId", "Name", "ContentType")),
    # The account's CloudWatch Logs role for API Gateway: choosing it is an access decision.
    "AWS::ApiGateway::Account": ResourceType(grants_access=True),
    "AWS::WAFv2::WebACL": ResourceType(replacing=_set("Name", "Scope")),
    "AWS::WAFv2::WebACLAssociation": ResourceType(replacing=_set("ResourceArn", "WebACLArn")),
    "AWS::Lambda::Permission": ResourceType(
        replacing=_set("Action", "FunctionName", "Principal", "SourceArn", "SourceAccount"), grants_access=True),
    # Resource policies: who may use the resource.
    "AWS::S3::BucketPolicy": ResourceType(policy_property="PolicyDocument", grants_access=True),
    "AWS::SNS::TopicPolicy": ResourceType(policy_property="PolicyDocument", grants_access=True),
    "AWS::SQS::QueuePolicy": ResourceType(policy_property="PolicyDocument", grants_access=True),
    "AWS::Logs::ResourcePolicy": ResourceType(policy_property="PolicyDocument", grants_access=True),
    "AWS::SecretsManager::ResourcePolicy": ResourceType(policy_property="ResourcePolicy", grants_access=True),
}
UNKNOWN = ResourceType()


def facts(resource_type: str) -> ResourceType:
    """What is known about `resource_type` (nothing, for a type not in the table)."""
    return TYPES.get(resource_type, UNKNOWN)


def stateful_types() -> list[str]:
    """Types that hold data, sorted: the manifest's `stateful_types`."""
    return sorted(t for t, f in TYPES.items() if f.stateful)


def retained_types() -> list[str]:
    """Types the generator retains in production stages, sorted."""
    return sorted(t for t, f in TYPES.items() if f.retained)


def importable_types() -> list[str]:
    """Types a deploy can import after a destroy (identified by name or by CloudFormation's tags), sorted."""
    return sorted(t for t, f in TYPES.items() if f.importable)


@functools.cache
def replacing_properties(resource_type: str) -> frozenset[str] | None:
    """Top-level properties whose change replaces a resource; None when the type is unknown.

    The table's `replacing` plus the registry schema's createOnlyProperties (cfn-lint ships the
    schemas); without the schema only a type marked `replacing_complete` is known.
    """
    known = set(facts(resource_type).replacing)
    try:
        from cfnlint.schema.manager import PROVIDER_SCHEMA_MANAGER

        schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", resource_type).schema
    except Exception:  # unknown type, or cfn-lint's schema store unavailable
        return frozenset(known) if facts(resource_type).replacing_complete else None
    for pointer in schema.get("createOnlyProperties", []) or []:
        parts = pointer.split("/")
        if len(parts) >= 3 and parts[1] == "properties":
            known.add(parts[2])
    return frozenset(known)


@functools.cache
def required_properties(resource_type: str) -> frozenset[str]:
    """Properties the registry schema requires (empty when the type or the schema store is unknown)."""
    try:
        from cfnlint.schema.manager import PROVIDER_SCHEMA_MANAGER

        schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", resource_type).schema
    except Exception:  # unknown type or no schema store: nothing known to be required
        return frozenset()
    return frozenset(schema.get("required") or [])
