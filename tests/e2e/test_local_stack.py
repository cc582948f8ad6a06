"""The local stack on a real API server: preview, up, readiness, idempotence, refresh,
secrets at rest, the other stacks' previews, and destroy.

The tests run in file order and share one deployment.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping

import pytest
from pulumi import automation as auto

from tests.e2e.conftest import ROOT, Deployer, kube_json, kubectl

pytestmark = pytest.mark.e2e

EXPECTED_OUTPUTS = {
    "url",
    "namespaces",
    "appsDeployed",
    "appsNotDeployed",
    "postgresHost",
    "postgresPort",
    "postgresDatabase",
    "postgresUser",
    "postgresPassword",
    "postgresUri",
    "redisHost",
    "redisPort",
    "redisPassword",
    "redisUrl",
    "authentikUrl",
    "authentikAdminUser",
    "authentikAdminPassword",
}
SECRET_OUTPUTS = {
    "postgresPassword",
    "postgresUri",
    "redisPassword",
    "redisUrl",
    "authentikAdminPassword",
}
NAMESPACES = ["staging-infra", "staging-core", "staging-ai", "staging-web", "staging-gateway"]


def _changes(summary: Mapping[auto.OpType, int] | None) -> dict[str, int]:
    return {op.value: count for op, count in (summary or {}).items() if op != auto.OpType.SAME and count}


@pytest.fixture(scope="module")
def local(deployer: Deployer) -> auto.Stack:
    return deployer.stack("e2e-local", "local")


@pytest.fixture(scope="module")
def first_up(local: auto.Stack) -> auto.UpResult:
    return local.up(on_output=print, color="never")


def test_preview_has_no_errors(local: auto.Stack) -> None:
    lines: list[str] = []
    result = local.preview(on_output=lines.append, color="never")
    assert result.change_summary.get(auto.OpType.CREATE, 0) > 50
    assert not [line for line in lines if "error:" in line], "\n".join(lines)


@pytest.mark.parametrize(
    ("stack_file", "secret_config"),
    [("minikube", {"platform:openaiApiKey": "sk-e2e-preview"}), ("staging", {})],
)
def test_other_stacks_preview_cleanly(deployer: Deployer, stack_file: str, secret_config: dict[str, str]) -> None:
    # Before the local stack is up: these stacks share its namespaces.
    stack = deployer.stack(f"e2e-{stack_file}", stack_file, secret_config)
    lines: list[str] = []
    result = stack.preview(on_output=lines.append, color="never")
    assert result.change_summary.get(auto.OpType.CREATE, 0) > 20
    assert not [line for line in lines if "error:" in line], "\n".join(lines)


def test_up_converges(first_up: auto.UpResult) -> None:
    assert first_up.summary.result == "succeeded"
    assert first_up.summary.resource_changes and first_up.summary.resource_changes.get(auto.OpType.CREATE, 0) > 50


def test_every_deployment_and_statefulset_is_ready(first_up: auto.UpResult) -> None:
    seen = []
    for kind in ("deployments", "statefulsets"):
        for item in kube_json(kind, "--all-namespaces")["items"]:
            namespace = item["metadata"]["namespace"]
            if namespace not in NAMESPACES:
                continue
            wanted = item["spec"]["replicas"]
            ready = item.get("status", {}).get("readyReplicas", 0)
            assert ready == wanted, f"{kind} {namespace}/{item['metadata']['name']}: {ready}/{wanted} ready"
            seen.append(item["metadata"]["name"])
    assert sorted(seen) == sorted(
        [
            "gateway",
            "redis",
            "authentik-server",
            "authentik-worker",
            "core",
            "ai",
            "web",
            "postgres",
            "authentik-postgres",
        ]
    )


def test_pod_security_admits_every_pod(first_up: auto.UpResult) -> None:
    for namespace in NAMESPACES:
        labels = kube_json("namespace", namespace)["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    pods = [p for p in kube_json("pods", "--all-namespaces")["items"] if p["metadata"]["namespace"] in NAMESPACES]
    assert len(pods) == 10  # 8 Deployment pods (authentik-server has 2) and 2 PostgreSQL pods
    events = kubectl("get", "events", "--all-namespaces", "--field-selector", "reason=FailedCreate", "-o", "json")
    failures = [e["message"] for e in json.loads(events.stdout)["items"] if e["metadata"]["namespace"] in NAMESPACES]
    assert failures == []


def test_claims_are_bound_and_ingresses_have_an_address(first_up: auto.UpResult) -> None:
    claims = kube_json("pvc", "-n", "staging-infra")["items"]
    assert {c["metadata"]["name"]: c["status"]["phase"] for c in claims} == {
        "data-postgres-0": "Bound",
        "data-authentik-postgres-0": "Bound",
        "redis-data": "Bound",
        "authentik-media": "Bound",
    }
    for namespace in ("staging-infra", "staging-core", "staging-ai", "staging-web"):
        ingress = kube_json("ingress", "gateway", "-n", namespace)
        assert ingress["status"]["loadBalancer"]["ingress"], namespace


def test_expected_outputs_exist(local: auto.Stack, first_up: auto.UpResult) -> None:
    outputs = local.outputs()
    assert set(outputs) == EXPECTED_OUTPUTS
    assert {key for key, value in outputs.items() if value.secret} == SECRET_OUTPUTS
    assert outputs["url"].value == "http://localhost/"
    assert outputs["authentikUrl"].value == "http://localhost/auth/"
    assert outputs["postgresUri"].value.startswith("postgresql://app:")


def test_second_up_changes_nothing(local: auto.Stack, first_up: auto.UpResult) -> None:
    result = local.up(color="never")
    assert _changes(result.summary.resource_changes) == {}


def test_refresh_finds_no_drift(local: auto.Stack, first_up: auto.UpResult) -> None:
    result = local.refresh(color="never")
    assert _changes(result.summary.resource_changes) == {}


def test_exported_state_holds_no_plaintext_secret(
    deployer: Deployer, local: auto.Stack, first_up: auto.UpResult
) -> None:
    outputs = local.outputs()
    # The CLI itself: the Automation API's export_stack() decrypts (--show-secrets).
    exported = deployer.pulumi("stack", "export", "--stack", local.name)
    values = [outputs[key].value for key in SECRET_OUTPUTS]
    assert all(len(value) >= 32 for value in values)
    for key in SECRET_OUTPUTS:
        assert outputs[key].value not in exported, f"{key} is in plaintext in the exported state"
    assert "ciphertext" in exported


def test_no_generated_secret_in_the_repository_or_command_output(local: auto.Stack, first_up: auto.UpResult) -> None:
    values = [local.outputs()[key].value for key in SECRET_OUTPUTS]
    assert first_up.stdout and all(value not in first_up.stdout + first_up.stderr for value in values)
    preview = local.preview(color="never", diff=True)
    assert all(value not in preview.stdout for value in values)
    tracked = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for name in filter(None, tracked):
        path = ROOT / name
        if path.is_file():
            text = path.read_bytes().decode(errors="ignore")
            assert all(value not in text for value in values), f"a generated secret is in {name}"


def test_destroy_keeps_only_the_data_volumes(local: auto.Stack, first_up: auto.UpResult) -> None:
    result = local.destroy(color="never")
    assert result.summary.result == "succeeded"
    assert kube_json("namespace", "staging-infra")["status"]["phase"] == "Active"
    for namespace in NAMESPACES[1:]:
        found = kubectl("get", "namespace", namespace, "-o", "json", check=False)
        assert found.returncode != 0 or json.loads(found.stdout)["status"]["phase"] == "Terminating", namespace
    managed = kubectl(
        "get",
        "deployments,statefulsets,services,secrets,configmaps,networkpolicies,ingresses",
        "-n",
        "staging-infra",
        "-l",
        "app.kubernetes.io/managed-by=pulumi",
        "-o",
        "name",
    ).stdout.split()
    assert managed == []
    claims = {c["metadata"]["name"] for c in kube_json("pvc", "-n", "staging-infra")["items"]}
    assert claims == {"data-postgres-0", "data-authentik-postgres-0", "redis-data", "authentik-media"}
    assert kubectl("get", "ingressclass", "traefik", check=False).returncode != 0
