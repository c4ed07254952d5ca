"""The environment a function gets locally: the config's variables with their `${...}` references
resolved, plus the variables the Lambda runtime itself sets.

References resolve against one of:
- a deployed stage's outputs (`--stage-outputs FILE`, the flat JSON `outputs --json` writes): the
  root re-exports every child output, named as the compute stack names its parameters
  (`UsersTableName`, `StaticContentBucketArn`, `SecretArn`, `KeyId`, ...);
- an emulator (`--endpoint-url`, `--emulator`): physical names are deterministic
  (`<project>-<stage>-<name>`, buckets add account and region), ARNs and key ids are looked up.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from infra.config.schema import Config
from infra.config.validate import ENV_REF, static_reference
from infra.errors import UsageError
from infra.naming import function_log_group, logical_id, physical, stack_name

Resolver = Callable[[str], str]
# What DynamoDB, S3 (HeadBucket has no body: its code is the status), Secrets Manager and KMS answer
# for a resource that does not exist.
NOT_FOUND_CODES = {"ResourceNotFoundException", "NoSuchBucket", "404", "NotFoundException"}


def references(cfg: Config, functions: list[str]) -> list[str]:
    """Every `${...}` reference the environments of `functions` use, in first-use order."""
    refs: dict[str, None] = {}
    for name in functions:
        for value in cfg.functions[name].environment.values():
            refs.update(dict.fromkeys(ENV_REF.findall(value)))
    return list(refs)


def config_environment(cfg: Config, function: str, resolve: Resolver) -> dict[str, str]:
    """The function's [functions.X.environment] with every reference replaced by its value."""
    def one(ref: str) -> str:
        static = static_reference(cfg, ref)
        return resolve(ref) if static is None else static

    return {var: ENV_REF.sub(lambda m: one(m.group(1)), value)
            for var, value in cfg.functions[function].environment.items()}


def runtime_environment(cfg: Config, function: str) -> dict[str, str]:
    """What the Lambda runtime sets for the function (the reserved variables that apply locally)."""
    fn = cfg.functions[function]
    region = cfg.project.region
    return {
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_LAMBDA_FUNCTION_NAME": physical(cfg, function),
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": function_log_group(cfg, function),
        "AWS_LAMBDA_LOG_STREAM_NAME": "local",
        "LAMBDA_TASK_ROOT": str(Path(cfg.root) / fn.source),
        "_HANDLER": fn.handler,
    }


def output_name(ref: str) -> str:
    """The stage output holding a reference's value: tables.users.name -> UsersTableName."""
    kind, *rest = ref.split(".")
    if kind in ("tables", "buckets"):
        noun = "Table" if kind == "tables" else "Bucket"
        return logical_id(rest[0], noun, "Name" if rest[1] == "name" else "Arn")
    if kind == "secret":
        return "SecretArn"
    return "KeyId" if rest == ["id"] else "KeyArn"


def load_outputs(path: Path) -> dict[str, str]:
    """A flat JSON object of output name -> value (as `outputs --json` writes it)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: no such stage outputs file; write one with "
                         "`python generate.py outputs --config ... --json > FILE`.") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: not a JSON file ({exc}); expected the object `outputs --json` prints.") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise UsageError(f"{path}: expected a flat JSON object of output name -> string value, "
                         "as `outputs --json` prints.")
    return data


def outputs_resolver(outputs: dict[str, str], source: str) -> Resolver:
    """Resolve references from a deployed stage's outputs."""

    def resolve(ref: str) -> str:
        name = output_name(ref)
        if name not in outputs:
            raise UsageError(f"{source} has no output '{name}' (needed for ${{{ref}}}); write the file "
                             "with `outputs --json` from the deployed stage of this config.")
        return outputs[name]

    return resolve


def bucket_name(cfg: Config, bucket: str, account: str) -> str:
    """The physical name of a bucket, as the data stack names it, in `account` and the config's region."""
    from infra.builders.storage import bucket_name as template  # troposphere: only when needed

    text = template(physical(cfg, bucket)).to_dict()["Fn::Sub"]
    return text.replace("${AWS::AccountId}", account).replace("${AWS::Region}", cfg.project.region)


class EmulatorResolver:
    """Resolve references against resources in an emulator (moto) reached through boto3 clients."""

    def __init__(self, cfg: Config, client: Callable[[str], Any], endpoint: str):
        self.cfg, self.client, self.endpoint = cfg, client, endpoint
        self._account: str | None = None

    def account(self) -> str:
        if self._account is None:
            self._account = self.client("sts").get_caller_identity()["Account"]
        return self._account

    def __call__(self, ref: str) -> str:
        """The value of `${ref}` in the emulator, once the resource is known to exist there: a table
        or bucket name is checked too, so a stage that is not deployed there is said up front
        instead of every request failing later."""
        from infra.deploy.session import aws_errors

        with aws_errors(f"looking up ${{{ref}}} at {self.endpoint}"):
            return self._lookup(ref)

    def _lookup(self, ref: str) -> str:
        from botocore.exceptions import ClientError

        kind, *rest = ref.split(".")
        what = {"tables": "table", "buckets": "bucket", "secret": "secret"}.get(kind, "key")
        name = ""
        try:
            if kind == "tables":
                name = physical(self.cfg, rest[0])
                arn = self.client("dynamodb").describe_table(TableName=name)["Table"]["TableArn"]
                return name if rest[1] == "name" else arn
            if kind == "buckets":
                name = bucket_name(self.cfg, rest[0], self.account())
                self.client("s3").head_bucket(Bucket=name)
                return name if rest[1] == "name" else f"arn:aws:s3:::{name}"
            if kind == "secret":
                assert self.cfg.secret is not None, "the loader refuses ${secret...} without a [secret]"
                name = physical(self.cfg, self.cfg.secret.name)
                return self.client("secretsmanager").describe_secret(SecretId=name)["ARN"]
            name = f"alias/{physical(self.cfg, self.cfg.key.alias)}"
            meta = self.client("kms").describe_key(KeyId=name)["KeyMetadata"]
            return meta["KeyId"] if rest == ["id"] else meta["Arn"]
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code not in NOT_FOUND_CODES:
                raise
            raise UsageError(
                f"${{{ref}}}: the {what} {name} does not exist at {self.endpoint}, so the stage "
                f"{stack_name(self.cfg)} is not deployed there. Deploy it first (`python generate.py deploy "
                f"--config {self.cfg.file} --endpoint-url {self.endpoint}`), or use --emulator, which starts an "
                "emulator holding the config's tables, buckets, key and secret.") from None
