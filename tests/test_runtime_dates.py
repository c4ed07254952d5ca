"""The runtime deprecation check takes the date as an input: no test depends on the day it runs."""
from __future__ import annotations

import datetime
import tomllib

import pytest

from infra.config import config_today, parse_config
from infra.errors import ConfigError
from support.dates import PINNED_TODAY
from support.shipped import SHIPPED

CATALOG = tomllib.loads(next(p for p in SHIPPED if p.name == "catalog-api.toml").read_text())
NODE_DEPRECATED = datetime.date(2028, 4, 30)   # nodejs24.x in cfn-lint's lifecycle data


def test_the_suite_runs_on_a_pinned_date():
    assert config_today() == PINNED_TODAY


def test_a_runtime_is_accepted_until_its_deprecation_date_and_refused_from_it():
    parse_config(CATALOG, "catalog.toml", "catalog", today=NODE_DEPRECATED - datetime.timedelta(days=1))
    with pytest.raises(ConfigError) as refused:
        parse_config(CATALOG, "catalog.toml", "catalog", today=NODE_DEPRECATED)
    assert "functions.users.runtime: 'nodejs24.x' is deprecated since 2028-04-30" in str(refused.value)


def test_the_date_comes_from_the_environment_when_not_given(monkeypatch):
    monkeypatch.setenv("SERVERLESS_INFRA_TODAY", NODE_DEPRECATED.isoformat())
    with pytest.raises(ConfigError, match="deprecated since 2028-04-30"):
        parse_config(CATALOG, "catalog.toml", "catalog")
    monkeypatch.delenv("SERVERLESS_INFRA_TODAY")
    assert config_today() == datetime.date.today()
