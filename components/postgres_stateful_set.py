"""PostgresStatefulSet: one PostgreSQL server with its volume, credentials and init scripts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

import pulumi
from pulumi_kubernetes.core.v1 import ConfigMap, ResourceRequirementsArgs, Secret

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
BACKUP_DIR = "/backups"
# `<name>-<UTC timestamp>.dump`: names sort by time, and the timestamp is the
# 15 characters before `.dump`, which is all the retention rule reads.
DUMP_STAMP = "$(date -u +%Y%m%dT%H%M%S)"


@dataclass(frozen=True)
class BackupStore:
    """S3-compatible object storage the dumps are uploaded to, with its credentials
    (secret config values) and the image that uploads (the AWS CLI)."""

    endpoint: str
    bucket: str
    prefix: str
    region: str
    image: str
    access_key_id: pulumi.Input[str]
    secret_access_key: pulumi.Input[str]

    @property
    def port(self) -> int:
        url = urlsplit(self.endpoint)
        return url.port or (443 if url.scheme == "https" else 80)


@dataclass(frozen=True)
class BackupArgs:
    """A scheduled `pg_dump`, kept by one retention rule (the newest `keep_last`
    dumps, or those of the last `keep_days` days), in `store` or, without one, on a
    claim of `storage`."""

    schedule: str
    storage: str
    image: str
    keep_last: int = 7
    keep_days: int | None = None
    store: BackupStore | None = None


def dump_command(name: str) -> str:
    """`pg_dump` into `<dump>.partial`, renamed once it is complete.

    It first waits up to two minutes for the server to answer: a new pod's traffic
    may be refused until the NetworkPolicy enforcer has taken it in, and each failed
    attempt counts against the Job's backoff limit. pg_dump creates its output file
    before it connects, so a failed attempt would otherwise leave a truncated dump
    for the upload and the retention rule."""
    return (
        'set -eu; i=0; until pg_isready -q; do i=$((i + 1)); [ "$i" -lt 60 ] || break; sleep 2; done; '
        f'dump="{BACKUP_DIR}/{name}-{DUMP_STAMP}.dump"; '
        'pg_dump --format=custom --file="$dump.partial" || { rm -f "$dump.partial"; exit 1; }; '
        'mv "$dump.partial" "$dump"'
    )


def dump_pattern(name: str) -> str:
    """An extended regex for this database's dump names only (another database's
    name may start with this one's)."""
    return f"{name}-[0-9]{{8}}T[0-9]{{6}}\\.dump$"


def retention_filter(keep_last: int, keep_days: int | None) -> str:
    """A pipeline stage that reads dump names, newest first, and prints those to delete.

    sh, awk without interval regexes (Debian's mawk lacks them) and `date -d @N`
    (GNU and busybox), so it runs in the PostgreSQL images and the aws-cli image alike.
    """
    if keep_days is not None:
        cutoff = f'$(date -u -d "@$(($(date +%s) - {keep_days} * 86400))" +%Y%m%dT%H%M%S)'
        return f"awk -v cutoff=\"{cutoff}\" 'substr($0, length($0) - 19, 15) < cutoff'"
    return f"awk 'NR > {keep_last}'"


def prune_volume_command(name: str, keep: str) -> str:
    return (
        f"set -eu; cd {BACKUP_DIR}; ls -1 | grep -E '^{dump_pattern(name)}' | sort -r | {keep} | "
        'while read -r old; do rm -f -- "$old"; echo "pruned $old"; done'
    )


def upload_command(name: str, keep: str) -> str:
    """Upload every dump, then delete the objects the retention rule drops."""
    return (
        "set -eu; "
        # Path-style addressing: S3-compatible servers on a bare host:port have no
        # bucket subdomains.
        "printf '[default]\\ns3 =\\n    addressing_style = path\\n' > /tmp/aws-config; "
        "export AWS_CONFIG_FILE=/tmp/aws-config; "
        f"for dump in {BACKUP_DIR}/{name}-*.dump; do "
        'aws s3 cp --only-show-errors "$dump" "s3://$BACKUP_BUCKET/$BACKUP_PREFIX$(basename "$dump")"; done; '
        f'aws s3api list-objects-v2 --bucket "$BACKUP_BUCKET" --prefix "${{BACKUP_PREFIX}}{name}-" '
        "--query 'Contents[].Key' --output text | tr '\\t' '\\n' | "
        f"grep -E '(^|/){dump_pattern(name)}' | sort -r | "
        f"{keep} | "
        'while read -r old; do aws s3 rm --only-show-errors "s3://$BACKUP_BUCKET/$old"; echo "pruned $old"; done'
    )


def restore_command() -> str:
    """Run in the PostgreSQL container with a dump on stdin: replaces the database's contents."""
    return 'pg_restore --clean --if-exists --no-owner --single-transaction -U "$POSTGRES_USER" -d "$POSTGRES_DB"'


def with_ephemeral_limit(resources: ResourceRequirementsArgs, size: str) -> ResourceRequirementsArgs:
    """`resources` whose ephemeral-storage limit is `size`: a dump staged in an
    emptyDir counts against the pod's ephemeral storage, so the kubelet would evict
    a job whose dump outgrew the default limit."""
    limits = cast(Mapping[str, str], resources.limits)
    return ResourceRequirementsArgs(requests=resources.requests, limits={**limits, "ephemeral-storage": size})


@dataclass(frozen=True, kw_only=True)
class PostgresArgs(DataServiceArgs):
    database: str
    user: str
    extensions: Sequence[str] = ()
    init_sql: str = ""
    backup: BackupArgs | None = None
    component: str = "database"


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


class PostgresStatefulSet(pulumi.ComponentResource):
    """Creates a headless Service, a ClusterIP Service, a StatefulSet with a
    volumeClaimTemplate (claims retained when the set is deleted or scaled down), a
    ConfigMap of init scripts, a Secret holding a generated password, a NetworkPolicy
    in `network` that admits only the clients that connect to its `backing` (and its
    backup), and optionally a backup CronJob: `pg_dump`, then the
    dumps kept by the retention rule, uploaded to an S3-compatible store or, without
    one, on a claim of their own. With `metrics`, a postgres_exporter sidecar on port
    9187, admitted to the scraper only.

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
        # The password is in the checksum: a new one restarts the server, whose start
        # hook sets it on the role (start_hook).
        pod = kube.Pod(
            args.name,
            ns,
            own,
            [self._container(args, data), *self._exporter(args)],
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
            opts=kube.child(self, protect=args.protect, depends_on=[secret, init]),
        )
        if args.backup is not None:
            self._backup(name, args, args.backup, network)
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

    def _exporter(self, args: PostgresArgs) -> list[kube.Container]:
        """postgres_exporter beside the server, as the database user over localhost."""
        if args.metrics is None:
            return []
        source = {"DATA_SOURCE_URI": f"127.0.0.1:{PORT}/{args.database}?sslmode=disable", "DATA_SOURCE_USER": args.user}
        env = [*kube.plain_env(source), kube.secret_env("DATA_SOURCE_PASS", self.secret_name, "password")]
        return [m.exporter(args.metrics.postgres_exporter, METRICS, health_path="/", env=env)]

    def _backup(self, name: str, args: PostgresArgs, backup: BackupArgs, network: kube.Network) -> None:
        """A scheduled `pg_dump` (an init container), then the dumps kept by the
        retention rule: uploaded to the object store when one is configured, else on
        a claim of their own, kept like the data volume."""
        ns = args.namespace
        own = kube.labels(f"{args.name}-backup", name, "backup")
        keep = retention_filter(backup.keep_last, backup.keep_days)
        store = backup.store
        if store is None:
            claimed = kube.DataVolume("backups", BACKUP_DIR, backup.storage, args.storage_class, f"{args.name}-backups")
            claimed.claim(f"{name}-backups", ns, own, self, protect=args.protect)
            backups = claimed.volume
            dump_resources = args.resources
        else:
            # Staged only until the upload: an emptyDir of the configured size.
            backups = kube.Volume.empty("backups", BACKUP_DIR, backup.storage)
            dump_resources = with_ephemeral_limit(args.resources, backup.storage)
        dump = kube.Container(
            name="pg-dump",
            image=backup.image,
            resources=dump_resources,
            command=["sh", "-c", dump_command(args.name)],
            env=[
                *kube.plain_env({"PGHOST": args.name, "PGUSER": args.user, "PGDATABASE": args.database}),
                kube.secret_env("PGPASSWORD", self.secret_name, "password"),
            ],
            volumes=[backups],
        )
        if store is None:
            finish = kube.Container(
                name="prune",
                image=backup.image,
                resources=args.resources,
                command=["sh", "-c", prune_volume_command(args.name, keep)],
                volumes=[backups],
            )
        else:
            finish = self._upload(name, args, store, keep, own, backups)
        pod = kube.Pod(
            f"{args.name}-backup",
            ns,
            own,
            [finish],
            init_containers=[dump],
            run_as_user=POSTGRES_UID,
            restart_policy="OnFailure",
        )
        pod.cron_job(f"{name}-backup", schedule=backup.schedule, opts=kube.child(self))
        traffic = pod.traffic(network, f"{name}-backup-netpol", kube.child(self))
        kube.connect(traffic, self.backing.server, PORT)
        if store is not None:
            # The store may be anywhere, a private address included (an in-house
            # S3-compatible server), but only on its own port.
            kube.connect(traffic, kube.Addresses("0.0.0.0/0"), store.port)

    def _upload(
        self,
        name: str,
        args: PostgresArgs,
        store: BackupStore,
        keep: str,
        own: dict[str, str],
        backups: kube.Volume,
    ) -> kube.Container:
        """The AWS CLI uploading the dumps, then pruning the store, with the store's
        credentials from a Secret of its own."""
        store_secret = f"{args.name}-backup-store"
        Secret(
            f"{name}-backup-store",
            metadata=kube.metadata(store_secret, args.namespace, own),
            type="Opaque",
            string_data={
                "accessKeyId": pulumi.Output.secret(store.access_key_id),
                "secretAccessKey": pulumi.Output.secret(store.secret_access_key),
            },
            opts=kube.child(self),
        )
        return kube.Container(
            name="upload",
            image=store.image,
            resources=args.resources,
            command=["sh", "-c", upload_command(args.name, keep)],
            env=[
                kube.secret_env("AWS_ACCESS_KEY_ID", store_secret, "accessKeyId"),
                kube.secret_env("AWS_SECRET_ACCESS_KEY", store_secret, "secretAccessKey"),
                *kube.plain_env(
                    {
                        "AWS_ENDPOINT_URL": store.endpoint,
                        "AWS_DEFAULT_REGION": store.region,
                        "BACKUP_BUCKET": store.bucket,
                        "BACKUP_PREFIX": store.prefix,
                        # UID 999 has no home in the image; the root filesystem is read-only.
                        "HOME": "/tmp",
                    }
                ),
            ],
            volumes=[backups],
        )
