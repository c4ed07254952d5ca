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


# The handlers' request body limit (handlers/shared/apigw.py and handlers/users/http.mjs,
# MAX_BODY_BYTES default): WAF blocks larger bodies, the handlers answer 413 above their own.
BODY_LIMIT_BYTES = 64 * 1024
COMMON_RULE_SET = "AWSManagedRulesCommonRuleSet"


def rules(cfg: Config, *, behind_cloudfront: bool = False) -> list[wafv2.WebACLRule]:
    """Rate limit per IP first (cheapest to evaluate), the body size limit, then each managed
    rule group in order.

    Behind CloudFront, requests reach the API from CloudFront's edge addresses, so a per-IP
    limit there would throttle whole edge locations; the client limit is the CloudFront web
    ACL's (us-east-1 stack), which sees viewers' own IPs. No forwarded-IP rule replaces it: WAF
    takes the FIRST address of X-Forwarded-For (RateLimitForwardedIP, "Specifies the first IP
    address in an HTTP header", https://docs.aws.amazon.com/waf/latest/APIReference/API_RateLimitForwardedIP.html),
    which the client writes itself (CloudFront appends the real viewer address at the end), so
    such a rule limits whatever address a caller claims. Every request there also carries the
    origin secret, so nothing in that ACL samples requests (see waf.visibility).
    """
    fw = cfg.firewall
    sampled = not behind_cloudfront
    out = []
    if not behind_cloudfront:
        out.append(wafv2.WebACLRule(
            Name="RateLimitRule", Priority=1, Action=wafv2.RuleAction(Block=wafv2.BlockAction()),
            Statement=wafv2.Statement(RateBasedStatement=wafv2.RateBasedStatement(Limit=fw.rate_limit,
                                                                                  AggregateKeyType="IP")),
            VisibilityConfig=visibility("RateLimitRule")))
    if COMMON_RULE_SET in fw.managed_rule_groups:
        out.append(body_size_rule(sampled))
    for i, group in enumerate(fw.managed_rule_groups):
        statement = wafv2.ManagedRuleGroupStatement(VendorName="AWS", Name=group)
        if group == COMMON_RULE_SET:
            # SizeRestrictions_BODY blocks bodies over 8 KB (AWS WAF baseline rule groups,
            # https://docs.aws.amazon.com/waf/latest/developerguide/aws-managed-rule-groups-baseline.html),
            # while the handlers accept 64 KB: it only counts, and BodySizeLimit blocks at 64 KB.
            statement.RuleActionOverrides = [wafv2.RuleActionOverride(
                Name="SizeRestrictions_BODY", ActionToUse=wafv2.RuleAction(Count=wafv2.CountAction()))]
        out.append(wafv2.WebACLRule(
            Name=group, Priority=i + 3, OverrideAction=wafv2.OverrideAction(**{"None": {}}),
            Statement=wafv2.Statement(ManagedRuleGroupStatement=statement),
            VisibilityConfig=visibility(group.removeprefix("AWSManagedRules"), sampled=sampled)))
    return out


def body_size_rule(sampled: bool) -> wafv2.WebACLRule:
    """Block bodies larger than the handlers accept. Needs the web ACL to inspect 64 KB of body
    (`association_config`): with OversizeHandling MATCH, a body beyond what WAF inspects counts
    as too large (AWS WAF API reference, Body, https://docs.aws.amazon.com/waf/latest/APIReference/API_Body.html)."""
    return wafv2.WebACLRule(
        Name="BodySizeLimit", Priority=2, Action=wafv2.RuleAction(Block=wafv2.BlockAction()),
        Statement=wafv2.Statement(SizeConstraintStatement=wafv2.SizeConstraintStatement(
            FieldToMatch=wafv2.FieldToMatch(Body=wafv2.Body(OversizeHandling="MATCH")), ComparisonOperator="GT",
            Size=BODY_LIMIT_BYTES, TextTransformations=[wafv2.TextTransformation(Priority=0, Type="NONE")])),
        VisibilityConfig=visibility("BodySizeLimit", sampled=sampled))


def association_config(cfg: Config, resource_type: str) -> dict:
    """WebACL properties making the protected resource forward 64 KB of body to WAF (16 KB by
    default, at extra charge above that: AWS::WAFv2::WebACL AssociationConfig,
    https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-wafv2-webacl-associationconfig.html),
    so the body rules, the managed ones included, see every byte the handlers accept."""
    if COMMON_RULE_SET not in cfg.firewall.managed_rule_groups:
        return {}
    return {"AssociationConfig": wafv2.AssociationConfig(RequestBody={
        resource_type: wafv2.RequestBodyAssociatedResourceTypeConfig(DefaultSizeInspectionLimit="KB_64")})}


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
        # Every request it matches carries a (wrong) origin secret and the caller's headers.
        VisibilityConfig=visibility("RequireCloudFront", sampled=False))


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
        Rules=acl_rules, VisibilityConfig=visibility(physical(cfg, "api-waf"), sampled=cfg.edge is None),
        **association_config(cfg, "API_GATEWAY")))
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
