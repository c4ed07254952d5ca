"""Data stacks: DynamoDB tables (with auto scaling and throttle alarms) and S3 buckets.

Each table and bucket is a bundle; placement decides which data stack holds it. Buckets log
access to the access-log bucket of the security stack.
"""
from __future__ import annotations

from troposphere import GetAtt, Join, Ref, cloudwatch as cw

from infra.builders import storage
from infra.builders.alarms import PERIOD, alarm
from infra.config.names import index_alarm, table_alarm
from infra.config.schema import Config
from infra.naming import logical_id, physical
from infra.stack import Stack


def table_bundle(cfg: Config, name: str) -> Stack:
    """One table, its auto scaling and its throttle alarm."""
    spec = cfg.tables[name]
    st = Stack(cfg, f"tables.{name}", "")
    lid = logical_id(name, "Table")
    table_name = physical(cfg, name)
    table = st.add(storage.table(lid, table_name, spec, st.param("KeyArn", "ARN of the system KMS key"),
                                 production=cfg.project.production), stateful=True)
    if spec.billing == "provisioned" and spec.autoscaling:
        for res in storage.table_autoscaling(logical_id(name), table_name, spec, lid):
            st.add(res)
    if cfg.monitoring and cfg.monitoring.alarms.table_throttles:
        limit = cfg.monitoring.alarms.table_throttles
        dims = [cw.MetricDimension(Name="TableName", Value=Ref(table))]
        st.add(alarm(cfg, st, logical_id(name, "ThrottlesAlarm"), table_alarm(name),
                     f"{name} table throttle events above {limit}", limit, Metrics=_throttles(dims)))
        # An index's throttles are its own metrics (dimensions TableName and
        # GlobalSecondaryIndexName): https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/metrics-dimensions.html
        for index in sorted(spec.indexes):
            index_dims = [*dims, cw.MetricDimension(Name="GlobalSecondaryIndexName", Value=index)]
            st.add(alarm(cfg, st, logical_id(name, index, "IndexThrottlesAlarm"), index_alarm(name, index),
                         f"{name} table's {index} index throttle events above {limit}", limit,
                         Metrics=_throttles(index_dims)))
    st.output(f"{lid}Name", Ref(table), f"Name of the {name} table")
    st.output(f"{lid}Arn", GetAtt(table, "Arn"), f"ARN of the {name} table")
    if spec.stream:
        st.output(f"{lid}StreamArn", GetAtt(table, "StreamArn"), f"Stream ARN of the {name} table")
    return st


def _throttles(dims: list) -> list:
    """Read and write throttles of every operation, summed (the seed watched GetItem only)."""
    queries = [cw.MetricDataQuery(Id=i, ReturnData=False, MetricStat=cw.MetricStat(
        Metric=cw.Metric(Namespace="AWS/DynamoDB", MetricName=m, Dimensions=dims), Period=PERIOD, Stat="Sum"))
        for i, m in (("reads", "ReadThrottleEvents"), ("writes", "WriteThrottleEvents"))]
    queries.append(cw.MetricDataQuery(Id="throttles", Expression="reads + writes", Label="Throttle events",
                                      ReturnData=True))
    return queries


def bucket_bundle(cfg: Config, name: str) -> Stack:
    """One private, encrypted, TLS-only bucket that logs access to the access-log bucket."""
    spec = cfg.buckets[name]
    st = Stack(cfg, f"buckets.{name}", "")
    lid = logical_id(name, "Bucket")
    logs = st.param("AccessLogsBucketName", "Bucket receiving S3 server access logs")
    bucket = st.add(storage.bucket(lid, storage.bucket_name(physical(cfg, name)), spec,
                                   st.param("KeyArn", "ARN of the system KMS key"), logs, f"{name}/"), stateful=True)
    st.add(storage.tls_only_policy(f"{lid}Policy", bucket))
    st.output(f"{lid}Name", Ref(bucket), f"Name of the {name} bucket")
    st.output(f"{lid}Arn", GetAtt(bucket, "Arn"), f"ARN of the {name} bucket")
    return st


def list_bytes(cfg: Config, key: str) -> int:
    """Bytes one table or bucket adds to its stack's list output of names."""
    name = key.partition(".")[2]
    # Bucket names add account and region: <name>-123456789012-<region>.
    extra = len(f"-123456789012-{cfg.project.region}") if key.startswith("buckets.") else 0
    return len(physical(cfg, name)) + extra + 1


def build(cfg: Config, stack: str, keys: list[str], bundles: dict[str, Stack]) -> Stack:
    """The data stack `stack` holding the bundles of `keys` ('tables.x', 'buckets.y')."""
    lid = logical_id(stack)
    shown = ", ".join(k.partition(".")[2] for k in sorted(keys))
    st = Stack(cfg, stack, f"{physical(cfg)} {stack}: tables and buckets {shown}"[:1000])
    for key in sorted(keys):
        st.absorb(bundles[key])
    for section, word in (("tables", "Table"), ("buckets", "Bucket")):
        names = sorted(k.partition(".")[2] for k in keys if k.startswith(section + "."))
        if names:
            st.output(f"{lid}{word}Names", Join(",", [Ref(logical_id(n, word)) for n in names]),
                      f"Names of the {section} in {stack}, comma-separated", export=True)
    return st
