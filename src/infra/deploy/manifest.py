"""The generator's output directory, as the deployer reads it (`manifest.json` and its files).

`build_and_load` runs the generator (`infra.build.build_config`) and reads what it wrote; the
deployer never generates templates itself.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.build import build_config
from infra.errors import DeployError
from infra.resource_types import stateful_types

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Asset:
    file: Path      # absolute path of the zip
    key: str        # S3 key the templates reference (assets/<sha256>.zip)
    source: str     # handler directory it was built from


# What each root parameter filled by the us-east-1 stack stands for, in messages.
GLOBAL_OUTPUT_WORDS = {"CertificateArn": "certificate", "EdgeWebAclArn": "CloudFront web ACL"}


@dataclass(frozen=True)
class GlobalStack:
    """The us-east-1 stack deployed before the root: what CloudFront takes only from us-east-1
    (the certificate of a custom domain, the CLOUDFRONT-scope WAF web ACL of an [edge])."""

    template: Path
    stack_name: str
    region: str
    outputs: dict[str, str]  # output of the global stack -> root parameter it fills

    @property
    def purpose(self) -> str:
        """What the stack holds, from its outputs: e.g. 'certificate and CloudFront web ACL'."""
        words = [GLOBAL_OUTPUT_WORDS.get(param, param) for param in sorted(self.outputs.values())]
        return " and ".join(words)

    @property
    def label(self) -> str:
        """For messages: the us-east-1 stack <name> (certificate and CloudFront web ACL)."""
        return f"the {self.region} stack {self.stack_name} ({self.purpose})"


@dataclass(frozen=True)
class Build:
    """One generated stage: where its files are and how it is to be deployed."""

    directory: Path
    config: str
    name: str
    stack_name: str
    region: str
    production: bool
    root_template: Path
    templates: dict[str, Path]            # child logical id in the root -> template file
    assets: tuple[Asset, ...]
    root_parameters: dict[str, str]       # parameter the deployer supplies -> description
    global_stack: GlobalStack | None      # manifest key "global"
    stateful_types: tuple[str, ...]
    tags: dict[str, str]
    termination_protection: bool
    placement: dict[str, str] = field(default_factory=dict)   # bundle key -> stack name (compute, data-2, ...)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, directory: Path) -> Build:
        path = directory / MANIFEST
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise DeployError(f"{path}: not found; generate the templates first.") from None
        except ValueError as exc:
            raise DeployError(f"{path}: not valid JSON ({exc}).") from None
        try:
            return cls._from_dict(directory, data)
        except (KeyError, TypeError, AttributeError) as exc:
            raise DeployError(f"{path}: missing or malformed entry {exc}; regenerate the templates.") from None

    @classmethod
    def _from_dict(cls, directory: Path, data: dict[str, Any]) -> Build:
        if data.get("certificate") and not data.get("global"):
            raise DeployError(f"{directory / MANIFEST}: has a 'certificate' entry, which the generator no "
                              "longer writes (it is now part of 'global'); regenerate the templates.")
        build = cls(
            directory=directory,
            config=data.get("config", ""),
            name=data["name"],
            stack_name=data["stack_name"],
            region=data["region"],
            production=bool(data.get("production", False)),
            root_template=directory / data["root_template"],
            templates={lid: directory / f for lid, f in data.get("templates", {}).items()},
            assets=tuple(
                Asset(file=directory / a["file"], key=a["key"], source=a.get("source", ""))
                for a in data.get("assets", [])
            ),
            root_parameters=dict(data.get("root_parameters", {})),
            global_stack=_global_stack(directory, data.get("global")),
            stateful_types=tuple(data.get("stateful_types") or stateful_types()),
            tags=dict(data.get("tags", {})),
            termination_protection=bool(data.get("termination_protection", data.get("production", False))),
            placement={str(k): str(v) for k, v in (data.get("placement") or {}).items()},
            raw=data,
        )
        files = [build.root_template, *build.templates.values(), *(a.file for a in build.assets)]
        if build.global_stack:
            files.append(build.global_stack.template)
            unknown = sorted(set(build.global_stack.outputs.values()) - set(build.root_parameters))
            if unknown:
                raise DeployError(f"{directory / MANIFEST}: 'global' fills root parameter(s) {', '.join(unknown)}, "
                                  f"which {build.root_template.name} does not declare; regenerate the templates.")
        for p in files:
            if not p.is_file():
                raise DeployError(f"{directory / MANIFEST}: lists {p.name}, which is not in {directory}; regenerate the templates.")
        return build

    def template(self, path: Path) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(path.read_text())
        return loaded

    def child_of_stack(self) -> dict[str, str]:
        """Generated stack name (compute, data-2: the placement's names) -> its logical id in the root."""
        return {path.stem: lid for lid, path in self.templates.items()}


def _global_stack(directory: Path, entry: dict[str, Any] | None) -> GlobalStack | None:
    """The "global" entry: null (no us-east-1 stack) or its template, stack, region and outputs."""
    if not entry:
        return None
    outputs = entry["outputs"]
    if not isinstance(outputs, dict) or not outputs or not all(
            isinstance(k, str) and k and isinstance(v, str) and v for k, v in outputs.items()):
        raise TypeError("'global.outputs' (output of the us-east-1 stack -> root parameter)")
    return GlobalStack(
        template=directory / entry["template"],
        stack_name=entry["stack_name"],
        region=entry.get("region", "us-east-1"),
        outputs=dict(outputs),
    )


def _generate(config: Path, out: Path) -> Path:
    """Run the generator; returns the stage's output directory."""
    return build_config(config, out)


def build_and_load(config: Path, out: Path) -> Build:
    """Generate the stage described by `config` into `out/` and read the result."""
    return Build.load(Path(_generate(config, out)))
