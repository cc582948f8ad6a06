"""Golden render and URN snapshots: any change to what a stack sends to the cluster,
and any rename of a resource, shows up here as a diff to review.

After reviewing a change, `make snapshots` rewrites tests/unit/snapshots/ and the
diff goes into the same commit.
"""

from __future__ import annotations

import difflib
from functools import cache

import pytest

from tests.unit import snapshots
from tests.unit.harness import Run

REGENERATE = "review the change, then run `make snapshots` and commit tests/unit/snapshots/"
MAX_DIFF_LINES = 200


@cache
def built(name: str) -> Run:
    return snapshots.build(name)


def _diff(expected: str, actual: str, name: str) -> str:
    lines = list(
        difflib.unified_diff(
            expected.splitlines(), actual.splitlines(), f"committed {name}", f"rendered {name}", lineterm=""
        )
    )
    shown = "\n".join(lines[:MAX_DIFF_LINES])
    more = f"\n... {len(lines) - MAX_DIFF_LINES} more diff lines" if len(lines) > MAX_DIFF_LINES else ""
    return shown + more


@pytest.mark.parametrize("name", sorted(snapshots.RENDERS))
def test_render_matches_snapshot(name: str) -> None:
    path = snapshots.render_path(name)
    assert path.exists(), f"no snapshot {path.name}: {REGENERATE}"
    expected = path.read_text()
    actual = snapshots.render(built(name))
    if actual != expected:
        pytest.fail(f"the rendered {name} stack changed; {REGENERATE}\n{_diff(expected, actual, name)}", pytrace=False)


@pytest.mark.parametrize("name", sorted(snapshots.RENDERS))
def test_no_resource_renamed_without_alias(name: str) -> None:
    path = snapshots.urns_path(name)
    assert path.exists(), f"no snapshot {path.name}: {REGENERATE}"
    committed = set(path.read_text().split())
    run = built(name)
    current = {r.urn for r in run.registrations}
    aliased = {alias for r in run.registrations for alias in r.aliases}
    lost = sorted(committed - current - aliased)
    assert not lost, (
        f"{len(lost)} resource(s) of the {name} stack no longer exist under their URN, and nothing aliases them: "
        "`pulumi up` would delete and recreate them. Give the renamed resource "
        "`opts=pulumi.ResourceOptions(aliases=[...])` with its old name or parent; if the removal is intended, "
        f"{REGENERATE}.\n  " + "\n  ".join(lost)
    )
    added = sorted(current - committed)
    assert not added, f"new URN(s) in the {name} stack; {REGENERATE}:\n  " + "\n  ".join(added)
