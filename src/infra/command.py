"""The one way to define a command, and what every command promises.

A command is a function with typed parameters, decorated with `@command(NAME)` and its click
options, and listed in its module's `COMMANDS`; `infra.cli.COMMANDS` names each command and its
module. Its body parses what click cannot and calls one library function. Only click is imported
here: boto3, rich, moto and cfn-lint load when a command runs, and a command's module loads only
when that command runs or a listing (`--help`) needs it (`Group`'s `lazy` registry: the cold start
of `templates` pays for no deploy code).

Every command, whatever it does, ends in one of these exit codes, and every failure is one line
on standard error (`Error: ...`), never a traceback:

  0 success or nothing to change, 1 failure, 2 bad config or arguments,
  3 changes found (`diff --fail`, `drift --fail`), 130 interrupted (Ctrl-C).

`Command.invoke` turns what escapes a command into a `UserError`: Ctrl-C (also at a prompt)
into exit 130, an AWS error outside a known call into its sentence (the root group's `explain`,
which `infra.cli` gives it: this module sits below the deploy layer), an OS error into one naming
the file, anything else into one sentence (set SERVERLESS_INFRA_DEBUG=1 to see its traceback
instead). `Group.main` prints it, and prints click's own usage errors (an unknown option or
command, a bad value) as one line with exit 2 instead of click's usage block.
"""
from __future__ import annotations

import gc
import importlib
import os
import signal
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from infra.errors import DeployError, UserError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_CHANGES = 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a Ctrl-C
DEBUG_ENV = "SERVERLESS_INFRA_DEBUG"  # set to 1 to let unexpected errors raise with their traceback

F = TypeVar("F", bound=Callable[..., Any])
# Turns an exception a command did not expect into its sentence, or None when it does not know it.
Explain = Callable[[Exception, str], "UserError | None"]


class Stopped(KeyboardInterrupt):
    """A stop signal (SIGINT or SIGTERM) turned into an exception; exits 128 + the signal."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signum)
        self.signum = signum


def stop_code(exc: BaseException) -> int:
    """The exit code of a command stopped by `exc`: 130 for Ctrl-C, 143 for SIGTERM."""
    return 128 + (exc.signum if isinstance(exc, Stopped) else signal.SIGINT)


def stop_name(exc: BaseException) -> str:
    """What stopped a command, as its messages name it."""
    return "SIGTERM" if isinstance(exc, Stopped) and exc.signum == signal.SIGTERM else "Ctrl-C"


def interrupted(exc: BaseException, command: str) -> UserError:
    """The one line for a command stopped by Ctrl-C (or SIGTERM, exit 143)."""
    return UserError(f"Interrupted: {command} stopped.", exit_code=stop_code(exc))


def _from_ctrl_c(exc: click.exceptions.Abort) -> bool:
    """click turns Ctrl-C and end of input at a prompt into the same Abort; the KeyboardInterrupt
    stays its context (`raise Abort() from None` hides it from tracebacks, not from us)."""
    return isinstance(exc.__cause__ or exc.__context__, KeyboardInterrupt)


class Command(click.Command):
    """A command whose every failure is a `UserError`: one line and a documented exit code.

    `fast_exit`: the command leaves nothing for the interpreter's shutdown to do (no threads,
    child processes, temporary files or atexit handlers outlive it; every file it writes is
    closed), so a process run for it alone may end without that shutdown (`Group.main`)."""

    def __init__(self, *args: Any, fast_exit: bool = False, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fast_exit = fast_exit

    def invoke(self, ctx: click.Context) -> Any:
        name = self.name or "command"
        try:
            return super().invoke(ctx)
        except (UserError, click.exceptions.Exit, click.ClickException, BrokenPipeError):
            raise  # a closed pipe (`outputs | head -1`) is click's to quieten
        except click.exceptions.Abort as exc:
            if _from_ctrl_c(exc):
                raise interrupted(exc.__cause__ or exc.__context__ or exc, name) from None
            raise UserError(f"{name}: no answer (end of input); nothing was done.") from None
        except KeyboardInterrupt as exc:
            raise interrupted(exc, name) from None
        except Exception as exc:  # the safety net: one sentence, never a traceback
            if os.environ.get(DEBUG_ENV):
                raise
            root = ctx.find_root().command
            raise unexpected(exc, name, root.explain if isinstance(root, Group) else None) from None


def unexpected(exc: Exception, command: str, explain: Explain | None = None) -> UserError:
    """One sentence for an exception no command turned into a `UserError` itself."""
    known = explain(exc, command) if explain is not None else None
    if known is not None:
        return known
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        return DeployError(f"{command} failed on the file system{where}: {exc.strerror or exc}.")
    text = " ".join(str(exc).split()) or type(exc).__name__
    return DeployError(f"{command} failed unexpectedly ({type(exc).__name__}: {text[:300]}); "
                       f"run again with {DEBUG_ENV}=1 to see where.")


def command(name: str, *, fast_exit: bool = False) -> Callable[[F], Command]:
    """`@command("deploy")`: the function below becomes a `Command` named `name` (`fast_exit`:
    see `Command`)."""

    def decorate(fn: F) -> Command:
        made = click.command(name, cls=Command, fast_exit=fast_exit)(fn)
        assert isinstance(made, Command)
        return made

    return decorate


def usage_line(exc: click.UsageError) -> str:
    """click's usage error as one line: the message and where to read the usage."""
    where = exc.ctx.command_path if exc.ctx is not None else "generate.py"
    return " ".join(exc.format_message().split()) + f" (see: {where} --help)"


def _error(text: str) -> None:
    try:
        click.echo(f"Error: {text}", err=True)
    except OSError:  # stderr closed: the exit code still says it
        pass


class Group(click.Group):
    """The root command: runs one `Command` and turns every outcome into an exit code. `explain`
    names what its commands' unexpected exceptions mean (AWS errors), when it knows.

    `lazy` maps each command name to the module that defines it (in its `COMMANDS`): the module is
    imported, and its commands added through `add_command`, when one of them is first looked up
    (click's documented lazy-loading pattern: override `list_commands` and `get_command`)."""

    command_class = Command

    def __init__(self, *args: Any, explain: Explain | None = None, lazy: Mapping[str, str] | None = None,
                 **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.explain = explain
        self.lazy = dict(lazy or {})
        self.resolved: click.Command | None = None  # the command the last `main` ran
        self.hard_exit = False

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None,
                                                                              list[str]]:
        name, cmd, rest = super().resolve_command(ctx, args)
        self.resolved = cmd
        if self.hard_exit and not (isinstance(cmd, Command) and cmd.fast_exit):
            gc.enable()  # generate.py paused it for the start-up: a command that lives on needs it
        return name, cmd, rest

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        if not isinstance(cmd, Command):
            raise TypeError(f"{cmd.name}: define commands with @infra.command.command(NAME), "
                            "so they get the same error handling as every other command.")
        super().add_command(cmd, name)

    def list_commands(self, ctx: click.Context | None) -> list[str]:
        return sorted({*self.commands, *self.lazy})

    def get_command(self, ctx: click.Context | None, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            if cmd_name in self.lazy:
                self.load(self.lazy[cmd_name])
            else:  # an unknown name: load every command, so click's "did you mean" sees them all
                self.load_all()
        return self.commands.get(cmd_name)

    def load(self, module_name: str) -> list[Command]:
        """Import `module_name` and add its `COMMANDS`, which must be exactly the names `lazy`
        gives it: a command missing from either list would silently not exist."""
        module = importlib.import_module(module_name)
        defined = list(module.COMMANDS)
        named = sorted(name for name, where in self.lazy.items() if where == module_name)
        if sorted(getattr(c, "name", "") or "" for c in defined) != named:
            raise LookupError(f"{module_name}.COMMANDS defines {sorted(c.name for c in defined)}, but the "
                              f"command registry names {named} there: list each command in both.")
        for cmd in defined:
            if cmd.name not in self.commands:
                self.add_command(cmd)
        return defined

    def load_all(self) -> dict[str, click.Command]:
        """Every command, each module imported (what a listing of all commands needs)."""
        for module_name in dict.fromkeys(self.lazy.values()):
            self.load(module_name)
        return dict(self.commands)

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, *, hard_exit: bool = False,
             **extra: Any) -> Any:
        """Run one command and exit with its code. `hard_exit` (generate.py, whose process runs one
        command and ends): after a `fast_exit` command, flush the output and end the process with
        os._exit, skipping the interpreter's teardown (freeing every object of troposphere,
        cfn-lint and our modules: about an eighth of a `templates` run), as mypy does by default;
        and turn the cycle collector (which generate.py pauses while it starts) back on before
        any other command runs."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        self.resolved, self.hard_exit = None, hard_exit
        code = EXIT_FAILURE
        try:
            with _stop_signals_raise():
                result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            code = result if type(result) is int else EXIT_OK  # ctx.exit(n); commands return None
        except UserError as exc:
            _error(str(exc))
            code = exc.exit_code
        except click.exceptions.NoArgsIsHelpError as exc:  # `generate.py` alone: the help, laid out as click does
            exc.show()
            code = EXIT_USAGE
        except click.UsageError as exc:
            _error(usage_line(exc))
            code = EXIT_USAGE
        except click.ClickException as exc:
            _error(exc.format_message())
            code = exc.exit_code
        except click.exceptions.Abort as exc:  # Ctrl-C outside a command (while parsing)
            cause = exc.__cause__ or exc.__context__
            code = interrupted(cause, "generate.py").exit_code if isinstance(cause, KeyboardInterrupt) else 1
            _error("Interrupted." if isinstance(cause, KeyboardInterrupt) else "Aborted.")
        except KeyboardInterrupt as exc:
            _error("Interrupted.")
            code = interrupted(exc, "generate.py").exit_code
        if hard_exit and isinstance(self.resolved, Command) and self.resolved.fast_exit:
            _exit_now(code)
        sys.exit(code)


def _exit_now(code: int) -> None:
    """End the process at once with `code`, once standard output and error are flushed (what
    os._exit skips); a stream that cannot be flushed leaves it to the regular exit to report."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a broken pipe, a closed stream
        return
    os._exit(code)


@contextmanager
def _stop_signals_raise() -> Iterator[None]:
    """SIGTERM ends a command like Ctrl-C does (clean-up runs, exit 143), for `kill` and for
    `make`, which passes SIGTERM on. Only in the main thread, and restored afterwards."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        raise Stopped(signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class Caught:
    """The stop signal `stop_once` caught, if any."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def stopped(self, exc: KeyboardInterrupt) -> Stopped:
        """`exc` as the `Stopped` of the signal caught: code that checks for signals itself may
        swallow the handler's exception and raise a plain KeyboardInterrupt instead (watchfiles'
        notifier does, for SIGTERM too)."""
        return exc if isinstance(exc, Stopped) else Stopped(self.signum or signal.SIGINT)


@contextmanager
def stop_once() -> Iterator[Caught]:
    """While a long-running command cleans up after a stop (servers, child processes), a second
    Ctrl-C or SIGTERM (make passes both on) must not cut the clean-up short: the first stop
    raises `Stopped`, later ones are ignored until the block ends. The handlers are installed
    even where the process inherited SIGINT ignored (started with `&` from a script), so such a
    command ends on `kill -INT` as it does on Ctrl-C in a terminal."""
    import threading

    caught = Caught()
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return
    previous: dict[signal.Signals, Any] = {}

    def stop(signum: int, frame: Any) -> None:
        # Python runs a handler between two steps of the main thread, which can be inside this
        # handler's own signal.signal calls when a second signal follows at once (make passes
        # SIGTERM on to the group it was sent to): that one is ignored here, not raised there.
        if caught.signum is not None:
            return
        caught.signum = signum
        for sig in list(previous):
            signal.signal(sig, signal.SIG_IGN)
        raise Stopped(signum)

    try:   # installed inside: a signal between the two installations is a stop like any other
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, stop)
        yield caught
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
