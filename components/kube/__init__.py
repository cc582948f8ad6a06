"""Typed Kubernetes constructs the components are built from: a hardened pod
description that makes Deployments, StatefulSets and CronJobs, the Services, budgets
and NetworkPolicies that belong to it, and volumes that carry their mounts.

Every resource input is one of pulumi_kubernetes' `...ArgsDict` types, so mypy
checks the objects the platform sends to the cluster.
"""

from components.kube.credentials import generated_password
from components.kube.meta import child, labels, metadata, selector, service_host
from components.kube.network import INTERNET, Addresses, Network, Peer, Traffic, connect, ports
from components.kube.pod import (
    RECREATE,
    Container,
    Pod,
    Timing,
    config_env,
    content_checksum,
    exec_probe,
    http_probe,
    plain_env,
    post_start,
    quarter_of_memory,
    secret_env,
    spread,
    tcp_probe,
)
from components.kube.storage import DataVolume, Volume, survives_destroy

__all__ = [
    "INTERNET",
    "RECREATE",
    "Addresses",
    "Container",
    "DataVolume",
    "Network",
    "Peer",
    "Pod",
    "Timing",
    "Traffic",
    "Volume",
    "child",
    "config_env",
    "connect",
    "content_checksum",
    "exec_probe",
    "generated_password",
    "http_probe",
    "labels",
    "metadata",
    "plain_env",
    "ports",
    "post_start",
    "quarter_of_memory",
    "secret_env",
    "selector",
    "service_host",
    "spread",
    "survives_destroy",
    "tcp_probe",
]
