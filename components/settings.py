"""The whole stack configuration, read once and validated before anything is created.

Every key lives under the `platform:` namespace of the stack file. `load_settings`
turns the raw config into a `Settings` model or raises `ConfigError`, whose message
names each offending key (as the user writes it, e.g. `platform:postgres.storage`)
and how to fix it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import pulumi
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from components.targets import TARGETS, TargetProfile

CONFIG_NAMESPACE = "platform"

_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ConfigError(pulumi.RunError):
    """Stack configuration that cannot be deployed; raised before any resource exists."""


def _quantity(value: str) -> str:
    if not _QUANTITY.match(value):
        raise ValueError(
            f"'{value}' is not a Kubernetes quantity; use a number with a suffix such as "
            "10Gi or 512Mi for sizes (binary suffixes Ki, Mi, Gi, Ti) and 250m or 1 for CPU"
        )
    return value


def _pinned_image(value: str) -> str:
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
    if not _DNS_LABEL.match(value):
        raise ValueError(
            f"'{value}' is not a valid Kubernetes name; use lower-case letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters"
        )
    return value


Quantity = Annotated[str, AfterValidator(_quantity)]
Image = Annotated[str, AfterValidator(_pinned_image)]
Name = Annotated[str, AfterValidator(_dns_label)]
Replicas = Annotated[int, Field(ge=1, le=100)]
PodSecurityLevel = Literal["restricted", "baseline", "privileged"]


class Model(BaseModel):
    """Base of every settings model: camelCase keys as in the stack file, no unknown keys."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)


class ResourceAmounts(Model):
    cpu: Quantity
    memory: Quantity


class Resources(Model):
    requests: ResourceAmounts
    limits: ResourceAmounts


def resources(cpu: str, memory: str, cpu_limit: str, memory_limit: str) -> Resources:
    return Resources(
        requests=ResourceAmounts(cpu=cpu, memory=memory),
        limits=ResourceAmounts(cpu=cpu_limit, memory=memory_limit),
    )


class Quota(Model):
    requests_cpu: Quantity = "4"
    requests_memory: Quantity = "8Gi"
    limits_cpu: Quantity = "8"
    limits_memory: Quantity = "16Gi"
    persistent_volume_claims: int = Field(default=5, ge=0)
    node_ports: int = Field(default=2, ge=0)


class NamespaceSettings(Model):
    name: Name
    description: str = ""
    placeholder: bool = False
    guide: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    pod_security: PodSecurityLevel = "restricted"
    quota: Quota | None = None


class BackupSettings(Model):
    schedule: str = "0 3 * * *"
    storage: Quantity = "5Gi"
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
        if not re.match(r"^https?://[^/\s]+/?$", value):
            raise ValueError(
                f"'{value}' is not an endpoint URL; use http(s)://host[:port], such as https://s3.amazonaws.com"
            )
        return value.rstrip("/")

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, value: str) -> str:
        if not re.match(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", value):
            raise ValueError(f"'{value}' is not an S3 bucket name; use 3-63 lower-case letters, digits, '.' and '-'")
        return value

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if value.startswith("/") or " " in value:
            raise ValueError(f"'{value}' is not a key prefix; drop the leading '/' and spaces, e.g. staging/")
        return value if not value or value.endswith("/") else value + "/"


class PostgresSettings(Model):
    name: Name = "postgres"
    namespace: Name
    image: Image = "pgvector/pgvector:pg15"
    storage: Quantity = "10Gi"
    database: str = "app"
    user: str = "app"
    extensions: list[str] = Field(default_factory=list)
    init_sql: str = ""
    resources: Resources = resources("250m", "256Mi", "500m", "512Mi")
    backup: BackupSettings | None = None
    rotation: int = Field(default=0, ge=0)

    @field_validator("database", "user")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not re.match(r"^[a-z_][a-z0-9_]{0,62}$", value):
            raise ValueError(
                f"'{value}' is not a plain PostgreSQL identifier; use lower-case letters, "
                "digits and '_', starting with a letter"
            )
        return value


class RedisSettings(Model):
    name: Name = "redis"
    namespace: Name
    image: Image = "redis:7-alpine"
    storage: Quantity = "2Gi"
    persistence: Literal["aof", "rdb", "none"] = "aof"
    resources: Resources = resources("100m", "128Mi", "250m", "256Mi")
    rotation: int = Field(default=0, ge=0)


class AuthentikDatabase(Model):
    image: Image = "postgres:15-alpine"
    storage: Quantity = "5Gi"
    resources: Resources = resources("250m", "256Mi", "500m", "512Mi")
    backup: BackupSettings | None = None


class AuthentikSettings(Model):
    name: Name = "authentik"
    namespace: Name
    image: Image = "ghcr.io/goauthentik/server:2026.8.6"
    server_replicas: Replicas = 2
    worker_replicas: Replicas = 1
    path: str = "/auth/"
    bootstrap_email: str = "admin@localhost"
    media_storage: Quantity = "2Gi"
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
    initial_delay_seconds: int = Field(default=10, ge=0)

    @field_validator("path")
    @classmethod
    def _leading_slash(cls, value: str) -> str:
        return _leading_slash(value)


def _leading_slash(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError(f"'{value}' must start with '/', for example '/{value}'")
    return value


class AppSettings(Model):
    name: Name
    namespace: Name
    component: Literal["backend", "frontend"] = "backend"
    image: Image | None = None
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "Always"
    port: int = Field(default=8080, ge=1024, le=65535)
    path: str | None = None
    replicas: Replicas = 2
    autoscaling: Autoscaling | None = None
    run_as_user: int = Field(default=10001, ge=1)
    resources: Resources = resources("100m", "128Mi", "250m", "256Mi")
    probe: Probe = Probe()
    env: dict[str, str] = Field(default_factory=dict)
    secret_env: dict[str, str] = Field(default_factory=dict)
    uses: list[Literal["postgres", "redis"]] = Field(default_factory=list)
    calls: list[Name] = Field(default_factory=list)
    session_affinity: bool = False
    allow_internet: bool = False
    description: str = ""

    @field_validator("path")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        return None if value is None else _leading_slash(value)

    @field_validator("env", "secret_env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not _ENV_NAME.match(key):
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
    name: Name = "gateway"
    namespace: Name
    install: bool = True
    class_name: Name = "traefik"
    image: Image = "traefik:v3.7.6"
    replicas: Replicas = 1
    host: str = "localhost"
    tls: Tls | None = None
    resources: Resources = resources("100m", "128Mi", "500m", "256Mi")


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
    backup_store: BackupStoreSettings | None = None
    secrets: dict[str, str] = Field(default_factory=dict, exclude=True, repr=False)

    @property
    def profile(self) -> TargetProfile:
        return TARGETS[self.target]

    @property
    def data_protected(self) -> bool:
        return self.profile.protect_data if self.protect_data is None else self.protect_data

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
            paths[self.authentik.path.rstrip("/")] = "authentik"
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
                        f"run `pulumi config set --secret platform:{secret_key} <value>`"
                    )
            if app.path is not None and app.image is not None:
                route = app.path.rstrip("/") or "/"
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
                        f"run `pulumi config set --secret platform:{secret_key} <value>`"
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


def _format_errors(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        loc = _format_location(item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key; check its spelling against the README's config table, or remove it"
        elif item["type"] == "missing":
            message = "required key is missing; set it in the stack file (see the README's config table)"
        elif item["type"] == "literal_error":
            message = f"{message}; got {item['input']!r}"
        if loc:
            lines.append(f"  platform:{loc}: {message}")
        else:
            # Cross-field checks already start each line with the key they are about.
            lines.extend(f"  platform:{line}" for line in message.split("\n"))
    return "invalid stack configuration, nothing was changed:\n" + "\n".join(lines)


def parse_settings(raw: Mapping[str, Any], secret_keys: set[str] | frozenset[str] = frozenset()) -> Settings:
    """Validate raw config (keys without the `platform:` prefix) into `Settings`."""
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
        raise ConfigError(_format_errors(error)) from None


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
    """Read every `platform:*` key of the current stack and validate it."""
    from pulumi.runtime import config as runtime_config

    # The language host passes config either in the runtime's context or as JSON in
    # the environment (where an empty set may arrive as `null`).
    merged: dict[str, Any] = {**(runtime_config.get_config_env() or {}), **runtime_config.CONFIG.get()}
    secret_keys = set(runtime_config.get_config_secret_keys_env() or []) | runtime_config._SECRET_KEYS.get()
    prefix = f"{CONFIG_NAMESPACE}:"
    raw = {key[len(prefix) :]: value for key, value in merged.items() if key.startswith(prefix)}
    secrets = {key[len(prefix) :] for key in secret_keys if key.startswith(prefix)}
    return parse_settings(raw, secrets)
