"""The stage config's JSON Schema (schema/stage-config.json): generated from the dataclasses that
load configs, checked in, referenced by every shipped config, and in agreement with the loader."""
from __future__ import annotations

import copy
import json
import tomllib
from pathlib import Path

import jsonschema
import pytest

from infra.config import json_schema, parse_config
from infra.config.json_schema import DIRECTIVE, SCHEMA_PATH, directive, render, stage_config_schema
from infra.config.schema import Config
from infra.config.typed import Loader
from infra.errors import ConfigError
from support.shipped import REPO, SHIPPED

CHECKED_IN = REPO / SCHEMA_PATH
VALIDATOR = jsonschema.Draft7Validator(stage_config_schema())


def schema_accepts(raw: dict) -> bool:
    return VALIDATOR.is_valid(raw)


def loader_accepts(raw: dict) -> bool:
    """The loader's typed layer (keys, types, ranges, choices, patterns): what a schema can say."""
    try:
        Loader("case.toml").load(Config, raw)
    except ConfigError:
        return False
    return True


def raw_config(path: Path) -> dict:
    return tomllib.loads(path.read_text())


def test_checked_in_schema_is_what_the_schema_code_generates():
    assert CHECKED_IN.read_text() == render(), (
        "schema/stage-config.json is stale: run `python generate.py schema` (or `make schema`) and commit it")


def test_the_schema_is_a_valid_draft_07_schema():
    jsonschema.Draft7Validator.check_schema(json.loads(CHECKED_IN.read_text()))


EXAMPLES = sorted((CHECKED_IN.parents[1] / "config" / "examples").glob("*.toml"))


@pytest.mark.parametrize("config", [*SHIPPED, *EXAMPLES], ids=lambda p: p.stem)
def test_every_shipped_config_references_the_schema_and_validates(config):
    text = config.read_text()
    first = text.splitlines()[0]
    assert first == directive(config, CHECKED_IN.parents[1])
    assert first == DIRECTIVE or config in EXAMPLES
    assert (config.parent / first.split()[1]).resolve() == CHECKED_IN
    errors = sorted(VALIDATOR.iter_errors(tomllib.loads(text)), key=str)
    assert not errors, [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]


def _walk(schema: dict, path: str = ""):
    for name, prop in schema.get("properties", {}).items():
        yield f"{path}{name}", prop, name in schema.get("required", ())
        yield from _walk(prop, f"{path}{name}.")
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        yield from _walk(extra, f"{path}<name>.")
    if isinstance(schema.get("items"), dict):
        yield from _walk(schema["items"], f"{path}[].")


def test_every_key_has_a_description_and_every_optional_value_a_default():
    """What an editor shows on hover: a description for every key, the default when there is one."""
    missing_doc, missing_default = [], []
    for path, prop, required in _walk(stage_config_schema()):
        if not prop.get("description"):
            missing_doc.append(path)
        unset = prop.get("description", "").endswith(json_schema.UNSET)
        if not required and prop.get("type") != "object" and "default" not in prop and not unset:
            missing_default.append(path)
    assert not missing_doc and not missing_default, (missing_doc, missing_default)


def test_defaults_validate_against_their_own_schema():
    for path, prop, _ in _walk(stage_config_schema()):
        if "default" in prop:
            sub = {k: v for k, v in prop.items() if k not in ("default", "description")}
            assert jsonschema.Draft7Validator(sub).is_valid(prop["default"]), path


MINIMAL = {"project": {"name": "shop", "stage": "dev", "region": "eu-west-1"}}

# Shape mistakes both must refuse: (dotted path, new value); None deletes the key.
BAD = [
    ("project.name", "Shop"), ("project.name", "x" * 17), ("project.stage", 5), ("project.region", "mars"),
    ("project.production", "yes"), ("project.tags", ["a"]), ("project.tags", {"team": 1}), ("project", None),
    ("project.surprise", 1), ("surprise", {}),
    ("network", {"availability_zones": 7}), ("network", {"nat_gateways": 0}),
    ("network", {"flow_log_retention_days": 2}), ("network", {"cidr": 10}),
    ("key", {"alias": "Bad Alias"}), ("key", "kms"),
    ("tables", {"Bad_Name": {"partition_key": "id:S"}}), ("tables", {"t": {}}),
    ("tables", {"t": {"partition_key": "id:X"}}), ("tables", {"t": {"partition_key": "id:S", "billing": "free"}}),
    ("tables", {"t": {"partition_key": "id:S", "read_capacity": 0}}),
    ("tables", {"t": {"partition_key": "id:S", "autoscaling": {"target_utilization": 95}}}),
    ("tables", {"t": {"partition_key": "id:S", "stream": "ALL"}}),
    ("buckets", {"b": {"encryption": "aes"}}), ("buckets", {"b": {"versioned": 1}}),
    ("buckets", {"b": {"expiry_days": -1}}),
    ("functions", {"f": {"runtime": "java21", "source": "handlers/api", "handler": "app.handler"}}),
    ("functions", {"f": {"runtime": "python3.13", "source": "handlers/api"}}),
    ("functions", {"f": {"runtime": "python3.13", "source": "handlers/api", "handler": "app.handler",
                         "memory": 64}}),
    ("functions", {"f": {"runtime": "python3.13", "source": "handlers/api", "handler": "app.handler",
                         "memory": True}}),
    ("functions", {"f": {"runtime": "python3.13", "source": "handlers/api", "handler": "app.handler",
                         "access": {"tables": {"t": "admin"}}}}),
    ("functions", {"f": {"runtime": "python3.13", "source": "handlers/api", "handler": "app.handler",
                         "environment": {"1BAD": "x"}}}),
    ("api", {"routes": [{"method": "GET", "path": "users", "function": "f"}]}),
    ("api", {"routes": [{"method": "FETCH", "path": "/users", "function": "f"}]}),
    ("api", {"routes": [{"method": "GET", "path": "/users"}]}),
    ("api", {"routes": [{"method": "GET", "path": "/users", "function": "f", "auth": "COGNITO?"}]}),
    ("api", {"endpoint": "PRIVATE"}), ("api", {"cors": {"max_age": 90000}}), ("api", {"cors": {"origins": "*"}}),
    ("api", {"models": {"lower": {}}}), ("api", {"models": {"Thing": {"properties": {"a b": "string"}}}}),
    ("api", {"usage_plan": {"period": "YEAR"}}),
    ("firewall", {"managed_rule_groups": ["CommonRuleSet"]}), ("firewall", {"rate_limit": 5}),
    ("edge", {"certificate_arn": "arn:aws:acm:eu-west-1:123456789012:certificate/abc"}),
    ("edge", {"hosted_zone_id": "X123"}),
    ("monitoring", {"sampling_rate": 1.5}), ("monitoring", {"alarms": {"evaluation_periods": 0}}),
    ("parameters", {"prefix": "no-slash"}), ("pipeline", {"branch": "main"}),
    ("pipeline", {"repository": "no-slash"}),
]
GOOD = [
    ("network", {}), ("secret", {"rotation_function": "f"}), ("tables", {"t": {"partition_key": "id:S"}}),
    ("tables", {"t": {"partition_key": "id:S", "sort_key": "", "stream": ""}}),
    ("monitoring", {"sampling_rate": 1}),  # an integer is a number
    ("api", {"routes": [{"method": "GET", "path": "/", "function": "f"}], "cors": {}}),
    ("edge", {"domain": "example.com", "hosted_zone_id": "Z123"}),
    ("pipeline", {"repository": "octo/repo"}), ("parameters", {"prefix": "/a/b"}),
]


def _mutated(base: dict, dotted: str, value) -> dict:
    raw = copy.deepcopy(base)
    *parents, leaf = dotted.split(".")
    node = raw
    for part in parents:
        node = node[part]
    if value is None:
        del node[leaf]
    else:
        node[leaf] = value
    return raw


@pytest.mark.parametrize("dotted, value", BAD, ids=lambda v: str(v)[:40])
def test_schema_and_loader_both_refuse_bad_shapes(dotted, value):
    raw = _mutated(MINIMAL, dotted, value)
    assert not loader_accepts(raw), "the loader accepts it"
    assert not schema_accepts(raw), "the JSON Schema accepts it"


@pytest.mark.parametrize("dotted, value", GOOD, ids=lambda v: str(v)[:40])
def test_schema_and_loader_both_accept_good_shapes(dotted, value):
    raw = _mutated(MINIMAL, dotted, value)
    assert loader_accepts(raw) and schema_accepts(raw)


def _leaves(node, path=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(node, list) and node and isinstance(node[0], dict):
        for i, value in enumerate(node):
            yield from _leaves(value, (*path, i))
    else:
        yield path, node


def _tables(node, path=()):
    """The path of every table (TOML table or array-of-tables entry) in a parsed config."""
    if isinstance(node, dict):
        yield path
        for key, value in node.items():
            yield from _tables(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _tables(value, (*path, i))


def _set(raw: dict, path: tuple, value) -> dict:
    raw = copy.deepcopy(raw)
    node = raw
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return raw


def _wrong_type(value):
    if isinstance(value, bool):
        return "true"
    if isinstance(value, (int, float)):
        return "7"
    if isinstance(value, str):
        return 7
    return {"not": "a list"}


@pytest.mark.parametrize("config", SHIPPED, ids=lambda p: p.stem)
def test_agreement_on_every_key_of_the_shipped_configs(config):
    """Each value of a shipped config given the wrong type, and each table given an unknown key:
    both the loader and the JSON Schema refuse every one of those configs."""
    base = raw_config(config)
    assert loader_accepts(base) and schema_accepts(base)
    parse_config(base, config.name, config.stem)  # and the whole loader accepts the original
    cases = [_set(base, path, _wrong_type(value)) for path, value in _leaves(base)]
    cases += [_set(base, (*table, "unknown_key"), 1) for table in _tables(base)]
    disagreements = [case for case in cases if loader_accepts(case) != schema_accepts(case)]
    assert not disagreements and all(not loader_accepts(case) for case in cases)


def test_the_one_known_difference_is_a_whole_float_for_an_integer():
    """TOML tells 512 from 512.0; the JSON data model (so every JSON Schema validator) does not.
    The loader refuses `memory = 512.0`; an editor may not flag it."""
    raw = _mutated(MINIMAL, "functions", {"f": {"runtime": "python3.13", "source": "handlers/api",
                                                "handler": "app.handler", "memory": 512.0}})
    assert not loader_accepts(raw)
    assert schema_accepts(raw)
