"""What one component hands another: who its pods are (`Peer`), what the gateway
routes to it (`Route`), and what an app may use (`Backing`); what every data
service is given (`DataServiceArgs`); and who scrapes metrics (`Scraping`).

Components publish these; `Platform` only passes them along.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
from pulumi_kubernetes.core.v1 import ResourceRequirementsArgs
from pulumi_kubernetes.meta.v1 import LabelSelectorArgs
from pulumi_kubernetes.networking.v1 import NetworkPolicyPeerArgs


@dataclass(frozen=True)
class Peer:
    """Pods in a namespace, as a NetworkPolicy peer. No labels: every pod there."""

    namespace: str
    pod_labels: Mapping[str, str] = field(default_factory=dict)

    def rule(self) -> NetworkPolicyPeerArgs:
        return NetworkPolicyPeerArgs(
            namespace_selector=LabelSelectorArgs(match_labels={"kubernetes.io/metadata.name": self.namespace}),
            pod_selector=LabelSelectorArgs(match_labels=dict(self.pod_labels)),
        )


def route_path(path: str) -> str:
    """A gateway route's path: no trailing slash, except the root itself."""
    return path.rstrip("/") or "/"


@dataclass(frozen=True)
class Route:
    """A path on the gateway's host, served by a Service in a namespace. The path is
    normalised by `route_path`."""

    path: str
    namespace: str
    service: str
    port: int
    peer: Peer

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", route_path(self.path))


@dataclass(frozen=True)
class Backing:
    """A data service an app may use: the env var the app reads, the secret URL that
    fills it, and where (pods and port) the app must be allowed to reach."""

    env_name: str
    secret_url: pulumi.Output[str]
    peer: Peer
    port: int


@dataclass(frozen=True)
class Exporter:
    """A Prometheus exporter image and the resources of its sidecar."""

    image: str
    resources: ResourceRequirementsArgs


@dataclass(frozen=True)
class Scraping:
    """Who collects the platform's metrics, and how.

    `scraper` is the only peer admitted to a metrics port. `monitors` makes a
    PodMonitor for each endpoint (the Prometheus Operator's CRDs exist in the
    cluster), carrying `monitor_labels` so a Prometheus' podMonitorSelector finds it.
    """

    scraper: Peer
    monitors: bool
    postgres_exporter: Exporter
    redis_exporter: Exporter
    interval: str = "30s"
    monitor_labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class DataServiceArgs:
    """Where a data service runs, its image and resources, its volume, the rotation
    keeper of its credentials, whether its data is protected, and who may reach it."""

    name: str
    namespace: str
    image: str
    resources: ResourceRequirementsArgs
    storage: str
    storage_class: str
    rotation: int = 0
    protect: bool = False
    clients: Sequence[Peer] = ()
    metrics: Scraping | None = None
