"""Click commands `sync` and `watch`, defined as every command is (`infra.command`).

Exit codes (as every command): 0 synced or nothing to sync, 1 failure (AWS refused, a function
update failed, the stage is not deployed, a function was deleted outside CloudFormation, the
endpoint does not answer), 2 bad arguments or config and a production stage (refused), 130 Ctrl-C
(the normal end of `watch`), 143 SIGTERM.
"""
from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from infra.args import LINT_CACHE_DIR, EndpointUrl, Profile
from infra.command import command, stop_once
from infra.deploy.commands import (APPROVAL_LEVELS, aws_options, bucket_option, force_option, skip_check_option,
                                   timeout_option)
from infra.errors import UsageError, UserError

if TYPE_CHECKING:
    from infra.deploy.session import Aws
    from infra.sync.run import SyncOptions

F = TypeVar("F", bound=Callable[..., Any])
CACHE_HELP = "Where the physical names and deployed templates sync looked up are kept between runs."


@dataclass(frozen=True)
class Fallback:
    """The deploy options a fallback to deploy honours, and sync's cache, as the command got them."""

    out: Path
    region: str | None
    profile: str | None
    endpoint_url: str | None
    bucket: str | None
    yes: bool
    require_approval: str
    skip_checks: tuple[str, ...]
    force: bool
    timeout: float | None
    cache_dir: Path

    def options(self, config: Path) -> SyncOptions:
        from infra.deploy.session import Target
        from infra.sync.run import SyncOptions

        return SyncOptions(config=config, out=self.out, target=Target(self.region, self.profile, self.endpoint_url),
                           bucket=self.bucket, yes=self.yes, timeout=self.timeout,
                           require_approval=self.require_approval, force=self.force, skip_checks=self.skip_checks)


def fallback_options(fn: F) -> F:
    """The deploy options a fallback to deploy honours."""
    options: list[Callable[[F], F]] = [
        bucket_option,
        click.option("--yes", is_flag=True, help="A fallback deploy does not ask; changes --require-approval "
                                                 "covers still stop it."),
        click.option("--require-approval", type=click.Choice(APPROVAL_LEVELS), default="broadening",
                     show_default=True, help="The approval rule of a fallback deploy (as for deploy)."),
        skip_check_option,
        force_option("Sync"),
        timeout_option(),
        click.option("--cache-dir", default=".cache/sync", show_default=True,
                     type=click.Path(file_okay=False, path_type=Path), help=CACHE_HELP),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


class Syncer:
    """One AWS session and UI for every sync of a process (watch syncs on every save)."""

    def __init__(self, fallback: Fallback, *, stamped: bool = False):
        """`stamped`: under watch, whose own lines start with the time, so do sync's."""
        from infra.deploy.ui import Ui

        self.fallback = fallback
        self.ui = Ui(assume_yes=fallback.yes, stamped=stamped)
        self.aws: dict[tuple[Path, str], Aws] = {}   # (config, the region its build names)

    def __call__(self, config: Path, *, generated: bool = False, skip_production: bool = False) -> str | None:
        """Sync `config`; `generated`: watch has just generated it into --out (not generated again);
        `skip_production`: a production stage is passed over (None) instead of refused."""
        from infra.deploy.manifest import Build, build_and_load
        from infra.deploy.session import Aws
        from infra.sync.run import production_refusal, run_sync

        opts = self.fallback.options(config)
        build = Build.load(opts.out / config.stem) if generated else build_and_load(opts.config, opts.out)
        if build.production:
            if skip_production:
                return None
            raise production_refusal(opts.config, build.stack_name, f"[project] production = true in {opts.config}",
                                     opts.target)
        # One session per config and region: a config whose region is edited while watch runs is
        # synced in its new region (where it may not be deployed: said so), never in the old one.
        key = (config, build.region)
        if key not in self.aws:
            from infra.deploy.stage import warn_other_region

            aws = Aws(opts.target, default_region=build.region)
            warn_other_region(self.ui, build, aws, opts.config)
            aws.check_credentials()
            self.aws[key] = aws
        return run_sync(opts, self.ui, cache_dir=self.fallback.cache_dir, aws=self.aws[key], build=build)


# fast_exit: a sync leaves nothing behind (its files are written and closed, boto3 starts no thread,
# a fallback deploy's lint pool is shut down before it returns), and skipping the interpreter's
# teardown of boto3, troposphere and the rest is about a fifth of a sync (0.50 s -> 0.40 s).
@command("sync", fast_exit=True)
@aws_options
@click.option("--watch", "watch_", is_flag=True, help="Keep running: sync again on every save (like watch --sync).")
@fallback_options
def sync_cmd(config: Path, out: Path, region: str | None, profile: str | None, endpoint_url: str | None,
             watch_: bool, bucket: str | None, yes: bool, require_approval: str, skip_checks: tuple[str, ...],
             force: bool, timeout: float | None, cache_dir: Path) -> None:
    """Push code, environment, memory, timeout and OpenAPI changes to a development stage in seconds.

    Compares the deployed stage with the generated templates. Function code and configuration go
    through Lambda (UpdateFunctionCode, UpdateFunctionConfiguration), the API's OpenAPI document
    through API Gateway (PutRestApi and a new deployment of the stage). Any other change (a table,
    a role, a new function or permission) is named, and sync falls back to a deploy. Production
    stages are refused (exit 2).
    """
    syncer = Syncer(Fallback(out, region, profile, endpoint_url, bucket, yes, require_approval, skip_checks, force,
                             timeout, cache_dir), stamped=watch_)
    if watch_:
        # A loop that runs for hours needs the cycle collector, which generate.py pauses for one-shot commands.
        gc.enable()
        _refuse_production([config])
        _watch([config], out, syncer)
        return
    syncer(config)


@command("watch")
@click.option("--config", "configs", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Stage config (TOML). Repeatable. Default: every config in config/, followed as configs are added or removed there.")
@click.option("--out", default="out", show_default=True, type=click.Path(file_okay=False, path_type=Path),
              help="Where the templates are generated.")
@click.option("--sync", "sync_", is_flag=True, help="Also sync each save to the (development) stage.")
@click.option("--region", help="AWS region, for --sync.")
@click.option("--profile", type=Profile(), help="AWS named profile, for --sync.")
@click.option("--endpoint-url", type=EndpointUrl(),
              help="Send every AWS call to this endpoint (a local emulator), for --sync.")
@click.option("--lint-cache-dir", default=LINT_CACHE_DIR, show_default=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="lint's cache: findings of templates already linted are replayed, and new ones added.")
@click.option("--no-lint-cache", is_flag=True, help="Lint every template once at the start, ignoring lint's cache.")
@fallback_options
def watch_cmd(configs: tuple[Path, ...], out: Path, sync_: bool, region: str | None, profile: str | None,
              endpoint_url: str | None, lint_cache_dir: Path, no_lint_cache: bool, bucket: str | None, yes: bool,
              require_approval: str, skip_checks: tuple[str, ...], force: bool, timeout: float | None,
              cache_dir: Path) -> None:
    """Regenerate and re-lint on every save of a config or handler file (and with --sync, sync it).

    One long-lived process: the generator and cfn-lint stay loaded and only the templates that
    changed are linted again. A failing build is shown and watching goes on; Ctrl-C stops (exit 130).
    """
    from infra.config import CONFIG_DIR, config_files

    paths = list(configs) or config_files()
    if not paths:
        raise UsageError(f"no configs to watch in {CONFIG_DIR}: pass --config FILE.")
    syncer = None
    if sync_:
        if configs:
            _refuse_production(paths)
        elif len(_production(paths, skip_invalid=True)) == len(paths):
            raise UsageError(f"watch --sync has no development stage to sync in {CONFIG_DIR}: every config there is "
                             f"a production stage, which sync never changes. Run watch without --sync, or add a "
                             "development config.")
        syncer = Syncer(Fallback(out, region, profile, endpoint_url, bucket, yes, require_approval, skip_checks,
                                 force, timeout, cache_dir), stamped=True)
    _watch(paths, out, syncer, folder=None if configs else CONFIG_DIR,
           lint_cache=None if no_lint_cache else lint_cache_dir)


def _production(configs: list[Path], *, skip_invalid: bool = False) -> list[Path]:
    """The production stages among `configs`. A config that does not load fails here (exit 2), or
    with `skip_invalid` is left out (watch shows it as a failed build and goes on)."""
    from infra.config import load_config

    found = []
    for config in configs:
        try:
            production = load_config(config).project.production
        except UserError:
            if not skip_invalid:
                raise
            continue
        if production:
            found.append(config)
    return found


def _refuse_production(configs: list[Path]) -> None:
    """watch --sync on a production config it was given: refused before watching starts (exit 2)."""
    from infra.config import load_config
    from infra.naming import stack_name
    from infra.sync.run import production_refusal

    production = _production(configs)
    if production:
        config = production[0]
        raise production_refusal(config, stack_name(load_config(config)), f"[project] production = true in {config}")


def watch_sync(syncer: Syncer, say: Callable[[str], None], *, follow: bool) -> Callable[[Path], None]:
    """What watch runs after each clean build of a config. `follow`: the configs are those found in
    config/, not named with --config, so a production stage among them is regenerated and linted
    like the others but never synced, and that is said once."""
    passed_over: set[Path] = set()

    def sync(config: Path) -> None:
        if syncer(config, generated=True, skip_production=follow) is None and config not in passed_over:
            passed_over.add(config)
            say(f"{config.name}: a production stage, regenerated and linted but never synced")
    return sync


def _watch(configs: list[Path], out: Path, syncer: Syncer | None, *, folder: Path | None = None,
           lint_cache: Path | None = LINT_CACHE_DIR) -> None:
    """Watch until Ctrl-C, which ends it like any command: one line, exit 130."""
    from infra.sync.watch import run_watch

    def say(text: str) -> None:
        import datetime

        click.echo(f"[{datetime.datetime.now():%H:%M:%S}] {text}", err=text.startswith(("build failed", "sync failed",
                                                                                           "lint failed")))

    sync = None if syncer is None else watch_sync(syncer, say, follow=folder is not None)
    with stop_once() as caught:
        try:
            run_watch(configs, out, say, sync, folder=folder, lint_cache=lint_cache)
        except KeyboardInterrupt as exc:  # SIGTERM included: exit 143, as serve and emulator
            raise caught.stopped(exc) from None


COMMANDS = [sync_cmd, watch_cmd]
