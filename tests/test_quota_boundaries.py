"""Quota checks at their exact boundaries (issue 18 item 28): each limit is inclusive, and the
IAM policy size counts every intrinsic function at the length of the ARN it becomes."""
from __future__ import annotations

import json
import tomllib

import pytest
from support.shipped import REPO

from infra import quotas
from infra.build import generate
from infra.config import parse_config
from infra.errors import ConfigError, QuotaError

# -- dynamic references: 60 per template ------------------------------------------------------------

def body_with(references: int) -> bytes:
    params = {f"P{i}": f"{{{{resolve:secretsmanager:s{i}:SecretString:password}}}}" for i in range(references)}
    return json.dumps({"Resources": {"R": {"Type": "AWS::CloudFormation::WaitConditionHandle",
                                           "Metadata": params}}}).encode()


def test_sixty_dynamic_references_are_accepted():
    quotas.check("x/api.json", json.loads(body_with(60)), body_with(60))


def test_sixty_one_dynamic_references_are_refused():
    with pytest.raises(QuotaError, match="61 dynamic references, over CloudFormation's limit of 60"):
        quotas.check("x/api.json", json.loads(body_with(61)), body_with(61))


# -- API Gateway resources: 300 per REST API ---------------------------------------------------------

def catalog_with_routes(extra: int) -> str:
    # The catalog's own routes need 5 resources: /, /users, /users/{id}, /products, /products/{id}.
    text = (REPO / "config" / "catalog-api.toml").read_text()
    return text + "".join(f'\n[[api.routes]]\nmethod = "GET"\npath = "/r{i}"\nfunction = "users"\n'
                          for i in range(extra))


def test_exactly_300_api_resources_are_accepted():
    cfg = parse_config(tomllib.loads(catalog_with_routes(295)), "big.toml", "big")
    from infra.openapi import resource_paths
    assert len(resource_paths(cfg.api)) == 300


def test_301_api_resources_are_refused():
    with pytest.raises(ConfigError, match="the routes need 301 API Gateway resources"):
        parse_config(tomllib.loads(catalog_with_routes(296)), "big.toml", "big")


# -- a role's inline policies: 10,240 characters, intrinsics counted as ARNs ---------------------------

def granted_tables(n: int) -> dict:
    return {"project": {"name": "big", "stage": "test", "region": "eu-west-1"},
            "tables": {f"t{i}": {"partition_key": "id:S"} for i in range(n)},
            "functions": {"f0": {"runtime": "python3.14", "source": "handlers/products", "handler": "app.handler",
                                 "access": {"tables": {f"t{i}": "read-write" for i in range(n)}}}}}


def role_policies(n: int, monkeypatch) -> list[dict]:
    """The generated role policies of a function granted `n` tables, with IAM's limit lifted."""
    with monkeypatch.context() as m:
        m.setattr(quotas, "MAX_ROLE_POLICY_CHARS", 10**9)
        files = generate(parse_config(granted_tables(n), "big.toml", "big")).files
    return json.loads(files["compute.json"])["Resources"]["F0FunctionRole"]["Properties"]["Policies"]


def refused(n: int) -> bool:
    try:
        generate(parse_config(granted_tables(n), "big.toml", "big"))
    except ConfigError as exc:
        assert "functions.f0.access: the function's role policy would be about" in str(exc)
        return True
    return False


def as_written(policies: list[dict]) -> int:
    """Characters of the policies with each intrinsic as written ({"Ref": "T0TableArn"})."""
    return sum(len(json.dumps(p["PolicyDocument"], separators=(",", ":"))) for p in policies)


def test_a_policy_just_over_the_limit_is_refused_and_one_under_it_accepted(monkeypatch):
    sizes = {n: quotas.policy_chars(role_policies(n, monkeypatch)) for n in range(10, 30)}
    first_over = min(n for n, size in sizes.items() if size > quotas.MAX_ROLE_POLICY_CHARS)
    assert sizes[first_over] - quotas.MAX_ROLE_POLICY_CHARS < sizes[first_over] - sizes[first_over - 1]  # just over
    assert refused(first_over) and not refused(first_over - 1)


def test_intrinsics_count_at_arn_length(monkeypatch):
    # The most tables whose policy, intrinsics as written, is still under IAM's limit (about 25):
    # each {"Ref": ...} becomes an ARN of up to ~128 characters at deploy time, so it is refused.
    n = max(n for n in range(15, 40) if as_written(role_policies(n, monkeypatch)) <= quotas.MAX_ROLE_POLICY_CHARS)
    assert 20 <= n <= 30
    assert quotas.policy_chars(role_policies(n, monkeypatch)) > quotas.MAX_ROLE_POLICY_CHARS
    assert refused(n)
