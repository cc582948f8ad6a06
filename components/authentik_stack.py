"""AuthentikStack: the Authentik identity provider with its own PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pulumi_kubernetes.core.v1 import (
    ConfigMap,
    ConfigMapEnvSourceArgs,
    EnvFromSourceArgs,
    ProbeArgs,
    ResourceRequirementsArgs,
    Secret,
    SecretEnvSourceArgs,
)

from components import kube
from components import metrics as m
from components.contracts import Route, Scraping
from components.postgres_stateful_set import PostgresArgs, PostgresStatefulSet
from components.redis_cache import RedisArgs, RedisCache

HTTP_PORT = 9000
HTTPS_PORT = 9443
# The server's own Prometheus endpoint (listen.metrics, 0.0.0.0:9300 in
# authentik/lib/default.yml); it answers /metrics without authentication.
METRICS = m.Endpoint(9300)
AUTHENTIK_UID = 1000
MEDIA_DIR = "/data"
REDIS_DROPPED_IN = (2025, 10)
# The bootstrap admin that AUTHENTIK_BOOTSTRAP_PASSWORD and _TOKEN belong to.
ADMIN_USER = "akadmin"


def health_path(web_path: str, check: str) -> str:
    """Where the server answers a health check: below AUTHENTIK_WEB__PATH, as its Go
    router mounts them (internal/web/web.go) and the official chart probes
    (`{{ web.path }}-/health/live/`); `/auth/` gives `/auth/-/health/live/`."""
    return f"{web_path}-/health/{check}/"


def needs_redis(image: str) -> bool:
    """Authentik 2025.10 moved its cache and task queue into PostgreSQL."""
    match = re.search(r":(\d{4})\.(\d+)", image)
    return match is not None and (int(match[1]), int(match[2])) < REDIS_DROPPED_IN


def media_volume(args: AuthentikArgs) -> kube.DataVolume:
    """Media shared by server and worker: ReadWriteMany where the target has a class
    for it, else ReadWriteOnce."""
    return kube.DataVolume(
        "media",
        MEDIA_DIR,
        args.media_storage,
        args.shared_storage_class or args.storage_class,
        claim_name=f"{args.name}-media",
        access_mode="ReadWriteMany" if args.shared_storage_class else "ReadWriteOnce",
    )


@dataclass(frozen=True)
class AuthentikArgs:
    """Authentik, its database and, for releases before 2025.10, its cache."""

    name: str
    """The first part of every object's name (`<name>-server`, `<name>-secrets`)."""
    namespace: str
    """Where it runs."""
    image: str
    """The server image, pinned; server and worker both run it."""
    path: str
    """Where it is served on the gateway's host (`AUTHENTIK_WEB__PATH`), with both slashes."""
    base_url: str
    """The gateway's URL; the `url` output is `path` below it."""
    bootstrap_email: str
    """The bootstrap admin's email."""
    trusted_proxies: str
    """CIDRs whose forwarded headers it believes: the gateway's pods."""
    server_replicas: int
    """Server replicas (a PodDisruptionBudget from two)."""
    worker_replicas: int
    """Worker replicas."""
    server_resources: ResourceRequirementsArgs
    """The server container's requests and limits."""
    worker_resources: ResourceRequirementsArgs
    """The worker container's requests and limits."""
    media_storage: str
    """The size of the media volume server and worker share."""
    storage_class: str
    """The StorageClass of a ReadWriteOnce media volume."""
    shared_storage_class: str | None
    """A ReadWriteMany class for the media volume; None puts every pod on its node."""
    database: PostgresArgs
    """Its own PostgreSQL."""
    cache: RedisArgs | None
    """Its own Redis; None for releases from 2025.10 (`needs_redis`)."""
    rotation: int = 0
    """Raise it to generate a new secret key and admin credentials; default 0."""
    protect: bool = False
    """`pulumi destroy` refuses to delete the media volume; default false."""
    metrics: Scraping | None = None
    """Who scrapes the server's metrics port; default None (metrics off)."""


class AuthentikStack(pulumi.ComponentResource):
    """Creates Authentik's own PostgresStatefulSet, generated secret key and bootstrap
    admin password and token, a server Deployment (HTTP 9000, HTTPS 9443) and a worker
    Deployment, their Service, a media volume, PodDisruptionBudgets where a workload
    has two or more replicas, and NetworkPolicies in `network` (server and worker
    connect to their database; the gateway connects to the server through `route`).
    `cache` adds a RedisCache, which only Authentik releases older than 2025.10 need.
    With `metrics`, the server's metrics port (9300) is declared and admitted to the
    scraper only.

    Served under `path` with `AUTHENTIK_WEB__PATH`, so the gateway forwards the path
    unchanged. Without a ReadWriteMany media volume, server and worker run on the node
    that holds it.

    Outputs: `url`, `service_name`, `port`, `route` (for the gateway), `admin_user`,
    `admin_password` (secret), `admin_token` (secret).
    """

    def __init__(
        self, name: str, args: AuthentikArgs, network: kube.Network, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("platform:index:AuthentikStack", name, None, opts)
        ns = args.namespace
        server_labels = kube.labels(f"{args.name}-server", name, "identity")
        worker_labels = kube.labels(f"{args.name}-worker", name, "identity-worker")
        inside = pulumi.ResourceOptions(parent=self)
        database = PostgresStatefulSet(f"{name}-db", args.database, network, inside)
        cache = None if args.cache is None else RedisCache(f"{name}-redis", args.cache, network, inside)
        services: list[PostgresStatefulSet | RedisCache] = [database, *([cache] if cache else [])]
        made = generated_credentials(self, name, args.rotation)
        self.admin_password, self.admin_token = made.admin_password, made.admin_token
        # Not on the database's readiness: `ak server` and `ak worker` wait for it
        # themselves (docs/images.md), so both roll out at once, as with `kubectl apply`.
        environment = Environment.of(args, database, cache, made)
        depends = environment.create(self, name, args, server_labels)
        media = media_volume(args)
        depends.append(media.claim(f"{name}-media", ns, server_labels, self, protect=args.protect))
        pods = pods_by_role(name, args, media, server_labels, worker_labels, environment.checksum)
        policies: dict[str, kube.Traffic] = {}
        for role, (pod, replicas) in pods.items():
            pod.deployment(
                f"{name}-{role}",
                replicas=replicas,
                opts=kube.child(self, depends_on=depends),
            )
            pod.disruption_budget(f"{name}-{role}-pdb", replicas=replicas, opts=kube.child(self))
            traffic = pod.traffic(network, f"{name}-{role}-netpol", kube.child(self))
            for backing in (service.backing for service in services):
                kube.connect(traffic, backing.server, backing.port)
            policies[role] = traffic
        server = pods["server"][0]
        server.service(f"{name}-service", kube.child(self), listen={"http": HTTP_PORT, "https": HTTPS_PORT})
        if args.metrics is not None:
            m.expose(self, f"{name}-server", server, METRICS, args.metrics, network)
        self.service_name = server.name
        self.port = HTTP_PORT
        self.route = Route(args.path, ns, server.name, HTTP_PORT, policies["server"])
        self.url = pulumi.Output.from_input(args.base_url.rstrip("/") + args.path)
        self.admin_user = ADMIN_USER
        self.register_outputs(
            {
                "url": self.url,
                "service_name": self.service_name,
                "admin_password": self.admin_password,
                "admin_token": self.admin_token,
            }
        )


@dataclass(frozen=True)
class Generated:
    """The generated secret key and bootstrap admin credentials, all secret."""

    secret_key: pulumi.Output[str]
    admin_password: pulumi.Output[str]
    admin_token: pulumi.Output[str]


def generated_credentials(owner: pulumi.Resource, name: str, rotation: int) -> Generated:
    secret_key = kube.generated_password(f"{name}-secret-key", owner, rotation=rotation, length=60)
    admin_password = kube.generated_password(f"{name}-admin-password", owner, rotation=rotation)
    admin_token = kube.generated_password(f"{name}-admin-token", owner, rotation=rotation, length=48)
    return Generated(
        pulumi.Output.secret(secret_key.result),
        pulumi.Output.secret(admin_password.result),
        pulumi.Output.secret(admin_token.result),
    )


@dataclass(frozen=True)
class Environment:
    """What server and worker read their settings from: plain `config` in a
    ConfigMap, `secrets` in a Secret, and the checksum of both, which rolls the pods
    when either changes."""

    config: dict[str, pulumi.Input[str]]
    secrets: dict[str, pulumi.Input[str]]

    @staticmethod
    def of(
        args: AuthentikArgs, database: PostgresStatefulSet, cache: RedisCache | None, made: Generated
    ) -> Environment:
        config: dict[str, pulumi.Input[str]] = {
            "AUTHENTIK_POSTGRESQL__HOST": database.host,
            "AUTHENTIK_POSTGRESQL__NAME": args.database.database,
            "AUTHENTIK_POSTGRESQL__USER": args.database.user,
            "AUTHENTIK_WEB__PATH": args.path,
            "AUTHENTIK_BOOTSTRAP_EMAIL": args.bootstrap_email,
            "AUTHENTIK_ERROR_REPORTING__ENABLED": "false",
            "AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS": args.trusted_proxies,
        }
        secrets: dict[str, pulumi.Input[str]] = {
            "AUTHENTIK_SECRET_KEY": made.secret_key,
            "AUTHENTIK_POSTGRESQL__PASSWORD": database.password,
            "AUTHENTIK_BOOTSTRAP_PASSWORD": made.admin_password,
            "AUTHENTIK_BOOTSTRAP_TOKEN": made.admin_token,
        }
        if cache is not None:
            config["AUTHENTIK_REDIS__HOST"] = cache.host
            secrets["AUTHENTIK_REDIS__PASSWORD"] = cache.password
        return Environment(config, secrets)

    @property
    def checksum(self) -> pulumi.Output[str]:
        return kube.content_checksum(self.config, self.secrets)

    def create(
        self, owner: pulumi.Resource, name: str, args: AuthentikArgs, own: dict[str, str]
    ) -> list[pulumi.Resource]:
        """The Secret and the ConfigMap, children of `owner`."""
        secret = Secret(
            f"{name}-secrets",
            metadata=kube.metadata(f"{args.name}-secrets", args.namespace, own),
            type="Opaque",
            string_data=self.secrets,
            opts=kube.child(owner),
        )
        config_map = ConfigMap(
            f"{name}-config",
            metadata=kube.metadata(f"{args.name}-config", args.namespace, own),
            data=self.config,
            opts=kube.child(owner),
        )
        return [secret, config_map]


def pods_by_role(
    name: str,
    args: AuthentikArgs,
    media: kube.DataVolume,
    server_labels: dict[str, str],
    worker_labels: dict[str, str],
    checksum: pulumi.Output[str],
) -> dict[str, tuple[kube.Pod, int]]:
    """Server and worker, by role, with their replica counts. Both read the same
    config and Secret (`checksum` of their data) and share the media volume."""
    env_from = [
        EnvFromSourceArgs(config_map_ref=ConfigMapEnvSourceArgs(name=f"{args.name}-config")),
        EnvFromSourceArgs(secret_ref=SecretEnvSourceArgs(name=f"{args.name}-secrets")),
    ]
    live, ready = health_path(args.path, "live"), health_path(args.path, "ready")
    healthcheck = ["ak", "healthcheck"]
    checks, startup = (
        kube.Timing(initial_delay=5, period=10, failures=3),
        kube.Timing(initial_delay=5, period=10, failures=60),
    )

    def role_container(
        role: str, resources: ResourceRequirementsArgs, probes: tuple[ProbeArgs, ...], ports: Mapping[str, int]
    ) -> kube.Container:
        """One role's container (`ak <role>`): `probes` are its liveness, readiness and startup."""
        alive, serving, started = probes
        return kube.Container(
            name=role,
            image=args.image,
            resources=resources,
            args=[role],
            ports=ports,
            env_from=env_from,
            liveness=alive,
            readiness=serving,
            startup=started,
            volumes=[media.volume],
            shared_memory=kube.quarter_of_memory(resources),
        )

    server = role_container(
        "server",
        args.server_resources,
        # live answers while the process runs; ready also needs the database.
        (kube.http_probe(live, checks), kube.http_probe(ready, checks), kube.http_probe(live, startup)),
        # The server always listens on its metrics port; only `metrics` admits anyone to it.
        {"http": HTTP_PORT, "https": HTTPS_PORT, METRICS.name: METRICS.port},
    )
    # The worker's only check: `ak healthcheck` asks the worker's own live
    # endpoint, which depends on nothing else (docs/images.md).
    probe = kube.exec_probe(healthcheck, checks)
    worker = role_container("worker", args.worker_resources, (probe, probe, kube.exec_probe(healthcheck, startup)), {})
    # Without a ReadWriteMany class, every pod of the stack runs where the media volume is.
    beside = None if args.shared_storage_class else {"app.kubernetes.io/instance": name}
    pods = {}
    for role, container, own, replicas, scrape in (
        ("server", server, server_labels, args.server_replicas, m.pod_annotations(METRICS, args.metrics)),
        ("worker", worker, worker_labels, args.worker_replicas, None),
    ):
        affinity = kube.spread(own, beside=beside)
        pod = kube.Pod(
            f"{args.name}-{role}",
            args.namespace,
            own,
            [container],
            AUTHENTIK_UID,
            affinity=affinity,
            checksum=checksum,
            annotations=scrape,
        )
        pods[role] = (pod, replicas)
    return pods
