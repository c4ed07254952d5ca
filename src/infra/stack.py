"""`Stack`: one template under construction, with the system's conventions built in.

Every resource added is tagged (when its type takes tags); stateful ones get the stage's
deletion policy; Parameters and Outputs are declared through one interface so the root can
wire siblings together by name.
"""
from __future__ import annotations

from typing import Any

from troposphere import AWSObject, Output, Parameter, Ref, Tags, Template

from infra.config.schema import Config
from infra.errors import QuotaError
from infra.quotas import MAX_RESOURCES
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

    # -- interface ------------------------------------------------------------------------
    def param(self, name: str, description: str, type: str = "String", **kwargs: Any) -> Ref:
        """Declare a Parameter (once); the root fills it from a sibling's output of that name."""
        if name not in self.template.parameters:
            self.template.add_parameter(Parameter(name, Type=type, Description=description, **kwargs))
        return Ref(name)

    def output(self, name: str, value: Any, description: str) -> None:
        """Declare an Output; siblings read it as a Parameter of the same name."""
        self.template.add_output(Output(name, Value=value, Description=description))

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
        try:
            return self.template.add_resource(resource)
        except ValueError as exc:
            if "Maximum number" not in str(exc):
                raise
            raise QuotaError(f"stack {self.cfg.name}/{self.name}.json: more than {MAX_RESOURCES} resources, "
                             f"over CloudFormation's limit of {MAX_RESOURCES}. Split the config (fewer routes "
                             f"or functions per stage).") from None

    def _tag_value(self, resource: AWSObject) -> Any:
        expected = resource.props["Tags"][0]
        if expected is dict:
            return dict(self._tags)
        return Tags(**self._tags)
