"""Assertions on generated templates, in the spirit of CDK's `Template.hasResourceProperties`.

Dicts match when the expected keys match (extra keys allowed, recursively); lists must match
element by element unless wrapped in `ArrayWith`; `ABSENT` asserts a key is not there.
"""
from __future__ import annotations

from typing import Any

ABSENT = object()


class ArrayWith:
    """Matches a list containing (at least) these items, in any order."""

    def __init__(self, *items: Any):
        self.items = items


def matches(actual: Any, expected: Any) -> bool:
    if isinstance(expected, ArrayWith):
        return isinstance(actual, list) and all(any(matches(a, e) for a in actual) for e in expected.items)
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return False
        for key, value in expected.items():
            if value is ABSENT:
                if key in actual:
                    return False
            elif key not in actual or not matches(actual[key], value):
                return False
        return True
    if isinstance(expected, list):
        return (isinstance(actual, list) and len(actual) == len(expected)
                and all(matches(a, e) for a, e in zip(actual, expected)))
    return actual == expected


def resources(template: dict, rtype: str) -> dict[str, dict]:
    """Logical ID -> resource, for every resource of `rtype`."""
    return {k: v for k, v in template.get("Resources", {}).items() if v["Type"] == rtype}


def find(template: dict, rtype: str, props: dict | None = None, **attrs: Any) -> dict[str, dict]:
    """Resources of `rtype` whose Properties match `props` (and top-level attributes `attrs`)."""
    return {k: v for k, v in resources(template, rtype).items()
            if matches(v.get("Properties", {}), props or {}) and matches(v, attrs)}


def has_resource_properties(template: dict, rtype: str, props: dict, count: int | None = None, **attrs: Any) -> dict:
    """Assert some (or exactly `count`) resources of `rtype` match `props`; return them."""
    found = find(template, rtype, props, **attrs)
    candidates = list(resources(template, rtype))
    assert found, f"no {rtype} matches {props!r} {attrs or ''}; candidates: {candidates}"
    if count is not None:
        assert len(found) == count, f"{len(found)} {rtype} match, expected {count}: {list(found)}"
    return found


def resource_count(template: dict, rtype: str) -> int:
    return len(resources(template, rtype))


def statements(policy_document: dict) -> list[dict]:
    return policy_document["Statement"]


def actions_of(role: dict) -> set[str]:
    """Every action an IAM role's inline policies allow."""
    out: set[str] = set()
    for policy in role["Properties"].get("Policies", []):
        for st in policy["PolicyDocument"]["Statement"]:
            if st["Effect"] == "Allow":
                acts = st["Action"]
                out.update(acts if isinstance(acts, list) else [acts])
    return out
