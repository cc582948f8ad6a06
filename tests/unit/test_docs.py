"""The committed architecture diagrams match what the program registers today."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from components.config.quantity import amount
from tests.documented import ROLLOUT_WAIT, marked_blocks

ROOT = Path(__file__).resolve().parents[2]


def _diagram_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("diagram", ROOT / "docs" / "diagram.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["diagram"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("stack", ["local", "minikube", "staging"])
def test_architecture_diagram_is_current(stack: str) -> None:
    committed = (ROOT / "docs" / f"architecture-{stack}.svg").read_text()
    assert _diagram_module().render(stack) == committed, "run `make docs` and commit the diagrams"


def _runnable_blocks() -> list[tuple[str, str]]:
    return marked_blocks("```bash runnable\n")


@pytest.mark.parametrize(("where", "script"), _runnable_blocks(), ids=[b[0] for b in _runnable_blocks()])
def test_runnable_doc_blocks_work_as_written(where: str, script: str) -> None:
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"{where} failed:\n{script}\n--- output ---\n{result.stdout}{result.stderr}"


def test_docs_have_runnable_blocks() -> None:
    assert len(_runnable_blocks()) >= 5


CREDENTIALS = {
    "gke": "gcloud container clusters get-credentials",
    "eks": "aws eks update-kubeconfig",
    "aks": "az aks get-credentials",
}


@pytest.mark.parametrize("cloud", sorted(CREDENTIALS))
def test_each_clouds_credentials_command_writes_the_kubeconfig_and_context_the_staging_stack_names(cloud: str) -> None:
    config = yaml.safe_load((ROOT / "Pulumi.staging.yaml").read_text())["config"]
    path, context = config["kubernetes:kubeconfig"], config["kubernetes:context"]
    guide = (ROOT / "docs" / "cloud.md").read_text()
    blocks = [chunk.split("\n```", 1)[0] for chunk in guide.split("```bash\n")[1:]]
    lines = [
        (block, line)
        for block in blocks
        for line in block.splitlines()
        if line.lstrip().startswith(CREDENTIALS[cloud]) or line.startswith(f"KUBECONFIG={path} {CREDENTIALS[cloud]}")
    ]
    assert len(lines) == 2, "the command when the cluster is made (section 2), and again (section 4)"
    for block, line in lines:
        # The file: named on the line, or exported for the block.
        assert path in line or f'export KUBECONFIG="$PWD/{path}"' in block, line
        # The context: named on the line, or given by renaming the one the command writes.
        renamed = f'config rename-context "gke_${{PROJECT}}_${{ZONE}}_${{CLUSTER}}" {context}'
        assert line.endswith(f" {context}") or (cloud == "gke" and renamed in block), line


def test_the_readme_gives_the_cpu_the_local_stack_requests_and_its_largest_rolling_pod() -> None:
    """The kind sizing in the README, from the local stack's golden render: every
    workload's CPU requests times its replicas, and the largest pod a rolling update
    of a Deployment adds."""
    objects = [
        entry["inputs"] for entry in yaml.safe_load((ROOT / "tests/unit/snapshots/local.render.yaml").read_text())
    ]
    total, largest_surge = Decimal(0), Decimal(0)
    for obj in objects:
        if obj.get("kind") not in ("Deployment", "StatefulSet"):
            continue
        pod = sum(
            (amount(c["resources"]["requests"]["cpu"]) for c in obj["spec"]["template"]["spec"]["containers"]),
            Decimal(0),
        )
        total += pod * obj["spec"]["replicas"]
        if obj["kind"] == "Deployment" and obj["spec"]["strategy"]["type"] == "RollingUpdate":
            largest_surge = max(largest_surge, pod)
    readme, troubleshooting = (
        " ".join((ROOT / doc).read_text().split()) for doc in ("README.md", "docs/operations.md")
    )
    cpus, surge = f"{total.normalize():f}", f"{largest_surge.normalize():f}"
    assert f"the local stack requests {cpus} CPUs" in readme
    assert f"one more Authentik server ({surge})" in readme
    assert f"the local stack requests {cpus} CPUs and kind's own pods about 0.95" in troubleshooting
    assert f"rolling update of Authentik's server needs {surge} more" in troubleshooting


@pytest.mark.parametrize("stack", ["local", "minikube", "staging-gke"])
def test_the_documented_rollout_wait_finds_every_namespace_with_a_workload(stack: str) -> None:
    """docs/operations.md waits for the rollouts in the namespaces it selects by label
    (the node suite runs that block after each `up`): every namespace the stack
    creates with a Deployment or StatefulSet in it carries the label."""
    selector = ROLLOUT_WAIT.split("kubectl get namespaces -l ", 1)[1].split()[0]
    key, value = selector.split("=")
    objects = [
        entry["inputs"] for entry in yaml.safe_load((ROOT / f"tests/unit/snapshots/{stack}.render.yaml").read_text())
    ]
    labelled = {
        o["metadata"]["name"]
        for o in objects
        if o.get("kind") == "Namespace" and o["metadata"].get("labels", {}).get(key) == value
    }
    with_workloads = {o["metadata"]["namespace"] for o in objects if o.get("kind") in ("Deployment", "StatefulSet")}
    assert with_workloads and with_workloads <= labelled, with_workloads - labelled
