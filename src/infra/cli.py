"""The click command line. Thin: parse arguments, call the library, turn errors into exit codes."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from infra.config import REPO_ROOT
from infra.errors import UserError

CONFIG_DIR = REPO_ROOT / "config"


class _Group(click.Group):
    """Prints UserErrors as one paragraph on stderr and exits with their code; no traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except UserError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Generate, check and deploy the serverless system as CloudFormation nested stacks."""


@main.command()
@click.option("--config", "configs", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Stage config (TOML). Repeatable. Default: every config in config/.")
@click.option("--out", "out_dir", default="out", show_default=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output root; each config goes to OUT/<config name>/.")
@click.option("--locked", is_flag=True,
              help="Fail (exit 2) instead of updating a placement lock file that is missing or out of date (CI).")
def templates(configs: tuple[Path, ...], out_dir: Path, locked: bool) -> None:
    """Generate every config into OUT/<config>/, one JSON file per stack."""
    from infra.build import build_configs

    paths = list(configs) or sorted(CONFIG_DIR.glob("*.toml"))
    if not paths:
        raise UserError(f"no configs in {CONFIG_DIR} and none given with --config.", exit_code=2)
    build_configs(paths, out_dir, locked=locked, on_built=_summary, progress=lambda line: click.echo(line, err=True))


def _summary(cfg, out, target: Path) -> None:
    """Advice on a valid config (alarms nobody receives, ...) on stderr, then what was written."""
    from infra.config.advice import warnings

    for text in warnings(cfg):
        click.echo(f"Warning: {cfg.file}: {text}", err=True)
    click.echo(f"{target}/: {len(out.stacks)} stacks, {out.resources} resources ({', '.join(out.stacks)})")


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--cache-dir", default=".cache/lint", show_default=True, type=click.Path(file_okay=False, path_type=Path),
              help="Where findings of unchanged templates are kept between runs.")
@click.option("--no-cache", is_flag=True, help="Lint every template, ignoring and not writing the cache.")
@click.option("--jobs", type=click.IntRange(min=1), default=None, help="Parallel cfn-lint processes (default: one per core).")
@click.option("--format", "fmt", type=click.Choice(["text", "sarif"]), default="text", show_default=True,
              help="text: one line per finding; sarif: SARIF 2.1.0 (GitHub code scanning).")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the findings to this file instead of standard output.")
def lint(paths: tuple[Path, ...], cache_dir: Path, no_cache: bool, jobs: int | None, fmt: str,
         output: Path | None) -> None:
    """cfn-lint (informational rules included) and quota checks over generated output.

    Templates are linted in parallel; one whose bytes, nested-stack children and cfn-lint
    settings are unchanged since the last run is not linted again (its findings are replayed).
    """
    from infra.lint import lint as run_lint

    findings = run_lint(list(paths) or [Path("out")], cache_dir=None if no_cache else cache_dir, jobs=jobs)
    if fmt == "sarif":
        from infra.sarif import render

        report = render(findings)
    else:
        report = "".join(f"{finding}\n" for finding in findings)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(report, encoding="utf-8")
    else:
        click.echo(report, nl=False)
    checked = "templates under " + ", ".join(str(p) for p in (paths or [Path("out")]))
    if findings:
        raise UserError(f"{len(findings)} lint finding(s) in {checked}; the bar is zero.", exit_code=1)
    # With SARIF on standard output, the summary must not end up inside the JSON.
    click.echo(f"cfn-lint: 0 errors, 0 warnings, 0 informational in {checked}.",
               err=fmt == "sarif" and output is None)


def _register_deploy_commands() -> None:
    try:
        from infra.deploy.commands import COMMANDS
    except ImportError:  # the deploy package is optional while it is being built
        return
    for command in COMMANDS:
        main.add_command(command)


def _register_loop_commands() -> None:
    from infra.loop.commands import COMMANDS

    for command in COMMANDS:
        main.add_command(command)


def _register_sync_commands() -> None:
    from infra.sync.commands import COMMANDS

    for command in COMMANDS:
        main.add_command(command)


_register_deploy_commands()
_register_loop_commands()
_register_sync_commands()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
