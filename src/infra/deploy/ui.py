"""Terminal output for the deploy commands: rich when stdout is a terminal, plain lines otherwise.

Progress, tables and results go to stdout; warnings go to stderr. Errors are not printed here:
commands raise `UserError`s and the CLI prints them.
"""
from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:   # rich loads only when a command prints
    from rich.console import Console

# Wide enough that tables are not truncated in CI logs (rich would otherwise assume 80).
NON_TERMINAL_WIDTH = 160
# Blanks at the end of a line, also before the colour reset codes FORCE_COLOR leaves there.
TRAILING_BLANKS = re.compile(r"[ \t]+((?:\x1b\[[0-9;]*m)*)$")


def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(stderr=stderr, highlight=False, width=NON_TERMINAL_WIDTH)
    return console


class Ui:
    """Where the deploy commands talk to the user."""

    def __init__(self, out: Any = None, err: Any = None, *, assume_yes: bool = False, progress_to_stderr: bool = False,
                 stamped: bool = False):
        # progress_to_stderr: standard output carries data (`deploy --outputs-file -`), so all else goes to stderr.
        # stamped: each line said starts with the time, as watch's own lines do (a sync under watch).
        self.out = out if out is not None else _console(stderr=progress_to_stderr)
        self.err = err if err is not None else _console(stderr=True)
        self.assume_yes = assume_yes
        self.stamped = stamped

    def _stamp(self) -> str:
        """The time, as the start of a line, when the Ui is stamped."""
        if not self.stamped:
            return ""
        import datetime

        return f"[{datetime.datetime.now():%H:%M:%S}] "

    def _line(self, text: str) -> str:
        """`text` escaped for rich's markup, after the time when the Ui is stamped."""
        from rich.markup import escape

        return escape(self._stamp() + text)

    @property
    def live(self) -> bool:
        """True when stdout is a terminal: live views instead of one line per event."""
        return bool(self.out.is_terminal)

    def say(self, text: str = "", style: str | None = None) -> None:
        # soft_wrap: long URLs and console links stay on one line, copyable.
        self.out.print(self._line(text) if text else "", style=style, soft_wrap=True)

    def raw(self, text: str) -> None:
        """`text` and a newline exactly as given: no markup, no wrapping, tabs kept (for scripts)."""
        self.out.file.write(text + "\n")
        self.out.file.flush()

    def step(self, text: str) -> None:
        """A heading for the next phase of a command."""
        self.out.print(f"[bold]{self._line('==> ' + text)}[/bold]")

    def note(self, text: str) -> None:
        self.say(text, style="dim")

    def success(self, text: str) -> None:
        self.say(text, style="bold green")

    def warn(self, text: str) -> None:
        from rich.markup import escape

        self.err.print(f"{escape(self._stamp())}[bold yellow]Warning:[/bold yellow] {escape(text)}", soft_wrap=True)

    def show(self, renderable: Any) -> None:
        """A table or other renderable. Anywhere but a terminal, lines end at their last character:
        rich pads every line of a table to the table's width, which `grep`, `diff` and copying
        from a CI log do not want."""
        if self.live:
            self.out.print(renderable)
            return
        with self.out.capture() as captured:
            self.out.print(renderable)
        self.out.file.write("".join(TRAILING_BLANKS.sub(r"\1", line) + "\n" for line in captured.get().splitlines()))
        self.out.file.flush()

    def confirm(self, question: str) -> bool:
        """Ask yes/no on stdin; `--yes` answers yes. No answer (closed stdin) counts as no; Ctrl-C
        stops the command (exit 130)."""
        import click

        if self.assume_yes:
            return True
        try:
            # The question goes where the progress goes (stderr when stdout carries data).
            return click.confirm(question, default=False, err=bool(getattr(self.out, "stderr", False)))
        except click.exceptions.Abort as exc:
            self.out.print()
            # click makes one Abort of Ctrl-C and of end of input; the KeyboardInterrupt is its context.
            if isinstance(exc.__context__, KeyboardInterrupt):
                raise KeyboardInterrupt from None
            return False
