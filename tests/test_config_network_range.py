"""A VPC CIDR that is a well-formed network but whose prefix is outside /16 to /24 is refused,
naming network.cidr (issue 18 item 31)."""
from __future__ import annotations

import tomllib

import pytest
from support.shipped import REPO

from infra.config import parse_config
from infra.errors import ConfigError

TEXT = (REPO / "config" / "secure-api.toml").read_text()


def with_network(cidr: str, subnet_prefix: int = 24) -> dict:
    doc = tomllib.loads(TEXT)
    doc["network"].update(cidr=cidr, subnet_prefix=subnet_prefix)
    return doc


@pytest.mark.parametrize("cidr, subnet_prefix", [("10.0.0.0/8", 24), ("10.0.0.0/15", 24), ("10.0.0.0/25", 28),
                                                 ("10.0.0.0/28", 28)])
def test_a_prefix_out_of_range_is_refused_naming_the_cidr(cidr, subnet_prefix):
    with pytest.raises(ConfigError) as err:
        parse_config(with_network(cidr, subnet_prefix), "net.toml", "net")
    prefix = cidr.rsplit("/", 1)[1]
    assert str(err.value) == (f"net.toml: network.cidr: a /{prefix} VPC is not allowed. "
                              "Fix: use a prefix from /16 to /24.")


@pytest.mark.parametrize("cidr, subnet_prefix", [("10.0.0.0/16", 24), ("10.1.0.0/24", 28)])
def test_the_ends_of_the_range_are_accepted(cidr, subnet_prefix):
    cfg = parse_config(with_network(cidr, subnet_prefix), "net.toml", "net")
    assert cfg.network.cidr == cidr
