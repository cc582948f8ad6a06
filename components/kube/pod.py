"""One pod description, hardened by default, from which Deployments, StatefulSets
and CronJobs are made, with the Service, disruption budget and NetworkPolicy that
belong to it.

A hardening change lands here once and reaches every workload: every container runs
as non-root with a read-only root filesystem, no privilege escalation, every
capability dropped and the RuntimeDefault seccomp profile.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import pulumi
from pulumi_kubernetes.apps.v1 import (
    Deployment,
    DeploymentSpecArgs,
    DeploymentStrategyArgs,
    RollingUpdateDeploymentArgs,
    StatefulSet,
    StatefulSetSpecArgs,
)
from pulumi_kubernetes.batch.v1 import CronJob, CronJobSpecArgs, JobSpecArgs, JobTemplateSpecArgs
from pulumi_kubernetes.core.v1 import (
    AffinityArgs,
    CapabilitiesArgs,
    ClientIPConfigArgs,
    ConfigMapKeySelectorArgs,
    ContainerArgs,
    ContainerPortArgs,
    EnvFromSourceArgs,
    EnvVarArgs,
    EnvVarSourceArgs,
    ExecActionArgs,
    HTTPGetActionArgs,
    LifecycleArgs,
    LifecycleHandlerArgs,
    PodAffinityArgs,
    PodAffinityTermArgs,
    PodAntiAffinityArgs,
    PodSecurityContextArgs,
    PodSpecArgs,
    PodTemplateSpecArgs,
    ProbeArgs,
    ResourceRequirementsArgs,
    SeccompProfileArgs,
    SecretKeySelectorArgs,
    SecurityContextArgs,
    Service,
    ServicePortArgs,
    ServiceSpecArgs,
    SessionAffinityConfigArgs,
    TCPSocketActionArgs,
    VolumeArgs,
    WeightedPodAffinityTermArgs,
)
from pulumi_kubernetes.meta.v1 import LabelSelectorArgs, ObjectMetaArgs
from pulumi_kubernetes.policy.v1 import PodDisruptionBudget, PodDisruptionBudgetSpecArgs

from components.config.quantity import share_of
from components.kube.meta import match, metadata, selector
from components.kube.network import Network, Peer, Traffic
from components.kube.storage import RETAIN_CLAIMS, DataVolume, Volume


@dataclass(frozen=True)
class Timing:
    """When a probe starts, how often it runs, how long one may take, and how many
    failures in a row count."""

    initial_delay: int = 0
    period: int = 10
    timeout: int = 5
    failures: int = 3


def exec_probe(command: Sequence[str], timing: Timing) -> ProbeArgs:
    return _probe(timing, exec_=ExecActionArgs(command=list(command)))


def http_probe(path: str, timing: Timing, port: str | int = "http") -> ProbeArgs:
    return _probe(timing, http_get=HTTPGetActionArgs(path=path, port=port))


def tcp_probe(port: str | int, timing: Timing) -> ProbeArgs:
    """Whether the process accepts connections at all: a liveness check that no
    dependency of the process can fail."""
    return _probe(timing, tcp_socket=TCPSocketActionArgs(port=port))


def _probe(
    timing: Timing,
    *,
    exec_: ExecActionArgs | None = None,
    http_get: HTTPGetActionArgs | None = None,
    tcp_socket: TCPSocketActionArgs | None = None,
) -> ProbeArgs:
    return ProbeArgs(
        exec_=exec_,
        http_get=http_get,
        tcp_socket=tcp_socket,
        initial_delay_seconds=timing.initial_delay,
        period_seconds=timing.period,
        timeout_seconds=timing.timeout,
        failure_threshold=timing.failures,
    )


def post_start(command: Sequence[str]) -> LifecycleArgs:
    return LifecycleArgs(post_start=LifecycleHandlerArgs(exec_=ExecActionArgs(command=list(command))))


CHECKSUM_ANNOTATION = "checksum/config"


def content_checksum(*values: pulumi.Input[Any]) -> pulumi.Output[str]:
    """A SHA-256 of `values` (the ConfigMap and Secret data a pod reads), for its
    template's CHECKSUM_ANNOTATION: when the data changes the template changes, so
    exactly the workloads that read it roll. The digest reveals nothing of a secret
    input, so it is kept in plain state and shown in diffs."""
    digest = pulumi.Output.all(*values).apply(
        lambda resolved: hashlib.sha256(json.dumps(resolved, sort_keys=True).encode()).hexdigest()
    )
    return pulumi.Output.unsecret(digest)


def quarter_of_memory(resources: ResourceRequirementsArgs) -> str:
    """A quarter of the container's memory limit, for a memory-backed /dev/shm."""
    limits = cast(Mapping[str, str], resources.limits)
    return share_of(limits["memory"], 4)


def secret_env(env_name: str, secret_name: str, key: str) -> EnvVarArgs:
    return EnvVarArgs(
        name=env_name, value_from=EnvVarSourceArgs(secret_key_ref=SecretKeySelectorArgs(name=secret_name, key=key))
    )


def config_env(env_name: str, config_map: str, key: str) -> EnvVarArgs:
    source = EnvVarSourceArgs(config_map_key_ref=ConfigMapKeySelectorArgs(name=config_map, key=key))
    return EnvVarArgs(name=env_name, value_from=source)


def plain_env(values: Mapping[str, str]) -> list[EnvVarArgs]:
    return [EnvVarArgs(name=key, value=value) for key, value in values.items()]


def scratch_volume(path: str) -> Volume:
    """An emptyDir for a path the process writes, so the root filesystem stays read-only."""
    return Volume.empty("scratch-" + path.strip("/").replace("/", "-").replace("_", "-"), path)


def _reads_secret(env: EnvVarArgs | EnvFromSourceArgs) -> bool:
    if isinstance(env, EnvFromSourceArgs):
        return env.secret_ref is not None
    source = env.value_from
    return isinstance(source, EnvVarSourceArgs) and source.secret_key_ref is not None


@dataclass
class Container:
    """A hardened container. `volumes` are mounted in order, then the `scratch` paths."""

    name: str
    image: str
    resources: ResourceRequirementsArgs
    ports: Mapping[str, int] = field(default_factory=dict)
    liveness: ProbeArgs | None = None
    readiness: ProbeArgs | None = None
    startup: ProbeArgs | None = None
    command: Sequence[str] = ()
    args: Sequence[str] = ()
    env: Sequence[EnvVarArgs] = ()
    env_from: Sequence[EnvFromSourceArgs] = ()
    volumes: Sequence[Volume] = ()
    scratch: Sequence[str] = ("/tmp",)
    # The size of a memory-backed /dev/shm, for a process that uses shared memory.
    shared_memory: str | None = None
    lifecycle: LifecycleArgs | None = None
    pull_policy: str = "Always"

    @property
    def mounted(self) -> list[Volume]:
        shm = [Volume.shared_memory(self.shared_memory)] if self.shared_memory else []
        return [*self.volumes, *map(scratch_volume, self.scratch), *shm]

    @property
    def reads_secrets(self) -> bool:
        """Whether a Secret reaches it through its environment."""
        return any(map(_reads_secret, self.env)) or any(map(_reads_secret, self.env_from))

    def spec(self) -> ContainerArgs:
        mounted = self.mounted
        return ContainerArgs(
            name=self.name,
            image=self.image,
            image_pull_policy=self.pull_policy,
            resources=self.resources,
            security_context=SecurityContextArgs(
                allow_privilege_escalation=False,
                read_only_root_filesystem=True,
                run_as_non_root=True,
                privileged=False,
                capabilities=CapabilitiesArgs(drop=["ALL"]),
                seccomp_profile=SeccompProfileArgs(type="RuntimeDefault"),
            ),
            volume_mounts=[volume.mount() for volume in mounted],
            command=list(self.command) or None,
            args=list(self.args) or None,
            env=list(self.env) or None,
            env_from=list(self.env_from) or None,
            ports=[ContainerPortArgs(name=n, container_port=p, protocol="TCP") for n, p in self.ports.items()] or None,
            liveness_probe=self.liveness,
            readiness_probe=self.readiness,
            startup_probe=self.startup,
            lifecycle=self.lifecycle,
        )


# The manifest scan's (checkov) checks this platform deliberately does not meet,
# each with its reason. They are annotated only on the workloads they apply to.
# pulumi-kubernetes deletes with foreground propagation unless told otherwise: the
# workload then stays until every pod of it is gone, and every deletion behind it
# waits for that. Background, as `kubectl delete` does: the workload goes at once and
# its pods after it; a namespace's deletion still waits for them.
DELETE_IN_BACKGROUND = {"pulumi.com/deletionPropagationPolicy": "background"}

SCAN_SKIPS = {
    "CKV_K8S_43": "images are pinned by version tag in the validated stack config, not by digest",
    "CKV_K8S_40": "runs as the non-root UID its image expects (PostgreSQL, Redis 999, Authentik 1000; docs/images.md)",
    "CKV_K8S_35": "the application reads its credentials from environment variables, filled from Secrets",
}

# When a Service is ready, for pulumi-kubernetes. Its built-in Service await returns
# only once the Endpoints have not changed for 10 s, whether the pods are ready or
# not; `pulumi up` runs 4 steps per core at once, so on 2 cores the platform's
# Services held every step for those 10 s and no workload could start. The pods
# behind a Service are awaited on their Deployment or StatefulSet; the Service itself
# is ready once it has its cluster IP. A LoadBalancer keeps the built-in await, which
# waits for its external address.
SERVICE_READY = {"pulumi.com/waitFor": "jsonpath={.spec.clusterIP}"}

# How late a scheduled run may still start: an hour, so a nightly dump delayed by an
# outage still runs that night.
STARTING_DEADLINE = 3600

ROLLING = DeploymentStrategyArgs(
    type="RollingUpdate", rolling_update=RollingUpdateDeploymentArgs(max_surge=1, max_unavailable=0)
)
RECREATE = DeploymentStrategyArgs(type="Recreate")


@dataclass
class Pod:
    """The pods of one workload: its name, labels (the selector is their stable
    subset), containers (and `init_containers`, run to completion first, in order)
    and the user (and group, the user's number unless given)
    they all run as. `checksum` (content_checksum of the data they read) goes into
    the template's annotations.

    The service account token is never automounted: a pod that talks to the API
    server (the gateway) gets it through an explicit projected volume instead.
    """

    name: str
    namespace: str
    labels: Mapping[str, str]
    containers: Sequence[Container]
    run_as_user: int
    affinity: AffinityArgs | None = None
    service_account: str | None = None
    restart_policy: str | None = None
    run_as_group: int | None = None
    checksum: pulumi.Input[str] | None = None
    annotations: Mapping[str, str] | None = None
    init_containers: Sequence[Container] = ()

    @property
    def every_container(self) -> list[Container]:
        return [*self.init_containers, *self.containers]

    @property
    def peer(self) -> Peer:
        return Peer(self.namespace, selector(self.labels))

    def volumes(self) -> list[VolumeArgs]:
        """Every volume a container mounts, once: read-only sources first, then
        writable ones, then the scratch space, sorted by name."""
        mounted: dict[str, Volume] = {}
        for container in self.every_container:
            mounted.update((volume.name, volume) for volume in container.volumes)
        scratch = {v.name: v for c in self.every_container for v in c.mounted[len(c.volumes) :]}
        ordered = [
            *sorted(mounted.values(), key=lambda volume: not volume.read_only),
            *(scratch[name] for name in sorted(scratch)),
        ]
        return [volume.source for volume in ordered if volume.source is not None]

    def template(self) -> PodTemplateSpecArgs:
        spec = PodSpecArgs(
            automount_service_account_token=False,
            enable_service_links=False,
            security_context=PodSecurityContextArgs(
                run_as_non_root=True,
                run_as_user=self.run_as_user,
                run_as_group=self.group,
                fs_group=self.group,
                seccomp_profile=SeccompProfileArgs(type="RuntimeDefault"),
            ),
            init_containers=[container.spec() for container in self.init_containers] or None,
            containers=[container.spec() for container in self.containers],
            volumes=self.volumes(),
            affinity=self.affinity,
            service_account_name=self.service_account,
            restart_policy=self.restart_policy,
        )
        annotations: dict[str, pulumi.Input[str]] = {**(self.annotations or {})}
        if self.checksum is not None:
            annotations[CHECKSUM_ANNOTATION] = self.checksum
        return PodTemplateSpecArgs(
            metadata=ObjectMetaArgs(labels=dict(self.labels), annotations=annotations or None), spec=spec
        )

    @property
    def group(self) -> int:
        return self.run_as_user if self.run_as_group is None else self.run_as_group

    def workload_metadata(self) -> ObjectMetaArgs:
        """checkov.io/skip annotations for the SCAN_SKIPS that apply to these pods, and
        deletion in the background (DELETE_IN_BACKGROUND)."""
        applies = {
            "CKV_K8S_43": True,
            "CKV_K8S_40": self.run_as_user < 10000,
            "CKV_K8S_35": any(container.reads_secrets for container in self.every_container),
        }
        checks = [check for check, applied in applies.items() if applied]
        skips = {f"checkov.io/skip{i}": f"{check}={SCAN_SKIPS[check]}" for i, check in enumerate(checks, start=1)}
        return metadata(self.name, self.namespace, self.labels, skips | DELETE_IN_BACKGROUND)

    def deployment(
        self,
        resource_name: str,
        *,
        replicas: int,
        opts: pulumi.ResourceOptions,
        strategy: DeploymentStrategyArgs = ROLLING,
    ) -> Deployment:
        """The default rollout adds one new pod before removing an old one, so
        capacity never drops."""
        spec = DeploymentSpecArgs(
            replicas=replicas, strategy=strategy, selector=match(self.labels), template=self.template()
        )
        return Deployment(resource_name, metadata=self.workload_metadata(), spec=spec, opts=opts)

    def stateful_set(
        self, resource_name: str, *, service_name: str, claims: Sequence[DataVolume], opts: pulumi.ResourceOptions
    ) -> StatefulSet:
        """One replica whose claims are made from templates, and retained."""
        spec = StatefulSetSpecArgs(
            service_name=service_name,
            replicas=1,
            selector=match(self.labels),
            persistent_volume_claim_retention_policy=RETAIN_CLAIMS,
            template=self.template(),
            volume_claim_templates=[claim.template(self.labels) for claim in claims],
        )
        return StatefulSet(resource_name, metadata=self.workload_metadata(), spec=spec, opts=opts)

    def cron_job(self, resource_name: str, *, schedule: str, opts: pulumi.ResourceOptions) -> CronJob:
        """One run at a time, retried twice, the last three runs of each outcome kept.
        A run that cannot start within STARTING_DEADLINE of its time (the controller
        was down, the previous run still going) is skipped: without a deadline the
        controller counts every missed time since the last run, and after 100 it
        stops scheduling the job at all."""
        spec = CronJobSpecArgs(
            schedule=schedule,
            starting_deadline_seconds=STARTING_DEADLINE,
            concurrency_policy="Forbid",
            successful_jobs_history_limit=3,
            failed_jobs_history_limit=3,
            job_template=JobTemplateSpecArgs(spec=JobSpecArgs(backoff_limit=2, template=self.template())),
        )
        return CronJob(resource_name, metadata=self.workload_metadata(), spec=spec, opts=opts)

    def service(
        self,
        resource_name: str,
        opts: pulumi.ResourceOptions,
        *,
        name: str | None = None,
        listen: Mapping[str, int] | None = None,
        node_ports: Mapping[str, int] | None = None,
        headless: bool = False,
        service_type: str = "ClusterIP",
        external_traffic_policy: str | None = None,
        session_affinity: bool = False,
    ) -> Service:
        """A Service selecting these pods on the containers' named ports. By default
        it listens on each port's own number; `listen` picks ports by name and gives
        the number the Service listens on (and `node_ports` their NodePorts).
        Session affinity keeps a client on one pod for three hours."""
        own = {port_name: number for c in self.containers for port_name, number in c.ports.items()}
        exposed = own if listen is None else listen
        node_port = node_ports or {}
        service_ports = [
            ServicePortArgs(name=n, port=number, target_port=n, protocol="TCP", node_port=node_port.get(n))
            for n, number in exposed.items()
            if n in own
        ]
        ready = None if service_type == "LoadBalancer" else SERVICE_READY
        spec = ServiceSpecArgs(
            type=None if headless else service_type,
            cluster_ip="None" if headless else None,
            publish_not_ready_addresses=True if headless else None,
            external_traffic_policy=external_traffic_policy,
            session_affinity="ClientIP" if session_affinity else None,
            session_affinity_config=SessionAffinityConfigArgs(client_ip=ClientIPConfigArgs(timeout_seconds=10800))
            if session_affinity
            else None,
            selector=selector(self.labels),
            ports=service_ports,
        )
        meta = metadata(name or self.name, self.namespace, self.labels, ready)
        return Service(resource_name, metadata=meta, spec=spec, opts=opts)

    def disruption_budget(
        self, resource_name: str, *, replicas: int, opts: pulumi.ResourceOptions
    ) -> PodDisruptionBudget | None:
        """With two or more replicas, keep all but one up during voluntary disruptions
        (drains, upgrades); a single replica gets none, or no node could ever drain."""
        if replicas < 2:
            return None
        spec = PodDisruptionBudgetSpecArgs(max_unavailable=1, selector=match(self.labels))
        return PodDisruptionBudget(
            resource_name, metadata=metadata(self.name, self.namespace, self.labels), spec=spec, opts=opts
        )

    def traffic(self, network: Network, resource_name: str, opts: pulumi.ResourceOptions) -> Traffic:
        """The NetworkPolicy of these pods, written by relations (`kube.connect`) and
        made by `network`."""
        return network.traffic(self.name, self.namespace, self.labels, resource_name, opts)


def spread(pod_labels: Mapping[str, str], *, beside: Mapping[str, str] | None = None) -> AffinityArgs:
    """Prefer placing replicas of one workload on different nodes; with `beside`,
    require the node of the pods with those labels (a volume they share)."""
    term = PodAffinityTermArgs(label_selector=match(pod_labels), topology_key="kubernetes.io/hostname")
    together = None
    if beside is not None:
        same_node = PodAffinityTermArgs(
            label_selector=LabelSelectorArgs(match_labels=dict(beside)), topology_key="kubernetes.io/hostname"
        )
        together = PodAffinityArgs(required_during_scheduling_ignored_during_execution=[same_node])
    return AffinityArgs(
        pod_anti_affinity=PodAntiAffinityArgs(
            preferred_during_scheduling_ignored_during_execution=[
                WeightedPodAffinityTermArgs(weight=100, pod_affinity_term=term)
            ]
        ),
        pod_affinity=together,
    )
