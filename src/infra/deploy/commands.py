"""Click commands: package, diff, deploy, destroy, outputs, drift, preflight, recover.

Defined as every command is (`infra.command`: one line and a documented exit code for every
failure). Each takes typed parameters and builds the deploy `Options` through `options()`, whose
every parameter is required: a flag dropped between click and the code is a type error (mypy),
not a silent default. Only click is imported here; boto3 and rich load when a command runs.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from infra.args import BucketName, Duration, EndpointUrl, Once, Profile, WritableFile
from infra.command import EXIT_CHANGES, command
from infra.deploy.checks import check_names
from infra.errors import UsageError, UserError
from infra.render import STDOUT

if TYPE_CHECKING:
    from infra.deploy.stage import Options
    from infra.deploy.ui import Ui

__all__ = ["COMMANDS", "Duration"]

APPROVAL_LEVELS = ("never", "broadening", "any")
PREFLIGHT_CHECKS = check_names()  # the registry in infra.deploy.checks

F = TypeVar("F", bound=Callable[..., Any])


def aws_options(fn: F) -> F:
    """--config, --out and the AWS target options every AWS-facing command takes."""
    options = [
        click.option("--config", "config", cls=Once, required=True,
                     type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     help="Stage config (TOML), e.g. config/catalog-api.toml."),
        click.option("--out", "out", default="out", show_default=True,
                     type=click.Path(file_okay=False, path_type=Path),
                     help="Where the templates are generated."),
        click.option("--region", help="AWS region (default: the config's [project] region; another one is warned about)."),
        click.option("--profile", type=Profile(), help="AWS named profile (default: the standard credential chain)."),
        click.option("--endpoint-url", type=EndpointUrl(),
                     help="Send every AWS call to this endpoint (a local emulator)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def bucket_option(fn: F) -> F:
    return click.option("--bucket", type=BucketName(),
                        help="Artifact bucket (same region). Default: the bootstrap stack's bucket, "
                             "created when missing (diff only reads it).")(fn)


def timeout_option(*, cancels: bool = False) -> Callable[[F], F]:
    text = "Give up waiting for CloudFormation after this long (90s, 15m, 1h; bare number = minutes)."
    if cancels:
        text += " An update still running then is cancelled and rolled back."
    return click.option("--timeout", type=Duration(), default=None, help=text)


def force_option(what: str) -> Callable[[F], F]:
    return click.option("--force", is_flag=True,
                        help=f"{what} even if the stack was deployed from another config file "
                             "(its serverless-infra:config tag).")


def skip_check_option(fn: F) -> F:
    return click.option("--skip-check", "skip_checks", multiple=True,
                        type=click.Choice([*PREFLIGHT_CHECKS, "all"]),
                        help="Skip one preflight check (repeatable); 'all' skips them all.")(fn)


def options(*, config: Path, out: Path, region: str | None, profile: str | None, endpoint_url: str | None,
            bucket: str | None, yes: bool, allow_removal: bool, recreate_failed: bool, timeout: float | None,
            outputs_file: Path | None, require_approval: str, force: bool, skip_checks: tuple[str, ...],
            import_retained: bool, fail: bool) -> Options:
    """The deploy `Options`, every field given: no parameter has a default, so a command that
    forgets one of its flags fails the type check (a test keeps this list equal to Options')."""
    from infra.deploy.stage import Options
    from infra.deploy.session import Target

    return Options(config=config, out=out, target=Target(region, profile, endpoint_url), bucket=bucket, yes=yes,
                   allow_removal=allow_removal, recreate_failed=recreate_failed, timeout=timeout,
                   outputs_file=outputs_file, require_approval=require_approval, force=force,
                   skip_checks=skip_checks, import_retained=import_retained, fail=fail)


def _ui(yes: bool = False, *, stdout_is_data: bool = False) -> Ui:
    """The deploy commands' terminal. When standard output carries data (`--outputs-file -`), the
    progress, tables and questions go to stderr so that a pipe receives the JSON alone."""
    from infra.deploy.ui import Ui

    return Ui(assume_yes=yes, progress_to_stderr=stdout_is_data)


def _removed_allow_replacement(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        raise UsageError(
            "--allow-replacement is gone: CloudFormation cannot replace a table, bucket or secret that has a "
            "fixed name. Rename it in the config (a new one is created beside it; pass --allow-removal to "
            "drop the old one from the stack), or destroy and deploy again to import the retained one.")


@command("package")
@aws_options
@bucket_option
@skip_check_option
def package_cmd(config: Path, out: Path, region: str | None, profile: str | None, endpoint_url: str | None,
                bucket: str | None, skip_checks: tuple[str, ...]) -> None:
    """Upload handler zips and templates to S3 (by content hash) and print a console link.

    Runs the preflight checks first, as deploy does (a console deploy would fail on what they find).
    Writes the console-ready root template to <out>/<config>/packaged/root.json and prints its S3 URL
    and a CloudFormation console quick-create link.
    """
    from infra.deploy.console import run_package

    run_package(options(config=config, out=out, region=region, profile=profile, endpoint_url=endpoint_url,
                        bucket=bucket, yes=False, allow_removal=False, recreate_failed=False, timeout=None,
                        outputs_file=None, require_approval="broadening", force=False, skip_checks=skip_checks,
                        import_retained=True, fail=False), _ui())


@command("diff")
@aws_options
@bucket_option
@timeout_option()
@click.option("--fail", is_flag=True, help=f"Exit {EXIT_CHANGES} when anything would change (for CI gates).")
def diff_cmd(config: Path, out: Path, region: str | None, profile: str | None, endpoint_url: str | None,
             bucket: str | None, timeout: float | None, fail: bool) -> None:
    """Show what a deploy would change, read-only: nothing is created, nothing executed.

    Uploads templates only to an artifact bucket that already exists (and says so); a change set is
    created and deleted again for a stack that exists; a stage not deployed yet is shown from the
    templates (everything new). The placement lock file is read, never written.
    """
    from infra.deploy.diff import run_diff

    changed = run_diff(options(config=config, out=out, region=region, profile=profile, endpoint_url=endpoint_url,
                               bucket=bucket, yes=False, allow_removal=False, recreate_failed=False,
                               timeout=timeout, outputs_file=None, require_approval="broadening", force=False,
                               skip_checks=(), import_retained=True, fail=fail), _ui())
    if changed and fail:
        raise UserError("Changes found (diff --fail).", exit_code=EXIT_CHANGES)


@command("deploy")
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
              help="Also write every output (root and nested, flattened by name) to this JSON file (- for "
                   "standard output).")
def deploy_cmd(config: Path, out: Path, region: str | None, profile: str | None, endpoint_url: str | None,
               bucket: str | None, yes: bool, require_approval: str, allow_removal: bool, recreate_failed: bool,
               import_retained: bool, skip_checks: tuple[str, ...], force: bool, timeout: float | None,
               outputs_file: Path | None) -> None:
    """Package, preflight, plan, show the diff, confirm once, deploy with live events, print outputs.

    Once the stage is deployed, the config's placement lock file records where each resource now is.
    """
    from infra.deploy.deploy import run_deploy

    run_deploy(options(config=config, out=out, region=region, profile=profile, endpoint_url=endpoint_url,
                       bucket=bucket, yes=yes, allow_removal=allow_removal, recreate_failed=recreate_failed,
                       timeout=timeout, outputs_file=outputs_file, require_approval=require_approval, force=force,
                       skip_checks=skip_checks, import_retained=import_retained, fail=False),
               _ui(yes, stdout_is_data=outputs_file == STDOUT))


@command("destroy")
@aws_options
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--disable-termination-protection", "disable_protection", is_flag=True,
              help="Turn termination protection off first (production stages have it on).")
@force_option("Destroy")
@timeout_option()
def destroy_cmd(config: Path, out: Path, region: str | None, profile: str | None, endpoint_url: str | None,
                yes: bool, disable_protection: bool, force: bool, timeout: float | None) -> None:
    """Delete the stage's stacks (retained resources are listed and kept; buckets deleted with
    the stack are listed and emptied first)."""
    from infra.deploy.destroy import run_destroy

    run_destroy(options(config=config, out=out, region=region, profile=profile, endpoint_url=endpoint_url,
                        bucket=None, yes=yes, allow_removal=False, recreate_failed=False, timeout=timeout,
                        outputs_file=None, require_approval="broadening", force=force, skip_checks=(),
                        import_retained=True, fail=False), _ui(yes), disable_protection=disable_protection)


@command("outputs")
@aws_options
@click.argument("key", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the outputs as one flat JSON object (name -> value).")
@click.option("--root-only", is_flag=True, help="Only the root stack's outputs (default: root and every nested stack).")
@click.option("--outputs-file", type=WritableFile(), help="Also write the outputs to this JSON file (- for standard output).")
def outputs_cmd(config: Path, out: Path, region: str | None, profile: str | None, endpoint_url: str | None,
                key: str | None, as_json: bool, root_only: bool, outputs_file: Path | None) -> None:
    """Print the stage's outputs: root and nested stacks, flattened by name.

    A terminal gets a table; a pipe gets plain `Name<TAB>Value` lines; `outputs KEY` prints just
    that value.
    """
    from infra.deploy.outputs import run_outputs

    run_outputs(options(config=config, out=out, region=region, profile=profile, endpoint_url=endpoint_url,
                        bucket=None, yes=False, allow_removal=False, recreate_failed=False, timeout=None,
                        outputs_file=outputs_file, require_approval="broadening", force=False, skip_checks=(),
                        import_retained=True, fail=False), _ui(stdout_is_data=outputs_file == STDOUT), key=key,
                as_json=as_json, root_only=root_only)


@command("drift")
@aws_options
@timeout_option()
@click.option("--fail", is_flag=True, help=f"Exit {EXIT_CHANGES} when any stack or resource has drifted.")
def drift_cmd(config: Path, out: Path, region: str | None, profile: str | None, endpoint_url: str | None,
              timeout: float | None, fail: bool) -> None:
    """Detect drift on the root, every nested stack and the us-east-1 stack; print what differs."""
    from infra.deploy.drift import run_drift

    drifted = run_drift(options(config=config, out=out, region=region, profile=profile, endpoint_url=endpoint_url,
                                bucket=None, yes=False, allow_removal=False, recreate_failed=False, timeout=timeout,
                                outputs_file=None, require_approval="broadening", force=False, skip_checks=(),
                                import_retained=True, fail=fail), _ui())
    if drifted and fail:
        raise UserError("Drift found (drift --fail).", exit_code=EXIT_CHANGES)


@command("preflight")
@aws_options
@skip_check_option
def preflight_cmd(config: Path, out: Path, region: str | None, profile: str | None, endpoint_url: str | None,
                  skip_checks: tuple[str, ...]) -> None:
    """Check what a deploy needs outside its templates (names free, zone, certificate, Config
    recorder, GitHub connection, concurrency, API Gateway's logging role); exit 1 when a check fails."""
    from infra.deploy.preflight import run_preflight

    run_preflight(options(config=config, out=out, region=region, profile=profile, endpoint_url=endpoint_url,
                          bucket=None, yes=False, allow_removal=False, recreate_failed=False, timeout=None,
                          outputs_file=None, require_approval="broadening", force=False, skip_checks=skip_checks,
                          import_retained=True, fail=False), _ui())


@command("recover")
@aws_options
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@force_option("Recover")
@timeout_option()
def recover_cmd(config: Path, out: Path, region: str | None, profile: str | None, endpoint_url: str | None,
                yes: bool, force: bool, timeout: float | None) -> None:
    """Continue the rollback of a stage stuck in UPDATE_ROLLBACK_FAILED: show the root cause, skip
    the resources that cannot roll back, confirm once, wait, report. A stage that is not stuck is
    refused (exit 2)."""
    from infra.deploy.recover import run_recover

    run_recover(options(config=config, out=out, region=region, profile=profile, endpoint_url=endpoint_url,
                        bucket=None, yes=yes, allow_removal=False, recreate_failed=False, timeout=timeout,
                        outputs_file=None, require_approval="broadening", force=force, skip_checks=(),
                        import_retained=True, fail=False), _ui(yes))


COMMANDS = [package_cmd, diff_cmd, deploy_cmd, destroy_cmd, outputs_cmd, drift_cmd, preflight_cmd, recover_cmd]
