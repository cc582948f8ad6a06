"""Scan each stack's rendered manifests with checkov and hold them to the bar:
no failed check, and at most three distinct check IDs skipped, each through an
annotation on the resource that gives its reason.

    python scripts/scan.py [STACK ...]     (default: every directory in build/render)
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RENDERED = ROOT / "build" / "render"
CHECKOV = ROOT / ".venv-scan" / "bin" / "checkov"
MAX_SKIPPED_IDS = 3


def scan(stack: str) -> tuple[dict[str, Any], list[str]]:
    directory = RENDERED / stack
    if not directory.is_dir():
        sys.exit(f"[scan] no manifests in {directory.relative_to(ROOT)}: run `make render` first")
    completed = subprocess.run(
        [str(CHECKOV), "--directory", str(directory), "--framework", "kubernetes", "--output", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    if not completed.stdout.strip():
        sys.exit(f"[scan] checkov produced no report for {stack}:\n{completed.stderr}")
    report = json.loads(completed.stdout)
    reports = report if isinstance(report, list) else [report]
    results = [r for r in reports if r.get("check_type") == "kubernetes"]
    if not results:
        sys.exit(f"[scan] checkov found no Kubernetes manifests in {directory}")
    summary = results[0]["summary"]
    problems = [
        f"{c['check_id']} {c['check_name']}: {c['resource']} ({c['file_path']})"
        for c in results[0]["results"]["failed_checks"]
    ]
    for skipped in results[0]["results"]["skipped_checks"]:
        reason = (skipped.get("check_result") or {}).get("suppress_comment", "")
        if not reason or reason == "No comment provided":
            problems.append(f"{skipped['check_id']} skipped without a reason on {skipped['resource']}")
    summary["skipped_ids"] = sorted({c["check_id"] for c in results[0]["results"]["skipped_checks"]})
    return summary, problems


def main() -> None:
    if not CHECKOV.exists() and shutil.which("checkov") is None:
        sys.exit("[scan] checkov is not installed: run `make scan` (it installs the pinned version into .venv-scan)")
    stacks = sys.argv[1:] or sorted(p.name for p in RENDERED.iterdir() if p.is_dir())
    failed = False
    skipped_ids: set[str] = set()
    print(f"{'stack':<10} {'passed':>7} {'failed':>7} {'skipped':>8}  skipped check IDs")
    for stack in stacks:
        summary, problems = scan(stack)
        skipped_ids |= set(summary["skipped_ids"])
        print(
            f"{stack:<10} {summary['passed']:>7} {summary['failed']:>7} {summary['skipped']:>8}  "
            + ", ".join(summary["skipped_ids"])
        )
        for problem in problems:
            print(f"  FAILED {problem}")
        failed = failed or bool(problems) or summary["passed"] == 0
    if len(skipped_ids) > MAX_SKIPPED_IDS:
        print(f"[scan] {len(skipped_ids)} distinct check IDs skipped, at most {MAX_SKIPPED_IDS} allowed: {skipped_ids}")
        failed = True
    if failed:
        sys.exit(
            "[scan] the manifests do not meet the bar; fix the components (components/kube/pod.py builds every pod)"
        )
    print(f"[scan] {len(stacks)} stacks: 0 failed checks, {len(skipped_ids)} check IDs skipped with reasons")


if __name__ == "__main__":
    main()
