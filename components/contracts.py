"""What one component hands another: who its pods are (`Peer`), what the gateway
routes to it (`Route`), and what an app may use (`Backing`); and what every data
service is given (`DataServiceArgs`).

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
