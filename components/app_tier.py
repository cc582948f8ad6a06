"""AppTier: the application services (backend and frontend style), one App each."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
from pulumi_kubernetes.autoscaling.v2 import (
    CrossVersionObjectReferenceArgs,
    HorizontalPodAutoscaler,
    HorizontalPodAutoscalerSpecArgs,
    MetricSpecArgs,
    MetricTargetArgs,
    ResourceMetricSourceArgs,
)
from pulumi_kubernetes.core.v1 import ConfigMap, EnvVarArgs, ResourceRequirementsArgs, Secret

from components import kube
from components.contracts import Backing, Route


@dataclass(frozen=True)
class Autoscaling:
    """A HorizontalPodAutoscaler on CPU."""

    min_replicas: int
    """The fewest replicas it scales down to."""
    max_replicas: int
    """The most replicas it scales up to."""
    cpu_utilization: int
    """The average CPU use, in percent of the request, it keeps the pods at."""


@dataclass(frozen=True)
class AppArgs:
    """One service. `image` None: not deployed. It connects to the `uses` and to the
    apps of its tier named in `calls`; the gateway connects to it when it has a `path`."""

    name: str
    """The app's name: its Deployment, Service, ConfigMap and Secret."""
    namespace: str
    """Where it runs."""
    component: str
    """Its `app.kubernetes.io/component` label (`backend`, `frontend`)."""
    image: str | None
    """Its image, pinned; None: not deployed yet."""
    port: int
    """The HTTP port it listens on, which its Service exposes."""
    replicas: int
    """Replicas (a PodDisruptionBudget from two), unless it autoscales."""
    run_as_user: int
    """The non-root UID it runs as."""
    resources: ResourceRequirementsArgs
    """The container's requests and limits."""
    pull_policy: str = "Always"
    """The image pull policy; default `Always`."""
    path: str | None = None
    """The gateway routes this path to it; default None (not routed)."""
    autoscaling: Autoscaling | None = None
    """Scale on CPU; default None (fixed `replicas`)."""
    probe_path: str = "/health"
    """The HTTP path of its probes; default `/health`."""
    probe_delay: int = 10
    """Seconds before the first liveness and readiness probe; default 10."""
    env: Mapping[str, str] = field(default_factory=dict)
    """Plain environment, from a ConfigMap; default none."""
    secret_env: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Secret environment, from a Secret; default none."""
    uses: Sequence[Backing] = ()
    """The data services it connects to, each an env var with its URL; default none."""
    calls: Sequence[str] = ()
    """The apps of its tier it connects to; default none."""
    session_affinity: bool = False
    """Its Service sends a client to the same pod; default false."""
    allow_internet: bool = False
    """It may connect to any address outside the cluster; default false."""

    @property
    def labels(self) -> dict[str, str]:
        return kube.labels(self.name, self.name, self.component)


class App:
    """One app's objects, children of its AppTier: a ConfigMap of its plain settings,
    a Secret of its credentials, a Deployment (spread across nodes, HTTP probes), a
    Service, an HPA when it autoscales, a PodDisruptionBudget at two or more
    replicas, and a NetworkPolicy in `network`. Outputs: `traffic`, its pods' side of
    every relation; `route` when it has a path."""

    def __init__(self, tier: pulumi.Resource, prefix: str, args: AppArgs, image: str, network: kube.Network) -> None:
        opts = kube.child(tier)
        env = [kube.config_env(key, f"{args.name}-config", key) for key in args.env]
        depends: list[pulumi.Resource] = []
        if args.env:
            meta = kube.metadata(f"{args.name}-config", args.namespace, args.labels)
            depends.append(ConfigMap(f"{prefix}-config", metadata=meta, data=dict(args.env), opts=opts))
        secrets = {**args.secret_env, **{backing.env_name: backing.secret_url for backing in args.uses}}
        if secrets:
            meta = kube.metadata(f"{args.name}-secrets", args.namespace, args.labels)
            depends.append(Secret(f"{prefix}-secrets", metadata=meta, type="Opaque", string_data=secrets, opts=opts))
            env += [kube.secret_env(key, f"{args.name}-secrets", key) for key in secrets]
        pod = kube.Pod(
            args.name,
            args.namespace,
            args.labels,
            [self._container(args, image, env)],
            args.run_as_user,
            affinity=kube.spread(args.labels),
            checksum=kube.content_checksum(dict(args.env), secrets),
        )
        replicas = args.autoscaling.min_replicas if args.autoscaling else args.replicas
        deployment_opts = kube.child(tier, depends_on=depends)
        if args.autoscaling is not None:
            # The HPA owns the replica count once the Deployment exists.
            deployment_opts = pulumi.ResourceOptions.merge(
                deployment_opts, pulumi.ResourceOptions(ignore_changes=["spec.replicas"])
            )
            self._autoscaler(f"{prefix}-hpa", args, args.autoscaling, opts)
        pod.deployment(f"{prefix}-deployment", replicas=replicas, opts=deployment_opts)
        pod.service(f"{prefix}-service", opts, session_affinity=args.session_affinity)
        pod.disruption_budget(f"{prefix}-pdb", replicas=replicas, opts=opts)
        self.traffic = pod.traffic(network, f"{prefix}-netpol", opts)
        for backing in args.uses:
            kube.connect(self.traffic, backing.server, backing.port)
        if args.allow_internet:
            kube.connect(self.traffic, kube.INTERNET, 443)
        self.route = None if args.path is None else Route(args.path, args.namespace, args.name, args.port, self.traffic)

    @staticmethod
    def _container(args: AppArgs, image: str, env: Sequence[EnvVarArgs]) -> kube.Container:
        path, delay = args.probe_path, args.probe_delay
        return kube.Container(
            name=args.name,
            image=image,
            pull_policy=args.pull_policy,
            resources=args.resources,
            ports={"http": args.port},
            env=env,
            # The probe path may check the app's dependencies: it decides readiness
            # only. Liveness and startup ask whether the process accepts connections,
            # so a slow database never restarts a healthy pod.
            liveness=kube.tcp_probe("http", kube.Timing(period=10, timeout=5, failures=3)),
            readiness=kube.http_probe(path, kube.Timing(initial_delay=delay, period=5, timeout=3, failures=3)),
            startup=kube.tcp_probe("http", kube.Timing(initial_delay=delay, period=10, timeout=3, failures=30)),
        )

    @staticmethod
    def _autoscaler(resource_name: str, args: AppArgs, scaling: Autoscaling, opts: pulumi.ResourceOptions) -> None:
        target = MetricTargetArgs(type="Utilization", average_utilization=scaling.cpu_utilization)
        HorizontalPodAutoscaler(
            resource_name,
            metadata=kube.metadata(args.name, args.namespace, args.labels),
            spec=HorizontalPodAutoscalerSpecArgs(
                scale_target_ref=CrossVersionObjectReferenceArgs(
                    api_version="apps/v1", kind="Deployment", name=args.name
                ),
                min_replicas=scaling.min_replicas,
                max_replicas=scaling.max_replicas,
                metrics=[MetricSpecArgs(type="Resource", resource=ResourceMetricSourceArgs(name="cpu", target=target))],
            ),
            opts=opts,
        )


class AppTier(pulumi.ComponentResource):
    """An App for each app with an image, each admitting only the gateway and the
    apps that call it and reaching only what it calls and uses. Apps without an image
    are skipped and listed in `not_deployed`; a call to one connects to nothing.

    Outputs: `routes` (for the gateway), `deployed`, `not_deployed`.
    """

    def __init__(
        self, name: str, apps: Sequence[AppArgs], network: kube.Network, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("platform:index:AppTier", name, None, opts)
        self.not_deployed: dict[str, str] = {}
        deployed: dict[str, tuple[AppArgs, App]] = {}
        for index, args in enumerate(apps):
            if args.image is None:
                self.not_deployed[args.name] = f"no image set; set platform:apps[{index}].image to deploy it"
                continue
            deployed[args.name] = (args, App(self, f"{name}-{args.name}", args, args.image, network))
        for args, app in deployed.values():
            for callee, callee_app in (deployed[called] for called in args.calls if called in deployed):
                kube.connect(app.traffic, callee_app.traffic, callee.port)
        self.deployed = list(deployed)
        self.routes = [app.route for _, app in deployed.values() if app.route is not None]
        self.register_outputs({"deployed": self.deployed, "not_deployed": self.not_deployed})
