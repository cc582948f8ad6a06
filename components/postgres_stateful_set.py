"""PostgresStatefulSet: one PostgreSQL server with its volume, credentials and init scripts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
from pulumi_kubernetes.core.v1 import ConfigMap, Secret

from components import kube
from components import metrics as m
from components.contracts import Backing, DataServiceArgs

PORT = 5432
METRICS = m.Endpoint(9187)
DATA_DIR = "/var/lib/postgresql/data"
INIT_DIR = "/docker-entrypoint-initdb.d"
EXTENSIONS_SCRIPT = "00-extensions.sql"
# The Debian images' postgres user. The Alpine images' own user is 70, but their
# entrypoint runs initdb under any UID (it fakes the passwd entry with nss_wrapper),
# and a data directory must stay owned by the UID that created it: every PostgreSQL
# here runs as 999, whichever variant (docs/images.md).
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


def extensions_hook(args: PostgresArgs) -> list[str] | None:
    """A postStart command that creates the configured extensions on every start.

    The entrypoint runs /docker-entrypoint-initdb.d only into an empty data
    directory, so an extension added later would never reach an existing database.
    The hook first waits for the server on TCP: during initdb only a temporary
    server runs, on the socket alone, and the database may not exist yet. It then
    runs the same idempotent script over the socket, where the image's initdb
    trusts local connections, so a rotated password cannot lock it out. A failing
    script fails the container: a missing extension shows as a failed rollout.
    """
    if not args.extensions:
        return None
    # pg_isready names the user: without one libpq asks the passwd database, and the
    # UID has no entry in postgres:*-alpine (its postgres user is 70), so the check
    # would never attempt a connection ("no attempt") and the hook would wait 10 min.
    script = (
        'for attempt in $(seq 600); do pg_isready -q -h 127.0.0.1 -U "$POSTGRES_USER" && break; sleep 1; done; '
        'psql -v ON_ERROR_STOP=1 --no-psqlrc -h /var/run/postgresql -U "$POSTGRES_USER" -d "$POSTGRES_DB" '
        f"-f {INIT_DIR}/{EXTENSIONS_SCRIPT}"
    )
    return ["sh", "-c", script]


def init_scripts(args: PostgresArgs) -> dict[str, str]:
    """SQL run by the image's entrypoint when the data directory is empty; the
    extensions script also on every start (extensions_hook)."""
    scripts: dict[str, str] = {}
    if args.extensions:
        scripts[EXTENSIONS_SCRIPT] = "".join(
            f'CREATE EXTENSION IF NOT EXISTS "{extension}";\n' for extension in args.extensions
        )
    if args.init_sql:
        scripts["10-init.sql"] = args.init_sql
    return scripts


class PostgresStatefulSet(pulumi.ComponentResource):
    """Creates a headless Service, a ClusterIP Service, a StatefulSet with a
    volumeClaimTemplate (claims retained when the set is deleted or scaled down), a
    ConfigMap of init scripts, a Secret holding a generated password, a NetworkPolicy
    that admits only `clients`, and optionally a nightly `pg_dump` CronJob. With
    `metrics`, a postgres_exporter sidecar on port 9187, admitted to the scraper only.

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
        scripts = init_scripts(args)
        init = ConfigMap(
            f"{name}-init",
            metadata=kube.metadata(f"{args.name}-init", ns, own),
            data=scripts,
            opts=kube.child(self),
        )
        data = kube.DataVolume("data", DATA_DIR, args.storage, args.storage_class)
        # The password is left out of the checksum: the server reads it only at
        # initdb, and a rotation needs ALTER USER (docs/operations.md), not a restart.
        pod = kube.Pod(
            args.name,
            ns,
            own,
            [self._container(args, data), *self._exporter(args)],
            run_as_user=POSTGRES_UID,
            checksum=kube.content_checksum(scripts),
            annotations=m.pod_annotations(METRICS, args.metrics),
        )
        self.peer = pod.peer
        self.backing = Backing("DATABASE_URL", self.uri, self.peer, PORT)
        headless = f"{args.name}-headless"
        listen = {"postgres": PORT}
        pod.service(f"{name}-headless", kube.child(self), name=headless, headless=True, listen=listen)
        pod.service(f"{name}-service", kube.child(self), listen=listen)
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
        if args.metrics is not None:
            m.expose(self, name, pod, METRICS, args.metrics)
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
        hook = extensions_hook(args)
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
            # The first start runs initdb, listening on a socket only: the startup
            # probe allows it 10 minutes before liveness (the port is open) takes over.
            startup=kube.exec_probe(ready, kube.Timing(period=10, timeout=5, failures=60)),
            liveness=kube.tcp_probe("postgres", kube.Timing(period=10, timeout=5, failures=3)),
            readiness=kube.exec_probe(ready, kube.Timing(period=5, timeout=3, failures=2)),
            lifecycle=None if hook is None else kube.post_start(hook),
            volumes=[
                data.templated,
                kube.Volume.config_map("init", INIT_DIR, f"{args.name}-init"),
            ],
            scratch=("/tmp", "/var/run/postgresql"),
            # Dynamic shared memory (parallel queries) lives in /dev/shm.
            shared_memory=kube.quarter_of_memory(args.resources),
        )

    def _exporter(self, args: PostgresArgs) -> list[kube.Container]:
        """postgres_exporter beside the server, as the database user over localhost."""
        if args.metrics is None:
            return []
        source = {"DATA_SOURCE_URI": f"127.0.0.1:{PORT}/{args.database}?sslmode=disable", "DATA_SOURCE_USER": args.user}
        env = [*kube.plain_env(source), kube.secret_env("DATA_SOURCE_PASS", self.secret_name, "password")]
        return [m.exporter(args.metrics.postgres_exporter, METRICS, health_path="/", env=env)]

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
