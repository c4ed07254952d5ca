"""Which nested stack holds each function, table and bucket: the one place that decides.

A change set cannot move a resource between stacks: it deletes it in one stack and creates it in
another, and for a resource with a fixed name (every function, table and bucket here) the create
fails on the name still in use. So placement never moves anything by itself:

- a resource keeps the stack the lock file records for it (`<config>.lock.json`, written by
  `templates`, committed next to the config like a package lock);
- a new resource with an explicit `group` goes to that group's stack (`compute-<group>`);
- any other new resource goes to the first default stack of its family (`compute`, `compute-2`,
  ...) that stays within the placement budget after adding it, or to a new one;
- a resource whose `group` the config changes is a move the user asked for: the templates put it
  in the group's stack, the lock keeps recording the stack it is deployed in (`Placement.moves`),
  and `deploy` moves it with a stack refactor (no replacement, `infra.deploy.moves`) and then
  records its new stack in the lock (`record_moves`).

Placement looks only at names, the lock and each bundle's measured cost, never at positions, so
adding or removing one resource changes no other resource's stack. New resources fill a stack
only to BUDGET of each quota; the rest is headroom for the resources already there to grow
(more grants, more outputs) without ever forcing a move.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import field
from pathlib import Path

from infra.errors import ConfigError, UserError
from infra.quotas import MAX_OUTPUTS, MAX_PARAMETER_VALUE, MAX_PARAMETERS, MAX_RESOURCES
from infra.records import record
from infra.render import replace_file

LOCK_VERSION = 1
# Fraction of each quota that new resources may fill; the rest is room for growth in place.
BUDGET = 0.75
# Section of the config -> family of stacks its bundles go to.
FAMILIES = {"functions": "compute", "tables": "data", "buckets": "data"}
_DEFAULT = re.compile(r"(compute|data)(-(\d+))?")
# Shared dependency layers (functions' `layer = true`) live in one stack of their own, wired
# before every compute stack, so that a function in any compute stack can use any layer. A layer
# version has no fixed name to collide on (each version is new), so moving one is harmless and
# the lock file does not record layers.
LAYERS_STACK = "layers"


@record
class Cost:
    """What a bundle adds to the stack that holds it."""

    resources: int
    outputs: int
    parameters: frozenset[str]
    value_bytes: int = 0  # bytes it adds to the stack's longest list-valued output


@record(frozen=False)
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


class Placement(dict[str, str]):
    """Bundle key -> the stack the templates put it in; `moves` are those the config moved
    (key -> (stack it is deployed in, stack it goes to)), which the lock keeps at their old stack."""

    def __init__(self, placed: dict[str, str], moves: dict[str, tuple[str, str]] | None = None):
        super().__init__(placed)
        self.moves = dict(moves or {})

    def recorded(self) -> dict[str, str]:
        """What the lock file records: every bundle's stack, a pending move's at its deployed stack."""
        return {**self, **{key: old for key, (old, _) in self.moves.items()}}


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
    """Lock file bytes: sorted, one entry per line, so a review shows exactly what moved in.

    A `Placement` records its pending moves at the stack they are deployed in: only a deploy that
    moved them changes those lines (`record_moves`)."""
    if isinstance(placement, Placement):
        placement = placement.recorded()
    body = {
        "comment": ("Written by `generate.py templates` (and by `deploy` once it has moved a resource); commit it. "
                    "It records the nested stack that holds each function, table and bucket, so that changing the "
                    "config never moves a resource by itself; a changed `group` is moved by `deploy` through a "
                    "stack refactor, without replacement. See README, 'How splitting works'."),
        "version": LOCK_VERSION,
        "placement": dict(sorted(placement.items())),
    }
    return (json.dumps(body, indent=2, ensure_ascii=False) + "\n").encode()


def write_lock(lock_file: Path, placement: dict[str, str]) -> bool:
    """Make the lock file record exactly `placement`; True when it changed. A lock that cannot be
    written is named as the cause (exit 2)."""
    data = render_lock(placement)
    try:
        if lock_file.read_bytes() == data:
            return False
    except OSError:
        pass
    replace_lock(lock_file, data)
    return True


def replace_lock(lock_file: Path, data: bytes) -> None:
    """Write the lock file's bytes atomically, or fail naming it."""
    try:
        replace_file(lock_file, data)
    except OSError as exc:
        raise UserError(f"cannot write the placement lock file {lock_file}: {exc.strerror or exc}. The lock "
                        "records which nested stack holds each resource; make it writable.", exit_code=2) from None


def record_moves(lock_file: Path, entries: Iterable[tuple[str, str]]) -> None:
    """Write moved bundles' new stacks into the lock (after a deploy moved them), keeping the rest."""
    placement = read_lock(lock_file)
    placement.update(dict(entries))
    try:
        replace_file(lock_file, render_lock(placement))
    except OSError as exc:
        raise UserError(f"The resources moved, but the lock file {lock_file} could not be written "
                        f"({exc.strerror or exc}); make it writable and run deploy again (it records the move "
                        "without moving anything again).") from None


def place(file: str, costs: dict[str, Cost], groups: dict[str, str], lock: dict[str, str]) -> Placement:
    """Stack for every bundle key ('functions.users' -> 'compute'), honouring the lock.

    `groups` maps keys to the explicit `group` the config gives them; a group that differs from the
    locked stack moves the bundle there (`Placement.moves`). Raises ConfigError when a stack would
    exceed a hard quota.
    """
    loads: dict[str, Load] = {}
    placement: dict[str, str] = {}
    moves: dict[str, tuple[str, str]] = {}

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
                moves[key] = (locked, group_stack(family, group))
                put(key, group_stack(family, group))
                continue
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
                              f"{hint}; or move deployed ones to a group of their own (deploy moves them).")
    return Placement(placement, moves)


def layer_stack() -> str:
    """The stack holding every shared dependency layer."""
    return LAYERS_STACK
