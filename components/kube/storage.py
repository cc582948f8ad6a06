"""Volumes that carry their own mount, and the one rule that keeps data through
`pulumi destroy`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pulumi_kubernetes.apps.v1 import StatefulSetPersistentVolumeClaimRetentionPolicyArgs
from pulumi_kubernetes.core.v1 import (
    ConfigMapProjectionArgs,
    ConfigMapVolumeSourceArgs,
    DownwardAPIProjectionArgs,
    DownwardAPIVolumeFileArgs,
    EmptyDirVolumeSourceArgs,
    KeyToPathArgs,
    ObjectFieldSelectorArgs,
    PersistentVolumeClaim,
    PersistentVolumeClaimArgs,
    PersistentVolumeClaimSpecArgs,
    PersistentVolumeClaimVolumeSourceArgs,
    ProjectedVolumeSourceArgs,
    SecretVolumeSourceArgs,
    ServiceAccountTokenProjectionArgs,
    VolumeArgs,
    VolumeMountArgs,
    VolumeProjectionArgs,
    VolumeResourceRequirementsArgs,
)
from pulumi_kubernetes.meta.v1 import ObjectMetaArgs

from components.kube.meta import metadata

# Claims a StatefulSet made from its templates stay when it is deleted or scaled down.
RETAIN_CLAIMS = StatefulSetPersistentVolumeClaimRetentionPolicyArgs(when_deleted="Retain", when_scaled="Retain")


# A claim is not awaited: under a WaitForFirstConsumer class (kind's, the clouds')
# it binds only once the pod that mounts it exists, and the workload's own await
# covers that. Awaited, an `up` after `destroy` waited out its timeout on the claims
# `destroy` kept, already Bound (tests/node/test_destroy.py).
CLAIM_ANNOTATIONS = {"pulumi.com/skipAwait": "true"}


# Each disk-backed scratch directory; their sum stays below a container's
# ephemeral-storage limit (components/from_settings.py).
SCRATCH_SIZE = "256Mi"


def survives_destroy(parent: pulumi.Resource, *, protect: bool) -> pulumi.ResourceOptions:
    """Options of a resource that holds data: `pulumi destroy` leaves it in the
    cluster, and refuses to run at all while it is protected (the target decides)."""
    return pulumi.ResourceOptions(parent=parent, protect=protect, retain_on_delete=True)


@dataclass(frozen=True)
class Volume:
    """A pod volume with the path it is mounted at. `source` None: the StatefulSet's
    claim template of that name provides it."""

    name: str
    path: str
    source: VolumeArgs | None
    read_only: bool = False

    def mount(self) -> VolumeMountArgs:
        return VolumeMountArgs(name=self.name, mount_path=self.path, read_only=True if self.read_only else None)

    @staticmethod
    def empty(name: str, path: str, size: str = SCRATCH_SIZE) -> Volume:
        """A disk-backed emptyDir of at most `size`."""
        return Volume(name, path, VolumeArgs(name=name, empty_dir=EmptyDirVolumeSourceArgs(size_limit=size)))

    @staticmethod
    def shared_memory(size: str) -> Volume:
        """A memory-backed emptyDir on /dev/shm (the runtime's own is 64 MiB)."""
        source = EmptyDirVolumeSourceArgs(medium="Memory", size_limit=size)
        return Volume("shm", "/dev/shm", VolumeArgs(name="shm", empty_dir=source))

    @staticmethod
    def config_map(name: str, path: str, config_map: str) -> Volume:
        source = VolumeArgs(name=name, config_map=ConfigMapVolumeSourceArgs(name=config_map))
        return Volume(name, path, source, read_only=True)

    @staticmethod
    def api_token(name: str, path: str) -> Volume:
        """The service account's token, the cluster CA and the namespace, where a
        client library looks for them: for the one pod that talks to the API server,
        as automounting is off everywhere."""
        namespace = DownwardAPIVolumeFileArgs(
            path="namespace", field_ref=ObjectFieldSelectorArgs(field_path="metadata.namespace")
        )
        sources = [
            VolumeProjectionArgs(
                service_account_token=ServiceAccountTokenProjectionArgs(path="token", expiration_seconds=3607)
            ),
            VolumeProjectionArgs(
                config_map=ConfigMapProjectionArgs(
                    name="kube-root-ca.crt", items=[KeyToPathArgs(key="ca.crt", path="ca.crt")]
                )
            ),
            VolumeProjectionArgs(downward_api=DownwardAPIProjectionArgs(items=[namespace])),
        ]
        return Volume(
            name, path, VolumeArgs(name=name, projected=ProjectedVolumeSourceArgs(sources=sources)), read_only=True
        )

    @staticmethod
    def secret_file(name: str, path: str, secret: str, key: str) -> Volume:
        """One key of a Secret, as a file named after the key."""
        items = [KeyToPathArgs(key=key, path=key)]
        source = VolumeArgs(name=name, secret=SecretVolumeSourceArgs(secret_name=secret, items=items))
        return Volume(name, path, source, read_only=True)


@dataclass(frozen=True)
class DataVolume:
    """A PersistentVolumeClaim and where its pods mount it: a claim of its own
    (`claim_name`), or one a StatefulSet makes from its `template`."""

    name: str
    path: str
    storage: str
    storage_class: str
    claim_name: str = ""
    access_mode: str = "ReadWriteOnce"

    def spec(self) -> PersistentVolumeClaimSpecArgs:
        return PersistentVolumeClaimSpecArgs(
            access_modes=[self.access_mode],
            storage_class_name=self.storage_class,
            resources=VolumeResourceRequirementsArgs(requests={"storage": self.storage}),
        )

    @property
    def volume(self) -> Volume:
        claim = PersistentVolumeClaimVolumeSourceArgs(claim_name=self.claim_name)
        return Volume(self.name, self.path, VolumeArgs(name=self.name, persistent_volume_claim=claim))

    @property
    def templated(self) -> Volume:
        """The mount of the claim a StatefulSet makes from `template`."""
        return Volume(self.name, self.path, None)

    def template(self, object_labels: Mapping[str, str]) -> PersistentVolumeClaimArgs:
        return PersistentVolumeClaimArgs(
            metadata=ObjectMetaArgs(name=self.name, labels=dict(object_labels)), spec=self.spec()
        )

    def claim(
        self,
        resource_name: str,
        namespace: str,
        object_labels: Mapping[str, str],
        parent: pulumi.Resource,
        *,
        protect: bool,
    ) -> PersistentVolumeClaim:
        return PersistentVolumeClaim(
            resource_name,
            metadata=metadata(self.claim_name, namespace, object_labels, CLAIM_ANNOTATIONS),
            spec=self.spec(),
            opts=survives_destroy(parent, protect=protect),
        )
