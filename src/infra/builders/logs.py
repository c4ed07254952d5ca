"""Log groups: always a retention, always encrypted with the system key."""
from __future__ import annotations

from typing import Any

from troposphere import logs


def log_group(logical_id: str, name: Any, retention_days: int, key_arn: Any) -> logs.LogGroup:
    """An encrypted log group with a retention (logs never grow unbounded)."""
    return logs.LogGroup(logical_id, LogGroupName=name, RetentionInDays=retention_days, KmsKeyId=key_arn)
