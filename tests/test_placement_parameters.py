"""Placement counts a bundle's parameters against the budget, not only its resources and outputs
(issue 18 item 26): a stack full of parameters opens the next stack."""
from __future__ import annotations

from infra.placement import BUDGET, Cost, place
from infra.quotas import MAX_PARAMETERS, MAX_RESOURCES


def test_a_stack_whose_parameters_reach_the_budget_opens_the_next():
    # Each bundle: 2 resources, 1 output, 40 parameters of its own (its tables' and buckets' ARNs).
    costs = {f"functions.f{i}": Cost(2, 1, frozenset(f"F{i}Param{j}" for j in range(40))) for i in range(5)}
    placed = place("x.toml", costs, {}, {})
    per: dict[str, int] = {}
    for stack in placed.values():
        per[stack] = per.get(stack, 0) + 1
    # 150 parameters fit in a stack (75 % of 200): three bundles (120), not four (160); resources
    # (6 of 500) and outputs are nowhere near their budget.
    assert MAX_PARAMETERS * BUDGET == 150 and 3 * 2 < MAX_RESOURCES * BUDGET
    assert per == {"compute": 3, "compute-2": 2}
    assert [placed[f"functions.f{i}"] for i in range(5)] == ["compute"] * 3 + ["compute-2"] * 2


def test_shared_parameters_count_once():
    # Bundles sharing the same 40 parameters (KeyArn and the like) all fit in one stack.
    shared = frozenset(f"Shared{j}" for j in range(40))
    costs = {f"functions.f{i}": Cost(2, 1, shared) for i in range(10)}
    assert set(place("x.toml", costs, {}, {}).values()) == {"compute"}
