"""service-exposure and recommended-labels."""

import pytest
from pulumi_policy.proxy import UNKNOWN_OBJECT_VALUE, UNKNOWN_STRING_VALUE
from rules import recommended_labels, service_exposure

from tests.policy.k8s_builders import (
    config_map,
    findings,
    labels,
    pod_template,
    service,
    workload,
)

GATEWAY = labels("traefik", component="gateway")


def test_cluster_ip_service_passes() -> None:
    assert findings(service_exposure, service()) == []


@pytest.mark.parametrize("service_type", ["NodePort", "LoadBalancer"])
def test_gateway_service_may_be_exposed(service_type: str) -> None:
    args = service(service_type=service_type, object_labels=GATEWAY)

    assert findings(service_exposure, args) == []


def test_exposed_service_outside_the_gateway_is_reported() -> None:
    assert findings(service_exposure, service(service_type="NodePort")) == [
        "Service staging-core/core: type NodePort exposes it outside the cluster but it "
        "is not labelled app.kubernetes.io/component: gateway; use type ClusterIP and "
        "route to it through the gateway's Ingress"
    ]


def test_service_unknown_during_preview_is_not_reported() -> None:
    unknown_type = service(service_type=UNKNOWN_STRING_VALUE, preview=True)
    unknown_labels = service(service_type="LoadBalancer", object_labels=UNKNOWN_OBJECT_VALUE, preview=True)

    assert findings(service_exposure, unknown_type) == []
    assert findings(service_exposure, unknown_labels) == []


def test_labelled_objects_pass() -> None:
    assert findings(recommended_labels, workload()) == []
    assert findings(recommended_labels, workload("CronJob")) == []
    assert findings(recommended_labels, service()) == []


def test_workload_missing_a_label_is_reported() -> None:
    object_labels = labels()
    del object_labels["app.kubernetes.io/part-of"]

    assert findings(recommended_labels, workload(object_labels=object_labels)) == [
        "Deployment staging-core/core: metadata.labels lack app.kubernetes.io/part-of; "
        "use the platform's standard labels (name, instance, component, "
        "part-of: platform, managed-by: pulumi)"
    ]


def test_pod_template_missing_labels_is_reported() -> None:
    template = pod_template(pod_labels={"app.kubernetes.io/name": "core"})

    [message] = findings(recommended_labels, workload("StatefulSet", template=template))

    assert (
        "pod template labels lack app.kubernetes.io/instance, "
        "app.kubernetes.io/managed-by, app.kubernetes.io/part-of;" in message
    )


def test_service_without_labels_is_reported() -> None:
    [message] = findings(recommended_labels, service(object_labels={}))

    assert message.startswith("Service staging-core/core: metadata.labels lack")


def test_bare_pod_is_checked_once() -> None:
    assert len(findings(recommended_labels, workload("Pod", object_labels={}))) == 1


def test_configmaps_need_no_labels() -> None:
    assert findings(recommended_labels, config_map()) == []


def test_labels_unknown_during_preview_are_not_reported() -> None:
    args = workload(object_labels=UNKNOWN_OBJECT_VALUE, preview=True)

    assert findings(recommended_labels, args) == []
