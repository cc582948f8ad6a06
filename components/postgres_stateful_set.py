"""PostgresStatefulSet: one PostgreSQL server with its volume, credentials and init scripts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
from pulumi_kubernetes.core.v1 import ConfigMap, Secret

from components import kube
from components import metrics as m
from components.backup import BackupArgs, Database, PostgresBackup
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


@dataclass(frozen=True, kw_only=True)
class PostgresArgs(DataServiceArgs):
    """A PostgreSQL server: the data service's fields, and what it serves."""

    database: str
    """The database made on the first start (`POSTGRES_DB`), a plain identifier."""
    user: str
    """Its owner (`POSTGRES_USER`), whose password is generated."""
    extensions: Sequence[str] = ()
    """Extensions made in the database on every start; default none."""
    init_sql: str = ""
    """SQL run once, into an empty data directory; default none."""
    backup: BackupArgs | None = None
    """A scheduled dump of the database; default None (no backup)."""
    component: str = "database"
    """The `app.kubernetes.io/component` label of its objects; default `database`."""


def start_hook(args: PostgresArgs) -> list[str]:
    """A postStart command that brings an existing database up to the stack's config
    on every start: the role's password, then the configured extensions.

    The entrypoint reads POSTGRES_PASSWORD and runs /docker-entrypoint-initdb.d only
    into an empty data directory, so a rotated password (or the new one an `up` after
    `destroy` generates beside the kept volume) and an extension added later would
    never reach an existing database. The hook first waits for the server on TCP:
    during initdb only a temporary server runs, on the socket alone, and the database
    may not exist yet. It then runs over the socket, where the image's initdb trusts
    local connections, so the old password is never needed. The password goes through
    a psql variable read from the environment, never a command line. A failing
    statement fails the container: a missing extension shows as a failed rollout.
    """
    # pg_isready names the user: without one libpq asks the passwd database, and the
    # UID has no entry in postgres:*-alpine (its postgres user is 70), so the check
    # would never attempt a connection ("no attempt") and the hook would wait 10 min.
    psql = 'psql -v ON_ERROR_STOP=1 --no-psqlrc -h /var/run/postgresql -U "$POSTGRES_USER" -d "$POSTGRES_DB"'
    script = (
        'for attempt in $(seq 600); do pg_isready -q -h 127.0.0.1 -U "$POSTGRES_USER" && break; sleep 1; done; '
        f"printf '%s\\n' '\\set password `printenv POSTGRES_PASSWORD`' "
        f"'ALTER ROLE \"{args.user}\" PASSWORD :'\\''password'\\'';' | {psql} -q"
    )
    if args.extensions:
        script += f" && {psql} -f {INIT_DIR}/{EXTENSIONS_SCRIPT}"
    return ["sh", "-c", script]


def init_scripts(args: PostgresArgs) -> dict[str, str]:
    """SQL run by the image's entrypoint when the data directory is empty; the
    extensions script also on every start (start_hook)."""
    scripts: dict[str, str] = {}
    if args.extensions:
        scripts[EXTENSIONS_SCRIPT] = "".join(
            f'CREATE EXTENSION IF NOT EXISTS "{extension}";\n' for extension in args.extensions
        )
    if args.init_sql:
        scripts["10-init.sql"] = args.init_sql
    return scripts


@dataclass(frozen=True)
class Credentials:
    """The generated password, the URI that carries it (both secret), and the Secret
    that holds them with the rest of what a client needs to connect."""

    password: pulumi.Output[str]
    uri: pulumi.Output[str]
    secret: Secret


def credentials(
    owner: pulumi.Resource, name: str, args: PostgresArgs, host: pulumi.Output[str], own: dict[str, str]
) -> Credentials:
    generated = kube.generated_password(f"{name}-password", owner, rotation=args.rotation)
    password: pulumi.Output[str] = pulumi.Output.secret(generated.result)
    uri: pulumi.Output[str] = pulumi.Output.secret(
        pulumi.Output.format("postgresql://{0}:{1}@{2}:{3}/{4}", args.user, generated.result, host, PORT, args.database)
    )
    plain: dict[str, pulumi.Input[str]] = {"username": args.user, "password": password, "database": args.database}
    secret = Secret(
        f"{name}-credentials",
        metadata=kube.metadata(secret_name(args), args.namespace, own),
        type="Opaque",
        string_data={**plain, "host": host, "port": str(PORT), "uri": uri},
        opts=kube.child(owner),
    )
    return Credentials(password, uri, secret)


def secret_name(args: PostgresArgs) -> str:
    return f"{args.name}-credentials"


def server_container(args: PostgresArgs, data: kube.DataVolume) -> kube.Container:
    ready = ["pg_isready", "-h", "127.0.0.1", "-U", args.user, "-d", args.database]
    return kube.Container(
        name="postgres",
        image=args.image,
        resources=args.resources,
        ports={"postgres": PORT},
        env=[
            *kube.plain_env({"POSTGRES_DB": args.database, "POSTGRES_USER": args.user}),
            kube.secret_env("POSTGRES_PASSWORD", secret_name(args), "password"),
            *kube.plain_env({"PGDATA": f"{DATA_DIR}/pgdata"}),
        ],
        # The first start runs initdb, listening on a socket only: the startup
        # probe allows it 10 minutes before liveness (the port is open) takes over.
        startup=kube.exec_probe(ready, kube.Timing(period=10, timeout=5, failures=60)),
        liveness=kube.tcp_probe("postgres", kube.Timing(period=10, timeout=5, failures=3)),
        readiness=kube.exec_probe(ready, kube.Timing(period=5, timeout=3, failures=2)),
        lifecycle=kube.post_start(start_hook(args)),
        volumes=[
            data.templated,
            kube.Volume.config_map("init", INIT_DIR, f"{args.name}-init"),
        ],
        scratch=("/tmp", "/var/run/postgresql"),
        # Dynamic shared memory (parallel queries) lives in /dev/shm.
        shared_memory=kube.quarter_of_memory(args.resources),
    )


def exporter(args: PostgresArgs) -> list[kube.Container]:
    """postgres_exporter beside the server, as the database user over localhost."""
    if args.metrics is None:
        return []
    source = {"DATA_SOURCE_URI": f"127.0.0.1:{PORT}/{args.database}?sslmode=disable", "DATA_SOURCE_USER": args.user}
    env = [*kube.plain_env(source), kube.secret_env("DATA_SOURCE_PASS", secret_name(args), "password")]
    return [m.exporter(args.metrics.postgres_exporter, METRICS, health_path="/", env=env)]


class PostgresStatefulSet(pulumi.ComponentResource):
    """Creates a headless Service, a ClusterIP Service, a StatefulSet with a
    volumeClaimTemplate (claims retained when the set is deleted or scaled down), a
    ConfigMap of init scripts, a Secret holding a generated password, a NetworkPolicy
    in `network` that admits only the clients that connect to its `backing`, and,
    with `backup`, a PostgresBackup of the database (components/backup.py). With
    `metrics`, a postgres_exporter sidecar on port 9187, admitted to the scraper only.

    Outputs: `host`, `port`, `database`, `user`, `password` (secret), `uri` (secret),
    `secret_name` (the Secret with keys username, password, database, host, port, uri);
    `backing`, what an app that uses the database is given.
    """

    def __init__(
        self, name: str, args: PostgresArgs, network: kube.Network, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("platform:index:PostgresStatefulSet", name, None, opts)
        ns = args.namespace
        own = kube.labels(args.name, name, args.component)
        self.secret_name = secret_name(args)
        self.host = pulumi.Output.from_input(kube.service_host(args.name, ns))
        self.port = pulumi.Output.from_input(PORT)
        self.database = pulumi.Output.from_input(args.database)
        self.user = pulumi.Output.from_input(args.user)
        made = credentials(self, name, args, self.host, own)
        self.password, self.uri = made.password, made.uri
        scripts = init_scripts(args)
        init = ConfigMap(
            f"{name}-init",
            metadata=kube.metadata(f"{args.name}-init", ns, own),
            data=scripts,
            opts=kube.child(self),
        )
        data = kube.DataVolume("data", DATA_DIR, args.storage, args.storage_class)
        # The password is in the checksum: a new one restarts the server, whose start
        # hook sets it on the role (start_hook).
        pod = kube.Pod(
            args.name,
            ns,
            own,
            [server_container(args, data), *exporter(args)],
            run_as_user=POSTGRES_UID,
            checksum=kube.content_checksum(scripts, self.password),
            annotations=m.pod_annotations(METRICS, args.metrics),
        )
        traffic = pod.traffic(network, f"{name}-netpol", kube.child(self))
        self.backing = Backing("DATABASE_URL", self.uri, traffic, PORT)
        headless = f"{args.name}-headless"
        listen = {"postgres": PORT}
        pod.service(f"{name}-headless", kube.child(self), name=headless, headless=True, listen=listen)
        pod.service(f"{name}-service", kube.child(self), listen=listen)
        pod.stateful_set(
            f"{name}-statefulset",
            service_name=headless,
            claims=[data],
            opts=kube.child(self, protect=args.protect, depends_on=[made.secret, init]),
        )
        if args.backup is not None:
            PostgresBackup(self, name, self._dumped(args, traffic), args.backup, network)
        if args.metrics is not None:
            m.expose(self, name, pod, METRICS, args.metrics, network)
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

    def _dumped(self, args: PostgresArgs, server: kube.Traffic) -> Database:
        """This database, as its backup dumps it."""
        return Database(
            name=args.name,
            namespace=args.namespace,
            user=args.user,
            database=args.database,
            credentials=self.secret_name,
            resources=args.resources,
            storage_class=args.storage_class,
            protect=args.protect,
            run_as_user=POSTGRES_UID,
            server=server,
            port=PORT,
        )
