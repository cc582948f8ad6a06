"""PostgresStatefulSet: one PostgreSQL server with its volume, credentials and init scripts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
from pulumi_kubernetes.core.v1 import ConfigMap, Secret

from components import kube
from components.contracts import Backing, DataServiceArgs

PORT = 5432
DATA_DIR = "/var/lib/postgresql/data"
POSTGRES_UID = 999


@dataclass(frozen=True)
class BackupArgs:
    schedule: str
    storage: str
    image: str


@dataclass(frozen=True, kw_only=True)
class PostgresArgs(DataServiceArgs):
    database: str
    user: str
    extensions: Sequence[str] = ()
    init_sql: str = ""
    backup: BackupArgs | None = None
    component: str = "database"


def init_scripts(args: PostgresArgs) -> dict[str, str]:
    """SQL run once by the image's entrypoint when the data directory is empty."""
    scripts: dict[str, str] = {}
    if args.extensions:
        scripts["00-extensions.sql"] = "".join(
            f'CREATE EXTENSION IF NOT EXISTS "{extension}";\n' for extension in args.extensions
        )
    if args.init_sql:
        scripts["10-init.sql"] = args.init_sql
    return scripts


class PostgresStatefulSet(pulumi.ComponentResource):
    """Creates a headless Service, a ClusterIP Service, a StatefulSet with a
    volumeClaimTemplate (claims retained when the set is deleted or scaled down), a
    ConfigMap of init scripts, a Secret holding a generated password, a NetworkPolicy
    that admits only `clients`, and optionally a nightly `pg_dump` CronJob.

    Outputs: `host`, `port`, `database`, `user`, `password` (secret), `uri` (secret),
    `secret_name` (the Secret with keys username, password, database, host, port, uri);
    `backing`, what an app that uses the database is given.
    """

    def __init__(self, name: str, args: PostgresArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:index:PostgresStatefulSet", name, None, opts)
        ns = args.namespace
        own = kube.labels(args.name, name, args.component)
        self.secret_name = f"{args.name}-credentials"
        self.host = pulumi.Output.from_input(kube.service_host(args.name, ns))
        self.port = pulumi.Output.from_input(PORT)
        self.database = pulumi.Output.from_input(args.database)
        self.user = pulumi.Output.from_input(args.user)
        secret = self._credentials(name, args, own)
        init = ConfigMap(
            f"{name}-init",
            metadata=kube.metadata(f"{args.name}-init", ns, own),
            data=init_scripts(args),
            opts=kube.child(self),
        )
        data = kube.DataVolume("data", DATA_DIR, args.storage, args.storage_class)
        pod = kube.Pod(args.name, ns, own, [self._container(args, data)], run_as_user=POSTGRES_UID)
        self.peer = pod.peer
        self.backing = Backing("DATABASE_URL", self.uri, self.peer, PORT)
        headless = f"{args.name}-headless"
        pod.service(f"{name}-headless", kube.child(self), name=headless, headless=True)
        pod.service(f"{name}-service", kube.child(self))
        pod.stateful_set(
            f"{name}-statefulset",
            service_name=headless,
            claims=[data],
            opts=kube.child(self, protect=args.protect, depends_on=[secret, init]),
        )
        clients = list(args.clients)
        if args.backup is not None:
            clients.append(self._backup(name, args, args.backup).peer)
        pod.traffic().allow_from(clients, PORT).policy(f"{name}-netpol", kube.child(self))
        self.register_outputs(
            {
                "host": self.host,
                "port": self.port,
                "database": self.database,
                "user": self.user,
                "password": self.password,
                "uri": self.uri,
            }
        )

    def _credentials(self, name: str, args: PostgresArgs, own: dict[str, str]) -> Secret:
        """A generated password, and the Secret that holds it with the rest of what a
        client needs to connect."""
        password = kube.generated_password(f"{name}-password", self, rotation=args.rotation)
        self.password: pulumi.Output[str] = pulumi.Output.secret(password.result)
        self.uri: pulumi.Output[str] = pulumi.Output.secret(
            pulumi.Output.format(
                "postgresql://{0}:{1}@{2}:{3}/{4}", args.user, password.result, self.host, PORT, args.database
            )
        )
        credentials: dict[str, pulumi.Input[str]] = {
            "username": args.user,
            "password": self.password,
            "database": args.database,
        }
        return Secret(
            f"{name}-credentials",
            metadata=kube.metadata(self.secret_name, args.namespace, own),
            type="Opaque",
            string_data={**credentials, "host": self.host, "port": str(PORT), "uri": self.uri},
            opts=kube.child(self),
        )

    def _container(self, args: PostgresArgs, data: kube.DataVolume) -> kube.Container:
        ready = ["pg_isready", "-h", "127.0.0.1", "-U", args.user, "-d", args.database]
        return kube.Container(
            name="postgres",
            image=args.image,
            resources=args.resources,
            ports={"postgres": PORT},
            env=[
                *kube.plain_env({"POSTGRES_DB": args.database, "POSTGRES_USER": args.user}),
                kube.secret_env("POSTGRES_PASSWORD", self.secret_name, "password"),
                *kube.plain_env({"PGDATA": f"{DATA_DIR}/pgdata"}),
            ],
            liveness=kube.exec_probe(ready, kube.Timing(initial_delay=30, period=10, timeout=5, failures=3)),
            readiness=kube.exec_probe(ready, kube.Timing(initial_delay=5, period=5, timeout=3, failures=2)),
            volumes=[
                data.templated,
                kube.Volume.config_map("init", "/docker-entrypoint-initdb.d", f"{args.name}-init"),
            ],
            scratch=("/tmp", "/var/run/postgresql"),
        )

    def _backup(self, name: str, args: PostgresArgs, backup: BackupArgs) -> kube.Pod:
        """A nightly `pg_dump` into a volume of its own, kept like the data volume."""
        own = kube.labels(f"{args.name}-backup", name, "backup")
        backups = kube.DataVolume("backups", "/backups", backup.storage, args.storage_class, f"{args.name}-backups")
        backups.claim(f"{name}-backups", args.namespace, own, self, protect=args.protect)
        dump = kube.Container(
            name="pg-dump",
            image=backup.image,
            resources=args.resources,
            command=["sh", "-c", 'pg_dump --format=custom --file="/backups/$(date +%Y%m%dT%H%M%S).dump"'],
            env=[
                *kube.plain_env({"PGHOST": args.name, "PGUSER": args.user, "PGDATABASE": args.database}),
                kube.secret_env("PGPASSWORD", self.secret_name, "password"),
            ],
            volumes=[backups.volume],
        )
        pod = kube.Pod(
            f"{args.name}-backup", args.namespace, own, [dump], run_as_user=POSTGRES_UID, restart_policy="OnFailure"
        )
        pod.cron_job(f"{name}-backup", schedule=backup.schedule, opts=kube.child(self))
        pod.traffic().allow_to(self.peer, PORT).policy(f"{name}-backup-netpol", kube.child(self))
        return pod
