"""What the target cluster already serves, asked once before any resource is registered.

The Kubernetes provider cannot look a kind up without failing when it is absent, so
the question goes to the API server's discovery endpoint directly, through the
stack's API client (components/kubeconfig.py: the kubeconfig and context the
provider uses, with the same credentials).
"""

from __future__ import annotations

import pulumi

from components.kubeconfig import ApiClient, KubeconfigError

MONITORING_GROUP = "monitoring.coreos.com"
MONITORING_VERSION = "v1"


def serves(group: str, version: str, resource: str, *, api: ApiClient) -> bool:
    """Whether the cluster serves `resource` in `group/version`. A cluster that cannot
    be asked counts as not serving it: the program then goes on without it (the
    ownership check, on by default, has refused such a cluster already)."""
    try:
        found = api.get(f"/apis/{group}/{version}")
    except (KubeconfigError, OSError, ValueError) as error:
        pulumi.log.warn(f"could not ask the cluster for {group}/{version}: {error}")
        return False
    return found is not None and any(item.get("name") == resource for item in found.get("resources") or [])


def pod_monitors_available(api: ApiClient | None) -> bool:
    """Whether the Prometheus Operator's PodMonitor kind exists in the stack's cluster.
    Never without a cluster (`api` is None when the provider renders manifests)."""
    if api is None:
        return False
    available = serves(MONITORING_GROUP, MONITORING_VERSION, "podmonitors", api=api)
    pulumi.log.info(
        f"PodMonitor ({MONITORING_GROUP}/{MONITORING_VERSION}) {'found' if available else 'not found'} "
        "in the cluster; platform:metrics.monitors overrides this"
    )
    return available
