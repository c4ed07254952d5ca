"""Advice on valid configs: what deploys but will not do what its author likely expects.

Warnings, not errors: the config is valid and generation goes on; the CLI prints them on stderr.
"""
from __future__ import annotations

from infra.config import release, traffic
from infra.config.schema import Config

# Names reserved for documentation and tests (RFC 2606, RFC 6761): nobody owns their DNS.
EXAMPLE_DOMAINS = ("example.com", "example.net", "example.org")
EXAMPLE_TLDS = ("example", "test", "invalid", "localhost")


def placeholder_domain(domain: str) -> bool:
    """Whether `domain` is a documentation placeholder that cannot be deployed."""
    domain = domain.lower().rstrip(".")
    return (any(domain == d or domain.endswith("." + d) for d in EXAMPLE_DOMAINS)
            or domain.rsplit(".", 1)[-1] in EXAMPLE_TLDS)


def has_alarms(cfg: Config) -> bool:
    """Whether the config generates at least one CloudWatch alarm."""
    mon = cfg.monitoring
    if not mon:
        return False
    a = mon.alarms
    return bool((cfg.api and (a.api_4xx or a.api_5xx or a.api_latency_ms))
                or (cfg.functions and a.function_errors) or (cfg.tables and a.table_throttles))


def warnings(cfg: Config) -> list[str]:
    """One sentence per problem, naming the key that fixes it."""
    out = []
    if cfg.edge and cfg.edge.domain and placeholder_domain(cfg.edge.domain):
        out.append(f"edge.domain '{cfg.edge.domain}' is a reserved example domain: this config needs real "
                   "values before it can deploy (the domain and hosted_zone_id of a Route 53 zone you own).")
    if cfg.api and cfg.api.cloudwatch_role:
        out.append("api.cloudwatch_role is deprecated and has no effect: the bootstrap stack (serverless-infra-"
                   "artifacts, made by deploy and package) owns API Gateway's CloudWatch Logs role once per account "
                   "and region; remove the key.")
    mon = cfg.monitoring
    if has_alarms(cfg):
        if not mon.topic:
            out.append("alarms are generated but [monitoring] topic = false, so they notify nobody; "
                       "set topic = true and add monitoring.emails or monitoring.https_endpoints.")
        elif not (mon.emails or mon.https_endpoints):
            out.append("alarms notify the alarm topic, which has no subscriber; add monitoring.emails "
                       "(or monitoring.https_endpoints), or subscribe to the topic outside this stack.")
    out += release_warnings(cfg)
    return out


def release_warnings(cfg: Config) -> list[str]:
    """Gradual releases that no alarm can stop, or that end before their alarms could fire."""
    out = []
    for name in release.gradual_functions(cfg):
        strat = release.strategy(cfg, name)
        kinds = release.alarm_kinds(cfg, name)
        if not kinds:
            out.append(f"functions.{name} releases through CodeDeploy but no generated alarm watches it, so nothing "
                       "rolls a bad version back; set monitoring.alarms.function_errors.")
            continue
        window = cfg.monitoring.alarms.evaluation_periods * 5
        if strat.kind != traffic.ALL_AT_ONCE and strat.minutes() <= window:
            out.append(f"functions.{name}: traffic has fully moved after {strat.minutes()} minutes ({strat.traffic}), "
                       f"but its alarms need {window} minutes over their threshold to fire "
                       f"(monitoring.alarms.evaluation_periods = {cfg.monitoring.alarms.evaluation_periods}); "
                       "choose a longer release or fewer evaluation periods.")
    return out
