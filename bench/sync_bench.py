"""`make bench`, the fast loop: save-to-synced on the emulator, against a full deploy of the same
change, on the shipped catalog-api (as a development stage) and on the large config; and `watch`'s
warm regenerate + re-lint after one new route.

Each stage is deployed once to the test emulator (moto on loopback with tests/deploy's patches),
untimed. Then, for one Python and one Node.js function that has its own handler directory, each
run appends a line to a handler file (the save) and times `python generate.py sync` as a new
process until it exits (synced); its output must name exactly that one function. A full
`python generate.py deploy` of one such change is timed too. Kept apart from run.py (which times
generation and cdk synth) so that the two change independently.
"""
from __future__ import annotations

import itertools
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET_SYNC_S = 1.5            # save to synced, at most
# The line watch --sync prints once a save's code is synced (each line of watch starts with the time).
WATCH_SYNCED = r"^\[\d\d:\d\d:\d\d\] synced .*: code in"
TARGET_SYNC_SPEEDUP = 3.0      # a full deploy of the same change / sync, at least
TARGET_WATCH_S = 0.3           # watch, warm: regenerate + re-lint after one new route, at most
CI = ["--yes", "--require-approval", "never", "--skip-check", "all"]


@dataclass
class Loop:
    stage: str
    sync_s: dict[str, list[float]] = field(default_factory=dict)    # language -> save-to-synced runs
    watch_s: dict[str, list[float]] = field(default_factory=dict)   # the same through watch --sync
    deploy_s: float = 0.0
    touched: set[str] = field(default_factory=set)                   # functions any sync named


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_CONFIG_FILE": str(tmp / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "none")})
    return env


def _run(args: list[str], tmp: Path, endpoint: str, config: Path) -> str:
    proc = subprocess.run([sys.executable, str(REPO / "generate.py"), *args, "--config", str(config), "--out",
                           str(tmp / "out"), "--endpoint-url", endpoint], cwd=tmp, env=_env(tmp),
                          capture_output=True, text=True, timeout=1800, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"generate.py {args[0]} exited {proc.returncode}:\n{(proc.stdout + proc.stderr)[-2000:]}")
    return proc.stdout


def _large_copy(tmp: Path) -> tuple[Path, dict[str, Path]]:
    """bench/large-api.toml with svc00-list (Python) and svc00-write (Node.js) on handler copies of their own."""
    own = {"python": tmp / "own" / "products", "node": tmp / "own" / "users"}
    for lang, target in own.items():
        shutil.copytree(REPO / "handlers" / ("products" if lang == "python" else "users"), target,
                        ignore=shutil.ignore_patterns("node_modules", "__pycache__", "tests", "test"))
    text = (REPO / "bench" / "large-api.toml").read_text()
    for fn, lang in (("svc00-list", "python"), ("svc00-write", "node")):
        head = f"[functions.{fn}]\n"
        start = text.index(head)
        end = text.index("\n[", start + len(head))
        block = re.sub(r'source = "[^"]+"', f'source = "{own[lang]}"', text[start:end])
        text = text[:start] + block + text[end:]
    config = tmp / "large-api.toml"
    config.write_text(text)
    shutil.copy(REPO / "bench" / "large-api.lock.json", tmp / "large-api.lock.json")
    return config, {"python": own["python"] / "app.py", "node": own["node"] / "index.mjs"}


_EDITS = itertools.count(1)  # one numbering for every save of the run: an export name never repeats


def _edit(path: Path) -> str:
    """The line a save appends. A Node.js function is an esbuild bundle, which drops comments, so
    its edit is code (an export the bundle keeps, named once per run: a second export of one name
    does not build); a Python comment changes the zip."""
    n = next(_EDITS)
    return f"\n# bench edit {n}\n" if path.suffix == ".py" else f"\nexport const benchEdit{n} = {n};\n"


def measure_stage(name: str, config: Path, files: dict[str, Path], tmp: Path, endpoint: str, runs: int) -> Loop:
    loop = Loop(name)
    _run(["deploy", *CI], tmp, endpoint, config)
    for lang, path in files.items():
        for run in range(runs + 1):                     # the first run warms the caches, untimed
            with path.open("a") as fh:                  # the save
                fh.write(_edit(path))
            start = time.perf_counter()
            out = _run(["sync"], tmp, endpoint, config)
            took = time.perf_counter() - start
            touched = re.findall(r"^synced (\S+) > (\S+) \(([^)]+)\)", out, re.MULTILINE)
            if len(touched) != 1:
                raise RuntimeError(f"sync of one saved {path.name} touched {len(touched)} resources:\n{out}")
            loop.touched.add(touched[0][2])
            if run > 0:
                loop.sync_s.setdefault(lang, []).append(took)
    measure_watch_sync(loop, config, files, tmp, endpoint, runs)
    with files["python"].open("a") as fh:
        fh.write("\n# bench edit for deploy\n")
    start = time.perf_counter()
    _run(["deploy", *CI], tmp, endpoint, config)
    loop.deploy_s = time.perf_counter() - start
    return loop


def measure_watch_sync(loop: Loop, config: Path, files: dict[str, Path], tmp: Path, endpoint: str,
                       runs: int) -> None:
    """Save to synced through `watch --sync` (one process, warm): from the write of the file to the
    line that says the function is synced (debounce included)."""
    import queue
    import signal
    import threading

    proc = subprocess.Popen([sys.executable, str(REPO / "generate.py"), "watch", "--sync", "--config", str(config),
                             "--out", str(tmp / "out"), "--endpoint-url", endpoint], cwd=tmp,
                            env={**_env(tmp), "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[tuple[float, str]] = queue.Queue()

    def pump() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.put((time.perf_counter(), line))

    def wait_for(pattern: str, timeout: float = 300.0) -> float:
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            try:
                at, line = lines.get(timeout=0.5)
            except queue.Empty:
                continue
            seen.append(line)
            if re.search(pattern, line):
                return at
        raise RuntimeError(f"watch: {pattern!r} not printed:\n{''.join(seen)[-2000:]}")

    threading.Thread(target=pump, daemon=True).start()
    try:
        wait_for(r"watching \d+ path")
        for lang, path in files.items():
            for run in range(runs + 1):
                start = time.perf_counter()
                with path.open("a") as fh:
                    fh.write(_edit(path))
                done = wait_for(WATCH_SYNCED)
                if run > 0:
                    loop.watch_s.setdefault(lang, []).append(done - start)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def measure_watch(runs: int, tmp: Path) -> list[float]:
    """In this process, as `watch` runs: the catalog-api config, one new route per run."""
    sys.path[:0] = [str(REPO / "src"), str(REPO)]
    from infra.sync.watch import Session

    shutil.copy(REPO / "config" / "catalog-api.toml", tmp / "catalog-api.toml")
    shutil.copy(REPO / "config" / "catalog-api.lock.json", tmp / "catalog-api.lock.json")
    config = tmp / "catalog-api.toml"
    session = Session(tmp / "watch-out", lambda _text: None)
    session.rebuild([config])               # the first build: cfn-lint loads, every template is linted
    took = []
    for i in range(runs):
        with config.open("a") as fh:
            fh.write(f'\n[[api.routes]]\nmethod = "GET"\npath = "/bench-watch{i}"\nfunction = "users"\n')
        start = time.perf_counter()
        if not session.rebuild([config]):
            raise RuntimeError("watch: the build after a new route has lint findings")
        took.append(time.perf_counter() - start)
    return took


def main(runs: int, large: bool = True) -> list[str]:
    """The fast-loop lines of `make bench`."""
    sys.path[:0] = [str(REPO / "src"), str(REPO), str(REPO / "tests" / "deploy")]
    from deploy_emulator import patched_server
    from sync_stage import dev_catalog

    start = f"load average at the start: {os.getloadavg()[0]:.1f} ({os.cpu_count()} CPUs; other work slows every row)"
    lines = [start]

    def mark(ok: bool) -> str:
        return "ok" if ok else "MISSED  <<<"

    with tempfile.TemporaryDirectory(prefix="bench-sync-") as raw:
        tmp = Path(raw)
        (tmp / "watch").mkdir()
        watch = measure_watch(max(runs, 3), tmp / "watch")
        med = statistics.median(watch)
        lines.append(f"watch, warm, regenerate + re-lint after one new route (catalog-api): median {med:.3f} s "
                     f"(min {min(watch):.3f}, max {max(watch):.3f})   target <= {TARGET_WATCH_S} s  "
                     f"{mark(med <= TARGET_WATCH_S)}")
        loops = []
        with patched_server() as server:
            catalog_dir = tmp / "catalog"
            catalog_dir.mkdir()
            config = dev_catalog(catalog_dir)
            files = {"python": catalog_dir / "handlers" / "products" / "app.py",
                     "node": catalog_dir / "handlers" / "users" / "index.mjs"}
            loops.append(measure_stage("catalog-api (dev copy, 2 functions)", config, files, catalog_dir,
                                       server.endpoint_url, runs))
            if large:
                server.reset()
                large_dir = tmp / "large"
                large_dir.mkdir()
                config, files = _large_copy(large_dir)
                loops.append(measure_stage("large config (201 functions)", config, files, large_dir,
                                           server.endpoint_url, runs))
        for loop in loops:
            for lang, walls in loop.sync_s.items():
                med = statistics.median(walls)
                speedup = loop.deploy_s / med if med else 0.0
                lines.append(f"sync, save to synced, {lang:6} function, {loop.stage}: median {med:.3f} s "
                             f"(min {min(walls):.3f}, max {max(walls):.3f})   target <= {TARGET_SYNC_S} s  "
                             f"{mark(med <= TARGET_SYNC_S)}; full deploy of the same change {loop.deploy_s:.2f} s = "
                             f"{speedup:.1f}x   target >= {TARGET_SYNC_SPEEDUP:.0f}x  {mark(speedup >= TARGET_SYNC_SPEEDUP)}")
            for lang, walls in loop.watch_s.items():
                med = statistics.median(walls)
                lines.append(f"watch --sync, save to synced, {lang:6} function, {loop.stage}: median {med:.3f} s "
                             f"(min {min(walls):.3f}, max {max(walls):.3f}, debounce included)   target <= "
                             f"{TARGET_SYNC_S} s  {mark(med <= TARGET_SYNC_S)}")
            lines.append(f"  functions sync touched on {loop.stage}: {', '.join(sorted(loop.touched))} "
                         "(one per save)")
        if len(loops) == 2:
            small = statistics.median(w for walls in loops[0].sync_s.values() for w in walls)
            big = statistics.median(w for walls in loops[1].sync_s.values() for w in walls)
            lines.append(f"sync flat from the shipped config to the large one: {small:.3f} s -> {big:.3f} s "
                         f"({big / small:.2f}x)")
    lines.append(f"load average at the end: {os.getloadavg()[0]:.1f}")
    return lines


if __name__ == "__main__":
    print("\n".join(main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)))
