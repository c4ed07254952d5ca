"""Errors the user can act on: printed as one paragraph, never as a traceback."""
from __future__ import annotations

from collections.abc import Sequence


class UserError(Exception):
    """A mistake or fault the user can fix; `exit_code` is what the CLI exits with."""

    exit_code = 1

    def __init__(self, message: str, *, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class ConfigError(UserError):
    """A stage config is invalid: names the file, the key and the fix. Exit code 2."""

    exit_code = 2

    def __init__(self, file: str, key: str, problem: str, fix: str = ""):
        self.file, self.key, self.problem, self.fix = file, key, problem, fix
        text = f"{file}: {key}: {problem}"
        if fix:
            text += f" Fix: {fix}"
        super().__init__(text)


class UsageError(UserError):
    """Bad command-line arguments. Exit code 2."""

    exit_code = 2


class QuotaError(UserError):
    """A generated template exceeds a CloudFormation quota. Exit code 2."""

    exit_code = 2


class DeployError(UserError):
    """A deploy-time fault (AWS said no, a stack failed, credentials missing). Exit code 1."""

    exit_code = 1


def first_few(items: Sequence[str], shown: int = 5, sep: str = ", ") -> str:
    """`items` for a message: the first `shown` of them, and how many more ("a, b and 3 more")."""
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return sep.join(items[:shown]) + more


def cannot_listen(host: str, port: int, exc: OSError) -> UsageError:
    """A port that cannot be had: a bad argument (exit 2), for `emulator` and `serve` alike."""
    return UsageError(f"cannot listen on {host}:{port} ({exc.strerror}); pass another --port.")


def claim_port(port: int, host: str = "127.0.0.1") -> int:
    """`port` (0: a free one, chosen now) if it can be listened on, else `cannot_listen`; checked
    before a server is started, so that a port in use is said before anything else runs."""
    import socket

    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((host, port))
            return int(probe.getsockname()[1])
    except OSError as exc:
        raise cannot_listen(host, port, exc) from None
