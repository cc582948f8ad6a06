"""From the validated stack settings to each component's Args: the one place that
knows both the stack file's shape and the components' inputs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

import pulumi
from pulumi_kubernetes.apps.v1 import StatefulSet
from pulumi_kubernetes.core.v1 import PersistentVolumeClaim, ResourceRequirementsArgs
from pydantic import BaseModel

from components.app_tier import AppArgs, AppTier, Autoscaling
from components.authentik_stack import AuthentikArgs, AuthentikStack, needs_redis
from components.contracts import Backing, Exporter, Scraping
from components.ingress_gateway import GatewayArgs, IngressGateway, Tls
from components.kube import Peer
from components.namespace_layout import NamespaceArgs, NamespaceLayout
from components.postgres_stateful_set import BackupArgs, BackupStore, PostgresArgs, PostgresStatefulSet
from components.redis_cache import RedisArgs, RedisCache
from components.settings import (
    AppSettings,
    AuthentikSettings,
    BackupSettings,
    GatewaySettings,
    MetricsSettings,
    NamespaceSettings,
    PostgresSettings,
    RedisSettings,
    Resources,
    Settings,
)

# Ephemeral storage of every container (its writable layer, its logs and its
# disk-backed emptyDirs): a request the scheduler can place, a limit the kubelet
# evicts on, so one runaway pod cannot fill a node's disk.
EPHEMERAL_REQUEST = "64Mi"
EPHEMERAL_LIMIT = "1Gi"


def resources(amounts: Resources) -> ResourceRequirementsArgs:
    return ResourceRequirementsArgs(
        requests={
            "cpu": amounts.requests.cpu,
            "memory": amounts.requests.memory,
            "ephemeral-storage": amounts.requests.ephemeral_storage or EPHEMERAL_REQUEST,
        },
        limits={
            "cpu": amounts.limits.cpu,
            "memory": amounts.limits.memory,
            "ephemeral-storage": amounts.limits.ephemeral_storage or EPHEMERAL_LIMIT,
        },
    )


def scraping(settings: Settings, pod_monitors_available: bool) -> Scraping | None:
    """Who scrapes the platform's metrics, or None where metrics are off. PodMonitors
    as `platform:metrics.monitors` says, else where the cluster has the kind."""
    if not settings.metrics_enabled:
        return None
    metrics: MetricsSettings = settings.metrics
    return Scraping(
        scraper=Peer(metrics.scraper_namespace, metrics.scraper_pod_labels),
        monitors=pod_monitors_available if metrics.monitors is None else metrics.monitors,
        postgres_exporter=Exporter(metrics.postgres_exporter.image, resources(metrics.postgres_exporter.resources)),
        redis_exporter=Exporter(metrics.redis_exporter.image, resources(metrics.redis_exporter.resources)),
        interval=metrics.interval,
        monitor_labels=metrics.monitor_labels,
    )


class _DataService(TypedDict):
    metrics: Scraping | None
    name: str
    namespace: str
    image: str
    resources: ResourceRequirementsArgs
    storage: str
    storage_class: str
    rotation: int
    protect: bool


def _data_service(
    section: PostgresSettings | RedisSettings, settings: Settings, metrics: Scraping | None
) -> _DataService:
    return {
        "metrics": metrics,
        "name": section.name,
        "namespace": section.namespace,
        "image": section.image,
        "resources": resources(section.resources),
        "storage": section.storage,
        "storage_class": settings.profile.storage_class,
        "rotation": section.rotation,
        "protect": settings.data_protected,
    }


def redis_args(redis: RedisSettings, settings: Settings, metrics: Scraping | None = None) -> RedisArgs:
    return RedisArgs(**_data_service(redis, settings, metrics), persistence=redis.persistence)


def backup_args(backup: BackupSettings | None, server_image: str, settings: Settings) -> BackupArgs | None:
    """A database's backup, to the stack's object store when it names one; the dump
    runs in the server's image unless the backup names its own."""
    if backup is None:
        return None
    store = settings.backup_store
    return BackupArgs(
        schedule=backup.schedule,
        storage=backup.storage,
        image=backup.image or server_image,
        keep_last=backup.keep_last,
        keep_days=backup.keep_days,
        store=None
        if store is None
        else BackupStore(
            endpoint=store.endpoint,
            bucket=store.bucket,
            prefix=store.prefix,
            region=store.region,
            image=store.image,
            access_key_id=pulumi.Output.secret(settings.secrets[store.access_key_id_secret]),
            secret_access_key=pulumi.Output.secret(settings.secrets[store.secret_access_key_secret]),
        ),
    )


def postgres_args(postgres: PostgresSettings, settings: Settings, metrics: Scraping | None = None) -> PostgresArgs:
    return PostgresArgs(
        **_data_service(postgres, settings, metrics),
        database=postgres.database,
        user=postgres.user,
        extensions=postgres.extensions,
        init_sql=postgres.init_sql,
        backup=backup_args(postgres.backup, postgres.image, settings),
    )


def authentik_args(
    auth: AuthentikSettings, settings: Settings, base_url: str, metrics: Scraping | None = None
) -> AuthentikArgs:
    profile = settings.profile
    database = PostgresArgs(
        name=f"{auth.name}-postgres",
        namespace=auth.namespace,
        image=auth.database.image,
        resources=resources(auth.database.resources),
        storage=auth.database.storage,
        storage_class=profile.storage_class,
        database="authentik",
        user="authentik",
        rotation=auth.rotation,
        protect=settings.data_protected,
        metrics=metrics,
        backup=backup_args(auth.database.backup, auth.database.image, settings),
    )
    cache = None
    if needs_redis(auth.image):
        cache = RedisArgs(
            name=f"{auth.name}-redis",
            namespace=auth.namespace,
            image=_default(RedisSettings, "image"),
            resources=resources(_default(RedisSettings, "resources")),
            storage="1Gi",
            storage_class=profile.storage_class,
            persistence="rdb",
            rotation=auth.rotation,
            protect=settings.data_protected,
            metrics=metrics,
        )
    return AuthentikArgs(
        name=auth.name,
        namespace=auth.namespace,
        image=auth.image,
        path=auth.path,
        base_url=base_url,
        bootstrap_email=auth.bootstrap_email,
        trusted_proxies=auth.trusted_proxies or profile.pod_cidr,
        server_replicas=auth.server_replicas,
        worker_replicas=auth.worker_replicas,
        server_resources=resources(auth.server_resources),
        worker_resources=resources(auth.worker_resources),
        media_storage=auth.media_storage,
        storage_class=profile.storage_class,
        shared_storage_class=profile.shared_storage_class,
        database=database,
        cache=cache,
        rotation=auth.rotation,
        protect=settings.data_protected,
        metrics=metrics,
    )


def _default(model: type[BaseModel], field: str) -> Any:
    """A settings field's default, for a component the stack file does not configure
    itself (Authentik's own cache)."""
    return model.model_fields[field].default


def gateway_args(settings: Settings, metrics: Scraping | None = None) -> GatewayArgs:
    gateway, profile = settings.gateway, settings.profile
    tls = None
    if gateway.tls is not None:
        issuer = gateway.tls.cluster_issuer
        if issuer is not None:
            tls = Tls(f"{gateway.name}-tls", {"cert-manager.io/cluster-issuer": issuer}, profile.published_https_port)
        else:
            tls = Tls(gateway.tls.secret_name or "", {}, profile.published_https_port)
    node_ports = profile.gateway_node_ports
    return GatewayArgs(
        name=gateway.name,
        namespace=gateway.namespace,
        install=gateway.install,
        class_name=gateway.class_name,
        image=gateway.image,
        replicas=gateway.replicas,
        host=gateway.host,
        url=gateway_url(gateway, settings),
        resources=resources(gateway.resources),
        service_type=profile.gateway_service_type,
        node_ports=None if node_ports is None else dict(zip(("web", "websecure"), node_ports, strict=True)),
        tls=tls,
        metrics=metrics,
    )


def gateway_url(gateway: GatewaySettings, settings: Settings) -> str:
    profile = settings.profile
    scheme = "https" if gateway.tls else "http"
    port = profile.published_https_port if gateway.tls else profile.published_http_port
    default = 443 if gateway.tls else 80
    return f"{scheme}://{gateway.host}" + ("" if port == default else f":{port}") + "/"


def app_args(settings: Settings, backings: Mapping[str, Backing]) -> list[AppArgs]:
    """Every app, with the backings it uses."""
    return [_app(app, settings, [backings[dependency] for dependency in app.uses]) for app in settings.apps]


def _app(app: AppSettings, settings: Settings, uses: Sequence[Backing]) -> AppArgs:
    scaling = app.autoscaling
    return AppArgs(
        name=app.name,
        namespace=app.namespace,
        component=app.component,
        image=app.image,
        port=app.port,
        replicas=app.replicas,
        run_as_user=app.run_as_user,
        resources=resources(app.resources),
        pull_policy=app.image_pull_policy,
        path=app.path,
        autoscaling=None
        if scaling is None
        else Autoscaling(scaling.min_replicas, scaling.max_replicas, scaling.cpu_utilization),
        probe_path=app.probe.path,
        probe_delay=app.probe.initial_delay_seconds,
        env=app.env,
        secret_env={name: pulumi.Output.secret(settings.secrets[key]) for name, key in app.secret_env.items()},
        uses=uses,
        calls=app.calls,
        session_affinity=app.session_affinity,
        allow_internet=app.allow_internet,
    )


@dataclass(frozen=True)
class NameSource:
    """A config value that names Kubernetes objects: `key` as the user writes it,
    its `value`, and the component given it. An object of that component whose name
    contains the value was named from the key; `namespace` (None: any) narrows it to
    the objects in that namespace, for components given several (one per app)."""

    key: str
    value: str
    component: type[pulumi.ComponentResource]
    namespace: str | None = None


def name_sources(settings: Settings) -> list[NameSource]:
    """Every config value that a component names its objects after, with its key."""
    sources = [
        NameSource(f"namespaces[{i}].name", namespace.name, NamespaceLayout, namespace.name)
        for i, namespace in enumerate(settings.namespaces)
    ]
    for key, section, component in (
        ("postgres", settings.postgres, PostgresStatefulSet),
        ("redis", settings.redis, RedisCache),
        ("authentik", settings.authentik, AuthentikStack),
    ):
        if section is not None:
            sources.append(NameSource(f"{key}.name", section.name, component, section.namespace))
    sources += [NameSource(f"apps[{i}].name", app.name, AppTier, app.namespace) for i, app in enumerate(settings.apps)]
    gateway = settings.gateway
    sources += [
        NameSource("gateway.name", gateway.name, IngressGateway),
        NameSource("gateway.className", gateway.class_name, IngressGateway),
    ]
    return sources


@dataclass(frozen=True)
class StorageSource:
    """A config value that sizes a data volume: `key` as the user writes it, its
    `value`, the component given it, and the kind of object that carries the size
    (StatefulSet: a claim template; PersistentVolumeClaim: a claim of its own). An
    object of that kind and component that asks for that size was sized from the key."""

    key: str
    value: str
    component: type[pulumi.ComponentResource]
    kind: type[pulumi.CustomResource]


def storage_sources(settings: Settings) -> list[StorageSource]:
    """Every config value that a component sizes a volume with, with its key."""
    template, claim = StatefulSet, PersistentVolumeClaim
    sources: list[StorageSource] = []
    if settings.postgres is not None:
        postgres = settings.postgres
        sources.append(StorageSource("postgres.storage", postgres.storage, PostgresStatefulSet, template))
        if postgres.backup is not None:
            backup = postgres.backup.storage
            sources.append(StorageSource("postgres.backup.storage", backup, PostgresStatefulSet, claim))
    if settings.redis is not None:
        sources.append(StorageSource("redis.storage", settings.redis.storage, RedisCache, claim))
    if settings.authentik is not None:
        auth = settings.authentik
        sources += [
            StorageSource("authentik.database.storage", auth.database.storage, AuthentikStack, template),
            StorageSource("authentik.mediaStorage", auth.media_storage, AuthentikStack, claim),
        ]
        if auth.database.backup is not None:
            database_backup = auth.database.backup.storage
            sources.append(StorageSource("authentik.database.backup.storage", database_backup, AuthentikStack, claim))
    return sources


def namespace_args(namespace: NamespaceSettings) -> NamespaceArgs:
    quota = namespace.quota
    return NamespaceArgs(
        name=namespace.name,
        description=namespace.description,
        placeholder=namespace.placeholder,
        guide=namespace.guide,
        labels=namespace.labels,
        pod_security=namespace.pod_security,
        quota=None
        if quota is None
        else {
            "requests.cpu": quota.requests_cpu,
            "requests.memory": quota.requests_memory,
            "limits.cpu": quota.limits_cpu,
            "limits.memory": quota.limits_memory,
            "persistentvolumeclaims": str(quota.persistent_volume_claims),
            "services.nodeports": str(quota.node_ports),
        },
    )
