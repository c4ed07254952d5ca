"""Each defect SPEC.md lists for the seeds, shown absent from what we generate and ship."""
from __future__ import annotations

import ast
import io
import json
import re
import sys
import zipfile
from pathlib import Path

from infra.config.validate import runtime_lifecycle
from support.match import has_resource_properties, resources

REPO = Path(__file__).resolve().parents[1]


def test_no_random_names_same_config_same_bytes(out_dir, tmp_path):
    # Seed 000 appended Math.random() to every name; test_generation checks byte identity across
    # processes, and no name here carries anything but config words.
    from infra.build import build_configs
    (again,) = build_configs([REPO / "config" / "secure-api.toml"], tmp_path)
    for f in sorted((out_dir / "secure-api").rglob("*")):
        if f.is_file():
            assert (again / f.relative_to(out_dir / "secure-api")).read_bytes() == f.read_bytes(), f.name


# What the Lambda Python runtime provides besides the standard library (boto3 and its own deps).
_PYTHON_RUNTIME = {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3"}


def test_handlers_use_only_what_the_runtimes_ship_or_they_declare(out_dir):
    # The seeds' inline code required aws-sdk v2 and aws_xray_sdk, absent from current runtimes.
    # Anything else a handler's own code imports is the runtime's, or pinned in its
    # requirements.txt (which the build installs for Lambda into the zip); a Node.js handler is
    # one esbuild bundle whose only imports left are Node's and the runtime's SDK v3.
    for manifest in sorted(out_dir.glob("*/manifest.json")):
        for asset in json.loads(manifest.read_text())["assets"]:
            source = REPO / asset["source"]
            requirements = source / "requirements.txt"
            pinned = {re.split(r"[=<>~ ;\[]", line.strip())[0].lower().replace("-", "_")
                      for line in (requirements.read_text().splitlines() if requirements.is_file() else [])
                      if line.strip() and not line.lstrip().startswith(("#", "--"))}
            with zipfile.ZipFile(io.BytesIO((manifest.parent / asset["file"]).read_bytes())) as zf:
                names = zf.namelist()
                # The handler's own files (dependencies installed beside them are checked by their pins).
                mine = [n for n in names if (source / n).is_file() or n.endswith(".mjs")]
                assert mine, asset
                own = {n.removesuffix(".py") for n in mine if n.endswith(".py")}
                for name in mine:
                    text = zf.read(name).decode()
                    assert "aws-sdk'" not in text and 'aws-sdk"' not in text and "aws_xray_sdk" not in text, name
                    if name.endswith(".py"):
                        for node in ast.walk(ast.parse(text)):
                            if isinstance(node, (ast.Import, ast.ImportFrom)):
                                mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                                for mod in (m.split(".")[0] for m in mods):
                                    assert mod not in {"aws_xray_sdk", "requests"}, (name, mod)
                                    assert (mod in sys.stdlib_module_names or mod in _PYTHON_RUNTIME or mod in own
                                            or mod in pinned or mod == "__future__"), (name, mod)
                    if name.endswith(".mjs"):
                        # Top-level import statements only (a bundle keeps its libraries' doc comments).
                        for mod in re.findall(r"""^import\s+(?:[^;'"]*?\s*from\s*)?["']([^"']+)["']""", text, re.M):
                            assert mod.startswith(("node:", "./", "@aws-sdk/")) or mod in _NODE_BUILTINS, (name, mod)


# Node.js built-in modules a bundle may import without the node: prefix.
_NODE_BUILTINS = {"crypto", "fs", "path", "os", "util", "stream", "http", "https", "url", "zlib", "events",
                  "buffer", "async_hooks", "module", "process", "child_process", "net", "tls", "assert"}


def test_runtimes_are_current(generated):
    import datetime

    from support.dates import PINNED_TODAY
    today = PINNED_TODAY
    for files in generated.values():
        for fn in resources(files.get("compute", {}), "AWS::Lambda::Function").values():
            life = runtime_lifecycle()[fn["Properties"]["Runtime"]]
            assert datetime.date.fromisoformat(life["deprecated"]) > today


def test_cloudfront_certificate_comes_from_us_east_1(custom_domain):
    assert "AWS::CertificateManager::Certificate" not in json.dumps(custom_domain["edge"])
    has_resource_properties(custom_domain["global"], "AWS::CertificateManager::Certificate", {"ValidationMethod": "DNS"})


def test_no_wildcard_actions_anywhere(generated):
    for config, files in generated.items():
        for stack, tpl in files.items():
            for lid, res in tpl.get("Resources", {}).items():
                props = res.get("Properties", {})
                if not res["Type"].startswith("AWS::IAM::") and "Policies" in props:
                    continue  # e.g. a Cognito user pool's password policy, not an IAM document
                docs = [p["PolicyDocument"] for p in props.get("Policies", [])]
                docs += [props[k] for k in ("PolicyDocument", "KeyPolicy") if k in props]
                for doc in docs:
                    for st in doc["Statement"]:
                        if st["Effect"] != "Allow":
                            continue
                        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
                        assert not any(a == "*" or a.endswith(":*") for a in actions), f"{config}/{stack}/{lid}"


def test_stateful_resources_retained_in_production(catalog, secure_prod):
    for files in (catalog, secure_prod):
        for stack in ("data", "security"):
            for res in files[stack]["Resources"].values():
                if res["Type"] in ("AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::KMS::Key",
                                   "AWS::SecretsManager::Secret"):
                    assert res["DeletionPolicy"] == res["UpdateReplacePolicy"] == "Retain"


def test_origin_request_policy_does_not_forward_the_host_header(secure):
    dist = next(iter(resources(secure["edge"], "AWS::CloudFront::Distribution").values()))
    behaviour = dist["Properties"]["DistributionConfig"]["DefaultCacheBehavior"]
    assert behaviour["OriginRequestPolicyId"] == "b689b0a8-53d0-40ab-baf2-68738e2966ac"  # AllViewerExceptHostHeader
    assert behaviour["OriginRequestPolicyId"] != "216adef6-5c7f-47e4-b989-5492eafa07d3"  # AllViewer


def test_catalog_has_a_region_and_monitoring_references_resources(catalog, generated):
    assert generated["catalog-api"]["manifest"]["region"] == "us-east-1"
    dims = [d for name, files in catalog.items() if "Resources" in files
            for alarm in resources(files, "AWS::CloudWatch::Alarm").values()
            for d in alarm["Properties"].get("Dimensions", [])]
    assert dims and all(isinstance(d["Value"], dict) and "Ref" in d["Value"] for d in dims)
    assert "prod-user-function" not in json.dumps(catalog)
