"""RedisCache: one Redis server with a generated password and optional persistence."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pulumi
from pulumi_kubernetes.core.v1 import Secret

from components import kube
from components import metrics as m
from components.contracts import Backing, DataServiceArgs

PORT = 6379
METRICS = m.Endpoint(9121)
# The image's redis user and group (docker-library/redis, alpine/Dockerfile).
REDIS_UID = 999
REDIS_GID = 1000
PERSISTENCE_ARGS = {
    "aof": ["--appendonly", "yes", "--appendfsync", "everysec"],
    "rdb": ["--appendonly", "no", "--save", "60 1"],
    "none": ["--appendonly", "no", "--save", ""],
}


@dataclass(frozen=True, kw_only=True)
class RedisArgs(DataServiceArgs):
    """A Redis server: the data service's fields, and how it keeps its data."""

    persistence: Literal["aof", "rdb", "none"] = "aof"
    """`aof` (every write, fsync each second), `rdb` (a snapshot a minute) or `none`
    (no volume); default `aof`."""


class RedisCache(pulumi.ComponentResource):
    """Creates a Deployment (one replica, Recreate: its volume is ReadWriteOnce), a
    PersistentVolumeClaim unless persistence is `none` (kept by `pulumi destroy`), a
    ClusterIP Service, a Secret with a generated `requirepass` password, and a
    NetworkPolicy in `network` that admits only the clients that connect to its
    `backing`. With `metrics`, a redis_exporter sidecar on port 9121, admitted to the
    scraper only.

    The password reaches Redis through a config file mounted from the Secret, so it
    never appears in the pod spec or the process arguments.

    Outputs: `host`, `port`, `password` (secret), `url` (secret), `secret_name`;
    `backing`, what an app that uses the cache is given.
    """

    def __init__(
        self, name: str, args: RedisArgs, network: kube.Network, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("platform:index:RedisCache", name, None, opts)
        own = kube.labels(args.name, name, "cache")
        self.secret_name = f"{args.name}-credentials"
        self.host = pulumi.Output.from_input(kube.service_host(args.name, args.namespace))
        self.port = pulumi.Output.from_input(PORT)
        password = kube.generated_password(f"{name}-password", self, rotation=args.rotation)
        self.password: pulumi.Output[str] = pulumi.Output.secret(password.result)
        self.url: pulumi.Output[str] = pulumi.Output.secret(
            pulumi.Output.format("redis://:{0}@{1}:{2}/0", password.result, self.host, PORT)
        )
        secret = Secret(
            f"{name}-credentials",
            metadata=kube.metadata(self.secret_name, args.namespace, own),
            type="Opaque",
            string_data={
                "password": self.password,
                "url": self.url,
                "auth.conf": pulumi.Output.format("requirepass {0}\n", password.result),
            },
            opts=kube.child(self),
        )
        depends: list[pulumi.Resource] = [secret]
        if args.persistence == "none":
            data = kube.Volume.empty("data", "/data")
        else:
            claim = kube.DataVolume("data", "/data", args.storage, args.storage_class, claim_name=f"{args.name}-data")
            depends.append(claim.claim(f"{name}-data", args.namespace, own, self, protect=args.protect))
            data = claim.volume
        # redis-cli exits 0 on any reply, errors included: readiness wants PONG (not
        # NOAUTH or LOADING).
        pong = ["sh", "-c", '[ "$(redis-cli ping)" = PONG ]']
        pod = kube.Pod(
            args.name,
            args.namespace,
            own,
            run_as_user=REDIS_UID,
            run_as_group=REDIS_GID,
            checksum=kube.content_checksum(self.password),
            containers=[
                kube.Container(
                    name="redis",
                    image=args.image,
                    resources=args.resources,
                    ports={"redis": PORT},
                    command=["redis-server", "/etc/redis/auth.conf", *PERSISTENCE_ARGS[args.persistence]],
                    # redis-cli reads the password from REDISCLI_AUTH, so probes need no argument.
                    env=[kube.secret_env("REDISCLI_AUTH", self.secret_name, "password")],
                    # Loading a large AOF answers PING with an error for a while: the
                    # pod is then not ready, but alive.
                    liveness=kube.tcp_probe("redis", kube.Timing(initial_delay=5, period=10, timeout=5, failures=3)),
                    readiness=kube.exec_probe(pong, kube.Timing(initial_delay=5, period=5, timeout=3, failures=2)),
                    volumes=[data, kube.Volume.secret_file("auth", "/etc/redis", self.secret_name, "auth.conf")],
                ),
                *self._exporter(args),
            ],
            annotations=m.pod_annotations(METRICS, args.metrics),
        )
        traffic = pod.traffic(network, f"{name}-netpol", kube.child(self))
        self.backing = Backing("REDIS_URL", self.url, traffic, PORT)
        pod.service(f"{name}-service", kube.child(self), listen={"redis": PORT})
        # One replica with Recreate: its volume is ReadWriteOnce.
        pod.deployment(
            f"{name}-deployment", replicas=1, strategy=kube.RECREATE, opts=kube.child(self, depends_on=depends)
        )
        if args.metrics is not None:
            m.expose(self, name, pod, METRICS, args.metrics, network)
        self.register_outputs({"host": self.host, "port": self.port, "password": self.password, "url": self.url})

    def _exporter(self, args: RedisArgs) -> list[kube.Container]:
        """redis_exporter beside the server, over localhost with its password."""
        if args.metrics is None:
            return []
        env = [
            *kube.plain_env({"REDIS_ADDR": f"redis://127.0.0.1:{PORT}"}),
            kube.secret_env("REDIS_PASSWORD", self.secret_name, "password"),
        ]
        return [m.exporter(args.metrics.redis_exporter, METRICS, health_path="/health", env=env)]
