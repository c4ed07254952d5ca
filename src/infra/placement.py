"""Which nested stack holds each function, table and bucket: the one place that decides.

CloudFormation cannot move a resource between stacks: a move is a delete in one stack and a
create in another, and for a resource with a fixed name (every function, table and bucket here)
the create fails on the name still in use. So placement never moves anything:

- a resource keeps the stack the lock file records for it (`<config>.lock.json`, written by
  `templates`, committed next to the config like a package lock);
- a new resource with an explicit `group` goes to that group's stack (`compute-<group>`);
- any other new resource goes to the first default stack of its family (`compute`, `compute-2`,
  ...) that stays within the placement budget after adding it, or to a new one.

Placement looks only at names, the lock and each bundle's measured cost, never at positions, so
adding or removing one resource changes no other resource's stack. New resources fill a stack
only to BUDGET of each quota; the rest is headroom for the resources already there to grow
(more grants, more outputs) without ever forcing a move.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from infra.errors import ConfigError
from infra.quotas import MAX_OUTPUTS, MAX_PARAMETER_VALUE, MAX_PARAMETERS, MAX_RESOURCES

LOCK_VERSION = 1
# Fraction of each quota that new resources may fill; the rest is room for growth in place.
BUDGET = 0.75
# Section of the config -> family of stacks its bundles go to.
FAMILIES = {"functions": "compute", "tables": "data", "buckets": "data"}
_DEFAULT = re.compile(r"(compute|data)(-(\d+))?")


@dataclass(frozen=True)
class Cost:
    """What a bundle adds to the stack that holds it."""

    resources: int
    outputs: int
    parameters: frozenset[str]
    value_bytes: int = 0  # bytes it adds to the stack's longest list-valued output


@dataclass
class Load:
    """What a stack holds so far."""

    resources: int = 0
    outputs: int = 0
    parameters: set[str] = field(default_factory=set)
    value_bytes: int = 0
    members: list[str] = field(default_factory=list)

    def add(self, key: str, cost: Cost) -> None:
        self.resources += cost.resources
        self.outputs += cost.outputs
        self.parameters |= cost.parameters
        self.value_bytes += cost.value_bytes
        self.members.append(key)

    def fits(self, cost: Cost, share: float) -> bool:
        return (self.resources + cost.resources <= MAX_RESOURCES * share
                and self.outputs + cost.outputs <= MAX_OUTPUTS * share
                and len(self.parameters | cost.parameters) <= MAX_PARAMETERS * share
                and self.value_bytes + cost.value_bytes <= MAX_PARAMETER_VALUE * share)

    def over(self) -> str:
        """The first hard quota this stack exceeds, as words; '' when within every one."""
        for what, count, limit in (("resources", self.resources, MAX_RESOURCES),
                                   ("outputs", self.outputs, MAX_OUTPUTS),
                                   ("parameters", len(self.parameters), MAX_PARAMETERS),
                                   ("bytes in its list outputs", self.value_bytes, MAX_PARAMETER_VALUE)):
            if count > limit:
                return f"{count} {what} (CloudFormation allows {limit})"
        return ""


def lock_path(config_file: str | Path) -> Path:
    """The lock file beside a config: config/catalog-api.toml -> config/catalog-api.lock.json."""
    path = Path(config_file)
    return path.with_name(f"{path.stem}.lock.json")


def group_stack(family: str, group: str) -> str:
    return f"{family}-{group}"


def default_stack(family: str, n: int) -> str:
    return family if n == 1 else f"{family}-{n}"


def read_lock(path: Path) -> dict[str, str]:
    """The placements a lock file records (key -> stack); {} when there is no lock yet."""
    shown = str(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(shown, "(file)", f"cannot be read ({exc.strerror or exc}).",
                          "make it a readable file beside the config (restore it from version control).") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(shown, "(file)", f"is not a valid lock file ({exc}).",
                          "restore it from version control; never delete it for a deployed stage.") from None
    placement = data.get("placement") if isinstance(data, dict) else None
    if not isinstance(placement, dict) or data.get("version") != LOCK_VERSION or not all(
            isinstance(k, str) and isinstance(v, str) and _valid_entry(k, v) for k, v in placement.items()):
        raise ConfigError(shown, "placement", "is not a lock this version of the tool wrote.",
                          "restore it from version control; never edit it by hand except to delete an entry.")
    return dict(placement)


def _valid_entry(key: str, stack: str) -> bool:
    section, _, name = key.partition(".")
    family = FAMILIES.get(section)
    return bool(family and name and (stack == family or stack.startswith(family + "-")))


def render_lock(placement: dict[str, str]) -> bytes:
    """Lock file bytes: sorted, one entry per line, so a review shows exactly what moved in."""
    body = {
        "comment": ("Written by `generate.py templates`; commit it. It records the nested stack that holds "
                    "each function, table and bucket, so that changing the config never moves a resource "
                    "between stacks (a move replaces it). See README, 'How splitting works'."),
        "version": LOCK_VERSION,
        "placement": dict(sorted(placement.items())),
    }
    return (json.dumps(body, indent=2, ensure_ascii=False) + "\n").encode()


def place(file: str, costs: dict[str, Cost], groups: dict[str, str], lock: dict[str, str]) -> dict[str, str]:
    """Stack for every bundle key ('functions.users' -> 'compute'), honouring the lock.

    `groups` maps keys to the explicit `group` the config gives them. Raises ConfigError when an
    explicit group contradicts the lock (that would move the resource) or a stack would exceed a
    hard quota.
    """
    loads: dict[str, Load] = {}
    placement: dict[str, str] = {}

    def put(key: str, stack: str) -> None:
        loads.setdefault(stack, Load()).add(key, costs[key])
        placement[key] = stack

    for key in sorted(costs):
        family = FAMILIES[key.partition(".")[0]]
        locked, group = lock.get(key), groups.get(key)
        if locked is not None and not locked.startswith(family):
            locked = None  # a lock entry of another family cannot be honoured; it is a new resource
        if locked is not None:
            if group and locked != group_stack(family, group):
                raise ConfigError(file, f"{key}.group",
                                  f"would move it from {locked}.json to {group_stack(family, group)}.json; "
                                  "CloudFormation would create it in the new stack while the old one still "
                                  "holds its name, and fail.",
                                  f"remove group (keep it in {locked}), or rename it so that a new one is "
                                  f"created beside it; to move it deliberately, destroy it first and then "
                                  f"delete its line from the lock file.")
            put(key, locked)
    for key in sorted(costs):
        if key in placement:
            continue
        family = FAMILIES[key.partition(".")[0]]
        if groups.get(key):
            put(key, group_stack(family, groups[key]))
            continue
        n = 1
        while True:
            stack = default_stack(family, n)
            load = loads.get(stack)
            if load is None or load.fits(costs[key], BUDGET):
                put(key, stack)
                break
            n += 1
    for stack, load in sorted(loads.items()):
        problem = load.over()
        if problem:
            where = next(iter(sorted(load.members)))
            section = where.partition(".")[0]
            hint = ("split the group into two groups" if not _DEFAULT.fullmatch(stack)
                    else f"give new {section} a `group` so they go to a stack of their own")
            raise ConfigError(file, where, f"stack {stack}.json would hold {len(load.members)} bundles with {problem}.",
                              f"{hint}; resources already deployed cannot move.")
    return placement
