"""Logical IDs, physical names and tags, all derived from config names.

Logical IDs are a contract: CloudFormation replaces a resource whose ID changes, so IDs come
from config names only, never from positions, counters or content.
"""
from __future__ import annotations


from infra.config.names import logical_id  # noqa: F401 (defined beside the names, at the config layer, which checks them)
from infra.config.schema import OWN_TAGS, Config


def physical(cfg: Config, *parts: str) -> str:
    """Physical name `<project>-<stage>-<resource>`."""
    return "-".join([cfg.project.name, cfg.project.stage, *parts])


def stack_name(cfg: Config) -> str:
    """Name of the deployed root stack."""
    return physical(cfg)


def tags(cfg: Config) -> dict[str, str]:
    """Tags for every taggable resource: Project, Environment, ManagedBy, plus the config's own."""
    base = {tag: getattr(cfg.project, key.removeprefix("project.")) for tag, key in OWN_TAGS.items()}
    return dict(sorted({**cfg.project.tags, **base}.items()))


def parameter_prefix(cfg: Config) -> str:
    """Path under which SSM parameters are written: [parameters] prefix, or /<project>/<stage>."""
    return (cfg.parameters and cfg.parameters.prefix) or f"/{cfg.project.name}/{cfg.project.stage}"


def api_name(cfg: Config) -> str:
    """Name of the REST API: [api] name, or `<project>-<stage>-api`."""
    return cfg.api.name or physical(cfg, "api")


def function_log_group(cfg: Config, function: str) -> str:
    """Log group of a function: Lambda's own convention, `/aws/lambda/<function name>`."""
    return f"/aws/lambda/{physical(cfg, function)}"


def api_access_log_group(cfg: Config) -> str:
    """Log group of the API stage's JSON access log."""
    return f"/aws/apigateway/{api_name(cfg)}-{cfg.project.stage}/access"
