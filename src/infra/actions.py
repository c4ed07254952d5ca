"""IAM actions by service, named as in awacs's service modules, without importing them.

Each awacs service module (awacs.s3, awacs.ec2, ...) builds an Action object for every action of
its service when it is imported: importing the 17 the grants use took 3.5 ms of every generation,
to name about a hundred actions. Here `s3.GetObject` is `awacs.aws.Action("s3", "GetObject")`,
made when used: the same policy JSON, and the same awacs class the statements are built with.

awacs's modules also check the names: a misspelt `s3.GetObjet` fails at import. That check
moved to `make test`: tests/test_actions.py reads every `<service>.<Action>` the code names and
checks it against awacs's module of that service.
"""
from __future__ import annotations

from awacs.aws import Action as AwacsAction


class Service:
    """The actions of one service: `s3.GetObject`; `s3.Action("*")` as awacs's modules spell it."""

    __slots__ = ("prefix", "module", "_made")

    def __init__(self, prefix: str, module: str):
        self.prefix = prefix      # the IAM prefix ("lambda")
        self.module = module      # awacs's module for it ("awslambda"), which the test checks names against
        self._made: dict[str, AwacsAction] = {}

    def Action(self, action: str) -> AwacsAction:  # awacs's modules' name for it
        return AwacsAction(self.prefix, action)

    def __getattr__(self, name: str) -> AwacsAction:
        if name.startswith("_"):
            raise AttributeError(name)
        made = self._made.get(name)
        if made is None:
            made = self._made[name] = AwacsAction(self.prefix, name)
        return made

    def __repr__(self) -> str:
        return f"Service({self.prefix!r})"


awslambda = Service("lambda", "awslambda")
cloudfront = Service("cloudfront", "cloudfront")
cloudwatch = Service("cloudwatch", "cloudwatch")
codebuild = Service("codebuild", "codebuild")
codeconnections = Service("codeconnections", "codeconnections")
codedeploy = Service("codedeploy", "codedeploy")
dynamodb = Service("dynamodb", "dynamodb")
ec2 = Service("ec2", "ec2")
kms = Service("kms", "kms")
logs = Service("logs", "logs")
s3 = Service("s3", "s3")
secretsmanager = Service("secretsmanager", "secretsmanager")
sns = Service("sns", "sns")
sqs = Service("sqs", "sqs")
ssm = Service("ssm", "ssm")
wafv2 = Service("wafv2", "wafv2")
xray = Service("xray", "xray")

SERVICES = (awslambda, cloudfront, cloudwatch, codebuild, codeconnections, codedeploy, dynamodb, ec2, kms, logs, s3,
            secretsmanager, sns, sqs, ssm, wafv2, xray)
