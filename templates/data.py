"""Data stack: DynamoDB tables (with auto scaling) and S3 buckets (with their access-log bucket)."""
from __future__ import annotations

from troposphere import GetAtt, Ref

from infra.builders import storage
from infra.config.schema import Config
from infra.naming import logical_id, physical
from infra.stack import Stack

ACCESS_LOGS = "access-logs"
ACCESS_LOG_DAYS = 90


def build(cfg: Config) -> Stack:
    """Every table and bucket the config declares, encrypted with the system key."""
    st = Stack(cfg, "data", f"{physical(cfg)} data: tables and buckets")
    key_arn = st.param("KeyArn", "ARN of the system KMS key")
    production = cfg.project.production

    for name, spec in cfg.tables.items():
        lid = logical_id(name, "Table")
        table_name = physical(cfg, name)
        table = st.add(storage.table(lid, table_name, spec, key_arn, production=production), stateful=True)
        if spec.billing == "provisioned" and spec.autoscaling:
            for res in storage.table_autoscaling(logical_id(name), table_name, spec, lid):
                st.add(res)
        st.output(f"{lid}Name", Ref(table), f"Name of the {name} table")
        st.output(f"{lid}Arn", GetAtt(table, "Arn"), f"ARN of the {name} table")
        if spec.stream:
            st.output(f"{lid}StreamArn", GetAtt(table, "StreamArn"), f"Stream ARN of the {name} table")

    # The access-log bucket exists whenever another bucket (here or in the pipeline) logs to it.
    if cfg.buckets or cfg.pipeline:
        logs = st.add(storage.access_log_bucket(
            "AccessLogsBucket", storage.bucket_name(physical(cfg, ACCESS_LOGS)), ACCESS_LOG_DAYS),
            stateful=True,
            skip={"CKV_AWS_18": "This is the access-log target; logging it into itself would loop."})
        st.add(storage.tls_only_policy("AccessLogsBucketPolicy", logs, [storage.log_delivery_statement(logs)]))
        st.output("AccessLogsBucketName", Ref(logs), "Bucket receiving S3 server access logs")
        for name, spec in cfg.buckets.items():
            lid = logical_id(name, "Bucket")
            bucket = st.add(storage.bucket(lid, storage.bucket_name(physical(cfg, name)), spec, key_arn,
                                           Ref(logs), f"{name}/"), stateful=True)
            st.add(storage.tls_only_policy(f"{lid}Policy", bucket))
            st.output(f"{lid}Name", Ref(bucket), f"Name of the {name} bucket")
            st.output(f"{lid}Arn", GetAtt(bucket, "Arn"), f"ARN of the {name} bucket")
    return st
