"""What backs a local run: where `${...}` references resolve and which AWS the handlers talk to.

Exactly one of:
- `--stage-outputs FILE`: a deployed stage; handlers use your AWS credentials (not the
  function's role) against the real resources;
- `--endpoint-url URL`: an emulator you run; handlers get AWS_ENDPOINT_URL;
- `--emulator`: a moto server started here on loopback, holding the config's tables, buckets,
  key and secret (see provision.py), stopped on exit;
or none, when no function that runs references anything.
"""
from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.config.schema import Config
from infra.errors import DeployError, UsageError
from infra.loop import env as envmod
from infra.loop.runtime import local_function


@dataclass
class Backing:
    resolve: envmod.Resolver
    extra_env: dict[str, str] = field(default_factory=dict)
    summary: str = ""
    # The same backing for a changed config (serve reloads it): its references resolved anew, and
    # with --emulator its new tables, buckets, key and secret created there.
    rebind: Callable[[Config], "Backing"] | None = None

    def for_config(self, cfg: Config) -> "Backing":
        return self.rebind(cfg) if self.rebind else self


def _unresolved(ref: str) -> str:
    raise UsageError(f"the environment references ${{{ref}}}: say where it lives with --stage-outputs FILE "
                     "(a deployed stage), --endpoint-url URL (an emulator) or --emulator (start one here).")


@contextlib.contextmanager
def backing(cfg: Config, *, stage_outputs: Path | None = None, endpoint_url: str | None = None,
            emulator: bool = False, profile: str | None = None,
            say: Callable[[str], None] = lambda _: None) -> Iterator[Backing]:
    """The backing the options ask for; an emulator started here is stopped when the block ends."""
    chosen = [name for name, on in (("--stage-outputs", stage_outputs), ("--endpoint-url", endpoint_url),
                                    ("--emulator", emulator)) if on]
    if len(chosen) > 1:
        raise UsageError(f"{' and '.join(chosen)} exclude each other: give one.")
    extra = {"AWS_PROFILE": profile} if profile else {}
    if stage_outputs is not None:
        outputs = envmod.load_outputs(stage_outputs)
        yield Backing(envmod.outputs_resolver(outputs, str(stage_outputs)), extra,
                      summary=f"stage outputs from {stage_outputs}")
        return
    if endpoint_url is not None:
        session, creds = _session(cfg, profile)
        _check_endpoint(session, cfg, endpoint_url)
        yield _emulator_backing(cfg, session, endpoint_url, {**extra, **creds})
        return
    if emulator:
        from infra.emulator import FAKE_CREDENTIALS, MotoServer
        from infra.loop.provision import provision

        try:
            server = MotoServer().start()
        except (RuntimeError, OSError) as exc:
            raise UsageError(f"could not start the local emulator (moto_server): {exc}.") from None
        try:
            session, _ = _session(cfg, None, fake=True)

            def provisioned(config: Config) -> Backing:
                made = provision(config, _clients(session, config, server.endpoint_url))
                say(f"emulator: {server.endpoint_url} (moto) with tables {', '.join(made['tables']) or 'none'}; "
                    f"buckets {', '.join(made['buckets']) or 'none'}; key {made['key'][0]}"
                    + (f"; secret {made['secret'][0]}" if made["secret"] else ""))
                back = _emulator_backing(config, session, server.endpoint_url, dict(FAKE_CREDENTIALS))
                back.rebind = provisioned
                return back

            yield provisioned(cfg)
        finally:
            server.stop()
        return
    yield Backing(_unresolved, extra, summary="no AWS backing")


def _check_endpoint(session: Any, cfg: Config, endpoint: str) -> None:
    """The endpoint answers like AWS (STS GetCallerIdentity, as every deploy command checks first):
    a web server's HTML page or a closed port is one sentence now, not a failure in every handler."""
    from botocore.config import Config as ClientConfig

    from infra.deploy.session import EMULATOR_MAX_ATTEMPTS, aws_errors, refuse_html

    config = ClientConfig(retries={"total_max_attempts": EMULATOR_MAX_ATTEMPTS}, connect_timeout=10, read_timeout=30)
    with aws_errors(f"checking the endpoint {endpoint}"):
        sts = session.client("sts", region_name=cfg.project.region, endpoint_url=endpoint, config=config)
        sts.meta.events.register("before-parse.sts.GetCallerIdentity", refuse_html)
        answer = sts.get_caller_identity()
    if not isinstance(answer, dict) or not answer.get("Account"):
        raise DeployError(f"Unexpected answer from {endpoint}: STS GetCallerIdentity named no account; "
                          "check --endpoint-url.")


def _emulator_backing(cfg: Config, session: Any, endpoint: str, extra: dict[str, str]) -> Backing:
    resolver = envmod.EmulatorResolver(cfg, _clients(session, cfg, endpoint), endpoint)
    return Backing(resolver, {**extra, "AWS_ENDPOINT_URL": endpoint, "AWS_EC2_METADATA_DISABLED": "true"},
                   summary=f"emulator at {endpoint}",
                   rebind=lambda config: _emulator_backing(config, session, endpoint, extra))


def _session(cfg: Config, profile: str | None, fake: bool = False) -> tuple[Any, dict[str, str]]:
    """A boto3 session for the emulator; an emulator accepts any credentials, so fake ones stand
    in when none are configured (and are then given to the handlers too)."""
    import boto3
    from botocore.exceptions import ProfileNotFound

    from infra.emulator import FAKE_CREDENTIALS

    if not fake:
        try:
            session = boto3.Session(profile_name=profile, region_name=cfg.project.region)
        except ProfileNotFound:
            raise UsageError(f"AWS profile '{profile}' is not configured; pass an existing --profile.") from None
        if session.get_credentials() is not None:
            return session, {}
    session = boto3.Session(aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                            aws_session_token=FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
                            region_name=cfg.project.region)
    return session, dict(FAKE_CREDENTIALS)


def _clients(session: Any, cfg: Config, endpoint: str) -> Callable[[str], Any]:
    cache: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in cache:
            cache[service] = session.client(service, region_name=cfg.project.region, endpoint_url=endpoint)
        return cache[service]

    return client


def function_environment(cfg: Config, name: str, back: Backing) -> dict[str, str]:
    """Everything the function's process sees on top of this one's environment."""
    return {**envmod.runtime_environment(cfg, name), **back.extra_env,
            **envmod.config_environment(cfg, name, back.resolve)}


@contextlib.contextmanager
def functions(cfg: Config, names: list[str], back: Backing, log: Callable[[str, str], None]) -> Iterator[dict]:
    """Local runners for `names` (log(function, line) receives their logs), closed on exit."""
    runners: dict = {}
    try:
        runners = make_runners(cfg, names, back, log)
        yield runners
    finally:
        close_runners(runners)


def make_runners(cfg: Config, names: list[str], back: Backing, log: Callable[[str, str], None]) -> dict:
    """Local runners for `names`; the caller closes them (close_runners), and none is left open
    when one cannot be made."""
    from botocore.exceptions import BotoCoreError, ClientError

    runners: dict = {}
    try:
        for name in names:
            try:
                environment = function_environment(cfg, name, back)
            except (BotoCoreError, ClientError) as exc:
                raise UsageError(f"resolving the environment of function {name}: {exc}.") from None
            runners[name] = local_function(cfg, name, environment, functools.partial(log, name))
    except BaseException:
        close_runners(runners)
        raise
    return runners


def close_runners(runners: dict) -> None:
    for runner in runners.values():
        runner.close()
