"""The whole stack configuration, read once and validated before anything is created.

Every key lives under the `platform:` namespace of the stack file. `load_settings`
turns the raw config into a `Settings` model or raises `ConfigError`, whose message
names each offending key (as the user writes it, e.g. `platform:postgres.storage`)
and how to fix it.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Annotated, Any, Literal

import pulumi
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from components.contracts import route_path
from components.quantity import amount, is_quantity
from components.targets import TARGETS, TargetProfile

CONFIG_NAMESPACE = "platform"
INVALID = "invalid stack configuration, nothing was changed:"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_EXTENSION = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# The distribution reference grammar: lower-case path components, an optional
# registry host (a first component with a '.' or a port, or localhost), a tag of
# word characters, or a digest.
_IMAGE = re.compile(
    r"^(?:(?:localhost|[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)+)(?::[0-9]+)?/|[a-zA-Z0-9-]+:[0-9]+/)?"
    r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
)
# Ingress paths of type Prefix: absolute, URL path characters, none of the
# sequences the API server refuses ('//', '/./', '/../', '%2f').
_URL_PATH = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$")
_REFUSED_PATH_PARTS = ("//", "/./", "/../", "%2f", "%2F")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_CRON_MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_CRON_FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")),
    ("day of week", 0, 6, ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")),
)
INT32_MAX = 2**31 - 1
# Labels NamespaceLayout sets on every namespace; a namespace's own labels may not replace them.
PLATFORM_NAMESPACE_LABELS = ("environment", "status", "app.kubernetes.io/part-of", "app.kubernetes.io/managed-by")


# The stack's name in a hint, until parse_settings is told which stack it reads.
_STACK = "<stack>"


def _set_secret(key: str, stack: str = _STACK) -> str:
    """The commands that set a secret; both prompt for the value, which a command line
    would leave in the shell's history."""
    return (
        f"`make secret STACK={stack} KEY={key}` or `pulumi config set --secret --stack {stack} platform:{key}` "
        "(both prompt for the value)"
    )


class ConfigError(pulumi.RunError):
    """Stack configuration that cannot be deployed; raised before any resource exists."""


def invalid(problems: Sequence[str]) -> ConfigError:
    """The error for `problems`, each a line `<key>: <what is wrong>; <the fix>`."""
    return ConfigError(INVALID + "".join(f"\n  platform:{problem}" for problem in problems))


def _number_as_text(value: Any) -> Any:
    # Kubernetes reads `cpu: 1` and `cpu: 0.5` as quantities, so the stack file may too.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return format(Decimal(str(value)), "f")
    return value


def _quantity(value: str) -> str:
    if not is_quantity(value):
        raise ValueError(
            f"'{value}' is not a Kubernetes quantity; use a number with a suffix such as "
            "10Gi or 512Mi for sizes (binary suffixes Ki, Mi, Gi, Ti) and 250m or 1 for CPU"
        )
    return value


# The smallest volume size taken as meant: a size without a unit counts bytes, so
# `storage: 10` would ask for a 10-byte volume.
_MIN_STORAGE = "1Mi"


def _storage_size(value: str) -> str:
    if amount(value) < amount(_MIN_STORAGE):
        raise ValueError(
            f"'{value}' is {format(amount(value).normalize(), 'f')} bytes, below {_MIN_STORAGE} "
            "(a size without a unit counts bytes); write the size with a unit, such as 10Gi or 512Mi"
        )
    return value


def _pinned_image(value: str) -> str:
    if not _IMAGE.fullmatch(value):
        raise ValueError(
            f"'{value}' is not an image reference; write it as [registry/]repository:tag with a lower-case "
            "repository and no spaces, for example 'ghcr.io/example/app:1.2.3'"
        )
    if "@sha256:" in value:
        return value
    name, _, tag = value.rpartition(":")
    if not name or "/" in tag:
        raise ValueError(f"image '{value}' has no tag; pin a version such as '{value}:1.2.3' (or a digest @sha256:...)")
    if tag == "latest":
        raise ValueError(
            f"image '{value}' uses the floating tag 'latest'; pin a released version such as '{name}:1.2.3'"
        )
    return value


def _dns_label(value: str) -> str:
    if not _DNS_LABEL.fullmatch(value):
        raise ValueError(
            f"'{value}' is not a valid Kubernetes name; use lower-case letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters"
        )
    return value


def _extension(value: str) -> str:
    # Written into `CREATE EXTENSION IF NOT EXISTS "<name>"` (the init script).
    if not _EXTENSION.fullmatch(value):
        raise ValueError(
            f"{value!r} is not an extension name; use lower-case letters, digits, '_' and '-', starting with a "
            "letter, as PostgreSQL names them: vector, pg_trgm, uuid-ossp"
        )
    return value


def _service_name(value: str) -> str:
    _dns_label(value)
    if not _DNS_1035.fullmatch(value):
        raise ValueError(
            f"'{value}' also names a Service, and Service names must start with a letter; "
            f"rename it, for example 'app-{value}'"
        )
    return value


def _route_path(value: str) -> str:
    _leading_slash(value)
    refused = [part for part in _REFUSED_PATH_PARTS if part in value]
    if refused or value.endswith(("/.", "/..")) or not _URL_PATH.fullmatch(value):
        raise ValueError(
            f"'{value}' is not a path an Ingress accepts; use letters, digits and '-', '.', '_', '~' "
            "between single slashes, for example '/api'"
        )
    return value


def _host(value: str) -> str:
    bare = value.removeprefix("http://").removeprefix("https://").split("/")[0].split(":")[0].lower()
    if bare != value:
        raise ValueError(f"'{value}' is not a host name; write the host alone, without scheme, port or path: '{bare}'")
    try:
        ipaddress.ip_address(value)
    except ValueError:
        pass
    else:
        raise ValueError(
            f"'{value}' is an IP address, and an Ingress routes host names only; "
            f"use a name that resolves to it, for example '{value}.nip.io'"
        )
    if len(value) > 253 or not _DNS_SUBDOMAIN.fullmatch(value) or any(len(part) > 63 for part in value.split(".")):
        raise ValueError(
            f"'{value}' is not a host name; use lower-case letters, digits, '-' and '.', "
            "for example 'staging.example.com'"
        )
    return value


def _duration(value: str) -> str:
    if not re.fullmatch(r"^[1-9][0-9]*(s|m|h)$", value):
        raise ValueError(f"'{value}' is not a duration; use a whole number of s, m or h, such as 90s or 10m")
    return value


def _schedule(value: str) -> str:
    problem = _cron_problem(value)
    if problem:
        raise ValueError(
            f"'{value}' is not a cron schedule ({problem}); use five fields, minute hour day-of-month month "
            "day-of-week, for example '0 3 * * *' (03:00 every day), or @daily"
        )
    return value


def _cron_problem(value: str) -> str | None:
    if value in _CRON_MACROS:
        return None
    fields = value.split()
    if len(fields) != 5 or value != " ".join(fields):
        return f"{len(fields)} fields separated by single spaces"
    for text, (what, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        for item in text.split(","):
            span, _, step = item.partition("/")
            if step and not (step.isdigit() and int(step) > 0):
                return f"step '{step}' of the {what}"
            if span == "*" or (span == "?" and what.startswith("day")):
                continue
            ends = span.split("-")
            if len(ends) > 2:
                return f"'{span}' in the {what}"
            for end in ends:
                number = names.index(end.upper()) + low if end.upper() in names else None
                if number is None and end.isdigit():
                    number = int(end)
                if number is None or not low <= number <= high:
                    return f"'{end}' in the {what}, which runs from {low} to {high}"
    return None


def _labels(value: dict[str, str]) -> dict[str, str]:
    for key, text in value.items():
        prefix, _, name = key.rpartition("/")
        if (prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix))) or not (
            len(name) <= 63 and _LABEL_NAME.fullmatch(name)
        ):
            raise ValueError(
                f"'{key}' is not a label key; use letters, digits, '-', '_' and '.' (at most 63), "
                "optionally after a DNS prefix and '/', for example 'example.com/team'"
            )
        if len(text) > 63 or not _LABEL_VALUE.fullmatch(text):
            raise ValueError(
                f"'{text}' (label {key}) is not a label value; use at most 63 letters, digits, '-', '_' and '.', "
                "starting and ending with a letter or digit"
            )
    return value


Quantity = Annotated[str, BeforeValidator(_number_as_text), AfterValidator(_quantity)]
StorageSize = Annotated[Quantity, AfterValidator(_storage_size)]
Image = Annotated[str, AfterValidator(_pinned_image)]
Name = Annotated[str, AfterValidator(_dns_label)]
ServiceName = Annotated[str, AfterValidator(_service_name)]
RoutePath = Annotated[str, AfterValidator(_route_path)]
Labels = Annotated[dict[str, str], AfterValidator(_labels)]
Int32 = Annotated[int, Field(le=INT32_MAX)]
Replicas = Annotated[int, Field(ge=1, le=100)]
PodSecurityLevel = Literal["restricted", "baseline", "privileged"]


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
    schedule: Annotated[str, AfterValidator(_schedule)] = "0 3 * * *"
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
        if not re.fullmatch(r"^https?://[^/\s]+/?$", value):
            raise ValueError(
                f"'{value}' is not an endpoint URL; use http(s)://host[:port], such as https://s3.amazonaws.com"
            )
        return value.rstrip("/")

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, value: str) -> str:
        if not re.fullmatch(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", value):
            raise ValueError(f"'{value}' is not an S3 bucket name; use 3-63 lower-case letters, digits, '.' and '-'")
        return value

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
    database: str = "app"
    user: str = "app"
    extensions: list[Annotated[str, AfterValidator(_extension)]] = Field(default_factory=list)
    init_sql: str = ""
    resources: Resources = resources("250m", "256Mi", "500m", "512Mi")
    backup: BackupSettings | None = None
    rotation: int = Field(default=0, ge=0)

    @field_validator("database", "user")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not re.fullmatch(r"^[a-z_][a-z0-9_]{0,62}$", value):
            raise ValueError(
                f"'{value}' is not a plain PostgreSQL identifier; use lower-case letters, "
                "digits and '_', starting with a letter"
            )
        return value


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
    path: str = "/auth/"
    bootstrap_email: str = "admin@localhost"
    media_storage: StorageSize = "2Gi"
    server_resources: Resources = resources("250m", "256Mi", "500m", "512Mi")
    worker_resources: Resources = resources("100m", "128Mi", "250m", "256Mi")
    database: AuthentikDatabase = AuthentikDatabase()
    trusted_proxies: str | None = None
    rotation: int = Field(default=0, ge=0)

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not (value.startswith("/") and value.endswith("/")):
            raise ValueError(
                f"'{value}' must start and end with '/', for example '/auth/': "
                "Authentik serves under AUTHENTIK_WEB__PATH exactly"
            )
        return _route_path(value)

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
    path: str = "/health"
    initial_delay_seconds: int = Field(default=10, ge=0, le=INT32_MAX - 20)

    @field_validator("path")
    @classmethod
    def _leading_slash(cls, value: str) -> str:
        return _leading_slash(value)


def _leading_slash(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError(f"'{value}' must start with '/', for example '/{value}'")
    return value


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
    env: dict[str, str] = Field(default_factory=dict)
    secret_env: dict[str, str] = Field(default_factory=dict)
    uses: list[Literal["postgres", "redis"]] = Field(default_factory=list)
    calls: list[Name] = Field(default_factory=list)
    session_affinity: bool = False
    allow_internet: bool = False
    description: str = ""

    @field_validator("env", "secret_env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not _ENV_NAME.fullmatch(key):
                raise ValueError(
                    f"'{key}' is not a valid environment variable name; use letters, digits "
                    "and '_', not starting with a digit"
                )
        return value


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
    host: Annotated[str, AfterValidator(_host)] = "localhost"
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
    postgres_exporter: Exporter = Exporter(
        image="prometheuscommunity/postgres-exporter:v0.20.1",
        resources=resources("50m", "32Mi", "200m", "64Mi"),
    )
    redis_exporter: Exporter = Exporter(
        image="oliver006/redis_exporter:v1.88.0",
        resources=resources("50m", "32Mi", "200m", "64Mi"),
    )

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: str) -> str:
        if not re.fullmatch(r"^([0-9]+(ms|s|m|h))+$", value):
            raise ValueError(f"'{value}' is not a Prometheus duration; use a number with a unit, such as 30s or 1m")
        return value


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
    rollout_timeout: Annotated[str, AfterValidator(_duration)] | None = None
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

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        problems: list[str] = []
        declared = {ns.name for ns in self.namespaces}
        if len(declared) != len(self.namespaces):
            problems.append("namespaces: a namespace is listed twice; list each name once")
        used = [
            ("postgres.namespace", self.postgres),
            ("redis.namespace", self.redis),
            ("authentik.namespace", self.authentik),
            ("gateway.namespace", self.gateway),
        ]
        for key, section in used:
            if section is not None and section.namespace not in declared:
                problems.append(_undeclared(key, section.namespace))
        names = [app.name for app in self.apps]
        paths: dict[str, str] = {}
        if self.authentik is not None:
            paths[route_path(self.authentik.path)] = "authentik"
        for i, app in enumerate(self.apps):
            key = f"apps[{i}]"
            if app.namespace not in declared:
                problems.append(_undeclared(f"{key}.namespace", app.namespace))
            if names.count(app.name) > 1:
                problems.append(f"{key}.name: '{app.name}' is used twice; give each app its own name")
            for callee in app.calls:
                if callee not in names:
                    problems.append(f"{key}.calls: no app named '{callee}'; use one of {sorted(names)}")
            for dependency in app.uses:
                if getattr(self, dependency) is None:
                    problems.append(
                        f"{key}.uses: '{dependency}' is not configured in this stack; "
                        f"add platform:{dependency} or remove it from uses"
                    )
            for env_name, secret_key in app.secret_env.items():
                if secret_key not in self.secrets:
                    problems.append(
                        f"{key}.secretEnv.{env_name}: the secret platform:{secret_key} is not set; "
                        f"set it with {_set_secret(secret_key)}"
                    )
            if app.path is not None and app.image is not None:
                route = route_path(app.path)
                if route in paths:
                    problems.append(
                        f"{key}.path: '{app.path}' is already routed to {paths[route]}; give each app its own path"
                    )
                paths[route] = app.name
            minimum = self.profile.min_stateless_replicas
            if app.image is not None and app.replicas < minimum:
                problems.append(
                    f"{key}.replicas: target {self.target} runs stateless services with at least "
                    f"{minimum} replicas; set replicas to {minimum} or more"
                )
        minimum = self.profile.min_stateless_replicas
        if self.gateway.install and self.gateway.replicas < minimum:
            problems.append(
                f"gateway.replicas: target {self.target} needs at least {minimum}; "
                f"set platform:gateway.replicas to {minimum}"
            )
        if self.authentik is not None and self.authentik.server_replicas < minimum:
            problems.append(
                f"authentik.serverReplicas: target {self.target} needs at least {minimum}; set it to {minimum}"
            )
        if self.metrics.monitors and not self.metrics_enabled:
            problems.append(
                f"metrics.monitors: metrics are off for target {self.target}, so there is nothing to monitor; "
                "set platform:metrics.enabled: true, or remove metrics.monitors"
            )
        referenced = {key for app in self.apps for key in app.secret_env.values()}
        store = self.backup_store
        if store is not None:
            for field, secret_key in (
                ("accessKeyIdSecret", store.access_key_id_secret),
                ("secretAccessKeySecret", store.secret_access_key_secret),
            ):
                referenced.add(secret_key)
                if secret_key not in self.secrets:
                    problems.append(
                        f"backupStore.{field}: the secret platform:{secret_key} is not set; "
                        f"set it with {_set_secret(secret_key)}"
                    )
            backed_up = (self.postgres is not None and self.postgres.backup is not None) or (
                self.authentik is not None and self.authentik.database.backup is not None
            )
            if not backed_up:
                problems.append(
                    "backupStore: no database has a backup; set postgres.backup or "
                    "authentik.database.backup, or remove backupStore"
                )
        for secret_key in sorted(set(self.secrets) - referenced):
            problems.append(
                f"{secret_key}: this secret is not used by any app; reference it from an app's "
                f"secretEnv or run `pulumi config rm platform:{secret_key}`"
            )
        if problems:
            raise ValueError("\n".join(problems))
        return self


def _undeclared(key: str, namespace: str) -> str:
    return f"{key}: namespace '{namespace}' is not declared; add it to platform:namespaces or pick a declared one"


def _format_location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def _format_errors(error: ValidationError, raw: Mapping[str, Any]) -> str:
    lines = []
    for item in error.errors():
        loc = _format_location(item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden" and len(item["loc"]) == 1 and _is_credential(str(loc), raw):
            message = (
                "a credential set as plain config would be stored and shown in clear; "
                f"set it as a secret instead: {_set_secret(str(loc))}"
            )
        elif item["type"] == "extra_forbidden":
            message = "unknown key; check its spelling against the README's config table, or remove it"
        elif item["type"] == "missing":
            message = "required key is missing; set it in the stack file (see the README's config table)"
        elif item["type"] in ("string_type", "literal_error") and _is_yaml_scalar(item["input"]):
            message = _wrong_yaml_type(message, item["input"])
        elif item["type"] == "literal_error":
            message = f"{message}; got {item['input']!r}"
        if loc:
            lines.append(f"  platform:{loc}: {message}")
        else:
            # Cross-field checks already start each line with the key they are about.
            lines.extend(f"  platform:{line}" for line in message.split("\n"))
    return INVALID + "\n" + "\n".join(lines)


_CREDENTIAL_WORDS = ("key", "token", "password", "secret", "credential")


def _is_credential(key: str, raw: Mapping[str, Any]) -> bool:
    """Whether an unknown top-level key is a credential: an app's secretEnv names it,
    or its name says so (`openaiApiKey`, `dbPassword`)."""
    apps = _decode(raw.get("apps")) or []
    referenced = {
        value
        for app in (apps if isinstance(apps, list) else [])
        if isinstance(app, dict)
        for value in (app.get("secretEnv") or {}).values()
    }
    return key in referenced or any(word in key.lower() for word in _CREDENTIAL_WORDS)


def _is_yaml_scalar(value: Any) -> bool:
    return isinstance(value, bool | int | float)


def _wrong_yaml_type(message: str, value: bool | int | float) -> str:
    """YAML reads unquoted 8080, 1.5, yes and on as numbers and booleans; say so."""
    if isinstance(value, bool):
        read = f"the boolean {str(value).lower()} (YAML reads unquoted yes, no, on, off, true and false so)"
        write = "quote what you wrote, for example " + ('"yes"' if value else '"no"')
    else:
        read, write = f"the number {value}", f'quote it: "{value}"'
    expected = message.removeprefix("Input should be ")
    if expected.startswith("a valid string"):
        expected = "text"
    return f"expected {expected}, read {read}; {write}"


def parse_settings(
    raw: Mapping[str, Any], secret_keys: set[str] | frozenset[str] = frozenset(), stack: str = _STACK
) -> Settings:
    """Validate raw config (keys without the `platform:` prefix) into `Settings`; the
    errors' hints name `stack`."""
    data: dict[str, Any] = {}
    secrets: dict[str, str] = {}
    for key, value in raw.items():
        if key in secret_keys:
            secrets[key] = value
        else:
            data[key] = _decode(value)
    try:
        return Settings.model_validate({**data, "secrets": secrets})
    except ValidationError as error:
        raise ConfigError(_format_errors(error, raw).replace(_STACK, stack)) from None


def _decode(value: Any) -> Any:
    """Structured config arrives as JSON text; plain values stay strings."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    if value in ("true", "false"):
        return value == "true"
    return value


def load_settings() -> Settings:
    """Read the stack's `platform:*` config through the public SDK and validate it.

    Each key of `Settings` is read by name with `pulumi.Config`. Every other key the
    engine handed the program (`pulumi.runtime.get_config_env`) is either a secret
    (set with `--secret`: an app's credential, checked against `secretEnv`) or a
    typo, reported with the others before anything is registered.
    """
    config = pulumi.Config(CONFIG_NAMESPACE)
    prefix = f"{CONFIG_NAMESPACE}:"
    fields = {field.alias or name for name, field in Settings.model_fields.items() if not field.exclude}
    raw: dict[str, Any] = {}
    for key in fields:
        value = config.get(key)
        if value is not None:
            raw[key] = value
    referenced = {
        key
        for app in _decode(raw.get("apps", "[]")) or []
        if isinstance(app, dict)
        for key in (app.get("secretEnv") or {}).values()
        if isinstance(key, str)
    }
    others = {key[len(prefix) :] for key in pulumi.runtime.get_config_env() if key.startswith(prefix)} - fields
    secrets: set[str] = set()
    problems: list[str] = []
    for key in sorted(referenced | others):
        value = config.get(key)
        if value is None:
            continue
        if pulumi.runtime.is_config_secret(prefix + key):
            secrets.add(key)
            raw[key] = value
        elif key in referenced:
            problems.append(
                f"{key}: this credential is stored in plaintext; set it with {_set_secret(key, pulumi.get_stack())}"
            )
        else:
            problems.append(f"{key}: unknown key; check its spelling against the README's config table, or remove it")
    if problems:
        raise invalid(problems)
    return parse_settings(raw, secrets, pulumi.get_stack())
