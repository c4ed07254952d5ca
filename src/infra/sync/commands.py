"""Click commands `sync` and `watch`; the CLI registers them like the deploy commands.

Exit codes (as every command): 0 synced or nothing to sync, 1 failure (AWS refused, a function
update failed, the stage is not deployed, a function was deleted outside CloudFormation, the
endpoint does not answer), 2 bad arguments or config and a production stage (refused), 130 Ctrl-C
(the normal end of `watch`).
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from infra.deploy.commands import (
    APPROVAL_LEVELS,
    EXIT_INTERRUPTED,
    AwsCommand,
    aws_options,
    bucket_option,
    force_option,
    skip_check_option,
    timeout_option,
)
from infra.errors import UsageError, UserError

CACHE_HELP = "Where the physical names and deployed templates sync looked up are kept between runs."


def _options(kw: dict[str, Any], config: Path) -> Any:
    from infra.deploy.session import Target
    from infra.sync.run import SyncOptions

    return SyncOptions(config=config, out=kw["out"], target=Target(kw.get("region"), kw.get("profile"),
                                                               kw.get("endpoint_url")),
                   bucket=kw.get("bucket"), yes=bool(kw.get("yes")), timeout=kw.get("timeout"),
                   require_approval=kw.get("require_approval") or "broadening", force=bool(kw.get("force")),
                   skip_checks=tuple(kw.get("skip_checks") or ()))


def fallback_options(fn: Any) -> Any:
    """The deploy options a fallback to deploy honours."""
    options: list[Callable[[Any], Any]] = [
        bucket_option,
        click.option("--yes", is_flag=True, help="A fallback deploy does not ask; changes --require-approval "
                                                 "covers still stop it."),
        click.option("--require-approval", type=click.Choice(APPROVAL_LEVELS), default="broadening",
                     show_default=True, help="The approval rule of a fallback deploy (as for deploy)."),
        skip_check_option,
        force_option("Sync"),
        timeout_option,
        click.option("--cache-dir", default=".cache/sync", show_default=True,
                     type=click.Path(file_okay=False, path_type=Path), help=CACHE_HELP),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


class Syncer:
    """One AWS session and UI for every sync of a process (watch syncs on every save)."""

    def __init__(self, kw: dict[str, Any]):
        from infra.deploy.ui import Ui

        self.kw = kw
        self.ui = Ui(assume_yes=bool(kw.get("yes")))
        self.aws: dict[Path, Any] = {}

    def __call__(self, config: Path, *, generated: bool = False) -> str:
        """Sync `config`; `generated`: watch has just generated it into --out (not generated again)."""
        from infra.deploy.manifest import Build, build_and_load
        from infra.deploy.session import Aws
        from infra.sync.run import production_refusal, run_sync

        opts = _options(self.kw, config)
        build = Build.load(opts.out / config.stem) if generated else build_and_load(opts.config, opts.out)
        if build.production:
            raise production_refusal(opts.config, build.stack_name, f"[project] production = true in {opts.config}")
        if config not in self.aws:
            aws = Aws(opts.target, default_region=build.region)
            aws.check_credentials()
            self.aws[config] = aws
        return run_sync(opts, self.ui, cache_dir=self.kw["cache_dir"], aws=self.aws[config], build=build)


@click.command("sync", cls=AwsCommand)
@aws_options
@click.option("--watch", "watch_", is_flag=True, help="Keep running: sync again on every save (like watch --sync).")
@fallback_options
def sync_cmd(**kw: Any) -> None:
    """Push code, environment, memory, timeout and OpenAPI changes to a development stage in seconds.

    Compares the deployed stage with the generated templates. Function code and configuration go
    through Lambda (UpdateFunctionCode, UpdateFunctionConfiguration), the API's OpenAPI document
    through API Gateway (PutRestApi and a new deployment of the stage). Any other change (a table,
    a role, a new function or permission) is named, and sync falls back to a deploy. Production
    stages are refused (exit 2).
    """
    syncer = Syncer(kw)
    if kw["watch_"]:
        _refuse_production([kw["config"]])
        _watch([kw["config"]], kw["out"], syncer)
        return
    syncer(kw["config"])


@click.command("watch", cls=AwsCommand)
@click.option("--config", "configs", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Stage config (TOML). Repeatable. Default: every config in config/.")
@click.option("--out", default="out", show_default=True, type=click.Path(file_okay=False, path_type=Path),
              help="Where the templates are generated.")
@click.option("--sync", "sync_", is_flag=True, help="Also sync each save to the (development) stage.")
@click.option("--region", help="AWS region, for --sync.")
@click.option("--profile", help="AWS named profile, for --sync.")
@click.option("--endpoint-url", help="Send every AWS call to this endpoint (a local emulator), for --sync.")
@fallback_options
def watch_cmd(**kw: Any) -> None:
    """Regenerate and re-lint on every save of a config or handler file (and with --sync, sync it).

    One long-lived process: the generator and cfn-lint stay loaded and only the templates that
    changed are linted again. A failing build is shown and watching goes on; Ctrl-C stops (exit 130).
    """
    from infra.config import REPO_ROOT

    configs = list(kw["configs"]) or sorted((REPO_ROOT / "config").glob("*.toml"))
    if not configs:
        raise UsageError("no configs to watch: pass --config FILE.")
    if kw["endpoint_url"]:
        from infra.deploy.args import endpoint_problem

        problem = endpoint_problem(kw["endpoint_url"])
        if problem:
            raise UsageError(f"Invalid value for '--endpoint-url': {problem}; expected e.g. http://127.0.0.1:5000.")
    if kw["sync_"]:
        _refuse_production(configs)
    _watch(configs, kw["out"], Syncer(kw) if kw["sync_"] else None)


def _refuse_production(configs: list[Path]) -> None:
    """watch --sync on a production config: refused before watching starts (exit 2)."""
    from infra.config import load_config
    from infra.naming import stack_name
    from infra.sync.run import production_refusal

    for config in configs:
        cfg = load_config(config)
        if cfg.project.production:
            raise production_refusal(config, stack_name(cfg), f"[project] production = true in {config}")


def _watch(configs: list[Path], out: Path, syncer: Syncer | None) -> None:
    from infra.sync.watch import run_watch

    def say(text: str) -> None:
        import datetime

        click.echo(f"[{datetime.datetime.now():%H:%M:%S}] {text}", err=text.startswith(("build failed", "sync failed",
                                                                                           "lint failed")))

    sync = None
    if syncer is not None:
        def sync(config: Path) -> None:
            syncer(config, generated=True)
    try:
        run_watch(configs, out, say, sync)
    except KeyboardInterrupt:
        raise UserError("watch stopped (Ctrl-C).", exit_code=EXIT_INTERRUPTED) from None


COMMANDS = [sync_cmd, watch_cmd]
