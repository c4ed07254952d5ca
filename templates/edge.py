"""Edge stack: CloudFront in front of the API, and the optional custom domain record."""
from __future__ import annotations

from typing import Any

from troposphere import GetAtt, Ref, Sub, cloudfront as cf, secretsmanager, ssm

from infra.builders import ORIGIN_VERIFY_HEADER, origin_verify_value, storage
from infra.config import names
from infra.config.schema import Config
from infra.naming import physical
from infra.stack import Stack

# AWS managed policies (fixed IDs, the same in every account).
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
# Not ALL_VIEWER (seed 000's choice): forwarding the viewer's Host header makes API Gateway
# answer 403, since the host is then CloudFront's, not the API's.
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
SECURITY_HEADERS = "67f7725c-6f97-4210-82d7-5512b31e9d03"
CLOUDFRONT_ZONE_ID = "Z2FDTNDATAQYW2"  # the hosted zone of every *.cloudfront.net alias target

SKIP_NO_FIREWALL = {
    "CKV_AWS_68": "The config has no [firewall]: no web ACL is generated, for the API or its distribution.",
}
SKIPS_DEFAULT_CERT = {
    "CKV_AWS_174": "No custom domain in this config: CloudFront's default *.cloudfront.net certificate is "
                   "used and its protocol floor is CloudFront's; set edge.domain to get TLSv1.2_2021.",
}


def fqdn(cfg: Config) -> str:
    return f"{cfg.edge.subdomain}.{cfg.edge.domain}"


def build(cfg: Config) -> Stack:
    """Distribution: HTTPS redirect, all methods, caching disabled, price class from config."""
    edge = cfg.edge
    st = Stack(cfg, "edge", f"{physical(cfg)} edge: CloudFront distribution for the API")
    api_domain = st.param("ApiDomain", "Domain of the API's regional endpoint")
    st.param("ApiStageName", "Name of the API stage (the origin path)")
    origin_headers = {}
    if cfg.firewall:
        secret = st.param("OriginVerifySecretArn", "ARN of the CloudFront origin-verification secret")
        origin_headers["OriginCustomHeaders"] = [cf.OriginCustomHeader(
            HeaderName=ORIGIN_VERIFY_HEADER, HeaderValue=origin_verify_value(secret))]
    props = dict(
        Enabled=True,
        Comment=f"{physical(cfg)} API",
        PriceClass=edge.price_class,
        HttpVersion="http2and3",
        IPV6Enabled=True,
        Origins=[cf.Origin(
            Id="api", DomainName=api_domain, OriginPath=Sub("/${ApiStageName}"),
            CustomOriginConfig=cf.CustomOriginConfig(OriginProtocolPolicy="https-only",
                                                     OriginSSLProtocols=["TLSv1.2"]), **origin_headers)],
        DefaultCacheBehavior=cf.DefaultCacheBehavior(
            TargetOriginId="api", ViewerProtocolPolicy="redirect-to-https", Compress=True,
            AllowedMethods=["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"],
            CachedMethods=["GET", "HEAD", "OPTIONS"],
            CachePolicyId=CACHING_DISABLED, OriginRequestPolicyId=ALL_VIEWER_EXCEPT_HOST_HEADER,
            ResponseHeadersPolicyId=SECURITY_HEADERS),
    )
    # Standard logging (legacy) to S3, in this stack's region. Logging v2 would need its delivery
    # source in us-east-1 (CloudFront's home region) naming the distribution, which this stack
    # creates after the us-east-1 stack; the legacy form needs nothing outside this stack.
    logs = st.add(storage.cloudfront_log_bucket(
        "CloudFrontLogsBucket", storage.bucket_name(physical(cfg, names.CLOUDFRONT_LOG_BUCKET)), edge.log_retention_days,
        st.param("AccessLogsBucketName", "Bucket receiving S3 server access logs")), stateful=True)
    st.add(storage.tls_only_policy("CloudFrontLogsBucketPolicy", logs))
    props["Logging"] = cf.Logging(Bucket=GetAtt(logs, "DomainName"), IncludeCookies=False,
                                  Prefix=f"{physical(cfg)}/")
    st.output("CloudFrontLogsBucketName", Ref(logs), "Bucket receiving the CloudFront access logs")
    skips: dict[str, str] = {}
    if cfg.firewall:
        # The CLOUDFRONT-scope web ACL lives in the us-east-1 stack, like the certificate.
        props["WebACLId"] = st.param("EdgeWebAclArn", "ARN of the CloudFront web ACL (us-east-1 stack output)")
    else:
        skips.update(SKIP_NO_FIREWALL)
    if edge.domain:
        cert = st.param("CertificateArn", "ARN of the ACM certificate for the custom domain (us-east-1)")
        props["Aliases"] = [fqdn(cfg)]
        props["ViewerCertificate"] = cf.ViewerCertificate(
            AcmCertificateArn=cert, SslSupportMethod="sni-only", MinimumProtocolVersion="TLSv1.2_2021")
    else:
        skips.update(SKIPS_DEFAULT_CERT)
    dist = st.add(cf.Distribution("Distribution", DistributionConfig=cf.DistributionConfig(**props)), skip=skips or None)
    st.output("DistributionId", Ref(dist), "ID of the CloudFront distribution", export=True)
    st.output("CloudFrontUrl", Sub("https://${Distribution.DomainName}"), "URL of the CloudFront distribution", export=True)
    if cfg.firewall and edge.origin_verify_rotation_function:
        _origin_verify_rotation(cfg, st, dist)
    if edge.domain:
        from troposphere import route53  # only a custom domain needs it: a module less on every cold start

        for kind in ("A", "AAAA"):
            st.add(route53.RecordSetType(
                f"ApiAlias{kind}Record", HostedZoneId=edge.hosted_zone_id, Name=f"{fqdn(cfg)}.", Type=kind,
                AliasTarget=route53.AliasTarget(DNSName=GetAtt(dist, "DomainName"), HostedZoneId=CLOUDFRONT_ZONE_ID)))
        st.output("CustomDomainUrl", f"https://{fqdn(cfg)}", "URL of the custom domain", export=True)
    return st


def _origin_verify_rotation(cfg: Config, st: Stack, dist: Any) -> None:
    """Where the rotation function finds its targets, and the secret's rotation schedule. Both
    live here because only this stack sees the distribution, and it is created after the
    firewall, so a rotation never starts before the web ACL and distribution exist."""
    from templates.compute import origin_verify_targets

    targets = st.add(ssm.Parameter(
        "OriginVerifyTargetsParameter", Name=origin_verify_targets(cfg), Type="String",
        Description="Web ACL and distribution the origin-verify rotation updates",
        Value=Sub('{"distributionId":"${Distribution}","webAclArn":"${WebAclArn}"}', Distribution=Ref(dist),
                  WebAclArn=st.param("WebAclArn", "ARN of the regional WAF web ACL"))))
    function_arn = Sub("arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:"
                       + physical(cfg, cfg.edge.origin_verify_rotation_function))
    # No rotation during a deploy: the template's dynamic references resolve to AWSCURRENT, so a
    # deploy racing a rotation could put the old value back while the new one is being sent.
    st.add(secretsmanager.RotationSchedule(
        "OriginVerifyRotationSchedule",
        SecretId=st.param("OriginVerifySecretArn", "ARN of the CloudFront origin-verification secret"),
        RotationLambdaARN=function_arn,
        RotateImmediatelyOnUpdate=False,
        RotationRules=secretsmanager.RotationRules(AutomaticallyAfterDays=cfg.edge.origin_verify_rotation_days),
        DependsOn=[targets.title]))
