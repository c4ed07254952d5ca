#!/usr/bin/env python3
"""Command line: generate, lint, package, diff, deploy and destroy the serverless system.

Thin on purpose: it parses arguments and calls the library in src/infra.
"""
import gc
import sys
from pathlib import Path

if __name__ == "__main__":
    # This process runs one command, and the cycle collector waits until it is known: imports make
    # no garbage worth collecting, and a fast_exit command (templates) ends the process before any
    # would matter. Every other command gets it back before it runs (infra.command.Group.main).
    gc.disable()

_REPO = Path(__file__).resolve().parent
# src/ and the repository first, each once: the Makefile's PYTHONPATH names them too, and every
# import (the standard library's included) asks each entry before the one that has it.
sys.path[:] = list(dict.fromkeys([str(_REPO / "src"), str(_REPO), *sys.path]))

from infra.cli import main  # noqa: E402

if __name__ == "__main__":
    main(hard_exit=True)  # this process runs one command: see infra.command.Group.main
