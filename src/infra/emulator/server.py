"""The emulator's server process: moto in server mode with `patches.apply()` loaded first.

Run as `python -m infra.emulator.server -H 127.0.0.1 -p PORT` (what `MotoServer(patched=True)` and
`generate.py emulator` start). Only this process imports moto and the patches.
"""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    from moto.server import main as moto_main

    from infra.emulator import patches

    patches.apply()
    moto_main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
