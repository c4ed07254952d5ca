"""Property: a system of any size within AWS's own quotas generates within every CloudFormation
quota, or fails with one ConfigError naming the key; never a traceback."""
from __future__ import annotations

import json
import os

from hypothesis import HealthCheck, event, given, settings, strategies as st

from infra import quotas
from infra.build import generate
from infra.config import parse_config
from infra.errors import ConfigError
from infra.render import compact_json


@st.composite
def systems(draw) -> dict:
    functions = draw(st.integers(1, 320))
    tables = draw(st.integers(0, 80))
    buckets = draw(st.integers(0, 15))
    grants = draw(st.integers(0, min(tables, 30)))
    routes_per = draw(st.integers(0, 4))
    groups = draw(st.integers(0, 3))
    doc: dict = {"project": {"name": "fuzz", "stage": "t", "region": "eu-west-1"},
                 "tables": {f"t{i}": {"partition_key": "id:S"} for i in range(tables)},
                 "buckets": {f"b{i}": {} for i in range(buckets)},
                 "functions": {}}
    for i in range(functions):
        fn: dict = {"runtime": "python3.13", "source": "handlers/products", "handler": "app.handler",
                    "access": {"tables": {f"t{(i + j) % tables}": "read" for j in range(grants)} if tables else {}}}
        if groups and i % 7 == 0:
            fn["group"] = f"g{i % groups}"
        doc["functions"][f"f{i}"] = fn
    if routes_per:
        # Paths /s<k> and /s<k>/{id}: at most 181 API Gateway resources, whatever the size.
        doc["api"] = {"routes": [{"method": m, "path": f"/s{i % 90}/{{id}}" if r % 2 else f"/s{i % 90}",
                                  "function": f"f{i}"}
                                 for i in range(min(functions, 90))
                                 for r, m in enumerate(["GET", "POST", "PUT", "DELETE"][:routes_per])]}
    doc["monitoring"] = {"dashboard": bool(routes_per) and draw(st.booleans()),
                         "alarms": {"function_errors": 1, "table_throttles": 1, "api_5xx": 1 if routes_per else 0}}
    return doc


@settings(max_examples=int(os.environ.get("SCALE_FUZZ_EXAMPLES", "12")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(systems())
def test_any_size_generates_within_quotas_or_names_the_key(doc):
    try:
        out = generate(parse_config(doc, "fuzz.toml", "fuzz"))
    except ConfigError as exc:
        text = str(exc)
        assert text.startswith("fuzz.toml: ") and "\n" not in text and exc.exit_code == 2
        event(f"ConfigError at {exc.key.split('[')[0].split('.')[0]}")
        return
    manifest = json.loads(out.files["manifest.json"])
    event(f"generated: {len(manifest['templates'])} nested stacks" if len(doc["functions"]) < 100
          else "generated: 100+ functions")
    for name in ["root.json", *manifest["templates"].values()]:
        template = json.loads(out.files[name])
        quotas.check(name, template, compact_json(template))
        assert len(template.get("Parameters", {})) <= quotas.MAX_PARAMETERS
    assert set(manifest["placement"]) == {f"functions.{f}" for f in doc["functions"]} | \
        {f"tables.{t}" for t in doc["tables"]} | {f"buckets.{b}" for b in doc["buckets"]}
