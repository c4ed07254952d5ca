"""CloudFormation (and neighbouring service) quotas, checked on every generated template.

https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html
"""
from __future__ import annotations

import json
from typing import Any

from infra.errors import QuotaError

MAX_RESOURCES = 500
MAX_PARAMETERS = 200
MAX_OUTPUTS = 200
MAX_MAPPINGS = 200
MAX_PARAMETER_VALUE = 4096      # bytes of one parameter value
MAX_BODY_BYTES = 1_000_000      # template body uploaded to S3 (TemplateURL), as uploaded
MAX_DESCRIPTION = 1024
MAX_DYNAMIC_REFERENCES = 60     # {{resolve:...}} per template
MAX_NESTED_OPERATION = 2500     # resources one nested-stack operation may create, update or delete
# IAM: the inline policies of one role together, whitespace excluded.
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html
MAX_ROLE_POLICY_CHARS = 10_240
# API Gateway: resources (paths, the root included) per REST API, raisable per API.
# https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-execution-service-limits-table.html
DEFAULT_API_RESOURCES = 300
# CloudWatch: widgets per dashboard; metrics per graph widget.
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html
MAX_DASHBOARD_WIDGETS = 500

_DYNAMIC = b"{{resolve:"
# What an intrinsic function resolves to is unknown here; assume an ARN this long when sizing
# IAM policies (the longest ARNs in these templates are about 120 characters).
ASSUMED_ARN_CHARS = 128


def check(stack: str, template: dict, body: bytes) -> None:
    """Raise QuotaError naming the stack if `template` exceeds a CloudFormation quota.

    `body` is the template as uploaded: without whitespace (`render.compact_json`), which is
    what `package` puts in S3 and what CloudFormation's size quota counts.
    """
    counts = (("resources", len(template.get("Resources", {})), MAX_RESOURCES),
              ("parameters", len(template.get("Parameters", {})), MAX_PARAMETERS),
              ("outputs", len(template.get("Outputs", {})), MAX_OUTPUTS),
              ("mappings", len(template.get("Mappings", {})), MAX_MAPPINGS),
              ("dynamic references", body.count(_DYNAMIC), MAX_DYNAMIC_REFERENCES))
    for what, count, limit in counts:
        if count > limit:
            raise QuotaError(f"stack {stack}: {count} {what}, over CloudFormation's limit of {limit}.")
    if len(body) > MAX_BODY_BYTES:
        raise QuotaError(f"stack {stack}: template is {len(body):,} bytes, over CloudFormation's limit of "
                         f"{MAX_BODY_BYTES:,}. Split the system into two configs.")
    if len(template.get("Description", "")) > MAX_DESCRIPTION:
        raise QuotaError(f"stack {stack}: description over {MAX_DESCRIPTION} characters.")


def policy_chars(policies: list[dict]) -> int:
    """Characters IAM counts for a role's inline policies (no whitespace), with each intrinsic
    function counted as an ARN of ASSUMED_ARN_CHARS characters."""
    return sum(len(json.dumps(_sized(p["PolicyDocument"]), separators=(",", ":"))) for p in policies)


def _sized(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)).startswith(("Fn::", "Ref")):
            return "x" * ASSUMED_ARN_CHARS
        return {k: _sized(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_sized(v) for v in value]
    return value
