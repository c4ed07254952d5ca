"""Installed versions read from METADATA (infra.versions): the answer importlib.metadata gives."""
from __future__ import annotations

import importlib.machinery
import importlib.metadata
import sys

import pytest

from infra import versions


@pytest.fixture(autouse=True)
def fresh():
    versions.installed_version.cache_clear()
    yield
    versions.installed_version.cache_clear()


@pytest.mark.parametrize("distribution, package", [("uv", "uv"), ("cfn-lint", "cfnlint"), ("troposphere", "troposphere"),
                                                   ("PyYAML", "yaml")])
def test_the_version_is_the_one_importlib_metadata_reads(distribution, package):
    assert versions.installed_version(distribution, package) == importlib.metadata.version(distribution)


def test_without_a_dist_info_folder_beside_the_package_importlib_metadata_answers(monkeypatch):
    monkeypatch.setattr(importlib.machinery.PathFinder, "find_spec", classmethod(lambda cls, name, path=None: None))
    assert versions.installed_version("cfn-lint", "cfnlint") == importlib.metadata.version("cfn-lint")


def test_a_distribution_that_is_not_installed_has_no_version():
    assert versions.installed_version("no-such-distribution-here", "no_such_package_here") is None


def test_the_folder_of_the_distribution_itself_is_read_not_one_whose_name_starts_like_it(tmp_path, monkeypatch):
    site = tmp_path / "site"
    (site / "fake_pkg").mkdir(parents=True)
    (site / "fake_pkg" / "__init__.py").write_text("")
    for folder, version in (("Fake.Pkg-3.1.dist-info", "3.1"), ("fake_pkg_extra-9.0.dist-info", "9.0")):
        (site / folder).mkdir()
        (site / folder / "METADATA").write_text(f"Metadata-Version: 2.1\nName: x\nVersion: {version}\n\nVersion: 0\n")
    monkeypatch.setattr(sys, "path", [str(site), *sys.path])
    sys.path_importer_cache.pop(str(site), None)
    assert versions.installed_version("fake-pkg", "fake_pkg") == "3.1"
    assert versions.installed_version("fake_pkg_extra", "fake_pkg") == "9.0"


def test_names_are_compared_as_the_wheel_spec_normalizes_them():
    assert versions._normalized("Foo.Bar--baz_Qux") == "foo_bar_baz_qux"
