"""NetworkPolicies as relations: what may reach a workload's pods, and what they may
reach. Namespaces deny everything else by default (NamespaceLayout)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import pulumi
from pulumi_kubernetes.networking.v1 import (
    IPBlockArgs,
    NetworkPolicy,
    NetworkPolicyEgressRuleArgs,
    NetworkPolicyIngressRuleArgs,
    NetworkPolicyPeerArgs,
    NetworkPolicyPortArgs,
    NetworkPolicySpecArgs,
)

from components.kube.meta import match, metadata


class Reachable(Protocol):
    def rule(self) -> NetworkPolicyPeerArgs: ...


@dataclass(frozen=True)
class Addresses:
    """Addresses outside the cluster, as a NetworkPolicy peer."""

    cidr: str
    excluded: Sequence[str] = ()

    def rule(self) -> NetworkPolicyPeerArgs:
        return NetworkPolicyPeerArgs(ip_block=IPBlockArgs(cidr=self.cidr, except_=list(self.excluded)))


# Addresses outside the private ranges: the internet, for apps that call external APIs.
INTERNET = Addresses("0.0.0.0/0", ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


def ports(numbers: Sequence[int], protocol: str = "TCP") -> list[NetworkPolicyPortArgs]:
    return [NetworkPolicyPortArgs(protocol=protocol, port=number) for number in numbers]


@dataclass
class Traffic:
    """The traffic a workload's pods may receive and send, built up by relations and
    made into one NetworkPolicy named after the workload."""

    name: str
    namespace: str
    labels: Mapping[str, str]
    ingress: list[NetworkPolicyIngressRuleArgs] = field(default_factory=list)
    egress: list[NetworkPolicyEgressRuleArgs] = field(default_factory=list)

    def allow_from(self, sources: Sequence[Reachable], *port_numbers: int) -> Traffic:
        """Admit `sources` on these ports; no sources admits nothing."""
        if sources:
            rule = NetworkPolicyIngressRuleArgs(from_=[source.rule() for source in sources], ports=ports(port_numbers))
            self.ingress.append(rule)
        return self

    def allow_from_anywhere(self, *port_numbers: int) -> Traffic:
        self.ingress.append(NetworkPolicyIngressRuleArgs(ports=ports(port_numbers)))
        return self

    def allow_to(self, destination: Reachable, *port_numbers: int) -> Traffic:
        self.egress.append(NetworkPolicyEgressRuleArgs(to=[destination.rule()], ports=ports(port_numbers)))
        return self

    def allow_to_anywhere(self, *port_numbers: int) -> Traffic:
        self.egress.append(NetworkPolicyEgressRuleArgs(ports=ports(port_numbers)))
        return self

    def policy(self, resource_name: str, opts: pulumi.ResourceOptions) -> NetworkPolicy:
        # Ingress is always listed, so a policy without ingress rules admits nothing.
        return NetworkPolicy(
            resource_name,
            metadata=metadata(self.name, self.namespace, self.labels),
            spec=NetworkPolicySpecArgs(
                pod_selector=match(self.labels),
                policy_types=["Ingress", "Egress"] if self.egress else ["Ingress"],
                ingress=self.ingress,
                egress=self.egress,
            ),
            opts=opts,
        )
