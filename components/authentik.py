"""AuthentikStack: the Authentik identity provider with its own PostgreSQL."""

from __future__ import annotations

import re

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kb
from components.postgres import PostgresStatefulSet
from components.redis import RedisCache
from components.settings import AuthentikSettings, PostgresSettings, RedisSettings

HTTP_PORT = 9000
HTTPS_PORT = 9443
AUTHENTIK_UID = 1000
MEDIA_DIR = "/data"
REDIS_DROPPED_IN = (2025, 10)


def health_path(web_path: str, check: str) -> str:
    """Where the server answers a health check: below AUTHENTIK_WEB__PATH, as its Go
    router mounts them (internal/web/web.go) and the official chart probes
    (`{{ web.path }}-/health/live/`); `/auth/` gives `/auth/-/health/live/`."""
    return f"{web_path}-/health/{check}/"


def needs_redis(image: str) -> bool:
    """Authentik 2025.10 moved its cache and task queue into PostgreSQL."""
    match = re.search(r":(\d{4})\.(\d+)", image)
    return match is not None and (int(match[1]), int(match[2])) < REDIS_DROPPED_IN


class AuthentikStack(pulumi.ComponentResource):
    """Creates Authentik's own PostgresStatefulSet, generated secret key and bootstrap
    admin password and token, a server Deployment (HTTP 9000, HTTPS 9443) and a worker
    Deployment, their Service, a media volume, PodDisruptionBudgets where a workload
    has two or more replicas, and NetworkPolicies (the gateway may reach the server;
    server and worker may reach their database). A RedisCache is added only for
    Authentik releases older than 2025.10.

    Served under `settings.path` with `AUTHENTIK_WEB__PATH`, so the gateway forwards
    the path unchanged.

    Outputs: `url`, `service_name`, `port`, `admin_password` (secret), `admin_token`
    (secret).
    """

    def __init__(
        self,
        name: str,
        settings: AuthentikSettings,
        *,
        storage_class: str,
        shared_storage_class: str | None,
        base_url: str,
        gateway: kb.Peer,
        trusted_proxies: str,
        protect: bool = False,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("platform:index:AuthentikStack", name, None, opts)
        ns = settings.namespace
        self.service_name = f"{settings.name}-server"
        self.port = HTTP_PORT
        self.url = pulumi.Output.from_input(base_url.rstrip("/") + settings.path)
        server_labels = kb.labels(f"{settings.name}-server", name, "identity")
        worker_labels = kb.labels(f"{settings.name}-worker", name, "identity-worker")
        self.peer = kb.Peer(ns, kb.selector(server_labels))
        peers = [self.peer, kb.Peer(ns, kb.selector(worker_labels))]

        db_settings = settings.database
        self.database = PostgresStatefulSet(
            f"{name}-db",
            PostgresSettings(
                name=f"{settings.name}-postgres",
                namespace=ns,
                image=db_settings.image,
                storage=db_settings.storage,
                database="authentik",
                user="authentik",
                resources=db_settings.resources,
                rotation=settings.rotation,
            ),
            storage_class=storage_class,
            clients=peers,
            protect=protect,
            opts=pulumi.ResourceOptions(parent=self),
        )
        secret_key = kb.generated_password(f"{name}-secret-key", self, rotation=settings.rotation, length=60)
        admin_password = kb.generated_password(f"{name}-admin-password", self, rotation=settings.rotation)
        admin_token = kb.generated_password(f"{name}-admin-token", self, rotation=settings.rotation, length=48)
        self.admin_password: pulumi.Output[str] = pulumi.Output.secret(admin_password.result)
        self.admin_token: pulumi.Output[str] = pulumi.Output.secret(admin_token.result)

        secret_name = f"{settings.name}-secrets"
        secret_data: dict[str, pulumi.Input[str]] = {
            "AUTHENTIK_SECRET_KEY": pulumi.Output.secret(secret_key.result),
            "AUTHENTIK_POSTGRESQL__PASSWORD": self.database.password,
            "AUTHENTIK_BOOTSTRAP_PASSWORD": self.admin_password,
            "AUTHENTIK_BOOTSTRAP_TOKEN": self.admin_token,
        }
        config: dict[str, pulumi.Input[str]] = {
            "AUTHENTIK_POSTGRESQL__HOST": self.database.host,
            "AUTHENTIK_POSTGRESQL__NAME": "authentik",
            "AUTHENTIK_POSTGRESQL__USER": "authentik",
            "AUTHENTIK_WEB__PATH": settings.path,
            "AUTHENTIK_BOOTSTRAP_EMAIL": settings.bootstrap_email,
            "AUTHENTIK_ERROR_REPORTING__ENABLED": "false",
            "AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS": trusted_proxies,
        }
        depends: list[pulumi.Resource] = [self.database]
        egress = [([self.database.peer.rule()], [5432])]
        if needs_redis(settings.image):
            redis = RedisCache(
                f"{name}-redis",
                RedisSettings(name=f"{settings.name}-redis", namespace=ns, persistence="rdb", storage="1Gi"),
                storage_class=storage_class,
                clients=peers,
                protect=protect,
                opts=pulumi.ResourceOptions(parent=self),
            )
            config["AUTHENTIK_REDIS__HOST"] = redis.host
            secret_data["AUTHENTIK_REDIS__PASSWORD"] = redis.password
            depends.append(redis)
            egress.append(([redis.peer.rule()], [6379]))

        secret = k8s.core.v1.Secret(
            f"{name}-secrets",
            metadata=kb.metadata(secret_name, ns, server_labels),
            type="Opaque",
            string_data=secret_data,
            opts=kb.child(self),
        )
        config_map = k8s.core.v1.ConfigMap(
            f"{name}-config",
            metadata=kb.metadata(f"{settings.name}-config", ns, server_labels),
            data=config,
            opts=kb.child(self),
        )
        depends += [secret, config_map]
        env_from = [{"configMapRef": {"name": f"{settings.name}-config"}}, {"secretRef": {"name": secret_name}}]

        # Server and worker share the media volume. Without a ReadWriteMany class they
        # must run on the node that holds the ReadWriteOnce volume.
        media_claim = f"{settings.name}-media"
        media = k8s.core.v1.PersistentVolumeClaim(
            f"{name}-media",
            metadata=kb.metadata(media_claim, ns, server_labels),
            spec={
                "accessModes": ["ReadWriteMany" if shared_storage_class else "ReadWriteOnce"],
                "storageClassName": shared_storage_class or storage_class,
                "resources": {"requests": {"storage": settings.media_storage}},
            },
            opts=pulumi.ResourceOptions(parent=self, protect=protect, retain_on_delete=True),
        )
        depends.append(media)
        volumes = [{"name": "media", "persistentVolumeClaim": {"claimName": media_claim}}]
        mounts = [{"name": "media", "mountPath": MEDIA_DIR}]

        def affinity(own_labels: dict[str, str]) -> kb.Manifest:
            rules = kb.spread(own_labels)
            if shared_storage_class is None:
                rules["podAffinity"] = {
                    "requiredDuringSchedulingIgnoredDuringExecution": [
                        {
                            "labelSelector": {"matchLabels": {"app.kubernetes.io/instance": name}},
                            "topologyKey": "kubernetes.io/hostname",
                        }
                    ]
                }
            return rules

        live = health_path(settings.path, "live")
        server = kb.Container(
            name="server",
            image=settings.image,
            resources=settings.server_resources,
            args=["server"],
            ports={"http": HTTP_PORT, "https": HTTPS_PORT},
            env_from=env_from,
            liveness=kb.http_probe(live, initial_delay=5, period=10, failures=3),
            readiness=kb.http_probe(health_path(settings.path, "ready"), initial_delay=5, period=10, failures=3),
            startup=kb.http_probe(live, initial_delay=5, period=10, failures=60),
            mounts=mounts,
        )
        healthcheck = ["ak", "healthcheck"]
        worker = kb.Container(
            name="worker",
            image=settings.image,
            resources=settings.worker_resources,
            args=["worker"],
            env_from=env_from,
            liveness=kb.exec_probe(healthcheck, initial_delay=5, period=10, failures=3),
            readiness=kb.exec_probe(healthcheck, initial_delay=5, period=10, failures=3),
            startup=kb.exec_probe(healthcheck, initial_delay=5, period=10, failures=60),
            mounts=mounts,
        )
        workloads = [
            ("server", server, server_labels, settings.server_replicas),
            ("worker", worker, worker_labels, settings.worker_replicas),
        ]
        for role, container, role_labels, replicas in workloads:
            template = kb.pod_template(
                role_labels, [container], run_as_user=AUTHENTIK_UID, volumes=volumes, affinity=affinity(role_labels)
            )
            kb.deployment(
                f"{name}-{role}",
                f"{settings.name}-{role}",
                ns,
                role_labels,
                template,
                replicas=replicas,
                opts=kb.child(self, depends_on=depends),
            )
            if replicas >= 2:
                kb.disruption_budget(f"{name}-{role}-pdb", ns, f"{settings.name}-{role}", role_labels, kb.child(self))

        k8s.core.v1.Service(
            f"{name}-service",
            metadata=kb.service_metadata(self.service_name, ns, server_labels),
            spec={
                "type": "ClusterIP",
                "selector": kb.selector(server_labels),
                "ports": [
                    {"name": "http", "port": HTTP_PORT, "targetPort": "http", "protocol": "TCP"},
                    {"name": "https", "port": HTTPS_PORT, "targetPort": "https", "protocol": "TCP"},
                ],
            },
            opts=kb.child(self),
        )
        kb.network_policy(
            f"{name}-server-netpol",
            ns,
            f"{settings.name}-server",
            server_labels,
            pods=kb.selector(server_labels),
            ingress=[([gateway.rule()], [HTTP_PORT, HTTPS_PORT])],
            egress=egress,
            opts=kb.child(self),
        )
        kb.network_policy(
            f"{name}-worker-netpol",
            ns,
            f"{settings.name}-worker",
            worker_labels,
            pods=kb.selector(worker_labels),
            egress=egress,
            opts=kb.child(self),
        )
        self.register_outputs(
            {
                "url": self.url,
                "service_name": self.service_name,
                "admin_password": self.admin_password,
                "admin_token": self.admin_token,
            }
        )
