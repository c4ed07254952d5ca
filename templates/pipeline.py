"""Pipeline stack: GitHub (CodeConnections) -> CodeBuild (test, lint, generate) in CodePipeline.

Seed 000 gave its build project `*` on `*`; here each role gets exactly what its step touches.
The pipeline builds and checks the templates; deploying stays a deliberate `generate.py deploy`.
"""
from __future__ import annotations

import json

from troposphere import GetAtt, Ref, codebuild, codeconnections, codepipeline as cp, iam

from infra import grants
from infra.actions import codebuild as acb, codeconnections as acc, kms as akms, s3 as as3
from infra.builders import storage
from infra.builders.logs import log_group
from infra.config.schema import Bucket, Config
from infra.naming import physical
from infra.stack import Stack

BUILDSPEC = {
    "version": "0.2",
    "phases": {
        "install": {"runtime-versions": {"python": "3.11", "nodejs": "20"}, "commands": ["make venv"]},
        "pre_build": {"commands": ["make test"]},
        "build": {"commands": [".venv/bin/python generate.py templates --out out"]},
    },
    "artifacts": {"files": ["out/**/*"]},
}


def build(cfg: Config) -> Stack:
    """Connection (or an existing one), artifact bucket, build project, pipeline, two roles."""
    pl = cfg.pipeline
    st = Stack(cfg, "pipeline", f"{physical(cfg)} pipeline: CI for {pl.repository}")
    key_arn = st.param("KeyArn", "ARN of the system KMS key (encrypts artifacts and build logs)")
    access_logs = st.param("AccessLogsBucketName", "Bucket receiving S3 server access logs")

    if pl.connection_arn:
        connection = pl.connection_arn
    else:
        # Created PENDING: an account admin approves it once in the console (GitHub OAuth).
        conn = st.add(codeconnections.Connection("GitHubConnection", ConnectionName=physical(cfg, "github")[:32],
                                                 ProviderType="GitHub"))
        connection = Ref(conn)
        st.output("ConnectionArn", connection, "CodeConnections connection: approve it once in the console", export=True)

    artifacts = st.add(storage.bucket("ArtifactBucket", storage.bucket_name(physical(cfg, "pipeline")),
                                      Bucket(versioned=True, encryption="kms", noncurrent_version_expiry_days=30),
                                      key_arn, access_logs, "pipeline/"), stateful=True)
    st.add(storage.tls_only_policy("ArtifactBucketPolicy", artifacts))
    objects = grants.suffixed(GetAtt(artifacts, "Arn"), "/*")
    build_logs = st.add(log_group("BuildLogGroup", f"/aws/codebuild/{physical(cfg, 'build')}", 30, key_arn),
                        stateful=True)
    project_arn = grants.arn("codebuild", f"project/{physical(cfg, 'build')}")

    build_role = st.add(iam.Role("BuildRole", AssumeRolePolicyDocument=grants.assume_role("codebuild.amazonaws.com"),
                                 Policies=[iam.Policy(PolicyName="least-privilege", PolicyDocument=grants.document([
                                     grants.log_group_write(GetAtt(build_logs, "Arn"), "BuildLogs"),
                                     grants.allow([as3.GetObject, as3.GetObjectVersion, as3.PutObject], [objects],
                                                  "Artifacts"),
                                     # CodeBuild checks the artifact bucket's owner and region.
                                     grants.allow([as3.GetBucketAcl, as3.GetBucketLocation],
                                                  [GetAtt(artifacts, "Arn")], "ArtifactBucket"),
                                     grants.allow([akms.Decrypt, akms.DescribeKey, akms.Encrypt, akms.GenerateDataKey],
                                                  [key_arn], "ArtifactKey"),
                                 ]))]))
    project = st.add(codebuild.Project(
        "BuildProject", Name=physical(cfg, "build"), Description=f"Tests, lints and generates {physical(cfg)}",
        ServiceRole=GetAtt(build_role, "Arn"), EncryptionKey=key_arn, TimeoutInMinutes=30,
        Source=codebuild.Source(Type="CODEPIPELINE", BuildSpec=json.dumps(BUILDSPEC, sort_keys=True)),
        Artifacts=codebuild.Artifacts(Type="CODEPIPELINE"),
        Environment=codebuild.Environment(Type="LINUX_CONTAINER", Image=pl.build_image, ComputeType=pl.compute_type,
                                          PrivilegedMode=False),
        LogsConfig=codebuild.LogsConfig(CloudWatchLogs=codebuild.CloudWatchLogs(
            Status="ENABLED", GroupName=Ref(build_logs)))))

    pipeline_role = st.add(iam.Role(
        "PipelineRole", AssumeRolePolicyDocument=grants.assume_role("codepipeline.amazonaws.com"),
        Policies=[iam.Policy(PolicyName="least-privilege", PolicyDocument=grants.document([
            grants.allow([as3.GetObject, as3.GetObjectVersion, as3.PutObject], [objects], "Artifacts"),
            grants.allow([as3.GetBucketVersioning], [GetAtt(artifacts, "Arn")], "ArtifactBucket"),
            grants.allow([akms.Decrypt, akms.DescribeKey, akms.Encrypt, akms.GenerateDataKey], [key_arn], "ArtifactKey"),
            grants.allow([acc.UseConnection], [connection], "Source"),
            grants.allow([acb.BatchGetBuilds, acb.StartBuild], [project_arn], "Build"),
        ]))]))
    st.add(cp.Pipeline(
        "Pipeline", Name=physical(cfg, "pipeline"), PipelineType="V2", RoleArn=GetAtt(pipeline_role, "Arn"),
        ArtifactStore=cp.ArtifactStore(Type="S3", Location=Ref(artifacts),
                                       EncryptionKey=cp.EncryptionKey(Id=key_arn, Type="KMS")),
        Stages=[
            cp.Stages(Name="Source", Actions=[cp.Actions(
                Name="GitHub", ActionTypeId=cp.ActionTypeId(Category="Source", Owner="AWS", Version="1",
                                                            Provider="CodeStarSourceConnection"),
                Configuration={"ConnectionArn": connection, "FullRepositoryId": pl.repository,
                               "BranchName": pl.branch, "OutputArtifactFormat": "CODE_ZIP"},
                OutputArtifacts=[cp.OutputArtifacts(Name="Source")])]),
            cp.Stages(Name="Build", Actions=[cp.Actions(
                Name="TestLintGenerate", ActionTypeId=cp.ActionTypeId(Category="Build", Owner="AWS", Version="1",
                                                                      Provider="CodeBuild"),
                Configuration={"ProjectName": Ref(project)},
                InputArtifacts=[cp.InputArtifacts(Name="Source")],
                OutputArtifacts=[cp.OutputArtifacts(Name="Templates")])]),
        ]))
    st.output("PipelineName", physical(cfg, "pipeline"), "Name of the CodePipeline pipeline", export=True)
    return st
