"""Property: whatever a config says, the generator answers with output or one ConfigError.

Random edits of the shipped configs (values of the wrong type or range, deleted keys, unknown
keys, renamed references) must never produce a traceback: either the config is valid and
generates, or loading raises ConfigError naming the file.
"""
from __future__ import annotations

import copy
import os
import tomllib

from hypothesis import HealthCheck, given, settings, strategies as st

from infra.build import generate
from infra.config import parse_config
from infra.errors import ConfigError, QuotaError
from support.shipped import SHIPPED

BASES = [tomllib.loads(p.read_text()) for p in SHIPPED]

scalars = st.one_of(st.booleans(), st.integers(-10, 100000), st.floats(allow_nan=True),
                    st.text(max_size=20), st.sampled_from(["", "*", "x", "data", "/users/{id}", "GET", "10.0.0.0/8",
                                                           "python3.13", "nodejs18.x", "${tables.data.name}"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                      max_leaves=6)


def paths(node, prefix=()):
    """Every (path, container) position in a TOML document."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield prefix + (key,)
            yield from paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield prefix + (i,)
            yield from paths(value, prefix + (i,))


@st.composite
def mutated(draw):
    doc = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(list(paths(doc))))
        parent = doc
        for step in where[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "delete" and isinstance(parent, dict):
            del parent[where[-1]]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=10))] = draw(values)
        else:
            parent[where[-1]] = draw(values)
    return doc


@settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "300")), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_any_config_generates_or_fails_with_one_config_error(doc):
    try:
        cfg = parse_config(doc, "fuzz.toml", "fuzz")
    except ConfigError as exc:
        text = str(exc)
        assert text.startswith("fuzz.toml: ") and "\n" not in text and exc.exit_code == 2
        return
    try:
        out = generate(cfg)
    except ConfigError as exc:
        assert str(exc).startswith("fuzz.toml: ") and exc.exit_code == 2
        return
    except QuotaError:
        return
    assert "root.json" in out.files and "manifest.json" in out.files
