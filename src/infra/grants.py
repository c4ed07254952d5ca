"""Least-privilege IAM statements built with awacs, from the resources they are about.

Each grant names exact actions (never a wildcard action) on exact resources. The only `*`
resources are for actions AWS does not scope to a resource (X-Ray writes, GetRandomPassword,
EC2 Describe calls, a release hook's status report).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from awacs.aws import Action, Allow, Condition, ArnEquals, Deny, PolicyDocument, Principal, Statement
from troposphere import Sub

from infra.actions import (awslambda, cloudfront, cloudwatch, codedeploy, dynamodb, ec2, kms, logs, s3, secretsmanager,
                           sqs, ssm, wafv2, xray)

VERSION = "2012-10-17"

TABLE_READ = [dynamodb.BatchGetItem, dynamodb.ConditionCheckItem, dynamodb.DescribeTable,
              dynamodb.GetItem, dynamodb.Query, dynamodb.Scan]
TABLE_WRITE = [dynamodb.BatchWriteItem, dynamodb.DeleteItem, dynamodb.PutItem, dynamodb.UpdateItem]
BUCKET_READ = [s3.GetObject]
BUCKET_WRITE = [s3.PutObject, s3.DeleteObject]
KEY_DECRYPT = [kms.Decrypt, kms.DescribeKey]
KEY_ENCRYPT = [kms.Encrypt, kms.GenerateDataKey, kms.ReEncryptFrom, kms.ReEncryptTo]
# The group API Gateway creates when its account-level logging role is set (see apigateway_logging).
APIGATEWAY_WELCOME_LOG_GROUP = "/aws/apigateway/welcome"


def suffixed(arn: Any, suffix: str) -> Sub:
    """`arn` + a literal suffix (e.g. '/*' for a bucket's objects) as one Fn::Sub."""
    return Sub(f"${{Arn}}{suffix}", Arn=arn)


def document(statements: Iterable[Statement]) -> PolicyDocument:
    """A policy document with its Version always set."""
    return PolicyDocument(Version=VERSION, Statement=list(statements))


def allow(actions: Sequence[Action], resources: list[Any], sid: str = "", **kwargs: Any) -> Statement:
    """One Allow statement; actions are sorted so output is stable."""
    actions = sorted(actions, key=lambda a: a.JSONrepr())
    if sid:
        kwargs["Sid"] = sid
    return Statement(Effect=Allow, Action=actions, Resource=resources, **kwargs)


def assume_role(service: str) -> PolicyDocument:
    """Trust policy letting one AWS service assume the role."""
    return document([Statement(Effect=Allow, Action=[Action("sts", "AssumeRole")],
                               Principal=Principal("Service", [service]))])


def table(arn: Any, level: str, sid: str) -> Statement:
    """Read, write or read-write on one table and its indexes."""
    actions = (TABLE_READ if "read" in level else []) + (TABLE_WRITE if "write" in level else [])
    return allow(actions, [arn, suffixed(arn, "/index/*")], sid)


def bucket_objects(arn: Any, level: str, sid: str) -> list[Statement]:
    """Object read/write in one bucket, plus ListBucket on the bucket itself for reads."""
    actions = (BUCKET_READ if "read" in level else []) + (BUCKET_WRITE if "write" in level else [])
    statements = [allow(actions, [suffixed(arn, "/*")], sid)]
    if "read" in level:
        statements.append(allow([s3.ListBucket], [arn], f"{sid}List"))
    return statements


def failure_destination(arn: Any, sid: str) -> Statement:
    """What Lambda needs to write failed async events to an S3 bucket destination."""
    return allow([s3.PutObject, s3.ListBucket], [arn, suffixed(arn, "/*")], sid)


def dead_letters(queue_arn: Any, key_arn: Any, sid: str) -> list[Statement]:
    """What Lambda needs, through the function's role, to send failed asynchronous events to an
    SQS dead-letter queue encrypted with a customer key: SendMessage on the queue, and a data
    key from the key (SQS encrypts each message with it).
    https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html#invocation-dlq
    https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html
    """
    return [allow([sqs.SendMessage], [queue_arn], sid),
            allow([kms.GenerateDataKey, kms.Decrypt], [key_arn], f"{sid}Key")]


def secret(arn: Any, level: str, sid: str) -> list[Statement]:
    """Read a secret, or everything a rotation function does to it."""
    if level == "rotate":
        return [
            allow([secretsmanager.DescribeSecret, secretsmanager.GetSecretValue,
                   secretsmanager.PutSecretValue, secretsmanager.UpdateSecretVersionStage], [arn], sid),
            # GetRandomPassword acts on no resource: AWS only accepts "*" here.
            allow([secretsmanager.GetRandomPassword], ["*"], f"{sid}Password"),
        ]
    return [allow([secretsmanager.DescribeSecret, secretsmanager.GetSecretValue], [arn], sid)]


def key(arn: Any, level: str, sid: str) -> Statement:
    """Use of a KMS key: decrypt only, or encrypt and decrypt (data keys included)."""
    actions = KEY_DECRYPT + (KEY_ENCRYPT if level == "encrypt-decrypt" else [])
    return allow(actions, [arn], sid)


def log_group_write(log_group_arn: Any, sid: str) -> Statement:
    """Write to one log group's streams; no CreateLogGroup, the stack owns the group.

    Pass the group's `GetAtt Arn`, which already ends in ':*' and so covers its streams.
    """
    return allow([logs.CreateLogStream, logs.PutLogEvents], [log_group_arn], sid)


def xray_write(sid: str) -> Statement:
    """Send traces; X-Ray has no resource-level permissions for these, hence "*"."""
    return allow([xray.PutTelemetryRecords, xray.PutTraceSegments, xray.GetSamplingRules,
                  xray.GetSamplingTargets], ["*"], sid)


def arn(service: str, resource: str) -> Sub:
    """An ARN in this partition, region and account: never hard-coded."""
    return Sub(f"arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{resource}")


def vpc_network_interfaces(vpc_id: Any, sid: str) -> list[Statement]:
    """What Lambda does with the execution role to attach a function to a VPC, instead of the
    AWSLambdaVPCAccessExecutionRole managed policy (which grants the same actions on "*").

    The actions are the ones the Lambda developer guide lists for VPC functions
    (https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc.html, "Execution role
    permissions"); CreateLogGroup is left out on purpose, the stack owns the function's log group.
    """
    eni = arn("ec2", "network-interface/*")
    in_vpc = Condition(ArnEquals("ec2:Vpc", [
        Sub("arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:vpc/${Vpc}", Vpc=vpc_id)]))
    return [
        # CreateNetworkInterface authorizes the new interface, its subnet and its security groups
        # (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html);
        # each accepts the ec2:Vpc condition key, so interfaces can only be created in this
        # system's VPC.
        allow([ec2.CreateNetworkInterface], [eni, arn("ec2", "subnet/*"), arn("ec2", "security-group/*")],
              f"{sid}Create", Condition=in_vpc),
        # Lambda deletes and re-addresses the interfaces it created; the developer guide warns that
        # DeleteNetworkInterface must cover every interface ID, so these are scoped to the
        # interfaces of this account and region, not to IDs unknown at deploy time.
        allow([ec2.DeleteNetworkInterface, ec2.AssignPrivateIpAddresses, ec2.UnassignPrivateIpAddresses],
              [eni], f"{sid}Manage"),
        # Describe* calls have no resource-level permissions: AWS only accepts "*" here (the Lambda
        # guide: DescribeNetworkInterfaces "only works if it's allowed on all resources").
        allow([ec2.DescribeNetworkInterfaces, ec2.DescribeSubnets], ["*"], f"{sid}Describe"),
    ]


def apigateway_logging(sid: str) -> list[Statement]:
    """What API Gateway's account-level CloudWatch role needs, instead of the
    AmazonAPIGatewayPushToCloudWatchLogs managed policy (the same seven actions on "*").

    The actions are those API Gateway's logging guide lists for the role
    (https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-logging.html). The role is
    one setting per account and region that every REST API there logs through (execution logs to
    API-Gateway-Execution-Logs_<api>/<stage>, access logs to whatever group each stage names), so
    it is scoped to this account's and region's log groups and streams, not to one API's groups:
    a narrower role would silently stop other APIs' logs.

    One group is excluded: `/aws/apigateway/welcome`, which API Gateway creates through this role
    when the role is set, unencrypted and never expiring, for a single "logs enabled" message.
    Creating it is denied (an explicit Deny wins over the Allow), so that group is never made;
    an existing one is still written to. It is not pre-created instead: it belongs to the account
    and region, not to a stage, and creating one that exists fails the deploy.
    """
    groups = arn("logs", "log-group:*")
    streams = arn("logs", "log-group:*:log-stream:*")
    return [
        allow([logs.CreateLogGroup, logs.CreateLogStream, logs.DescribeLogGroups, logs.DescribeLogStreams,
               logs.FilterLogEvents], [groups], f"{sid}Groups"),
        allow([logs.PutLogEvents, logs.GetLogEvents], [streams], f"{sid}Streams"),
        # Both ARN forms: CloudWatch Logs authorizes some calls on "log-group:<name>:*".
        Statement(Sid=f"{sid}NoWelcomeGroup", Effect=Deny, Action=[logs.CreateLogGroup],
                  Resource=[arn("logs", f"log-group:{APIGATEWAY_WELCOME_LOG_GROUP}"),
                            arn("logs", f"log-group:{APIGATEWAY_WELCOME_LOG_GROUP}:*")]),
    ]


def origin_verify_rotation(secret_arn: Any, web_acl: str, edge_web_acl: str, parameter: str, log_bucket: str,
                           sid: str) -> list[Statement]:
    """What the origin-verify rotation function (handlers/origin_verify) does: rotate the secret,
    read the SSM parameter naming its targets, rewrite the regional web ACL `web_acl` and the
    distribution's origin header. `log_bucket` is the name prefix of the bucket receiving the
    distribution's standard logs (`<prefix>-<account>-<region>`)."""
    return [
        *secret(secret_arn, "rotate", sid),
        allow([ssm.GetParameter], [arn("ssm", f"parameter{parameter}")], f"{sid}Targets"),
        # UpdateWebACL authorizes the web ACL and the managed rule groups it references
        # (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awswafv2.html).
        allow([wafv2.GetWebACL, wafv2.UpdateWebACL],
              [arn("wafv2", f"regional/webacl/{web_acl}/*"), arn("wafv2", "regional/managedruleset/*")], f"{sid}WebAcl"),
        # The distribution's ID is only known once the edge stack exists, after this function,
        # so the grant covers this account's distributions (CloudFront ARNs have no region).
        allow([cloudfront.GetDistribution, cloudfront.GetDistributionConfig, cloudfront.UpdateDistribution],
              [Sub("arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/*")], f"{sid}Distribution"),
        # UpdateDistribution re-submits the distribution's CLOUDFRONT-scope web ACL (us-east-1),
        # which CloudFront checks the caller can read.
        allow([wafv2.GetWebACL], [Sub(f"arn:${{AWS::Partition}}:wafv2:us-east-1:${{AWS::AccountId}}:global/webacl/{edge_web_acl}/*")],
              f"{sid}EdgeWebAcl"),
        # With standard logging on, UpdateDistribution also needs s3:GetBucketAcl and
        # s3:PutBucketAcl on the log bucket ("CloudFront API permissions reference",
        # https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/cf-api-permissions-ref.html):
        # CloudFront re-applies its log-delivery grant to the bucket ACL as the caller.
        allow([s3.GetBucketAcl, s3.PutBucketAcl],
              [Sub(f"arn:${{AWS::Partition}}:s3:::{log_bucket}-${{AWS::AccountId}}-${{AWS::Region}}")], f"{sid}LogBucketAcl"),
    ]


def release_traffic(function: str, alias: str, alarms: list[str], hooks: list[str], provisioned: bool,
                    sid: str) -> list[Statement]:
    """What CodeDeploy does, through a deployment group's service role, to release one function,
    instead of the AWSCodeDeployRoleForLambda managed policy (the same actions on "*", hooks named
    CodeDeployHook_*, and S3 and SNS access a Lambda release without AppSpec file or triggers
    never uses; https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AWSCodeDeployRoleForLambda.html).

    `function` and `hooks` are function names, `alarms` alarm names: all fixed names, so the
    statements need no reference to the alias or the alarms (which would be circular)."""
    fn = arn("lambda", f"function:{function}")
    # Lambda authorizes alias actions on the function's or the alias's ARN; both name this function only.
    out = [allow([awslambda.GetAlias, awslambda.UpdateAlias], [fn, arn("lambda", f"function:{function}:{alias}")], sid)]
    if provisioned:
        # CodeDeploy waits for the new version's provisioned concurrency before it moves traffic.
        out.append(allow([awslambda.GetProvisionedConcurrencyConfig], [arn("lambda", f"function:{function}:*")],
                         f"{sid}Concurrency"))
    if alarms:
        # DescribeAlarms is authorized per alarm (resource type "alarm" in
        # https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html).
        out.append(allow([cloudwatch.DescribeAlarms], [arn("cloudwatch", f"alarm:{a}") for a in alarms], f"{sid}Alarms"))
    if hooks:
        out.append(allow([awslambda.InvokeFunction], [arn("lambda", f"function:{h}") for h in hooks], f"{sid}Hooks"))
    return out


def release_hook(targets: list[str], sid: str) -> list[Statement]:
    """What a before- or after-traffic hook does: call the versions of the functions it tests
    (the version being released is the newest), and report Succeeded or Failed to CodeDeploy.

    PutLifecycleEventHookExecutionStatus has no resource-level permissions (no resource type in
    https://docs.aws.amazon.com/service-authorization/latest/reference/list_awscodedeploy.html):
    AWS only accepts "*" for it; the call needs the deployment's ID and the hook execution's ID,
    which only CodeDeploy's invocation of the hook carries."""
    functions = [arn("lambda", f"function:{t}") for t in targets]
    versions = [arn("lambda", f"function:{t}:*") for t in targets]
    return [allow([codedeploy.PutLifecycleEventHookExecutionStatus], ["*"], sid),
            allow([awslambda.InvokeFunction], [*functions, *versions], f"{sid}Targets")]
