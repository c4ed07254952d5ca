"""Resource changes as rows (`Diff`): one row per resource change, at every level of nesting.

Rows come from a change set (`infra.deploy.changeset.collect` reads every nested change set) or
are computed locally from templates: the deployed template (GetTemplate) against the generated one,
for a stack not deployed yet, or for a child whose endpoint produced no nested change set
(emulators). Local rows are marked `local`; their replacement column is what the resource types'
facts (`infra.resource_types`) say for the properties that changed, or "?" when we cannot tell.
`enrich` adds what a reviewer needs: property values, outputs, IAM and security group changes.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.deploy.access_diff import SecurityChange, security_changes
from infra.deploy.property_diff import MAX_CHANGES, compact, property_changes, shorten
from infra.resource_types import NESTED_STACK, facts, replacing_properties

NESTED_STACK_TYPE = NESTED_STACK

IAM_PROPERTIES = {"PolicyDocument", "AssumeRolePolicyDocument", "Policies", "ManagedPolicyArns",
                  "KeyPolicy", "PermissionsBoundary", "Policy", "Role", "Roles", "Users", "Groups"}


@dataclass(frozen=True)
class Row:
    stack: str                 # root/Child
    action: str                # Add, Modify, Remove, Import, Dynamic, Move
    logical_id: str
    resource_type: str
    replacement: str = ""      # True, False, Conditional, "?" (unknown), "" (not applicable)
    physical_id: str = ""
    properties: tuple[str, ...] = ()   # changed properties, when known
    local: bool = False        # computed locally (the endpoint gave no nested change set)
    policy_action: str = ""    # Delete, Retain, ReplaceAndDelete, ... when CloudFormation says
    values: tuple[tuple[str, str, str], ...] = ()   # (property path, deployed, new), shown values
    identifier: str = ""       # Import: the existing resource's identifier; Move: the stack it leaves
    custom_name: str = ""      # replaced although it has a fixed name that stays the same (CloudFormation cannot)

    @property
    def replaces(self) -> bool:
        return self.replacement in ("True", "Conditional")

    @property
    def iam(self) -> bool:
        if self.action == "Move":
            return False   # the same resource, properties and all, in another stack: no access changes
        if self.resource_type.startswith("AWS::IAM::") or facts(self.resource_type).grants_access:
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

    def stateful_risks(self, stateful_types: Collection[str]) -> list[Row]:
        """Stateful resources this change replaces or removes (data loss, or a stack-policy denial)."""
        return [r for r in self.rows
                if r.resource_type in stateful_types and (r.replaces or r.action == "Remove")]


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
        if row.action == "Remove" and not row.policy_action:
            # What a removal does with the resource (CloudFormation says it in the change set; an
            # emulator may not): from the deployed template's DeletionPolicy, so a retained one
            # is not shown as deleted.
            deployed = pair(row.stack)
            policy = ((deployed[0].get("Resources") or {}).get(row.logical_id) or {}).get("DeletionPolicy") \
                if deployed else None
            if isinstance(policy, str) and policy != "Delete":
                row = Row(**{**row.__dict__, "policy_action": policy})
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
            name_prop = facts(row.resource_type).name_property
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
