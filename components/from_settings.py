"""From the validated stack settings to each component's Args: the one place that
knows both the stack file's shape and the components' inputs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, TypeVar

import pulumi
from pulumi_kubernetes.apps.v1 import StatefulSet
from pulumi_kubernetes.core.v1 import PersistentVolumeClaim, ResourceRequirementsArgs
from pydantic import BaseModel

from components.app_tier import AppArgs, AppTier, Autoscaling
from components.authentik_stack import AuthentikArgs, AuthentikStack, needs_redis
from components.backup import BackupArgs, BackupStore
from components.config.models import (
    AppSettings,
    AuthentikSettings,
    BackupSettings,
    GatewaySettings,
    NamespaceSettings,
    PostgresSettings,
    RedisSettings,
    Resources,
    Settings,
)
from components.contracts import Backing, DataServiceArgs, Exporter, Scraping
from components.ingress_gateway import GatewayArgs, IngressGateway, Tls
from components.kube import Peer
from components.namespace_layout import NamespaceArgs, NamespaceLayout
from components.postgres_stateful_set import PostgresArgs, PostgresStatefulSet
from components.redis_cache import RedisArgs, RedisCache

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

ArgsT = TypeVar("ArgsT", bound="DataclassInstance")
DataServiceT = TypeVar("DataServiceT", bound=DataServiceArgs)

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


def args_from(cls: type[ArgsT], section: BaseModel, **overrides: Any) -> ArgsT:
    """`cls` made from the fields of `section` that it has by name, and `overrides`
    for the rest (a field the section does not have, or has in another shape).
    Resources become the containers' requirements; any other nested model must be
    given in `overrides`, so a section's shape never slips into a component's Args.
    A field added to both is carried over with no other edit."""
    model = type(section).model_fields
    shared: dict[str, Any] = {}
    for field in fields(cls):
        if field.name in overrides or field.name not in model:
            continue
        value = getattr(section, field.name)
        if isinstance(value, Resources):
            value = resources(value)
        elif isinstance(value, BaseModel):
            raise TypeError(
                f"{cls.__name__}.{field.name}: the section holds a model ({type(value).__name__}); give it in overrides"
            )
        shared[field.name] = value
    return cls(**shared, **overrides)


def scraping(settings: Settings, pod_monitors_available: bool) -> Scraping | None:
    """Who scrapes the platform's metrics, or None where metrics are off. PodMonitors
    as `platform:metrics.monitors` says, else where the cluster has the kind."""
    if not settings.metrics_enabled:
        return None
    metrics = settings.metrics
    return args_from(
        Scraping,
        metrics,
        scraper=Peer(metrics.scraper_namespace, metrics.scraper_pod_labels),
        monitors=pod_monitors_available if metrics.monitors is None else metrics.monitors,
        postgres_exporter=args_from(Exporter, metrics.postgres_exporter),
        redis_exporter=args_from(Exporter, metrics.redis_exporter),
    )


def data_service(
    cls: type[DataServiceT], section: BaseModel, settings: Settings, metrics: Scraping | None, **overrides: Any
) -> DataServiceT:
    """A data service's Args from its section, on the target's storage class and kept
    as the stack protects its data."""
    return args_from(
        cls,
        section,
        storage_class=settings.profile.storage_class,
        protect=settings.data_protected,
        metrics=metrics,
        **overrides,
    )


def redis_args(redis: RedisSettings, settings: Settings, metrics: Scraping | None = None) -> RedisArgs:
    return data_service(RedisArgs, redis, settings, metrics)


def backup_args(backup: BackupSettings | None, server_image: str, settings: Settings) -> BackupArgs | None:
    """A database's backup, to the stack's object store when it names one; the dump
    runs in the server's image unless the backup names its own."""
    if backup is None:
        return None
    store = settings.backup_store
    return args_from(
        BackupArgs,
        backup,
        image=backup.image or server_image,
        store=None
        if store is None
        else args_from(
            BackupStore,
            store,
            access_key_id=pulumi.Output.secret(settings.secrets[store.access_key_id_secret]),
            secret_access_key=pulumi.Output.secret(settings.secrets[store.secret_access_key_secret]),
        ),
    )


def postgres_args(postgres: PostgresSettings, settings: Settings, metrics: Scraping | None = None) -> PostgresArgs:
    return data_service(
        PostgresArgs, postgres, settings, metrics, backup=backup_args(postgres.backup, postgres.image, settings)
    )


def authentik_args(
    auth: AuthentikSettings, settings: Settings, base_url: str, metrics: Scraping | None = None
) -> AuthentikArgs:
    profile = settings.profile
    database = data_service(
        PostgresArgs,
        auth.database,
        settings,
        metrics,
        name=f"{auth.name}-postgres",
        namespace=auth.namespace,
        database="authentik",
        user="authentik",
        rotation=auth.rotation,
        backup=backup_args(auth.database.backup, auth.database.image, settings),
    )
    # Authentik's own cache is not in the stack file: the Redis section's defaults,
    # unvalidated, since the name derived from Authentik's is checked with every
    # other object name.
    cache_section = RedisSettings.model_construct(
        name=f"{auth.name}-redis", namespace=auth.namespace, storage="1Gi", persistence="rdb", rotation=auth.rotation
    )
    return args_from(
        AuthentikArgs,
        auth,
        base_url=base_url,
        trusted_proxies=auth.trusted_proxies or profile.pod_cidr,
        storage_class=profile.storage_class,
        shared_storage_class=profile.shared_storage_class,
        database=database,
        cache=data_service(RedisArgs, cache_section, settings, metrics) if needs_redis(auth.image) else None,
        protect=settings.data_protected,
        metrics=metrics,
    )


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
    return args_from(
        GatewayArgs,
        gateway,
        url=gateway_url(gateway, settings),
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
    return args_from(
        AppArgs,
        app,
        pull_policy=app.image_pull_policy,
        autoscaling=None if app.autoscaling is None else args_from(Autoscaling, app.autoscaling),
        probe_path=app.probe.path,
        probe_delay=app.probe.initial_delay_seconds,
        secret_env={name: pulumi.Output.secret(settings.secrets[key]) for name, key in app.secret_env.items()},
        uses=uses,
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
    return args_from(
        NamespaceArgs,
        namespace,
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
