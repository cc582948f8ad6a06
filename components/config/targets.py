"""Target profiles: what differs between clusters, as rows of data.

Components never branch on the target's name; they read these fields.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal


@dataclass(frozen=True)
class TargetProfile:
    name: str
    storage_class: str
    """StorageClass of data volumes (PostgreSQL, Redis, Authentik media)."""
    shared_storage_class: str | None
    """A ReadWriteMany class for volumes shared across pods; None means ReadWriteOnce
    with the sharing pods co-located on one node."""
    gateway_service_type: Literal["NodePort", "LoadBalancer"]
    gateway_node_ports: tuple[int, int] | None
    """Fixed (http, https) NodePorts, published by the cluster's port mappings."""
    published_http_port: int
    published_https_port: int
    """Where users reach the gateway: kind publishes the NodePorts on the host's 80/443."""
    min_stateless_replicas: int
    protect_data: bool
    """Mark data resources `protect` so `pulumi destroy` refuses to delete them."""
    pod_cidr: str
    """Where the gateway's forwarded headers come from (Authentik's trusted proxies)."""
    metrics: bool
    """Expose Prometheus metrics (exporters, scrape NetworkPolicies) unless the stack says otherwise."""


KIND = TargetProfile(
    name="kind",
    storage_class="standard",
    shared_storage_class=None,
    gateway_service_type="NodePort",
    gateway_node_ports=(30080, 30443),
    published_http_port=80,
    published_https_port=443,
    min_stateless_replicas=1,
    protect_data=False,
    pod_cidr="10.244.0.0/16",
    metrics=False,
)

GKE = TargetProfile(
    name="gke",
    storage_class="standard-rwo",
    shared_storage_class="standard-rwx",
    gateway_service_type="LoadBalancer",
    gateway_node_ports=None,
    published_http_port=80,
    published_https_port=443,
    min_stateless_replicas=2,
    protect_data=True,
    pod_cidr="10.0.0.0/8",
    metrics=True,
)

TARGETS: dict[str, TargetProfile] = {
    "kind": KIND,
    # minikube publishes NodePorts on the VM's address as they are.
    "minikube": replace(KIND, name="minikube", published_http_port=30080, published_https_port=30443),
    "gke": GKE,
    "eks": replace(GKE, name="eks", storage_class="gp3", shared_storage_class="efs-sc"),
    "aks": replace(
        GKE,
        name="aks",
        storage_class="managed-csi",
        shared_storage_class="azurefile-csi",
        pod_cidr="10.244.0.0/16",
    ),
}
