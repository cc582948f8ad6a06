"""NetworkPolicies as relations: what may reach a workload's pods, and what they may
reach. Namespaces deny everything else by default (NamespaceLayout).

A relation is written once, for both ends: `connect(client, server, *ports)` adds
the egress rule to the client's policy and the ingress rule to the server's. An end
is a workload's `Traffic`, or pods or addresses that have no policy here (the
scraper, an existing ingress controller, the internet), of which only the other end
gets a rule. A relation may join workloads of components made before and after each
other (an app and the database it uses), so a `Network` makes the policies once
every relation is written (`close`), each rule list in a stable order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
from pulumi_kubernetes.meta.v1 import LabelSelectorArgs
from pulumi_kubernetes.networking.v1 import (
    IPBlockArgs,
    NetworkPolicy,
    NetworkPolicyEgressRuleArgs,
    NetworkPolicyIngressRuleArgs,
    NetworkPolicyPeerArgs,
    NetworkPolicyPortArgs,
    NetworkPolicySpecArgs,
)

from components.kube.meta import match, metadata, selector


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

    @property
    def order(self) -> tuple[str, ...]:
        return ("0", self.namespace, *(f"{key}={value}" for key, value in sorted(self.pod_labels.items())))


@dataclass(frozen=True)
class Addresses:
    """Addresses outside the cluster, as a NetworkPolicy peer."""

    cidr: str
    excluded: Sequence[str] = ()

    def rule(self) -> NetworkPolicyPeerArgs:
        return NetworkPolicyPeerArgs(ip_block=IPBlockArgs(cidr=self.cidr, except_=list(self.excluded)))

    @property
    def order(self) -> tuple[str, ...]:
        return ("1", self.cidr, *self.excluded)


# Addresses outside the private ranges: the internet, for apps that call external APIs.
INTERNET = Addresses("0.0.0.0/0", ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


def ports(numbers: Sequence[int], protocol: str = "TCP") -> list[NetworkPolicyPortArgs]:
    return [NetworkPolicyPortArgs(protocol=protocol, port=number) for number in numbers]


@dataclass(frozen=True)
class _Rule:
    """One side of a relation: the other end (None: anywhere) and the ports."""

    other: Peer | Addresses | None
    port_numbers: tuple[int, ...]

    @property
    def order(self) -> tuple[tuple[str, ...], tuple[int, ...]]:
        # Anywhere after every named peer, so a rule list only grows where a peer is added.
        return (("2",) if self.other is None else self.other.order), self.port_numbers

    def peers(self) -> list[NetworkPolicyPeerArgs] | None:
        return None if self.other is None else [self.other.rule()]


@dataclass
class Traffic:
    """The traffic a workload's pods may receive and send, written by relations, and
    the NetworkPolicy (`resource_name`, `opts`) that `Network.close` makes of it,
    named after the workload."""

    name: str
    namespace: str
    labels: Mapping[str, str]
    resource_name: str
    opts: pulumi.ResourceOptions
    ingress: list[_Rule] = field(default_factory=list)
    egress: list[_Rule] = field(default_factory=list)

    @property
    def peer(self) -> Peer:
        return Peer(self.namespace, selector(self.labels))

    def allow_from_anywhere(self, *port_numbers: int) -> Traffic:
        self.ingress.append(_Rule(None, port_numbers))
        return self

    def allow_to_anywhere(self, *port_numbers: int) -> Traffic:
        self.egress.append(_Rule(None, port_numbers))
        return self

    def policy(self) -> NetworkPolicy:
        # Ingress is always listed, so a policy without ingress rules admits nothing.
        ingress, egress = _ordered(self.ingress), _ordered(self.egress)
        return NetworkPolicy(
            self.resource_name,
            metadata=metadata(self.name, self.namespace, self.labels),
            spec=NetworkPolicySpecArgs(
                pod_selector=match(self.labels),
                policy_types=["Ingress", "Egress"] if egress else ["Ingress"],
                ingress=[NetworkPolicyIngressRuleArgs(from_=r.peers(), ports=ports(r.port_numbers)) for r in ingress],
                egress=[NetworkPolicyEgressRuleArgs(to=r.peers(), ports=ports(r.port_numbers)) for r in egress],
            ),
            opts=self.opts,
        )


def _ordered(rules: Sequence[_Rule]) -> list[_Rule]:
    """Each rule once, sorted by its peer and ports."""
    unique = {rule.order: rule for rule in rules}
    return [unique[order] for order in sorted(unique)]


End = Traffic | Peer | Addresses


def connect(client: End, server: End, *port_numbers: int) -> None:
    """`client`'s pods may open connections to `server`'s on `port_numbers`: the
    egress rule on the client's policy and the ingress rule on the server's, each
    where that end is a workload of ours."""
    if isinstance(client, Traffic):
        client.egress.append(_Rule(_peer(server), port_numbers))
    if isinstance(server, Traffic):
        server.ingress.append(_Rule(_peer(client), port_numbers))


def _peer(end: End) -> Peer | Addresses:
    return end.peer if isinstance(end, Traffic) else end


class Network:
    """The NetworkPolicies of a set of components, one per workload: made by `close`,
    once every relation between them is written."""

    def __init__(self) -> None:
        self._traffic: list[Traffic] = []

    def traffic(
        self, name: str, namespace: str, labels: Mapping[str, str], resource_name: str, opts: pulumi.ResourceOptions
    ) -> Traffic:
        """The traffic of the pods with `labels`, made into the policy `resource_name`."""
        traffic = Traffic(name, namespace, labels, resource_name, opts)
        self._traffic.append(traffic)
        return traffic

    def close(self) -> list[NetworkPolicy]:
        return [traffic.policy() for traffic in self._traffic]
