"""The system's customer-managed KMS key and its policy."""
from __future__ import annotations

from awacs.aws import Allow, Condition, ArnLike, Principal, Statement, StringEquals
from troposphere import Sub
from troposphere import kms as tkms

from infra.actions import kms
from infra.grants import document

# Enumerated rather than kms:*: the account keeps full control (PutKeyPolicy included, so the
# key can never become unmanageable) without a wildcard action.
ADMIN_ACTIONS = [
    kms.CancelKeyDeletion, kms.CreateAlias, kms.CreateGrant, kms.Decrypt, kms.DeleteAlias,
    kms.DescribeKey, kms.DisableKey, kms.DisableKeyRotation, kms.EnableKey, kms.EnableKeyRotation,
    kms.Encrypt, kms.GenerateDataKey, kms.GenerateDataKeyWithoutPlaintext, kms.GetKeyPolicy,
    kms.GetKeyRotationStatus, kms.ListGrants, kms.ListKeyPolicies, kms.ListResourceTags,
    kms.PutKeyPolicy, kms.ReEncryptFrom, kms.ReEncryptTo, kms.RetireGrant, kms.RevokeGrant,
    kms.RotateKeyOnDemand, kms.ScheduleKeyDeletion, kms.TagResource, kms.UntagResource,
    kms.UpdateAlias, kms.UpdateKeyDescription,
]
SERVICE_USE = [kms.Decrypt, kms.DescribeKey, kms.Encrypt, kms.GenerateDataKey,
               kms.GenerateDataKeyWithoutPlaintext, kms.ReEncryptFrom, kms.ReEncryptTo]


def key_policy(*, alarms_topic: bool) -> object:
    """Account administers the key and delegates use to IAM; services get scoped use."""
    statements = [
        Statement(Sid="AccountAdministers", Effect=Allow,
                  Principal=Principal("AWS", [Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")]),
                  Action=ADMIN_ACTIONS, Resource=["*"]),
        # CloudWatch Logs encrypts log groups with the key, only for this account's groups.
        Statement(Sid="LogsEncryptLogGroups", Effect=Allow,
                  Principal=Principal("Service", [Sub("logs.${AWS::Region}.amazonaws.com")]),
                  Action=SERVICE_USE, Resource=["*"],
                  Condition=Condition(ArnLike(
                      "kms:EncryptionContext:aws:logs:arn",
                      Sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*")))),
    ]
    if alarms_topic:
        # CloudWatch alarms publish to the encrypted SNS topic.
        statements.append(Statement(
            Sid="CloudWatchPublishesAlarms", Effect=Allow,
            Principal=Principal("Service", ["cloudwatch.amazonaws.com"]),
            Action=[kms.Decrypt, kms.GenerateDataKey], Resource=["*"],
            Condition=Condition(StringEquals("aws:SourceAccount", Sub("${AWS::AccountId}")))))
    return document(statements)


def customer_key(logical_id: str, description: str, *, production: bool, alarms_topic: bool) -> tkms.Key:
    """Symmetric key with yearly rotation; a throwaway stage's key is deletable after 7 days."""
    return tkms.Key(
        logical_id,
        Description=description,
        EnableKeyRotation=True,
        KeyPolicy=key_policy(alarms_topic=alarms_topic),
        PendingWindowInDays=30 if production else 7,
    )
