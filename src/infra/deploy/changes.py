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

from infra.deploy.stack_state import NESTED_STACK_TYPE

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

    @property
    def empty(self) -> bool:
        return not (self.rows or self.parameters or self.tags)

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
    """Resource-level differences between two templates (no parameter evaluation)."""
    old_res = (old or {}).get("Resources", {}) or {}
    new_res = (new or {}).get("Resources", {}) or {}
    rows: list[Row] = []
    for lid, res in new_res.items():
        if lid not in old_res:
            rows.append(Row(label, "Add", lid, res.get("Type", ""), local=True))
        elif old_res[lid] != res:
            rows.append(_modify_row(label, lid, old_res[lid], res))
    for lid, res in old_res.items():
        if lid not in new_res:
            rows.append(Row(label, "Remove", lid, res.get("Type", ""), local=True))
    return rows


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


class LocalFallback:
    """Child rows from templates, for endpoints that give no nested change sets."""

    def __init__(self, cfn: Any, root_label: str, parent_stack: str | None,
                 children: dict[str, Path], load: Callable[[Path], dict[str, Any]] | None = None):
        self.cfn = cfn
        self.root_label = root_label
        self.parent_stack = parent_stack          # root stack id (None for a stack being created)
        self.children = children                  # logical id -> generated child template
        self.load = load or (lambda p: json.loads(p.read_text()))

    def rows(self, label: str, stack_row: Row) -> list[Row] | None:
        if stack_row.stack != self.root_label:
            return None
        if stack_row.logical_id not in self.children and stack_row.action != "Remove":
            return None
        new = self.load(self.children[stack_row.logical_id]) if stack_row.action != "Remove" else {}
        old: dict[str, Any] = {}
        if stack_row.action in ("Modify", "Remove"):
            physical = stack_row.physical_id or self._physical_id(stack_row.logical_id)
            if not physical:
                return None
            old = self._deployed_template(physical)
        return diff_templates(old, new, label)

    def _physical_id(self, logical_id: str) -> str:
        if not self.parent_stack:
            return ""
        paginator = self.cfn.get_paginator("list_stack_resources")
        for page in paginator.paginate(StackName=self.parent_stack):
            for res in page.get("StackResourceSummaries", []):
                if res.get("LogicalResourceId") == logical_id:
                    return res.get("PhysicalResourceId", "") or ""
        return ""

    def _deployed_template(self, stack: str) -> dict[str, Any]:
        return deployed_template(self.cfn, stack)


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


def value_changes(old: dict[str, str], new: dict[str, str], *, masked: str = "****") -> list[tuple[str, str | None, str | None]]:
    """(key, old, new) for each key whose value differs; masked (NoEcho) old values count as equal."""
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a == masked and b is not None:
            continue
        if a != b:
            out.append((key, a, b))
    return out
