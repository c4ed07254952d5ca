"""Monitoring stack: alarm topic, alarms, dashboard, X-Ray sampling rule, AWS Config rule."""
from __future__ import annotations

import json
from typing import Any

from awacs import sns as asns
from awacs.aws import Bool, Condition, Deny, Principal, Statement, StringEquals
from troposphere import Ref, Sub, cloudwatch as cw, config as awsconfig, sns, xray

from infra.grants import allow, document
from infra.config.schema import Config
from infra.naming import logical_id, physical
from infra.stack import Stack

PERIOD = 300


def _alarm(st: Stack, cfg: Config, lid: str, name: str, description: str, threshold: float,
           actions: list, **metric: Any) -> None:
    st.add(cw.Alarm(
        lid, AlarmName=physical(cfg, name), AlarmDescription=description, Threshold=threshold,
        ComparisonOperator="GreaterThanThreshold", EvaluationPeriods=cfg.monitoring.alarms.evaluation_periods,
        TreatMissingData="notBreaching", AlarmActions=actions, OKActions=actions, **metric))


def _api_dims(st: Stack) -> list:
    return [cw.MetricDimension(Name="ApiName", Value=st.param("ApiName", "Name of the REST API")),
            cw.MetricDimension(Name="Stage", Value=st.param("ApiStageName", "Name of the API stage"))]


def _topic(st: Stack, cfg: Config) -> Any:
    topic = st.add(sns.Topic("AlarmTopic", TopicName=physical(cfg, "alarms"),
                             DisplayName=f"{physical(cfg)} alarms",
                             KmsMasterKeyId=st.param("KeyArn", "ARN of the system KMS key (encrypts the topic)")))
    st.add(sns.TopicPolicy("AlarmTopicPolicy", Topics=[Ref(topic)], PolicyDocument=document([
        allow([asns.Publish], [Ref(topic)], "CloudWatchAlarmsPublish",
              Principal=Principal("Service", ["cloudwatch.amazonaws.com"]),
              Condition=Condition(StringEquals("aws:SourceAccount", Sub("${AWS::AccountId}")))),
        Statement(Sid="DenyInsecureTransport", Effect=Deny, Principal=Principal("*"), Action=[asns.Publish],
                  Resource=[Ref(topic)], Condition=Condition(Bool("aws:SecureTransport", "false"))),
    ])))
    st.output("AlarmTopicArn", Ref(topic), "ARN of the SNS topic every alarm notifies")
    return Ref(topic)


def _alarms(st: Stack, cfg: Config, actions: list) -> None:
    a = cfg.monitoring.alarms
    api = [("api_4xx", a.api_4xx, "4XXError", "Sum", "Api4xxAlarm", "api-4xx-errors", "API 4xx responses"),
           ("api_5xx", a.api_5xx, "5XXError", "Sum", "Api5xxAlarm", "api-5xx-errors", "API 5xx responses"),
           ("api_latency_ms", a.api_latency_ms, "Latency", "Average", "ApiLatencyAlarm", "api-latency",
            "API average latency (ms)")]
    for _, threshold, metric, stat, lid, name, what in api:
        if threshold:
            _alarm(st, cfg, lid, name, f"{what} above {threshold} per {PERIOD // 60} minutes", threshold, actions,
                   Namespace="AWS/ApiGateway", MetricName=metric, Statistic=stat, Period=PERIOD,
                   Dimensions=_api_dims(st))
    if a.function_errors:
        for fn in cfg.functions:
            fname = st.param(logical_id(fn, "Function", "Name"), f"Name of the {fn} function")
            _alarm(st, cfg, logical_id(fn, "ErrorsAlarm"), f"{fn}-errors",
                   f"{fn} function errors above {a.function_errors} per {PERIOD // 60} minutes",
                   a.function_errors, actions, Namespace="AWS/Lambda", MetricName="Errors", Statistic="Sum",
                   Period=PERIOD, Dimensions=[cw.MetricDimension(Name="FunctionName", Value=fname)])
    if a.table_throttles:
        for table in cfg.tables:
            tname = st.param(logical_id(table, "Table", "Name"), f"Name of the {table} table")
            dims = [cw.MetricDimension(Name="TableName", Value=tname)]
            # Read and write throttles of every operation, summed (the seed watched GetItem only).
            queries = [cw.MetricDataQuery(Id=i, ReturnData=False, MetricStat=cw.MetricStat(
                Metric=cw.Metric(Namespace="AWS/DynamoDB", MetricName=m, Dimensions=dims), Period=PERIOD, Stat="Sum"))
                for i, m in (("reads", "ReadThrottleEvents"), ("writes", "WriteThrottleEvents"))]
            queries.append(cw.MetricDataQuery(Id="throttles", Expression="reads + writes", Label="Throttle events",
                                              ReturnData=True))
            _alarm(st, cfg, logical_id(table, "ThrottlesAlarm"), f"{table}-throttles",
                   f"{table} table throttle events above {a.table_throttles}", a.table_throttles, actions,
                   Metrics=queries)


def _dashboard(st: Stack, cfg: Config) -> None:
    def metric(ns: str, name: str, *dims: str) -> list:
        return [ns, name, *dims]

    api = ["ApiName", "${ApiName}", "Stage", "${ApiStageName}"]
    widgets = [("API requests", [metric("AWS/ApiGateway", "Count", *api)], "Sum"),
               ("API latency", [metric("AWS/ApiGateway", "Latency", *api)], "Average"),
               ("API 4XX errors", [metric("AWS/ApiGateway", "4XXError", *api)], "Sum"),
               ("API 5XX errors", [metric("AWS/ApiGateway", "5XXError", *api)], "Sum")]
    for fn in cfg.functions:
        var = logical_id(fn, "Function", "Name")
        st.param(var, f"Name of the {fn} function")
        widgets.append((f"{fn} invocations", [metric("AWS/Lambda", "Invocations", "FunctionName", f"${{{var}}}")], "Sum"))
    st.param("ApiName", "Name of the REST API")
    st.param("ApiStageName", "Name of the API stage")
    body = {"widgets": [
        {"type": "metric", "x": (i % 2) * 12, "y": (i // 2) * 6, "width": 12, "height": 6,
         "properties": {"title": title, "metrics": metrics, "stat": stat, "period": PERIOD,
                        "region": "${AWS::Region}", "view": "timeSeries"}}
        for i, (title, metrics, stat) in enumerate(widgets)]}
    st.add(cw.Dashboard("Dashboard", DashboardName=physical(cfg, "dashboard"),
                               DashboardBody=Sub(json.dumps(body, sort_keys=True))))
    st.output("DashboardUrl", Sub("https://${AWS::Region}.console.aws.amazon.com/cloudwatch/home?region=${AWS::Region}"
                                  "#dashboards:name=${Dashboard}"), "URL of the CloudWatch dashboard")


def _config_rule(st: Stack, cfg: Config) -> None:
    fns = cfg.functions.values()
    # The managed rule requires `runtime`; timeout and memory are only checked when all agree.
    params = {"runtime": ",".join(sorted({f.runtime for f in fns}))}
    if len({f.timeout for f in fns}) == 1:
        params["timeout"] = str(next(iter(fns)).timeout)
    if len({f.memory for f in fns}) == 1:
        params["memorySize"] = str(next(iter(fns)).memory)
    st.add(awsconfig.ConfigRule(
        "LambdaSettingsRule", ConfigRuleName=physical(cfg, "lambda-settings"),
        Description="Lambda functions keep the runtime, timeout and memory this config declares",
        InputParameters=params,
        Source=awsconfig.Source(Owner="AWS", SourceIdentifier="LAMBDA_FUNCTION_SETTINGS_CHECK"),
        Scope=awsconfig.Scope(ComplianceResourceTypes=["AWS::Lambda::Function"])))


def build(cfg: Config) -> Stack:
    """Everything that watches the system, as the config asks."""
    mon = cfg.monitoring
    st = Stack(cfg, "monitoring", f"{physical(cfg)} monitoring: alarms, dashboard, tracing, compliance")
    actions = [_topic(st, cfg)] if mon.topic else []
    _alarms(st, cfg, actions)
    if mon.dashboard:
        _dashboard(st, cfg)
    if mon.sampling_rate:
        st.add(xray.SamplingRule("SamplingRule", SamplingRule=xray.SamplingRuleProperty(
            RuleName=physical(cfg)[:32], Priority=9000, FixedRate=mon.sampling_rate,
            ReservoirSize=mon.sampling_reservoir, ServiceName="*", ServiceType="*", Host="*", HTTPMethod="*",
            URLPath="*", ResourceARN="*", Version=1)))
    if mon.config_rule and cfg.functions:
        _config_rule(st, cfg)
    return st
