"""Dashboard stack: one CloudWatch dashboard of the API and every function's invocations.

Deployed last. Each compute stack passes its functions' metric rows as one parameter
(`<Stack>FunctionMetrics`), so the dashboard references every function however many there are,
with one parameter per compute stack instead of one per function.
"""
from __future__ import annotations

import json

from troposphere import Sub, cloudwatch as cw

from infra.builders.alarms import PERIOD
from infra.config.schema import Config
from infra.errors import ConfigError
from infra.naming import logical_id, physical
from infra.quotas import MAX_DASHBOARD_WIDGETS, MAX_PARAMETERS
from infra.stack import Stack


def build(cfg: Config, compute_stacks: list[str]) -> Stack:
    """Requests, latency, 4xx and 5xx of the API; invocations per compute stack."""
    widgets_needed = 4 + len(compute_stacks)
    if widgets_needed > MAX_DASHBOARD_WIDGETS or len(compute_stacks) + 2 > MAX_PARAMETERS:
        raise ConfigError(cfg.file, "monitoring.dashboard",
                          f"the dashboard would chart {len(compute_stacks)} compute stacks in {widgets_needed} widgets; "
                          f"CloudWatch allows {MAX_DASHBOARD_WIDGETS} widgets and one stack {MAX_PARAMETERS} parameters.",
                          "set dashboard = false, or split the system into two configs.")
    st = Stack(cfg, "dashboard", f"{physical(cfg)} dashboard: CloudWatch dashboard of the API and functions")
    st.param("ApiName", "Name of the REST API")
    st.param("ApiStageName", "Name of the API stage")
    api = ["AWS/ApiGateway", "{m}", "ApiName", "${ApiName}", "Stage", "${ApiStageName}"]
    widgets = [(title, json.dumps([[s.replace("{m}", m) for s in api]]), stat)
               for title, m, stat in (("API requests", "Count", "Sum"), ("API latency", "Latency", "Average"),
                                      ("API 4XX errors", "4XXError", "Sum"), ("API 5XX errors", "5XXError", "Sum"))]
    for stack in sorted(compute_stacks):
        var = f"{logical_id(stack)}FunctionMetrics"
        st.param(var, f"Dashboard metric rows of the functions in {stack}")
        widgets.append((f"Invocations: {stack}", f"[${{{var}}}]", "Sum"))
    parts = []
    for i, (title, metrics, stat) in enumerate(widgets):
        props = json.dumps({"title": title, "metrics": "@METRICS@", "stat": stat, "period": PERIOD,
                            "region": "${AWS::Region}", "view": "timeSeries"}, sort_keys=True)
        parts.append(json.dumps({"type": "metric", "x": (i % 2) * 12, "y": (i // 2) * 6, "width": 12, "height": 6,
                                 "properties": "@PROPS@"}, sort_keys=True)
                     .replace('"@PROPS@"', props.replace('"@METRICS@"', metrics)))
    body = '{"widgets": [' + ", ".join(parts) + "]}"
    dash = st.add(cw.Dashboard("Dashboard", DashboardName=physical(cfg, "dashboard"), DashboardBody=Sub(body)))
    st.output("DashboardUrl", Sub("https://${AWS::Region}.console.aws.amazon.com/cloudwatch/home?region=${AWS::Region}"
                                  f"#dashboards:name=${{{dash.title}}}"), "URL of the CloudWatch dashboard", export=True)
    return st
