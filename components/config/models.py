"""The models of the stack config: one a section of the stack file, camelCase keys
as the user writes them, no unknown keys, each field with its default. `Settings`
is the whole of it; the checks that need the whole config are made when it is
loaded (`components.config.loading`).
"""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from components.config.quantity import amount
from components.config.targets import TARGETS, TargetProfile
from components.config.types import (
    INT32_MAX,
    AbsolutePath,
    Duration,
    EnvVars,
    Extension,
    Host,
    Identifier,
    Image,
    Labels,
    Name,
    PodSecurityLevel,
    Quantity,
    Replicas,
    RoutePath,
    Schedule,
    ServiceName,
    StorageSize,
    WebPath,
    held_to,
)

# Labels NamespaceLayout sets on every namespace; a namespace's own labels may not replace them.
PLATFORM_NAMESPACE_LABELS = ("environment", "status", "app.kubernetes.io/part-of", "app.kubernetes.io/managed-by")


class Model(BaseModel):
    """Base of every settings model: camelCase keys as in the stack file, no unknown keys."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)


class ResourceAmounts(Model):
    cpu: Quantity
    memory: Quantity
    ephemeral_storage: Quantity | None = Field(
        default=None, validation_alias="ephemeral-storage", serialization_alias="ephemeral-storage"
    )


class Resources(Model):
    requests: ResourceAmounts
    limits: ResourceAmounts

    @model_validator(mode="after")
    def _requests_within_limits(self) -> Resources:
        for resource in ("cpu", "memory"):
            request, limit = getattr(self.requests, resource), getattr(self.limits, resource)
            if amount(request) > amount(limit):
                raise ValueError(
                    f"requests.{resource} ({request}) is above limits.{resource} ({limit}), which Kubernetes "
                    f"refuses; lower requests.{resource} or raise limits.{resource} to at least {request}"
                )
        return self


def resources(
    cpu: str, memory: str, cpu_limit: str, memory_limit: str, ephemeral_storage: str | None = None
) -> Resources:
    return Resources(
        requests=ResourceAmounts(cpu=cpu, memory=memory, ephemeral_storage=ephemeral_storage),
        limits=ResourceAmounts(cpu=cpu_limit, memory=memory_limit, ephemeral_storage=ephemeral_storage),
    )


class Quota(Model):
    requests_cpu: Quantity = "4"
    requests_memory: Quantity = "8Gi"
    limits_cpu: Quantity = "8"
    limits_memory: Quantity = "16Gi"
    persistent_volume_claims: int = Field(default=5, ge=0, le=INT32_MAX)
    node_ports: int = Field(default=2, ge=0, le=INT32_MAX)


class NamespaceSettings(Model):
    name: Name
    description: str = ""
    placeholder: bool = False
    guide: str | None = None
    labels: Labels = Field(default_factory=dict)
    pod_security: PodSecurityLevel = "restricted"
    quota: Quota | None = None

    @field_validator("labels")
    @classmethod
    def _own_labels(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if key in PLATFORM_NAMESPACE_LABELS or key.startswith("pod-security.kubernetes.io/"):
                raise ValueError(
                    f"label '{key}' is set by the platform; remove it (set podSecurity, placeholder or "
                    "platform:environment instead)"
                )
        return value


class BackupSettings(Model):
    schedule: Schedule = "0 3 * * *"
    storage: StorageSize = "5Gi"
    image: Image | None = None
    keep_last: int = Field(default=7, ge=1)
    keep_days: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one_retention(self) -> BackupSettings:
        if self.keep_days is not None and "keep_last" in self.model_fields_set:
            raise ValueError("set one of keepLast (keep the newest N dumps) or keepDays (keep N days), not both")
        return self


class BackupStoreSettings(Model):
    """S3-compatible object storage that the backup jobs upload their dumps to."""

    endpoint: str
    bucket: str
    prefix: str = ""
    region: str = "us-east-1"
    access_key_id_secret: str = "backupAccessKeyId"
    secret_access_key_secret: str = "backupSecretAccessKey"
    image: Image = "amazon/aws-cli:2.17.0"

    @field_validator("endpoint")
    @classmethod
    def _url(cls, value: str) -> str:
        url = f"'{value}' is not an endpoint URL; use http(s)://host[:port], such as https://s3.amazonaws.com"
        return held_to(r"^https?://[^/\s]+/?$", value, url).rstrip("/")

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, value: str) -> str:
        bucket = f"'{value}' is not an S3 bucket name; use 3-63 lower-case letters, digits, '.' and '-'"
        return held_to(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", value, bucket)

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if value.startswith("/") or " " in value:
            raise ValueError(f"'{value}' is not a key prefix; drop the leading '/' and spaces, e.g. staging/")
        return value if not value or value.endswith("/") else value + "/"


class PostgresSettings(Model):
    name: ServiceName = "postgres"
    namespace: Name
    image: Image = "pgvector/pgvector:pg15"
    storage: StorageSize = "10Gi"
    database: Identifier = "app"
    user: Identifier = "app"
    extensions: list[Extension] = Field(default_factory=list)
    init_sql: str = ""
    resources: Resources = resources("250m", "256Mi", "500m", "512Mi")
    backup: BackupSettings | None = None
    rotation: int = Field(default=0, ge=0)


class RedisSettings(Model):
    name: ServiceName = "redis"
    namespace: Name
    image: Image = "redis:7-alpine"
    storage: StorageSize = "2Gi"
    persistence: Literal["aof", "rdb", "none"] = "aof"
    resources: Resources = resources("100m", "128Mi", "250m", "256Mi")
    rotation: int = Field(default=0, ge=0)


class AuthentikDatabase(Model):
    image: Image = "postgres:15-alpine"
    storage: StorageSize = "5Gi"
    resources: Resources = resources("250m", "256Mi", "500m", "512Mi")
    backup: BackupSettings | None = None


class AuthentikSettings(Model):
    name: ServiceName = "authentik"
    namespace: Name
    image: Image = "ghcr.io/goauthentik/server:2026.8.6"
    server_replicas: Replicas = 2
    worker_replicas: Replicas = 1
    path: WebPath = "/auth/"
    bootstrap_email: str = "admin@localhost"
    media_storage: StorageSize = "2Gi"
    server_resources: Resources = resources("250m", "256Mi", "500m", "512Mi")
    worker_resources: Resources = resources("100m", "128Mi", "250m", "256Mi")
    database: AuthentikDatabase = AuthentikDatabase()
    trusted_proxies: str | None = None
    rotation: int = Field(default=0, ge=0)

    @field_validator("trusted_proxies")
    @classmethod
    def _cidrs(cls, value: str | None) -> str | None:
        for cidr in (value or "").split(","):
            try:
                ipaddress.ip_network(cidr.strip())
            except ValueError:
                raise ValueError(
                    f"'{cidr.strip()}' is not a network; write CIDRs separated by commas, for example '10.244.0.0/16'"
                ) from None
        return value


class Autoscaling(Model):
    min_replicas: Replicas = 2
    max_replicas: Replicas = 5
    cpu_utilization: int = Field(default=70, ge=1, le=100)

    @model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        if self.max_replicas < self.min_replicas:
            raise ValueError(
                f"maxReplicas ({self.max_replicas}) is below minReplicas ({self.min_replicas}); raise maxReplicas"
            )
        return self


class Probe(Model):
    path: AbsolutePath = "/health"
    initial_delay_seconds: int = Field(default=10, ge=0, le=INT32_MAX - 20)


class AppSettings(Model):
    name: ServiceName
    namespace: Name
    component: Literal["backend", "frontend"] = "backend"
    image: Image | None = None
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "Always"
    port: int = Field(default=8080, ge=1024, le=65535)
    path: RoutePath | None = None
    replicas: Replicas = 2
    autoscaling: Autoscaling | None = None
    run_as_user: int = Field(default=10001, ge=1, le=INT32_MAX)
    resources: Resources = resources("100m", "128Mi", "250m", "256Mi")
    probe: Probe = Probe()
    env: EnvVars = Field(default_factory=dict)
    secret_env: EnvVars = Field(default_factory=dict)
    uses: list[Literal["postgres", "redis"]] = Field(default_factory=list)
    calls: list[Name] = Field(default_factory=list)
    session_affinity: bool = False
    allow_internet: bool = False
    description: str = ""


class Tls(Model):
    secret_name: Name | None = None
    cluster_issuer: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Tls:
        if (self.secret_name is None) == (self.cluster_issuer is None):
            raise ValueError(
                "set exactly one of secretName (an existing TLS Secret) or clusterIssuer (a cert-manager ClusterIssuer)"
            )
        return self


class GatewaySettings(Model):
    name: ServiceName = "gateway"
    namespace: Name
    install: bool = True
    class_name: Name = "traefik"
    image: Image = "traefik:v3.7.6"
    replicas: Replicas = 1
    host: Host = "localhost"
    tls: Tls | None = None
    resources: Resources = resources("100m", "128Mi", "500m", "256Mi")


class Exporter(Model):
    image: Image
    resources: Resources


class MetricsSettings(Model):
    """Prometheus metrics: Traefik's and Authentik's own endpoints, and exporters beside
    PostgreSQL and Redis, each admitted to `scraperNamespace` only."""

    enabled: bool | None = None
    scraper_namespace: Name = "monitoring"
    scraper_pod_labels: Labels = Field(default_factory=dict)
    monitors: bool | None = None
    monitor_labels: Labels = Field(default_factory=dict)
    interval: str = "30s"
    # An exporter idles between scrapes: it requests little CPU, so a rolling update of
    # Authentik's server still fits the local stack's node of 2 CPUs with metrics on
    # (docs/operations.md, "Metrics").
    postgres_exporter: Exporter = Exporter(
        image="prometheuscommunity/postgres-exporter:v0.20.1",
        resources=resources("10m", "32Mi", "200m", "64Mi"),
    )
    redis_exporter: Exporter = Exporter(
        image="oliver006/redis_exporter:v1.88.0",
        resources=resources("10m", "32Mi", "200m", "64Mi"),
    )

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: str) -> str:
        duration = f"'{value}' is not a Prometheus duration; use a number with a unit, such as 30s or 1m"
        return held_to(r"^([0-9]+(ms|s|m|h))+$", value, duration)


class Settings(Model):
    """The validated stack configuration (all keys under `platform:`)."""

    target: Literal["kind", "minikube", "gke", "eks", "aks"]
    environment: Name = "staging"
    protect_data: bool | None = None
    namespaces: list[NamespaceSettings]
    postgres: PostgresSettings | None = None
    redis: RedisSettings | None = None
    authentik: AuthentikSettings | None = None
    apps: list[AppSettings] = Field(default_factory=list)
    gateway: GatewaySettings
    metrics: MetricsSettings = MetricsSettings()
    backup_store: BackupStoreSettings | None = None
    # Look each object up before registering it and refuse one this stack did not
    # create (components/cluster.py); false turns the lookups off, with a warning.
    ownership_check: bool = True
    # How long `up` waits for each Deployment and StatefulSet to roll out before it
    # fails with what the pods report; unset: the Kubernetes provider's own 10m.
    rollout_timeout: Duration | None = None
    secrets: dict[str, str] = Field(default_factory=dict, exclude=True, repr=False)

    @property
    def profile(self) -> TargetProfile:
        return TARGETS[self.target]

    @property
    def data_protected(self) -> bool:
        return self.profile.protect_data if self.protect_data is None else self.protect_data

    @property
    def metrics_enabled(self) -> bool:
        return self.profile.metrics if self.metrics.enabled is None else self.metrics.enabled
