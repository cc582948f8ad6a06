"""Prometheus metrics, in one place: a metrics endpoint on a workload's pods, the
exporter sidecars that give PostgreSQL and Redis one, the NetworkPolicy that admits
the scraper to it and nothing else, and a PodMonitor where the Prometheus Operator
runs.

A component that serves metrics declares an `Endpoint`, gives its pods
`pod_annotations` (and an `exporter(...)` container when the server has no endpoint
of its own), then calls `expose`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
from pulumi_kubernetes.apiextensions import CustomResource
from pulumi_kubernetes.core.v1 import EnvVarArgs

from components import kube
from components.contracts import Exporter, Scraping

PODMONITOR_API = "monitoring.coreos.com/v1"


@dataclass(frozen=True)
class Endpoint:
    """Where a pod serves Prometheus metrics: a named container port and a path."""

    port: int
    path: str = "/metrics"
    name: str = "metrics"


def pod_annotations(endpoint: Endpoint, scraping: Scraping | None) -> dict[str, str] | None:
    """The `prometheus.io/*` annotations that a Prometheus without the operator
    discovers pods by (docs/operations.md has the scrape config); none without metrics."""
    if scraping is None:
        return None
    return {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(endpoint.port),
        "prometheus.io/path": endpoint.path,
    }


def exporter(settings: Exporter, endpoint: Endpoint, *, health_path: str, env: Sequence[EnvVarArgs]) -> kube.Container:
    """An exporter sidecar: it reaches its server on localhost and serves `endpoint`.
    Hardened like every container; it writes nothing, so it gets no scratch volume."""
    return kube.Container(
        name="metrics",
        image=settings.image,
        resources=settings.resources,
        ports={endpoint.name: endpoint.port},
        env=env,
        # Liveness asks only that the process listens; readiness asks its HTTP handler.
        liveness=kube.tcp_probe(endpoint.name, kube.Timing(initial_delay=5, period=10, timeout=3, failures=3)),
        readiness=kube.http_probe(
            health_path, kube.Timing(initial_delay=2, period=10, timeout=3, failures=2), endpoint.name
        ),
        scratch=(),
    )


def expose(
    parent: pulumi.Resource,
    resource_name: str,
    pod: kube.Pod,
    endpoint: Endpoint,
    scraping: Scraping,
    network: kube.Network,
) -> None:
    """Admit the scraper to `endpoint` on these pods, in a policy of its own, and make
    their PodMonitor when the operator is there."""
    metrics = network.traffic(
        f"{pod.name}-metrics", pod.namespace, pod.labels, f"{resource_name}-metrics-netpol", kube.child(parent)
    )
    kube.connect(scraping.scraper, metrics, endpoint.port)
    if scraping.monitors:
        CustomResource(
            f"{resource_name}-podmonitor",
            api_version=PODMONITOR_API,
            kind="PodMonitor",
            metadata=kube.metadata(pod.name, pod.namespace, {**pod.labels, **scraping.monitor_labels}),
            spec={
                "selector": {"matchLabels": kube.selector(pod.labels)},
                "namespaceSelector": {"matchNames": [pod.namespace]},
                "podMetricsEndpoints": [{"port": endpoint.name, "path": endpoint.path, "interval": scraping.interval}],
            },
            opts=kube.child(parent),
        )
