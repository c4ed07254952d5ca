"""Firewall stack: regional WAFv2 web ACL (rate limit + AWS managed rules) on the API stage."""
from __future__ import annotations

from troposphere import GetAtt, ssm, wafv2

from infra.builders import ORIGIN_VERIFY_HEADER, origin_verify_value
from infra.builders import waf
from infra.builders.logs import log_group
from infra.builders.waf import visibility
from infra.config.schema import Config
from infra.naming import parameter_prefix, physical
from infra.stack import Stack


def rules(cfg: Config, *, behind_cloudfront: bool = False) -> list[wafv2.WebACLRule]:
    """Rate limit per IP first (cheapest to evaluate), then each managed rule group in order.

    Behind CloudFront, requests reach the API from CloudFront's edge addresses, so a per-IP
    limit there would throttle whole edge locations. The client limit is then enforced by the
    CloudFront web ACL (us-east-1 stack), which sees viewers' own IPs; here the rule keys on
    X-Forwarded-For, the viewer's address as CloudFront passes it on. A direct caller can forge
    that header, which is why the edge ACL, not this rule, is the client limit.
    """
    fw = cfg.firewall
    if behind_cloudfront:
        rate = wafv2.RateBasedStatement(
            Limit=fw.rate_limit, AggregateKeyType="FORWARDED_IP",
            ForwardedIPConfig=wafv2.ForwardedIPConfiguration(HeaderName="X-Forwarded-For", FallbackBehavior="MATCH"))
    else:
        rate = wafv2.RateBasedStatement(Limit=fw.rate_limit, AggregateKeyType="IP")
    out = [wafv2.WebACLRule(
        Name="RateLimitRule", Priority=1, Action=wafv2.RuleAction(Block=wafv2.BlockAction()),
        Statement=wafv2.Statement(RateBasedStatement=rate),
        VisibilityConfig=visibility("RateLimitRule"))]
    for i, group in enumerate(fw.managed_rule_groups):
        out.append(wafv2.WebACLRule(
            Name=group, Priority=i + 2, OverrideAction=wafv2.OverrideAction(**{"None": {}}),
            Statement=wafv2.Statement(ManagedRuleGroupStatement=wafv2.ManagedRuleGroupStatement(
                VendorName="AWS", Name=group)),
            VisibilityConfig=visibility(group.removeprefix("AWSManagedRules"))))
    return out


def require_cloudfront(secret_arn) -> wafv2.WebACLRule:
    """Block every request without CloudFront's origin-verification header: with [edge], the
    API's only front door is CloudFront and its web ACL."""
    header = wafv2.ByteMatchStatement(
        FieldToMatch=wafv2.FieldToMatch(SingleHeader=wafv2.SingleHeader(Name=ORIGIN_VERIFY_HEADER.lower())),
        PositionalConstraint="EXACTLY", SearchString=origin_verify_value(secret_arn),
        TextTransformations=[wafv2.TextTransformation(Priority=0, Type="NONE")])
    return wafv2.WebACLRule(
        Name="RequireCloudFront", Priority=0, Action=wafv2.RuleAction(Block=wafv2.BlockAction()),
        Statement=wafv2.Statement(NotStatement=wafv2.NotStatement(Statement=wafv2.Statement(ByteMatchStatement=header))),
        VisibilityConfig=visibility("RequireCloudFront"))


def build(cfg: Config) -> Stack:
    """Web ACL, its association with the API stage, and its request log."""
    st = Stack(cfg, "firewall", f"{physical(cfg)} firewall: WAF web ACL for the API")
    stage_arn = st.param("ApiStageArn", "ARN of the API stage to protect")
    key_arn = st.param("KeyArn", "ARN of the system KMS key (encrypts the WAF log group)")
    acl_rules = rules(cfg, behind_cloudfront=cfg.edge is not None)
    if cfg.edge:
        acl_rules.insert(0, require_cloudfront(
            st.param("OriginVerifySecretArn", "ARN of the CloudFront origin-verification secret")))
    acl = st.add(wafv2.WebACL(
        "WebAcl", Name=physical(cfg, "api-waf"), Scope="REGIONAL",
        Description=f"Protects the {physical(cfg)} API", DefaultAction=wafv2.DefaultAction(Allow=wafv2.AllowAction()),
        Rules=acl_rules, VisibilityConfig=visibility(physical(cfg, "api-waf"))))
    st.add(wafv2.WebACLAssociation("WebAclAssociation", ResourceArn=stage_arn, WebACLArn=GetAtt(acl, "Arn")))
    # WAF only delivers to log groups whose name starts with aws-waf-logs-.
    lg = st.add(log_group("WafLogGroup", f"aws-waf-logs-{physical(cfg)}", cfg.firewall.log_retention_days, key_arn),
                stateful=True)
    st.add(waf.logging("WafLogging", acl, lg))
    st.output("WebAclArn", GetAtt(acl, "Arn"), "ARN of the WAF web ACL", export=True)
    st.output("WebAclId", GetAtt(acl, "Id"), "ID of the WAF web ACL")
    if cfg.parameters and cfg.parameters.web_acl_arn:
        st.add(ssm.Parameter("WebAclArnParameter", Name=f"{parameter_prefix(cfg)}/waf/web-acl-arn", Type="String",
                             Value=GetAtt(acl, "Arn"), Description="ARN of the WAF web ACL"))
    return st
