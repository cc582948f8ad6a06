"""RedisCache: one Redis server with a generated password and optional persistence."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kb
from components.settings import RedisSettings

PORT = 6379
REDIS_UID = 999
PERSISTENCE_ARGS = {
    "aof": ["--appendonly", "yes", "--appendfsync", "everysec"],
    "rdb": ["--appendonly", "no", "--save", "60 1"],
    "none": ["--appendonly", "no", "--save", ""],
}


class RedisCache(pulumi.ComponentResource):
    """Creates a Deployment (one replica, Recreate: its volume is ReadWriteOnce), a
    PersistentVolumeClaim unless persistence is `none` (kept by `pulumi destroy`), a
    ClusterIP Service, a Secret with a generated `requirepass` password, and a
    NetworkPolicy that admits only `clients`.

    The password reaches Redis through a config file mounted from the Secret, so it
    never appears in the pod spec or the process arguments.

    Outputs: `host`, `port`, `password` (secret), `url` (secret), `secret_name`.
    """

    def __init__(
        self,
        name: str,
        settings: RedisSettings,
        *,
        storage_class: str,
        clients: Sequence[kb.Peer] = (),
        protect: bool = False,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("platform:index:RedisCache", name, None, opts)
        ns = settings.namespace
        self.labels = kb.labels(settings.name, name, "cache")
        self.peer = kb.Peer(ns, kb.selector(self.labels))
        self.secret_name = f"{settings.name}-credentials"
        self.host = pulumi.Output.from_input(kb.service_host(settings.name, ns))
        self.port = pulumi.Output.from_input(PORT)
        password = kb.generated_password(f"{name}-password", self, rotation=settings.rotation)
        self.password: pulumi.Output[str] = pulumi.Output.secret(password.result)
        self.url: pulumi.Output[str] = pulumi.Output.secret(
            pulumi.Output.format("redis://:{0}@{1}:{2}/0", password.result, self.host, PORT)
        )

        secret = k8s.core.v1.Secret(
            f"{name}-credentials",
            metadata=kb.metadata(self.secret_name, ns, self.labels),
            type="Opaque",
            string_data={
                "password": self.password,
                "url": self.url,
                "auth.conf": pulumi.Output.format("requirepass {0}\n", password.result),
            },
            opts=kb.child(self),
        )
        k8s.core.v1.Service(
            f"{name}-service",
            metadata=kb.service_metadata(settings.name, ns, self.labels),
            spec={
                "type": "ClusterIP",
                "selector": kb.selector(self.labels),
                "ports": [{"name": "redis", "port": PORT, "targetPort": "redis", "protocol": "TCP"}],
            },
            opts=kb.child(self),
        )
        depends: list[pulumi.Resource] = [secret]
        volumes = [
            {
                "name": "auth",
                "secret": {"secretName": self.secret_name, "items": [{"key": "auth.conf", "path": "auth.conf"}]},
            }
        ]
        if settings.persistence == "none":
            volumes.append({"name": "data", "emptyDir": {}})
        else:
            claim = k8s.core.v1.PersistentVolumeClaim(
                f"{name}-data",
                metadata=kb.metadata(f"{settings.name}-data", ns, self.labels),
                spec={
                    "accessModes": ["ReadWriteOnce"],
                    "storageClassName": storage_class,
                    "resources": {"requests": {"storage": settings.storage}},
                },
                opts=pulumi.ResourceOptions(parent=self, protect=protect, retain_on_delete=True),
            )
            depends.append(claim)
            volumes.append({"name": "data", "persistentVolumeClaim": {"claimName": f"{settings.name}-data"}})
        ping = ["redis-cli", "ping"]
        container = kb.Container(
            name="redis",
            image=settings.image,
            resources=settings.resources,
            ports={"redis": PORT},
            command=["redis-server", "/etc/redis/auth.conf", *PERSISTENCE_ARGS[settings.persistence]],
            # redis-cli reads the password from REDISCLI_AUTH, so probes need no argument.
            env=[kb.secret_env("REDISCLI_AUTH", self.secret_name, "password")],
            liveness=kb.exec_probe(ping, initial_delay=15, period=10, timeout=5, failures=3),
            readiness=kb.exec_probe(ping, initial_delay=5, period=5, timeout=3, failures=2),
            mounts=[
                {"name": "data", "mountPath": "/data"},
                {"name": "auth", "mountPath": "/etc/redis", "readOnly": True},
            ],
        )
        template = kb.pod_template(self.labels, [container], run_as_user=REDIS_UID, volumes=volumes)
        # One replica with Recreate: its volume is ReadWriteOnce.
        self.deployment = kb.deployment(
            f"{name}-deployment",
            settings.name,
            ns,
            self.labels,
            template,
            replicas=1,
            strategy=kb.RECREATE,
            opts=kb.child(self, depends_on=depends),
        )
        kb.admit_only(f"{name}-netpol", ns, settings.name, self.labels, clients, PORT, kb.child(self))
        self.register_outputs({"host": self.host, "port": self.port, "password": self.password, "url": self.url})
