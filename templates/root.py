"""The root stack: one nested stack per concern, wired by name.

A child's Parameter named X is filled from the Output X of the earlier sibling that declares
it (`GetAtt(Child, "Outputs.X")`), or from a root Parameter; never through exports.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from troposphere import GetAtt, Ref, cloudformation

from infra.assets import Asset
from infra.config.schema import Config
from infra.naming import physical
from infra.stack import Stack
from templates import api, compute, data, edge, firewall, monitoring, network, pipeline, security

# Values the deployer supplies to the root: they are not produced by any child.
ROOT_PARAMETERS = {
    "AssetBucket": "S3 bucket holding the zipped handler code (package uploads it there)",
    "CertificateArn": "ARN of the ACM certificate for the custom domain (output of the us-east-1 stack)",
    "EdgeWebAclArn": "ARN of the CloudFront web ACL (output of the us-east-1 stack)",
}


@dataclass(frozen=True)
class Child:
    """A nested stack: its logical ID in the root, its file in out/, and how to build it."""

    logical_id: str
    file: str
    stack: Stack


def _children_plan(cfg: Config, assets: dict[str, Asset]) -> list[tuple[str, bool, Callable[[], Stack]]]:
    # Producers before consumers: the order is the wiring order.
    return [
        ("Security", True, lambda: security.build(cfg)),
        ("Network", cfg.network is not None, lambda: network.build(cfg)),
        ("Data", bool(cfg.tables or cfg.buckets or cfg.pipeline), lambda: data.build(cfg)),
        ("Compute", bool(cfg.functions), lambda: compute.build(cfg, assets)),
        ("Api", cfg.api is not None, lambda: api.build(cfg)),
        ("Firewall", cfg.firewall is not None, lambda: firewall.build(cfg)),
        ("Edge", cfg.edge is not None, lambda: edge.build(cfg)),
        ("Monitoring", cfg.monitoring is not None, lambda: monitoring.build(cfg)),
        ("Pipeline", cfg.pipeline is not None, lambda: pipeline.build(cfg)),
    ]


def children(cfg: Config, assets: dict[str, Asset]) -> list[Child]:
    """The nested stacks this config needs, in dependency order."""
    return [Child(lid, f"{lid.lower()}.json", build()) for lid, needed, build in _children_plan(cfg, assets) if needed]


def build(cfg: Config, kids: list[Child]) -> Stack:
    """Root template over `kids`; re-exports every child output under the same name."""
    st = Stack(cfg, "root", f"{physical(cfg)}: root of the nested stacks (generated; do not edit)")
    producers: dict[str, str] = {}
    for kid in kids:
        params: dict[str, Any] = {}
        for name in sorted(kid.stack.template.parameters):
            params[name] = _value_for(cfg, st, name, producers, kid.logical_id)
        props = {"Parameters": params} if params else {}
        # Explicit Delete: a child's stateful resources carry their own Retain policies, so
        # deleting the child never deletes them in production.
        res = st.add(cloudformation.Stack(kid.logical_id, TemplateURL=kid.file, DeletionPolicy="Delete",
                                          UpdateReplacePolicy="Delete", **props))
        for out_name, out in sorted(kid.stack.template.outputs.items()):
            if out_name in producers:
                raise ValueError(f"output {out_name} declared by both {producers[out_name]} and {kid.logical_id}")
            producers[out_name] = kid.logical_id
            st.output(out_name, GetAtt(res, f"Outputs.{out_name}"), out.properties.get("Description", out_name))
    st.output("Region", Ref("AWS::Region"), "Region of the deployment")
    st.output("Environment", cfg.project.stage, "Stage (environment) name")
    return st


def _value_for(cfg: Config, st: Stack, name: str, producers: dict[str, str], consumer: str) -> Any:
    if name in producers:
        return GetAtt(producers[name], f"Outputs.{name}")
    if name == "CertificateArn" and cfg.edge and cfg.edge.certificate_arn:
        return cfg.edge.certificate_arn
    if name in ROOT_PARAMETERS:
        return st.param(name, ROOT_PARAMETERS[name])
    raise ValueError(f"{consumer} needs parameter {name}, which no earlier stack outputs")
