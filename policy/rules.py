"""The platform-security rules, as validators and as the policies of the pack.

Each check takes one Kubernetes object and yields what is wrong with it, as
"<what is wrong>; <how to fix it>". `validator` turns a check into a pulumi-policy
validator that prefixes the object's kind namespace/name and reports each finding.
The validators are plain functions, so tests call them without a PolicyPack.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Final, Protocol, TypeVar

from kube import (
    COMPONENT,
    GATEWAY,
    INSTANCE,
    MANAGED_BY,
    NAME,
    PART_OF,
    UNKNOWN,
    KubeObject,
    ResourceArgs,
    Workload,
    credential_in_text,
    get,
    is_number,
    items,
    kube_object,
    looks_like_credential_name,
    same_namespace,
    selector_matches,
    workload,
)
from pulumi_policy import (
    EnforcementLevel,
    Policy,
    ReportViolation,
    ResourceValidationPolicy,
    StackValidationPolicy,
)

RECOMMENDED_LABELS: Final = (NAME, INSTANCE, MANAGED_BY, PART_OF)
GATEWAY_CAPABILITIES: Final = frozenset({"NET_BIND_SERVICE"})

ObjectT = TypeVar("ObjectT", bound=KubeObject)
ResourceValidator = Callable[[ResourceArgs, ReportViolation], None]


class StackArgs(Protocol):
    """What the stack validator reads from `StackValidationArgs`."""

    @property
    def resources(self) -> Sequence[ResourceArgs]: ...


def validator(
    select: Callable[[ResourceArgs], ObjectT | None],
) -> Callable[[Callable[[ObjectT], Iterable[str]]], ResourceValidator]:
    """Make a check on the objects `select` picks into a resource validator."""

    def wrap(check: Callable[[ObjectT], Iterable[str]]) -> ResourceValidator:
        @functools.wraps(check)
        def validate(args: ResourceArgs, report_violation: ReportViolation) -> None:
            obj = select(args)
            if obj is not None:
                for finding in check(obj):
                    report_violation(f"{obj.ref}: {finding}", args.urn)

        return validate

    return wrap


def of_kind(kind: str) -> Callable[[ResourceArgs], KubeObject | None]:
    def select(args: ResourceArgs) -> KubeObject | None:
        obj = kube_object(args)
        return obj if obj is not None and obj.kind == kind else None

    return select


def _missing(fields: dict[str, Any]) -> list[str]:
    return [name for name, value in fields.items() if value is None]


@validator(workload)
def images_pinned(pod: Workload) -> Iterator[str]:
    for container in pod.containers():
        image = get(container.spec, "image")
        if image is UNKNOWN:
            continue
        if not isinstance(image, str) or not image:
            yield f"{container} has no image; set a pinned image in the stack config"
            continue
        if "@sha256:" in image:
            continue
        repository, _, tag = image.rpartition(":")
        if not repository or "/" in tag:
            repository, tag = image, ""
        if tag in ("", "latest"):
            yield (
                f"{container} image '{image}' is not pinned; set a version tag such "
                f"as {repository}:<version> (or a @sha256 digest) in the stack config"
            )


@validator(workload)
def container_resources(pod: Workload) -> Iterator[str]:
    for container in pod.containers():
        resources = get(container.spec, "resources")
        missing = _missing(
            {
                f"{bound}.{resource}": get(resources, bound, resource)
                for bound in ("requests", "limits")
                for resource in ("cpu", "memory")
            }
        )
        if missing:
            yield (
                f"{container} has no resources {', '.join(missing)}; set cpu and "
                "memory requests and limits for it in the stack config"
            )


@validator(workload)
def container_probes(pod: Workload) -> Iterator[str]:
    if not pod.long_running:
        return
    for container in pod.containers(init=False):
        missing = _missing({probe: get(container.spec, probe) for probe in ("livenessProbe", "readinessProbe")})
        if missing:
            yield (
                f"{container} has no {' or '.join(missing)}; add both probes so a hung "
                "container is restarted and an unready one gets no traffic"
            )


@validator(workload)
def run_as_non_root(pod: Workload) -> Iterator[str]:
    for container in pod.containers():
        if pod.security(container, "runAsNonRoot") not in (True, UNKNOWN):
            yield (
                f"{container} may run as root; set securityContext.runAsNonRoot: true "
                "on the pod (and a non-zero runAsUser if the image has no USER)"
            )


@validator(workload)
def no_privilege_escalation(pod: Workload) -> Iterator[str]:
    for container in pod.containers():
        allowed = get(container.spec, "securityContext", "allowPrivilegeEscalation")
        if allowed not in (False, UNKNOWN):
            yield (
                f"{container} allows privilege escalation; set "
                "securityContext.allowPrivilegeEscalation: false on the container"
            )


@validator(workload)
def capabilities_dropped(pod: Workload) -> Iterator[str]:
    allowed = GATEWAY_CAPABILITIES if pod.is_gateway is not False else frozenset()
    for container in pod.containers():
        capabilities = get(container.spec, "securityContext", "capabilities")
        drop = get(capabilities, "drop")
        if drop is not UNKNOWN and UNKNOWN not in items(drop) and "ALL" not in items(drop):
            yield (
                f"{container} keeps the default Linux capabilities; set "
                'securityContext.capabilities.drop: ["ALL"] on the container'
            )
        added = {str(cap) for cap in items(get(capabilities, "add")) if cap is not UNKNOWN}
        if added - allowed:
            yield (
                f"{container} adds capabilities {', '.join(sorted(added - allowed))}; "
                "remove capabilities.add (only pods labelled "
                f"{COMPONENT}: {GATEWAY} may add NET_BIND_SERVICE)"
            )


@validator(workload)
def seccomp_runtime_default(pod: Workload) -> Iterator[str]:
    for container in pod.containers():
        profile = pod.security(container, "seccompProfile", "type")
        if profile not in ("RuntimeDefault", UNKNOWN):
            yield (
                f"{container} runs with seccomp profile {profile or 'unset'}; set "
                "securityContext.seccompProfile.type: RuntimeDefault on the pod"
            )


@validator(of_kind("ConfigMap"))
def no_credentials_in_configmaps(config_map: KubeObject) -> Iterator[str]:
    fix = "move it to a Secret generated with pulumi-random and mount or reference that"
    for field in ("data", "binaryData"):
        entries = get(config_map.props, field)
        for key, value in (entries if isinstance(entries, dict) else {}).items():
            if looks_like_credential_name(key):
                yield f"{field} key '{key}' looks like a credential; {fix}"
            elif field == "data" and isinstance(value, str):
                found = credential_in_text(value)
                if found:
                    yield f"{field} key '{key}' contains {found}; {fix}"


@validator(workload)
def no_literal_credentials_in_env(pod: Workload) -> Iterator[str]:
    for container in pod.containers():
        for env in items(get(container.spec, "env")):
            name, value = str(get(env, "name")), get(env, "value")
            if value is None or value == "":
                continue
            if looks_like_credential_name(name):
                yield (
                    f"{container} sets env {name} to a literal value; take it from a Secret with valueFrom.secretKeyRef"
                )
            elif isinstance(value, str) and (found := credential_in_text(value)):
                yield (f"{container} env {name} contains {found}; build it from a Secret with valueFrom.secretKeyRef")


@validator(of_kind("Service"))
def service_exposure(service: KubeObject) -> Iterator[str]:
    service_type = get(service.props, "spec", "type")
    component = get(service.labels, COMPONENT)
    if service_type in ("NodePort", "LoadBalancer") and component not in (
        GATEWAY,
        UNKNOWN,
    ):
        yield (
            f"type {service_type} exposes it outside the cluster but it is not "
            f"labelled {COMPONENT}: {GATEWAY}; use type ClusterIP and route to it "
            "through the gateway's Ingress"
        )


def _labelled(args: ResourceArgs) -> KubeObject | None:
    return workload(args) or of_kind("Service")(args)


@validator(_labelled)
def recommended_labels(obj: KubeObject) -> Iterator[str]:
    places = [("metadata.labels", obj.labels)]
    if isinstance(obj, Workload) and obj.has_own_template:
        places.append(("pod template labels", obj.pod_labels))
    for place, labels in places:
        if labels is UNKNOWN:
            continue
        known = labels if isinstance(labels, dict) else {}
        missing = [label for label in RECOMMENDED_LABELS if not known.get(label)]
        if missing:
            yield (
                f"{place} lack {', '.join(missing)}; use the platform's standard "
                "labels (name, instance, component, part-of: platform, "
                "managed-by: pulumi)"
            )


def _min_replicas(pod: Workload, autoscalers: list[KubeObject]) -> Any:
    """The fewest replicas the workload runs: a number, or UNKNOWN."""
    counts = [get(pod.props, "spec", "replicas")]
    for hpa in autoscalers:
        target = get(hpa.props, "spec", "scaleTargetRef")
        if (
            get(target, "kind") in (pod.kind, UNKNOWN)
            and get(target, "name") in (pod.name, UNKNOWN)
            and same_namespace(hpa.namespace, pod.namespace)
        ):
            counts.append(get(hpa.props, "spec", "minReplicas") or 1)
    known = [count for count in counts if is_number(count)]
    if any(count >= 2 for count in known):
        return max(known)
    if UNKNOWN in counts:
        return UNKNOWN
    return max(known, default=1)


def pod_disruption_budgets(args: StackArgs, report_violation: ReportViolation) -> None:
    objects = [obj for obj in map(kube_object, args.resources) if obj is not None]
    budgets = [obj for obj in objects if obj.kind == "PodDisruptionBudget"]
    autoscalers = [obj for obj in objects if obj.kind == "HorizontalPodAutoscaler"]
    for pod in map(workload, args.resources):
        if pod is None or pod.kind not in ("Deployment", "StatefulSet"):
            continue
        replicas = _min_replicas(pod, autoscalers)
        if replicas is UNKNOWN or replicas < 2:
            continue
        covered = [
            selector_matches(get(budget.props, "spec", "selector"), pod.pod_labels)
            for budget in budgets
            if same_namespace(budget.namespace, pod.namespace)
        ]
        if True not in covered and None not in covered:
            report_violation(
                f"{pod.ref}: runs {int(replicas)} replicas but no "
                "PodDisruptionBudget in its namespace selects its pods; add one "
                "(e.g. maxUnavailable: 1) whose selector.matchLabels are a subset "
                "of the pod template labels",
                pod.urn,
            )


RESOURCE_RULES: Final[dict[str, tuple[str, ResourceValidator]]] = {
    "images-pinned": (
        "Container images carry a version tag other than latest, or a digest.",
        images_pinned,
    ),
    "container-resources": (
        "Every container and init container sets cpu and memory requests and limits.",
        container_resources,
    ),
    "container-probes": (
        "Long-running containers have liveness and readiness probes.",
        container_probes,
    ),
    "run-as-non-root": (
        "Every container runs with runAsNonRoot: true.",
        run_as_non_root,
    ),
    "no-privilege-escalation": (
        "Every container sets allowPrivilegeEscalation: false.",
        no_privilege_escalation,
    ),
    "capabilities-dropped": (
        "Containers drop ALL capabilities and add none; the gateway may add NET_BIND_SERVICE.",
        capabilities_dropped,
    ),
    "seccomp-runtime-default": (
        "Containers run under the RuntimeDefault seccomp profile.",
        seccomp_runtime_default,
    ),
    "no-credentials-in-configmaps": (
        "ConfigMaps hold no passwords, tokens, keys or URIs with credentials.",
        no_credentials_in_configmaps,
    ),
    "no-literal-credentials-in-env": (
        "Credentials reach containers through valueFrom, never as literal env values.",
        no_literal_credentials_in_env,
    ),
    "service-exposure": (
        "Only the gateway's Services are of type NodePort or LoadBalancer.",
        service_exposure,
    ),
    "recommended-labels": (
        "Workloads, their pod templates and Services carry the recommended app.kubernetes.io labels.",
        recommended_labels,
    ),
}
"""Each resource rule by policy name: its description and its validator."""

POLICIES: Final[list[Policy]] = [
    *(
        ResourceValidationPolicy(
            name=name,
            description=description,
            validate=validate,
            enforcement_level=EnforcementLevel.MANDATORY,
        )
        for name, (description, validate) in RESOURCE_RULES.items()
    ),
    StackValidationPolicy(
        name="pod-disruption-budget",
        description="Deployments and StatefulSets with 2 or more replicas have a "
        "PodDisruptionBudget selecting their pods.",
        validate=pod_disruption_budgets,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
]
