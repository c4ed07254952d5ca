"""Certificate stack, deployed on its own in us-east-1: CloudFront only accepts certificates there.

Seed 000 issued it in the API's region, which CloudFront rejects.
"""
from __future__ import annotations

from troposphere import Ref, certificatemanager as acm

from infra.config.schema import Config
from infra.naming import physical
from infra.stack import Stack
from templates.edge import fqdn

REGION = "us-east-1"


def build(cfg: Config) -> Stack:
    """A DNS-validated certificate for `<subdomain>.<domain>`; CloudFormation writes the
    validation record into the hosted zone itself."""
    st = Stack(cfg, "certificate", f"{physical(cfg)} certificate for {fqdn(cfg)} (deploy in {REGION})")
    cert = st.add(acm.Certificate(
        "Certificate", DomainName=fqdn(cfg), ValidationMethod="DNS",
        DomainValidationOptions=[acm.DomainValidationOption(DomainName=fqdn(cfg),
                                                            HostedZoneId=cfg.edge.hosted_zone_id)]))
    st.output("CertificateArn", Ref(cert), f"ARN of the certificate for {fqdn(cfg)}")
    return st
