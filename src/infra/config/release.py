"""How each function's new versions reach traffic: the one place that decides.

A function that *releases gradually* gets a Lambda Version per content hash, an alias `live`
that every caller (API integrations, invoke permissions, async settings) targets, and a
CodeDeploy deployment group that moves the alias to each new version (canary or linear steps,
or at once after a before-traffic hook) and moves it back when an alarm fires. Every other
function is updated in place by CloudFormation, all at once, as before.

Defaults: production stages release gradually (`traffic.PRODUCTION_DEFAULT`), other stages all at
once. Functions AWS services invoke by their unqualified ARN (the secret and origin-verify
rotation functions) and release hooks never release gradually: there is no traffic to shift.
"""
from __future__ import annotations

import math

from infra.config import traffic
from infra.config.schema import Config
from infra.records import record

ALIAS = "live"


@record
class Strategy:
    """A function's release, resolved (stage default applied)."""

    traffic: str                 # the config value (a preset name, or 'canary' / 'linear')
    kind: str                    # traffic.ALL_AT_ONCE, CANARY or LINEAR
    percent: int                 # first step (canary) or every step (linear)
    interval: int                # minutes
    codedeploy_config: str       # CodeDeploy's predefined configuration; "" for a custom one
    before_traffic: str = ""     # hook function names (config names)
    after_traffic: str = ""
    provisioned_concurrency: int = 0

    @property
    def custom(self) -> bool:
        return not self.codedeploy_config

    @property
    def gradual(self) -> bool:
        """Released through CodeDeploy: traffic shifts in steps, or hooks run around the shift."""
        return self.kind != traffic.ALL_AT_ONCE or bool(self.before_traffic or self.after_traffic)

    def minutes(self) -> int:
        """The least time the shift itself takes (hooks and CloudFormation not counted): a canary
        waits one interval; a linear release waits one interval between each of its steps."""
        if self.kind == traffic.CANARY:
            return self.interval
        if self.kind == traffic.LINEAR:
            return (math.ceil(100 / self.percent) - 1) * self.interval
        return 0

    def describe(self) -> str:
        """In words: 'canary: 10% at once, the rest after 15 minutes'."""
        if self.kind == traffic.CANARY:
            return f"canary: {self.percent}% at once, the rest after {_minutes(self.interval)}"
        if self.kind == traffic.LINEAR:
            return f"linear: {self.percent}% every {_minutes(self.interval)}"
        hooks = " and ".join(h for h in (self.before_traffic and "before-traffic hook",
                                          self.after_traffic and "after-traffic hook") if h)
        return f"all at once, with a {hooks}" if hooks else "all at once"


def _minutes(n: int) -> str:
    return f"{n} minute{'s' if n != 1 else ''}"


def never_gradual(cfg: Config, name: str) -> str:
    """Why `name` cannot release gradually ('' when it can): what invokes it does so by the
    function's unqualified ARN, so an alias would carry no traffic."""
    if cfg.secret and cfg.secret.rotation_function == name:
        return "Secrets Manager invokes the secret's rotation function by its own ARN, never through an alias"
    if cfg.edge and cfg.edge.origin_verify_rotation_function == name:
        return "Secrets Manager invokes the origin-verify rotation function by its own ARN, never through an alias"
    if hooked_by(cfg, name):
        return "CodeDeploy invokes a release hook by name; hooks themselves are updated all at once"
    return ""


def hooked_by(cfg: Config, hook: str) -> list[str]:
    """The functions whose releases run `hook` (before or after traffic), sorted."""
    return sorted(n for n, fn in cfg.functions.items()
                  if fn.release and hook in (fn.release.before_traffic, fn.release.after_traffic))


def strategy(cfg: Config, name: str) -> Strategy:
    """The release of function `name`, with the stage's default where the config gives none."""
    rel = cfg.functions[name].release
    if rel is None:
        gradual = cfg.project.production and not never_gradual(cfg, name)
        return resolved(traffic.PRODUCTION_DEFAULT if gradual else traffic.ALL_AT_ONCE)
    return resolved(rel.traffic, rel.percent or 0, rel.interval_minutes or 0, rel.before_traffic, rel.after_traffic,
                     rel.provisioned_concurrency)


def resolved(value: str, percent: int = 0, interval: int = 0, before: str = "", after: str = "",
              concurrency: int = 0) -> Strategy:
    preset = traffic.PRESETS.get(value)
    if preset is not None:
        return Strategy(value, preset.kind, preset.percent, preset.interval, preset.codedeploy, before, after,
                        concurrency)
    return Strategy(value, value, percent, interval, "", before, after, concurrency)


def releases_gradually(cfg: Config, name: str) -> bool:
    """Whether new versions of function `name` reach traffic through CodeDeploy (its alias `live`
    shifts in steps, or hooks test each version first) rather than all at once.

    THE predicate for anything that changes a function's code outside a deploy: `sync` must not
    update such a function (it would put untested code behind the alias, around the release)."""
    return strategy(cfg, name).gradual


def gradual_functions(cfg: Config) -> list[str]:
    """Every function that releases gradually, sorted."""
    return sorted(n for n in cfg.functions if releases_gradually(cfg, n))



def serves_api(cfg: Config, name: str) -> list[str]:
    """What of the API function `name` serves: its routes ('GET /users') and 'the JWT authorizer'."""
    api = cfg.api
    if api is None:
        return []
    served = [f"{r.method} {r.path}" for r in api.routes if r.function == name]
    if api.auth.jwt is not None and api.auth.jwt.function == name:
        served.append("the JWT authorizer")
    return served


def alarm_kinds(cfg: Config, name: str) -> list[str]:
    """Which generated alarms stop a release of function `name` (the [monitoring.alarms] keys):
    its own errors alarm and, when it serves the API (routes or the JWT authorizer), the API
    stage's 5XX and latency alarms, which cover every route; only those whose threshold is set."""
    mon = cfg.monitoring
    if not mon:
        return []
    a = mon.alarms
    kinds = ["function_errors"] if a.function_errors else []
    if serves_api(cfg, name):
        kinds += [k for k in ("api_5xx", "api_latency_ms") if getattr(a, k)]
    return kinds
