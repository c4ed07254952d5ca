"""Finding the resources a stage retained (its production stage was destroyed, or its first
create failed and was deleted): they exist, and the deploy imports them instead of failing on
their names. Only resources tagged as this stage's are adopted: CloudFormation's
`aws:cloudformation:stack-name` tag naming one of this stage's stacks, or the stage's `Project` and
`Environment` tags. A KMS key and a Cognito user pool have no unique name: they are found by the
tags CloudFormation put on them. Nothing is deleted, emptied or changed here.

What is found becomes steps of the deploy plan (`infra.deploy.importing`, `infra.deploy.planner`).
Each importable type of `infra.resource_types` has its finder in `FINDERS`.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from infra.deploy.importing import Candidate, Found, Imports, candidates, import_resource
from infra.deploy.session import Aws, aws_errors, aws_exceptions, error_code
from infra.deploy.stacks import describe_stack
from infra.deploy.ui import Ui

if TYPE_CHECKING:   # the generated build is read, never imported at start-up (the CLI lists the checks)
    from infra.deploy.manifest import Build

# Tags CloudFormation puts on the resources it creates (and that stay on retained ones).
CFN_STACK_TAG = "aws:cloudformation:stack-name"
CFN_LOGICAL_TAG = "aws:cloudformation:logical-id"
Answer = tuple[dict[str, str], str | None] | None   # (import identifier, why not importable) or None: absent


PREFETCH_FROM = 5   # names of one kind above which existence is listed in one pass, not asked one by one


@dataclass
class Context:
    """Looking up one region's retained resources: the stage's stacks and tags, and listings made once."""

    aws: Aws
    stack_names: tuple[str, ...]      # this stage's stacks: root (and its nested ones' prefix), global
    tags: dict[str, str]              # this stage's Project/Environment tags
    existing: dict[str, set[str] | None] = field(default_factory=dict)   # listed names, by type and prefix

    def prefetch(self, candidates: list[Candidate]) -> None:
        """List tables and log groups once when many are to be looked up (a large stage has
        hundreds of log groups): then only the names that exist are described."""
        tables = [c.name for c in candidates if c.resource_type == "AWS::DynamoDB::Table"]
        if len(tables) > PREFETCH_FROM and "tables" not in self.existing:
            ddb = self.aws.client("dynamodb")
            self.existing["tables"] = {t for page in ddb.get_paginator("list_tables").paginate()
                                       for t in page.get("TableNames", [])}
        groups: dict[str, list[str]] = {}
        for c in candidates:
            if c.resource_type == "AWS::Logs::LogGroup":
                groups.setdefault(c.name.rsplit("/", 1)[0], []).append(c.name)
        logs = self.aws.client("logs")
        for names in groups.values():
            prefix = os.path.commonprefix(names)
            if len(names) > PREFETCH_FROM and prefix and f"logs:{prefix}" not in self.existing:
                self.existing[f"logs:{prefix}"] = {
                    g["logGroupName"] for page in logs.get_paginator("describe_log_groups").paginate(
                        logGroupNamePrefix=prefix) for g in page.get("logGroups", [])}

    def absent(self, kind: str, name: str) -> bool:
        """True when a listing made by `prefetch` shows `name` does not exist."""
        tables = self.existing.get("tables")
        if kind == "tables" and tables is not None:
            return name not in tables
        if kind == "logs":
            for key, names in self.existing.items():
                if key.startswith("logs:") and name.startswith(key[5:]) and names is not None:
                    return name not in names
        return False

    def owner(self, tags: dict[str, str]) -> str | None:
        """None when `tags` mark the resource as this stage's; else who it belongs to."""
        stack = tags.get(CFN_STACK_TAG)
        if stack:
            if any(stack == s or stack.startswith(s + "-") for s in self.stack_names):
                return None
            return f"it belongs to the stack {stack}"
        wanted = {k: v for k, v in self.tags.items() if k in ("Project", "Environment")}
        if wanted and all(tags.get(k) == v for k, v in wanted.items()):
            return None
        return "it does not carry this stage's Project and Environment tags"


def _tags(pairs: list[dict[str, Any]] | None, key: str = "Key", value: str = "Value") -> dict[str, str]:
    return {str(t.get(key)): str(t.get(value)) for t in pairs or []}


def find_table(ctx: Context, c: Candidate) -> Answer:
    if ctx.absent("tables", c.name):
        return None
    ddb = ctx.aws.client("dynamodb")
    try:
        table = ddb.describe_table(TableName=c.name)["Table"]
    except aws_exceptions() as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return None
        raise
    tags = _tags(ddb.list_tags_of_resource(ResourceArn=table["TableArn"]).get("Tags"))
    return {"TableName": c.name}, ctx.owner(tags)


def find_bucket(ctx: Context, c: Candidate) -> Answer:
    s3 = ctx.aws.client("s3")
    try:
        s3.head_bucket(Bucket=c.name)
    except aws_exceptions() as exc:
        code = error_code(exc)
        if code in ("404", "NoSuchBucket", "NotFound"):
            return None
        if code in ("403", "AccessDenied", "Forbidden"):
            return {"BucketName": c.name}, "the name is taken by a bucket of another account"
        raise
    try:
        tags = _tags(s3.get_bucket_tagging(Bucket=c.name).get("TagSet"))
    except aws_exceptions() as exc:
        if error_code(exc) not in ("NoSuchTagSet", "NoSuchTagSetError"):
            raise
        tags = {}
    return {"BucketName": c.name}, ctx.owner(tags)


def find_log_group(ctx: Context, c: Candidate) -> Answer:
    if ctx.absent("logs", c.name):
        return None
    logs = ctx.aws.client("logs")
    groups = logs.describe_log_groups(logGroupNamePrefix=c.name).get("logGroups", [])
    if not any(g.get("logGroupName") == c.name for g in groups):
        return None
    tags = logs.list_tags_log_group(logGroupName=c.name).get("tags", {})
    return {"LogGroupName": c.name}, ctx.owner(tags)


def find_secret(ctx: Context, c: Candidate) -> Answer:
    sm = ctx.aws.client("secretsmanager")
    try:
        secret = sm.describe_secret(SecretId=c.name)
    except aws_exceptions() as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return None
        raise
    if secret.get("DeletedDate"):
        return {"Id": secret["ARN"]}, ("it is scheduled for deletion (restore it with aws secretsmanager "
                                       "restore-secret to import it)")
    return {"Id": secret["ARN"]}, ctx.owner(_tags(secret.get("Tags")))


def find_queue(ctx: Context, c: Candidate) -> Answer:
    sqs = ctx.aws.client("sqs")
    try:
        url = sqs.get_queue_url(QueueName=c.name)["QueueUrl"]
    except aws_exceptions() as exc:
        if error_code(exc) in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
            return None
        raise
    return {"QueueUrl": url}, ctx.owner(sqs.list_queue_tags(QueueUrl=url).get("Tags") or {})


def find_key(ctx: Context, c: Candidate) -> Answer:
    """The newest enabled key CloudFormation tagged with this logical id in one of this stage's stacks."""
    kms = ctx.aws.client("kms")
    best: tuple[datetime, str] | None = None
    for page in kms.get_paginator("list_keys").paginate():
        for key in page.get("Keys", []):
            try:
                tags = _tags(kms.list_resource_tags(KeyId=key["KeyId"]).get("Tags"), "TagKey", "TagValue")
            except aws_exceptions() as exc:
                if error_code(exc) in ("AccessDeniedException", "NotFoundException"):
                    continue   # keys of AWS services or other principals
                raise
            if tags.get(CFN_LOGICAL_TAG) != c.logical_id or ctx.owner(tags) is not None or CFN_STACK_TAG not in tags:
                continue
            if not _in_stack(tags[CFN_STACK_TAG], c):
                continue
            meta = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
            if meta.get("KeyState") != "Enabled":
                continue
            if best is None or meta.get("CreationDate") > best[0]:
                best = (meta.get("CreationDate"), key["KeyId"])
    return ({"KeyId": best[1]}, None) if best else None


def find_user_pool(ctx: Context, c: Candidate) -> Answer:
    """The newest user pool CloudFormation tagged with this logical id in one of this stage's stacks
    (its users are the data a redeployed stage must keep)."""
    idp = ctx.aws.client("cognito-idp")
    best: tuple[datetime, str] | None = None
    for page in idp.get_paginator("list_user_pools").paginate(MaxResults=60):
        for summary in page.get("UserPools", []):
            pool = idp.describe_user_pool(UserPoolId=summary["Id"])["UserPool"]
            tags = pool.get("UserPoolTags") or {}
            if tags.get(CFN_LOGICAL_TAG) != c.logical_id or not _in_stack(tags.get(CFN_STACK_TAG, ""), c):
                continue
            if best is None or pool.get("CreationDate") > best[0]:
                best = (pool.get("CreationDate"), summary["Id"])
    return ({"UserPoolId": best[1]}, None) if best else None


def _in_stack(stack: str, c: Candidate) -> bool:
    """Whether CloudFormation's stack-name tag names the stack the candidate lives in."""
    if c.child is None:
        return stack == c.label
    root = c.label.split("/")[0]
    return stack == f"{root}-{c.child}" or stack.startswith(f"{root}-{c.child}-")


FINDERS: dict[str, Callable[[Context, Candidate], Answer]] = {
    "AWS::DynamoDB::Table": find_table,
    "AWS::S3::Bucket": find_bucket,
    "AWS::Logs::LogGroup": find_log_group,
    "AWS::SecretsManager::Secret": find_secret,
    "AWS::SQS::Queue": find_queue,
    "AWS::KMS::Key": find_key,
    "AWS::Cognito::UserPool": find_user_pool,
}


def find_retained(build: Build, aws: Aws) -> Imports:
    """Retained resources of this stage that exist: to import, or blocked (someone else's)."""
    account = aws.account_id()
    names = (build.stack_name,) + ((build.global_stack.stack_name,) if build.global_stack else ())
    result = Imports()
    stacks: list[tuple[Aws, dict[str, Any], str, str | None, bool]] = [
        (aws, build.template(build.root_template), build.stack_name, None, False)]
    stacks += [(aws, build.template(path), f"{build.stack_name}/{lid}", lid, False)
               for lid, path in sorted(build.templates.items())]
    if build.global_stack:
        gaws = aws.in_region(build.global_stack.region)
        if describe_stack(gaws.client("cloudformation"), build.global_stack.stack_name) is None:
            stacks.append((gaws, build.template(build.global_stack.template), build.global_stack.stack_name,
                           None, True))
    contexts: dict[str, Context] = {}
    for where, template, label, child, is_global in stacks:
        ctx = contexts.setdefault(where.region, Context(where, names, build.tags))
        found_here = candidates(template, label, child, account, where.region)
        with aws_errors(f"listing the retained resources of {label}"):
            ctx.prefetch(found_here)
        for c in found_here:
            with aws_errors(f"looking for the retained {c.resource_type} {c.name or c.logical_id}"):
                answer = FINDERS[c.resource_type](ctx, c)
            if answer is None:
                continue
            identifier, problem = answer
            _, missing = import_resource(template["Resources"][c.logical_id])
            if problem is None and missing:
                problem = f"its required properties {', '.join(missing)} refer to other resources"
            if problem is not None:
                result.blocked.append((c, problem))
            elif is_global:
                result.global_found.append(Found(c, identifier))
            else:
                result.found.append(Found(c, identifier))
    return result


def show_imports(ui: Ui, imports: Imports | None) -> None:
    """What exists but will not be imported (warnings), then what will be."""
    if imports is None:
        return
    for c, problem in imports.blocked:
        ui.warn(f"{c.label} > {c.logical_id}: {c.resource_type} {c.name or ''} exists but will not be imported: "
                f"{problem}.")
    if imports:
        ui.say(f"Retained resources of this stage found in the account; deploy imports them "
               f"({len(imports.all())}), nothing is deleted or emptied:")
        for f in imports.all():
            ui.say(f"  import {f.candidate.label} > {f.candidate.logical_id} ({f.candidate.resource_type}) "
                   f"<- {f.shown}")
