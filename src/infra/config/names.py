"""Every physical name the templates give, checked against the AWS limits at config load.

CloudFormation accepts any string for a name; AWS rejects a bucket of 64 characters or a log
group with a space at deploy time, after the stacks before it were created. So each generated
name is computed here from the config (with a 12-digit account and a 10-character API id
standing in for the values known only at deploy time) and checked for length and characters,
and a failure names the config key that makes it too long.

Not checked because we set no name: IAM roles (CloudFormation generates a name within IAM's
64 characters) and nested stacks (named by CloudFormation after the root stack).
"""
from __future__ import annotations

import re
from typing import Iterator

from infra.config.schema import Config
from infra.records import record

ACCOUNT = "123456789012"   # account IDs are always 12 digits
REST_API_ID = "a1b2c3d4e5"  # REST API IDs are 10 characters
# Templates name these the same way (templates/security.py, templates/edge.py, templates/pipeline.py).
ACCESS_LOG_BUCKET, PIPELINE_BUCKET, CLOUDFRONT_LOG_BUCKET = "access-logs", "pipeline", "cf-logs"
DEAD_LETTER_QUEUE = "failed-invocations"


@record
class Limit:
    what: str
    service: str
    max_len: int
    pattern: str
    source: str  # the AWS documentation page stating the limit


# https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html: 3-63 characters,
# lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit.
BUCKET = Limit("S3 bucket", "S3", 63, r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]",
               "https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html")
# https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunction.html: a function name is at most 64 characters.
FUNCTION = Limit("Lambda function", "Lambda", 64, r"[a-zA-Z0-9_-]+",
                 "https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunction.html")
# https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogGroup.html: 1-512
# characters of a-z, A-Z, 0-9, '_', '-', '/', '.', '#'.
LOG_GROUP = Limit("CloudWatch log group", "CloudWatch Logs", 512, r"[\.\-_/#A-Za-z0-9]+",
                  "https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogGroup.html")
# https://docs.aws.amazon.com/systems-manager/latest/userguide/sysman-paramstore-su-create.html: at most
# 1011 characters, at most 15 levels, letters, digits and _.-/, not beginning with aws or ssm (in
# any case). The case-insensitive flag covers only the prefix: applied to the whole pattern, its
# character class costs 0.6 ms to compile on every generation.
PARAMETER = Limit("SSM parameter", "Parameter Store", 1011, r"(?!/?(?i:aws|ssm))(?:/[A-Za-z0-9_.-]+){1,15}",
                  "https://docs.aws.amazon.com/systems-manager/latest/userguide/sysman-paramstore-su-create.html")
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html: 1-255 characters.
ALARM = Limit("CloudWatch alarm", "CloudWatch", 255, r".+",
              "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html")
# https://docs.aws.amazon.com/waf/latest/APIReference/API_CreateWebACL.html: 1-128 characters of \w and -.
WEB_ACL = Limit("WAF web ACL", "WAF", 128, r"[\w-]+", "https://docs.aws.amazon.com/waf/latest/APIReference/API_CreateWebACL.html")
# https://docs.aws.amazon.com/acm/latest/APIReference/API_RequestCertificate.html: the first domain
# name of a certificate is at most 64 characters.
CERT_DOMAIN = Limit("ACM certificate domain", "ACM", 64, r"[a-z0-9.-]+",
                    "https://docs.aws.amazon.com/acm/latest/APIReference/API_RequestCertificate.html")
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html: up to 80
# characters of letters, digits, hyphens and underscores.
QUEUE = Limit("SQS queue", "SQS", 80, r"[A-Za-z0-9_-]+",
              "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html")
# https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_PipelineDeclaration.html: at most 100.
PIPELINE = Limit("CodePipeline pipeline", "CodePipeline", 100, r"[A-Za-z0-9.@\-_]+",
                 "https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_PipelineDeclaration.html")


@record
class Name:
    key: str       # the config key to change when the name does not fit
    name: str
    limit: Limit


def _physical(cfg: Config, *parts: str) -> str:
    return "-".join([cfg.project.name, cfg.project.stage, *parts])


def generated(cfg: Config) -> Iterator[Name]:
    """Every checked name the config's templates will carry (deploy-time values stood in)."""
    region, p = cfg.project.region, _physical(cfg)
    for name in cfg.buckets:
        yield Name(f"buckets.{name}", f"{_physical(cfg, name)}-{ACCOUNT}-{region}", BUCKET)
    if cfg.buckets or cfg.pipeline or cfg.edge:
        yield Name("project.name", f"{_physical(cfg, ACCESS_LOG_BUCKET)}-{ACCOUNT}-{region}", BUCKET)
    if cfg.edge:
        yield Name("project.name", f"{_physical(cfg, CLOUDFRONT_LOG_BUCKET)}-{ACCOUNT}-{region}", BUCKET)
    if cfg.dead_letter_queue:
        yield Name("project.name", _physical(cfg, DEAD_LETTER_QUEUE), QUEUE)
    for name in cfg.functions:
        yield Name(f"functions.{name}", _physical(cfg, name), FUNCTION)
        yield Name(f"functions.{name}", f"/aws/lambda/{_physical(cfg, name)}", LOG_GROUP)
        if cfg.monitoring and cfg.monitoring.alarms.function_errors:
            yield Name(f"functions.{name}", _physical(cfg, function_errors_name(name)), ALARM)
    if cfg.monitoring and cfg.monitoring.alarms.table_throttles:
        for name, table in cfg.tables.items():
            yield Name(f"tables.{name}", _physical(cfg, table_alarm(name)), ALARM)
            for index in table.indexes:
                yield Name(f"tables.{name}.indexes.{index}", _physical(cfg, index_alarm(name, index)), ALARM)
    if cfg.api:
        api_name = cfg.api.name or _physical(cfg, "api")
        yield Name("api.name", f"/aws/apigateway/{api_name}-{cfg.project.stage}/access", LOG_GROUP)
        if cfg.monitoring:
            for key, (_, _, _, suffix, _) in API_ALARMS.items():
                if getattr(cfg.monitoring.alarms, key):
                    yield Name(f"monitoring.alarms.{key}", _physical(cfg, suffix), ALARM)
        if cfg.api.logging_level != "OFF":
            yield Name("project.stage", f"API-Gateway-Execution-Logs_{REST_API_ID}/{cfg.project.stage}", LOG_GROUP)
    if cfg.network:
        yield Name("project.name", f"/vpc/{p}/flow-logs", LOG_GROUP)
    if cfg.firewall:
        yield Name("project.name", _physical(cfg, "api-waf"), WEB_ACL)
        yield Name("project.name", f"aws-waf-logs-{p}", LOG_GROUP)
        if cfg.edge:
            yield Name("project.name", _physical(cfg, "edge-waf"), WEB_ACL)
            yield Name("project.name", f"aws-waf-logs-{p}-edge", LOG_GROUP)
    if cfg.edge and cfg.edge.domain and not cfg.edge.certificate_arn:
        yield Name("edge.domain", f"{cfg.edge.subdomain}.{cfg.edge.domain}", CERT_DOMAIN)
    if cfg.pipeline:
        yield Name("project.name", f"{_physical(cfg, PIPELINE_BUCKET)}-{ACCOUNT}-{region}", BUCKET)
        yield Name("project.name", _physical(cfg, "pipeline"), PIPELINE)
        yield Name("project.name", f"/aws/codebuild/{_physical(cfg, 'build')}", LOG_GROUP)
    params = cfg.parameters
    if params:
        prefix = params.prefix or f"/{cfg.project.name}/{cfg.project.stage}"
        key = "parameters.prefix"
        if params.function_arns:
            for name in cfg.functions:
                yield Name(key, f"{prefix}/functions/{name}/arn", PARAMETER)
        if params.api_url:
            yield Name(key, f"{prefix}/api/url", PARAMETER)
        if params.web_acl_arn:
            yield Name(key, f"{prefix}/waf/web-acl-arn", PARAMETER)


def logical_id(*parts: str) -> str:
    """CamelCase logical ID from config names: ('static-content', 'Bucket') -> 'StaticContentBucket'."""
    words = []
    for part in parts:
        for word in re.split(r"[^A-Za-z0-9]+", part):
            if word:
                words.append(word[0].upper() + word[1:])
    return "".join(words)


# The API stage's alarms, by their [monitoring.alarms] threshold key: metric, statistic, logical
# ID, name suffix, what it measures. One table for the api-stage stack that creates them, the
# deployment groups that stop a release on them (which name them across stacks), and the names
# checked here.
API_ALARMS = {
    "api_4xx": ("4XXError", "Sum", "Api4xxAlarm", "api-4xx-errors", "API 4xx responses"),
    "api_5xx": ("5XXError", "Sum", "Api5xxAlarm", "api-5xx-errors", "API 5xx responses"),
    "api_latency_ms": ("Latency", "Average", "ApiLatencyAlarm", "api-latency", "API average latency (ms)"),
}


def function_errors_name(function: str) -> str:
    """Name suffix of a function's errors alarm (`<project>-<stage>-<function>-errors`)."""
    return f"{function}-errors"


def table_alarm(table: str) -> str:
    """The throttle alarm of a table (before the `<project>-<stage>-` prefix)."""
    return f"{table}-throttles"


def index_alarm(table: str, index: str) -> str:
    """The throttle alarm of a table's index (before the `<project>-<stage>-` prefix)."""
    return f"{table}-{index}-index-throttles"


def problems(cfg: Config) -> Iterator[tuple[str, str, str]]:
    """(key, what is wrong, how to fix it) for each generated name AWS would reject, or that two
    parts of the config would both take (names are unique per kind in an account and region)."""
    taken: dict[tuple[str, str], str] = {}
    for n in sorted(generated(cfg), key=lambda n: not _fixed(n.key)):  # the system's own names first
        lim = n.limit
        other = taken.setdefault((lim.what, n.name), n.key)
        if other != n.key and _fixed(other):
            yield (n.key, f"would name a {lim.what} '{n.name}', a name the system gives its own {lim.what} "
                          f"({other}).", f"rename {n.key}.")
        elif other != n.key:
            yield (n.key, f"would name a {lim.what} '{n.name}', the name {other} gives one too.",
                   f"rename {n.key} or {other}.")
        if len(n.name) > lim.max_len:
            yield (n.key, f"the {lim.what} name '{n.name}' would be {len(n.name)} characters ({lim.service} allows "
                          f"{lim.max_len}: {lim.source}).", _shorten(cfg, n.key))
        elif not re.fullmatch(lim.pattern, n.name):
            yield (n.key, f"the {lim.what} name '{n.name}' is not valid there ({lim.source}).",
                   f"change {n.key} so the name matches {lim.pattern}.")


def _fixed(key: str) -> bool:
    """A name the system gives one of its own resources (the access-log bucket, the API's alarms):
    renaming what the key names does not free it."""
    return key.startswith(("project.", "monitoring.", "api.name"))


def _shorten(cfg: Config, key: str) -> str:
    if key.startswith("project."):
        return (f"shorten project.name ('{cfg.project.name}') or project.stage ('{cfg.project.stage}'); "
                "they begin every generated name.")
    return f"shorten {key}, or project.name / project.stage, which begin every generated name."
