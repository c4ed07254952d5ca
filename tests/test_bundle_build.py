"""Functions with dependencies, built for real (uv and npm reach PyPI and the npm registry):
the example functions of tests/fixtures/deps/ (pydantic, with its compiled pydantic-core, and
zod) built for python3.14 on x86_64 and arm64 and for nodejs24.x, checked in the zips
themselves; reproducible across clones; cached; and what happens when a wheel is missing or
the index cannot be reached. The session shares one download cache (tests/conftest.py)."""
from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from infra.bundle import tools
from infra.bundle.build import assets, build_code
from infra.bundle.cache import Cache
from infra.config import load_config, parse_config
from infra.errors import UserError

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "deps"
CONFIG = FIXTURES / "deps.toml"
EM_X86_64, EM_AARCH64 = 62, 183  # ELF e_machine


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    said: list[str] = []
    cache = Cache(tmp_path_factory.mktemp("build-cache"))
    codes = build_code(load_config(CONFIG), said.append, cache)
    return codes, cache, said


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def e_machine(elf: bytes) -> int:
    assert elf[:4] == b"\x7fELF" and elf[5] == 1  # little-endian
    return int.from_bytes(elf[18:20], "little")


@pytest.mark.parametrize("function, machine, e_mach", [("py", "x86_64", EM_X86_64), ("py-arm", "aarch64", EM_AARCH64)])
def test_the_zip_holds_the_cp314_extension_for_its_architecture(built, function, machine, e_mach):
    codes, _, _ = built
    files = members(codes[function].asset.data)
    extensions = sorted(n for n in files if n.endswith(".so"))
    assert extensions == [f"pydantic_core/_pydantic_core.cpython-314-{machine}-linux-gnu.so"]
    assert e_machine(files[extensions[0]]) == e_mach
    assert not [n for n in files if "cpython-311" in n or n.endswith(".pyc") or n.startswith("bin/")]
    assert "app.py" in files and "pydantic/__init__.py" in files and "pydantic_core-2.50.4.dist-info/METADATA" in files
    assert not [n for n in files if n.endswith(("/RECORD", "/INSTALLER", "/direct_url.json"))]
    for name, data in files.items():  # nothing names a folder of this machine
        assert b"/tmp/" not in data and str(REPO).encode() not in data, name


def test_a_shared_layer_holds_the_uv_locked_dependencies_for_arm64(built):
    codes, _, _ = built
    orders, invoices = codes["orders"], codes["invoices"]
    assert orders.layer is not None and orders.layer == invoices.layer
    assert sorted(members(orders.asset.data)) == ["app.py", "pyproject.toml", "uv.lock"]
    layer = members(orders.layer.asset.data)
    (so,) = [n for n in layer if n.endswith(".so")]
    assert so == "python/pydantic_core/_pydantic_core.cpython-314-aarch64-linux-gnu.so"
    assert e_machine(layer[so]) == EM_AARCH64
    assert not [n for n in layer if n.startswith(("python/_pytest", "python/pytest"))]  # dev group


def test_the_node_zip_runs_alone_with_no_node_modules_and_no_network(built, tmp_path):
    codes, _, _ = built
    files = members(codes["js"].asset.data)
    assert sorted(files) == ["index.mjs", "index.mjs.map"]   # source_map = true
    # node_modules is a link to the build cache's tree; the map names it as if it were installed in place.
    sources = json.loads(files["index.mjs.map"])["sources"]
    assert "../index.mjs" in sources and all(s == "../index.mjs" or s.startswith("../node_modules/zod/") for s in sources)
    assert b"from \"zod\"" not in files["index.mjs"] and b"ZodError" in files["index.mjs"]
    with zipfile.ZipFile(io.BytesIO(codes["js"].asset.data)) as zf:
        zf.extractall(tmp_path)
    script = ("import('./index.mjs').then(async (m) => { const ok = await m.handler({name: 'pen', price: 2}); "
              "let bad; try { await m.handler({name: '', price: -1}); } catch (e) { bad = e.name; } "
              "console.log(JSON.stringify({ok, bad})); })")
    from bench.run import network_isolation

    proc = subprocess.run([*network_isolation(), "node", "-e", script], cwd=tmp_path, capture_output=True, text=True,
                          env={"PATH": os.environ["PATH"]}, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    assert answer["ok"]["item"] == {"name": "pen", "price": 2} and answer["bad"] == "ZodError"
    assert not (tmp_path / "node_modules").exists()


def test_a_second_build_of_an_unchanged_tree_is_a_cache_hit(built, monkeypatch):
    codes, cache, said = built
    assert len(said) == 5  # py, py-arm, the shared layer once; js: npm ci, esbuild
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail(f"ran {a[0]}"))  # tools.run calls it
    again: list[str] = []
    rebuilt = build_code(load_config(CONFIG), again.append, cache)
    assert again == [] and {n: c.asset for n, c in rebuilt.items()} == {n: c.asset for n, c in codes.items()}


def test_a_change_to_the_code_alone_bundles_again_without_installing(built, tmp_path, monkeypatch):
    # npm ci is most of a rebuild's time (sync, watch): the installed tree is kept per lockfile.
    _, cache, _ = built
    node = {f"f/{p.name}": p.read_text() for p in (FIXTURES / "node-zod").iterdir()}
    functions = '[functions.f]\nruntime = "nodejs24.x"\nsource = "f"\nhandler = "index.handler"\n'
    first = build_code(project(tmp_path, node, functions), cache=cache)["f"]
    ran: list[str] = []
    real_run = subprocess.run
    monkeypatch.setattr(subprocess, "run", lambda argv, **k: ran.append(Path(argv[0]).name) or real_run(argv, **k))
    with (tmp_path / "f" / "index.mjs").open("a") as fh:
        fh.write("\nexport const saved = 1;\n")
    said: list[str] = []
    second = build_code(project(tmp_path, node | {"f/index.mjs": (tmp_path / "f" / "index.mjs").read_text()},
                                functions), said.append, cache)["f"]
    assert ran == ["esbuild"] and [line for line in said if "npm ci" in line] == []
    assert second.asset.key != first.asset.key and b"saved = 1" in members(second.asset.data)["index.mjs"]


def test_two_clones_with_other_file_times_build_the_same_bytes(built, tmp_path):
    codes, _, _ = built
    keys = []
    for i, when in enumerate((946_684_800, 1_767_225_600)):
        clone = tmp_path / f"clone{i}"
        shutil.copytree(FIXTURES, clone / "tests" / "fixtures" / "deps")
        for path in clone.rglob("*"):
            os.utime(path, (when, when))
        cfg = load_config(clone / "tests" / "fixtures" / "deps" / "deps.toml", root=clone)
        keys.append({a.key: a.data for a in assets(build_code(cfg, cache=Cache(tmp_path / f"cache{i}")))})
    assert keys[0] == keys[1]
    assert set(keys[0]) == {a.key for a in assets(codes)}   # and the same as the repository's own build


def project(tmp_path: Path, files: dict[str, str], functions: str):
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    import tomllib

    raw = tomllib.loads('[project]\nname = "demo"\nstage = "dev"\nregion = "us-east-1"\n' + functions)
    return parse_config(raw, "demo.toml", "demo", tmp_path)


def test_a_dependency_without_a_wheel_for_the_target_is_one_clear_error(tmp_path):
    # numpy 1.26 publishes no wheel for CPython 3.14, and nothing is compiled here.
    cfg = project(tmp_path, {"f/app.py": "import numpy\n", "f/requirements.txt": "numpy==1.26.4\n"},
                  '[functions.f]\nruntime = "python3.14"\nsource = "f"\nhandler = "app.handler"\narchitecture = "arm64"\n')
    with pytest.raises(UserError) as failed:
        build_code(cfg, cache=Cache(tmp_path / "cache"))
    message = str(failed.value)
    assert failed.value.exit_code == 2
    assert message.startswith("functions.f (f): numpy has no wheel for python3.14 arm64 (cp314, aarch64-manylinux_2_34)")
    assert "Fix: pin a version of numpy" in message and "\n" not in message


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "generate.py", *args], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=300, check=False)


@pytest.mark.parametrize("kind", ["python", "node"])
def test_an_unreachable_index_is_one_line_never_a_traceback(tmp_path, kind):
    tools.esbuild_binary()  # the bundler is installed already; the function's own install is what fails
    index = f"http://127.0.0.1:{closed_port()}"
    if kind == "python":
        files = {"f/app.py": "", "f/requirements.txt": "six==1.17.0\n"}
        fn = 'runtime = "python3.14"\nhandler = "app.handler"'
    else:
        files = {"f/index.mjs": "export const handler = async () => 1;\n",
                 "f/package.json": json.dumps({"dependencies": {"zod": "4.6.7"}}),
                 "f/package-lock.json": (FIXTURES / "node-zod" / "package-lock.json").read_text()}
        fn = 'runtime = "nodejs24.x"\nhandler = "index.handler"'
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    config = tmp_path / "demo.toml"
    config.write_text(f'[project]\nname = "demo"\nstage = "dev"\nregion = "us-east-1"\n'
                      f'[functions.f]\nsource = "{tmp_path / "f"}"\n{fn}\n')
    env = {"SERVERLESS_INFRA_BUILD_CACHE": str(tmp_path / "build"), "UV_CACHE_DIR": str(tmp_path / "uv"),
           "UV_DEFAULT_INDEX": f"{index}/simple", "UV_INDEX_URL": f"{index}/simple", "UV_HTTP_RETRIES": "0",
           "npm_config_cache": str(tmp_path / "npm"),
           "npm_config_registry": f"{index}/", "npm_config_fetch_retries": "0"}
    proc = run_cli("templates", "--config", str(config), "--out", str(tmp_path / "out"), env=env)
    assert proc.returncode == 1, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "the package index cannot be reached" in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "out").exists()


def test_the_example_stage_with_dependencies_and_a_layer_is_lint_clean(tmp_path):
    from infra.build import build_configs
    from infra.lint import lint

    config = tmp_path / "deps.toml"   # a copy: generating writes the lock file beside the config
    shutil.copy(CONFIG, config)
    (out,) = build_configs([config], tmp_path / "out")
    assert {p.name for p in out.glob("*.json")} >= {"root.json", "layers.json", "compute.json"}
    assert lint([out]) == []


def test_a_lockfile_out_of_step_with_package_json_is_the_users_to_fix(tmp_path):
    manifest = json.loads((FIXTURES / "node-zod" / "package.json").read_text())
    manifest["dependencies"]["nanoid"] = "5.0.0"   # declared, never locked
    cfg = project(tmp_path, {"f/index.mjs": (FIXTURES / "node-zod" / "index.mjs").read_text(),
                             "f/package.json": json.dumps(manifest),
                             "f/package-lock.json": (FIXTURES / "node-zod" / "package-lock.json").read_text()},
                  '[functions.f]\nruntime = "nodejs24.x"\nsource = "f"\nhandler = "index.handler"\n')
    with pytest.raises(UserError) as failed:
        build_code(cfg, cache=Cache(tmp_path / "cache"))
    assert failed.value.exit_code == 2 and "package.json and package-lock.json disagree" in str(failed.value)


def test_the_jwt_authorizer_ships_aws_jwt_verify_in_its_bundle_and_runs_alone(tmp_path):
    # Issue 14: our own authorizer verifies with aws-jwt-verify through this bundling. Its zip,
    # unpacked alone (no node_modules, no network), loads and answers 401 to hostile tokens.
    from test_security_hardening import JWT_CONFIG

    import tomllib

    cfg = parse_config(tomllib.loads(JWT_CONFIG), str(REPO / "config" / "jwt.toml"), "jwt", root=REPO)
    code = build_code(cfg, cache=Cache(tmp_path / "cache"))["authorizer"]
    files = members(code.asset.data)
    assert sorted(files) == ["index.mjs"]
    bundle = files["index.mjs"].decode()
    assert "aws-jwt-verify" in bundle and 'from "aws-jwt-verify' not in bundle  # inlined, not imported
    (tmp_path / "fn").mkdir()
    (tmp_path / "fn" / "index.mjs").write_text(bundle)
    null_header = "bnVsbA.bnVsbA.c2ln"   # base64url("null") . base64url("null") . signature
    script = ("import('./index.mjs').then(async (m) => { const out = []; "
              f"for (const token of ['garbage', '{null_header}']) {{ "
              "try { await m.handler({type: 'REQUEST', headers: {Authorization: `Bearer ${token}`}, "
              "methodArn: 'arn:aws:execute-api:eu-west-1:123456789012:abc123/dev/GET/orders'}); out.push('allowed'); } "
              "catch (e) { out.push(e.message); } } console.log(JSON.stringify(out)); })")
    from bench.run import network_isolation

    env = {"PATH": os.environ["PATH"], "JWT_ISSUER": "https://login.example.com/", "JWT_AUDIENCE": "web",
           "JWT_JWKS_URL": "https://login.example.com/.well-known/jwks.json", "JWT_SCOPED_ROUTES": "[]"}
    proc = subprocess.run([*network_isolation(), "node", "-e", script], cwd=tmp_path / "fn", capture_output=True,
                          text=True, env=env, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == ["Unauthorized", "Unauthorized"]
