"""The root stack: one nested stack per concern, wired by name.

A child's Parameter named X is filled from the Output X of the earlier sibling that declares
it (`GetAtt(Child, "Outputs.X")`), or from a root Parameter; never through exports. Functions,
tables and buckets come in bundles that `infra.placement` spreads over as many compute and data
stacks as their quotas need; every other concern has one stack.
"""
from __future__ import annotations

import re
from dataclasses import field
from typing import Any

from pathlib import Path

from troposphere import GetAtt, Ref, cloudformation

from infra import __version__
from infra.bundle.build import Code
from infra.config.schema import Config
from infra.errors import ConfigError
from infra.naming import logical_id, physical
from infra.placement import FAMILIES, Cost, layer_stack, place
from infra.records import record
from infra.stack import Stack
from templates import (api, api_stage, compute, dashboard, data, edge, firewall, layers, monitoring, network,
                       pipeline, security)

# Values the deployer supplies to the root: they are not produced by any child.
ROOT_PARAMETERS = {
    "AssetBucket": "S3 bucket holding the zipped handler code (package uploads it there)",
    "CertificateArn": "ARN of the ACM certificate for the custom domain (output of the us-east-1 stack)",
    "EdgeWebAclArn": "ARN of the CloudFront web ACL (output of the us-east-1 stack)",
}
# How the console's create-stack page shows them (AWS::CloudFormation::Interface).
PARAMETER_GROUPS = [
    ("Code", ["AssetBucket"]),
    ("From the us-east-1 stack (deploy it first; its outputs have these names)", ["CertificateArn", "EdgeWebAclArn"]),
]
PARAMETER_LABELS = {
    "AssetBucket": "Artifact bucket with the handler code",
    "CertificateArn": "Certificate of the custom domain (us-east-1)",
    "EdgeWebAclArn": "CloudFront web ACL (us-east-1)",
}


@record
class Child:
    """A nested stack: its logical ID in the root, its file in out/, how it was built, and the
    siblings it must wait for beyond those whose outputs it reads."""

    logical_id: str
    file: str
    stack: Stack
    depends_on: tuple[str, ...] = field(default=())


@record
class Layout:
    """Every nested stack of a config, in wiring order, and where each bundle was placed."""

    children: list[Child]
    placement: dict[str, str]


def _natural(stack: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", stack))


def _child(stack: Stack, depends_on: tuple[str, ...] = ()) -> Child:
    return Child(logical_id(stack.name), f"{stack.name}.json", stack, depends_on)


def _bundles(cfg: Config, codes: dict[str, Code]) -> tuple[dict[str, Stack], dict[str, Cost], dict[str, str]]:
    """Every function, table and bucket bundle, its cost, and its explicit group."""
    bundles: dict[str, Stack] = {}
    costs: dict[str, Cost] = {}
    groups: dict[str, str] = {}
    for section, specs, make, size in (
            ("functions", cfg.functions, lambda n: compute.bundle(cfg, n, codes), lambda k: compute.list_bytes(cfg, k)),
            ("tables", cfg.tables, lambda n: data.table_bundle(cfg, n), lambda k: data.list_bytes(cfg, f"tables.{k}")),
            ("buckets", cfg.buckets, lambda n: data.bucket_bundle(cfg, n), lambda k: data.list_bytes(cfg, f"buckets.{k}"))):
        for name, spec in specs.items():
            key = f"{section}.{name}"
            st = bundles[key] = make(name)
            t = st.template
            costs[key] = Cost(len(t.resources), len(t.outputs), frozenset(t.parameters), size(name))
            if spec.group:
                groups[key] = spec.group
    return bundles, costs, groups


def layout(cfg: Config, codes: dict[str, Code], lock: dict[str, str]) -> Layout:
    """The nested stacks this config needs, in dependency order, with bundles placed.

    `codes`: each function's code (infra.bundle.build.build_code)."""
    bundles, costs, groups = _bundles(cfg, codes)
    placement = place(cfg.file, costs, groups, lock)
    members: dict[str, list[str]] = {}
    for key, stack in placement.items():
        members.setdefault(stack, []).append(key)
    stacks = {family: sorted((s for s in members if s.partition("-")[0] == family), key=_natural)
              for family in set(FAMILIES.values())}

    kids = [_child(security.build(cfg))]
    if cfg.network:
        kids.append(_child(network.build(cfg)))
    if monitoring.needed(cfg):
        kids.append(_child(monitoring.build(cfg)))
    for stack in stacks["data"]:
        kids.append(_child(data.build(cfg, stack, members[stack], bundles)))
    if cfg.api:
        kids.append(_child(api.build(cfg)))
    shared = {c.layer.logical_id: c.layer for c in codes.values() if c.layer}
    if shared:
        kids.append(_child(layers.build(cfg, layer_stack(), list(shared.values()))))
    computes = []
    for stack in stacks["compute"]:
        names = [k.partition(".")[2] for k in members[stack]]
        computes.append(_child(compute.build(cfg, stack, names, {k.partition(".")[2]: bundles[k] for k in members[stack]})))
    kids += computes
    if cfg.api:
        # The stage deploys the definition once every function and its invoke permission exist.
        kids.append(_child(api_stage.build(cfg), tuple(c.logical_id for c in computes)))
    if cfg.firewall:
        kids.append(_child(firewall.build(cfg)))
    if cfg.edge:
        kids.append(_child(edge.build(cfg)))
    if cfg.monitoring and cfg.monitoring.dashboard:
        kids.append(_child(dashboard.build(cfg, stacks["compute"])))
    if cfg.pipeline:
        kids.append(_child(pipeline.build(cfg)))
    return Layout(kids, placement)


def build(cfg: Config, kids: list[Child]) -> Stack:
    """Root template over `kids`; re-exports the system-level outputs the children mark."""
    st = Stack(cfg, "root", f"{physical(cfg)}: the {cfg.project.stage} stage of {cfg.project.name}, "
                            f"root of {len(kids)} nested stacks. Generated from "
                            f"{Path(cfg.file).name} by serverless-infra {__version__}; do not edit.")
    producers: dict[str, str] = {}
    for kid in kids:
        params: dict[str, Any] = {}
        for name in sorted(kid.stack.template.parameters):
            params[name] = _value_for(cfg, st, name, producers, kid.logical_id)
        props: dict[str, Any] = {"Parameters": params} if params else {}
        if kid.depends_on:
            props["DependsOn"] = list(kid.depends_on)
        # Explicit Delete: a child's stateful resources carry their own Retain policies, so
        # deleting the child never deletes them in production.
        res = st.add(cloudformation.Stack(kid.logical_id, TemplateURL=kid.file, DeletionPolicy="Delete",
                                          UpdateReplacePolicy="Delete", **props))
        for out_name in sorted(kid.stack.template.outputs):
            if out_name in producers:
                raise ConfigError(cfg.file, "(names)", f"two stacks would both output {out_name} "
                                  f"({producers[out_name]} and {kid.logical_id}): two config names map to the same "
                                  "logical ID.", "rename one of them.")
            producers[out_name] = kid.logical_id
        for out_name in sorted(kid.stack.exports):
            out = kid.stack.template.outputs[out_name]
            st.output(out_name, GetAtt(res, f"Outputs.{out_name}"), out.properties.get("Description", out_name))
    _interface(st)
    st.output("Region", Ref("AWS::Region"), "Region of the deployment")
    st.output("Environment", cfg.project.stage, "Stage (environment) name")
    return st


def _interface(st: Stack) -> None:
    """Parameter groups and plain labels for the console, for the parameters this root has."""
    declared = st.template.parameters
    groups = [{"Label": {"default": label}, "Parameters": [p for p in params if p in declared]}
              for label, params in PARAMETER_GROUPS if any(p in declared for p in params)]
    if groups:
        st.template.set_metadata({"AWS::CloudFormation::Interface": {
            "ParameterGroups": groups,
            "ParameterLabels": {p: {"default": PARAMETER_LABELS[p]} for p in sorted(declared)},
        }})


def _value_for(cfg: Config, st: Stack, name: str, producers: dict[str, str], consumer: str) -> Any:
    if name in producers:
        return GetAtt(producers[name], f"Outputs.{name}")
    if name == "CertificateArn" and cfg.edge and cfg.edge.certificate_arn:
        return cfg.edge.certificate_arn
    if name in ROOT_PARAMETERS:
        return st.param(name, ROOT_PARAMETERS[name])
    raise ValueError(f"{consumer} needs parameter {name}, which no earlier stack outputs")
