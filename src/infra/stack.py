"""`Stack`: one template under construction, with the system's conventions built in.

Every resource added is tagged (when its type takes tags); stateful ones get the stage's
deletion policy; Parameters and Outputs are declared through one interface so the root can
wire siblings together by name.
"""
from __future__ import annotations

from typing import Any

from troposphere import AWSObject, Output, Parameter, Ref, Tags, Template

from infra.config.schema import Config
from infra.naming import tags as config_tags

# Metadata key checkov reads for skips: {"checkov": {"skip": [{"id": ..., "comment": ...}]}}.
CHECKOV = "checkov"


class Stack:
    """A template being built for one concern (network, data, api, ...)."""

    def __init__(self, cfg: Config, name: str, description: str):
        self.cfg = cfg
        self.name = name  # the stack's file is <name>.json
        self.template = Template(Description=description)
        self.template.set_version("2010-09-09")
        self._tags = config_tags(cfg)
        self.exports: list[str] = []  # outputs the root re-exports (what users of the system need)

    # -- interface ------------------------------------------------------------------------
    def param(self, name: str, description: str, type: str = "String", **kwargs: Any) -> Ref:
        """Declare a Parameter (once); the root fills it from a sibling's output of that name."""
        if name not in self.template.parameters:
            self.template.add_parameter(Parameter(name, Type=type, Description=description, **kwargs))
        return Ref(name)

    def output(self, name: str, value: Any, description: str, *, export: bool = False) -> None:
        """Declare an Output; siblings read it as a Parameter of the same name. `export`: the
        root re-exports it too (system-level values: URLs, list of names, the key, the topic)."""
        self.template.add_output(Output(name, Value=value, Description=description))
        if export:
            self.exports.append(name)

    # -- resources ------------------------------------------------------------------------
    def add(self, resource: AWSObject, *, stateful: bool = False, tag: bool = True,
            skip: dict[str, str] | None = None) -> Any:
        """Add a resource: tagged, retained in production if stateful, checkov skips recorded.

        `skip` maps checkov check ids to the written reason the check does not apply.
        """
        if tag and "Tags" in resource.props and "Tags" not in resource.properties:
            resource.Tags = self._tag_value(resource)
        if stateful:
            policy = "Retain" if self.cfg.project.production else "Delete"
            resource.DeletionPolicy = policy
            resource.UpdateReplacePolicy = policy
        if skip:
            meta = dict(getattr(resource, "Metadata", {}) or {})
            meta[CHECKOV] = {"skip": [{"id": k, "comment": v} for k, v in sorted(skip.items())]}
            resource.Metadata = meta
        return self.template.add_resource(resource)

    def absorb(self, part: "Stack") -> None:
        """Take over another stack's parameters, resources and outputs (a bundle placed here).

        Bundles share parameters by name (KeyArn, ...); their resources and outputs are distinct.
        """
        t = self.template
        for name, param in part.template.parameters.items():
            if name not in t.parameters:
                t.add_parameter(param)
        for resource in part.template.resources.values():
            t.add_resource(resource)
        for output in part.template.outputs.values():
            t.add_output(output)
        self.exports += part.exports

    def _tag_value(self, resource: AWSObject) -> Any:
        expected = resource.props["Tags"][0]
        if expected is dict:
            return dict(self._tags)
        return Tags(**self._tags)
