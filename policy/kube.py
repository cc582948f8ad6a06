"""Kubernetes objects as the policy engine hands them to a validator.

Props arrive as the Kubernetes API spells them (camelCase). During `pulumi preview`
a value that depends on another resource's output is unknown, and the SDK's proxy
raises on reading it. `plain` copies the props into ordinary dicts and lists with
`UNKNOWN` in those places, so a rule can skip what cannot be known yet instead of
failing or flagging it. Every rule reads pods through `Workload`, whatever the kind.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
)

NAME: Final = "app.kubernetes.io/name"
INSTANCE: Final = "app.kubernetes.io/instance"
COMPONENT: Final = "app.kubernetes.io/component"
PART_OF: Final = "app.kubernetes.io/part-of"
MANAGED_BY: Final = "app.kubernetes.io/managed-by"
GATEWAY: Final = "gateway"


class _Unknown:
    def __repr__(self) -> str:
        return "<computed>"


UNKNOWN: Final = _Unknown()
"""Stands for a value that is only known once the deployment runs."""

_UNKNOWN_SENTINELS: Final = frozenset(
    {
        UNKNOWN_ARCHIVE_VALUE,
        UNKNOWN_ARRAY_VALUE,
        UNKNOWN_ASSET_VALUE,
        UNKNOWN_BOOLEAN_VALUE,
        UNKNOWN_NUMBER_VALUE,
        UNKNOWN_OBJECT_VALUE,
        UNKNOWN_STRING_VALUE,
    }
)

# Where each workload kind keeps its pod template; () is the Pod itself.
_POD_TEMPLATE_PATHS: Final[Mapping[str, tuple[str, ...]]] = {
    "kubernetes:apps/v1:Deployment": ("spec", "template"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template"),
    "kubernetes:batch/v1:Job": ("spec", "template"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template"),
    "kubernetes:core/v1:Pod": (),
}
_LONG_RUNNING_KINDS: Final = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"})


class ResourceArgs(Protocol):
    """What a validator reads from `ResourceValidationArgs` or a stack's resource."""

    @property
    def resource_type(self) -> str: ...

    @property
    def props(self) -> Mapping[str, Any]: ...

    @property
    def urn(self) -> str: ...

    @property
    def name(self) -> str: ...


def plain(value: Any) -> Any:
    """Copy proxied props into dicts and lists, with UNKNOWN for unknown values."""
    if isinstance(value, str):
        return UNKNOWN if value in _UNKNOWN_SENTINELS else value
    if isinstance(value, Mapping):
        return {key: _plain_item(value, key) for key in value}
    if isinstance(value, Sequence):
        return [_plain_item(value, index) for index in range(len(value))]
    return value


def _plain_item(container: Any, key: Any) -> Any:
    try:
        return plain(container[key])
    except UnknownValueError:
        return UNKNOWN


def get(value: Any, *path: str) -> Any:
    """Follow `path` through plain props: None when absent, UNKNOWN when unknown."""
    for key in path:
        if value is UNKNOWN:
            return UNKNOWN
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def items(value: Any) -> list[Any]:
    """The known entries of a list field; an unknown or absent list has none."""
    return value if isinstance(value, list) else []


def is_number(value: Any) -> bool:
    # Numbers cross gRPC as protobuf doubles, so 2 arrives as 2.0.
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class KubeObject:
    """One Kubernetes object of the stack, addressed as kind namespace/name."""

    kind: str
    namespace: Any
    name: str
    urn: str
    props: dict[str, Any]

    @property
    def labels(self) -> Any:
        return get(self.props, "metadata", "labels")

    @property
    def ref(self) -> str:
        namespace = "<computed>" if self.namespace is UNKNOWN else self.namespace or "<default>"
        return f"{self.kind} {namespace}/{self.name}"


@dataclass(frozen=True)
class Container:
    role: str
    name: str
    spec: Any

    def __str__(self) -> str:
        return f"{self.role} '{self.name}'"


@dataclass(frozen=True)
class Workload(KubeObject):
    """A Kubernetes object that runs pods, with its pod template."""

    template: Any

    @property
    def long_running(self) -> bool:
        return self.kind in _LONG_RUNNING_KINDS

    @property
    def has_own_template(self) -> bool:
        """False for a bare Pod, whose template is the object itself."""
        return self.kind != "Pod"

    @property
    def pod_labels(self) -> Any:
        return get(self.template, "metadata", "labels")

    @property
    def pod_spec(self) -> Any:
        return get(self.template, "spec")

    @property
    def is_gateway(self) -> bool | None:
        """Whether the pods are the gateway's; None while the labels are unknown."""
        component = get(self.pod_labels, COMPONENT)
        return None if component is UNKNOWN else component == GATEWAY

    def containers(self, *, init: bool = True) -> Iterator[Container]:
        """The known containers of the pod, init containers first."""
        fields = [("init container", "initContainers")] if init else []
        fields.append(("container", "containers"))
        for role, field in fields:
            for spec in items(get(self.pod_spec, field)):
                if isinstance(spec, dict):
                    yield Container(role, str(spec.get("name", "?")), spec)

    def security(self, container: Container, *path: str) -> Any:
        """A securityContext field as it applies: the container's, else the pod's."""
        value = get(container.spec, "securityContext", *path)
        if value is None:
            value = get(self.pod_spec, "securityContext", *path)
        return value


def kind_of(resource_type: str) -> str:
    return resource_type.rsplit(":", 1)[-1]


def kube_object(args: ResourceArgs) -> KubeObject | None:
    """The resource as a Kubernetes object, or None if it is not one."""
    if not args.resource_type.startswith("kubernetes:"):
        return None
    props = plain(args.props)
    if not isinstance(props, dict):
        return None
    name = get(props, "metadata", "name")
    return KubeObject(
        kind=kind_of(args.resource_type),
        namespace=get(props, "metadata", "namespace"),
        name=name if isinstance(name, str) else args.name,
        urn=args.urn,
        props=props,
    )


def workload(args: ResourceArgs) -> Workload | None:
    """The resource as a pod-running workload, or None if it runs no pods."""
    path = _POD_TEMPLATE_PATHS.get(args.resource_type)
    obj = kube_object(args)
    if path is None or obj is None:
        return None
    return Workload(
        kind=obj.kind,
        namespace=obj.namespace,
        name=obj.name,
        urn=obj.urn,
        props=obj.props,
        template=get(obj.props, *path) if path else obj.props,
    )


def same_namespace(first: Any, second: Any) -> bool:
    """Namespaces that may be the same; an unknown one may be any."""
    if first is UNKNOWN or second is UNKNOWN:
        return True
    return (first or "") == (second or "")


def selector_matches(selector: Any, labels: Any) -> bool | None:
    """Whether a label selector selects pods with `labels`; None if unknowable.

    A missing (null) selector selects nothing and an empty one selects every pod,
    as for a policy/v1 PodDisruptionBudget.
    """
    if selector is None:
        return False
    match_labels = get(selector, "matchLabels") or {}
    expressions = get(selector, "matchExpressions")
    if UNKNOWN in (selector, labels, match_labels, expressions):
        return None
    if not isinstance(selector, dict) or not isinstance(match_labels, dict):
        return None
    labels = labels if isinstance(labels, dict) else {}
    results = [_label_matches(k, v, labels) for k, v in match_labels.items()]
    results += [_expression_matches(e, labels) for e in items(expressions)]
    if False in results:
        return False
    return None if None in results else True


def _label_matches(key: str, value: Any, labels: dict[str, Any]) -> bool | None:
    if value is UNKNOWN or labels.get(key) is UNKNOWN:
        return None
    return bool(labels.get(key) == value)


def _expression_matches(expression: Any, labels: dict[str, Any]) -> bool | None:
    key = get(expression, "key")
    operator = get(expression, "operator")
    values = get(expression, "values")
    if UNKNOWN in (key, operator, values, labels.get(key)):
        return None
    present = key in labels
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    if UNKNOWN in items(values):
        return None
    chosen = present and labels[key] in items(values)
    if operator == "In":
        return chosen
    if operator == "NotIn":
        return not chosen
    return None


_NAME_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_CREDENTIAL_WORDS: Final = frozenset({"PASSWORD", "PASSWD", "SECRET", "TOKEN", "APIKEY", "CREDENTIAL", "CREDENTIALS"})
# A name ending in one of these points at a credential without holding one.
_POINTER_WORDS: Final = frozenset(
    {
        "FILE",
        "PATH",
        "DIR",
        "NAME",
        "REF",
        "URL",
        "URI",
        "ENDPOINT",
        "HEADER",
        "TTL",
        "EXPIRY",
        "LENGTH",
        "TIMEOUT",
        "ENABLED",
        "PREFIX",
    }
)


def looks_like_credential_name(name: str) -> bool:
    """PASSWORD, SECRET, TOKEN, API_KEY in a name, or a name ending in KEY."""
    words = [word.upper() for word in _NAME_WORDS.findall(name)]
    if not words or words[-1] in _POINTER_WORDS:
        return False
    return words[-1] == "KEY" or any(word in _CREDENTIAL_WORDS for word in words)


def _is_reference(value: str) -> bool:
    # $(VAR) and ${VAR} are filled in at run time; {{ }} by a template engine.
    return value.startswith(("$", "{{"))


_URI_PASSWORD = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s/:@]+:([^\s/@]+)@")
_SQL_PASSWORD = re.compile(r"\bPASSWORD\s+'([^']+)'", re.IGNORECASE)
_REDIS_PASSWORD = re.compile(r"^\s*requirepass\s+(\S+)", re.MULTILINE)
_ASSIGNMENT = re.compile(
    r"""^\s*(?:export\s+)?([A-Za-z_][\w.-]*)\s*[:=]\s*["']?([^\s"'#]+)""",
    re.MULTILINE,
)


def credential_in_text(text: str) -> str | None:
    """Describe the credential that `text` carries in plain sight, if any."""
    if any(not _is_reference(m) for m in _URI_PASSWORD.findall(text)):
        return "a connection URI with a password (scheme://user:password@host)"
    if any(not _is_reference(m) for m in _SQL_PASSWORD.findall(text)):
        return "a SQL PASSWORD literal"
    if any(not _is_reference(m) for m in _REDIS_PASSWORD.findall(text)):
        return "a Redis requirepass password"
    for key, value in _ASSIGNMENT.findall(text):
        if looks_like_credential_name(key) and not _is_reference(value):
            return f"a value assigned to '{key}'"
    return None
