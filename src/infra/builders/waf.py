"""WAFv2 pieces shared by the regional and the CloudFront web ACLs."""
from __future__ import annotations

from troposphere import GetAtt, Ref, Sub, logs, wafv2


def visibility(metric: str) -> wafv2.VisibilityConfig:
    """Metrics and sampled requests for a rule or a web ACL."""
    return wafv2.VisibilityConfig(SampledRequestsEnabled=True, CloudWatchMetricsEnabled=True, MetricName=metric)


def logging(logical_id: str, acl: wafv2.WebACL, log_group: logs.LogGroup) -> wafv2.LoggingConfiguration:
    """Request log of `acl` into `log_group` (whose name must start with aws-waf-logs-)."""
    return wafv2.LoggingConfiguration(
        logical_id, ResourceArn=GetAtt(acl, "Arn"),
        # The log group ARN without the trailing ':*' that GetAtt Arn carries.
        LogDestinationConfigs=[Sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${Name}",
                                   Name=Ref(log_group))],
        # Credentials never reach the logs.
        RedactedFields=[wafv2.LoggingConfigurationFieldToMatch(SingleHeader=wafv2.SingleHeader(Name="authorization"))])
