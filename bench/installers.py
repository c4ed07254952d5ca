#!/usr/bin/env python3
"""pip against uv, installing a function's dependencies for Lambda (python3.14, manylinux_2_34).

How the builder chose its installer (README, "Functions and their dependencies"): both install
the same requirements into an empty --target folder for cp314 on x86_64 and on aarch64,
  cold: an empty download cache (every wheel comes from the index);
  warm: the download cache of an earlier run (what every build after the first one sees).
Each cell is the median wall time of --runs runs. Needs the package index (PyPI); run by hand:
  .venv/bin/python bench/installers.py [--runs 3]
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# A compiled dependency (pydantic-core), a large pure-Python one (Powertools) and a common one.
REQUIREMENTS = "pydantic==2.14.3\naws-lambda-powertools==3.37.0\nrequests==2.34.2\n"
ARCHES = ("x86_64", "aarch64")


def pip_argv(arch: str, target: Path, req: Path, cache: Path) -> list[str]:
    # pip matches --platform exactly, so every manylinux tag glibc 2.34 accepts is listed.
    from infra.bundle.python import pip_platforms

    plats = [a for p in pip_platforms(arch) for a in ("--platform", p)]
    return [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--disable-pip-version-check",
            "--isolated", "--cache-dir", str(cache), "--target", str(target), *plats, "--python-version", "3.14",
            "--implementation", "cp", "--only-binary=:all:", "-r", str(req)]


def uv_argv(arch: str, target: Path, req: Path, cache: Path) -> list[str]:
    from infra.bundle.tools import uv_binary

    return [uv_binary(), "pip", "install", "--quiet", "--no-config", "--cache-dir", str(cache), "--target", str(target),
            "--python-platform", f"{arch}-manylinux_2_34", "--python-version", "3.14", "--no-build", "-r", str(req)]


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    rows = []
    with tempfile.TemporaryDirectory(prefix="installers-") as tmp:
        work = Path(tmp)
        req = work / "requirements.txt"
        req.write_text(REQUIREMENTS)
        for tool, make in (("pip", pip_argv), ("uv", uv_argv)):
            for arch in ARCHES:
                cold, warm = [], []
                for run in range(args.runs):
                    cache = work / f"cache-{tool}-{arch}-{run}"
                    for samples in (cold, warm):  # the warm run reuses the cold run's cache
                        target = work / "target"
                        shutil.rmtree(target, ignore_errors=True)
                        samples.append(timed(make(arch, target, req, cache)))
                rows.append((tool, arch, statistics.median(cold), statistics.median(warm)))
    print(f"installing {REQUIREMENTS.strip().replace(chr(10), ', ')} for cp314 manylinux_2_34, "
          f"median of {args.runs}:")
    print(f"{'tool':<5} {'arch':<8} {'cold s':>7} {'warm s':>7}")
    for tool, arch, cold_s, warm_s in rows:
        print(f"{tool:<5} {arch:<8} {cold_s:7.2f} {warm_s:7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
