"""Security stack: the customer-managed KMS key, its alias, the secrets, the access-log bucket, and what
every function shares (dead-letter queue, CodeDeploy application)."""
from __future__ import annotations

import json

from troposphere import GetAtt, Ref
from awacs.aws import Bool, Condition, Deny, Principal, Statement
from troposphere import cognito, kms, secretsmanager, sqs

from infra.actions import sqs as asqs
from infra.builders import releases, storage, userpool
from infra.builders.keys import customer_key
from infra.grants import document
from infra.config import names
from infra.config.schema import Config
from infra.naming import physical
from infra.openapi import USER_POOL_ARN, api_name, creates_user_pool, resource_server, route_scopes
from infra.stack import Stack

ACCESS_LOG_DAYS = 90


def build(cfg: Config) -> Stack:
    """Key (rotation, alias) and, when configured, the secret encrypted with it."""
    st = Stack(cfg, "security", f"{physical(cfg)} security: KMS key, secrets, access-log bucket")
    description = cfg.key.description or f"Encrypts {physical(cfg)} data, secrets and logs"
    alarms_topic = bool(cfg.monitoring and cfg.monitoring.topic)
    key = st.add(customer_key("Key", description, production=cfg.project.production,
                              alarms_topic=alarms_topic), stateful=True)
    st.add(kms.Alias("KeyAlias", AliasName=f"alias/{physical(cfg, cfg.key.alias)}", TargetKeyId=Ref(key)))
    st.output("KeyArn", GetAtt(key, "Arn"), "ARN of the system KMS key", export=True)
    st.output("KeyId", Ref(key), "ID of the system KMS key")

    if cfg.secret:
        sec = cfg.secret
        secret = st.add(secretsmanager.Secret(
            "AppSecret",
            Name=physical(cfg, sec.name),
            Description=f"Application secret for {physical(cfg)}",
            KmsKeyId=Ref(key),
            GenerateSecretString=secretsmanager.GenerateSecretString(
                SecretStringTemplate=json.dumps({"username": sec.username}, sort_keys=True),
                GenerateStringKey="password",
                PasswordLength=sec.password_length,
                ExcludeCharacters=sec.exclude_characters,
            ),
        ), stateful=True)
        st.output("SecretArn", Ref(secret), "ARN of the application secret", export=True)

    # S3 server access logs of every bucket (data stacks, pipeline, CloudFront logs) land here.
    if cfg.buckets or cfg.pipeline or cfg.edge:
        logs = st.add(storage.access_log_bucket(
            "AccessLogsBucket", storage.bucket_name(physical(cfg, names.ACCESS_LOG_BUCKET)), ACCESS_LOG_DAYS),
            stateful=True,
            skip={"CKV_AWS_18": "This is the access-log target; logging it into itself would loop."})
        st.add(storage.tls_only_policy("AccessLogsBucketPolicy", logs, [storage.log_delivery_statement(logs)]))
        st.output("AccessLogsBucketName", Ref(logs), "Bucket receiving S3 server access logs")

    if cfg.dead_letter_queue:
        # Failed asynchronous invocations of every function without an on-failure bucket (after
        # their retries) land here, encrypted with the key, for 14 days (SQS's longest retention).
        queue = st.add(sqs.Queue("FailedInvocationsQueue", QueueName=physical(cfg, names.DEAD_LETTER_QUEUE),
                                 KmsMasterKeyId=Ref(key), MessageRetentionPeriod=14 * 24 * 3600), stateful=True)
        st.add(sqs.QueuePolicy("FailedInvocationsQueuePolicy", Queues=[Ref(queue)], PolicyDocument=document([
            Statement(Sid="DenyInsecureTransport", Effect=Deny, Principal=Principal("*"), Action=[asqs.Action("*")],
                      Resource=[GetAtt(queue, "Arn")], Condition=Condition(Bool("aws:SecureTransport", "false")))])))
        st.output("FailedInvocationsQueueArn", GetAtt(queue, "Arn"), "ARN of the SQS queue keeping failed asynchronous events")

    if cfg.edge and cfg.firewall:
        # Shared by CloudFront (sends it as a header) and the regional web ACL (blocks requests
        # without it), so the API cannot be called around CloudFront and its web ACL.
        verify = st.add(secretsmanager.Secret(
            "OriginVerifySecret", Name=physical(cfg, "origin-verify"),
            Description=f"Header value proving a request to the {physical(cfg)} API came through CloudFront",
            KmsKeyId=Ref(key),
            GenerateSecretString=secretsmanager.GenerateSecretString(PasswordLength=48, ExcludePunctuation=True)),
            stateful=True)
        st.output("OriginVerifySecretArn", Ref(verify), "ARN of the CloudFront origin-verification secret")
    if creates_user_pool(cfg):
        _user_pool(cfg, st)
    releases.application(cfg, st)
    return st


def user_pool(cfg: Config) -> cognito.UserPool:
    """The Cognito user pool this stack creates for COGNITO routes (see `creates_user_pool`)."""
    spec = cfg.api.auth.cognito if cfg.api else None
    assert spec is not None, "only for a config that creates its user pool"
    return userpool.user_pool("UserPool", physical(cfg, "users"), spec, production=cfg.project.production)


def _user_pool(cfg: Config, st: Stack) -> None:
    """The Cognito user pool of COGNITO routes, its browser client and, for scoped routes, the
    resource server defining the scopes and the managed login domain issuing them."""
    pool = st.add(user_pool(cfg), stateful=True)
    spec = cfg.api.auth.cognito
    scopes = sorted({s for r in cfg.api.routes if r.auth == "COGNITO" for s in route_scopes(cfg, r)})
    if scopes:
        server = st.add(cognito.UserPoolResourceServer(
            "UserPoolResourceServer", UserPoolId=Ref(pool), Identifier=resource_server(cfg), Name=api_name(cfg),
            Scopes=[cognito.ResourceServerScopeType(ScopeName=s.split("/", 1)[1], ScopeDescription=f"{s} on {api_name(cfg)}")
                    for s in scopes]))
        st.add(cognito.UserPoolDomain("UserPoolDomain", UserPoolId=Ref(pool), Domain=spec.domain_prefix))
    client = userpool.client("UserPoolClient", physical(cfg, "web"), pool, spec, scopes)
    if scopes:
        client.DependsOn = [server.title]
    st.add(client)
    st.output(USER_POOL_ARN, GetAtt(pool, "Arn"), "ARN of the Cognito user pool", export=True)
    st.output("UserPoolId", Ref(pool), "ID of the Cognito user pool", export=True)
    st.output("UserPoolClientId", Ref(client), "ID of the user pool's browser app client", export=True)
