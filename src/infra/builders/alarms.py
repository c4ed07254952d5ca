"""CloudWatch alarms that notify the system's alarm topic, with the config's evaluation periods."""
from __future__ import annotations

from typing import Any

from troposphere import cloudwatch as cw

from infra.config.names import API_ALARMS, function_errors_name
from infra.config.schema import Config
from infra.naming import physical

PERIOD = 300  # seconds per evaluation period


def alarm_name(cfg: Config, kind: str, function: str = "") -> str:
    """The physical name of a generated alarm, by its [monitoring.alarms] key."""
    if kind == "function_errors":
        return physical(cfg, function_errors_name(function))
    return physical(cfg, API_ALARMS[kind][3])


def alarm(cfg: Config, st: Any, logical_id: str, name: str, description: str, threshold: float,
          **metric: Any) -> cw.Alarm:
    """An alarm `<project>-<stage>-<name>` above `threshold`; notifies the alarm topic (a
    parameter of `st`) when the config has one. Metric alarms get the standard period."""
    mon = cfg.monitoring
    actions = [st.param("AlarmTopicArn", "ARN of the SNS topic every alarm notifies")] if mon.topic else []
    if "MetricName" in metric:
        metric.setdefault("Period", PERIOD)
    return cw.Alarm(
        logical_id, AlarmName=physical(cfg, name), AlarmDescription=description, Threshold=threshold,
        ComparisonOperator="GreaterThanThreshold", EvaluationPeriods=mon.alarms.evaluation_periods,
        TreatMissingData="notBreaching", AlarmActions=actions, OKActions=actions, **metric)
