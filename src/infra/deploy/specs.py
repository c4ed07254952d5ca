"""What each stack of a stage should be (`StackSpec`): template, parameters, tags, from the build.

The root gets its `AssetBucket` and the outputs of the us-east-1 global stack as parameters; a
root planned before the global stack has those outputs uses a visible placeholder for them.
"""
from __future__ import annotations

import json
from typing import Any

from infra.deploy.bootstrap import STACK_NAME as BOOTSTRAP_STACK
from infra.deploy.bootstrap_template import template as bootstrap_template
from infra.deploy.manifest import MANIFEST, Build
from infra.config.schema import CONFIG_TAG
from infra.deploy.package import Packaged
from infra.deploy.runner import StackSpec
from infra.errors import DeployError

TEMPLATE_BODY_LIMIT = 51_200  # bytes CloudFormation accepts inline
ASSET_BUCKET = "AssetBucket"
BOOTSTRAP_TAGS = {"ManagedBy": "serverless-infra"}


def stack_tags(build: Build, identity: str) -> dict[str, str]:
    """The stage's tags plus the config file that owns its stacks."""
    return {**build.tags, CONFIG_TAG: identity}


def root_parameters(build: Build, bucket: str, from_global: dict[str, str] | None) -> dict[str, str]:
    """Every root parameter: AssetBucket, and those filled from the global stack's outputs
    (`from_global`: root parameter -> value)."""
    glob = build.global_stack
    filled = set(glob.outputs.values()) if glob else set()
    params: dict[str, str] = {}
    for key in build.root_parameters:
        if key == ASSET_BUCKET:
            params[key] = bucket
        elif glob is not None and key in filled:
            value = (from_global or {}).get(key)
            if value is None:
                raise DeployError(f"Root parameter {key} needs an output of {glob.label}, which is not available.")
            params[key] = value
        else:
            known = ", ".join([ASSET_BUCKET, *sorted(filled)])
            raise DeployError(f"{build.directory / MANIFEST}: root parameter '{key}' is not one the "
                              f"deployer knows how to supply ({known}).")
    return params


def console_parameters(build: Build, bucket: str) -> dict[str, str]:
    """The root parameters a console quick-create link can fill (the bucket; the rest is pasted)."""
    return {k: bucket for k in build.root_parameters if k == ASSET_BUCKET}


def secret_parameters(template: dict[str, Any]) -> frozenset[str]:
    """Parameters declared NoEcho: their values are never shown."""
    return frozenset(k for k, v in (template.get("Parameters") or {}).items()
                     if str((v or {}).get("NoEcho", "")).lower() == "true")


def root_spec(build: Build, packaged: Packaged, parameters: dict[str, str], tags: dict[str, str]) -> StackSpec:
    """The root as packaged (child TemplateURLs in S3): what a change set is made from."""
    expected = {build.stack_name: len(packaged.root_template.get("Resources", {}))}
    for lid, path in build.templates.items():
        expected[f"{build.stack_name}/{lid}"] = len(build.template(path).get("Resources", {}))
    return StackSpec(name=build.stack_name, template=packaged.root_template, parameters=parameters,
                     tags=tags, template_url=packaged.root_url, children=dict(build.templates),
                     expected=expected, secret_parameters=secret_parameters(packaged.root_template),
                     releases=dict(build.raw.get("releases") or {}))


def local_root_spec(build: Build, parameters: dict[str, str], tags: dict[str, str]) -> StackSpec:
    """The root as generated (child TemplateURLs still local paths): for plans made from templates."""
    template = build.template(build.root_template)
    return StackSpec(name=build.stack_name, template=template, parameters=parameters, tags=tags,
                     children=dict(build.templates), secret_parameters=secret_parameters(template),
                     releases=dict(build.raw.get("releases") or {}))


def global_spec(build: Build, tags: dict[str, str] | None = None) -> StackSpec:
    """The us-east-1 global stack, sent inline (it is small and has no nested stacks)."""
    glob = build.global_stack
    if glob is None:
        raise DeployError(f"{build.name} has no us-east-1 global stack.")
    body = glob.template.read_text()
    if len(body.encode()) > TEMPLATE_BODY_LIMIT:
        raise DeployError(f"{glob.template}: the template of {glob.label} is over {TEMPLATE_BODY_LIMIT} bytes, "
                          "too large to send inline.")
    template = json.loads(body)
    return StackSpec(name=glob.stack_name, template=template, parameters={},
                     tags=build.tags if tags is None else tags, template_body=body,
                     secret_parameters=secret_parameters(template))


def bootstrap_spec() -> StackSpec:
    """The per-region bootstrap stack (artifact bucket, API Gateway's CloudWatch Logs role)."""
    body = bootstrap_template()
    return StackSpec(name=BOOTSTRAP_STACK, template=json.loads(body), parameters={}, tags=dict(BOOTSTRAP_TAGS),
                     template_body=body)
