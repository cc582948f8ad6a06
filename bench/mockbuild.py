"""Build the whole program under Pulumi mocks, in one fresh process, several times.

    .venv/bin/python bench/mockbuild.py [--stack local] [--builds 5]

Prints one JSON object: the time to import the SDK, the Kubernetes SDK and the
components, the first build (what a test run pays once), the later builds, and the
number of resources registered. Run by bench/run.py; no CLI or cluster involved.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

STARTED = time.perf_counter()
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stack", default="local")
    parser.add_argument("--builds", type=int, default=5)
    options = parser.parse_args()

    marks: dict[str, float] = {}
    t = time.perf_counter()
    import pulumi  # noqa: F401

    marks["import pulumi"] = time.perf_counter() - t
    t = time.perf_counter()
    import pulumi_kubernetes  # noqa: F401

    marks["import pulumi_kubernetes"] = time.perf_counter() - t
    t = time.perf_counter()
    import components.platform  # noqa: F401
    from tests.unit import harness

    marks["import components + harness"] = time.perf_counter() - t

    builds: list[float] = []
    count = 0
    for _ in range(options.builds):
        t = time.perf_counter()
        run = harness.run_stack(options.stack)
        builds.append(time.perf_counter() - t)
        count = len(run.registrations)
    json.dump(
        {
            "imports_s": {key: round(value, 4) for key, value in marks.items()},
            "first_build_s": round(builds[0], 4),
            "later_builds_s": [round(value, 4) for value in builds[1:]],
            "resources": count,
            "process_s": round(time.perf_counter() - STARTED, 4),
        },
        sys.stdout,
    )
    print()


if __name__ == "__main__":
    main()
