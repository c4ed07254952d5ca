"""A change set as rows: every level of nesting, one row per resource change.

With `IncludeNestedStacks`, CloudFormation gives each changed nested stack its own change set
(`ResourceChange.ChangeSetId`); we walk them all, so nothing hides behind a "Modify
AWS::CloudFormation::Stack". When an endpoint produces no nested change set (emulators), the
child's rows are computed locally instead: the deployed child template (GetTemplate) against the
one we generated. Those rows are marked `local`, and their replacement column is what the
resource specification says for the properties that changed, or "?" when we cannot tell.
"""
from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.deploy.security import SecurityChange, security_changes
from infra.deploy.stack_state import NESTED_STACK_TYPE
from infra.deploy.values import MAX_CHANGES, compact, property_changes, shorten

# Properties whose change replaces the resource ("Update requires: Replacement" in the
# CloudFormation reference), in addition to the registry schemas' createOnlyProperties (which
# cfn-lint ships and `replacing_properties` reads). Complete for the stateful types.
REPLACEMENT_PROPERTIES: dict[str, set[str]] = {
    "AWS::DynamoDB::Table": {"TableName", "KeySchema", "LocalSecondaryIndexes", "ImportSourceSpecification"},
    "AWS::S3::Bucket": {"BucketName", "ObjectLockEnabled"},
    "AWS::KMS::Key": {"KeySpec", "KeyUsage", "Origin"},
    "AWS::SecretsManager::Secret": {"Name"},
    "AWS::Lambda::Function": {"FunctionName", "PackageType"},
    "AWS::IAM::Role": {"RoleName", "Path"},
    "AWS::IAM::ManagedPolicy": {"ManagedPolicyName", "Path"},
    "AWS::Logs::LogGroup": {"LogGroupName"},
    "AWS::SNS::Topic": {"TopicName", "FifoTopic"},
    "AWS::SQS::Queue": {"QueueName", "FifoQueue"},
    "AWS::SSM::Parameter": {"Name"},
    "AWS::KMS::Alias": {"AliasName"},
    "AWS::CloudWatch::Alarm": {"AlarmName"},
    "AWS::CloudWatch::Dashboard": {"DashboardName"},
    "AWS::ApiGateway::Resource": {"ParentId", "PathPart", "RestApiId"},
    "AWS::ApiGateway::Method": {"RestApiId", "ResourceId", "HttpMethod"},
    "AWS::ApiGateway::Stage": {"RestApiId", "StageName"},
    "AWS::ApiGateway::Deployment": {"RestApiId", "DeploymentCanarySettings"},
    "AWS::ApiGateway::Model": {"RestApiId", "Name", "ContentType"},
    "AWS::WAFv2::WebACL": {"Name", "Scope"},
    "AWS::WAFv2::WebACLAssociation": {"ResourceArn", "WebACLArn"},
    "AWS::Lambda::Permission": {"Action", "FunctionName", "Principal", "SourceArn", "SourceAccount"},
}
# The property that gives a resource a custom name. "If you specify a name, you can't perform updates
# that require replacement of this resource" (CloudFormation resource custom naming:
# https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-name.html).
NAME_PROPERTIES: dict[str, str] = {
    "AWS::DynamoDB::Table": "TableName", "AWS::S3::Bucket": "BucketName", "AWS::SecretsManager::Secret": "Name",
    "AWS::Logs::LogGroup": "LogGroupName", "AWS::Lambda::Function": "FunctionName", "AWS::IAM::Role": "RoleName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName", "AWS::SNS::Topic": "TopicName", "AWS::SQS::Queue": "QueueName",
    "AWS::KMS::Alias": "AliasName", "AWS::SSM::Parameter": "Name", "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::CloudWatch::Dashboard": "DashboardName", "AWS::CodeBuild::Project": "Name",
    "AWS::CodePipeline::Pipeline": "Name", "AWS::ApiGateway::RestApi": "Name",
}
# Types that always count as the stateful ones with every property known above.
KNOWN_COMPLETE = {"AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::KMS::Key", "AWS::SecretsManager::Secret"}
IAM_TYPES = {
    "AWS::Lambda::Permission", "AWS::S3::BucketPolicy", "AWS::SNS::TopicPolicy",
    "AWS::SQS::QueuePolicy", "AWS::Logs::ResourcePolicy", "AWS::KMS::Key",
    "AWS::SecretsManager::ResourcePolicy", "AWS::ApiGateway::Account",
}
IAM_PROPERTIES = {"PolicyDocument", "AssumeRolePolicyDocument", "Policies", "ManagedPolicyArns",
                  "KeyPolicy", "PermissionsBoundary", "Policy", "Role", "Roles", "Users", "Groups"}


@dataclass(frozen=True)
class Row:
    stack: str                 # root/Child
    action: str                # Add, Modify, Remove, Import, Dynamic
    logical_id: str
    resource_type: str
    replacement: str = ""      # True, False, Conditional, "?" (unknown), "" (not applicable)
    physical_id: str = ""
    properties: tuple[str, ...] = ()   # changed properties, when known
    local: bool = False        # computed locally (the endpoint gave no nested change set)
    policy_action: str = ""    # Delete, Retain, ReplaceAndDelete, ... when CloudFormation says
    values: tuple[tuple[str, str, str], ...] = ()   # (property path, deployed, new), shown values
    identifier: str = ""       # Import: the existing resource's identifier
    custom_name: str = ""      # replaced although it has a fixed name that stays the same (CloudFormation cannot)

    @property
    def replaces(self) -> bool:
        return self.replacement in ("True", "Conditional")

    @property
    def iam(self) -> bool:
        if self.resource_type.startswith("AWS::IAM::") or self.resource_type in IAM_TYPES:
            if self.resource_type == "AWS::KMS::Key":
                return self.action != "Modify" or bool(set(self.properties) & IAM_PROPERTIES) or not self.properties
            return True
        return bool(set(self.properties) & IAM_PROPERTIES)


@dataclass
class Diff:
    rows: list[Row] = field(default_factory=list)
    parameters: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    tags: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    outputs: list[tuple[str, str, str, str]] = field(default_factory=list)   # (stack, name, deployed, new)
    security: list[SecurityChange] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.rows or self.parameters or self.tags or self.outputs)

    @property
    def broadening(self) -> list[SecurityChange]:
        """IAM statement and security group changes that widen access."""
        return [c for c in self.security if c.broadening]

    def stateful_risks(self, stateful_types: tuple[str, ...] | list[str]) -> list[Row]:
        """Stateful resources this change replaces or removes (data loss, or a stack-policy denial)."""
        return [r for r in self.rows
                if r.resource_type in stateful_types and (r.replaces or r.action == "Remove")]


def row_from_change(change: dict[str, Any], label: str) -> Row:
    rc = change.get("ResourceChange", {})
    props = tuple(sorted({
        d["Target"].get("Name", "") for d in rc.get("Details", []) or []
        if d.get("Target", {}).get("Attribute") == "Properties" and d["Target"].get("Name")
    }))
    replacement = rc.get("Replacement", "") or ""
    if not replacement and rc.get("Action") == "Modify":
        replacement = "?"
    return Row(label, rc.get("Action", ""), rc.get("LogicalResourceId", ""), rc.get("ResourceType", ""),
               replacement, rc.get("PhysicalResourceId", "") or "", props,
               policy_action=rc.get("PolicyAction", "") or "")


def collect(cfn: Any, changes: list[dict[str, Any]], label: str,
            fallback: "LocalFallback | None" = None, diff: Diff | None = None) -> Diff:
    """Rows for `changes` (one change set) and, recursively, for its nested change sets."""
    from infra.deploy.changeset import describe_all

    diff = diff or Diff()
    for change in changes:
        if change.get("Type") != "Resource":
            continue
        row = row_from_change(change, label)
        rc = change["ResourceChange"]
        if row.resource_type == NESTED_STACK_TYPE:
            row = Row(**{**row.__dict__, "replacement": rc.get("Replacement", "") or ""})
        diff.rows.append(row)
        if row.resource_type != NESTED_STACK_TYPE:
            continue
        child_label = f"{label}/{row.logical_id}"
        if rc.get("ChangeSetId"):
            collect(cfn, describe_all(cfn, rc["ChangeSetId"]), child_label, fallback, diff)
        elif fallback is not None:
            rows = fallback.rows(child_label, row)
            if rows is None:
                diff.notes.append(f"{child_label}: no nested change set and no local template to compare; its resource changes are not listed.")
            else:
                diff.rows.extend(rows)
                if row.action == "Modify":
                    diff.notes.append(f"{child_label}: the endpoint produced no nested change set; rows computed locally from the deployed and generated templates.")
    return diff


def diff_templates(old: dict[str, Any], new: dict[str, Any], label: str) -> list[Row]:
    """Resource-level differences between two templates (no parameter evaluation).

    A nested stack's TemplateURL is not compared: where the child template lives says nothing
    about what changes (its own rows do).
    """
    old_res = (old or {}).get("Resources", {}) or {}
    new_res = (new or {}).get("Resources", {}) or {}
    rows: list[Row] = []
    for lid, res in new_res.items():
        if lid not in old_res:
            rows.append(Row(label, "Add", lid, res.get("Type", ""), local=True))
        elif _comparable(old_res[lid]) != _comparable(res):
            rows.append(_modify_row(label, lid, old_res[lid], res))
    for lid, res in old_res.items():
        if lid not in new_res:
            rows.append(Row(label, "Remove", lid, res.get("Type", ""), local=True))
    return rows


def _comparable(resource: dict[str, Any]) -> dict[str, Any]:
    if resource.get("Type") != NESTED_STACK_TYPE:
        return resource
    props = {k: v for k, v in (resource.get("Properties") or {}).items() if k != "TemplateURL"}
    return {**resource, "Properties": props}


@functools.lru_cache(maxsize=None)
def replacing_properties(resource_type: str) -> frozenset[str] | None:
    """Top-level properties whose change replaces a resource; None when the type is unknown."""
    known = set(REPLACEMENT_PROPERTIES.get(resource_type, set()))
    try:
        from cfnlint.schema.manager import PROVIDER_SCHEMA_MANAGER

        schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", resource_type).schema
    except Exception:  # unknown type, or cfn-lint's schema store unavailable
        return frozenset(known) if resource_type in KNOWN_COMPLETE else None
    for pointer in schema.get("createOnlyProperties", []) or []:
        parts = pointer.split("/")
        if len(parts) >= 3 and parts[1] == "properties":
            known.add(parts[2])
    return frozenset(known)


def _modify_row(label: str, lid: str, old: dict[str, Any], new: dict[str, Any]) -> Row:
    rtype = new.get("Type", "")
    if old.get("Type") != rtype:
        return Row(label, "Modify", lid, rtype, "True", local=True)
    old_p, new_p = old.get("Properties", {}) or {}, new.get("Properties", {}) or {}
    changed = tuple(sorted(k for k in set(old_p) | set(new_p) if old_p.get(k) != new_p.get(k)))
    replacing = replacing_properties(rtype)
    if replacing is not None and set(changed) & replacing:
        replacement = "True"
    elif replacing is not None or not changed:
        replacement = "False"
    else:
        replacement = "?"
    return Row(label, "Modify", lid, rtype, replacement, properties=changed, local=True)


class Templates:
    """The deployed and the generated template of each stack of one tree, by label, read once.

    `root/Child` is the nested stack with logical id Child in the root; its generated template
    is the file the manifest lists for Child. Deeper levels are not known locally (None).
    """

    def __init__(self, cfn: Any, root_label: str, root_stack: str | None, root_new: dict[str, Any],
                 children: dict[str, Path], load: Callable[[Path], dict[str, Any]] | None = None):
        self.cfn = cfn
        self.root_label = root_label
        self.root_stack = root_stack              # root stack id (None for a stack being created)
        self.root_new = root_new
        self.children = children                  # logical id -> generated child template
        self.load = load or (lambda p: json.loads(p.read_text()))
        self._deployed: dict[str, dict[str, Any]] = {}
        self._physical: dict[str, str] | None = None

    def pair(self, label: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """(deployed, generated) templates of the stack at `label`; {} for a side that does not exist."""
        if label == self.root_label:
            return self._deployed_by_id(self.root_stack) if self.root_stack else {}, self.root_new
        parent, _, lid = label.rpartition("/")
        if parent != self.root_label:
            return None
        new = self.load(self.children[lid]) if lid in self.children else {}
        physical = self.physical_ids().get(lid, "")
        return (self._deployed_by_id(physical) if physical else {}), new

    def physical_ids(self) -> dict[str, str]:
        """Nested stack logical id -> stack id, for the deployed root."""
        if self._physical is None:
            self._physical = {}
            if self.root_stack:
                paginator = self.cfn.get_paginator("list_stack_resources")
                for page in paginator.paginate(StackName=self.root_stack):
                    for res in page.get("StackResourceSummaries", []):
                        if res.get("ResourceType") == NESTED_STACK_TYPE and res.get("PhysicalResourceId"):
                            self._physical[res["LogicalResourceId"]] = res["PhysicalResourceId"]
        return self._physical

    def _deployed_by_id(self, stack: str) -> dict[str, Any]:
        if stack not in self._deployed:
            self._deployed[stack] = deployed_template(self.cfn, stack)
        return self._deployed[stack]


class LocalFallback:
    """Child rows from templates, for endpoints that give no nested change sets."""

    def __init__(self, templates: Templates):
        self.templates = templates

    def rows(self, label: str, stack_row: Row) -> list[Row] | None:
        if stack_row.stack != self.templates.root_label:
            return None
        if stack_row.logical_id not in self.templates.children and stack_row.action != "Remove":
            return None
        pair = self.templates.pair(label)
        if pair is None:
            return None
        old, new = pair
        if stack_row.action in ("Modify", "Remove") and not old:
            return None
        return diff_templates(old if stack_row.action != "Add" else {}, new if stack_row.action != "Remove" else {}, label)


def local_plan(templates: Templates) -> Diff:
    """The whole tree's changes computed from templates alone (no change set): for a stage not
    deployed yet (everything is new), or when no artifact bucket exists to create a change set."""
    root = templates.root_label
    diff = Diff()
    old_root, new_root = templates.pair(root) or ({}, {})
    root_rows = diff_templates(old_root, new_root, root)
    listed = {r.logical_id for r in root_rows}
    child_rows: list[Row] = []
    for lid in sorted(set(templates.children) | set(templates.physical_ids())):
        pair = templates.pair(f"{root}/{lid}")
        if pair is None:
            continue
        rows = diff_templates(pair[0], pair[1], f"{root}/{lid}")
        if rows and lid not in listed and lid in (new_root.get("Resources") or {}):
            root_rows.append(Row(root, "Modify", lid, NESTED_STACK_TYPE, "False", local=True))
        child_rows.extend(rows)
    diff.rows = root_rows + child_rows
    return diff


def enrich(diff: Diff, templates: Templates) -> Diff:
    """Add deployed -> new values to modified rows, and the output and IAM/security group changes
    of every stack the diff touches (from the templates)."""
    pairs: dict[str, tuple[dict[str, Any], dict[str, Any]] | None] = {}

    def pair(label: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        if label not in pairs:
            pairs[label] = templates.pair(label)
        return pairs[label]

    rows = []
    for row in diff.rows:
        found = pair(row.stack) if row.action == "Modify" else None
        if found is not None:
            old = (found[0].get("Resources") or {}).get(row.logical_id)
            new = (found[1].get("Resources") or {}).get(row.logical_id)
            skip = ("TemplateURL",) if row.resource_type == NESTED_STACK_TYPE else ()
            values = property_changes(old, new, skip=skip)
            if len(values) > MAX_CHANGES:
                values = values[:MAX_CHANGES] + [(f"(and {len(values) - MAX_CHANGES} more)", "", "")]
            props = row.properties or tuple(sorted({v[0].split(".")[0].split("[")[0] for v in values
                                                    if not v[0].startswith("(")} - {"DeletionPolicy",
                                                    "UpdateReplacePolicy", "Condition"}))
            custom = ""
            name_prop = NAME_PROPERTIES.get(row.resource_type)
            if row.replaces and name_prop and old and new:
                before = (old.get("Properties") or {}).get(name_prop)
                after = (new.get("Properties") or {}).get(name_prop)
                if after is not None and before == after:
                    custom = shorten(compact(after))
            row = Row(**{**row.__dict__, "values": tuple(values), "properties": props, "custom_name": custom})
        rows.append(row)
    diff.rows = rows
    labels = [templates.root_label] + sorted({r.stack for r in diff.rows} - {templates.root_label}) + sorted(
        f"{r.stack}/{r.logical_id}" for r in diff.rows if r.resource_type == NESTED_STACK_TYPE)
    for label in dict.fromkeys(labels):
        found = pair(label)
        if found is None:
            continue
        diff.outputs.extend(output_changes(found[0], found[1], label))
        diff.security.extend(security_changes(found[0], found[1], label))
    return diff


def output_changes(old: dict[str, Any], new: dict[str, Any], label: str) -> list[tuple[str, str, str, str]]:
    """(stack, output, deployed value, new value) for each output added, removed or changed."""
    before = (old or {}).get("Outputs") or {}
    after = (new or {}).get("Outputs") or {}
    changes = []
    for name in sorted(set(before) | set(after)):
        a, b = before.get(name), after.get(name)
        if a is not None and b is not None and a.get("Value") == b.get("Value"):
            continue
        changes.append((label, name, "-" if a is None else shorten(compact(a.get("Value"))),
                        "-" if b is None else shorten(compact(b.get("Value")))))
    return changes


def deployed_template(cfn: Any, stack: str) -> dict[str, Any]:
    """The template a stack runs (GetTemplate, original stage), as a dict."""
    body = cfn.get_template(StackName=stack, TemplateStage="Original").get("TemplateBody", {})
    if isinstance(body, str):
        try:
            return json.loads(body)
        except ValueError:
            import yaml  # we deploy JSON; a stack edited in the console might hold YAML

            return yaml.safe_load(body)
    return json.loads(json.dumps(body))


def value_changes(old: dict[str, str], new: dict[str, str], *, masked: str = "****",
                  secret: frozenset[str] | set[str] = frozenset()) -> list[tuple[str, str | None, str | None]]:
    """(key, old, new) for each key whose value differs; masked (NoEcho) old values count as equal,
    and the values of `secret` keys are never shown."""
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a == masked and b is not None:
            continue
        if a != b:
            if key in secret:
                a, b = (None if a is None else "(secret, not shown)"), (None if b is None else "(secret, not shown)")
            out.append((key, a, b))
    return out
