"""Names and labels every object carries, and the options of a component's child."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
from pulumi_kubernetes.meta.v1 import LabelSelectorArgs, ObjectMetaArgs

PART_OF = "platform"
MANAGED_BY = "pulumi"
SELECTOR_KEYS = ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component")


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
    return {key: object_labels[key] for key in SELECTOR_KEYS}


def match(object_labels: Mapping[str, str]) -> LabelSelectorArgs:
    return LabelSelectorArgs(match_labels=selector(object_labels))


def metadata(
    name: str, namespace: str | None, object_labels: Mapping[str, str], annotations: Mapping[str, str] | None = None
) -> ObjectMetaArgs:
    return ObjectMetaArgs(
        name=name,
        namespace=namespace,
        labels=dict(object_labels),
        annotations=None if annotations is None else dict(annotations),
    )


def child(
    parent: pulumi.Resource, *, protect: bool = False, depends_on: Sequence[pulumi.Resource] = ()
) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(parent=parent, protect=protect, depends_on=list(depends_on))


def service_host(name: str, namespace: str) -> str:
    return f"{name}.{namespace}.svc.cluster.local"
