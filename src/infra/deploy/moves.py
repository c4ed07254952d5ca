"""Moving resources between nested stacks without replacing them: a stack refactor, planned (pure).

A bundle moves when the config gives it another `group` (or a group, to rebalance a full default
stack): placement then puts it in the new stack's template, while the lock file keeps recording
the stack it is deployed in until the move has happened. The pending moves are the keys whose
locked stack differs from the manifest's placement. A deploy moves their resources with
CloudFormation's stack refactoring (CreateStackRefactor with ResourceMappings, then
ExecuteStackRefactor) before the root's change set, so the change set no longer deletes them in
one stack and creates them (and fails on their names) in the other; the lock is updated after the
refactor succeeded.

The refactor is made from the *deployed* templates, with only the moved resources (and the outputs
that read only them) carried from one template to the other: a refactor may not change anything
else. What CloudFormation cannot do is refused here, with the reason, before anything runs (User
Guide, "Stack refactoring": https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stack-refactoring.html):
- a refactor moves resources between existing stacks: a stack it creates (EnableStackCreation)
  stands alone, outside the root, so a move into a nested stack not deployed yet is refused;
- at most 5 stacks take part in one refactor;
- no stack may be left empty ("CloudFormation doesn't support empty stacks");
- no new parameters, conditions or mappings: moved resources may only use those the destination
  already declares, and moved and staying resources must not refer to each other.
CloudFormation validates the rest when the refactor is created; its refusal is shown and nothing
changes (the lock neither).
"""
from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

from infra.deploy.access_diff import SecurityChange
from infra.deploy.manifest import Build
from infra.deploy.resource_diff import Row
from infra.deploy.state import StageState
from infra.deploy.steps import RecordPlacement, Refactor, ResourceMove, StackDefinition
from infra.errors import ConfigError
from infra.naming import logical_id

MAX_STACKS = 5
SUB_NAME = re.compile(r"\$\{([^}!][^}]*)\}")


def pending(build: Build, lock: dict[str, str]) -> dict[str, tuple[str, str]]:
    """Bundle key -> (stack the lock records, stack the templates put it in), where they differ."""
    return {key: (lock[key], stack) for key, stack in sorted(build.placement.items())
            if key in lock and lock[key] != stack}


def references(value: Any) -> Iterator[str]:
    """Every name a template value refers to: Ref, Fn::GetAtt, ${Name} in Fn::Sub, conditions."""
    if isinstance(value, list):
        for item in value:
            yield from references(item)
    elif isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str):
                yield arg
            elif key == "Fn::GetAtt":
                yield str(arg[0] if isinstance(arg, list) and arg else str(arg).split(".")[0])
            elif key == "Fn::Sub":
                text, names = (arg[0], arg[1]) if isinstance(arg, list) and len(arg) == 2 else (arg, {})
                if isinstance(text, str):
                    yield from (m.split(".")[0] for m in SUB_NAME.findall(text) if m not in names)
                yield from references(names)
            elif key == "Fn::If" and isinstance(arg, list) and arg:
                if isinstance(arg[0], str):
                    yield arg[0]
                yield from references(arg[1:])
            elif key == "Condition" and isinstance(arg, str):
                yield arg
            else:
                yield from references(arg)


def resource_references(resource: dict[str, Any]) -> set[str]:
    """Names a resource definition refers to (properties, DependsOn, Condition)."""
    found = set(references(resource.get("Properties") or {}))
    depends = resource.get("DependsOn") or []
    found |= {depends} if isinstance(depends, str) else set(depends)
    if isinstance(resource.get("Condition"), str):
        found.add(resource["Condition"])
    return {name for name in found if not name.startswith("AWS::")}


def plan_refactor(build: Build, state: StageState, config: str) -> tuple[Refactor | None, RecordPlacement | None]:
    """The refactor that carries out the pending moves, and the lock update after it.

    No refactor when nothing moves, or when the root does not exist yet (its first deploy creates
    every stack where the templates say); the lock is then updated after that deploy.
    """
    moves = pending(build, state.lock)
    if not moves or state.lock_file is None:
        return None, None
    record = RecordPlacement(state.lock_file, tuple((key, to) for key, (_, to) in sorted(moves.items())))
    if state.creating:
        return None, record
    child_of = build.child_of_stack()
    pairs: dict[tuple[str, str], list[str]] = {}
    for key, (old, new) in moves.items():
        source, destination = logical_id(old), child_of.get(new, logical_id(new))
        if source not in state.children:
            continue          # nothing deployed there: the deploy creates the bundle where it belongs
        if destination not in state.children:
            # Named as the plan and the diff name nested stacks (logical IDs), with the lock's name once.
            raise ConfigError(config, f"{key}.group", f"moves it from {source} to {destination} (stack {new} of the placement), "
                              f"and {destination} is not deployed yet: CloudFormation's stack refactoring moves "
                              "resources between existing stacks only (a stack it creates would stand alone, outside "
                              f"{build.stack_name}).",
                              f"keep it in {source} for now (remove the group), deploy, and move it once {destination} "
                              "exists (give a new resource that group first); or rename it so that a new one is created.")
        pairs.setdefault((source, destination), []).append(key)
    templates = {lid: copy.deepcopy(child.template) for lid, child in state.children.items()}
    generated = {lid: build.template(path) for lid, path in build.templates.items()}
    resource_moves: list[ResourceMove] = []
    for (source, destination), moved_keys in sorted(pairs.items()):
        resource_moves += _move_pair(config, moved_keys, source, destination, templates, generated.get(destination, {}))
    if not resource_moves:
        return None, record       # already where the templates put them (a refactor ran, the lock was not written)
    involved = sorted({m.source for m in resource_moves} | {m.destination for m in resource_moves})
    if len(involved) > MAX_STACKS:
        raise ConfigError(config, "group", f"the moves involve {len(involved)} nested stacks ({', '.join(involved)}); "
                          f"one stack refactor may involve at most {MAX_STACKS}.",
                          "move fewer bundles at a time: change fewer groups, deploy, then the next ones.")
    for lid in involved:
        if not templates[lid].get("Resources"):
            raise ConfigError(config, "group", f"the moves would leave the nested stack {lid} empty, and CloudFormation "
                              "does not support empty stacks (a refactor cannot delete a stack).",
                              f"keep at least one bundle in {lid}, or move the last one by destroying and deploying again.")
    stacks = tuple(StackDefinition(lid, state.children[lid].stack_id, templates[lid]) for lid in involved)
    keys = tuple((key, old, new) for key, (old, new) in sorted(moves.items())
                 if any(key in k for k in pairs.values()))
    return Refactor(tuple(resource_moves), stacks, keys), record


def _move_pair(config: str, keys: list[str], source: str, destination: str, templates: dict[str, dict[str, Any]],
               generated: dict[str, Any]) -> list[ResourceMove]:
    """Carry the resources the destination's generated template now holds, and the outputs that read only
    them, from the source's deployed template to the destination's; refuse what a refactor cannot do."""
    src, dst = templates[source], templates[destination]
    src_res, dst_res = src.setdefault("Resources", {}), dst.setdefault("Resources", {})
    wanted = generated.get("Resources") or {}
    moving = sorted(lid for lid, res in wanted.items()
                    if lid not in dst_res and lid in src_res and src_res[lid].get("Type") == res.get("Type"))
    if not moving:
        return []
    what = ", ".join(keys)
    staying = set(src_res) - set(moving)
    for lid in moving:
        tangled = sorted(resource_references(src_res[lid]) & staying)
        if tangled:
            raise ConfigError(config, f"{keys[0]}.group", f"moving {what} from {source} to {destination} would move "
                              f"{lid}, which refers to {', '.join(tangled)} staying in {source}; a refactor cannot "
                              "change how resources refer to each other.", "move them together (the same group).")
    for lid in sorted(staying):
        tangled = sorted(resource_references(src_res[lid]) & set(moving))
        if tangled:
            raise ConfigError(config, f"{keys[0]}.group", f"{lid} stays in {source} and refers to {', '.join(tangled)}, "
                              f"which would move to {destination}.", "move them together (the same group).")
    declared = {section: set(dst.get(section) or {}) for section in ("Parameters", "Conditions", "Mappings")}
    known_here = set(src_res) | set(src.get("Parameters") or {}) | set(src.get("Conditions") or {}) | set(
        src.get("Mappings") or {})
    for lid in moving:
        needs = resource_references(src_res[lid]) - set(moving)
        missing = sorted(n for n in needs & known_here
                         if n not in declared["Parameters"] | declared["Conditions"] | declared["Mappings"])
        if missing:
            raise ConfigError(config, f"{keys[0]}.group", f"moving {what} to {destination} needs {', '.join(missing)}, "
                              f"which {destination} does not declare yet, and a stack refactor cannot add parameters, "
                              "conditions or mappings.", f"deploy once with {destination} declaring them (another "
                              "bundle of the group that uses them), then move.")
    moves: list[ResourceMove] = []
    for lid in moving:
        dst_res[lid] = src_res.pop(lid)
        moves.append(ResourceMove(lid, dst_res[lid].get("Type", ""), source, destination))
    outputs = src.get("Outputs") or {}
    for name in sorted(outputs):
        refs = set(references(outputs[name].get("Value")))
        if refs and refs <= set(moving):
            if name in (dst.get("Outputs") or {}):
                raise ConfigError(config, f"{keys[0]}.group", f"{destination} already has an output {name}.",
                                  "rename one of them.")
            dst.setdefault("Outputs", {})[name] = outputs.pop(name)
    if "Outputs" in src and not src["Outputs"]:
        del src["Outputs"]
    return moves


def mark_moves(rows: list[Row], refactor: Refactor | None, root: str) -> list[Row]:
    """Rows of a change set made before the refactor, with each moved resource's Remove (in the stack it
    leaves) and Add (in the one it joins) shown as one Move row."""
    if refactor is None:
        return rows
    moved = {(f"{root}/{m.source}", m.logical_id): m for m in refactor.moves}
    joined = {(f"{root}/{m.destination}", m.logical_id): m for m in refactor.moves}
    out: list[Row] = []
    for row in rows:
        key = (row.stack, row.logical_id)
        if key in moved and row.action == "Remove":
            continue
        if key in joined and row.action in ("Add", "Modify"):
            m = joined[key]
            row = Row(row.stack, "Move", row.logical_id, row.resource_type, "False", identifier=f"{root}/{m.source}",
                      local=row.local)
        out.append(row)
    for m in refactor.moves:   # a change set may not list both sides (an emulator's local rows): show every move
        label = f"{root}/{m.destination}"
        if not any(r.action == "Move" and (r.stack, r.logical_id) == (label, m.logical_id) for r in out):
            out.append(Row(label, "Move", m.logical_id, m.resource_type, "False", identifier=f"{root}/{m.source}"))
    return out


def mark_moved_access(changes: list[SecurityChange], refactor: Refactor | None, root: str) -> list[SecurityChange]:
    """IAM and security group changes of a diff made before the refactor, without those a move only
    carries: a moved resource's statement removed in the stack it leaves and added, unchanged, in the one
    it joins grants nothing new (a refactor changes no property), so it is neither shown nor counted as
    broadening. A statement that also changes stays, on its side."""
    if refactor is None:
        return changes
    moved = {m.logical_id: (f"{root}/{m.source}", f"{root}/{m.destination}") for m in refactor.moves}
    left = [i for i, c in enumerate(changes) if c.sign == "-" and moved.get(c.resource, ("", ""))[0] == c.stack]
    drop: set[int] = set()
    for i, change in enumerate(changes):
        if change.sign == "+" and moved.get(change.resource, ("", ""))[1] == change.stack:
            twin = next((j for j in left if j not in drop and changes[j].item == change.item
                         and changes[j].resource == change.resource), None)
            if twin is not None:
                drop |= {i, twin}
    return [c for i, c in enumerate(changes) if i not in drop]
