"""Run checkov (CloudFormation framework) over out/ and enforce the bar: zero failed checks.

checkov lives in its own virtual environment (its pins clash with ours), so it runs as a
subprocess. Skips are only honoured from resource Metadata, each with a written reason; the
gate prints how many there are so the number stays visible and small.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path


def run_checkov(checkov: str, out_dir: Path) -> list[dict]:
    """checkov's JSON report(s) for `out_dir`, without any network access (--skip-download)."""
    proc = subprocess.run(
        [checkov, "-d", str(out_dir), "--framework", "cloudformation", "-o", "json", "--skip-download",
         "--skip-path", "manifest.json", "--skip-path", "packaged"],
        capture_output=True, text=True)
    if proc.returncode not in (0, 1) or not proc.stdout.strip():
        raise SystemExit(f"checkov did not run (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    data = json.loads(proc.stdout)
    return data if isinstance(data, list) else [data]


def summarize(reports: list[dict]) -> tuple[list[str], list[str], dict]:
    """(failure lines, skip lines, totals) from checkov reports."""
    failures, skips = [], []
    totals: Counter = Counter()
    for report in reports:
        if "results" not in report:  # checkov reports "no files found" as a bare summary
            continue
        summary = report["summary"]
        totals.update({k: summary.get(k, 0) for k in ("passed", "failed", "skipped", "parsing_errors")})
        for f in report["results"]["failed_checks"]:
            failures.append(f"FAILED {f['check_id']} {f['check_name']}: {f['file_path']} {f['resource']}")
        for f in report["results"]["skipped_checks"]:
            reason = (f.get("check_result") or {}).get("suppress_comment", "")
            skips.append(f"skipped {f['check_id']} {f['file_path']} {f['resource']}: {reason}")
    return failures, skips, dict(totals)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkov", default="checkov", help="checkov executable")
    parser.add_argument("out", type=Path, nargs="?", default=Path("out"))
    args = parser.parse_args(argv)
    failures, skips, totals = summarize(run_checkov(args.checkov, args.out))
    for line in failures + skips:
        print(line)
    print(f"checkov: {totals.get('passed', 0)} passed, {totals.get('failed', 0)} failed, "
          f"{totals.get('skipped', 0)} skipped (each with a reason in the resource Metadata), "
          f"{totals.get('parsing_errors', 0)} parsing errors")
    if not totals.get("passed"):
        print("checkov checked nothing: is the output directory empty?", file=sys.stderr)
        return 1
    return 1 if failures or totals.get("parsing_errors") else 0


if __name__ == "__main__":
    sys.exit(main())
