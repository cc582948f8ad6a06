"""Kubernetes objects as the policy engine passes them, compliant unless told.

Each builder returns the props of an object that passes every rule, so a test
changes one thing and expects exactly that rule to object.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy.proxy import unknown_checking_proxy
from rules import ResourceValidator

TYPES = {
    "Deployment": "kubernetes:apps/v1:Deployment",
    "StatefulSet": "kubernetes:apps/v1:StatefulSet",
    "DaemonSet": "kubernetes:apps/v1:DaemonSet",
    "Job": "kubernetes:batch/v1:Job",
    "CronJob": "kubernetes:batch/v1:CronJob",
    "Pod": "kubernetes:core/v1:Pod",
    "Service": "kubernetes:core/v1:Service",
    "ConfigMap": "kubernetes:core/v1:ConfigMap",
    "PodDisruptionBudget": "kubernetes:policy/v1:PodDisruptionBudget",
    "HorizontalPodAutoscaler": "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
}
NAMESPACE = "staging-core"


def labels(name: str = "core", component: str = "backend") -> dict[str, str]:
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/instance": f"{name}-staging",
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": "platform",
        "app.kubernetes.io/managed-by": "pulumi",
    }


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def container(name: str = "core", **fields: Any) -> dict[str, Any]:
    """A compliant container; a field given as None is left out."""
    probe = {"httpGet": {"path": "/healthz", "port": 8080}}
    return _without_none(
        {
            "name": name,
            "image": "ghcr.io/acme/core:1.4.2",
            "resources": {
                "requests": {"cpu": "100m", "memory": "128Mi"},
                "limits": {"cpu": "500m", "memory": "256Mi"},
            },
            "livenessProbe": probe,
            "readinessProbe": probe,
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
            },
        }
        | fields
    )


POD_SECURITY: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": 10001,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def pod_template(
    containers: Sequence[Any] | None = None,
    init_containers: Sequence[Any] | None = None,
    pod_labels: Any = None,
    security_context: Any = POD_SECURITY,
) -> dict[str, Any]:
    spec = _without_none(
        {
            "containers": [container()] if containers is None else list(containers),
            "initContainers": None if init_containers is None else list(init_containers),
            "securityContext": security_context,
        }
    )
    return {
        "metadata": {"labels": labels() if pod_labels is None else pod_labels},
        "spec": spec,
    }


def metadata(name: str, object_labels: Any = None, namespace: Any = NAMESPACE) -> Any:
    return _without_none(
        {
            "name": name,
            "namespace": namespace,
            "labels": labels(name) if object_labels is None else object_labels,
        }
    )


@dataclass
class Args:
    """Stands in for ResourceValidationArgs and for a stack's PolicyResource."""

    resource_type: str
    props: Mapping[str, Any]
    name: str
    urn: str


@dataclass
class Reports:
    """A report_violation that keeps what it is told."""

    messages: list[str] = field(default_factory=list)
    urns: list[str | None] = field(default_factory=list)

    def __call__(self, message: str, urn: str | None = None) -> None:
        self.messages.append(message)
        self.urns.append(urn)


@dataclass
class StackArgs:
    resources: list[Args]


def findings(validate: ResourceValidator, args: Args) -> list[str]:
    """What a resource validator reports about `args`."""
    reports = Reports()
    validate(args, reports)
    assert set(reports.urns) <= {args.urn}
    return reports.messages


def resource(kind: str, props: Mapping[str, Any], *, preview: bool = False) -> Args:
    """Args for an object of `kind`; with preview, props behave as during preview."""
    name = str(props.get("metadata", {}).get("name", "test"))
    return Args(
        resource_type=TYPES[kind],
        props=unknown_checking_proxy(dict(props)) if preview else props,
        name=name,
        urn=f"urn:pulumi:staging::platform::{TYPES[kind]}::{name}",
    )


def workload(
    kind: str = "Deployment",
    *,
    name: str = "core",
    template: Any = None,
    replicas: Any = 1,
    object_labels: Any = None,
    namespace: Any = NAMESPACE,
    preview: bool = False,
) -> Args:
    """A compliant workload of `kind` running `template`."""
    template = pod_template() if template is None else template
    meta = metadata(name, object_labels, namespace)
    if kind == "Pod":
        return resource(kind, {"metadata": meta, "spec": template["spec"]}, preview=preview)
    if kind == "CronJob":
        spec: dict[str, Any] = {
            "schedule": "0 3 * * *",
            "jobTemplate": {"spec": {"template": template}},
        }
    elif kind == "Job":
        spec = {"template": template}
    else:
        spec = _without_none(
            {
                "replicas": replicas,
                "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                "template": template,
            }
        )
    return resource(kind, {"metadata": meta, "spec": spec}, preview=preview)


def service(
    *,
    service_type: Any = "ClusterIP",
    object_labels: Any = None,
    preview: bool = False,
) -> Args:
    props = {
        "metadata": metadata("core", object_labels),
        "spec": {"type": service_type, "ports": [{"port": 80, "targetPort": 8080}]},
    }
    return resource("Service", props, preview=preview)


def config_map(data: Any = None, binary_data: Any = None, preview: bool = False) -> Args:
    props = {
        "metadata": metadata("core-config"),
        "data": {"LOG_LEVEL": "info"} if data is None else data,
    }
    if binary_data is not None:
        props["binaryData"] = binary_data
    return resource("ConfigMap", props, preview=preview)


CORE_SELECTOR = {"matchLabels": {"app.kubernetes.io/name": "core"}}


def disruption_budget(selector: Any = CORE_SELECTOR, namespace: Any = NAMESPACE) -> Args:
    props = {
        "metadata": metadata("core", namespace=namespace),
        "spec": {"maxUnavailable": 1, "selector": selector},
    }
    return resource("PodDisruptionBudget", props)


def autoscaler(min_replicas: Any, target: str = "core") -> Args:
    props = {
        "metadata": metadata(target),
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": target,
            },
            "minReplicas": min_replicas,
            "maxReplicas": 5,
        },
    }
    return resource("HorizontalPodAutoscaler", props)
