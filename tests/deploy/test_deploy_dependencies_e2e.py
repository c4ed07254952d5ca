"""End to end: the functions with dependencies of tests/fixtures/deps/ deploy to the emulator
through the real CLI. Lambda (moto) holds exactly the zips that were built, for the declared
architectures, the uv project's functions use one shared layer version, and a second deploy
uploads nothing."""
from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil

from deploy_emulator import REPO, boto

STACK = "deps-dev"
CI = ("--yes", "--require-approval", "never")


def test_functions_with_dependencies_deploy_with_their_architecture_and_layer(cli, emulator, tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    config = tmp_path / "deps.toml"
    shutil.copy(REPO / "tests" / "fixtures" / "deps" / "deps.toml", config)
    args = ["--config", config, "--out", tmp_path / "out", "--endpoint-url", emulator.endpoint_url]

    created = cli("deploy", *args, *CI)
    assert created.exit_code == 0, created.output[-3000:]
    cfn, lam = boto(emulator.endpoint_url, "cloudformation"), boto(emulator.endpoint_url, "lambda")
    assert cfn.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"

    out = tmp_path / "out" / "deps"
    compute = json.loads((out / "compute.json").read_text())["Resources"]
    expected = {"py": "x86_64", "py-arm": "arm64", "orders": "arm64", "invoices": "arm64", "js": "x86_64"}
    for name, arch in expected.items():
        fn = lam.get_function(FunctionName=f"{STACK}-{name}")["Configuration"]
        assert fn["Architectures"] == [arch], name
        key = next(r["Properties"]["Code"]["S3Key"] for r in compute.values()
                   if r["Type"] == "AWS::Lambda::Function" and r["Properties"]["FunctionName"] == f"{STACK}-{name}")
        data = (out / key).read_bytes()
        assert fn["CodeSha256"] == base64.b64encode(hashlib.sha256(data).digest()).decode(), name
        assert fn["CodeSize"] == len(data)

    (version,) = lam.list_layer_versions(LayerName="deps-dev-deps-tests-fixtures-deps-py-uv-py314-arm64")["LayerVersions"]
    assert version["CompatibleArchitectures"] == ["arm64"] and version["CompatibleRuntimes"] == ["python3.14"]
    for name in ("orders", "invoices"):
        layers = lam.get_function(FunctionName=f"{STACK}-{name}")["Configuration"]["Layers"]
        assert [layer["Arn"] for layer in layers] == [version["LayerVersionArn"]]

    again = cli("deploy", *args, *CI)
    assert again.exit_code == 0, again.output[-3000:]
    assert f"{STACK}: no changes." in again.stdout
    packaged = cli("package", "--config", config, "--out", tmp_path / "out", "--endpoint-url", emulator.endpoint_url)
    assert packaged.exit_code == 0, packaged.output[-3000:]
    assert re.search(r"0 object\(s\) uploaded, \d+ already present", packaged.output), packaged.output  # zips too

    gone = cli("destroy", *args, "--yes")
    assert gone.exit_code == 0, gone.output[-3000:]
