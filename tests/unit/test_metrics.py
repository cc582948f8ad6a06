"""Prometheus metrics: on by default on the clouds, off locally unless configured;
exporters hardened like every container; the scraper's namespace admitted to the
metrics ports and nothing more; PodMonitors when the operator's CRDs exist or the
stack says so; the cluster asked through its discovery API."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from functools import cache
from typing import Any

import pytest
import yaml

from components.config.loading import ConfigError
from components.discovery import serves
from components.kubeconfig import ApiClient, Kubeconfig
from tests.unit.fake_api import FakeApi, resource_list, serve
from tests.unit.harness import Registration, Run, last_run, run_program, stack_config

# The metrics port of each pod, by workload name, in the staging stack.
METRICS_PORTS = {
    "postgres": 9187,
    "authentik-postgres": 9187,
    "redis": 9121,
    "authentik-server": 9300,
    "gateway": 9100,
}
EXPORTERS = {
    "postgres": "prometheuscommunity/postgres-exporter:v0.20.1",
    "authentik-postgres": "prometheuscommunity/postgres-exporter:v0.20.1",
    "redis": "oliver006/redis_exporter:v1.88.0",
}


def staging(pod_monitors_available: bool = False, **metrics: Any) -> Run:
    if not metrics and not pod_monitors_available:
        return default_staging()
    config = stack_config("staging") | {"metrics": metrics}
    return run_program(config, stack="staging", pod_monitors_available=pod_monitors_available)


@cache
def default_staging() -> Run:
    return run_program(stack_config("staging"), stack="staging")


def local(metrics: dict[str, Any] | None = None) -> Run:
    config = stack_config("local")
    if metrics is not None:
        config = config | {"metrics": metrics}
    return run_program(config, stack="local")


def _workload(run: Run, name: str) -> Registration:
    return next(w for w in run.workloads() if w.k8s_name == name and w.kind != "CronJob")


def _container_ports(pod: dict[str, Any]) -> dict[str, int]:
    return {p["name"]: p["containerPort"] for c in pod["containers"] for p in c.get("ports", [])}


def _metrics_policies(run: Run) -> dict[str, Registration]:
    return {p.k8s_name or "": p for p in run.of_kind("NetworkPolicy") if (p.k8s_name or "").endswith("-metrics")}


def test_staging_serves_metrics_from_every_server_by_default() -> None:
    run = staging()
    for name, port in METRICS_PORTS.items():
        pod = _workload(run, name).pod_spec()
        assert _container_ports(pod)["metrics"] == port, name
        annotations = _workload(run, name).inputs["spec"]["template"]["metadata"]["annotations"]
        scrape = {"prometheus.io/scrape": "true", "prometheus.io/port": str(port), "prometheus.io/path": "/metrics"}
        assert scrape.items() <= annotations.items()


def test_local_serves_no_metrics_unless_configured() -> None:
    run = local()
    assert _metrics_policies(run) == {}
    for workload in run.workloads():
        pod = workload.pod_spec()
        assert all(c["name"] != "metrics" for c in pod["containers"]), workload.k8s_name
        annotations = workload.inputs["spec"]["template"]["metadata"].get("annotations") or {}
        assert "prometheus.io/scrape" not in annotations, workload.k8s_name
    assert "--metrics.prometheus=true" not in _workload(run, "gateway").pod_spec()["containers"][0]["args"]
    enabled = local({"enabled": True})
    assert set(_metrics_policies(enabled)) == {f"{name}-metrics" for name in METRICS_PORTS}


def test_metrics_can_be_turned_off_on_the_clouds() -> None:
    run = staging(enabled=False)
    assert _metrics_policies(run) == {}
    assert not any(c["name"] == "metrics" for w in run.workloads() for c in w.pod_spec()["containers"])


@pytest.mark.parametrize("name", sorted(EXPORTERS))
def test_exporters_are_pinned_and_hardened_sidecars(name: str) -> None:
    pod = _workload(staging(), name).pod_spec()
    exporter = next(c for c in pod["containers"] if c["name"] == "metrics")
    assert exporter["image"] == EXPORTERS[name]
    assert exporter["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert pod["securityContext"]["runAsNonRoot"] is True
    for bound in ("requests", "limits"):
        assert set(exporter["resources"][bound]) == {"cpu", "memory", "ephemeral-storage"}
    assert exporter["livenessProbe"]["tcpSocket"]["port"] == "metrics"
    assert exporter["readinessProbe"]["httpGet"]["port"] == "metrics"
    assert exporter["volumeMounts"] == []


def test_exporters_take_the_password_from_the_servers_secret() -> None:
    run = staging()
    postgres = next(c for c in _workload(run, "postgres").pod_spec()["containers"] if c["name"] == "metrics")
    env = {e["name"]: e for e in postgres["env"]}
    assert env["DATA_SOURCE_URI"]["value"] == "127.0.0.1:5432/app?sslmode=disable"
    assert env["DATA_SOURCE_USER"]["value"] == "app"
    assert env["DATA_SOURCE_PASS"]["valueFrom"] == {"secretKeyRef": {"name": "postgres-credentials", "key": "password"}}
    redis = next(c for c in _workload(run, "redis").pod_spec()["containers"] if c["name"] == "metrics")
    env = {e["name"]: e for e in redis["env"]}
    assert env["REDIS_ADDR"]["value"] == "redis://127.0.0.1:6379"
    assert env["REDIS_PASSWORD"]["valueFrom"] == {"secretKeyRef": {"name": "redis-credentials", "key": "password"}}


def test_traefik_serves_metrics_on_an_entrypoint_of_its_own() -> None:
    args = _workload(staging(), "gateway").pod_spec()["containers"][0]["args"]
    assert "--entryPoints.metrics.address=:9100" in args
    assert "--metrics.prometheus=true" in args
    assert "--metrics.prometheus.entryPoint=metrics" in args


def test_only_the_scraper_namespace_reaches_a_metrics_port() -> None:
    run = staging()
    for name, port in METRICS_PORTS.items():
        spec = _metrics_policies(run)[f"{name}-metrics"].inputs["spec"]
        workload = _workload(run, name)
        assert spec["podSelector"] == workload.inputs["spec"]["selector"]
        assert spec["policyTypes"] == ["Ingress"]
        assert spec["ingress"] == [
            {
                "from": [
                    {
                        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
                        "podSelector": {"matchLabels": {}},
                    }
                ],
                "ports": [{"protocol": "TCP", "port": port}],
            }
        ]
    # No other policy opens a metrics port, a rule without ports opening them all.
    for policy in run.of_kind("NetworkPolicy"):
        if policy.k8s_name in _metrics_policies(run):
            continue
        opened = {port for rule in policy.inputs["spec"].get("ingress", []) for port in _admitted_ports(rule)}
        assert not opened & set(METRICS_PORTS.values()), policy.k8s_name


def _admitted_ports(rule: dict[str, Any]) -> set[int]:
    """The ports an ingress rule admits: every port when it names none."""
    ports = rule.get("ports") or []
    return {port["port"] for port in ports} if ports else set(range(1, 65536))


def test_the_scraper_is_configurable() -> None:
    run = staging(scraperNamespace="observability", scraperPodLabels={"app": "prometheus"})
    rule = _metrics_policies(run)["redis-metrics"].inputs["spec"]["ingress"][0]["from"][0]
    assert rule == {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "observability"}},
        "podSelector": {"matchLabels": {"app": "prometheus"}},
    }


def test_no_pod_monitor_without_the_operator() -> None:
    assert staging().of_kind("PodMonitor") == []


def test_pod_monitors_when_the_operator_is_detected() -> None:
    run = staging(pod_monitors_available=True)
    monitors = {m.k8s_name or "": m for m in run.of_kind("PodMonitor")}
    assert set(monitors) == set(METRICS_PORTS)
    for name, monitor in monitors.items():
        assert monitor.type == "kubernetes:monitoring.coreos.com/v1:PodMonitor"
        workload = _workload(run, name)
        spec = monitor.inputs["spec"]
        assert spec["selector"] == workload.inputs["spec"]["selector"]
        assert spec["namespaceSelector"] == {"matchNames": [workload.namespace]}
        assert spec["podMetricsEndpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "30s"}]
        assert monitor.namespace == workload.namespace


def test_configuration_overrides_detection() -> None:
    assert staging(pod_monitors_available=True, monitors=False).of_kind("PodMonitor") == []
    configured = staging(monitors=True, monitorLabels={"release": "kube-prometheus-stack"}, interval="15s")
    monitors = configured.of_kind("PodMonitor")
    assert len(monitors) == len(METRICS_PORTS)
    for monitor in monitors:
        assert monitor.metadata["labels"]["release"] == "kube-prometheus-stack"
        assert monitor.inputs["spec"]["podMetricsEndpoints"][0]["interval"] == "15s"


@pytest.mark.parametrize(
    ("metrics", "key", "fix"),
    [
        ({"monitors": True}, "platform:metrics.monitors", "platform:metrics.enabled: true"),
        ({"interval": "30"}, "platform:metrics.interval", "30s"),
        (
            {"postgresExporter": {"image": "prometheuscommunity/postgres-exporter:latest", "resources": {}}},
            "platform:metrics.postgresExporter.image",
            "pin a released version",
        ),
        ({"scraperNamespace": "Monitoring"}, "platform:metrics.scraperNamespace", "lower-case"),
        ({"enable": True}, "platform:metrics.enable", "spelling"),
    ],
    ids=["monitors-without-metrics", "interval-without-unit", "exporter-latest", "scraper-namespace", "typo"],
)
def test_bad_metrics_config_names_key_and_fix(metrics: dict[str, Any], key: str, fix: str) -> None:
    config = copy.deepcopy(stack_config("local")) | {"metrics": metrics}
    with pytest.raises(ConfigError) as raised:
        run_program(config, stack="local")
    assert last_run().registrations == []
    assert key in str(raised.value) and fix in str(raised.value), str(raised.value)


def _api(server: str) -> ApiClient:
    """The API client the program would make for a kubeconfig naming `server` (current context)."""
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "test", "cluster": {"server": server}}],
        "users": [{"name": "test", "user": {"token": "test-token"}}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test"}}],
        "current-context": "test",
    }
    return ApiClient(Kubeconfig.parse(yaml.safe_dump(document), None).context(None))


@pytest.fixture
def api_server() -> Iterator[tuple[type[FakeApi], ApiClient]]:
    with serve() as handler:
        yield handler, _api(handler.url)


def _monitoring(handler: type[FakeApi], *resources: str) -> None:
    """The cluster serves the Prometheus Operator's `resources`."""
    handler.objects["/apis/monitoring.coreos.com/v1"] = resource_list("monitoring.coreos.com/v1", resources)


def test_detection_finds_pod_monitors_where_the_cluster_serves_them(
    api_server: tuple[type[FakeApi], ApiClient],
) -> None:
    handler, api = api_server
    _monitoring(handler, "servicemonitors", "podmonitors")
    assert serves("monitoring.coreos.com", "v1", "podmonitors", api=api)


def test_detection_finds_nothing_where_the_group_is_missing(api_server: tuple[type[FakeApi], ApiClient]) -> None:
    handler, api = api_server
    assert not serves("monitoring.coreos.com", "v1", "podmonitors", api=api)
    _monitoring(handler, "servicemonitors")
    assert not serves("monitoring.coreos.com", "v1", "podmonitors", api=api)


def test_detection_does_not_fail_when_the_cluster_cannot_be_asked() -> None:
    # Nothing listens on port 1 of the loopback address.
    assert not serves("monitoring.coreos.com", "v1", "podmonitors", api=_api("http://127.0.0.1:1"))


def test_detection_sends_the_kubeconfig_credentials(api_server: tuple[type[FakeApi], ApiClient]) -> None:
    handler, api = api_server
    _monitoring(handler, "podmonitors")
    serves("monitoring.coreos.com", "v1", "podmonitors", api=api)
    assert handler.authorizations == ["Bearer test-token"]
