"""Metrics on a real API server: without the Prometheus Operator's CRDs the program
plans no monitor; with them (tests/e2e/fixtures) it finds them and creates a
PodMonitor for every metrics endpoint, beside the exporters and the NetworkPolicies
that admit the scraper's namespace to the metrics ports and nothing more.

The stack is the local one with metrics on, in namespaces of its own. The tests run
in file order and share one deployment.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from pulumi import automation as auto

from tests.e2e.conftest import ROOT, Deployer, kube_json, kubectl

pytestmark = pytest.mark.e2e

CRDS = ROOT / "tests" / "e2e" / "fixtures" / "prometheus-operator-crds.yaml"
CRD_NAMES = ["podmonitors.monitoring.coreos.com", "servicemonitors.monitoring.coreos.com"]
INFRA, GATEWAY = "metrics-infra", "metrics-gateway"
SCRAPER = "monitoring"
# The metrics port of each workload, by (namespace, name).
ENDPOINTS = {
    (INFRA, "postgres"): 9187,
    (INFRA, "authentik-postgres"): 9187,
    (INFRA, "redis"): 9121,
    (INFRA, "authentik-server"): 9300,
    (GATEWAY, "gateway"): 9100,
}
EXPORTERS = {
    "postgres": "prometheuscommunity/postgres-exporter:v0.20.1",
    "authentik-postgres": "prometheuscommunity/postgres-exporter:v0.20.1",
    "redis": "oliver006/redis_exporter:v1.88.0",
}


def _overrides() -> dict[str, Any]:
    local = yaml.safe_load((ROOT / "Pulumi.local.yaml").read_text())["config"]
    return {
        "platform:namespaces": [{"name": INFRA}, {"name": GATEWAY}],
        "platform:postgres": local["platform:postgres"] | {"namespace": INFRA},
        "platform:redis": local["platform:redis"] | {"namespace": INFRA},
        "platform:authentik": local["platform:authentik"] | {"namespace": INFRA},
        "platform:apps": [],
        # An IngressClass is cluster-wide: this stack's must not be the local stack's.
        "platform:gateway": local["platform:gateway"] | {"namespace": GATEWAY, "className": "metrics-e2e"},
        "platform:metrics": {"enabled": True, "scraperNamespace": SCRAPER},
    }


def _crds(action: str) -> None:
    kubectl(action, "-f", str(CRDS), *(["--ignore-not-found", "--wait"] if action == "delete" else []))


def _delete_namespaces() -> None:
    kubectl("delete", "namespace", INFRA, GATEWAY, "--ignore-not-found", "--wait=true", "--timeout=300s")


@pytest.fixture(scope="module")
def stack(deployer: Deployer) -> Iterator[auto.Stack]:
    _crds("delete")
    _delete_namespaces()
    yield deployer.stack("e2e-metrics", "local", overrides=_overrides())
    _crds("delete")
    _delete_namespaces()


@pytest.fixture(scope="module")
def operator_crds(stack: auto.Stack) -> None:
    _crds("apply")
    kubectl("wait", "--for=condition=Established", "--timeout=60s", *(f"crd/{name}" for name in CRD_NAMES))


@pytest.fixture(scope="module")
def first_up(stack: auto.Stack, operator_crds: None) -> auto.UpResult:
    return stack.up(on_output=print, color="never")


def _pods(namespace: str, match_labels: dict[str, str]) -> list[dict[str, Any]]:
    selector = ",".join(f"{key}={value}" for key, value in match_labels.items())
    return list(kube_json("pods", "-n", namespace, "-l", selector)["items"])


def _ports(pod: dict[str, Any]) -> dict[str, int]:
    return {p["name"]: p["containerPort"] for c in pod["spec"]["containers"] for p in c.get("ports", [])}


def test_without_the_operator_no_monitor_is_planned(stack: auto.Stack) -> None:
    preview = stack.preview(color="never")
    assert "PodMonitor (monitoring.coreos.com/v1) not found in the cluster" in preview.stdout, preview.stdout
    assert "kubernetes:monitoring.coreos.com/v1:PodMonitor" not in preview.stdout, preview.stdout
    for resource in ("postgres", "authentik-db", "redis", "authentik-server", "gateway"):
        assert f"{resource}-metrics-netpol" in preview.stdout, preview.stdout


def test_up_with_the_operator_converges(first_up: auto.UpResult) -> None:
    assert first_up.summary.result == "succeeded"


def test_exporters_run_beside_their_servers(first_up: auto.UpResult) -> None:
    for name, image in EXPORTERS.items():
        kind = "deployment" if name == "redis" else "statefulset"
        workload = kube_json(kind, name, "-n", INFRA)
        assert workload["status"].get("readyReplicas") == workload["spec"]["replicas"], name
        pods = _pods(INFRA, workload["spec"]["selector"]["matchLabels"])
        assert pods, name
        for pod in pods:
            exporter = next(c for c in pod["spec"]["containers"] if c["name"] == "metrics")
            assert exporter["image"] == image
            assert exporter["securityContext"]["readOnlyRootFilesystem"] is True
            assert "ephemeral-storage" in exporter["resources"]["limits"]
            ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
            assert ready["Ready"] == "True", pod["metadata"]["name"]


def test_a_pod_monitor_selects_every_metrics_endpoint(first_up: auto.UpResult) -> None:
    monitors = kube_json("podmonitors.monitoring.coreos.com", "--all-namespaces")["items"]
    found = {(m["metadata"]["namespace"], m["metadata"]["name"]): m for m in monitors}
    assert set(found) == set(ENDPOINTS)
    for (namespace, name), port in ENDPOINTS.items():
        spec = found[namespace, name]["spec"]
        assert spec["namespaceSelector"] == {"matchNames": [namespace]}
        [endpoint] = spec["podMetricsEndpoints"]
        assert endpoint["path"] == "/metrics"
        pods = _pods(namespace, spec["selector"]["matchLabels"])
        assert pods, f"the PodMonitor {namespace}/{name} selects no pod"
        assert all(_ports(pod)[endpoint["port"]] == port for pod in pods), name


def test_only_the_scraper_namespace_reaches_the_metrics_ports(first_up: auto.UpResult) -> None:
    metrics_ports = set(ENDPOINTS.values())
    for namespace in (INFRA, GATEWAY):
        for policy in kube_json("networkpolicies", "-n", namespace)["items"]:
            spec = policy["spec"]
            name = policy["metadata"]["name"]
            if not name.endswith("-metrics"):
                opened = {p.get("port") for rule in spec.get("ingress", []) for p in rule.get("ports", [])}
                assert not opened & metrics_ports, f"{namespace}/{name} opens a metrics port"
                continue
            port = ENDPOINTS[namespace, name.removesuffix("-metrics")]
            assert spec["policyTypes"] == ["Ingress"]
            assert spec["ingress"] == [
                {
                    "from": [
                        {
                            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": SCRAPER}},
                            "podSelector": {},
                        }
                    ],
                    "ports": [{"port": port, "protocol": "TCP"}],
                }
            ]
            pods = _pods(namespace, spec["podSelector"]["matchLabels"])
            assert pods and all(_ports(pod)["metrics"] == port for pod in pods), name
    names = {
        (p["metadata"]["namespace"], p["metadata"]["name"].removesuffix("-metrics"))
        for namespace in (INFRA, GATEWAY)
        for p in kube_json("networkpolicies", "-n", namespace)["items"]
        if p["metadata"]["name"].endswith("-metrics")
    }
    assert names == set(ENDPOINTS)


def test_second_up_changes_nothing(stack: auto.Stack, first_up: auto.UpResult) -> None:
    result = stack.up(color="never")
    changes = {op.value: n for op, n in (result.summary.resource_changes or {}).items() if op != auto.OpType.SAME}
    assert not any(changes.values()), changes


def test_destroy_removes_the_monitors(stack: auto.Stack, first_up: auto.UpResult) -> None:
    assert stack.destroy(color="never").summary.result == "succeeded"
    left = kubectl("get", "podmonitors.monitoring.coreos.com", "--all-namespaces", "-o", "json")
    assert json.loads(left.stdout)["items"] == []
