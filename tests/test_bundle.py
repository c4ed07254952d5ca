"""Functions with dependencies, offline: what a source folder declares, how the options are
validated, what the build keeps out of a zip, when the cache may answer, Lambda's size limits,
and the templates (architecture, shared layers). The installers are replaced by a fake that
writes what a real install writes; tests/test_bundle_build.py runs the real ones."""
from __future__ import annotations

import io
import json
import sys
import zipfile
from pathlib import Path

import pytest

from infra.assets import Asset, build_asset
from infra.bundle import build as bundle_build
from infra.bundle import install_errors
from infra.bundle import python as bpython
from infra.bundle import tools as btools
from infra.bundle.build import Code, Layer, build_code, dependency_entries
from infra.bundle.cache import Cache
from infra.bundle.limits import MAX_UNZIPPED
from infra.bundle.recipe import RecipeError, detect
from infra.config import parse_config
from infra.errors import ConfigError, UserError

REPO = Path(__file__).resolve().parents[1]

HASH = "sha256:" + "0" * 64


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


# -- what a source folder declares -----------------------------------------------------------

def test_no_declaration_or_an_empty_one_means_no_dependencies(tmp_path):
    assert detect(write(tmp_path / "a", {"app.py": ""}), "python3.14") is None
    assert detect(write(tmp_path / "b", {"app.py": "", "requirements.txt": "# nothing yet\n\n"}), "python3.14") is None
    assert detect(write(tmp_path / "c", {"index.mjs": "", "package.json": json.dumps(
        {"devDependencies": {"@aws-sdk/client-dynamodb": "3.0.0"}})}), "nodejs24.x") is None
    # tool settings only, no [project] dependencies
    assert detect(write(tmp_path / "d", {"app.py": "", "pyproject.toml": "[tool.ruff]\nline-length = 100\n"}),
                  "python3.14") is None


def test_requirements_with_hashes_are_installed_with_require_hashes(tmp_path):
    src = write(tmp_path / "f", {"requirements.txt": f"pydantic==2.14.3 \\\n    --hash={HASH}\n"})
    recipe = detect(src, "python3.14")
    assert recipe.kind == "requirements" and recipe.hashed
    req, flags = bpython.requirements(recipe, tmp_path, "functions.f")
    assert req == src / "requirements.txt" and flags == ["--require-hashes"]
    plain = detect(write(tmp_path / "g", {"requirements.txt": "pydantic==2.14.3  # pinned\n"}), "python3.14")
    assert not plain.hashed and bpython.requirements(plain, tmp_path, "functions.g")[1] == []


@pytest.mark.parametrize("line, words", [
    ("-r base.txt", "includes another file"),
    ("--constraint c.txt", "includes another file"),
    ("-e .", "includes another file"),
    ("./vendor/pkg", "local path"),
    ("file:///wheels/x.whl", "local path"),
    ("-rbase.txt", "includes another file"),                       # pip's attached form
    ("six @ file:///tmp/wh/six-1.17.0-py2.py3-none-any.whl", "local path"),
    ("dist/six-1.17.0-py2.py3-none-any.whl", "local path"),
    ("--find-links /tmp/wh", "local path"),
    ("-f./wheels", "local path"),
    ("--no-index", "local path"),
    ("--extra-index-url file:///srv/index", "local path"),
    ("localpkg @ ./localpkg", "local path"),
    ("foo @ ../foo-1.0-py3-none-any.whl", "local path"),
    ("libs/localpkg", "local path"),
    ("localpkg/", "local path"),
])
def test_a_requirements_file_must_say_everything_itself(tmp_path, line, words):
    with pytest.raises(RecipeError, match=words):
        detect(write(tmp_path, {"requirements.txt": f"pydantic==2.14.3\n{line}\n"}), "python3.14")


@pytest.mark.parametrize("line", ["--index-url https://pypi.example.com/simple", "-i https://pypi.example.com/simple",
                                  "--index-url ${PIP_INDEX_URL}", "--index-url HTTPS://PYPI.EXAMPLE.COM/simple",
                                  "pkg @ git+https://example.com/a/b", "six==1.17.0 ; sys_platform == 'linux'",
                                  "--find-links https://example.com/wheels", "requests @ https://example.com/r.whl",
                                  "pydantic[email]>=2; python_version >= '3.11'", "--only-binary=:all:"])
def test_index_urls_and_direct_urls_are_not_local_paths(tmp_path, line):
    assert detect(write(tmp_path, {"requirements.txt": f"six==1.17.0\n{line}\n"}), "python3.14") is not None


def test_a_requirements_file_with_only_an_attached_include_is_refused_not_taken_as_empty(tmp_path):
    with pytest.raises(RecipeError, match="includes another file"):
        detect(write(tmp_path, {"requirements.txt": "-rother.txt\n"}), "python3.14")


def test_uv_projects_need_their_lock_and_one_declaration_only(tmp_path):
    project = '[project]\nname = "f"\nversion = "1"\ndependencies = ["pydantic==2.14.3"]\n'
    with pytest.raises(RecipeError, match="no uv.lock") as missing:
        detect(write(tmp_path / "a", {"pyproject.toml": project}), "python3.14")
    assert missing.value.fix_in("handlers/f") == "run `uv lock` in handlers/f and commit uv.lock."
    with pytest.raises(RecipeError, match="without the pyproject.toml"):
        detect(write(tmp_path / "b", {"uv.lock": "version = 1\n"}), "python3.14")
    with pytest.raises(RecipeError, match="both requirements.txt and pyproject.toml"):
        detect(write(tmp_path / "c", {"pyproject.toml": project, "uv.lock": "version = 1\n",
                                      "requirements.txt": "pydantic==2.14.3\n"}), "python3.14")
    recipe = detect(write(tmp_path / "d", {"pyproject.toml": project, "uv.lock": "version = 1\n"}), "python3.14")
    assert recipe.kind == "uv" and recipe.lockfile.name == "uv.lock" and recipe.manifest.name == "pyproject.toml"


def test_node_dependencies_need_their_lockfile_and_the_sdk_stays_external_unless_pinned(tmp_path):
    with pytest.raises(RecipeError, match="no package-lock.json"):
        detect(write(tmp_path / "a", {"package.json": json.dumps({"dependencies": {"zod": "4.6.7"}})}), "nodejs24.x")
    recipe = detect(write(tmp_path / "b", {"package.json": json.dumps({"dependencies": {"zod": "4.6.7"}}),
                                           "package-lock.json": "{}"}), "nodejs24.x")
    assert recipe.kind == "npm" and recipe.dependencies == ("zod",) and not recipe.pins_aws_sdk
    pinned = detect(write(tmp_path / "c", {"package.json": json.dumps({"dependencies": {
        "@aws-sdk/client-s3": "3.1164.0"}}), "package-lock.json": "{}"}), "nodejs24.x")
    assert pinned.pins_aws_sdk


def test_the_other_languages_declaration_is_ignored(tmp_path):
    src = write(tmp_path, {"package.json": json.dumps({"dependencies": {"zod": "4.6.7"}}),
                           "requirements.txt": "pydantic==2.14.3\n"})
    assert detect(src, "python3.14").kind == "requirements"
    with pytest.raises(RecipeError):  # no package-lock.json
        detect(src, "nodejs24.x")


# -- the config keys -------------------------------------------------------------------------

def config(tmp_path: Path, functions: str) -> dict:
    import tomllib

    return tomllib.loads('[project]\nname = "demo"\nstage = "dev"\nregion = "us-east-1"\n' + functions)


def load(tmp_path: Path, functions: str):
    return parse_config(config(tmp_path, functions), "demo.toml", "demo", tmp_path)


PY_FN = '[functions.f]\nruntime = "python3.14"\nsource = "f"\nhandler = "app.handler"\n'
JS_FN = '[functions.j]\nruntime = "nodejs24.x"\nsource = "j"\nhandler = "index.handler"\n'


@pytest.fixture
def project(tmp_path):
    write(tmp_path, {"f/app.py": "def handler(e, c):\n    return 1\n", "f/requirements.txt": "six==1.17.0\n",
                     "j/index.mjs": "export const handler = async () => 1;\n",
                     "j/package.json": json.dumps({"dependencies": {"zod": "4.6.7"}}), "j/package-lock.json": "{}",
                     "plain/app.py": "def handler(e, c):\n    return 1\n"})
    return tmp_path


def test_architecture_defaults_to_x86_64_and_is_checked_like_every_key(project):
    assert load(project, PY_FN).functions["f"].architecture == "x86_64"
    assert load(project, PY_FN + 'architecture = "arm64"\n').functions["f"].architecture == "arm64"
    with pytest.raises(ConfigError) as bad:
        load(project, PY_FN + 'architecture = "arm"\n')
    assert bad.value.exit_code == 2 and bad.value.key == "functions.f.architecture"
    assert "did you mean 'arm64'?" in str(bad.value)
    with pytest.raises(ConfigError, match="did you mean 'architecture'"):
        load(project, PY_FN + 'architectures = "arm64"\n')


@pytest.mark.parametrize("functions, key, words", [
    (JS_FN + "layer = true\n", "functions.j.layer", "applies to Python functions"),
    (PY_FN + "source_map = true\n", "functions.f.source_map", "Node.js functions with dependencies"),
])
def test_options_for_the_other_language_are_refused_when_the_config_loads(project, functions, key, words):
    with pytest.raises(ConfigError) as bad:
        load(project, functions)
    assert bad.value.key == key and words in str(bad.value)


def test_a_zip_still_the_file_that_was_hashed_is_not_hashed_again(project, fake, monkeypatch):
    import os

    cache = Cache(project / "cache")
    first = build_code(load(project, PY_FN), cache=cache)["f"]
    zip_file = next(p for p in (project / "cache" / "zips").glob("*.zip") if p.read_bytes() == first.asset.data)
    meta_file = zip_file.with_suffix(".json")
    info = os.stat(zip_file)
    assert json.loads(meta_file.read_text())["zip_identity"] == [info.st_ino, info.st_size, info.st_mtime_ns]

    # Every SHA-256 of the process is one of these two (infra.digest): counted wherever it is asked for.
    import hashlib

    from infra import digest

    hashed: list[int] = []

    def counting(real):
        def count(data: bytes = b"") -> object:
            hashed.append(len(data))
            return real(data)
        return count
    monkeypatch.setattr(digest, "_builtin", counting(digest._builtin))
    monkeypatch.setattr(hashlib, "sha256", counting(hashlib.sha256))
    again = build_code(load(project, PY_FN), cache=Cache(project / "cache"))["f"]
    assert again.asset == first.asset and len(fake) == 1
    assert len(first.asset.data) not in hashed                  # trusted: the file its report hashed

    # Rewritten in place with other bytes of the same size: the file changed, so it is hashed, and
    # a zip whose bytes are not the reported ones is a miss, rebuilt, never shipped.
    data = zip_file.read_bytes()
    zip_file.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    os.utime(zip_file, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000))
    rebuilt = build_code(load(project, PY_FN), cache=Cache(project / "cache"))["f"]
    assert rebuilt.asset == first.asset and len(first.asset.data) in hashed

    # A report written before identities were recorded: hashed once, then trusted.
    meta = json.loads(meta_file.read_text())
    del meta["zip_identity"]
    meta_file.write_text(json.dumps(meta))
    hashed.clear()
    assert build_code(load(project, PY_FN), cache=Cache(project / "cache"))["f"].asset == first.asset
    assert len(first.asset.data) in hashed and "zip_identity" in json.loads(meta_file.read_text())
    hashed.clear()
    assert build_code(load(project, PY_FN), cache=Cache(project / "cache"))["f"].asset == first.asset
    assert len(first.asset.data) not in hashed


PLAIN_FN = '[functions.p]\nruntime = "python3.14"\nsource = "plain"\nhandler = "app.handler"\n'
PLAIN_JS = '[functions.q]\nruntime = "nodejs24.x"\nsource = "j"\nhandler = "index.handler"\n'


@pytest.mark.parametrize("functions, key, words", [
    (PLAIN_FN + "layer = true\n", "functions.p.layer", "declares no dependencies"),
    (PLAIN_JS + "source_map = true\n", "functions.q.source_map", "declares no dependencies"),
])
def test_options_for_dependencies_need_some(project, functions, key, words):
    (project / "j" / "package.json").write_text(json.dumps({"devDependencies": {"zod": "4.6.7"}}))
    with pytest.raises(ConfigError) as bad:
        build_code(load(project, functions), cache=Cache(project / "cache"))
    assert bad.value.exit_code == 2 and bad.value.key == key and words in str(bad.value)


def test_a_declaration_that_cannot_be_built_stops_generation_naming_the_key(project, tmp_path):
    from infra.build import build_configs

    (project / "j" / "package-lock.json").unlink()
    config = project / "demo.toml"
    config.write_text('[project]\nname = "demo"\nstage = "dev"\nregion = "us-east-1"\n'
                      + JS_FN.replace('source = "j"', f'source = "{project / "j"}"'))
    with pytest.raises(ConfigError) as bad:
        build_configs([config], tmp_path / "out")
    assert bad.value.key == "functions.j.source" and "package-lock.json" in str(bad.value)
    assert f"run `npm install` in {project / 'j'} and commit" in bad.value.fix and not (tmp_path / "out").exists()


# -- the build, with a fake installer --------------------------------------------------------

def fake_install(calls: list):
    """What `uv pip install --target` leaves: packages, an extension, bytecode, a console script
    naming this machine's interpreter, and the installer's bookkeeping."""
    def install(recipe, runtime, architecture, dest: Path, work: Path, what: str) -> None:
        calls.append((recipe.lockfile.read_text(), runtime, architecture))
        machine = bpython.MACHINE[architecture]
        write(dest, {
            "six.py": "# six\n",
            "pkg/__init__.py": "VERSION = '1'\n",
            f"pkg/_speed.cpython-{runtime[6:].replace('.', '')}-{machine}-linux-gnu.so": "ELF",
            "pkg/__pycache__/__init__.cpython-311.pyc": "bytecode",
            "pkg-1.0.dist-info/METADATA": "Name: pkg\n",
            "pkg-1.0.dist-info/RECORD": "pkg/__init__.py,sha256=x,1\n../../bin/pkg,sha256=y,2\n",
            "pkg-1.0.dist-info/INSTALLER": "uv\n",
            "pkg-1.0.dist-info/REQUESTED": "",
            "pkg-1.0.dist-info/direct_url.json": json.dumps({"url": f"file://{dest}"}),
            "bin/pkg": f"#!{dest}/python\n",
        })
        (dest / "pkg" / f"_speed.cpython-{runtime[6:].replace('.', '')}-{machine}-linux-gnu.so").chmod(0o755)
    return install


@pytest.fixture
def fake(monkeypatch):
    calls: list = []
    monkeypatch.setattr(bpython, "install_for_lambda", fake_install(calls))
    monkeypatch.setattr(btools, "uv_version", lambda: "0.13.8")
    return calls


def names(data: bytes) -> list[str]:
    return zipfile.ZipFile(io.BytesIO(data)).namelist()


def test_the_zip_holds_code_and_dependencies_without_this_machines_traces(project, fake):
    cfg = load(project, PY_FN)
    code = build_code(cfg, cache=Cache(project / "cache"))["f"]
    listed = names(code.asset.data)
    # The installed dependencies first (zipped once, reused), then the function's own files; each in name order.
    own = ["app.py", "requirements.txt"]
    assert listed == sorted(set(listed) - set(own)) + own
    assert {"app.py", "six.py", "pkg/__init__.py", "pkg-1.0.dist-info/METADATA",
            "pkg/_speed.cpython-314-x86_64-linux-gnu.so"} <= set(listed)
    assert not [n for n in listed if n.startswith("bin/") or n.endswith(".pyc") or "__pycache__" in n]
    assert not [n for n in listed if n.rsplit("/", 1)[-1] in ("RECORD", "INSTALLER", "REQUESTED", "direct_url.json")]
    modes = {i.filename: i.external_attr >> 16 for i in zipfile.ZipFile(io.BytesIO(code.asset.data)).infolist()}
    assert modes["pkg/_speed.cpython-314-x86_64-linux-gnu.so"] == 0o100755 and modes["app.py"] == 0o100644
    assert code.layer is None and code.unzipped > 0 and code.packages[0][0] in ("pkg", "app", "six", "requirements")


def test_an_unchanged_function_is_a_cache_hit_and_a_changed_input_never_is(project, fake):
    cache = Cache(project / "cache")
    first = build_code(load(project, PY_FN), cache=cache)["f"]
    assert len(fake) == 1
    again = build_code(load(project, PY_FN), cache=cache)["f"]
    assert again.asset == first.asset and len(fake) == 1          # nothing installed, same bytes

    (project / "f" / "app.py").write_text("def handler(e, c):\n    return 2\n")   # code: re-zipped,
    changed = build_code(load(project, PY_FN), cache=cache)["f"]               # deps reused
    assert changed.asset.key != first.asset.key and len(fake) == 1
    assert zipfile.ZipFile(io.BytesIO(changed.asset.data)).read("app.py").endswith(b"return 2\n")

    (project / "f" / "requirements.txt").write_text("six==1.16.0\n")           # lockfile: reinstalled
    relocked = build_code(load(project, PY_FN), cache=cache)["f"]
    assert len(fake) == 2 and fake[-1][0] == "six==1.16.0\n" and relocked.asset.key != changed.asset.key

    arm = build_code(load(project, PY_FN + 'architecture = "arm64"\n'), cache=cache)["f"]   # architecture
    assert len(fake) == 3 and fake[-1][2] == "arm64"
    assert "pkg/_speed.cpython-314-aarch64-linux-gnu.so" in names(arm.asset.data)


def test_a_corrupt_cache_entry_is_rebuilt_never_shipped(project, fake):
    cache = Cache(project / "cache")
    first = build_code(load(project, PY_FN), cache=cache)["f"]
    zipped = sorted((project / "cache" / "zips").glob("*.zip"))
    assert len(zipped) == 2                                  # the function's zip, and its dependencies' alone
    for entry in zipped:
        entry.write_bytes(entry.read_bytes()[:100])
        assert build_code(load(project, PY_FN), cache=cache)["f"].asset == first.asset
    (project / "f" / "app.py").write_text("def handler(e, c):\n    return 3\n")
    next(p for p in zipped if len(p.read_bytes()) < len(first.asset.data)).write_bytes(b"PK")   # the dependencies'
    rebuilt = build_code(load(project, PY_FN), cache=cache)["f"]                              # part, on a code change
    assert set(names(rebuilt.asset.data)) == set(names(first.asset.data))


PLAIN_FN = '[functions.p]\nruntime = "python3.14"\nsource = "plain"\nhandler = "app.handler"\n'


def test_a_function_without_dependencies_is_zipped_once_then_read_back(project, monkeypatch):
    cache = Cache(project / "cache")
    first = build_code(load(project, PLAIN_FN), cache=cache)["p"]
    monkeypatch.setattr(bundle_build, "zip_entries", lambda *a, **k: pytest.fail("zipped an unchanged folder again"))
    again = build_code(load(project, PLAIN_FN), cache=cache)["p"]
    assert again.asset == first.asset and again.asset.key == first.asset.key and again.unzipped == first.unzipped
    assert first.asset == build_asset(project, "plain")  # what build_asset zips
    monkeypatch.undo()
    (project / "plain" / "app.py").write_text("def handler(e, c):\n    return 5\n")
    changed = build_code(load(project, PLAIN_FN), cache=cache)["p"]
    assert changed.asset.key != first.asset.key and b"return 5" in zipfile.ZipFile(io.BytesIO(changed.asset.data)).read("app.py")


def test_a_cache_that_cannot_be_written_still_builds_a_plain_function(project, monkeypatch):
    cache = Cache(project / "cache")
    monkeypatch.setattr(Cache, "put_zip", lambda *a, **k: (_ for _ in ()).throw(PermissionError(13, "read-only")))
    code = build_code(load(project, PLAIN_FN), cache=cache)["p"]
    assert zipfile.ZipFile(io.BytesIO(code.asset.data)).namelist() == ["app.py"]


def test_a_remembering_cache_reads_each_zip_once_and_a_plain_one_always_reads(project):
    first = build_code(load(project, PLAIN_FN), cache=Cache(project / "cache"))["p"]
    (zip_file,) = (project / "cache" / "zips").glob("*.zip")
    remembering = Cache(project / "cache", remember=True)
    assert build_code(load(project, PLAIN_FN), cache=remembering)["p"].asset == first.asset
    zip_file.write_bytes(b"PK")  # changed on disk: the batch keeps the hash it checked, not other bytes
    kept = build_code(load(project, PLAIN_FN), cache=remembering)["p"].asset
    assert kept == first.asset
    with pytest.raises(UserError, match="changed while this run was using it"):
        kept.data  # noqa: B018 (the bytes, read now, are checked again)
    assert Cache(project / "cache").zip(zip_file.stem) is None  # a new batch checks, and refuses it


def test_configs_generated_together_link_the_zip_they_share_without_reading_it(tmp_path, monkeypatch):
    """secure-api and secure-api-prod ship the same dependencies zip: the batch links the cache's
    file into both outputs and reads no cached zip at all (their reports say they are unchanged)."""
    from infra.build import build_configs

    configs = [REPO / "config" / "secure-api.toml", REPO / "config" / "secure-api-prod.toml"]
    cache_dir = tmp_path / "cache"
    monkeypatch.setenv("SERVERLESS_INFRA_BUILD_CACHE", str(cache_dir))
    build_configs(configs, tmp_path / "warm", write_lock=False)  # fills this test's own cache
    reads: list[str] = []

    def opening(path, *args, **kwargs):
        if Path(path).parent == cache_dir / "zips":
            reads.append(Path(path).name)
        return open(path, *args, **kwargs)

    from infra.bundle import cache as cache_module
    from infra import render

    monkeypatch.setattr(cache_module, "open", opening, raising=False)  # the module's name before the builtin
    monkeypatch.setattr(render, "open", opening, raising=False)
    build_configs(configs, tmp_path / "out", write_lock=False)
    shipped = list((tmp_path / "out").glob("*/assets/*.zip"))
    cached = {p.stat().st_ino for p in (cache_dir / "zips").glob("*.zip")}
    assert reads == []                                                       # no cached zip read
    assert len({p.name for p in shipped}) < len(shipped)                     # one zip is shipped twice
    assert all(p.stat().st_ino in cached for p in shipped)                   # each the cache's file, linked


def _aged(cache: Cache, k: str, seconds_ago: float) -> None:
    import os
    import time

    marker = cache.root / "zips" / f"{k}.json"
    os.utime(marker, (time.time() - seconds_ago, time.time() - seconds_ago))


def test_the_cache_keeps_itself_under_its_size_removing_the_least_recently_used(tmp_path, monkeypatch):
    monkeypatch.setenv("SERVERLESS_INFRA_BUILD_CACHE_MAX_MB", str(10_000 / 1024 / 1024))  # 10,000 bytes
    old = Cache(tmp_path)
    for i, age in enumerate((300, 200, 100, 50)):           # four entries of ~3 KB: over the size
        old.put_zip(f"k{i}", bytes([i]) * 3000, {})
        _aged(old, f"k{i}", age)
    now = Cache(tmp_path)
    assert now.zip("k0") is not None                         # used now: the oldest becomes the newest
    now.put_zip("k4", b"4" * 3000, {})
    removed = now.prune()
    # least recently used first (k1, k2, then k3) until at most 80 % of 10,000 bytes is left; k0
    # and k4, which this process used, stay
    assert [p.stem for p in removed] == ["k1", "k2", "k3"]
    left = sorted(p.stem for p in (tmp_path / "zips").glob("*.zip"))
    assert left == ["k0", "k4"] and not (tmp_path / "zips" / "k1.json").exists()
    assert now.prune() == []                                  # nothing new written since


def test_a_size_check_runs_at_most_hourly_and_only_after_a_write(tmp_path, monkeypatch):
    monkeypatch.setenv("SERVERLESS_INFRA_BUILD_CACHE_MAX_MB", "0")
    cache = Cache(tmp_path)
    cache.put_zip("a", b"a" * 100, {})
    assert cache.prune() == []                                # the only entry is this process's own
    reader = Cache(tmp_path)
    assert reader.prune() == []                               # wrote nothing: no check at all
    writer = Cache(tmp_path)
    writer.put_zip("b", b"b" * 100, {})
    assert writer.prune() == []                               # checked less than an hour ago
    assert [p.stem for p in Cache(tmp_path).prune(force=True)] == ["a", "b"]


@pytest.mark.parametrize("value", ["two gigs", "-1", "nan", "inf"])
def test_a_cache_size_that_is_not_megabytes_is_one_clear_error(tmp_path, monkeypatch, value):
    from infra.errors import UsageError

    monkeypatch.setenv("SERVERLESS_INFRA_BUILD_CACHE_MAX_MB", value)
    with pytest.raises(UsageError, match="SERVERLESS_INFRA_BUILD_CACHE_MAX_MB=.* is not a size in megabytes") as bad:
        Cache.at(tmp_path)
    assert bad.value.exit_code == 2


def test_the_cache_size_command_line_error_is_one_line(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "SERVERLESS_INFRA_BUILD_CACHE_MAX_MB": "lots", "SERVERLESS_INFRA_BUILD_CACHE": str(tmp_path)}
    proc = subprocess.run([sys.executable, "generate.py", "templates", "--config", "config/catalog-api.toml",
                           "--out", str(tmp_path / "out")], cwd=REPO, env=env, capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "SERVERLESS_INFRA_BUILD_CACHE_MAX_MB='lots' is not a size in megabytes" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_installed_trees_record_their_size_and_are_pruned_whole(tmp_path, monkeypatch):
    cache = Cache(tmp_path)

    def install(tree, scratch):
        (tree / "pkg").mkdir()
        (tree / "pkg" / "mod.py").write_bytes(b"x" * 5000)

    tree = cache.tree("deps", "t1", install)
    assert json.loads((tree / ".complete").read_text())["bytes"] == 5000
    (tree / ".complete").write_text("t1")                      # a marker written before sizes were
    assert [(m.parent.name, size) for m, size, _ in Cache(tmp_path)._entries()] == [("t1", 5002)]  # walked
    monkeypatch.setenv("SERVERLESS_INFRA_BUILD_CACHE_MAX_MB", "0")
    assert [m.parent.name for m in Cache(tmp_path).prune(force=True)] == ["t1"]
    assert not (tmp_path / "deps").exists() or list((tmp_path / "deps").iterdir()) == []


def test_a_pruned_zip_stays_in_the_out_folder_that_links_it(tmp_path, monkeypatch):
    from infra.build import build_configs

    monkeypatch.setenv("SERVERLESS_INFRA_BUILD_CACHE", str(tmp_path / "cache"))
    (out,) = build_configs([REPO / "config" / "catalog-api.toml"], tmp_path / "out", write_lock=False)
    before = {p.name: p.read_bytes() for p in (out / "assets").glob("*.zip")}
    monkeypatch.setenv("SERVERLESS_INFRA_BUILD_CACHE_MAX_MB", "0")
    assert Cache(tmp_path / "cache").prune(force=True)
    assert {p.name: p.read_bytes() for p in (out / "assets").glob("*.zip")} == before


def test_a_new_tool_version_rebuilds(project, fake, monkeypatch):
    cache = Cache(project / "cache")
    build_code(load(project, PY_FN), cache=cache)
    monkeypatch.setattr(btools, "uv_version", lambda: "0.14.0")
    build_code(load(project, PY_FN), cache=cache)
    assert len(fake) == 2


def test_same_sources_in_two_places_with_other_file_times_give_the_same_bytes(tmp_path, fake):
    import os
    import shutil

    built = []
    for i, when in enumerate((1_000_000_000, 1_700_000_000)):
        clone = tmp_path / f"clone{i}"
        write(clone, {"f/app.py": "def handler(e, c):\n    return 1\n", "f/requirements.txt": "six==1.17.0\n"})
        for path in clone.rglob("*"):
            os.utime(path, (when, when))
        (clone / "f" / "app.py").chmod(0o700 if i else 0o644)
        built.append(build_code(load(clone, PY_FN), cache=Cache(clone / "cache"))["f"].asset)
        shutil.rmtree(clone / "cache")
    assert built[0].data == built[1].data and built[0].key == built[1].key


def test_a_layer_holds_the_dependencies_and_the_function_zip_only_its_code(project, fake):
    cfg = load(project, PY_FN + "layer = true\n" + PY_FN.replace("functions.f", "functions.g") + "layer = true\n")
    codes = build_code(cfg, cache=Cache(project / "cache"))
    f, g = codes["f"], codes["g"]
    assert f.layer == g.layer and len(fake) == 1                      # one lockfile: one layer
    assert names(f.asset.data) == ["app.py", "requirements.txt"]
    layer = names(f.layer.asset.data)
    assert "python/pkg/__init__.py" in layer and all(n.startswith("python/") for n in layer)
    assert f.layer.logical_id == "FPython314X8664DepsLayer" and f.layer.lockfile == "f/requirements.txt"
    assert set(bundle_build.assets(codes)) == {f.asset, f.layer.asset}


def test_installed_tree_filters(tmp_path):
    write(tmp_path, {"a/x.py": "", "a/__pycache__/x.cpython-314.pyc": "", "bin/tool": "", "a-1.dist-info/RECORD": "",
                     "a-1.dist-info/METADATA": "", ".complete": "", "a/bin/data.txt": ""})
    assert sorted(n for n, _ in dependency_entries(tmp_path)) == ["a-1.dist-info/METADATA", "a/bin/data.txt", "a/x.py"]


# -- size limits -----------------------------------------------------------------------------

def test_over_lambdas_unzipped_limit_names_the_function_and_its_largest_packages(project, fake, monkeypatch):
    real = bundle_build._sizes

    def huge(entries, prefix=""):
        _, packages = real(entries, prefix)
        return MAX_UNZIPPED + 1, (("numpy", 200 * 1024 * 1024), *packages)

    monkeypatch.setattr(bundle_build, "_sizes", huge)
    with pytest.raises(ConfigError) as over:
        build_code(load(project, PY_FN), cache=Cache(project / "cache"))
    message = str(over.value)
    assert over.value.exit_code == 2 and over.value.key == "functions.f"
    assert "unzipped, its code take 250.0 MB" in message and "numpy 200.0 MB" in message


def test_a_zip_over_50_mb_is_fine_through_s3_and_a_layer_counts_toward_the_unzipped_limit():
    """50 MB is the quota of a zip uploaded directly to Lambda; the templates name their zips in S3."""
    from infra.bundle.limits import check

    big = Asset.of("f", b"\0" * (50 * 1024 * 1024 + 1))
    check("demo.toml", "functions.f", Code(big, unzipped=100 * 1024 * 1024, packages=(("blob", 90 * 1024 * 1024),)))
    layer = Layer("L", "deps", Asset.of("f/requirements.txt", b"z"), "python3.14", "x86_64", "f/requirements.txt",
                  MAX_UNZIPPED - 10, (("torch", MAX_UNZIPPED - 10),))
    with pytest.raises(ConfigError, match=r"unzipped, its code and its layer take .*Largest packages: torch"):
        check("demo.toml", "functions.f", Code(Asset.of("f", b"z"), layer=layer, unzipped=11))
    check("demo.toml", "functions.f", Code(Asset.of("f", b"z"), layer=layer, unzipped=10))  # exactly at the limit


# -- templates -------------------------------------------------------------------------------

def generate(cfg):
    from infra.build import generate as gen

    return {name: json.loads(data) for name, data in gen(cfg).files.items() if name.endswith(".json")}


def test_architecture_reaches_the_function_and_layers_are_wired_through_the_root(project, fake):
    cfg = load(project, PY_FN + 'architecture = "arm64"\nlayer = true\n'
               + '[functions.p]\nruntime = "python3.14"\nsource = "plain"\nhandler = "app.handler"\n')
    out = generate(cfg)
    compute, layers, root = out["compute.json"], out["layers.json"], out["root.json"]
    f = compute["Resources"]["FFunction"]["Properties"]
    assert f["Architectures"] == ["arm64"] and f["Layers"] == [{"Ref": "FPython314Arm64DepsLayerArn"}]
    p = compute["Resources"]["PFunction"]["Properties"]
    assert p["Architectures"] == ["x86_64"] and "Layers" not in p
    layer = layers["Resources"]["FPython314Arm64DepsLayer"]
    assert layer["Type"] == "AWS::Lambda::LayerVersion"
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.14"]
    assert layer["Properties"]["Content"]["S3Bucket"] == {"Ref": "AssetBucket"}
    assert layers["Outputs"]["FPython314Arm64DepsLayerArn"]["Value"] == {"Ref": "FPython314Arm64DepsLayer"}
    assert root["Resources"]["Layers"]["Type"] == "AWS::CloudFormation::Stack"
    assert root["Resources"]["Compute"]["Properties"]["Parameters"]["FPython314Arm64DepsLayerArn"] == {
        "Fn::GetAtt": ["Layers", "Outputs.FPython314Arm64DepsLayerArn"]}
    assert root["Resources"]["Layers"]["Properties"]["Parameters"] == {"AssetBucket": {"Ref": "AssetBucket"}}


def test_the_source_map_option_turns_source_maps_on(project, monkeypatch):
    from infra.bundle.build import Code as C

    cfg = load(project, JS_FN + "source_map = true\n")
    monkeypatch.setattr(bundle_build, "_node", lambda run, name, recipe, what: C(Asset.of("j", b"zip"), unzipped=3))
    env = generate(cfg)["compute.json"]["Resources"]["JFunction"]["Properties"]["Environment"]["Variables"]
    assert env["NODE_OPTIONS"] == "--enable-source-maps"


# -- installer output ------------------------------------------------------------------------

UV_NO_WHEEL = """Using CPython 3.11.7 interpreter at: /usr/bin/python3
error: No solution found when resolving dependencies
  cause: Because numpy==1.26.4 has no usable wheels and you require numpy==1.26.4, we can conclude that your requirements are unsatisfiable.

hint: Wheels are required for `numpy` because building from source is disabled for all packages (i.e., with `--no-build`)"""


def test_uvs_no_wheel_answer_names_the_package():
    assert install_errors.missing_wheel(UV_NO_WHEEL) == "numpy"
    assert install_errors.missing_wheel("error: Failed to fetch: `https://pypi.org/simple/numpy/`") is None


def test_pip_needs_every_manylinux_tag_lambda_accepts():
    tags = bpython.pip_platforms("x86_64")
    assert tags[0] == "manylinux_2_34_x86_64" and "manylinux2014_x86_64" in tags and "manylinux1_x86_64" in tags
    assert "manylinux_2_35_x86_64" not in tags
    assert bpython.pip_platforms("aarch64")[-1] == "manylinux2014_aarch64"
    assert bpython.uv_platform("arm64", "python3.14") == "aarch64-manylinux_2_34"
    assert bpython.pip_platforms("x86_64", 26)[0] == "manylinux_2_26_x86_64"


@pytest.mark.parametrize("runtime, platform", [
    ("python3.14", "x86_64-manylinux_2_34"), ("python3.12", "x86_64-manylinux_2_34"),
    ("python3.11", "x86_64-manylinux_2_17"),   # Amazon Linux 2 (2.26): a manylinux_2_34 wheel would not load there
])
def test_each_python_runtime_gets_wheels_for_its_own_glibc(runtime, platform):
    assert bpython.uv_platform("x86_64", runtime) == platform


def test_uvs_version_is_the_installed_one_and_a_missing_uv_says_how_to_install_it(monkeypatch):
    import importlib.metadata

    assert btools.uv_version() == importlib.metadata.version("uv")
    monkeypatch.setattr(btools, "installed_version", lambda dist, package: None)
    btools.uv_binary.cache_clear()
    monkeypatch.setitem(sys.modules, "uv", None)  # `from uv import find_uv_bin` fails as if not installed
    try:
        with pytest.raises(btools.BuildError, match="uv is not installed"):
            btools.uv_version()
    finally:
        btools.uv_binary.cache_clear()


def test_a_cache_hit_is_not_read_until_its_bytes_are_needed_and_then_checked(project, fake):
    import hashlib
    import os

    cache = Cache(project / "cache")
    first = build_code(load(project, PY_FN), cache=cache)["f"]
    again = build_code(load(project, PY_FN), cache=Cache(project / "cache"))["f"]
    assert len(fake) == 1 and again.asset == first.asset and again.asset.loaded is None  # a hit: not read
    assert again.asset.key == first.asset.key == f"assets/{hashlib.sha256(again.asset.data).hexdigest()}.zip"
    assert Asset.of("f", b"zip") == Asset("f", hashlib.sha256(b"zip").hexdigest())  # same source, same hash
    zip_file = Path(again.asset.same.path)
    # Another process writing the same entry puts a new file with the same bytes in its place: fine.
    replacement = zip_file.with_name("replacement")
    replacement.write_bytes(zip_file.read_bytes())
    os.replace(replacement, zip_file)
    assert again.asset.data == first.asset.data
    zip_file.write_bytes(b"PK")  # other bytes: never shipped
    with pytest.raises(UserError, match="changed while this run was using it"):
        again.asset.data  # noqa: B018
    zip_file.unlink()
    with pytest.raises(UserError, match="cannot read .* run the command again"):
        again.asset.data  # noqa: B018


def test_a_dependencies_zip_gone_after_it_was_checked_is_zipped_again(project, fake, monkeypatch):
    """Another process may remove or rewrite a cache entry between its check and its read: the
    installed dependencies are then zipped again, not an error."""
    cache = Cache(project / "cache")
    build_code(load(project, PY_FN), cache=cache)
    (project / "f" / "app.py").write_text("def handler(e, c):\n    return 2\n")  # the function's zip misses
    real_zip = Cache.zip

    def vanishing(self, k):
        hit = real_zip(self, k)
        if hit is not None:
            Path(hit[0].path).unlink()
        return hit
    monkeypatch.setattr(Cache, "zip", vanishing)
    code = build_code(load(project, PY_FN), cache=Cache(project / "cache"))["f"]
    assert {"six.py", "pkg/__init__.py", "app.py"} <= set(names(code.asset.data)) and len(fake) == 1
    assert b"return 2" in zipfile.ZipFile(io.BytesIO(code.asset.data)).read("app.py")


def test_a_uv_lock_that_no_longer_matches_pyproject_is_refused_not_installed_without_the_new_dependency(tmp_path):
    """`uv export --frozen` would export the old lock: the added dependency missing at run time."""
    import shutil

    source = tmp_path / "fn"
    shutil.copytree(REPO / "tests" / "fixtures" / "deps" / "py-uv", source,
                    ignore=shutil.ignore_patterns("__pycache__"))
    req, flags = bpython.requirements(detect(source, "python3.14"), tmp_path, "functions.f (fn)")
    assert "pydantic==2.14.3" in req.read_text() and flags == ["--require-hashes", "--no-deps"]
    manifest = source / "pyproject.toml"
    manifest.write_text(manifest.read_text().replace('["pydantic==2.14.3"]', '["pydantic==2.14.3", "six==1.17.0"]'))
    with pytest.raises(btools.BuildError) as err:
        bpython.requirements(detect(source, "python3.14"), tmp_path, "functions.f (fn)")
    assert err.value.exit_code == 2
    assert str(err.value) == ("functions.f (fn): uv.lock does not match pyproject.toml (a dependency was added, "
                              "removed or changed since it was locked). Fix: run `uv lock` in the function's folder "
                              "and commit uv.lock.")


UV_NO_VERSION = """error: No solution found when resolving dependencies
  cause: Because there is no version of requests==99.0.0 and you require requests==99.0.0, we can conclude that \
your requirements are unsatisfiable."""
UV_NO_PACKAGE = """error: No solution found when resolving dependencies
  cause: Because reqeusts was not found in the package registry and you require reqeusts==2.32.3, we can conclude \
that your requirements are unsatisfiable."""
UV_HASH_MISMATCH = """error: Failed to download `six==1.17.0`
  cause: Hash mismatch for `six==1.17.0`

         Expected:
           sha256:0000000000000000000000000000000000000000000000000000000000000000"""
UV_SOME_HASHES = ("error: In `--require-hashes` mode, all requirements must have a hash, but none were provided "
                  "for: idna==3.10")


@pytest.mark.parametrize("output, message", [
    (UV_NO_VERSION, "the package index has no requests==99.0.0. Fix: pin a version the index has"),
    (UV_NO_PACKAGE, "the package index has no package named reqeusts. Fix: check the name's spelling in "
                    "requirements.txt."),
    (UV_HASH_MISMATCH, "the file downloaded for six==1.17.0 does not match its --hash. Fix: correct the hash"),
    (UV_SOME_HASHES, "idna==3.10 has no --hash while other lines have one"),
])
def test_a_fault_in_the_requirements_is_exit_2_with_its_fix(tmp_path, output, message):
    recipe = detect(write(tmp_path / "f", {"requirements.txt": "x==1\n", "app.py": ""}), "python3.14")
    err = install_errors.declaration_error(btools.ToolFailed("w", output), recipe, "functions.f (f)")
    assert err is not None and err.exit_code == 2 and str(err).startswith(f"functions.f (f): {message}")
    assert install_errors.declaration_error(btools.ToolFailed("w", "error: uv panicked"), recipe, "functions.f (f)") is None
    refused = UV_NO_PACKAGE + "\nhint: An index URL (https://idx.example/simple) could not be queried due to a lack of " \
                              "valid authentication credentials (401 Unauthorized)."
    assert install_errors.declaration_error(btools.ToolFailed("w", refused), recipe, "functions.f (f)") is None


def test_a_uv_projects_fix_is_said_in_its_own_terms(tmp_path):
    project = '[project]\nname = "f"\nversion = "1"\ndependencies = ["requests==99.0.0"]\n'
    recipe = detect(write(tmp_path / "f", {"pyproject.toml": project, "uv.lock": "version = 1\n", "app.py": ""}),
                    "python3.14")
    err = install_errors.declaration_error(btools.ToolFailed("w", UV_NO_VERSION), recipe, "functions.f (f)")
    assert err is not None and str(err).endswith("Fix: change the dependency in pyproject.toml and run `uv lock` in "
                                                  "the function's folder.")


def test_a_version_the_index_lacks_is_a_declaration_error_from_uv_itself(tmp_path):
    recipe = detect(write(tmp_path / "f", {"requirements.txt": "six==99.0.0\n", "app.py": ""}), "python3.14")
    with pytest.raises(btools.BuildError) as err:
        bpython.install_for_lambda(recipe, "python3.14", "x86_64", tmp_path / "dest", tmp_path, "functions.f (f)")
    assert err.value.exit_code == 2 and "the package index has no six==99.0.0" in str(err.value)


ESBUILD_UNRESOLVED = """✘ [ERROR] Could not resolve "{spec}"

    index.mjs:1:7:
      1 │ import x from "{spec}";
        ╵               ~~~~~~~~~~

  You can mark the path "{spec}" as external to exclude it from the bundle, which will remove this error and leave \
the unresolved path in the bundle."""


@pytest.mark.parametrize("spec, message", [
    ("prettier/standalone", "imports 'prettier/standalone', a devDependency, and only dependencies are bundled for "
                            "Lambda. Fix: move prettier to dependencies in package.json"),
    ("@scope/tool", "imports '@scope/tool', which package.json does not declare. Fix: run `npm install @scope/tool`"),
    ("./helpers.mjs", "imports './helpers.mjs', which does not exist. Fix: correct the import's path."),
    ("zod/v9", "imports 'zod/v9', and the installed zod (a dependency, at the version package-lock.json pins) "
               "has no such entry point"),
])
def test_an_import_esbuild_cannot_resolve_is_a_declaration_error(tmp_path, spec, message):
    from infra.bundle.node import unresolved_import

    manifest = {"name": "f", "dependencies": {"zod": "4.1.0"}, "devDependencies": {"prettier": "3.0.0"}}
    recipe = detect(write(tmp_path / "f", {"package.json": json.dumps(manifest), "package-lock.json": "{}",
                                           "index.mjs": ""}), "nodejs24.x")
    err = unresolved_import(ESBUILD_UNRESOLVED.format(spec=spec), recipe, "functions.f (f)")
    assert err is not None and err.exit_code == 2 and message in str(err)
    assert unresolved_import("✘ [ERROR] Unexpected end of file", recipe, "functions.f (f)") is None
    inside = ESBUILD_UNRESOLVED.format(spec="left-pad").replace("index.mjs:1:7:", "node_modules/zod/index.js:1:7:")
    assert unresolved_import(inside, recipe, "functions.f (f)") is None   # a dependency's import, not ours


def test_bundled_packages_with_native_addons_are_found(tmp_path):
    from infra.bundle.node import native_addons

    modules = tmp_path / "node_modules"
    write(modules / "bcrypt", {"package.json": "{}", "bcrypt.js": "", "prebuilds/linux-x64/bcrypt.node": "\0"})
    write(modules / "@napi/thing", {"package.json": "{}", "binding.gyp": "{}"})
    write(modules / "zod", {"package.json": "{}", "index.js": ""})
    write(modules / "unbundled-addon", {"package.json": "{}", "x.node": "\0"})
    write(modules / "plain", {"package.json": "{}", "lib/handlers.node/index.js": ""})   # a folder named *.node
    assert native_addons(["(function code)", "bcrypt", "@napi/thing", "zod", "plain"], modules) == ["@napi/thing", "bcrypt"]


def test_on_path_finds_what_shutil_which_finds(tmp_path, monkeypatch):
    import os
    import shutil

    from infra.bundle.tools import on_path

    first, second = tmp_path / "first", tmp_path / "second"
    for folder in (first, second):
        folder.mkdir()
    (first / "tool").mkdir()                                # a folder of that name is not it
    (first / "plain").write_text("not executable")          # nor a file that does not run
    (second / "plain").write_text("#!/bin/sh\n")
    (second / "plain").chmod(0o755)
    (second / "tool").write_text("#!/bin/sh\n")
    (second / "tool").chmod(0o755)
    monkeypatch.setenv("PATH", os.pathsep.join([str(first), str(second), os.environ.get("PATH", "")]))
    for name in ("tool", "plain", "npm", "sh", "no-such-tool-here"):
        assert on_path(name) == shutil.which(name), name
    assert on_path("tool") == str(second / "tool")
