#!/usr/bin/env python3
"""Command line: generate, lint, package, diff, deploy and destroy the serverless system.

Thin on purpose: it parses arguments and calls the library in src/infra.
"""
import gc
import sys

if __name__ == "__main__":
    # This process runs one command, and the cycle collector waits until it is known: imports make
    # no garbage worth collecting (pathlib's below included), and a fast_exit command (templates)
    # ends the process before any would matter. Every other command gets it back before it runs
    # (infra.command.Group.main).
    gc.disable()

from pathlib import Path  # noqa: E402

_REPO = Path(__file__).resolve().parent
_VENV = _REPO / ".venv"
if __name__ == "__main__" and sys.prefix != str(_VENV) and (_VENV / "bin" / "python").is_file():
    # Run by another interpreter than the project's (the README's `python generate.py ...` with the
    # system's python, which lacks troposphere, or has some of the packages at other versions):
    # the project's own, which `make templates` made, runs the command.
    import os

    if os.path.realpath(sys.prefix) != os.path.realpath(_VENV):
        os.execv(str(_VENV / "bin" / "python"), [str(_VENV / "bin" / "python"), str(_REPO / "generate.py"),
                                                 *sys.argv[1:]])
# src/ and the repository first, each once: the Makefile's PYTHONPATH names them too, and every
# import (the standard library's included) asks each entry before the one that has it.
sys.path[:] = list(dict.fromkeys([str(_REPO / "src"), str(_REPO), *sys.path]))

try:
    from infra.cli import main  # noqa: E402
except ModuleNotFoundError as missing:   # no .venv yet, and this interpreter lacks the packages
    print(f"Error: {sys.executable} lacks the project's packages ({missing.name}): run `make templates` once "
          "(it creates .venv), then `python generate.py ...` runs with it.", file=sys.stderr)
    raise SystemExit(2) from None

if __name__ == "__main__":
    main(hard_exit=True)  # this process runs one command: see infra.command.Group.main
