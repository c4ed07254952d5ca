"""Command-line values checked before anything runs: endpoint URLs, output files, durations,
profiles.

Pure (no boto3, no rich): a bad value is one sentence and exit 2 before any AWS call, so a good
deploy can never end as a failure because of where its outputs were to be written.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from infra.config.names import BUCKET
from infra.render import STDOUT, unwritable_reason

# Where `lint` keeps the findings of templates it has linted, and `watch` reads and adds to them
# (relative to the working directory: make runs in the repository).
LINT_CACHE_DIR = Path(".cache/lint")
# Patterns as text, compiled (and cached by `re`) when a command first parses such an option:
# every command imports this module, and most never do.
DURATION = r"^\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s)?\s*$"


MAX_DURATION_S = 366 * 24 * 3600.0   # a year: longer is a mistake (and past what CloudWatch Logs keeps)
BARE_NUMBER = r"^\d+(?:\.\d+)?$"


class Duration(click.ParamType[float]):
    """A duration: 90s, 15m, 1h, 1h30m; a bare number is minutes. Value in seconds, more than 0
    and at most a year (nan, inf and 1e9 are not durations)."""

    name = "DURATION"

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        if isinstance(value, (int, float)):   # a default given in seconds: held to the same range
            seconds = float(value)
            if not 0 < seconds <= MAX_DURATION_S:   # nan compares false: refused too
                self.fail(f"{value!r} seconds is not a duration of more than zero and at most a year.", param, ctx)
            return seconds
        text = str(value).strip().lower()
        if re.match(BARE_NUMBER, text):
            seconds = float(text) * 60
        else:
            match = re.match(DURATION, text)
            if not text or not match or not any(match.groups()):
                self.fail(f"'{value}' is not a duration (examples: 90s, 15m, 1h, 1h30m; a bare number is minutes).", param, ctx)
            h, m, s = (float(g) if g else 0.0 for g in match.groups())
            seconds = h * 3600 + m * 60 + s
        if not 0 < seconds <= MAX_DURATION_S:
            self.fail(f"'{value}' is {'not more than zero' if seconds <= 0 else 'more than a year'}; give a duration "
                      "such as 90s, 15m or 2h.", param, ctx)
        return seconds


def endpoint_problem(url: str) -> str | None:
    """Why `url` cannot be an endpoint (None when it can): http(s)://host[:port][/path]."""
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a port that is not a number or out of range
    except ValueError as exc:
        return f"'{url}' is not a valid URL ({exc})"
    if parts.scheme not in ("http", "https"):
        return f"'{url}' is not an http:// or https:// URL"
    if not parts.hostname:
        return f"'{url}' names no host"
    if port == 0:
        return f"'{url}' has port 0"
    return None


class EndpointUrl(click.ParamType[str]):
    """An http(s) URL with a host and, optionally, a numeric port (botocore's own check raises ValueError)."""

    name = "URL"

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        problem = endpoint_problem(str(value))
        if problem:
            self.fail(f"{problem}; expected e.g. http://127.0.0.1:5000.", param, ctx)
        return str(value)


# S3 bucket naming rules (docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html):
# the characters and length the config checks for generated names (names.BUCKET), and no two
# adjacent dots, not an IP address, none of the reserved prefixes and suffixes.
IP_ADDRESS = r"^\d+\.\d+\.\d+\.\d+$"
RESERVED_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
RESERVED_BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", "--x-s3", "--table-s3", ".mrap")


def bucket_problem(name: str) -> str | None:
    """Why `name` cannot be an S3 bucket name (None when it can)."""
    if not re.fullmatch(BUCKET.pattern, name):
        return (f"'{name}' is not a valid S3 bucket name (3-63 characters: lowercase letters, digits, dots "
                "and hyphens, starting and ending with a letter or digit)")
    if ".." in name or re.match(IP_ADDRESS, name):
        return f"'{name}' is not a valid S3 bucket name (no adjacent dots, not an IP address)"
    if name.startswith(RESERVED_BUCKET_PREFIXES) or name.endswith(RESERVED_BUCKET_SUFFIXES):
        return f"'{name}' is not a valid S3 bucket name (it uses a prefix or suffix S3 reserves)"
    return None


class BucketName(click.ParamType[str]):
    """An S3 bucket name that follows S3's naming rules (checked before any AWS call)."""

    name = "BUCKET"

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        problem = bucket_problem(str(value))
        if problem:
            self.fail(f"{problem}.", param, ctx)
        return str(value)


class WritableFile(click.ParamType[Path]):
    """A file path that can be written (its directory is created when missing); "-" is
    standard output (`infra.render.STDOUT`)."""

    name = "FILE|-"

    def convert(self, value: Any, param: Any, ctx: Any) -> Path:
        path = Path(value)
        if path == STDOUT:
            return STDOUT
        reason = unwritable_reason(path) or _probe(path)
        if reason:
            self.fail(f"{reason}; choose another path.", param, ctx)
        return path


def _probe(path: Path) -> str | None:
    """Create `path` and remove it again, when it does not exist but its folder does: a folder
    that looks writable (root is allowed everything by access()) can still refuse a new file, as
    /proc and /sys do, and a deploy must not find that out only once the stack is updated."""
    import os

    # A link is written through, to whatever it names (a file, /dev/stdout): not probed.
    if path.is_symlink() or path.exists() or not path.parent.is_dir():
        return None
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as exc:
        return f"{path} cannot be created ({exc.strerror or exc})"
    os.unlink(path)
    return None


class Profile(click.ParamType[str]):
    """A named AWS profile that exists in the AWS config or credentials files (checked with
    botocore only when the option is given, so commands without it never import botocore)."""

    name = "PROFILE"

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        import botocore.session

        text = str(value)
        known = botocore.session.Session().available_profiles
        if text not in known:
            self.fail(f"AWS profile '{text}' is not configured in your AWS config or credentials file; "
                      "pass an existing --profile or omit it.", param, ctx)
        return text


class Once(click.Option):
    """An option given at most once. click keeps the last of repeated values without a word, so
    `sync --config a.toml --config b.toml` quietly worked on b alone; a repeat is a usage error.
    (It is read as a multiple option: a default or an environment variable would be split into
    several values, so neither is taken.)"""

    def __init__(self, *args: Any, **kwargs: Any):
        if kwargs.get("default") is not None or kwargs.get("envvar"):
            raise TypeError("Once options take no default and no envvar")
        kwargs["multiple"] = True
        super().__init__(*args, **kwargs)

    def process_value(self, ctx: click.Context, value: Any) -> Any:
        values = super().process_value(ctx, value)
        if values and len(values) > 1:
            raise click.BadParameter(f"given {len(values)} times ({', '.join(map(str, values))}); this command "
                                     "takes one: run it once per value.", ctx=ctx, param=self)
        return values[0] if values else None
