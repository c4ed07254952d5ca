"""Adopting the resources a stage retained: a destroyed production stage deploys again with its data.

A production stage retains its tables, buckets, key, secrets, queues and log groups (DeletionPolicy
Retain). After `destroy` (or a first create that failed and was deleted), they still exist, and a
new create fails on their names. `deploy` finds them (by name, or for a KMS key by the tags
CloudFormation put on it) and imports them with CloudFormation change sets of type IMPORT. Nothing
is deleted or emptied on the way; only resources tagged as this stage's are adopted.

Resource import supports one level of nesting, so it goes the documented way ("Nest an existing
stack": https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/resource-import-nested-stacks.html):
1. each child stack holding retained resources is created as a standalone stack by an IMPORT
   change set, from its template reduced to those resources (an import may not create or change
   anything else, and may not add outputs);
2. the root is created by an IMPORT change set whose template holds exactly those stacks, with the
   same templates and tags (CloudFormation checks both), imported by their stack ids;
3. a normal update then brings the root to the generated templates: everything else is created and
   the imported resources get their full configuration. It must not replace or remove anything.
The us-east-1 stack, a standalone stack, imports its own retained resources directly. A run that
stops half way is resumed by the next one: stacks step 1 made are found by name and reused.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from infra.deploy.changes import Row
from infra.deploy.session import Aws, aws_errors, error_code
from infra.deploy.stack_state import NESTED_STACK_TYPE, StackInfo, describe_stack
from infra.deploy.ui import Ui

RETAINING = {"Retain", "RetainExceptOnCreate"}
# Type -> (property holding its name, identifier key of ResourcesToImport, per the type's registry
# schema primaryIdentifier). A KMS key and a Cognito user pool have no unique name: they are found by
# the tags CloudFormation put on them.
IMPORTABLE: dict[str, tuple[str, str]] = {
    "AWS::DynamoDB::Table": ("TableName", "TableName"),
    "AWS::S3::Bucket": ("BucketName", "BucketName"),
    "AWS::Logs::LogGroup": ("LogGroupName", "LogGroupName"),
    "AWS::SecretsManager::Secret": ("Name", "Id"),
    "AWS::SQS::Queue": ("QueueName", "QueueUrl"),
    "AWS::KMS::Key": ("", "KeyId"),
    "AWS::Cognito::UserPool": ("", "UserPoolId"),
}
# Tags CloudFormation puts on the resources it creates (and that stay on retained ones).
CFN_STACK_TAG = "aws:cloudformation:stack-name"
CFN_LOGICAL_TAG = "aws:cloudformation:logical-id"
PSEUDO = re.compile(r"\$\{(AWS::[A-Za-z]+)\}")
SUB_VARIABLE = re.compile(r"\$\{(?!!)([^}]+)\}")
READY = {"IMPORT_COMPLETE", "UPDATE_COMPLETE", "CREATE_COMPLETE", "IMPORT_ROLLBACK_COMPLETE"}


@dataclass(frozen=True)
class Candidate:
    """A retained resource of the generated templates that may already exist."""

    label: str               # stack label: the root (or global) stack name, or root/Child
    child: str | None        # the child's logical id in the root; None for the root or the global stack
    logical_id: str
    resource_type: str
    name: str                # its physical name ("" for a KMS key)


@dataclass(frozen=True)
class Found:
    candidate: Candidate
    identifier: dict[str, str]

    @property
    def shown(self) -> str:
        return next(iter(self.identifier.values()))


@dataclass
class Imports:
    """What a deploy would import, and what exists but will not be imported (and why)."""

    found: list[Found] = field(default_factory=list)
    blocked: list[tuple[Candidate, str]] = field(default_factory=list)
    global_found: list[Found] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.found or self.global_found)

    def all(self) -> list[Found]:
        return self.found + self.global_found


# -- names ----------------------------------------------------------------------------------------
def resolve_name(value: Any, account: str, region: str) -> str | None:
    """A literal name, or a Fn::Sub of pseudo parameters only; None when it depends on anything else."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and list(value) == ["Fn::Sub"] and isinstance(value["Fn::Sub"], str):
        partition = "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"
        known = {"AWS::AccountId": account, "AWS::Region": region, "AWS::Partition": partition,
                 "AWS::URLSuffix": "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"}
        text = PSEUDO.sub(lambda m: known.get(m.group(1), m.group(0)), value["Fn::Sub"])
        return None if SUB_VARIABLE.search(text) else text.replace("${!", "${")
    return None


def self_contained(value: Any) -> bool:
    """True when a property value refers to nothing but pseudo parameters (it can go in an import
    template of its own)."""
    if isinstance(value, list):
        return all(self_contained(v) for v in value)
    if not isinstance(value, dict):
        return True
    if list(value) == ["Ref"]:
        return str(value["Ref"]).startswith("AWS::")
    if "Fn::GetAtt" in value or "Fn::ImportValue" in value:
        return False
    if list(value) == ["Fn::Sub"]:
        arg = value["Fn::Sub"]
        if not isinstance(arg, str):
            return False
        return all(v.startswith("AWS::") for v in SUB_VARIABLE.findall(arg))
    return all(self_contained(v) for v in value.values())


def required_properties(resource_type: str) -> set[str]:
    try:
        from cfnlint.schema.manager import PROVIDER_SCHEMA_MANAGER

        schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", resource_type).schema
    except Exception:  # unknown type or no schema store: nothing known to be required
        return set()
    return set(schema.get("required") or [])


def import_resource(resource: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The resource as an import template holds it (properties referring to other resources or
    parameters left out: the update after the import sets them); and the required ones left out."""
    props = resource.get("Properties") or {}
    kept = {k: v for k, v in props.items() if self_contained(v)}
    missing = sorted(required_properties(resource["Type"]) - set(kept))
    out: dict[str, Any] = {"Type": resource["Type"], "DeletionPolicy": resource.get("DeletionPolicy", "Retain")}
    if "UpdateReplacePolicy" in resource:
        out["UpdateReplacePolicy"] = resource["UpdateReplacePolicy"]
    out["Properties"] = kept
    return out, missing


def import_template(template: dict[str, Any], logical_ids: list[str], description: str) -> dict[str, Any]:
    """`template` reduced to the resources being imported: no parameters, conditions or outputs."""
    resources = {lid: import_resource(template["Resources"][lid])[0] for lid in sorted(logical_ids)}
    return {"AWSTemplateFormatVersion": "2010-09-09", "Description": description, "Resources": resources}


# -- finding --------------------------------------------------------------------------------------
PREFETCH_FROM = 5   # names of one kind above which existence is listed in one pass, not asked one by one


@dataclass
class Context:
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
        if kind == "tables" and self.existing.get("tables") is not None:
            return name not in self.existing["tables"]  # type: ignore[operator]
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


def find_table(ctx: Context, c: Candidate) -> tuple[dict[str, str], str | None] | None:
    if ctx.absent("tables", c.name):
        return None
    ddb = ctx.aws.client("dynamodb")
    try:
        table = ddb.describe_table(TableName=c.name)["Table"]
    except Exception as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return None
        raise
    tags = _tags(ddb.list_tags_of_resource(ResourceArn=table["TableArn"]).get("Tags"))
    return {"TableName": c.name}, ctx.owner(tags)


def find_bucket(ctx: Context, c: Candidate) -> tuple[dict[str, str], str | None] | None:
    s3 = ctx.aws.client("s3")
    try:
        s3.head_bucket(Bucket=c.name)
    except Exception as exc:
        code = error_code(exc)
        if code in ("404", "NoSuchBucket", "NotFound"):
            return None
        if code in ("403", "AccessDenied", "Forbidden"):
            return {"BucketName": c.name}, "the name is taken by a bucket of another account"
        raise
    try:
        tags = _tags(s3.get_bucket_tagging(Bucket=c.name).get("TagSet"))
    except Exception as exc:
        if error_code(exc) not in ("NoSuchTagSet", "NoSuchTagSetError"):
            raise
        tags = {}
    return {"BucketName": c.name}, ctx.owner(tags)


def find_log_group(ctx: Context, c: Candidate) -> tuple[dict[str, str], str | None] | None:
    if ctx.absent("logs", c.name):
        return None
    logs = ctx.aws.client("logs")
    groups = logs.describe_log_groups(logGroupNamePrefix=c.name).get("logGroups", [])
    if not any(g.get("logGroupName") == c.name for g in groups):
        return None
    tags = logs.list_tags_log_group(logGroupName=c.name).get("tags", {})
    return {"LogGroupName": c.name}, ctx.owner(tags)


def find_secret(ctx: Context, c: Candidate) -> tuple[dict[str, str], str | None] | None:
    sm = ctx.aws.client("secretsmanager")
    try:
        secret = sm.describe_secret(SecretId=c.name)
    except Exception as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return None
        raise
    if secret.get("DeletedDate"):
        return {"Id": secret["ARN"]}, ("it is scheduled for deletion (restore it with aws secretsmanager "
                                       "restore-secret to import it)")
    return {"Id": secret["ARN"]}, ctx.owner(_tags(secret.get("Tags")))


def find_queue(ctx: Context, c: Candidate) -> tuple[dict[str, str], str | None] | None:
    sqs = ctx.aws.client("sqs")
    try:
        url = sqs.get_queue_url(QueueName=c.name)["QueueUrl"]
    except Exception as exc:
        if error_code(exc) in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
            return None
        raise
    return {"QueueUrl": url}, ctx.owner(sqs.list_queue_tags(QueueUrl=url).get("Tags") or {})


def find_key(ctx: Context, c: Candidate) -> tuple[dict[str, str], str | None] | None:
    """The newest enabled key CloudFormation tagged with this logical id in one of this stage's stacks."""
    kms = ctx.aws.client("kms")
    best: tuple[Any, str] | None = None
    for page in kms.get_paginator("list_keys").paginate():
        for key in page.get("Keys", []):
            try:
                tags = _tags(kms.list_resource_tags(KeyId=key["KeyId"]).get("Tags"), "TagKey", "TagValue")
            except Exception as exc:
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


def find_user_pool(ctx: Context, c: Candidate) -> tuple[dict[str, str], str | None] | None:
    """The newest user pool CloudFormation tagged with this logical id in one of this stage's stacks
    (its users are the data a redeployed stage must keep)."""
    idp = ctx.aws.client("cognito-idp")
    best: tuple[Any, str] | None = None
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


FINDERS = {
    "AWS::DynamoDB::Table": find_table,
    "AWS::S3::Bucket": find_bucket,
    "AWS::Logs::LogGroup": find_log_group,
    "AWS::SecretsManager::Secret": find_secret,
    "AWS::SQS::Queue": find_queue,
    "AWS::KMS::Key": find_key,
    "AWS::Cognito::UserPool": find_user_pool,
}


def candidates(template: dict[str, Any], label: str, child: str | None, account: str, region: str) -> list[Candidate]:
    """Retained resources of an importable type whose name can be known before deploying."""
    found = []
    for lid, res in sorted((template.get("Resources") or {}).items()):
        rtype = res.get("Type", "")
        if rtype not in IMPORTABLE or res.get("DeletionPolicy") not in RETAINING:
            continue
        name_prop = IMPORTABLE[rtype][0]
        name = ""
        if name_prop:
            name = resolve_name((res.get("Properties") or {}).get(name_prop), account, region) or ""
            if not name:
                continue
        found.append(Candidate(label, child, lid, rtype, name))
    return found


def find_retained(build: Any, aws: Aws, ui: Ui) -> Imports:
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


def mark_imports(rows: list[Row], found: list[Found]) -> list[Row]:
    """Rows of a local plan, with the resources to import as Import instead of Add."""
    by_key = {(f.candidate.label, f.candidate.logical_id): f for f in found}
    out = []
    for row in rows:
        f = by_key.get((row.stack, row.logical_id))
        if f is not None and row.action == "Add":
            row = Row(**{**row.__dict__, "action": "Import", "identifier": f.shown})
        out.append(row)
    return out


# -- importing ------------------------------------------------------------------------------------
def import_standalone(aws: Aws, ui: Ui, name: str, template: dict[str, Any], found: list[Found],
                      tags: dict[str, str], bucket: str | None, timeout: float | None) -> StackInfo:
    """Create stack `name` from existing resources with an IMPORT change set (or find it made already).

    The template goes to `bucket`, or inline when there is none (the us-east-1 stack)."""
    import json

    from infra.deploy.changeset import IMPORT_NAME
    from infra.deploy.runner import StackRunner, StackSpec

    cfn = aws.client("cloudformation")
    info = describe_stack(cfn, name)
    if info is not None and info.status in READY:
        ui.note(f"{name} exists already ({info.status}, from an earlier import): reusing it.")
        return info
    if bucket:
        spec = StackSpec(name=name, template=template, parameters={}, tags=tags,
                         template_url=upload_json(aws, bucket, template))
    else:
        spec = StackSpec(name=name, template=template, parameters={}, tags=tags,
                         template_body=json.dumps(template, indent=2, sort_keys=True) + "\n")
    runner = StackRunner(aws, ui, spec, change_set_name=IMPORT_NAME, timeout=timeout)
    resources = [{"ResourceType": f.candidate.resource_type, "LogicalResourceId": f.candidate.logical_id,
                  "ResourceIdentifier": f.identifier} for f in found]
    ui.step(f"Importing {len(found)} retained resource(s) into {name} ({aws.region})")
    return runner.run_import(resources)


def upload_json(aws: Aws, bucket: str, template: dict[str, Any]) -> str:
    import json

    from infra.deploy.package import s3_url, sha256

    body = (json.dumps(template, indent=2, sort_keys=True) + "\n").encode()
    key = f"templates/{sha256(body)}.json"
    aws.client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
    return s3_url(bucket, aws.region, key, aws.partition_suffix)


def root_import_template(build: Any, children: dict[str, tuple[str, str]], root_found: list[Found]
                         ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The root's import template and its ResourcesToImport: each child stack made in step 1
    (`children`: logical id -> (template URL, stack id)) nested with the same template and tags
    its definition gives, plus the root's own retained resources."""
    root_template = build.template(build.root_template)
    resources: dict[str, Any] = {}
    to_import: list[dict[str, Any]] = []
    for child, (url, stack_id) in sorted(children.items()):
        definition = (root_template["Resources"].get(child) or {}).get("Properties") or {}
        props: dict[str, Any] = {"TemplateURL": url}
        if definition.get("Tags"):
            props["Tags"] = definition["Tags"]
        # "Nest an existing stack" adds the stack resource with DeletionPolicy Retain.
        resources[child] = {"Type": NESTED_STACK_TYPE, "DeletionPolicy": "Retain", "Properties": props}
        to_import.append({"ResourceType": NESTED_STACK_TYPE, "LogicalResourceId": child,
                          "ResourceIdentifier": {"StackId": stack_id}})
    for f in root_found:
        resources[f.candidate.logical_id] = import_resource(root_template["Resources"][f.candidate.logical_id])[0]
        to_import.append({"ResourceType": f.candidate.resource_type, "LogicalResourceId": f.candidate.logical_id,
                          "ResourceIdentifier": f.identifier})
    template = {"AWSTemplateFormatVersion": "2010-09-09",
                "Description": f"{build.stack_name}: retained resources, imported", "Resources": resources}
    return template, to_import


def import_root(stage: Any, ui: Ui, opts: Any, imports: Imports, bucket: str) -> StackInfo:
    """Steps 1 and 2: each child with retained resources as a standalone stack, then the root
    importing those stacks (and its own retained resources)."""
    from infra.deploy.changeset import IMPORT_NAME
    from infra.deploy.runner import StackRunner, StackSpec

    build, aws = stage.build, stage.aws
    root_template = build.template(build.root_template)
    by_child: dict[str | None, list[Found]] = {}
    for f in imports.found:
        by_child.setdefault(f.candidate.child, []).append(f)
    children: dict[str, tuple[str, str]] = {}
    for child, found in sorted(((c, f) for c, f in by_child.items() if c is not None), key=lambda kv: kv[0]):
        reduced = import_template(build.template(build.templates[child]), [f.candidate.logical_id for f in found],
                                  f"{build.stack_name}/{child}: retained resources, imported")
        definition = (root_template["Resources"].get(child) or {}).get("Properties") or {}
        child_tags = {t["Key"]: t["Value"] for t in definition.get("Tags") or [] if isinstance(t, dict)}
        with aws_errors(f"importing the retained resources of {build.stack_name}/{child}"):
            info = import_standalone(aws, ui, f"{build.stack_name}-{child}", reduced, found, child_tags, bucket,
                                     opts.timeout)
            children[child] = (upload_json(aws, bucket, reduced), info.stack_id)
    template, to_import = root_import_template(build, children, by_child.get(None, []))
    with aws_errors(f"importing into {build.stack_name} in {aws.region}"):
        url = upload_json(aws, bucket, template)
        spec = StackSpec(name=build.stack_name, template=template, parameters={}, tags=stage.tags, template_url=url)
        runner = StackRunner(aws, ui, spec, change_set_name=IMPORT_NAME, timeout=opts.timeout)
        ui.step(f"Importing {len(to_import)} stack(s) and resource(s) into {build.stack_name} ({aws.region})")
        return runner.run_import(to_import)


def local_import_plans(stage: Any, ui: Ui, imports: Imports) -> list[Any]:
    """What the deploy will do, from the templates: imports, and everything else new."""
    from infra.deploy.changeset import DEPLOY_NAME
    from infra.deploy.orchestrate import global_spec, local_root_spec, root_parameters
    from infra.deploy.runner import StackRunner

    build = stage.build
    plans = []
    if build.global_stack and stage.global_info is None:
        runner = StackRunner(stage.global_aws, ui, global_spec(build, stage.tags), change_set_name=DEPLOY_NAME)
        plan = runner.plan_locally()
        plan.diff.rows = mark_imports(plan.diff.rows, imports.global_found)
        plans.append(plan)
    from_global = {p: "(output of the us-east-1 stack)" for p in build.global_stack.outputs.values()} \
        if build.global_stack else None
    params = root_parameters(build, "(artifact bucket)", from_global)
    runner = StackRunner(stage.aws, ui, local_root_spec(build, params, stage.tags), change_set_name=DEPLOY_NAME)
    plan = runner.plan_locally()
    plan.diff.rows = mark_imports(plan.diff.rows, imports.found)
    plans.append(plan)
    return plans


def deploy_with_imports(stage: Any, ui: Ui, opts: Any, imports: Imports) -> StackInfo:
    """Import the retained resources (one confirmation for the whole plan), then deploy as usual."""
    from infra.deploy.orchestrate import approve, deploy_planned, resolve_bucket, show_plan

    build = stage.build
    show_imports(ui, imports)
    with aws_errors(f"planning {build.stack_name} from its templates"):
        plans = local_import_plans(stage, ui, imports)
    region_of = {build.stack_name: stage.aws.region}
    if build.global_stack:
        region_of[build.global_stack.stack_name] = build.global_stack.region
    for plan in plans:
        show_plan(ui, plan, build, region_of[plan.spec.name])
    approve(ui, opts, plans, region_of, action=f"Import {len(imports.all())} retained resource(s) and deploy")
    bucket = resolve_bucket(stage.aws, ui, opts)
    if imports.global_found and build.global_stack:
        glob = build.global_stack
        reduced = import_template(build.template(glob.template), [f.candidate.logical_id for f in imports.global_found],
                                  f"{glob.stack_name}: retained resources, imported")
        with aws_errors(f"importing the retained resources of {glob.label}"):
            stage.global_info = import_standalone(stage.global_aws, ui, glob.stack_name, reduced, imports.global_found,
                                                  stage.tags, None, opts.timeout)
    if imports.found:
        stage.root = import_root(stage, ui, opts, imports, bucket)
    ui.step(f"Bringing {build.stack_name} to the generated templates")
    return deploy_planned(stage, ui, opts, approved=True)
