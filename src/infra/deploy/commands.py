"""Click commands: package, diff, deploy, destroy, outputs, drift, preflight, recover.

The CLI adds them with `for c in COMMANDS: main.add_command(c)`. Only click is imported here;
boto3, rich and the rest load when a command runs. Commands raise `UserError`s; the CLI prints
them as one line and exits with their code:

  0 success or nothing to change, 1 failure, 2 bad config or arguments,
  3 changes found (`diff --fail`, `drift --fail`), 130 interrupted.

`AwsCommand` holds every command to that: click's own usage errors (a bad option value, a missing
file) become one-line `UsageError`s (exit 2), and anything unexpected that escapes a command
(a botocore error outside a known call, an OS error) becomes one sentence, never a traceback.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from infra.deploy.args import Duration, EndpointUrl, WritableFile
from infra.deploy.checks import check_names
from infra.errors import DeployError, UsageError, UserError

__all__ = ["COMMANDS", "Duration"]

APPROVAL_LEVELS = ("never", "broadening", "any")
PREFLIGHT_CHECKS = check_names()  # the registry in infra.deploy.checks
EXIT_INTERRUPTED = 130
DEBUG_ENV = "SERVERLESS_INFRA_DEBUG"  # set to 1 to let unexpected errors raise with their traceback


class AwsCommand(click.Command):
    """A command whose every failure is one line and a documented exit code."""

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            # "Invalid value for '--timeout': ..." as one line, exit 2 (click would print usage lines too).
            raise UsageError(" ".join(exc.format_message().split()) + f" (see: {self.name} --help)") from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (UserError, click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            raise UserError(f"Interrupted: {self.name} stopped.", exit_code=EXIT_INTERRUPTED) from None
        except Exception as exc:  # the safety net: one sentence, never a traceback
            if os.environ.get(DEBUG_ENV):
                raise
            raise unexpected(exc, self.name or "command") from None


def unexpected(exc: Exception, command: str) -> UserError:
    """One sentence for an exception no command turned into a `UserError` itself."""
    import sys

    if "botocore" in sys.modules:
        from infra.deploy.session import aws_exceptions, explain

        if isinstance(exc, aws_exceptions()):
            return explain(exc, f"running {command}")
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        return DeployError(f"{command} failed on the file system{where}: {exc.strerror or exc}.")
    text = " ".join(str(exc).split()) or type(exc).__name__
    return DeployError(f"{command} failed unexpectedly ({type(exc).__name__}: {text[:300]}); "
                       f"run again with {DEBUG_ENV}=1 to see where.")


def aws_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--config, --out and the AWS target options every AWS-facing command takes."""
    options = [
        click.option("--config", "config", required=True,
                     type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     help="Stage config (TOML), e.g. config/catalog-api.toml."),
        click.option("--out", "out", default="out", show_default=True,
                     type=click.Path(file_okay=False, path_type=Path),
                     help="Where the templates are generated."),
        click.option("--region", help="AWS region (default: the config's [project] region; another one is warned about)."),
        click.option("--profile", help="AWS named profile (default: the standard credential chain)."),
        click.option("--endpoint-url", type=EndpointUrl(),
                     help="Send every AWS call to this endpoint (a local emulator)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def bucket_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--bucket", help="Artifact bucket (same region). Default: the bootstrap stack's bucket, "
                                         "created when missing (diff only reads it).")(fn)


def timeout_option(fn: Callable[..., Any] | None = None, *, cancels: bool = False) -> Any:
    help = "Give up waiting for CloudFormation after this long (90s, 15m, 1h; bare number = minutes)."
    if cancels:
        help += " An update still running then is cancelled and rolled back."

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        return click.option("--timeout", type=Duration(), default=None, help=help)(f)

    return decorate(fn) if fn is not None else decorate


def force_option(what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option("--force", is_flag=True,
                        help=f"{what} even if the stack was deployed from another config file "
                             "(its serverless-infra:config tag).")


def skip_check_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--skip-check", "skip_checks", multiple=True,
                        type=click.Choice([*PREFLIGHT_CHECKS, "all"]),
                        help="Skip one preflight check (repeatable); 'all' skips them all.")(fn)


def _options(kw: dict[str, Any]) -> Any:
    from infra.deploy.session import Target
    from infra.deploy.stage import Options

    return Options(
        config=kw["config"], out=kw["out"],
        target=Target(kw.get("region"), kw.get("profile"), kw.get("endpoint_url")),
        bucket=kw.get("bucket"), yes=bool(kw.get("yes")),
        allow_removal=bool(kw.get("allow_removal")),
        recreate_failed=bool(kw.get("recreate_failed")),
        timeout=kw.get("timeout"), outputs_file=kw.get("outputs_file"),
        require_approval=kw.get("require_approval") or "broadening",
        force=bool(kw.get("force")),
        skip_checks=tuple(kw.get("skip_checks") or ()),
        import_retained=kw.get("import_retained", True),
        fail=bool(kw.get("fail")),
    )


def _ui(yes: bool = False) -> Any:
    from infra.deploy.ui import Ui

    return Ui(assume_yes=yes)


def _removed_allow_replacement(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        raise UsageError(
            "--allow-replacement is gone: CloudFormation cannot replace a table, bucket or secret that has a "
            "fixed name. Rename it in the config (a new one is created beside it; pass --allow-removal to "
            "drop the old one from the stack), or destroy and deploy again to import the retained one.")


@click.command("package", cls=AwsCommand)
@aws_options
@bucket_option
def package_cmd(**kw: Any) -> None:
    """Upload handler zips and templates to S3 (by content hash) and print a console link.

    Writes the console-ready root template to <out>/<config>/packaged/root.json and prints its S3 URL
    and a CloudFormation console quick-create link.
    """
    from infra.deploy.console import run_package

    run_package(_options(kw), _ui())


@click.command("diff", cls=AwsCommand)
@aws_options
@bucket_option
@timeout_option
@click.option("--fail", is_flag=True, help="Exit 3 when anything would change (for CI gates).")
def diff_cmd(**kw: Any) -> None:
    """Show what a deploy would change, read-only: nothing is created, nothing executed.

    Uploads templates only to an artifact bucket that already exists (and says so); a change set is
    created and deleted again for a stack that exists; a stage not deployed yet is shown from the
    templates (everything new).
    """
    from infra.deploy.diff import run_diff

    changed = run_diff(_options(kw), _ui())
    if changed and kw["fail"]:
        raise UserError("Changes found (diff --fail).", exit_code=3)


@click.command("deploy", cls=AwsCommand)
@aws_options
@bucket_option
@click.option("--yes", is_flag=True, help="Do not ask; changes --require-approval covers still stop the deploy.")
@click.option("--require-approval", type=click.Choice(APPROVAL_LEVELS), default="broadening", show_default=True,
              help="What needs a person's yes: nothing (never), changes that widen IAM permissions or security "
                   "group rules (broadening), or every change (any). With --yes, such changes stop the deploy (exit 1).")
@click.option("--allow-removal", is_flag=True,
              help="Allow removing stateful resources (tables, buckets, keys, secrets) dropped or renamed in the "
                   "config; retained ones stay in the account. In production the stack policies are lifted for "
                   "this deploy.")
@click.option("--allow-replacement", is_flag=True, hidden=True, expose_value=False, callback=_removed_allow_replacement)
@click.option("--recreate-failed", is_flag=True,
              help="If the stack is in ROLLBACK_COMPLETE (its creation failed), delete it and create it again.")
@click.option("--import/--no-import", "import_retained", default=True, show_default=True,
              help="Import resources this stage retained (a destroyed production stage) instead of failing on "
                   "their names.")
@skip_check_option
@force_option("Deploy")
@timeout_option(cancels=True)
@click.option("--outputs-file", type=WritableFile(),
              help="Also write every output (root and nested, flattened by name) to this JSON file.")
def deploy_cmd(**kw: Any) -> None:
    """Package, preflight, plan, show the diff, confirm once, deploy with live events, print outputs."""
    from infra.deploy.deploy import run_deploy

    run_deploy(_options(kw), _ui(kw["yes"]))


@click.command("destroy", cls=AwsCommand)
@aws_options
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--disable-termination-protection", "disable_protection", is_flag=True,
              help="Turn termination protection off first (production stages have it on).")
@force_option("Destroy")
@timeout_option
def destroy_cmd(**kw: Any) -> None:
    """Delete the stage's stacks (retained resources are listed and kept; buckets deleted with
    the stack are listed and emptied first)."""
    from infra.deploy.destroy import run_destroy

    run_destroy(_options(kw), _ui(kw["yes"]), disable_protection=kw["disable_protection"])


@click.command("outputs", cls=AwsCommand)
@aws_options
@click.argument("key", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the outputs as one flat JSON object (name -> value).")
@click.option("--root-only", is_flag=True, help="Only the root stack's outputs (default: root and every nested stack).")
@click.option("--outputs-file", type=WritableFile(), help="Also write the outputs to this JSON file.")
def outputs_cmd(**kw: Any) -> None:
    """Print the stage's outputs: root and nested stacks, flattened by name.

    A terminal gets a table; a pipe gets plain `Name<TAB>Value` lines; `outputs KEY` prints just
    that value.
    """
    from infra.deploy.outputs import run_outputs

    run_outputs(_options(kw), _ui(), key=kw["key"], as_json=kw["as_json"], root_only=kw["root_only"])


@click.command("drift", cls=AwsCommand)
@aws_options
@timeout_option
@click.option("--fail", is_flag=True, help="Exit 3 when any stack or resource has drifted.")
def drift_cmd(**kw: Any) -> None:
    """Detect drift on the root, every nested stack and the us-east-1 stack; print what differs."""
    from infra.deploy.drift import run_drift

    drifted = run_drift(_options(kw), _ui())
    if drifted and kw["fail"]:
        raise UserError("Drift found (drift --fail).", exit_code=3)


@click.command("preflight", cls=AwsCommand)
@aws_options
@skip_check_option
def preflight_cmd(**kw: Any) -> None:
    """Check what a deploy needs outside its templates (names free, zone, certificate, Config
    recorder, GitHub connection, concurrency, API Gateway's logging role); exit 1 when a check fails."""
    from infra.deploy.preflight import run_preflight

    run_preflight(_options(kw), _ui())


@click.command("recover", cls=AwsCommand)
@aws_options
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@force_option("Recover")
@timeout_option
def recover_cmd(**kw: Any) -> None:
    """Continue the rollback of a stage stuck in UPDATE_ROLLBACK_FAILED: show the root cause, skip
    the resources that cannot roll back, confirm once, wait, report. A stage that is not stuck is
    refused (exit 2)."""
    from infra.deploy.recover import run_recover

    run_recover(_options(kw), _ui(kw["yes"]))


COMMANDS = [package_cmd, diff_cmd, deploy_cmd, destroy_cmd, outputs_cmd, drift_cmd, preflight_cmd, recover_cmd]
