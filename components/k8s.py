"""Small builders every component shares: labels, hardened containers and pods,
probes, disruption budgets, network policies and generated credentials.

A hardening change lands here once and reaches every workload.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.settings import Resources

PART_OF = "platform"
MANAGED_BY = "pulumi"
Manifest = dict[str, Any]


def labels(name: str, instance: str, component: str) -> dict[str, str]:
    """The recommended `app.kubernetes.io/*` labels."""
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }


def selector(object_labels: Mapping[str, str]) -> dict[str, str]:
    """The stable subset of `labels` that selects a workload's pods."""
    keys = ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component")
    return {key: object_labels[key] for key in keys}


def metadata(name: str, namespace: str, object_labels: Mapping[str, str], **extra: Any) -> Manifest:
    return {"name": name, "namespace": namespace, "labels": dict(object_labels), **extra}


# When a Service is ready, for pulumi-kubernetes. Its built-in Service await returns
# only once the Endpoints have not changed for 10 s, whether the pods are ready or
# not; `pulumi up` runs 4 steps per core at once, so on 2 cores the platform's
# Services held every step for those 10 s and no workload could start. The pods
# behind a Service are awaited on their Deployment or StatefulSet; the Service itself
# is ready once it has its cluster IP. A LoadBalancer keeps the built-in await, which
# waits for its external address.
SERVICE_READY = {"pulumi.com/waitFor": "jsonpath={.spec.clusterIP}"}


def service_metadata(
    name: str, namespace: str, object_labels: Mapping[str, str], service_type: str = "ClusterIP"
) -> Manifest:
    """Metadata of a Service: see SERVICE_READY."""
    if service_type == "LoadBalancer":
        return metadata(name, namespace, object_labels)
    return metadata(name, namespace, object_labels, annotations=dict(SERVICE_READY))


# The manifest scan's (checkov) checks this platform deliberately does not meet,
# each with its reason. They are annotated only on the workloads they apply to.
SCAN_SKIPS = {
    "CKV_K8S_43": "images are pinned by version tag in the validated stack config, not by digest",
    "CKV_K8S_40": "runs as the image's own non-root user (PostgreSQL and Redis 999, Authentik 1000)",
    "CKV_K8S_35": "the application reads its credentials from environment variables, filled from Secrets",
}


def scan_skips(template: Manifest) -> dict[str, str]:
    """checkov.io/skip annotations for the SCAN_SKIPS that apply to this pod template."""
    spec = template["spec"]
    containers = [*spec.get("initContainers", []), *spec["containers"]]
    secret_env = any("secretKeyRef" in env.get("valueFrom", {}) for c in containers for env in c.get("env", [])) or any(
        "secretRef" in source for c in containers for source in c.get("envFrom", [])
    )
    applies = {
        "CKV_K8S_43": True,
        "CKV_K8S_40": spec["securityContext"]["runAsUser"] < 10000,
        "CKV_K8S_35": secret_env,
    }
    checks = [check for check, applied in applies.items() if applied]
    return {f"checkov.io/skip{i}": f"{check}={SCAN_SKIPS[check]}" for i, check in enumerate(checks, start=1)}


def workload_metadata(name: str, namespace: str, object_labels: Mapping[str, str], template: Manifest) -> Manifest:
    """Metadata of a Deployment, StatefulSet or CronJob running `template`."""
    return metadata(name, namespace, object_labels, annotations=scan_skips(template))


@dataclass(frozen=True)
class Peer:
    """Pods in a namespace, as a NetworkPolicy peer."""

    namespace: str
    pod_labels: Mapping[str, str] = field(default_factory=dict)

    def rule(self) -> Manifest:
        return {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": self.namespace}},
            "podSelector": {"matchLabels": dict(self.pod_labels)},
        }


def probe(
    handler: Manifest, *, initial_delay: int = 0, period: int = 10, timeout: int = 5, failures: int = 3
) -> Manifest:
    return {
        **handler,
        "initialDelaySeconds": initial_delay,
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": failures,
    }


def exec_probe(command: Sequence[str], **timing: int) -> Manifest:
    return probe({"exec": {"command": list(command)}}, **timing)


def http_probe(path: str, port: str | int = "http", **timing: int) -> Manifest:
    return probe({"httpGet": {"path": path, "port": port}}, **timing)


def resource_spec(resources: Resources) -> Manifest:
    return resources.model_dump(mode="json")


def secret_env(env_name: str, secret_name: str, key: str) -> Manifest:
    return {"name": env_name, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": key}}}


def config_env(env_name: str, config_map: str, key: str) -> Manifest:
    return {"name": env_name, "valueFrom": {"configMapKeyRef": {"name": config_map, "key": key}}}


def plain_env(values: Mapping[str, str]) -> list[Manifest]:
    return [{"name": key, "value": value} for key, value in values.items()]


@dataclass
class Container:
    """A container hardened by default: non-root, read-only root filesystem, no
    privilege escalation, every capability dropped, RuntimeDefault seccomp.

    `scratch` paths get their own emptyDir so the root filesystem can stay read-only.
    """

    name: str
    image: str
    resources: Resources
    ports: Mapping[str, int] = field(default_factory=dict)
    liveness: Manifest | None = None
    readiness: Manifest | None = None
    startup: Manifest | None = None
    command: Sequence[str] | None = None
    args: Sequence[str] | None = None
    env: Sequence[Manifest] = ()
    env_from: Sequence[Manifest] = ()
    mounts: Sequence[Manifest] = ()
    scratch: Sequence[str] = ("/tmp",)
    pull_policy: str = "Always"

    def manifest(self) -> Manifest:
        spec: Manifest = {
            "name": self.name,
            "image": self.image,
            "imagePullPolicy": self.pull_policy,
            "resources": resource_spec(self.resources),
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "runAsNonRoot": True,
                "privileged": False,
                "capabilities": {"drop": ["ALL"]},
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "volumeMounts": [
                *self.mounts,
                *({"name": scratch_volume(path), "mountPath": path} for path in self.scratch),
            ],
        }
        optional = {
            "command": list(self.command) if self.command else None,
            "args": list(self.args) if self.args else None,
            "env": list(self.env) or None,
            "envFrom": list(self.env_from) or None,
            "ports": [
                {"name": port_name, "containerPort": port, "protocol": "TCP"} for port_name, port in self.ports.items()
            ]
            or None,
            "livenessProbe": self.liveness,
            "readinessProbe": self.readiness,
            "startupProbe": self.startup,
        }
        spec.update({key: value for key, value in optional.items() if value is not None})
        return spec


def scratch_volume(path: str) -> str:
    return "scratch-" + path.strip("/").replace("/", "-").replace("_", "-")


def pod_template(
    pod_labels: Mapping[str, str],
    containers: Sequence[Container],
    *,
    run_as_user: int,
    volumes: Sequence[Manifest] = (),
    init_containers: Sequence[Container] = (),
    affinity: Manifest | None = None,
    service_account: str | None = None,
    annotations: Mapping[str, str] | None = None,
) -> Manifest:
    """A pod template running every container as `run_as_user`.

    The service account token is never automounted: a pod that talks to the API
    server (the gateway) gets it through an explicit projected volume instead.
    """
    every = [*init_containers, *containers]
    scratch = sorted({scratch_volume(path) for c in every for path in c.scratch})
    spec: Manifest = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": run_as_user,
            "runAsGroup": run_as_user,
            "fsGroup": run_as_user,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [c.manifest() for c in containers],
        "volumes": [*volumes, *({"name": name, "emptyDir": {}} for name in scratch)],
    }
    if init_containers:
        spec["initContainers"] = [c.manifest() for c in init_containers]
    if affinity is not None:
        spec["affinity"] = affinity
    if service_account is not None:
        spec["serviceAccountName"] = service_account
    template_metadata: Manifest = {"labels": dict(pod_labels)}
    if annotations:
        template_metadata["annotations"] = dict(annotations)
    return {"metadata": template_metadata, "spec": spec}


ROLLING = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
RECREATE = {"type": "Recreate"}


def deployment(
    resource_name: str,
    name: str,
    namespace: str,
    object_labels: Mapping[str, str],
    template: Manifest,
    *,
    replicas: int,
    opts: pulumi.ResourceOptions,
    strategy: Manifest = ROLLING,
) -> k8s.apps.v1.Deployment:
    """A Deployment selecting its pods by the stable labels. The default rollout adds
    one new pod before removing an old one, so capacity never drops."""
    return k8s.apps.v1.Deployment(
        resource_name,
        metadata=workload_metadata(name, namespace, object_labels, template),
        spec={
            "replicas": replicas,
            "strategy": strategy,
            "selector": {"matchLabels": selector(object_labels)},
            "template": template,
        },
        opts=opts,
    )


def spread(pod_labels: Mapping[str, str]) -> Manifest:
    """Prefer placing replicas of one workload on different nodes."""
    return {
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 100,
                    "podAffinityTerm": {
                        "labelSelector": {"matchLabels": selector(pod_labels)},
                        "topologyKey": "kubernetes.io/hostname",
                    },
                }
            ]
        }
    }


def disruption_budget(
    resource_name: str,
    namespace: str,
    name: str,
    object_labels: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> k8s.policy.v1.PodDisruptionBudget:
    """Keep all but one replica up during voluntary disruptions (drains, upgrades)."""
    return k8s.policy.v1.PodDisruptionBudget(
        resource_name,
        metadata=metadata(name, namespace, object_labels),
        spec={"maxUnavailable": 1, "selector": {"matchLabels": selector(object_labels)}},
        opts=opts,
    )


def port_rules(ports: Iterable[int], protocol: str = "TCP") -> list[Manifest]:
    return [{"protocol": protocol, "port": port} for port in ports]


def network_policy(
    resource_name: str,
    namespace: str,
    name: str,
    object_labels: Mapping[str, str],
    *,
    pods: Mapping[str, str],
    ingress: Sequence[tuple[Sequence[Manifest], Sequence[int]]] = (),
    egress: Sequence[tuple[Sequence[Manifest], Sequence[int]]] = (),
    opts: pulumi.ResourceOptions,
) -> k8s.networking.v1.NetworkPolicy:
    """Allow `pods` to receive from and send to the given peers on the given ports.

    Each rule is `(peers, ports)`; an empty peer list means any source or destination.
    Namespaces already deny everything else by default.
    """

    def rules(entries: Sequence[tuple[Sequence[Manifest], Sequence[int]]], direction: str) -> list[Manifest]:
        out = []
        for peers, ports in entries:
            rule: Manifest = {"ports": port_rules(ports)}
            if peers:
                rule[direction] = list(peers)
            out.append(rule)
        return out

    # Ingress is always listed, so a policy without ingress rules admits nothing.
    policy_types = ["Ingress", "Egress"] if egress else ["Ingress"]
    return k8s.networking.v1.NetworkPolicy(
        resource_name,
        metadata=metadata(name, namespace, object_labels),
        spec={
            "podSelector": {"matchLabels": dict(pods)},
            "policyTypes": policy_types,
            "ingress": rules(ingress, "from"),
            "egress": rules(egress, "to"),
        },
        opts=opts,
    )


def admit_only(
    resource_name: str,
    namespace: str,
    name: str,
    object_labels: Mapping[str, str],
    clients: Sequence[Peer],
    port: int,
    opts: pulumi.ResourceOptions,
) -> k8s.networking.v1.NetworkPolicy:
    """A NetworkPolicy that lets only `clients` reach these pods, on `port`."""
    return network_policy(
        resource_name,
        namespace,
        name,
        object_labels,
        pods=selector(object_labels),
        ingress=[([peer.rule() for peer in clients], [port])] if clients else [],
        opts=opts,
    )


def generated_password(
    resource_name: str, parent: pulumi.Resource, *, rotation: int, length: int = 32
) -> random.RandomPassword:
    """A credential generated once and kept secret in state.

    Letters and digits only, so it can sit in a connection URI unescaped. `rotation`
    is its keeper: raising it in the stack config generates a new value
    (docs/operations.md).
    """
    return random.RandomPassword(
        resource_name,
        length=length,
        special=False,
        keepers={"rotation": str(rotation)},
        opts=pulumi.ResourceOptions(parent=parent),
    )


def child(
    parent: pulumi.Resource, *, protect: bool = False, depends_on: Sequence[pulumi.Resource] = ()
) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(parent=parent, protect=protect, depends_on=list(depends_on))


def service_host(name: str, namespace: str) -> str:
    return f"{name}.{namespace}.svc.cluster.local"


__all__ = [
    "Container",
    "Peer",
    "child",
    "config_env",
    "disruption_budget",
    "exec_probe",
    "generated_password",
    "http_probe",
    "labels",
    "metadata",
    "network_policy",
    "plain_env",
    "pod_template",
    "secret_env",
    "selector",
    "service_host",
    "service_metadata",
    "spread",
]
