"""Children started with SIGINT (Ctrl-C) as a test needs it, whatever this process inherited.

A suite run from a background job (`make test &` in a script) inherits SIGINT ignored, and so
would every child it starts: a test that sends Ctrl-C to a one-shot command would then see it
finish instead. Each prefix sets SIGINT, then execs the command line after it in the same process.
"""
from __future__ import annotations

import sys

_EXEC = "os.execv(sys.executable, [sys.executable] + sys.argv[1:])"
# As a terminal starts a foreground command: Ctrl-C at its default (Python's KeyboardInterrupt).
SIGINT_DEFAULT = [sys.executable, "-c", f"import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); {_EXEC}"]
# As a script's `command &` starts one: Ctrl-C ignored.
SIGINT_IGNORED = [sys.executable, "-c", f"import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); {_EXEC}"]
