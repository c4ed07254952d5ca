"""CloudFormation quotas, checked on every generated template before anything is written."""
from __future__ import annotations

from infra.errors import QuotaError

# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html
MAX_RESOURCES = 500
MAX_PARAMETERS = 200
MAX_OUTPUTS = 200
MAX_BODY_BYTES = 1_000_000  # template body uploaded to S3 (TemplateURL)
MAX_DESCRIPTION = 1024


def check(stack: str, template: dict, body: bytes) -> None:
    """Raise QuotaError naming the stack if `template` exceeds a CloudFormation quota."""
    counts = (("resources", len(template.get("Resources", {})), MAX_RESOURCES),
              ("parameters", len(template.get("Parameters", {})), MAX_PARAMETERS),
              ("outputs", len(template.get("Outputs", {})), MAX_OUTPUTS))
    for what, count, limit in counts:
        if count > limit:
            raise QuotaError(f"stack {stack}: {count} {what}, over CloudFormation's limit of {limit}. "
                             f"Split the config (fewer routes/functions per stage) or move features "
                             f"into another config.")
    if len(body) > MAX_BODY_BYTES:
        raise QuotaError(f"stack {stack}: template is {len(body):,} bytes, over CloudFormation's limit of "
                         f"{MAX_BODY_BYTES:,}. Split the config into smaller systems.")
    if len(template.get("Description", "")) > MAX_DESCRIPTION:
        raise QuotaError(f"stack {stack}: description over {MAX_DESCRIPTION} characters.")
