"""The README's config reference names every key of the schema, and its quick start is `make`."""
from __future__ import annotations

import dataclasses
import fnmatch
import re
from collections import Counter
from pathlib import Path

import click
import pytest

from infra.config import schema

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def documented(key: str) -> bool:
    """As `key`, as a table header [key] / [x.key], or inside a TOML example `key = ...`."""
    return re.search(rf"(`{key}`|[\[.]{key}[\].]|[`{{,] ?{key} = )", README) is not None


def test_every_config_key_is_documented():
    classes = [v for v in vars(schema).values() if dataclasses.is_dataclass(v)]
    missing = [f"{cls.__name__}.{f.name}" for cls in classes for f in dataclasses.fields(cls)
               if not f.metadata.get("internal") and not documented(f.name)]
    assert not missing, f"README's config reference lacks: {missing}"


def test_quick_start_is_the_two_make_commands():
    start = README.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    assert [line.split("#")[0].strip() for line in start.strip().splitlines()] == ["make templates", "make test"]


# -- the README and ARCHITECTURE.md cite what exists ----------------------------------------------------
REPO = Path(__file__).resolve().parents[1]
ARCHITECTURE = (REPO / "ARCHITECTURE.md").read_text()
DOCS = {"README.md": README, "ARCHITECTURE.md": ARCHITECTURE}
# Folders whose backticked paths the documents cite as files or folders of this repository.
CITED_ROOTS = ("src/", "tests/", "handlers/", "config/", "bench/", "ci/", "schema/", "templates/", "infra/")


def python_tests() -> dict[str, set[str]]:
    """Every Python test function, by the file that defines it (relative to the repository)."""
    found: dict[str, set[str]] = {}
    for root in ("tests", "handlers"):
        for path in (REPO / root).rglob("*.py"):
            if "node_modules" not in path.parts:
                names = set(re.findall(r"^\s*(?:async )?def (test_\w+)", path.read_text(), re.M))
                if names:
                    found[path.relative_to(REPO).as_posix()] = names
    return found


def defined_in(name: str, files: dict[str, set[str]]) -> set[str]:
    """The files defining `name` (a `*` in it stands for any name part)."""
    return {f for f, names in files.items() if any(fnmatch.fnmatchcase(n, name) for n in names)}


@pytest.mark.parametrize("doc", sorted(DOCS))
def test_every_test_the_docs_cite_exists(doc):
    files = python_tests()
    cited = set(re.findall(r"`(test_[\w*]+)`", DOCS[doc]))
    assert cited, doc
    assert sorted(name for name in cited if not defined_in(name, files)) == []


def test_each_verified_row_names_where_its_tests_are():
    """In "Verified against AWS documentation", a row's tests are in tests/test_aws_correctness.py
    unless the row names other files or folders, where they then are."""
    files = python_tests()
    section = README.split("## Verified against AWS documentation", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "`test_" in line]
    assert len(rows) > 30
    for row in rows:
        cell = row.rstrip(" |").rsplit(" | ", 1)[1]
        places = [p.rstrip("/") for p in re.findall(r"`((?:tests|handlers)/[^`]+)`", cell)]
        places = places or ["tests/test_aws_correctness.py"]
        for name in re.findall(r"`(test_[\w*]+)`", cell):
            where = defined_in(name, files)
            assert any(f == p or f.startswith(p + "/") for f in where for p in places), (name, places, sorted(where))


@pytest.mark.parametrize("doc", sorted(DOCS))
def test_every_repository_path_the_docs_cite_exists(doc):
    cited = {p for p in re.findall(r"`([^`\s]+)`", DOCS[doc])
             if p.startswith(CITED_ROOTS) and not re.search(r"[<>*{}]", p)}
    assert cited, doc
    missing = sorted(p for p in cited if not (REPO / p).exists() and not (REPO / "src" / p).exists())
    assert missing == []


# -- the command-line summary is the command line -------------------------------------------------------
# Options every command that has them takes, stated once below the summary instead of on each line.
STATED_ONCE = {"--out", "--region", "--profile", "--endpoint-url", "--help"}


def summary() -> dict[str, str]:
    """The README's command-line summary: command name -> its line(s)."""
    block = README.split("## Command line", 1)[1].split("```", 2)[1]
    entries: dict[str, str] = {}
    current = None
    for line in block.splitlines():
        match = re.match(r"python generate\.py (\S+)", line)
        if match:
            current = match.group(1)
            entries[current] = line.split("#", 1)[0]
        elif current and line.startswith(" "):
            entries[current] += " " + line.split("#", 1)[0]
    return entries


def test_the_command_line_summary_names_every_command_and_option():
    from infra import cli

    ctx = click.Context(cli.main)
    names = cli.main.list_commands(ctx)
    entries = summary()
    assert sorted(entries) == sorted(names)
    for name in names:
        cmd = cli.main.get_command(ctx, name)
        assert cmd is not None, name
        options = [p for p in cmd.params if isinstance(p, click.Option) and not p.hidden]
        spelled = {o for p in options for o in p.opts + p.secondary_opts if o.startswith("--")}
        written = set(re.findall(r"(--[a-z][a-z-]*)", entries[name]))
        assert written <= spelled, f"{name}: the summary names options it does not have: {written - spelled}"
        for option in options:
            names = {o for o in option.opts + option.secondary_opts if o.startswith("--")}
            assert names & (written | STATED_ONCE), f"{name}: the summary lacks {sorted(names)}"


# -- the checkov skips the README counts are the generated ones ------------------------------------------
def test_the_checkov_skip_count_and_table_are_the_generated_ones(generated):
    found: Counter[str] = Counter()
    for files in generated.values():
        for template in files.values():
            for resource in (template.get("Resources") or {}).values():
                for skip in (resource.get("Metadata") or {}).get("checkov", {}).get("skip", []):
                    found[skip["id"]] += 1
    section = README.split("**checkov skips**", 1)[1].split("\n\n", 2)
    total = int(re.match(r"\s*\((\d+) across the three shipped configs", section[0]).group(1))
    table = {m.group(1): int(m.group(2)) for m in re.finditer(r"^\s*\| (CKV_\w+) [^|]*\|[^|]*\| (\d+) \|", section[1], re.M)}
    assert len(generated) == 3
    assert (total, table) == (sum(found.values()), dict(found))
