"""The us-east-1 stack: what CloudFront only accepts from us-east-1, deployed before the root.

- the custom domain's certificate (seed 000 issued it in the API's region, which CloudFront
  rejects), unless the config names an existing one;
- a CLOUDFRONT-scope web ACL: it sees each viewer's own IP, so its per-IP rate limit limits
  clients, where the regional ACL behind CloudFront only sees CloudFront's edge addresses.
"""
from __future__ import annotations

from troposphere import GetAtt, Ref, wafv2

from infra.builders.keys import customer_key
from infra.builders import waf
from infra.builders.logs import log_group
from infra.builders.waf import visibility
from infra.config.schema import Config
from infra.naming import physical
from infra.stack import Stack
from templates.edge import fqdn
from templates.firewall import association_config, rules

REGION = "us-east-1"
FILE = "global.json"


def needed(cfg: Config) -> bool:
    return bool(cfg.edge and (needs_certificate(cfg) or cfg.firewall))


def needs_certificate(cfg: Config) -> bool:
    return bool(cfg.edge and cfg.edge.domain and not cfg.edge.certificate_arn)


def build(cfg: Config) -> Stack:
    """Certificate and/or CloudFront web ACL, as the config needs."""
    st = Stack(cfg, "global", f"{physical(cfg)} us-east-1 resources for CloudFront (deploy in {REGION})")
    if needs_certificate(cfg):
        from troposphere import certificatemanager as acm  # only a custom domain needs it (cold start)

        # DNS validation: CloudFormation writes the validation record into the hosted zone.
        cert = st.add(acm.Certificate(
            "Certificate", DomainName=fqdn(cfg), ValidationMethod="DNS",
            DomainValidationOptions=[acm.DomainValidationOption(DomainName=fqdn(cfg),
                                                                HostedZoneId=cfg.edge.hosted_zone_id)]))
        st.output("CertificateArn", Ref(cert), f"ARN of the certificate for {fqdn(cfg)}")
    if cfg.firewall:
        name = physical(cfg, "edge-waf")
        acl = st.add(wafv2.WebACL(
            "EdgeWebAcl", Name=name, Scope="CLOUDFRONT", Description=f"Protects the {physical(cfg)} distribution",
            DefaultAction=wafv2.DefaultAction(Allow=wafv2.AllowAction()), Rules=rules(cfg),
            VisibilityConfig=visibility(name), **association_config(cfg, "CLOUDFRONT")))
        # The system key lives in the API's region; this log group needs a key of its own here.
        key = st.add(customer_key("EdgeLogKey", "Encrypts the CloudFront web ACL's logs",
                                  production=cfg.project.production, alarms_topic=False), stateful=True)
        lg = st.add(log_group("EdgeWafLogGroup", f"aws-waf-logs-{physical(cfg)}-edge", cfg.firewall.log_retention_days,
                              GetAtt(key, "Arn")), stateful=True)
        st.add(waf.logging("EdgeWafLogging", acl, lg))
        st.output("EdgeWebAclArn", GetAtt(acl, "Arn"), "ARN of the CloudFront web ACL")
    return st
