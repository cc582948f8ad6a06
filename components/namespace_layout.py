"""NamespaceLayout: the namespaces the platform owns, locked down by default."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
from pulumi_kubernetes.core.v1 import Namespace, ResourceQuota, ResourceQuotaSpecArgs
from pulumi_kubernetes.meta.v1 import LabelSelectorArgs, ObjectMetaArgs
from pulumi_kubernetes.networking.v1 import NetworkPolicy, NetworkPolicyEgressRuleArgs, NetworkPolicySpecArgs

from components.kube import Peer, child, ports
from components.kube.meta import MANAGED_BY, PART_OF

DNS = Peer("kube-system", {"k8s-app": "kube-dns"})


@dataclass(frozen=True)
class NamespaceArgs:
    """A namespace: `quota` is its ResourceQuota's `hard` limits, if it has one."""

    name: str
    """The namespace's name."""
    description: str = ""
    """Its `description` annotation; default empty."""
    placeholder: bool = False
    """Reserved for a team, nothing deployed yet (`status: placeholder`); default false."""
    guide: str | None = None
    """Its `guide` annotation, where to read how to use it; default None."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Labels of its own, beside the platform's; default none."""
    pod_security: str = "restricted"
    """The Pod Security admission level it enforces; default `restricted`."""
    quota: Mapping[str, str] | None = None
    """Its ResourceQuota's `hard` limits; default None (no quota)."""


class NamespaceLayout(pulumi.ComponentResource):
    """Creates each namespace with its labels, Pod Security admission level, optional
    ResourceQuota, a default-deny NetworkPolicy (ingress and egress) and a policy that
    allows DNS lookups. Namespaces named in `keep` hold data volumes and are left in
    the cluster by `pulumi destroy`.

    Outputs: `names`, the namespace names in order; `namespaces`, the resources by name,
    for other components to depend on.
    """

    def __init__(
        self,
        name: str,
        namespaces: Sequence[NamespaceArgs],
        *,
        environment: str,
        keep: frozenset[str] = frozenset(),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("platform:index:NamespaceLayout", name, None, opts)
        self._name = name
        self.namespaces: dict[str, Namespace] = {}
        for ns in namespaces:
            self.namespaces[ns.name] = self._namespace(ns, environment, retain=ns.name in keep)
        self.names = pulumi.Output.from_input([ns.metadata["name"] for ns in self.namespaces.values()])
        self.register_outputs({"names": self.names})

    def _namespace(self, ns: NamespaceArgs, environment: str, *, retain: bool) -> Namespace:
        level = ns.pod_security
        ns_labels = {
            "environment": environment,
            "status": "placeholder" if ns.placeholder else "active",
            "app.kubernetes.io/part-of": PART_OF,
            "app.kubernetes.io/managed-by": MANAGED_BY,
            "pod-security.kubernetes.io/enforce": level,
            "pod-security.kubernetes.io/enforce-version": "latest",
            "pod-security.kubernetes.io/audit": "restricted",
            "pod-security.kubernetes.io/warn": "restricted",
            **ns.labels,
        }
        annotations = {"description": ns.description} if ns.description else {}
        if ns.guide:
            annotations["deployment-guide"] = ns.guide
        prefix = f"{self._name}-{ns.name}"
        namespace = Namespace(
            prefix,
            metadata=ObjectMetaArgs(name=ns.name, labels=ns_labels, annotations=annotations),
            # Deleting a namespace deletes its volume claims: one that holds data
            # outlives `pulumi destroy`, like the claims themselves.
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=retain),
        )
        opts = child(self, depends_on=[namespace])
        common = {"app.kubernetes.io/part-of": PART_OF, "app.kubernetes.io/managed-by": MANAGED_BY}
        NetworkPolicy(
            f"{prefix}-default-deny",
            metadata=ObjectMetaArgs(name="default-deny", namespace=ns.name, labels=common),
            spec=NetworkPolicySpecArgs(pod_selector=LabelSelectorArgs(), policy_types=["Ingress", "Egress"]),
            opts=opts,
        )
        dns = NetworkPolicyEgressRuleArgs(to=[DNS.rule()], ports=[*ports([53], "UDP"), *ports([53], "TCP")])
        NetworkPolicy(
            f"{prefix}-allow-dns",
            metadata=ObjectMetaArgs(name="allow-dns", namespace=ns.name, labels=common),
            spec=NetworkPolicySpecArgs(pod_selector=LabelSelectorArgs(), policy_types=["Egress"], egress=[dns]),
            opts=opts,
        )
        if ns.quota is not None:
            ResourceQuota(
                f"{prefix}-quota",
                metadata=ObjectMetaArgs(name=f"{ns.name}-quota", namespace=ns.name, labels=common),
                spec=ResourceQuotaSpecArgs(hard=dict(ns.quota)),
                opts=opts,
            )
        return namespace
