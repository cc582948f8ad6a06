"""A changed volume size, checked against the cluster before anything is registered.

PostgreSQL keeps its data (`postgres.storage`, `authentik.database.storage`) in the
claims a StatefulSet makes from its volumeClaimTemplates, which Kubernetes does not
let change: a new size would make Pulumi replace the StatefulSet, and the API server
refuses the preview of that ("Forbidden: updates to statefulset spec ..."), while the
claims it made would keep their size anyway. The other data volumes are claims of
their own (`redis.storage`, `authentik.mediaStorage`, a backup's `storage`), which
Kubernetes grows in place when their StorageClass allows expansion
(`allowVolumeExpansion: true`) and the claim is bound.

`check_storage_changes` reads the live StatefulSet or claim of every sized volume the
program would register, with the provider's credentials, and stops `preview` and
`up` with every problem at once, each naming its config key:

- a size below the live one: a volume cannot shrink;
- a larger claim template: with the steps that grow it by hand (each replica's claim
  patched, the StatefulSet deleted with `--cascade=orphan`, the stack refreshed so
  it forgets that StatefulSet, then `up`, which makes it again with the new template);
- a larger claim of its own whose class does not allow expansion, or that is not bound.

A larger claim of its own whose class allows expansion passes: `up` asks for the new
size, and the class's provisioner grows the volume.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pulumi_kubernetes.apps.v1 import StatefulSet
from pulumi_kubernetes.core.v1 import PersistentVolumeClaim

from components.config.loading import invalid
from components.config.quantity import amount
from components.from_settings import StorageSource
from components.kubeconfig import ApiClient
from components.object_names import COMPONENT_TYPE, KubeObject

# The kinds that carry a size: a StatefulSet in its claim templates, a claim of its own.
TEMPLATE = StatefulSet.__name__
CLAIM = PersistentVolumeClaim.__name__


@dataclass(frozen=True)
class SizedVolume:
    """A data volume the program would register: the StatefulSet (`template` names its
    claim template) or the claim of its own that asks for `size`, and the config key
    it came from (several, joined by "or", when they have the same value)."""

    key: str
    kind: str
    namespace: str
    name: str
    size: str
    template: str = ""

    @property
    def what(self) -> str:
        if self.kind == TEMPLATE:
            return f"the claim template '{self.template}' of the StatefulSet {self.namespace}/{self.name}"
        return f"the claim {self.namespace}/{self.name}"


@dataclass(frozen=True)
class LiveVolume:
    """What the cluster has for a SizedVolume: the size asked for, the StorageClass
    and whether it allows expansion, and the claims that hold the data (each
    replica's of a StatefulSet, or the claim itself) with whether all are bound."""

    size: str
    storage_class: str
    expandable: bool
    claims: tuple[str, ...]
    bound: bool = True


@dataclass(frozen=True)
class Commands:
    """How the steps in a refusal reach this stack: kubectl on its cluster, and its name."""

    kubectl: str
    stack: str


def sized_volumes(objects: Sequence[KubeObject], sources: Sequence[StorageSource]) -> list[SizedVolume]:
    """Every claim template and claim of its own among `objects`, with its config key."""
    volumes: list[SizedVolume] = []
    for obj in objects:
        spec = obj.inputs.get("spec") or {}
        if obj.kind == TEMPLATE:
            sized = [
                (str((t.get("metadata") or {}).get("name", "")), _requested(t.get("spec") or {}))
                for t in spec.get("volumeClaimTemplates") or []
            ]
        elif obj.kind == CLAIM:
            sized = [("", _requested(spec))]
        else:
            continue
        for template, size in sized:
            keys = [
                source.key
                for source in sources
                if source.kind.__name__ == obj.kind
                and f"{COMPONENT_TYPE}{source.component.__name__}" == obj.component
                and source.value == size
            ]
            # A size no key sets (a component's own) never changes through config.
            if keys and size and obj.namespace:
                key = " or platform:".join(keys)
                volumes.append(SizedVolume(key, obj.kind, obj.namespace, obj.name, size, template))
    return volumes


def _requested(claim_spec: dict[str, Any]) -> str:
    return str(((claim_spec.get("resources") or {}).get("requests") or {}).get("storage") or "")


def _bytes(quantity: str) -> Decimal | None:
    try:
        return amount(quantity)
    except ValueError:
        return None


def problem(volume: SizedVolume, live: LiveVolume | None, commands: Commands) -> str | None:
    """Why the configured size cannot reach the cluster as it is, with the way out; None
    when it can (the object is new or gone, the size is the same, or the claim grows)."""
    if live is None:
        return None
    wanted, have = _bytes(volume.size), _bytes(live.size)
    if wanted is None or have is None or wanted == have:
        return None
    head = f"{volume.key}: '{volume.size}'"
    if wanted < have:
        return (
            f"{head} is smaller than the {live.size} of {volume.what}, and a volume cannot shrink; "
            f"set it back to {live.size}"
        )
    if volume.kind == CLAIM and live.expandable and live.bound:
        return None
    expansion = _Expansion(live.storage_class, commands.kubectl)
    if volume.kind == CLAIM and not live.expandable:
        return (
            f"{head} is larger than the {live.size} of {volume.what}, but its StorageClass {live.storage_class} "
            f"does not allow expansion ({expansion.query} does not print true), so the claim cannot grow. Set it "
            f"back to {live.size}, or allow expansion first: {expansion.allow}"
        )
    if volume.kind == CLAIM:
        return (
            f"{head} is larger than the {live.size} of {volume.what}, which is not bound to a volume yet, and "
            f"Kubernetes resizes only bound claims. Set it back to {live.size} until the pod that mounts it has "
            "started"
        )
    return (
        f"{head} is larger than the {live.size} of {volume.what}: Kubernetes does not let a StatefulSet's "
        "volumeClaimTemplates change, and the claims made from them would keep their size. "
        f'Set it back to {live.size}, or grow the volume by hand (docs/operations.md, "Growing a data volume"):'
        + "".join(
            f"\n    {number}. {step}"
            for number, step in enumerate(_growth_steps(volume, live, expansion, commands), start=1)
        )
    )


@dataclass(frozen=True)
class _Expansion:
    """The commands that show and allow expansion on a StorageClass."""

    storage_class: str
    kubectl: str

    @property
    def query(self) -> str:
        return f"`{self.kubectl} get storageclass {self.storage_class} -o jsonpath='{{.allowVolumeExpansion}}'`"

    @property
    def allow(self) -> str:
        return (
            f"`{self.kubectl} patch storageclass {self.storage_class} -p '{{\"allowVolumeExpansion\":true}}'`, only "
            "if its provisioner can expand volumes (the clouds' CSI drivers can; local-path-provisioner, the local "
            "clusters', cannot)"
        )


def _growth_steps(volume: SizedVolume, live: LiveVolume, expansion: _Expansion, commands: Commands) -> list[str]:
    """Growing a StatefulSet's claims by hand, then its template through the stack."""
    kubectl, stack, namespace = commands.kubectl, commands.stack, volume.namespace
    patch = json.dumps({"spec": {"resources": {"requests": {"storage": volume.size}}}}, separators=(",", ":"))
    check = (
        f"{expansion.query} prints true (the StorageClass {live.storage_class} allows expansion)"
        if live.expandable
        else f"allow expansion on the StorageClass {live.storage_class}, whose {expansion.query} does not print "
        f"true: {expansion.allow}"
    )
    return [
        check,
        *(f"`{kubectl} -n {namespace} patch pvc {claim} -p '{patch}'`" for claim in live.claims),
        f"`{kubectl} -n {namespace} delete statefulset {volume.name} --cascade=orphan` (its pods keep running, "
        "its claims stay)",
        f"`make refresh STACK={stack}` (or `pulumi refresh --stack {stack}`): the stack forgets the StatefulSet",
        f"`make up STACK={stack}` (or `pulumi up --stack {stack}`): the StatefulSet again, with the new template, "
        "adopting the running pods",
    ]


def live_volume(volume: SizedVolume, api: ApiClient) -> LiveVolume | None:
    """The cluster's side of `volume`, or None when its object does not exist."""
    namespace = f"/namespaces/{volume.namespace}"
    if volume.kind == TEMPLATE:
        stateful_set = api.get(f"/apis/apps/v1{namespace}/statefulsets/{volume.name}")
        if stateful_set is None:
            return None
        spec = stateful_set.get("spec") or {}
        template = next(
            (
                t.get("spec") or {}
                for t in spec.get("volumeClaimTemplates") or []
                if (t.get("metadata") or {}).get("name") == volume.template
            ),
            None,
        )
        if template is None:
            return None
        replicas = int(spec.get("replicas", 1))
        claims = tuple(f"{volume.template}-{volume.name}-{ordinal}" for ordinal in range(replicas))
        storage_class = str(template.get("storageClassName") or "")
        return LiveVolume(_requested(template), storage_class, _expandable(storage_class, api), claims)
    claim = api.get(f"/api/v1{namespace}/persistentvolumeclaims/{volume.name}")
    if claim is None:
        return None
    spec = claim.get("spec") or {}
    storage_class = str(spec.get("storageClassName") or "")
    bound = (claim.get("status") or {}).get("phase") == "Bound"
    return LiveVolume(_requested(spec), storage_class, _expandable(storage_class, api), (volume.name,), bound)


def _expandable(storage_class: str, api: ApiClient) -> bool:
    found = api.get(f"/apis/storage.k8s.io/v1/storageclasses/{storage_class}") if storage_class else None
    return bool(found and found.get("allowVolumeExpansion"))


def check_storage_changes(volumes: Sequence[SizedVolume], api: ApiClient, commands: Commands) -> None:
    """Raise the config error that lists every size the cluster cannot take as it is."""
    problems = [found for volume in volumes if (found := problem(volume, live_volume(volume, api), commands))]
    if problems:
        raise invalid(problems)
