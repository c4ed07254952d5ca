"""WAFv2 pieces shared by the regional and the CloudFront web ACLs."""
from __future__ import annotations

from troposphere import GetAtt, Ref, Sub, logs, wafv2

from infra.builders import ORIGIN_VERIFY_HEADER

# Headers that carry secrets: CloudFront's origin-verification value (whoever reads it can call
# the API around CloudFront), the usage plan's API key, SigV4/bearer credentials, session cookies.
SECRET_HEADERS = (ORIGIN_VERIFY_HEADER.lower(), "x-api-key", "authorization", "cookie")


def visibility(metric: str, *, sampled: bool = True) -> wafv2.VisibilityConfig:
    """Metrics and (unless `sampled` is False) sampled requests for a rule or a web ACL.

    Sampled requests show every header of the request in the console and GetSampledRequests;
    the logging configuration's RedactedFields do not apply to them ("This setting has no impact
    on request sampling", AWS WAF API reference, LoggingConfiguration RedactedFields,
    https://docs.aws.amazon.com/waf/latest/APIReference/API_LoggingConfiguration.html), so
    sampling is turned off wherever the requests carry a secret.
    """
    return wafv2.VisibilityConfig(SampledRequestsEnabled=sampled, CloudWatchMetricsEnabled=True, MetricName=metric)


def logging(logical_id: str, acl: wafv2.WebACL, log_group: logs.LogGroup) -> wafv2.LoggingConfiguration:
    """Request log of `acl` into `log_group` (whose name must start with aws-waf-logs-), with
    every secret-bearing header redacted.

    WAF logs carry all request headers; a redacted SingleHeader is written as REDACTED
    (AWS::WAFv2::LoggingConfiguration RedactedFields,
    https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-wafv2-loggingconfiguration.html).
    """
    return wafv2.LoggingConfiguration(
        logical_id, ResourceArn=GetAtt(acl, "Arn"),
        # The log group ARN without the trailing ':*' that GetAtt Arn carries.
        LogDestinationConfigs=[Sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${Name}",
                                   Name=Ref(log_group))],
        RedactedFields=[wafv2.LoggingConfigurationFieldToMatch(SingleHeader=wafv2.SingleHeader(Name=name))
                        for name in SECRET_HEADERS])
