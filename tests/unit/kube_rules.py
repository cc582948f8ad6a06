"""Rules the Kubernetes API server (and the controllers behind it) apply to the
objects the program renders, checked without a server.

Written from Kubernetes' side, not from components/config/, so that a rule the
settings model forgets shows up here: `problems(run)` lists every object that the
API server would refuse or that could never work (a Service that selects nothing,
a reference to a Secret the program does not create).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

from tests.unit.harness import Registration, Run

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
IANA_SVC_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eE][-+]?[0-9]+|Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E|)$")
SUFFIX: dict[str, Decimal] = {"": Decimal(1), "m": Decimal("0.001")}
SUFFIX |= {suffix: Decimal(1000) ** (i + 1) for i, suffix in enumerate("kMGTPE")}
SUFFIX |= {suffix + "i": Decimal(1024) ** (i + 1) for i, suffix in enumerate("KMGTPE")}
INT32_MAX = 2**31 - 1
# Beyond the DNS subdomain's 253: a Service name is a DNS-1035 label; a CronJob's
# Jobs get 11 characters appended; a StatefulSet's pods carry the label
# controller-revision-hash, its name plus 11 characters, and a label is at most 63.
NAME_RULES: dict[str, tuple[re.Pattern[str], int]] = {
    "Namespace": (DNS_LABEL, 63),
    "Service": (DNS_1035, 63),
    "CronJob": (DNS_SUBDOMAIN, 52),
    "StatefulSet": (DNS_SUBDOMAIN, 52),
}
BUILT_IN_CONFIG_MAPS = {"kube-root-ca.crt"}


def problems(run: Run) -> list[str]:
    """Every rule the run's objects break, as `<kind> <namespace>/<name>: <rule>`."""
    objects = [r for r in run.registrations if r.type.startswith("kubernetes:")]
    found: list[str] = []
    seen: set[tuple[str, str | None, str | None]] = set()
    for obj in objects:
        where = f"{obj.kind} {obj.namespace}/{obj.k8s_name}"
        identity = (obj.type, obj.namespace, obj.k8s_name)
        if identity in seen:
            found.append(f"{where}: rendered twice; the second create fails with AlreadyExists")
        seen.add(identity)
        found += [f"{where}: {problem}" for problem in _object(obj, objects)]
    return found


def _object(obj: Registration, objects: list[Registration]) -> Iterator[str]:
    yield from _metadata(obj)
    spec = obj.inputs.get("spec") or {}
    if obj.kind in ("Deployment", "StatefulSet", "CronJob"):
        yield from _workload(obj, spec, objects)
    elif obj.kind == "Service":
        yield from _service(obj, spec, objects)
    elif obj.kind == "Ingress":
        yield from _ingress(obj, spec, objects)
    elif obj.kind == "HorizontalPodAutoscaler":
        low, high = spec.get("minReplicas", 1), spec["maxReplicas"]
        if not 1 <= low <= high:
            yield f"minReplicas {low} must be at least 1 and at most maxReplicas {high}"
        for metric in spec.get("metrics", []):
            if metric["resource"]["target"].get("averageUtilization", 1) < 1:
                yield "averageUtilization must be positive"
    elif obj.kind in ("PodDisruptionBudget", "NetworkPolicy"):
        selector = spec.get("selector") or spec.get("podSelector") or {}
        yield from _labels(selector.get("matchLabels") or {}, "selector")
        for rule in [*spec.get("ingress", []), *spec.get("egress", [])]:
            for port in rule.get("ports", []):
                if not 1 <= int(port["port"]) <= 65535:
                    yield f"port {port['port']} is outside 1-65535"
            for peer in [*rule.get("from", []), *rule.get("to", [])]:
                if "ipBlock" in peer:
                    ipaddress.ip_network(peer["ipBlock"]["cidr"])
                for selector_key in ("podSelector", "namespaceSelector"):
                    yield from _labels((peer.get(selector_key) or {}).get("matchLabels") or {}, selector_key)
    elif obj.kind in ("ConfigMap", "Secret"):
        for key in [*(obj.inputs.get("data") or {}), *(obj.inputs.get("stringData") or {})]:
            if len(key) > 253 or not CONFIG_KEY.match(key):
                yield f"data key '{key}' is not a valid key"
    elif obj.kind == "PersistentVolumeClaim":
        yield from _quantity(spec["resources"]["requests"]["storage"], "storage")
    elif obj.kind == "ResourceQuota":
        for key, value in spec["hard"].items():
            yield from _quantity(value, key)


def _metadata(obj: Registration) -> Iterator[str]:
    name = obj.k8s_name or ""
    pattern, limit = NAME_RULES.get(obj.kind, (DNS_SUBDOMAIN, 253))
    if len(name) > limit or not pattern.match(name):
        yield f"name '{name}' ({len(name)} characters) breaks the {obj.kind} name rule (at most {limit})"
    namespace = obj.namespace
    if obj.kind != "Namespace" and namespace is not None and not (len(namespace) <= 63 and DNS_LABEL.match(namespace)):
        yield f"namespace '{namespace}' is not a DNS label"
    yield from _labels(obj.metadata.get("labels") or {}, "label")
    for key in obj.metadata.get("annotations") or {}:
        yield from _key(key, "annotation")


def _key(key: str, what: str) -> Iterator[str]:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not DNS_SUBDOMAIN.match(prefix)):
        yield f"{what} key '{key}' has an invalid prefix"
    if len(name) > 63 or not QUALIFIED_NAME.match(name):
        yield f"{what} key '{key}' is not a qualified name"


def _labels(labels: Mapping[str, Any], what: str) -> Iterator[str]:
    for key, value in labels.items():
        yield from _key(key, what)
        if not isinstance(value, str) or len(value) > 63 or not LABEL_VALUE.match(value):
            yield f"{what} {key}={value!r} is not a label value"


def _quantity(value: Any, what: str) -> Iterator[str]:
    if not isinstance(value, str) or not QUANTITY.match(value):
        yield f"{what} {value!r} is not a quantity"


def _amount(value: str) -> Decimal:
    match = QUANTITY.match(value)
    assert match is not None
    number, suffix = match.groups()
    if suffix[:1] in ("e", "E"):
        return Decimal(number + suffix)
    return Decimal(number) * SUFFIX[suffix]


def _workload(obj: Registration, spec: Mapping[str, Any], objects: list[Registration]) -> Iterator[str]:
    if obj.kind == "CronJob":
        fields = spec["schedule"].split()
        if not (len(fields) == 5 or (len(fields) == 1 and fields[0].startswith("@"))):
            yield f"schedule {spec['schedule']!r} is not a cron expression"
        template = spec["jobTemplate"]["spec"]["template"]
    else:
        template = spec["template"]
        selector = spec["selector"]["matchLabels"]
        yield from _labels(selector, "selector")
        pod_labels = template["metadata"]["labels"]
        if any(pod_labels.get(key) != value for key, value in selector.items()):
            yield "selector does not match the template's labels"
        if not 0 <= spec.get("replicas", 1) <= INT32_MAX:
            yield "replicas out of range"
    if obj.kind == "StatefulSet":
        if not _exists(objects, "Service", obj.namespace, spec["serviceName"]):
            yield f"serviceName '{spec['serviceName']}' is not a Service the program creates"
        for claim in spec.get("volumeClaimTemplates", []):
            yield from _labels(claim["metadata"].get("labels") or {}, "claim label")
            yield from _quantity(claim["spec"]["resources"]["requests"]["storage"], "claim storage")
    yield from _labels(template["metadata"].get("labels") or {}, "pod label")
    claims = {claim["metadata"]["name"] for claim in spec.get("volumeClaimTemplates", [])}
    yield from _pod(obj, template["spec"], objects, claims)


def _pod(obj: Registration, pod: Mapping[str, Any], objects: list[Registration], claims: set[str]) -> Iterator[str]:
    context = pod.get("securityContext") or {}
    for key in ("runAsUser", "runAsGroup", "fsGroup"):
        if key in context and not 0 <= context[key] <= INT32_MAX:
            yield f"pod securityContext.{key} {context[key]} is outside 0-{INT32_MAX}"
    volumes = {volume["name"] for volume in pod.get("volumes", [])} | claims
    for volume in pod.get("volumes", []):
        if not DNS_LABEL.match(volume["name"]) or len(volume["name"]) > 63:
            yield f"volume name '{volume['name']}' is not a DNS label"
        claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
        if claim and not _exists(objects, "PersistentVolumeClaim", obj.namespace, claim):
            yield f"volume claim '{claim}' is not a claim the program creates"
        config_map = (volume.get("configMap") or {}).get("name")
        if config_map and not _exists(objects, "ConfigMap", obj.namespace, config_map):
            yield f"volume ConfigMap '{config_map}' is not created"
        secret = (volume.get("secret") or {}).get("secretName")
        if secret and not _exists(objects, "Secret", obj.namespace, secret):
            yield f"volume Secret '{secret}' is not created"
    names = [c["name"] for c in [*pod.get("initContainers", []), *pod["containers"]]]
    if len(names) != len(set(names)):
        yield "two containers share a name"
    for container in [*pod.get("initContainers", []), *pod["containers"]]:
        yield from _container(obj, container, volumes, objects)


def _container(
    obj: Registration, container: Mapping[str, Any], volumes: set[str], objects: list[Registration]
) -> Iterator[str]:
    name = container["name"]
    if len(name) > 63 or not DNS_LABEL.match(name):
        yield f"container name '{name}' is not a DNS label"
    image = container["image"]
    if not image or image != image.strip():
        yield f"container {name}: image {image!r} is empty or has surrounding whitespace"
    port_names = []
    for port in container.get("ports", []):
        if not 1 <= port["containerPort"] <= 65535:
            yield f"container {name}: containerPort {port['containerPort']} is outside 1-65535"
        port_names.append(port.get("name"))
        yield from _port_name(port.get("name"), f"container {name}")
    resources = container.get("resources") or {}
    for group in ("requests", "limits"):
        for resource, value in (resources.get(group) or {}).items():
            yield from _quantity(value, f"container {name}: {group}.{resource}")
    for resource, request in (resources.get("requests") or {}).items():
        limit = (resources.get("limits") or {}).get(resource)
        if limit is None or not (QUANTITY.match(str(request)) and QUANTITY.match(str(limit))):
            continue
        if _amount(str(request)) > _amount(str(limit)):
            yield f"container {name}: requests.{resource} {request} is above limits.{resource} {limit}"
    for probe_key in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = container.get(probe_key)
        if probe is None:
            continue
        for timing in ("initialDelaySeconds", "periodSeconds", "timeoutSeconds", "failureThreshold"):
            if not 0 <= probe.get(timing, 0) <= INT32_MAX:
                yield f"container {name}: {probe_key}.{timing} {probe[timing]} is outside 0-{INT32_MAX}"
        http = probe.get("httpGet")
        if http and isinstance(http["port"], str) and http["port"] not in port_names:
            yield f"container {name}: {probe_key} uses port '{http['port']}', which the container does not name"
    for mount in container.get("volumeMounts", []):
        if mount["name"] not in volumes:
            yield f"container {name}: mounts volume '{mount['name']}', which the pod does not have"
    for env in container.get("env", []):
        if not env["name"] or "=" in env["name"]:
            yield f"container {name}: env name {env['name']!r} is invalid"
        source = env.get("valueFrom") or {}
        for ref_key, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
            ref = source.get(ref_key)
            if ref and not _has_key(objects, kind, obj.namespace, ref["name"], ref["key"]):
                yield f"container {name}: env {env['name']} reads {kind} '{ref['name']}' key {ref['key']}: not created"
    for source in container.get("envFrom", []):
        for ref_key, kind in (("secretRef", "Secret"), ("configMapRef", "ConfigMap")):
            ref = source.get(ref_key)
            if ref and not _exists(objects, kind, obj.namespace, ref["name"]):
                yield f"container {name}: envFrom {kind} '{ref['name']}' is not created"


def _port_name(name: Any, where: str) -> Iterator[str]:
    if name is None:
        return
    if len(name) > 15 or not IANA_SVC_NAME.match(name) or "--" in name or not re.search("[a-z]", name):
        yield f"{where}: port name '{name}' is not an IANA service name"


def _service(obj: Registration, spec: Mapping[str, Any], objects: list[Registration]) -> Iterator[str]:
    selector = spec.get("selector") or {}
    yield from _labels(selector, "selector")
    names = [port.get("name") for port in spec["ports"]]
    if len(names) != len(set(names)):
        yield "two ports share a name"
    for port in spec["ports"]:
        yield from _port_name(port.get("name"), "port")
        if not 1 <= port["port"] <= 65535:
            yield f"port {port['port']} is outside 1-65535"
        if "nodePort" in port and not 30000 <= port["nodePort"] <= 32767:
            yield f"nodePort {port['nodePort']} is outside 30000-32767"
    if selector and not any(
        other.kind in ("Deployment", "StatefulSet")
        and other.namespace == obj.namespace
        and all(other.inputs["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in selector.items())
        for other in objects
    ):
        yield "selects no pods the program creates"


def _ingress(obj: Registration, spec: Mapping[str, Any], objects: list[Registration]) -> Iterator[str]:
    for rule in spec["rules"]:
        host = rule.get("host", "")
        try:
            ipaddress.ip_address(host)
            yield f"host '{host}' is an IP address"
        except ValueError:
            pass
        if host.startswith("*."):
            host = host[2:]
        if len(host) > 253 or not DNS_SUBDOMAIN.match(host):
            yield f"host '{host}' is not a DNS subdomain"
        for path in rule["http"]["paths"]:
            value = path["path"]
            if not value.startswith("/"):
                yield f"path '{value}' is not absolute"
            for bad in ("//", "/./", "/../", "%2f", "%2F"):
                if bad in value:
                    yield f"path '{value}' contains '{bad}'"
            if value.endswith(("/..", "/.")):
                yield f"path '{value}' ends in a dot segment"
            service = path["backend"]["service"]
            if not _exists(objects, "Service", obj.namespace, service["name"]):
                yield f"path '{value}' routes to Service '{service['name']}', which is not in namespace {obj.namespace}"
    for tls in spec.get("tls", []):
        for host in tls.get("hosts", []):
            if not DNS_SUBDOMAIN.match(host.removeprefix("*.")):
                yield f"tls host '{host}' is not a DNS subdomain"


def _exists(objects: list[Registration], kind: str, namespace: str | None, name: str) -> bool:
    if kind == "ConfigMap" and name in BUILT_IN_CONFIG_MAPS:
        return True
    return any(o.kind == kind and o.namespace == namespace and o.k8s_name == name for o in objects)


def _has_key(objects: list[Registration], kind: str, namespace: str | None, name: str, key: str) -> bool:
    for o in objects:
        if o.kind == kind and o.namespace == namespace and o.k8s_name == name:
            return key in (o.inputs.get("data") or {}) or key in (o.inputs.get("stringData") or {})
    return False
