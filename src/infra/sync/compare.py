"""What differs between a deployed stack and its generated template, and what sync may apply (pure).

Sync may apply, outside CloudFormation:
- a Lambda function whose only changed properties are `Code`, `Environment`, `MemorySize` and
  `Timeout` (UpdateFunctionCode, UpdateFunctionConfiguration), if `may_sync_function` allows it;
- the REST API's OpenAPI document (`Body` of the RestApi: PutRestApi in overwrite mode) together
  with what a new definition always brings in the stage's stack: a new `Deployment<digest>`
  replacing the old one, and the stage's `DeploymentId` pointing at it (CreateDeployment and
  UpdateStage).

Everything else (a table, a role, a new function, a permission for a new route, a parameter, an
output, the root's wiring) is a `Blocker` with a sentence naming it: sync falls back to a deploy.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from infra.resource_types import DEPLOYMENT, FUNCTION, NESTED_STACK, REST_API, STAGE

FUNCTION_CONFIG = ("Environment", "MemorySize", "Timeout")
SYNCABLE_FUNCTION = ("Code", *FUNCTION_CONFIG)
# Resources that shift a function's traffic through an alias: code synced to $LATEST would reach
# callers without the gradual release and its alarms.
RELEASE_TYPES = ("AWS::Lambda::Alias", "AWS::Lambda::Version", "AWS::CodeDeploy::DeploymentGroup")


@dataclass(frozen=True)
class FunctionChange:
    stack: str                     # child logical id in the root ("Compute")
    logical_id: str
    code: bool
    config: tuple[str, ...]        # changed among FUNCTION_CONFIG
    # Of those, what goes back to the value CloudFormation deployed ("Code" for the code): an earlier
    # sync changed it and the config asks for the deployed value again (an edit undone).
    restore: tuple[str, ...] = ()

    @property
    def what(self) -> list[str]:
        return (["code"] if self.code else []) + [CONFIG_WORDS[p] for p in self.config]


CONFIG_WORDS = {"Environment": "environment", "MemorySize": "memory", "Timeout": "timeout"}


@dataclass(frozen=True)
class ApiChange:
    stack: str                     # the child holding the RestApi
    logical_id: str
    stage_stack: str = ""          # the child holding the Stage ("" when the stage did not change)
    stage_logical_id: str = ""


@dataclass
class Comparison:
    functions: list[FunctionChange] = field(default_factory=list)
    api: ApiChange | None = None
    blockers: list[str] = field(default_factory=list)   # what only a deploy can change, one sentence each

    @property
    def empty(self) -> bool:
        return not (self.functions or self.api or self.blockers)


def _refs(value: Any) -> set[str]:
    """Logical ids `value` refers to (Ref, GetAtt, ${Name} in Sub)."""
    found: set[str] = set()
    if isinstance(value, list):
        for v in value:
            found |= _refs(v)
    elif isinstance(value, dict):
        for k, v in value.items():
            if k == "Ref" and isinstance(v, str):
                found.add(v)
            elif k == "Fn::GetAtt":
                target = v[0] if isinstance(v, list) else str(v).split(".")[0]
                found.add(str(target))
            elif k == "Fn::Sub":
                text = v if isinstance(v, str) else v[0]
                found |= {m.split(".")[0] for m in re.findall(r"\$\{([^}!][^}]*)\}", text)}
                if not isinstance(v, str):
                    found |= _refs(v[1])
            else:
                found |= _refs(v)
    return found


def may_sync_function(template: dict[str, Any], logical_id: str) -> str | None:
    """Why the function `logical_id` must not be synced (None when it may be).

    The one place that decides it: a function that releases gradually (an alias, a version or a
    CodeDeploy deployment group refers to it) is released by a deploy only.
    """
    for lid, res in (template.get("Resources") or {}).items():
        if isinstance(res, dict) and res.get("Type") in RELEASE_TYPES and logical_id in _refs(res.get("Properties")):
            return (f"it releases gradually ({res['Type']} {lid}); code synced to $LATEST would skip the release "
                    "and its alarms")
    return None


def _changed_properties(old: dict[str, Any], new: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(changed top-level attributes other than Properties, changed properties)."""
    attrs = sorted(k for k in set(old) | set(new) if k != "Properties" and old.get(k) != new.get(k))
    po, pn = old.get("Properties") or {}, new.get("Properties") or {}
    props = sorted(k for k in set(po) | set(pn) if po.get(k) != pn.get(k))
    return attrs, props


def compare_stack(label: str, stack: str, deployed: dict[str, Any], generated: dict[str, Any]) -> Comparison:
    """Sort the differences of one nested stack (`stack`: its logical id in the root; `label`:
    how messages name it, e.g. catalog-dev/Compute)."""
    out = Comparison()
    for section in sorted((set(deployed) | set(generated)) - {"Resources"}):
        if deployed.get(section) != generated.get(section):
            out.blockers.append(f"{label}: its {section} changed")
    old_res = deployed.get("Resources") or {}
    new_res = generated.get("Resources") or {}
    deployments: list[str] = []
    stage: str = ""
    api: str = ""
    for lid in sorted(set(old_res) | set(new_res)):
        old, new = old_res.get(lid), new_res.get(lid)
        if old == new:
            continue
        kind = (new or old or {}).get("Type", "?")
        if old is None or new is None:
            if kind == DEPLOYMENT:
                deployments.append(lid)
                continue
            verb = "new" if old is None else "removed"
            out.blockers.append(f"{label} > {lid} ({kind}) is {verb}")
            continue
        if old.get("Type") != new.get("Type"):
            out.blockers.append(f"{label} > {lid} changes type ({old.get('Type')} -> {new.get('Type')})")
            continue
        attrs, props = _changed_properties(old, new)
        if kind == FUNCTION and not attrs and set(props) <= set(SYNCABLE_FUNCTION):
            refused = may_sync_function(generated, lid)
            if refused:
                out.blockers.append(f"{label} > {lid} ({kind}) may not be synced: {refused}")
                continue
            out.functions.append(FunctionChange(stack, lid, "Code" in props,
                                                tuple(p for p in FUNCTION_CONFIG if p in props)))
        elif kind == REST_API and not attrs and props == ["Body"]:
            api = lid
        elif kind == STAGE and not attrs and props == ["DeploymentId"]:
            stage = lid
        else:
            what = ", ".join(attrs + props)
            out.blockers.append(f"{label} > {lid} ({kind}) changes {what}")
    if api:
        out.api = ApiChange(stack, api)
    if deployments or stage:
        # A new API definition brings a new Deployment<digest> and the stage pointing at it; the
        # API part of the comparison (another stack) says whether the definition changed.
        out.api = out.api or ApiChange("", "")
        out.api = ApiChange(out.api.stack, out.api.logical_id, stack if stage else "", stage)
    return out


def merge(parts: list[Comparison]) -> Comparison:
    """One comparison of the whole stage: a new deployment without a new definition (or the
    other way round, split over stacks) is matched here."""
    out = Comparison()
    api_parts = [p.api for p in parts if p.api]
    for part in parts:
        out.functions += part.functions
        out.blockers += part.blockers
    if api_parts:
        definition = next((a for a in api_parts if a.logical_id), None)
        stage = next((a for a in api_parts if a.stage_logical_id), None)
        if definition is None:
            out.blockers.append("the API's stage gets a new deployment although its OpenAPI document is unchanged")
        else:
            out.api = ApiChange(definition.stack, definition.logical_id,
                                stage.stage_stack if stage else "", stage.stage_logical_id if stage else "")
    return out


def compare_root(label: str, deployed: dict[str, Any], generated: dict[str, Any]) -> list[str]:
    """Blockers in the root itself: anything but where its nested templates are stored."""
    def without_urls(template: dict[str, Any]) -> dict[str, Any]:
        out = dict(template)
        res = {}
        for lid, r in (template.get("Resources") or {}).items():
            if isinstance(r, dict) and r.get("Type") == NESTED_STACK:
                r = {**r, "Properties": {k: v for k, v in (r.get("Properties") or {}).items() if k != "TemplateURL"}}
            res[lid] = r
        out["Resources"] = res
        return out
    return compare_stack(label, "", without_urls(deployed), without_urls(generated)).blockers
