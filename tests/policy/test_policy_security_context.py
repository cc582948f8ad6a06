"""run-as-non-root, no-privilege-escalation, capabilities-dropped, seccomp."""

from typing import Any

from pulumi_policy.proxy import UNKNOWN_BOOLEAN_VALUE, UNKNOWN_OBJECT_VALUE
from rules import (
    capabilities_dropped,
    no_privilege_escalation,
    run_as_non_root,
    seccomp_runtime_default,
)

from tests.policy.k8s_builders import POD_SECURITY, container, findings, labels, pod_template, workload

HARDENED: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
}


def deployment(
    security: Any = None,
    pod_security: Any = POD_SECURITY,
    pod_labels: Any = None,
    preview: bool = False,
) -> Any:
    main = container(securityContext=HARDENED if security is None else security)
    template = pod_template([main], pod_labels=pod_labels, security_context=pod_security)
    return workload(template=template, preview=preview)


def test_pod_without_run_as_non_root_is_reported() -> None:
    assert findings(run_as_non_root, deployment(pod_security={})) == [
        "Deployment staging-core/core: container 'core' may run as root; set "
        "securityContext.runAsNonRoot: true on the pod (and a non-zero runAsUser if "
        "the image has no USER)"
    ]


def test_container_level_run_as_non_root_is_enough() -> None:
    security = HARDENED | {"runAsNonRoot": True}

    assert findings(run_as_non_root, deployment(security, pod_security=None)) == []


def test_container_opting_out_of_non_root_is_reported() -> None:
    security = HARDENED | {"runAsNonRoot": False}

    assert len(findings(run_as_non_root, deployment(security))) == 1


def test_init_container_inherits_the_pods_non_root() -> None:
    template = pod_template(init_containers=[container("init")])

    assert findings(run_as_non_root, workload(template=template)) == []


def test_container_allowing_privilege_escalation_is_reported() -> None:
    assert findings(no_privilege_escalation, deployment({"capabilities": {"drop": ["ALL"]}})) == [
        "Deployment staging-core/core: container 'core' allows privilege escalation; "
        "set securityContext.allowPrivilegeEscalation: false on the container"
    ]


def test_init_container_allowing_privilege_escalation_is_reported() -> None:
    template = pod_template(init_containers=[container("chown", securityContext=None)])

    [message] = findings(no_privilege_escalation, workload("StatefulSet", template=template))

    assert "init container 'chown' allows privilege escalation" in message


def test_container_keeping_capabilities_is_reported() -> None:
    security = {"allowPrivilegeEscalation": False}

    assert findings(capabilities_dropped, deployment(security)) == [
        "Deployment staging-core/core: container 'core' keeps the default Linux "
        'capabilities; set securityContext.capabilities.drop: ["ALL"] on the container'
    ]


def test_container_adding_a_capability_is_reported() -> None:
    security = HARDENED | {"capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}

    [message] = findings(capabilities_dropped, deployment(security))

    assert "container 'core' adds capabilities NET_BIND_SERVICE; remove" in message


def test_gateway_may_add_net_bind_service_only() -> None:
    gateway = labels("traefik", component="gateway")
    bind = HARDENED | {"capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}
    admin = HARDENED | {"capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE", "NET_ADMIN"]}}

    assert findings(capabilities_dropped, deployment(bind, pod_labels=gateway)) == []
    [message] = findings(capabilities_dropped, deployment(admin, pod_labels=gateway))
    assert "adds capabilities NET_ADMIN;" in message


def test_net_bind_service_is_not_reported_while_pod_labels_are_unknown() -> None:
    bind = HARDENED | {"capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}

    assert findings(capabilities_dropped, deployment(bind, pod_labels=UNKNOWN_OBJECT_VALUE, preview=True)) == []


def test_capabilities_unknown_during_preview_are_not_reported() -> None:
    security = {"allowPrivilegeEscalation": False, "capabilities": UNKNOWN_OBJECT_VALUE}

    assert findings(capabilities_dropped, deployment(security, preview=True)) == []


def test_pod_without_seccomp_profile_is_reported() -> None:
    assert findings(seccomp_runtime_default, deployment(pod_security={"runAsNonRoot": True})) == [
        "Deployment staging-core/core: container 'core' runs with seccomp profile unset; "
        "set securityContext.seccompProfile.type: RuntimeDefault on the pod"
    ]


def test_container_level_seccomp_profile_is_enough() -> None:
    security = HARDENED | {"seccompProfile": {"type": "RuntimeDefault"}}

    assert findings(seccomp_runtime_default, deployment(security, pod_security=None)) == []


def test_container_running_unconfined_is_reported() -> None:
    security = HARDENED | {"seccompProfile": {"type": "Unconfined"}}

    [message] = findings(seccomp_runtime_default, deployment(security))

    assert "runs with seccomp profile Unconfined;" in message


def test_security_context_unknown_during_preview_is_not_reported() -> None:
    pod_security = {"runAsNonRoot": UNKNOWN_BOOLEAN_VALUE, "seccompProfile": UNKNOWN_OBJECT_VALUE}
    security = {"allowPrivilegeEscalation": UNKNOWN_BOOLEAN_VALUE, "capabilities": {"drop": ["ALL"]}}
    args = deployment(security, pod_security=pod_security, preview=True)

    for validate in (run_as_non_root, no_privilege_escalation, seccomp_runtime_default):
        assert findings(validate, args) == []
