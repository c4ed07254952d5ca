"""Monitoring stack: alarm topic, X-Ray sampling rule, AWS Config rule."""
from __future__ import annotations

from typing import Any

from awacs.aws import Bool, Condition, Deny, Principal, Statement, StringEquals
from troposphere import Ref, Sub, config as awsconfig, sns, xray

from infra.actions import sns as asns
from infra.grants import allow, document
from infra.config.schema import Config, Function
from infra.naming import logical_id, physical
from infra.stack import Stack


def _topic(st: Stack, cfg: Config) -> Any:
    mon = cfg.monitoring
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
    # Email and HTTPS subscriptions stay "pending confirmation" until the recipient follows the
    # link SNS sends, and receive nothing before ("Subscribing to an Amazon SNS topic",
    # https://docs.aws.amazon.com/sns/latest/dg/sns-create-subscribe-endpoint-to-topic.html).
    for protocol, endpoints in (("email", mon.emails), ("https", mon.https_endpoints)):
        for i, endpoint in enumerate(endpoints):
            st.add(sns.SubscriptionResource(f"AlarmTopic{protocol.capitalize()}Subscription{i + 1}",
                                            TopicArn=Ref(topic), Protocol=protocol, Endpoint=endpoint))
    st.output("AlarmTopicArn", Ref(topic), "ARN of the SNS topic every alarm notifies", export=True)
    return Ref(topic)


# The tag naming, on each function, the Config rule that judges its settings.
SETTINGS_RULE_TAG = "LambdaSettingsRule"


def settings_rule_name(cfg: Config, fn: Function) -> str:
    """Name of the LAMBDA_FUNCTION_SETTINGS_CHECK rule judging `fn`: one rule per distinct
    timeout and memory size among the functions, named after them."""
    return physical(cfg, f"lambda-settings-{fn.timeout}s-{fn.memory}mb")


def _config_rule(st: Stack, cfg: Config) -> None:
    # The managed rule checks `timeout` and `memorySize` against 3 s and 128 MB when they are
    # left out (lambda-function-settings-check, https://docs.aws.amazon.com/config/latest/developerguide/lambda-function-settings-check.html),
    # so one rule over functions that differ would call every other function NON_COMPLIANT.
    # Instead, one rule per distinct timeout and memory, each judging only the functions that
    # carry its name in the LambdaSettingsRule tag. A rule scope is resource types, OR a tag key
    # and value, OR one type and one ID (AWS::Config::ConfigRule Scope,
    # https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-config-configrule-scope.html);
    # the tag's value (the rule's name) is this stage's alone, and the managed rule itself only
    # applies to AWS::Lambda::Function.
    groups: dict[str, list[Function]] = {}
    for fn in cfg.functions.values():
        groups.setdefault(settings_rule_name(cfg, fn), []).append(fn)
    for name, fns in sorted(groups.items()):
        first = fns[0]
        st.add(awsconfig.ConfigRule(
            logical_id("lambda-settings", f"{first.timeout}s", f"{first.memory}mb", "Rule"), ConfigRuleName=name,
            Description=f"Lambda functions of {physical(cfg)} with a {first.timeout} s timeout and {first.memory} MB "
                        "keep those settings and their runtimes",
            InputParameters={"runtime": ",".join(sorted({f.runtime for f in fns})), "timeout": str(first.timeout),
                             "memorySize": str(first.memory)},
            Source=awsconfig.Source(Owner="AWS", SourceIdentifier="LAMBDA_FUNCTION_SETTINGS_CHECK"),
            Scope=awsconfig.Scope(TagKey=SETTINGS_RULE_TAG, TagValue=name)))


def needed(cfg: Config) -> bool:
    """Whether the config asks for anything this stack holds."""
    mon = cfg.monitoring
    return bool(mon and (mon.topic or mon.sampling_rate or (mon.config_rule and cfg.functions)))


def build(cfg: Config) -> Stack:
    """The alarm topic, tracing and compliance rules; deployed early, as alarms everywhere
    notify the topic (each alarm lives in the stack of what it watches)."""
    mon = cfg.monitoring
    st = Stack(cfg, "monitoring", f"{physical(cfg)} monitoring: alarm topic, tracing, compliance")
    if mon.topic:
        _topic(st, cfg)
    if mon.sampling_rate:
        st.add(xray.SamplingRule("SamplingRule", SamplingRule=xray.SamplingRuleProperty(
            RuleName=physical(cfg)[:32], Priority=9000, FixedRate=mon.sampling_rate,
            ReservoirSize=mon.sampling_reservoir, ServiceName="*", ServiceType="*", Host="*", HTTPMethod="*",
            URLPath="*", ResourceARN="*", Version=1)))
    if mon.config_rule and cfg.functions:
        _config_rule(st, cfg)
    return st
