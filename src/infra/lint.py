"""cfn-lint (informational rules included) and the quota checks over generated output."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from infra import quotas
from infra.errors import QuotaError, UsageError
from infra.render import compact_json

# W3002: the root points at its children by local path on purpose, so that E3043 checks the
# parameters passed to each child; `package` rewrites those paths to S3 URLs.
IGNORED = ["W3002"]


@dataclass(frozen=True)
class Finding:
    file: str
    line: int
    rule: str
    severity: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.rule} [{self.severity}] {self.message}"


def templates_under(paths: list[Path]) -> list[tuple[Path, str]]:
    """(template file, region) for every template under `paths` (output dirs or files)."""
    found: list[tuple[Path, str]] = []
    for path in paths:
        if path.is_file():
            found.append((path, _region_for(path)))
            continue
        if not path.is_dir():
            raise UsageError(f"{path}: no such file or directory to lint. Run `python generate.py templates` first.")
        manifests = sorted(path.glob("manifest.json")) or sorted(path.glob("*/manifest.json"))
        if not manifests:
            raise UsageError(f"{path}: no generated output here (no manifest.json). "
                             "Run `python generate.py templates` first.")
        for manifest in manifests:
            found += _from_manifest(manifest)
    return found


def _from_manifest(manifest: Path) -> list[tuple[Path, str]]:
    m = json.loads(manifest.read_text())
    base = manifest.parent
    out = [(base / m["root_template"], m["region"])]
    out += [(base / f, m["region"]) for f in sorted(m["templates"].values())]
    if m.get("global"):
        out.append((base / m["global"]["template"], m["global"]["region"]))
    return out


def _region_for(path: Path) -> str:
    manifest = path.parent / "manifest.json"
    if manifest.is_file():
        for file, region in _from_manifest(manifest):
            if file == path:
                return region
    return "us-east-1"


def lint(paths: list[Path]) -> list[Finding]:
    """Quota-check and cfn-lint every template; return all findings (errors, warnings, info)."""
    from cfnlint.config import ConfigMixIn  # heavy: imported only when linting
    from cfnlint.runner import Runner

    findings: list[Finding] = []
    by_region: dict[str, list[Path]] = {}
    for file, region in templates_under(paths):
        body = file.read_bytes()
        try:
            quotas.check(str(file), json.loads(body), compact_json(json.loads(body)))
        except json.JSONDecodeError as exc:
            findings.append(Finding(str(file), exc.lineno, "JSON", "error", f"not valid JSON: {exc.msg}"))
            continue
        except QuotaError as exc:
            findings.append(Finding(str(file), 1, "QUOTA", "error", str(exc)))
        by_region.setdefault(region, []).append(file)
    # One runner per region: cfn-lint loads its rules once for all of that region's templates.
    for region, files in sorted(by_region.items()):
        config = ConfigMixIn(["--template", *map(str, files)], include_checks=["I"], ignore_checks=IGNORED,
                             regions=[region])
        for match in Runner(config).run():
            findings.append(Finding(match.filename or "?", match.linenumber, match.rule.id,
                                    match.rule.severity.lower(), match.message))
    return findings
