"""NetworkPolicies, enforced: each flow the platform declares works and each one it
does not is refused, for pods carrying the labels of the workload they stand for."""

from __future__ import annotations

import pytest

from tests.node.conftest import Node, reachable, run_pod, template_labels

INFRA = "staging-infra"
POSTGRES = "postgres.staging-infra.svc.cluster.local:5432"
REDIS = "redis.staging-infra.svc.cluster.local:6379"
AUTHENTIK_DB = "authentik-postgres.staging-infra.svc.cluster.local:5432"
AUTHENTIK = "authentik-server.staging-infra.svc.cluster.local:9000"


def app(name: str) -> str:
    return f"{name}.staging-{name}.svc.cluster.local:8080"


@pytest.fixture(scope="module")
def labels(node: Node) -> dict[str, dict[str, str]]:
    return {
        "core": template_labels(node, "deployment", "staging-core", "core"),
        "ai": template_labels(node, "deployment", "staging-ai", "ai"),
        "web": template_labels(node, "deployment", "staging-web", "web"),
        "gateway": template_labels(node, "deployment", "staging-gateway", "gateway"),
        "authentik-server": template_labels(node, "deployment", INFRA, "authentik-server"),
        "authentik-worker": template_labels(node, "deployment", INFRA, "authentik-worker"),
    }


def test_each_app_reaches_the_services_it_uses_and_nothing_else(node: Node, labels: dict[str, dict[str, str]]) -> None:
    core = reachable(node, "staging-core", labels["core"], [POSTGRES, REDIS, AUTHENTIK_DB, app("ai"), app("web")])
    assert core == {POSTGRES: True, REDIS: True, AUTHENTIK_DB: False, app("ai"): False, app("web"): False}
    ai = reachable(node, "staging-ai", labels["ai"], [POSTGRES, REDIS, app("core")])
    assert ai == {POSTGRES: True, REDIS: False, app("core"): False}


def test_the_web_namespace_reaches_no_data_service(node: Node, labels: dict[str, dict[str, str]]) -> None:
    web = reachable(node, "staging-web", labels["web"], [POSTGRES, REDIS, AUTHENTIK_DB, AUTHENTIK])
    assert web == {POSTGRES: False, REDIS: False, AUTHENTIK_DB: False, AUTHENTIK: False}


def test_the_gateway_reaches_each_routed_app_and_authentik(node: Node, labels: dict[str, dict[str, str]]) -> None:
    targets = [app("core"), app("ai"), app("web"), AUTHENTIK, POSTGRES, REDIS]
    gateway = reachable(node, "staging-gateway", labels["gateway"], targets)
    assert gateway == {
        app("core"): True,
        app("ai"): True,
        app("web"): True,
        AUTHENTIK: True,
        POSTGRES: False,
        REDIS: False,
    }


def test_authentik_reaches_its_database_and_no_other(node: Node, labels: dict[str, dict[str, str]]) -> None:
    for role in ("authentik-server", "authentik-worker"):
        flows = reachable(node, INFRA, labels[role], [AUTHENTIK_DB, POSTGRES])
        assert flows == {AUTHENTIK_DB: True, POSTGRES: False}, role


def test_an_unlabelled_pod_reaches_nothing(node: Node) -> None:
    flows = reachable(node, INFRA, {"app.kubernetes.io/name": "stranger"}, [POSTGRES, REDIS, AUTHENTIK_DB, AUTHENTIK])
    assert not any(flows.values()), flows


def test_dns_answers_in_every_namespace(node: Node, labels: dict[str, dict[str, str]]) -> None:
    for namespace, role in (
        ("staging-core", "core"),
        ("staging-ai", "ai"),
        ("staging-web", "web"),
        ("staging-gateway", "gateway"),
        (INFRA, "authentik-server"),
    ):
        output = run_pod(node, namespace, labels[role], "getent hosts kubernetes.default.svc.cluster.local")
        assert "10.96.0.1" in output, (namespace, output)
