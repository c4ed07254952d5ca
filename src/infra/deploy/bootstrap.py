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

Its template is built in `infra.deploy.bootstrap_template` (troposphere and awacs load only when
it is needed); this module holds what the plan and the checks read about the stack.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from infra.resource_types import STAGE

STACK_NAME = "serverless-infra-artifacts"
BUCKET_ID = "ArtifactBucket"
ROLE_ID = "ApiGatewayCloudWatchRole"
ACCOUNT_ID = "ApiGatewayAccount"
ROLE_OUTPUT = "ApiGatewayCloudWatchRoleArn"
NONCURRENT_DAYS = 30


def logs_api_gateway(templates: Iterable[dict[str, Any]]) -> bool:
    """True when a REST API stage in `templates` logs (access or execution logs), so it needs
    API Gateway's CloudWatch Logs role set for the account and region."""
    for template in templates:
        for res in (template.get("Resources") or {}).values():
            if res.get("Type") != STAGE:
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
