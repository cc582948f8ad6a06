"""The CrossGuard pack runs inside `pulumi preview`: the platform passes it, and a
non-compliant workload is stopped before anything is created."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s
import pytest
from pulumi import automation as auto

from tests.e2e.conftest import ROOT, Deployer

pytestmark = pytest.mark.e2e
POLICY = ROOT / "policy"


def _require_policy_venv() -> None:
    if not (POLICY / "venv" / "bin" / "python").exists():
        pytest.fail("policy/venv is missing: run `make policy/venv/.installed` (make test-e2e does)", pytrace=False)


def test_the_local_stack_passes_the_pack(deployer: Deployer) -> None:
    _require_policy_venv()
    stack = deployer.stack("e2e-policy-local", "local")
    lines: list[str] = []
    stack.preview(on_output=lines.append, color="never", policy_packs=[str(POLICY)])
    output = "\n".join(lines)
    assert "platform-security" in output
    assert "mandatory" not in output.lower(), output


def _unpinned_deployment() -> None:
    labels = {"app.kubernetes.io/name": "rogue"}
    k8s.apps.v1.Deployment(
        "rogue",
        metadata={"name": "rogue", "namespace": "default", "labels": labels},
        spec={
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "web", "image": "nginx:latest"}]},
            },
        },
    )
    pulumi.export("created", True)


def test_a_violation_stops_the_preview(deployer: Deployer, tmp_path: Path) -> None:
    _require_policy_venv()
    stack = auto.create_or_select_stack(
        stack_name="e2e-policy-rogue",
        project_name="rogue",
        program=_unpinned_deployment,
        opts=auto.LocalWorkspaceOptions(work_dir=str(tmp_path), env_vars=deployer.env),
    )
    lines: list[str] = []
    with pytest.raises(auto.errors.CommandError) as failed:
        stack.preview(on_output=lines.append, color="never", policy_packs=[str(POLICY)])
    report = "\n".join(lines) + str(failed.value)
    assert "images-pinned" in report or "not pinned" in report, report
    assert "Deployment default/rogue" in report, report
