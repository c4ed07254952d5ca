#!/usr/bin/env python3
"""Command line: generate, lint, package, diff, deploy and destroy the serverless system.

Thin on purpose: it parses arguments and calls the library in src/infra.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))
sys.path.insert(1, str(Path(__file__).resolve().parent))

from infra.cli import main  # noqa: E402

if __name__ == "__main__":
    main(hard_exit=True)  # this process runs one command: see infra.command.Group.main
