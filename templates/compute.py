"""Compute stack: each function with its log group, least-privilege role and async settings."""
from __future__ import annotations

from typing import Any

from troposphere import GetAtt, Ref, awslambda, secretsmanager, ssm

from infra import grants
from infra.assets import Asset
from infra.builders import functions as fb
from infra.builders.logs import log_group
from infra.config.schema import Config, Function
from infra.naming import logical_id, parameter_prefix, physical
from infra.stack import Stack

SKIP_DLQ = ("Invoked synchronously (API Gateway, Secrets Manager); a DLQ only catches asynchronous "
            "invocations, whose retries and failures EventInvokeConfig already handles.")
SKIP_VPC = ("vpc = false in the config: the function only calls AWS APIs over TLS, so a VPC would add "
            "NAT cost and cold-start latency without protecting any data path.")


class _Refs:
    """Parameters of this stack, declared on first use and named after the sibling outputs."""

    def __init__(self, st: Stack):
        self.st = st

    def table(self, name: str, attr: str) -> Ref:
        lid = logical_id(name, "Table", attr)
        return self.st.param(lid, f"{attr} of the {name} table")

    def bucket(self, name: str, attr: str) -> Ref:
        lid = logical_id(name, "Bucket", attr)
        return self.st.param(lid, f"{attr} of the {name} bucket")

    def key_arn(self) -> Ref:
        return self.st.param("KeyArn", "ARN of the system KMS key")

    def secret_arn(self) -> Ref:
        return self.st.param("SecretArn", "ARN of the application secret")

    def env(self, ref: str) -> Any:
        kind, *rest = ref.split(".")
        if kind == "tables":
            return self.table(rest[0], "Name" if rest[1] == "name" else "Arn")
        if kind == "buckets":
            return self.bucket(rest[0], "Name" if rest[1] == "name" else "Arn")
        if kind == "secret":
            return self.secret_arn()
        if rest == ["id"]:
            return self.st.param("KeyId", "ID of the system KMS key")
        return self.key_arn()


def _statements(name: str, fn: Function, refs: _Refs, log_group_arn: Any) -> list:
    sid = logical_id(name)
    out = [grants.log_group_write(log_group_arn, f"{sid}Logs"), grants.xray_write(f"{sid}Traces")]
    for table, level in sorted(fn.access.tables.items()):
        out.append(grants.table(refs.table(table, "Arn"), level, logical_id(table, "Table")))
    for bucket, level in sorted(fn.access.buckets.items()):
        out += grants.bucket_objects(refs.bucket(bucket, "Arn"), level, logical_id(bucket, "Bucket"))
    if fn.access.secret:
        out += grants.secret(refs.secret_arn(), fn.access.secret, "AppSecret")
    if fn.on_failure_bucket:
        out.append(grants.failure_destination(refs.bucket(fn.on_failure_bucket, "Arn"),
                                              logical_id(fn.on_failure_bucket, "FailedEvents")))
    # The environment is encrypted with the key, so every function decrypts; writers to tables,
    # buckets, secrets and failure destinations encrypted with it also need data keys.
    level = fn.access.key or "decrypt"
    writes = any("write" in lvl for lvl in [*fn.access.tables.values(), *fn.access.buckets.values()])
    if writes or fn.on_failure_bucket or fn.access.secret == "rotate":
        level = "encrypt-decrypt"
    out.append(grants.key(refs.key_arn(), level, "SystemKey"))
    return out


def build(cfg: Config, assets: dict[str, Asset]) -> Stack:
    """Functions, roles and log groups; rotation schedule when a secret is configured."""
    st = Stack(cfg, "compute", f"{physical(cfg)} compute: Lambda functions")
    refs = _Refs(st)
    code_bucket = st.param("AssetBucket", "S3 bucket holding the zipped handler code")

    for name, fn in cfg.functions.items():
        lid = logical_id(name, "Function")
        fname = physical(cfg, name)
        lg = st.add(log_group(f"{lid}LogGroup", f"/aws/lambda/{fname}", fn.log_retention_days, refs.key_arn()),
                    stateful=True)
        role = st.add(fb.role(f"{lid}Role", _statements(name, fn, refs, GetAtt(lg, "Arn")), fn.vpc))
        vpc_config = None
        if fn.vpc:
            vpc_config = awslambda.VPCConfig(
                SubnetIds=st.param("PrivateSubnetIds", "Private subnets, comma-separated", "CommaDelimitedList"),
                SecurityGroupIds=[st.param("LambdaSecurityGroupId", "Security group of the Lambda functions")])
        env = {var: fb.resolve_env(val, refs.env) for var, val in fn.environment.items()}
        skip = {"CKV_AWS_116": SKIP_DLQ}
        if not fn.vpc:
            skip["CKV_AWS_117"] = SKIP_VPC
        func = st.add(fb.function(
            lid, fname, fn, role_arn=GetAtt(role, "Arn"), code_bucket=code_bucket,
            code_key=assets[fn.source].key, key_arn=refs.key_arn(), log_group=Ref(lg), environment=env,
            vpc_config=vpc_config), skip=skip)
        on_failure = refs.bucket(fn.on_failure_bucket, "Arn") if fn.on_failure_bucket else None
        st.add(fb.invoke_config(f"{lid}InvokeConfig", func, fn.retry_attempts, on_failure))
        st.output(f"{lid}Arn", GetAtt(func, "Arn"), f"ARN of the {name} function")
        st.output(f"{lid}Name", Ref(func), f"Name of the {name} function")
        if cfg.parameters and cfg.parameters.function_arns:
            st.add(ssm.Parameter(f"{lid}ArnParameter", Name=f"{parameter_prefix(cfg)}/functions/{name}/arn",
                                 Type="String", Value=GetAtt(func, "Arn"),
                                 Description=f"ARN of the {name} function"))

    if cfg.secret:
        rot = logical_id(cfg.secret.rotation_function, "Function")
        perm = st.add(awslambda.Permission(
            "SecretRotationPermission", Action="lambda:InvokeFunction", FunctionName=GetAtt(rot, "Arn"),
            Principal="secretsmanager.amazonaws.com", SourceAccount=Ref("AWS::AccountId")))
        st.add(secretsmanager.RotationSchedule(
            "SecretRotationSchedule", SecretId=refs.secret_arn(), RotationLambdaARN=GetAtt(rot, "Arn"),
            RotationRules=secretsmanager.RotationRules(AutomaticallyAfterDays=cfg.secret.rotation_days),
            DependsOn=[perm.title]))
    return st
