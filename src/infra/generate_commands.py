"""Commands that generate and check files, with no AWS: templates, lint, schema.

Defined as every command is (`infra.command`); only click is imported here, the generator,
cfn-lint and the schema code load when a command runs.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from infra.args import LINT_CACHE_DIR, WritableFile
from infra.command import EXIT_FAILURE, EXIT_USAGE, command
from infra.config import CONFIG_DIR, REPO_ROOT, Config, config_files
from infra.errors import UsageError, UserError
from infra.render import STDOUT

if TYPE_CHECKING:
    from infra.build import Output


@command("templates", fast_exit=True)
@click.option("--config", "configs", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Stage config (TOML). Repeatable. Default: every config in config/.")
@click.option("--out", "out_dir", default="out", show_default=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output root; each config goes to OUT/<config name>/.")
@click.option("--locked", is_flag=True,
              help="Fail (exit 2) instead of updating a placement lock file that is missing or out of date (CI).")
def templates_cmd(configs: tuple[Path, ...], out_dir: Path, locked: bool) -> None:
    """Generate every config into OUT/<config>/, one JSON file per stack; update each config's
    placement lock file (config/<name>.lock.json) when it changed."""
    from infra.build import build_configs

    paths = list(configs) or config_files()
    if not paths:
        raise UsageError(f"no configs in {CONFIG_DIR} and none given with --config.")
    build_configs(paths, out_dir, locked=locked, on_built=_summary, progress=lambda line: click.echo(line, err=True))


def _summary(cfg: Config, out: Output, target: Path) -> None:
    """Advice on a valid config (alarms nobody receives, ...) on stderr, then what was written."""
    from infra.config.advice import warnings

    for text in warnings(cfg):
        click.echo(f"Warning: {cfg.file}: {text}", err=True)
    click.echo(f"{target}/: {len(out.stacks)} stacks, {out.resources} resources ({', '.join(out.stacks)})")


# fast_exit: a lint leaves nothing behind (its workers are joined, its cache files written and closed),
# and the teardown it skips frees everything cfn-lint loaded: a tenth of a small lint.
@command("lint", fast_exit=True)
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--cache-dir", default=LINT_CACHE_DIR, show_default=True, type=click.Path(file_okay=False, path_type=Path),
              help="Where findings of unchanged templates are kept between runs.")
@click.option("--no-cache", is_flag=True, help="Lint every template, ignoring and not writing the cache.")
@click.option("--jobs", type=click.IntRange(min=1), default=None, help="Parallel cfn-lint processes (default: one per core).")
@click.option("--format", "fmt", type=click.Choice(["text", "sarif"]), default="text", show_default=True,
              help="text: one line per finding; sarif: SARIF 2.1.0 (GitHub code scanning).")
@click.option("--output", type=WritableFile(), default=None,
              help="Write the findings to this file (- for standard output) instead of standard output.")
def lint_cmd(paths: tuple[Path, ...], cache_dir: Path, no_cache: bool, jobs: int | None, fmt: str,
             output: Path | None) -> None:
    """cfn-lint (informational rules included) and quota checks over generated output.

    Templates are linted in parallel; one whose bytes, nested-stack children and cfn-lint
    settings are unchanged since the last run is not linted again (its findings are replayed).
    Exit 1 when anything is found.
    """
    from infra.lint import lint

    targets = list(paths) or [Path("out")]
    findings = lint(targets, cache_dir=None if no_cache else cache_dir, jobs=jobs)
    if fmt == "sarif":
        from infra.sarif import render

        report = render(findings)
    else:
        report = "".join(f"{finding}\n" for finding in findings)
    to_stdout = output is None or output == STDOUT
    if to_stdout:
        click.echo(report, nl=False)
    else:
        assert output is not None
        write_file(output, report, "the findings")
    checked = "templates under " + ", ".join(str(p) for p in targets)
    if findings:
        raise UserError(f"{len(findings)} lint finding(s) in {checked}; the bar is zero.", exit_code=EXIT_FAILURE)
    # With SARIF on standard output, the summary must not end up inside the JSON.
    click.echo(f"cfn-lint: 0 errors, 0 warnings, 0 informational in {checked}.", err=fmt == "sarif" and to_stdout)


@command("schema")
@click.option("--output", type=WritableFile(), default=None,
              help="Where to write the JSON Schema (- for standard output). "
                   "Default: schema/stage-config.json in the repository.")
@click.option("--check", is_flag=True,
              help=f"Write nothing; exit {EXIT_FAILURE} when the file is not what the config schema generates or "
                   f"a config in config/ lacks the #:schema directive, exit {EXIT_USAGE} when a config in "
                   "config/ does not load.")
def schema_cmd(output: Path | None, check: bool) -> None:
    """Write the stage config's JSON Schema (for editors), generated from the config schema code."""
    from infra.config.json_schema import SCHEMA_PATH, check_schema, render

    target = output or REPO_ROOT / SCHEMA_PATH
    if check:
        if target == STDOUT:
            raise UsageError("--check compares a file: give --output FILE, not -.")
        click.echo(check_schema(target))
        return
    write_file(target, render(), "the JSON Schema")
    if target != STDOUT:
        click.echo(f"wrote {target}")


def write_file(path: Path, text: str, what: str) -> None:
    """Write a file the user named (- is standard output), or fail with one line naming it."""
    from infra.render import write_output

    try:
        write_output(path, text.encode("utf-8"))
    except OSError as exc:
        raise UserError(f"cannot write {what} to {path}: {exc.strerror or exc}; choose another path.",
                        exit_code=EXIT_USAGE) from None


COMMANDS = [templates_cmd, lint_cmd, schema_cmd]
