"""Click commands: package, diff, deploy, destroy, outputs.

The CLI adds them with `for c in COMMANDS: main.add_command(c)`. Only click is imported here;
boto3, rich and the rest load when a command runs. Commands raise `UserError`s; the CLI prints
them as one paragraph and exits with their code.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s)?\s*$")


class Duration(click.ParamType):
    """A duration: 90s, 15m, 1h, 1h30m; a bare number is minutes. Value in seconds."""

    name = "DURATION"

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        if isinstance(value, (int, float)):
            return float(value)
        text = str(value).strip().lower()
        try:
            seconds = float(text) * 60
        except ValueError:
            match = DURATION.match(text)
            if not text or not match or not any(match.groups()):
                self.fail(f"'{value}' is not a duration (examples: 90s, 15m, 1h, 1h30m; a bare number is minutes).", param, ctx)
            h, m, s = (float(g) if g else 0.0 for g in match.groups())
            seconds = h * 3600 + m * 60 + s
        if seconds <= 0:
            self.fail("the timeout must be positive.", param, ctx)
        return seconds


def aws_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--config, --out and the AWS target options every AWS-facing command takes."""
    options = [
        click.option("--config", "config", required=True,
                     type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     help="Stage config (TOML), e.g. config/catalog-api.toml."),
        click.option("--out", "out", default="out", show_default=True,
                     type=click.Path(file_okay=False, path_type=Path),
                     help="Where the templates are generated."),
        click.option("--region", help="AWS region (default: the config's region)."),
        click.option("--profile", help="AWS named profile (default: the standard credential chain)."),
        click.option("--endpoint-url", help="Send every AWS call to this endpoint (a local emulator)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def bucket_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--bucket", help="Artifact bucket (same region). Default: the bootstrap stack's bucket, "
                                         "created when missing.")(fn)


def timeout_option(fn: Callable[..., Any] | None = None, *, cancels: bool = False) -> Any:
    help = "Give up waiting for CloudFormation after this long (90s, 15m, 1h; bare number = minutes)."
    if cancels:
        help += " An update still running then is cancelled and rolled back."

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        return click.option("--timeout", type=Duration(), default=None, help=help)(f)

    return decorate(fn) if fn is not None else decorate


def _options(kw: dict[str, Any]) -> Any:
    from infra.deploy.orchestrate import Options
    from infra.deploy.session import Target

    return Options(
        config=kw["config"], out=kw["out"],
        target=Target(kw.get("region"), kw.get("profile"), kw.get("endpoint_url")),
        bucket=kw.get("bucket"), yes=bool(kw.get("yes")),
        allow_replacement=bool(kw.get("allow_replacement")),
        recreate_failed=bool(kw.get("recreate_failed")),
        timeout=kw.get("timeout"), outputs_file=kw.get("outputs_file"),
    )


def _ui(yes: bool = False) -> Any:
    from infra.deploy.ui import Ui

    return Ui(assume_yes=yes)


@click.command("package")
@aws_options
@bucket_option
def package_cmd(**kw: Any) -> None:
    """Upload handler zips and templates to S3 (by content hash) and print a console link.

    Writes the console-ready root template to <out>/<config>/packaged/root.json and prints its S3 URL
    and a CloudFormation console quick-create link.
    """
    from infra.deploy.orchestrate import run_package

    run_package(_options(kw), _ui())


@click.command("diff")
@aws_options
@bucket_option
@timeout_option
def diff_cmd(**kw: Any) -> None:
    """Show what a deploy would change (a change set, nested ones included, never executed)."""
    from infra.deploy.orchestrate import run_diff

    run_diff(_options(kw), _ui())


@click.command("deploy")
@aws_options
@bucket_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--allow-replacement", is_flag=True,
              help="Allow replacing or removing stateful resources (tables, buckets, keys, secrets); "
                   "in production the stack policies are lifted for this deploy.")
@click.option("--recreate-failed", is_flag=True,
              help="If the stack is in ROLLBACK_COMPLETE (its creation failed), delete it and create it again.")
@timeout_option(cancels=True)
@click.option("--outputs-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the stack outputs to this JSON file.")
def deploy_cmd(**kw: Any) -> None:
    """Package, diff, confirm, execute with live events, print outputs."""
    from infra.deploy.orchestrate import run_deploy

    run_deploy(_options(kw), _ui(kw["yes"]))


@click.command("destroy")
@aws_options
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--disable-termination-protection", "disable_protection", is_flag=True,
              help="Turn termination protection off first (production stages have it on).")
@timeout_option
def destroy_cmd(**kw: Any) -> None:
    """Delete the stage's stacks (retained resources are listed and kept; buckets deleted with
    the stack are listed and emptied first)."""
    from infra.deploy.destroy import run_destroy

    run_destroy(_options(kw), _ui(kw["yes"]), disable_protection=kw["disable_protection"])


@click.command("outputs")
@aws_options
@click.option("--json", "as_json", is_flag=True, help="Print the outputs as a JSON object.")
@click.option("--outputs-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the outputs to this JSON file.")
def outputs_cmd(**kw: Any) -> None:
    """Print the root stack's outputs."""
    from infra.deploy.orchestrate import run_outputs

    run_outputs(_options(kw), _ui(), as_json=kw["as_json"])


COMMANDS = [package_cmd, diff_cmd, deploy_cmd, destroy_cmd, outputs_cmd]
