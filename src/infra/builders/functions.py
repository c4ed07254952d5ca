"""Lambda functions with secure defaults: own log group, KMS-encrypted env, X-Ray, optional concurrency cap."""
from __future__ import annotations

import re
from typing import Any, Callable

from troposphere import Ref, Sub, awslambda, iam

from infra import grants
from infra.config.schema import Function

_REF = re.compile(r"\$\{([^}]*)\}")


def resolve_env(value: str, lookup: Callable[[str], Any]) -> Any:
    """Turn '${tables.data.name}'-style references into Refs/Subs of stack parameters."""
    refs = _REF.findall(value)
    if not refs:
        return value
    if value == f"${{{refs[0]}}}" and len(refs) == 1:
        return lookup(refs[0])
    mapping, text = {}, value
    for i, ref in enumerate(dict.fromkeys(refs)):
        var = f"Ref{i}"
        mapping[var] = lookup(ref)
        text = text.replace(f"${{{ref}}}", f"${{{var}}}")
    return Sub(text, **mapping)


def role(logical_id: str, statements: list, vpc_id: Any = None) -> iam.Role:
    """Execution role: the function's own grants and, for a VPC function (`vpc_id` given), the
    exact network-interface statements Lambda needs; never an AWS managed policy, whose
    content AWS may widen under us."""
    if vpc_id is not None:
        statements = [*statements, *grants.vpc_network_interfaces(vpc_id, "VpcNetworkInterfaces")]
    return iam.Role(logical_id, AssumeRolePolicyDocument=grants.assume_role("lambda.amazonaws.com"),
                    Policies=[iam.Policy(PolicyName="least-privilege", PolicyDocument=grants.document(statements))])


def function(logical_id: str, name: str, fn: Function, *, role_arn: Any, code_bucket: Any, code_key: str,
             key_arn: Any, log_group: Any, environment: dict[str, Any], vpc_config: Any,
             dead_letter_arn: Any = None, layers: list[Any] | None = None) -> awslambda.Function:
    """A traced function (concurrency-capped when the config reserves some) whose environment is encrypted with the system key.

    It references its own log group, so the group (with retention and encryption) exists before
    the function could create an unmanaged one.
    """
    props: dict[str, Any] = dict(
        FunctionName=name,
        Description=fn.description or name,
        Runtime=fn.runtime,
        Handler=fn.handler,
        Code=awslambda.Code(S3Bucket=code_bucket, S3Key=code_key),
        Role=role_arn,
        MemorySize=fn.memory,
        Timeout=fn.timeout,
        TracingConfig=awslambda.TracingConfig(Mode="Active"),
        KmsKeyArn=key_arn,
        LoggingConfig=awslambda.LoggingConfig(LogGroup=log_group),
        Architectures=[fn.architecture],
    )
    if layers:
        props["Layers"] = layers
    if fn.reserved_concurrency is not None:
        props["ReservedConcurrentExecutions"] = fn.reserved_concurrency
    if environment:
        props["Environment"] = awslambda.Environment(Variables=dict(sorted(environment.items())))
    if vpc_config is not None:
        props["VpcConfig"] = vpc_config
    if dead_letter_arn is not None:
        # Asynchronous events that fail every retry are kept, not dropped.
        props["DeadLetterConfig"] = awslambda.DeadLetterConfig(TargetArn=dead_letter_arn)
    return awslambda.Function(logical_id, **props)


def invoke_config(logical_id: str, function: awslambda.Function, retries: int, on_failure_arn: Any) -> Any:
    """Async retry policy and, when set, where failed events go."""
    props: dict[str, Any] = dict(FunctionName=Ref(function), Qualifier="$LATEST", MaximumRetryAttempts=retries)
    if on_failure_arn is not None:
        props["DestinationConfig"] = awslambda.DestinationConfig(
            OnFailure=awslambda.OnFailure(Destination=on_failure_arn))
    return awslambda.EventInvokeConfig(logical_id, **props)
