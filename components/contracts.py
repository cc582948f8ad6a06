"""What one component hands another: what the gateway routes to it (`Route`), and
what an app may use (`Backing`), each with the server's `Traffic` that a client
connects to; what every data service is given (`DataServiceArgs`); and who scrapes
metrics (`Scraping`, its `Peer`).

Components publish these; `Platform` only passes them along.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
from pulumi_kubernetes.core.v1 import ResourceRequirementsArgs

from components.config.types import route_path
from components.kube.network import Peer, Traffic


@dataclass(frozen=True)
class Route:
    """A path on the gateway's host, served by a Service in a namespace to the pods
    of `server`, which the gateway connects to. The path is normalised by `route_path`."""

    path: str
    namespace: str
    service: str
    port: int
    server: Traffic

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", route_path(self.path))


@dataclass(frozen=True)
class Backing:
    """A data service an app may use: the env var the app reads, the secret URL that
    fills it, and the server's pods and port, which the app connects to."""

    env_name: str
    secret_url: pulumi.Output[str]
    server: Traffic
    port: int


@dataclass(frozen=True)
class Exporter:
    """A Prometheus exporter image and the resources of its sidecar."""

    image: str
    """The exporter's image, pinned."""
    resources: ResourceRequirementsArgs
    """The sidecar's requests and limits."""


@dataclass(frozen=True)
class Scraping:
    """Who collects the platform's metrics, and how.

    `scraper` is the only peer admitted to a metrics port. `monitors` makes a
    PodMonitor for each endpoint (the Prometheus Operator's CRDs exist in the
    cluster), carrying `monitor_labels` so a Prometheus' podMonitorSelector finds it.
    """

    scraper: Peer
    """The pods admitted to every metrics port (Prometheus)."""
    monitors: bool
    """Make a PodMonitor for each endpoint."""
    postgres_exporter: Exporter
    """The sidecar beside every PostgreSQL."""
    redis_exporter: Exporter
    """The sidecar beside every Redis."""
    interval: str = "30s"
    """How often the PodMonitors scrape; default 30s."""
    monitor_labels: Mapping[str, str] = field(default_factory=dict)
    """Labels of every PodMonitor, for a Prometheus' podMonitorSelector; default none."""


@dataclass(frozen=True, kw_only=True)
class DataServiceArgs:
    """Where a data service runs, its image and resources, its volume, the rotation
    keeper of its credentials, and whether its data is protected."""

    name: str
    """The server's name: its Service, workload, Secret `<name>-credentials`, claims."""
    namespace: str
    """Where it runs."""
    image: str
    """The server's image, pinned."""
    resources: ResourceRequirementsArgs
    """The server container's requests and limits."""
    storage: str
    """The size of its data volume."""
    storage_class: str
    """The StorageClass of its data volume."""
    rotation: int = 0
    """Raise it to generate a new password; default 0."""
    protect: bool = False
    """`pulumi destroy` refuses to delete its data; default false."""
    metrics: Scraping | None = None
    """Who scrapes its exporter; default None (no exporter)."""
