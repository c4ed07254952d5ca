"""Importing the resources a stage retained, planned from the templates (pure: no AWS call).

A production stage retains its tables, buckets, key, secrets, queues, user pool and log groups
(DeletionPolicy Retain). After `destroy` (or a first create that failed and was deleted) they still
exist, and a new create fails on their names. `infra.deploy.retained` finds them; this module turns
what was found into the templates and `ResourcesToImport` of CloudFormation IMPORT change sets, as
steps of the deploy plan.

Resource import supports one level of nesting, so it goes the documented way ("Nest an existing
stack": https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/resource-import-nested-stacks.html):
1. each child stack holding retained resources is created as a standalone stack by an IMPORT
   change set, from its template reduced to those resources (an import may not create or change
   anything else, and may not add outputs);
2. the root is created by an IMPORT change set whose template holds exactly those stacks, with the
   same templates and tags (CloudFormation checks both), imported by their stack ids;
3. a normal update then brings the root to the generated templates: everything else is created and
   the imported resources get their full configuration. It must not replace or remove anything.
The us-east-1 stack, a standalone stack, imports its own retained resources directly.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from infra.deploy.resource_diff import Row
from infra.resource_types import KEEPS_RESOURCE, NESTED_STACK, facts, required_properties

if TYPE_CHECKING:   # the generated build is read, never imported at start-up (the CLI lists the checks)
    from infra.deploy.manifest import Build

PSEUDO = re.compile(r"\$\{(AWS::[A-Za-z]+)\}")
SUB_VARIABLE = re.compile(r"\$\{(?!!)([^}]+)\}")


@dataclass(frozen=True)
class Candidate:
    """A retained resource of the generated templates that may already exist."""

    label: str               # stack label: the root (or global) stack name, or root/Child
    child: str | None        # the child's logical id in the root; None for the root or the global stack
    logical_id: str
    resource_type: str
    name: str                # its physical name ("" for a type found by tags: a KMS key, a user pool)


@dataclass(frozen=True)
class Found:
    """A retained resource that exists and will be imported, with its import identifier."""

    candidate: Candidate
    identifier: dict[str, str]

    @property
    def shown(self) -> str:
        return next(iter(self.identifier.values()))

    def to_import(self) -> dict[str, Any]:
        """Its entry in CreateChangeSet's ResourcesToImport."""
        return {"ResourceType": self.candidate.resource_type, "LogicalResourceId": self.candidate.logical_id,
                "ResourceIdentifier": dict(self.identifier)}


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
def partition_of(region: str) -> str:
    return "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"


def resolve_name(value: Any, account: str, region: str) -> str | None:
    """A literal name, or a Fn::Sub of pseudo parameters only; None when it depends on anything else."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and list(value) == ["Fn::Sub"] and isinstance(value["Fn::Sub"], str):
        partition = partition_of(region)
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


def candidates(template: dict[str, Any], label: str, child: str | None, account: str, region: str) -> list[Candidate]:
    """Retained resources of an importable type whose name can be known before deploying."""
    found = []
    for lid, res in sorted((template.get("Resources") or {}).items()):
        rtype = res.get("Type", "")
        kind = facts(rtype)
        if not kind.importable or res.get("DeletionPolicy") not in KEEPS_RESOURCE:
            continue
        name = ""
        if kind.name_property:
            name = resolve_name((res.get("Properties") or {}).get(kind.name_property), account, region) or ""
            if not name:
                continue
        found.append(Candidate(label, child, lid, rtype, name))
    return found


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


# -- the import steps' templates -------------------------------------------------------------------
def child_import(build: Build, child: str, found: list[Found]) -> tuple[dict[str, Any], dict[str, str]]:
    """A child stack reduced to its retained resources, and the tags its definition in the root
    gives it (the root's import checks both against the stack it nests)."""
    root_template = build.template(build.root_template)
    reduced = import_template(build.template(build.templates[child]), [f.candidate.logical_id for f in found],
                              f"{build.stack_name}/{child}: retained resources, imported")
    definition = (root_template["Resources"].get(child) or {}).get("Properties") or {}
    tags = {t["Key"]: t["Value"] for t in definition.get("Tags") or [] if isinstance(t, dict)}
    return reduced, tags


def root_import_template(build: Build, children: dict[str, tuple[str, str]], root_found: list[Found]
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
        resources[child] = {"Type": NESTED_STACK, "DeletionPolicy": "Retain", "Properties": props}
        to_import.append({"ResourceType": NESTED_STACK, "LogicalResourceId": child,
                          "ResourceIdentifier": {"StackId": stack_id}})
    for f in root_found:
        resources[f.candidate.logical_id] = import_resource(root_template["Resources"][f.candidate.logical_id])[0]
        to_import.append(f.to_import())
    template = {"AWSTemplateFormatVersion": "2010-09-09",
                "Description": f"{build.stack_name}: retained resources, imported", "Resources": resources}
    return template, to_import


def by_child(found: list[Found]) -> dict[str | None, list[Found]]:
    """Found resources grouped by the child stack holding them (None: the root itself)."""
    groups: dict[str | None, list[Found]] = {}
    for f in found:
        groups.setdefault(f.candidate.child, []).append(f)
    return groups
