"""What the target cluster already serves, asked once before any resource is registered.

The Kubernetes provider cannot look a kind up without failing when it is absent, so
the question goes to the API server's discovery endpoint directly, with the same
kubeconfig and context the provider uses (`kubernetes:kubeconfig`,
`kubernetes:context`, else `KUBECONFIG`).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pulumi
import yaml

if TYPE_CHECKING:
    from kubernetes import client

MONITORING_GROUP = "monitoring.coreos.com"
MONITORING_VERSION = "v1"
TIMEOUT_SECONDS = 10


def _api_client(kubeconfig: str | None, context: str | None) -> client.ApiClient:
    """An API client for the provider's cluster. `kubernetes:kubeconfig` holds either
    a path or the kubeconfig document itself, as the provider accepts both."""
    from kubernetes import client, config

    settings = client.Configuration()
    if kubeconfig and not os.path.exists(os.path.expanduser(kubeconfig)):
        document: dict[str, Any] = yaml.safe_load(kubeconfig)
        config.load_kube_config_from_dict(document, context=context, client_configuration=settings)
    else:
        path = os.path.expanduser(kubeconfig) if kubeconfig else None
        config.load_kube_config(config_file=path, context=context, client_configuration=settings)
    # One answer or none: an unreachable cluster fails `pulumi up` soon enough.
    settings.retries = False
    return client.ApiClient(settings)


def serves(group: str, version: str, resource: str, *, kubeconfig: str | None, context: str | None) -> bool:
    """Whether the cluster serves `resource` in `group/version`. A cluster that cannot
    be asked counts as not serving it: the program then goes on without it.

    The Kubernetes client is imported here, not with the module: it takes longer to
    import than the rest of the program, and only stacks with metrics ask."""
    import urllib3
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException
    from kubernetes.config.config_exception import ConfigException

    try:
        api = _api_client(kubeconfig, context)
        with api:
            found = client.CustomObjectsApi(api).get_api_resources(group, version, _request_timeout=TIMEOUT_SECONDS)
    except ApiException as error:
        if error.status != 404:
            pulumi.log.warn(f"could not ask the cluster for {group}/{version}: HTTP {error.status} {error.reason}")
        return False
    except (ConfigException, OSError, ValueError, urllib3.exceptions.HTTPError) as error:
        pulumi.log.warn(f"could not ask the cluster for {group}/{version}: {error}")
        return False
    return any(item.name == resource for item in found.resources)


def pod_monitors_available() -> bool:
    """Whether the Prometheus Operator's PodMonitor kind exists in the provider's
    cluster. Never when the provider renders manifests instead of deploying."""
    provider = pulumi.Config("kubernetes")
    if provider.get("renderYamlToDirectory"):
        return False
    available = serves(
        MONITORING_GROUP,
        MONITORING_VERSION,
        "podmonitors",
        kubeconfig=provider.get("kubeconfig"),
        context=provider.get("context"),
    )
    pulumi.log.info(
        f"PodMonitor ({MONITORING_GROUP}/{MONITORING_VERSION}) {'found' if available else 'not found'} "
        "in the cluster; platform:metrics.monitors overrides this"
    )
    return available
