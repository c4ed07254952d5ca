#!/usr/bin/env python3
"""Wall time and peak memory of our generator, against `cdk synth` of the CDK app it replaces.

Our side: `python generate.py templates --out DIR`, run as a child process.
CDK side: the TypeScript block of the seed (the `TapStack` + `TapApp` of the CDK app) is extracted
into bench/cdk/build/, compiled once with tsc outside the timing, and then timed twice over:
`node build/app.js` alone (the synthesis itself, which is what `cdk synth` runs after compiling)
and the `npx cdk synth` command line around it.

Every command runs one warm-up and then --runs timed runs, each into a fresh output folder. The
table gives the median wall time and the largest peak RSS of the timed runs, the CDK/ours ratios
and the issue's targets. Stdlib only; run by `make bench`.

Exit status: 0 when our side worked (a missed target or a CDK side that could not run is printed,
not failed), 1 when our side failed, 2 on bad arguments.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

REPO = Path(__file__).resolve().parent.parent
CDK_DIR = REPO / "bench" / "cdk"
BUILD_DIR = CDK_DIR / "build"  # git-ignored: the seed's code never enters the repository
NODE_MODULES = CDK_DIR / "node_modules"
NPM_STAMP = NODE_MODULES / ".bench-stamp"
BUILD_STAMP = BUILD_DIR / ".bench-stamp"
# In CI the repository is cloned with shared/ beside it.
DEFAULT_SEED = REPO.parent / "shared" / "seeds" / "000_ff5e680da11cb7b7.txt"

# The targets for our side, and its reference measurement of `cdk synth` of this seed.
TARGET_WALL_S = 0.35  # at most
TARGET_PEAK_MIB = 100.0  # strictly below
REFERENCE_CDK = "the issue measured `cdk synth` of this seed at 6.8 s wall, 460 MiB on this 2-core machine"

MIN_NODE_MAJOR = 20  # aws-cdk-lib 2.276's "engines"

ACCOUNT, REGION = "123456789012", "us-west-2"
# The stack has a concrete account and region, so ec2.Vpc asks for the account's availability
# zones through a context lookup, which would need AWS credentials and the network. Supplying the
# answer, as a checked-in cdk.context.json does, keeps every synth offline and credential-free.
AZ_CONTEXT = {
    f"availability-zones:account={ACCOUNT}:region={REGION}": [f"{REGION}a", f"{REGION}b", f"{REGION}c"],
}

LOG_TAIL_CHARS = 2000


class BenchError(Exception):
    """A command could not be measured; the message says why."""


# --------------------------------------------------------------------------------------------
# Pure parts: seed extraction, statistics, formatting (covered by bench/tests/test_bench.py).
# --------------------------------------------------------------------------------------------

_FENCE = re.compile(r"^```(?:typescript|ts)[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def extract_typescript_block(text: str) -> str:
    """Return the seed's fenced TypeScript block that defines the CDK app.

    A seed is prose around one ```typescript block; should it hold several, the one that defines
    `TapStack` is the app. Raises ValueError when there is none.
    """
    blocks = _FENCE.findall(text)
    if not blocks:
        raise ValueError("no ```typescript fenced block found")
    if len(blocks) == 1:
        return blocks[0]
    for block in blocks:
        if "class TapStack" in block:
            return block
    raise ValueError(f"{len(blocks)} ```typescript blocks found and none defines class TapStack")


def digest(*parts: bytes) -> str:
    """SHA-256 over several byte strings, each length-prefixed so that boundaries count."""
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


@dataclass(frozen=True)
class Sample:
    """One timed run: wall seconds and the child's peak resident set size (KiB, as Linux reports)."""

    wall_s: float
    maxrss_kib: int


@dataclass
class Measurement:
    """The timed runs of one command (the warm-up is not among them)."""

    tool: str
    samples: list[Sample] = field(default_factory=list)

    @property
    def median_wall_s(self) -> float:
        return statistics.median(s.wall_s for s in self.samples)

    @property
    def peak_mib(self) -> float:
        return max(s.maxrss_kib for s in self.samples) / 1024.0

    @property
    def wall_range(self) -> tuple[float, float]:
        walls = [s.wall_s for s in self.samples]
        return min(walls), max(walls)


SAME_SYSTEM_CONFIG = "config/secure-api.toml"
LARGE_CONFIG = "bench/large-api.toml"
TARGET_SPEEDUP = 30.0          # generating every shipped config, against `cdk synth` of seed 000
TARGET_LARGE_WALL_S = 1.0      # generating the large config
TARGET_LOOP_SHARE = 0.25       # `make templates` (unchanged, or after one new route) / `cdk synth`


def ratio(numerator: float, denominator: float) -> str:
    """`numerator / denominator` as e.g. '12.3x', or 'n/a' when the denominator is not positive."""
    if denominator <= 0:
        return "n/a"
    return f"{numerator / denominator:.1f}x"


def format_table(rows: Sequence[Measurement], baseline: Measurement | None) -> str:
    """A plain-text table: one row per measurement, ratios against `baseline` (our side)."""
    header = ("tool", "median wall s", "min-max s", "peak MiB", "wall / ours", "peak / ours")
    lines = [header]
    for m in rows:
        lo, hi = m.wall_range
        is_base = baseline is None or m is baseline
        lines.append((
            m.tool,
            f"{m.median_wall_s:.3f}",
            f"{lo:.3f}-{hi:.3f}",
            f"{m.peak_mib:.1f}",
            "-" if is_base else ratio(m.median_wall_s, baseline.median_wall_s),
            "-" if is_base else ratio(m.peak_mib, baseline.peak_mib),
        ))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    # Left-align the tool name, right-align the numbers.
    fmt = lambda line: "  ".join(  # noqa: E731
        cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths))
    )
    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(lines[0]), rule, *map(fmt, lines[1:])])


def target_lines(ours: Measurement, same: Measurement | None = None,
                 rows: Sequence[Measurement] = ()) -> list[str]:
    """One line per target of the issues, each marked `ok` or `MISSED`.

    Wall and peak targets apply to generating every shipped config, and so does the speed-up
    against `cdk synth` of seed 000 (the app alone and secure-api alone are given for reference).
    Rows named LARGE_ROW and LOOP_ROWS, when measured, have targets of their own.
    """
    wall_ok = ours.median_wall_s <= TARGET_WALL_S
    peak_ok = ours.peak_mib < TARGET_PEAK_MIB
    mark = lambda ok: "ok" if ok else "MISSED  <<<"  # noqa: E731
    lines = [
        f"target wall <= {TARGET_WALL_S:.2f} s   : {ours.median_wall_s:.3f} s   {mark(wall_ok)}",
        f"target peak <  {TARGET_PEAK_MIB:.0f} MiB : {ours.peak_mib:.1f} MiB  {mark(peak_ok)}",
    ]
    cli = next((m for m in rows if m.tool.startswith("npx")), None)
    for cdk in (m for m in rows if m.tool.startswith(("cdk", "npx"))):
        if cdk is cli and ours.median_wall_s > 0:  # `cdk synth`, the command the target names
            speedup = cdk.median_wall_s / ours.median_wall_s
            lines.append(f"target >= {TARGET_SPEEDUP:.0f}x vs {cdk.tool} (every shipped config): {speedup:.1f}x  "
                         f"{mark(speedup >= TARGET_SPEEDUP)}")
        if same is not None and same.median_wall_s > 0:
            lines.append(f"(for reference, secure-api alone vs {cdk.tool}: "
                         f"{cdk.median_wall_s / same.median_wall_s:.1f}x)")
    large = next((m for m in rows if m.tool == LARGE_ROW), None)
    if large is not None:
        lines.append(f"target large config <= {TARGET_LARGE_WALL_S:.1f} s : {large.median_wall_s:.3f} s   "
                     f"{mark(large.median_wall_s <= TARGET_LARGE_WALL_S)}")
    for row in (m for m in rows if m.tool in LOOP_ROWS):
        if cli is None:
            lines.append(f"({row.tool}: {row.median_wall_s:.3f} s; no `cdk synth` row to compare with)")
            continue
        limit = cli.median_wall_s * TARGET_LOOP_SHARE
        lines.append(f"target {row.tool} <= cdk synth / {1 / TARGET_LOOP_SHARE:.0f} ({limit:.2f} s): "
                     f"{row.median_wall_s:.3f} s  {mark(row.median_wall_s <= limit)}")
    return lines


# --------------------------------------------------------------------------------------------
# Running and measuring child processes.
# --------------------------------------------------------------------------------------------

# A command factory gets a fresh, not yet existing output folder and returns (argv, cwd, env).
CommandFactory = Callable[[Path], tuple[list[str], Path, dict[str, str]]]


def tail(path: Path, chars: int = LOG_TAIL_CHARS) -> str:
    """The last `chars` characters of a log file, for error messages."""
    text = path.read_text(errors="replace")
    return text[-chars:].strip()


def run_once(argv: list[str], cwd: Path, env: dict[str, str], log_path: Path) -> Sample:
    """Run one child to completion; return its wall time and peak RSS.

    os.wait4 reaps the child itself because it is the only call that returns that one child's
    rusage (ru_maxrss is the largest RSS of the child and of any descendant it waited for).
    Output goes to a file rather than a pipe so that a chatty child never blocks on a full pipe.
    """
    with open(log_path, "wb") as log:
        start = time.perf_counter()
        try:
            proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT)
        except OSError as exc:
            raise BenchError(f"cannot start {argv[0]}: {exc}") from exc
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    # Already reaped: tell Popen so that it never waits for the pid again.
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise BenchError(f"`{shlex.join(argv)}` exited {proc.returncode}:\n{tail(log_path)}")
    return Sample(wall_s=wall, maxrss_kib=usage.ru_maxrss)


def measure(tool: str, factory: CommandFactory, runs: int, workdir: Path) -> Measurement:
    """One warm-up run (page cache, bytecode caches), then `runs` timed runs, each in a new folder."""
    result = Measurement(tool)
    for i in range(runs + 1):
        run_dir = Path(tempfile.mkdtemp(prefix=f"run{i}-", dir=workdir))
        argv, cwd, env = factory(run_dir / "out")
        sample = run_once(argv, cwd, env, run_dir / "log.txt")
        if i > 0:
            result.samples.append(sample)
        shutil.rmtree(run_dir, ignore_errors=True)  # keep /tmp small between runs
    return result


# --------------------------------------------------------------------------------------------
# Our side.
# --------------------------------------------------------------------------------------------

def ours_factory(python: str, override: str | None, configs: Sequence[str] = ()) -> CommandFactory:
    """`python generate.py templates [--config C]... --out DIR` from the repository root.

    `override` (hidden option --ours-cmd) is a stand-in command line with `{out}` for the folder,
    to try the timing code before generate.py exists; it is never committed anywhere.
    """
    def factory(out: Path) -> tuple[list[str], Path, dict[str, str]]:
        if override:
            argv = [arg.replace("{out}", str(out)) for arg in shlex.split(override)]
        else:
            argv = [python, "generate.py", "templates", *[a for c in configs for a in ("--config", c)],
                    "--out", str(out)]
        return argv, REPO, dict(os.environ)
    return factory


LARGE_ROW = "ours, large config (201 functions, 400 routes)"
LOOP_ROWS = ("make templates, unchanged tree", "make templates, one new route")


def shell_factory(script: Callable[[Path], str]) -> CommandFactory:
    """`sh -c SCRIPT` from the repository root, SCRIPT built for each run's fresh folder."""
    def factory(out: Path) -> tuple[list[str], Path, dict[str, str]]:
        return ["sh", "-c", script(out)], REPO, dict(os.environ)
    return factory


def lint_factory(python: str, targets: Sequence[Path], cache: Path | None) -> CommandFactory:
    """`generate.py lint TARGET...` with a cache folder (warmed by the warm-up run) or without one."""
    flags = ["--cache-dir", str(cache)] if cache else ["--no-cache"]
    return lambda out: ([python, "generate.py", "lint", *map(str, targets), *flags], REPO, dict(os.environ))


def loop_factories(python: str, workdir: Path) -> dict[str, CommandFactory]:
    """What `make templates` runs (generate every shipped config, then lint with the cache), on an
    unchanged tree and after adding one route. Each run of the second adds a route no earlier
    run added, so its changed templates are never in the cache yet."""
    py = shlex.quote(python)
    cache = workdir / "loop-cache"
    shipped = sorted(str(p.relative_to(REPO)) for p in (REPO / "config").glob("*.toml"))
    edited = workdir / "edited"
    edited.mkdir()
    for path in shipped:
        shutil.copy(REPO / path, edited / Path(path).name)
        lock = (REPO / path).with_name(Path(path).stem + ".lock.json")
        if lock.is_file():
            shutil.copy(lock, edited / lock.name)
    counter = iter(range(10_000))

    def unchanged(out: Path) -> str:
        configs = " ".join(f"--config {shlex.quote(c)}" for c in shipped)
        return (f"{py} generate.py templates {configs} --out {shlex.quote(str(out))} && "
                f"{py} generate.py lint {shlex.quote(str(out))} --cache-dir {shlex.quote(str(cache))}")

    def new_route(out: Path) -> str:
        catalog = edited / "catalog-api.toml"
        with catalog.open("a") as fh:
            fh.write(f'\n[[api.routes]]\nmethod = "GET"\npath = "/bench{next(counter)}"\nfunction = "users"\n')
        configs = " ".join(f"--config {shlex.quote(str(edited / Path(c).name))}" for c in shipped)
        return (f"{py} generate.py templates {configs} --out {shlex.quote(str(out))} && "
                f"{py} generate.py lint {shlex.quote(str(out))} --cache-dir {shlex.quote(str(cache))}")

    return {LOOP_ROWS[0]: shell_factory(unchanged), LOOP_ROWS[1]: shell_factory(new_route)}


BUILD_CACHE_ENV = "SERVERLESS_INFRA_BUILD_CACHE"
DEPS_EXAMPLE = "tests/fixtures/deps/deps.toml"


def build_factory(python: str, configs: Sequence[str], cache: Path | None, *,
                  empty_downloads: bool = False) -> CommandFactory:
    """`generate.py templates` with the build cache at `cache` (warm: the warm-up filled it), or
    in each run's fresh folder (cold); `empty_downloads`: uv's and npm's download caches too."""
    def factory(out: Path) -> tuple[list[str], Path, dict[str, str]]:
        env = dict(os.environ)
        env[BUILD_CACHE_ENV] = str(cache or out.parent / "build-cache")
        if empty_downloads:
            env["UV_CACHE_DIR"], env["npm_config_cache"] = str(out.parent / "uv"), str(out.parent / "npm")
        argv = [python, "generate.py", "templates", *[a for c in configs for a in ("--config", c)], "--out", str(out)]
        return argv, REPO, env
    return factory


def measure_builds(args: argparse.Namespace, workdir: Path, notes: list[str]) -> list[Measurement]:
    """Generation with the functions' builds: cold (empty build cache) and warm (every function a
    cache hit), for the shipped configs, the large config and the example functions with
    dependencies (pydantic for x86_64 and arm64, a shared layer, zod bundled by esbuild)."""
    python = sys.executable
    shipped = sorted(str(p.relative_to(REPO)) for p in (REPO / "config").glob("*.toml"))
    example = workdir / "deps.toml"   # a copy: generating writes a lock file beside the config
    shutil.copy(REPO / DEPS_EXAMPLE, example)
    sets = {"shipped configs": shipped, "large config": [LARGE_CONFIG], "deps example": [str(example)]}
    rows = []
    for name, configs in sets.items():
        runs = max(1, min(args.runs, 3)) if name != "shipped configs" else args.runs
        rows.append(measure(f"build {name}, cold", build_factory(python, configs, None), runs, workdir))
        rows.append(measure(f"build {name}, warm", build_factory(python, configs, workdir / f"warm-{len(rows)}"),
                            args.runs, workdir))
    rows.append(measure("build deps example, cold, empty download caches",
                        build_factory(python, [str(example)], None, empty_downloads=True),
                        max(1, min(args.runs, 3)), workdir))
    notes.append("build rows: `generate.py templates` with the functions' builds; cold = an empty build cache "
                 "(.cache/build), downloads from uv's and npm's own caches; warm = every function a cache hit; "
                 f"the deps example is {DEPS_EXAMPLE} (pydantic on x86_64 and arm64, a shared layer, zod)")
    return rows


def layout(python: str, configs: Sequence[str], workdir: Path) -> list[str]:
    """'<config>: N stacks, M resources' for each config, from one untimed generation."""
    out = workdir / "layout"
    args = [a for c in configs for a in ("--config", c)]
    proc = subprocess.run([python, "generate.py", "templates", *args, "--out", str(out)], cwd=REPO,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise BenchError(f"generate.py templates failed:\n{proc.stdout}{proc.stderr}")
    return [line.strip() for line in proc.stdout.splitlines() if "stacks" in line]


def count_outputs(factory: CommandFactory, workdir: Path) -> int:
    """Run our side once more, untimed, and count the files it wrote.

    A generator that exits 0 yet writes nothing would meet every target, so the table says how
    much it wrote.
    """
    run_dir = Path(tempfile.mkdtemp(prefix="count-", dir=workdir))
    argv, cwd, env = factory(run_dir / "out")
    run_once(argv, cwd, env, run_dir / "log.txt")
    out = run_dir / "out"
    return sum(1 for p in out.rglob("*") if p.is_file()) if out.is_dir() else 0


# --------------------------------------------------------------------------------------------
# CDK side: node_modules, the extracted app, the two commands.
# --------------------------------------------------------------------------------------------

def node_major(node: str) -> int:
    """The major version of `node` (e.g. 20 for v20.20.2)."""
    out = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout
    return int(out.strip().lstrip("v").split(".")[0])


def ensure_node_modules(npm: str, notes: list[str]) -> None:
    """`npm ci` in bench/cdk when node_modules is missing or older than package-lock.json.

    The stamp inside node_modules holds the digest of package.json and the lock file, so that a
    changed pin reinstalls and deleting node_modules removes the stamp along with it.
    """
    want = digest((CDK_DIR / "package.json").read_bytes(),
                  (CDK_DIR / "package-lock.json").read_bytes())
    if NPM_STAMP.is_file() and NPM_STAMP.read_text().strip() == want:
        return
    print("bench: npm ci in bench/cdk (node_modules missing or stale) ...", flush=True)
    start = time.perf_counter()
    proc = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                          cwd=CDK_DIR, capture_output=True, text=True)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr)[-LOG_TAIL_CHARS:]
        raise BenchError(f"npm ci failed ({proc.returncode}):\n{output}")
    NPM_STAMP.write_text(want + "\n")
    notes.append(f"npm ci took {took:.1f} s (runs only when bench/cdk/node_modules is missing or stale)")


def prepare_app(seed: Path, node: str, notes: list[str]) -> None:
    """Extract the seed's TypeScript into build/app.ts and compile it to build/app.js.

    tsc runs only when the source, tsconfig.json or the pinned packages changed: compiling is
    outside what `cdk synth` itself costs once the app is built, so it is reported, not timed.
    """
    source = extract_typescript_block(seed.read_text())
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    (BUILD_DIR / "app.ts").write_text(source)
    (BUILD_DIR / "cdk.context.json").write_text(json.dumps(AZ_CONTEXT, indent=2) + "\n")
    want = digest(source.encode(), (CDK_DIR / "tsconfig.json").read_bytes(),
                  (CDK_DIR / "package-lock.json").read_bytes())
    stamp = BUILD_STAMP.read_text().strip() if BUILD_STAMP.is_file() else ""
    if (BUILD_DIR / "app.js").is_file() and stamp == want:
        notes.append("tsc: build/app.js is up to date (not recompiled)")
        return
    tsc = NODE_MODULES / "typescript" / "bin" / "tsc"
    start = time.perf_counter()
    proc = subprocess.run([node, str(tsc), "-p", str(CDK_DIR / "tsconfig.json")],
                          cwd=CDK_DIR, capture_output=True, text=True)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr)[-LOG_TAIL_CHARS:]
        raise BenchError(f"tsc failed ({proc.returncode}):\n{output}")
    BUILD_STAMP.write_text(want + "\n")
    notes.append(f"tsc compile of the seed took {took:.1f} s, once, outside the timing "
                 "(a ts-node `cdk synth` pays it on every run)")


def cdk_env(base: dict[str, str]) -> dict[str, str]:
    """The environment for both CDK commands: a fixed account/region, no credentials, no phoning home.

    Shared credentials and config files point at /dev/null and AWS_* variables are dropped, so a
    run that worked proves that synth needs no credentials.
    """
    env = {k: v for k, v in base.items() if not k.startswith("AWS_")}
    env.update({
        "CDK_DEFAULT_ACCOUNT": ACCOUNT,
        "CDK_DEFAULT_REGION": REGION,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",  # no probe of the instance metadata service
        "CDK_DISABLE_CLI_TELEMETRY": "true",  # the CLI would otherwise post telemetry after synth
        "CDK_DISABLE_VERSION_CHECK": "1",  # the CLI's "newer version available" check
    })
    return env


def synth_factory(node: str) -> CommandFactory:
    """`node build/app.js` with CDK_OUTDIR set: the synthesis that `cdk synth` runs after compiling.

    CDK_CONTEXT_JSON is how the CLI hands context to the app, so this synthesises the same stack.
    """
    def factory(out: Path) -> tuple[list[str], Path, dict[str, str]]:
        env = cdk_env(dict(os.environ))
        env["CDK_OUTDIR"] = str(out)
        env["CDK_CONTEXT_JSON"] = json.dumps(AZ_CONTEXT)
        return [node, "app.js"], BUILD_DIR, env
    return factory


def network_isolation() -> list[str]:
    """A command prefix that runs its command in an empty network namespace, or [] if none works.

    In there any attempt of the CLI to reach the network fails at once instead of going out.
    """
    if not shutil.which("unshare"):
        return []
    for prefix in (["unshare", "--net"], ["unshare", "--map-root-user", "--net"]):
        if subprocess.run([*prefix, "true"], capture_output=True).returncode == 0:
            return prefix
    return []


def cli_factory(npx: str, node: str, isolation: list[str]) -> CommandFactory:
    """`npx cdk synth` on the compiled app, from build/ (where cdk.context.json is).

    --offline keeps npx from asking the registry, --no from installing anything, --no-notices
    from fetching the CDK notices.
    """
    def factory(out: Path) -> tuple[list[str], Path, dict[str, str]]:
        argv = [*isolation, npx, "--offline", "--no", "cdk", "synth",
                "--app", f"{shlex.quote(node)} app.js", "--output", str(out), "--no-notices"]
        return argv, BUILD_DIR, cdk_env(dict(os.environ))
    return factory


def package_versions() -> str:
    """The pinned versions that were measured, from package-lock.json."""
    lock = json.loads((CDK_DIR / "package-lock.json").read_text())["packages"]
    names = ("aws-cdk-lib", "aws-cdk", "constructs", "typescript")
    return ", ".join(f"{n} {lock[f'node_modules/{n}']['version']}"
                     for n in names if f"node_modules/{n}" in lock)


def prepare_cdk(seed: Path, notes: list[str]) -> tuple[str, str] | None:
    """Check the tools, install node_modules and build the app; (node, npx), or None with a note."""
    node, npm, npx = shutil.which("node"), shutil.which("npm"), shutil.which("npx")
    if not (node and npm and npx):
        notes.append("CDK side skipped: node, npm or npx is not on PATH")
        return None
    if not seed.is_file():
        notes.append(f"CDK side skipped: seed not found at {seed}")
        return None
    try:
        major = node_major(node)
        if major < MIN_NODE_MAJOR:
            notes.append(f"CDK side skipped: node {major} is older than aws-cdk-lib's {MIN_NODE_MAJOR}")
            return None
        ensure_node_modules(npm, notes)
        prepare_app(seed, node, notes)
    except (BenchError, ValueError, OSError, subprocess.SubprocessError) as exc:
        notes.append(f"CDK side skipped: {exc}")
        return None
    notes.append(f"CDK versions: node {major}, {package_versions()}")
    return node, npx


def measure_cli(npx: str, node: str, runs: int, workdir: Path, notes: list[str]) -> Measurement | None:
    """The `npx cdk synth` row, isolated from the network where this machine allows it.

    A failure there is reported as a note: it means the CLI wanted the network (or credentials).
    """
    isolation = network_isolation()
    try:
        row = measure("npx cdk synth (CLI, offline)", cli_factory(npx, node, isolation), runs, workdir)
    except BenchError as exc:
        why = " in an empty network namespace, so it probably tried the network" if isolation else ""
        notes.append(f"`npx cdk synth` skipped: it failed{why}\n{exc}")
        return None
    if isolation:
        notes.append("`npx cdk synth` ran in an empty network namespace (unshare --net): "
                     "it needed no network")
    else:
        notes.append("`npx cdk synth` ran without network isolation (unshare unavailable); "
                     "its telemetry, notices and version check were switched off")
    notes.append("peak MiB is the largest single process: the CLI's own node (~200 MiB) runs beside "
                 "the app's, so the CLI's process tree holds more at once")
    return row


def measure_cdk(args: argparse.Namespace, workdir: Path, notes: list[str]) -> list[Measurement]:
    """The CDK rows, or fewer with a note saying why; a CDK-side problem never fails the bench."""
    tools = prepare_cdk(args.seed, notes)
    if tools is None:
        return []
    node, npx = tools
    try:
        rows = [measure("cdk app synth (node build/app.js)", synth_factory(node), args.runs, workdir)]
    except BenchError as exc:
        notes.append(f"CDK side skipped: {exc}")
        return []
    if not args.no_cli:
        cli = measure_cli(npx, node, args.runs, workdir, notes)
        rows.extend([cli] if cli else [])
    return rows


# --------------------------------------------------------------------------------------------
# Command line.
# --------------------------------------------------------------------------------------------

def measure_scale(args: argparse.Namespace, workdir: Path, notes: list[str]) -> list[Measurement]:
    """The large config's generation, lint cold and cached (shipped and large), and the
    everyday `make templates` loop."""
    python = sys.executable
    rows = [measure(LARGE_ROW, ours_factory(python, None, [LARGE_CONFIG]), args.runs, workdir)]
    shipped = sorted(str(p.relative_to(REPO)) for p in (REPO / "config").glob("*.toml"))
    for line in layout(python, [*shipped, LARGE_CONFIG], workdir):
        notes.append(f"layout: {line}")
    targets = {"shipped": [workdir / "layout" / Path(c).stem for c in shipped],
               "large": [workdir / "layout" / Path(LARGE_CONFIG).stem]}
    slow_runs = max(1, min(args.runs, 2))  # a cold lint of the large config takes tens of seconds
    for name, target in targets.items():
        runs = slow_runs if name == "large" else args.runs
        cold = measure(f"lint {name}, cold (no cache)", lint_factory(python, target, None), runs, workdir)
        cached = measure(f"lint {name}, cached", lint_factory(python, target, workdir / f"cache-{name}"),
                         args.runs, workdir)
        rows += [cold, cached]
    for tool, factory in loop_factories(python, workdir).items():
        rows.append(measure(tool, factory, args.runs, workdir))
    return rows


def fast_loop(runs: int) -> None:
    """The fast-loop section (bench/sync_bench.py), printed after the generation table; a failure
    there is printed, never fatal to the rest of the bench."""
    print("\nfast loop (sync and watch on the emulator; bench/sync_bench.py):", flush=True)
    sys.path.insert(0, str(REPO))
    try:
        from bench import sync_bench

        for line in sync_bench.main(min(runs, 3)):
            print(line)
    except Exception as exc:  # noqa: BLE001  (reported, not fatal)
        print(f"fast loop FAILED: {type(exc).__name__}: {exc}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5,
                        help="timed runs per command, after one warm-up (default 5)")
    parser.add_argument("--seed", type=Path, default=DEFAULT_SEED, help="seed file with the CDK app")
    parser.add_argument("--no-cdk", action="store_true", help="measure our side only")
    parser.add_argument("--no-cli", action="store_true", help="skip the `npx cdk synth` row")
    parser.add_argument("--no-sync", action="store_true", help="skip the fast loop (sync, watch; bench/sync_bench.py)")
    # A stand-in for our command while generate.py is being written; "{out}" is the output folder.
    parser.add_argument("--ours-cmd", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # The warm-up run fills the bytecode caches, as every run on a user's machine after the first
    # finds them: a shell that forbids writing them would time compiling our modules on every run.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    notes: list[str] = []
    rows: list[Measurement] = []
    ours: Measurement | None = None
    same: Measurement | None = None
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        workdir = Path(tmp)
        factory = ours_factory(sys.executable, args.ours_cmd)
        try:
            ours = measure("ours, every shipped config", factory, args.runs, workdir)
            notes.insert(0, f"files written by ours (every shipped config): {count_outputs(factory, workdir)}")
            if not args.ours_cmd:
                # The same system as seed 000, the fair unit of comparison with its cdk synth.
                same = measure("ours, secure-api (the seed 000 system)",
                               ours_factory(sys.executable, None, [SAME_SYSTEM_CONFIG]), args.runs, workdir)
                rows.append(same)
            rows.append(ours)
            if not args.ours_cmd:
                rows += measure_scale(args, workdir, notes)
                rows += measure_builds(args, workdir, notes)
        except BenchError as exc:
            print(f"bench: OUR SIDE FAILED: {exc}", file=sys.stderr, flush=True)
        if not args.no_cdk:
            rows.extend(measure_cdk(args, workdir, notes))

    print(f"\nbench: {args.runs} timed runs per command after one warm-up, {os.cpu_count()} CPUs\n")
    if rows:
        print(format_table(rows, same or ours))
        print()
    if ours is not None:
        print("\n".join(target_lines(ours, same, rows)))
    print(f"reference: {REFERENCE_CDK}")
    for note in notes:
        print(f"note: {note}")
    if not args.no_sync and not args.ours_cmd:
        fast_loop(args.runs)
    if ours is None:
        print("bench: FAILED: our side did not run (see the error above)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
