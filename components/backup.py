"""PostgresBackup: a scheduled `pg_dump` of one PostgreSQL database, kept by one
retention rule, on a claim of its own or in S3-compatible object storage.

Every PostgresStatefulSet with a `backup` makes one, the app's database and
Authentik's alike. It is not a component of its own: its objects are children of
the database's component and are named after it, as they always were.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

import pulumi
from pulumi_kubernetes.core.v1 import ResourceRequirementsArgs, Secret

from components import kube

BACKUP_DIR = "/backups"
# `<name>-<UTC timestamp>.dump`: names sort by time, and the timestamp is the
# 15 characters before `.dump`, which is all the retention rule reads.
DUMP_STAMP = "$(date -u +%Y%m%dT%H%M%S)"


@dataclass(frozen=True)
class BackupStore:
    """S3-compatible object storage the dumps are uploaded to."""

    endpoint: str
    """`http(s)://host[:port]`, no trailing slash."""
    bucket: str
    """The bucket the dumps go to."""
    prefix: str
    """Prepended to every object key: empty, or ending in `/`."""
    region: str
    """The store's region (`AWS_DEFAULT_REGION`)."""
    image: str
    """The image that uploads and prunes: the AWS CLI."""
    access_key_id: pulumi.Input[str]
    """The store's access key ID, a secret config value."""
    secret_access_key: pulumi.Input[str]
    """The store's secret access key, a secret config value."""

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
    """When the dump runs, a cron schedule (`0 3 * * *`)."""
    storage: str
    """The size of the claim that keeps the dumps, or, with a `store`, of the
    emptyDir that stages one until its upload."""
    image: str
    """The image that dumps and prunes: the server's own, unless the stack names one."""
    keep_last: int = 7
    """Keep the newest N dumps (default 7), unless `keep_days` is set."""
    keep_days: int | None = None
    """Keep the dumps of the last N days instead; default None (keep by count)."""
    store: BackupStore | None = None
    """Upload the dumps there; default None (keep them on the claim)."""


@dataclass(frozen=True)
class Database:
    """What a backup dumps, as its PostgresStatefulSet publishes it."""

    name: str
    """The server's Service (`PGHOST`), and the first part of every dump's name."""
    namespace: str
    """Where the server and its backup run."""
    user: str
    """The user the dump connects as (`PGUSER`)."""
    database: str
    """The database dumped (`PGDATABASE`)."""
    credentials: str
    """The Secret whose key `password` is the user's password."""
    resources: ResourceRequirementsArgs
    """The server's resources, which every backup container gets too."""
    storage_class: str
    """The StorageClass of the backups' claim."""
    protect: bool
    """`pulumi destroy` refuses to delete the backups' claim, as the data volume."""
    run_as_user: int
    """The UID the server's image runs as, which its `pg_dump` runs as too."""
    server: kube.Traffic
    """The server's pods, which the dump connects to on `port`."""
    port: int
    """The server's port."""


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


class PostgresBackup:
    """Creates, as children of `owner` and named after `name`: a CronJob whose init
    container runs `pg_dump` and whose container then keeps the dumps by the
    retention rule; without a store, a claim `<database>-backups` kept like the data
    volume; with one, a Secret `<database>-backup-store` of its credentials and an
    upload of every dump. Its NetworkPolicy, in `network`, lets it reach the server
    and, with a store, the store's port.

    Outputs: `cron_job`; `traffic`, the backup pods' side of their relations.
    """

    def __init__(
        self, owner: pulumi.Resource, name: str, db: Database, args: BackupArgs, network: kube.Network
    ) -> None:
        own = kube.labels(f"{db.name}-backup", name, "backup")
        keep = retention_filter(args.keep_last, args.keep_days)
        store = args.store
        if store is None:
            claimed = kube.DataVolume("backups", BACKUP_DIR, args.storage, db.storage_class, f"{db.name}-backups")
            claimed.claim(f"{name}-backups", db.namespace, own, owner, protect=db.protect)
            backups = claimed.volume
            dump_resources = db.resources
        else:
            # Staged only until the upload: an emptyDir of the configured size.
            backups = kube.Volume.empty("backups", BACKUP_DIR, args.storage)
            dump_resources = with_ephemeral_limit(db.resources, args.storage)
        dump = kube.Container(
            name="pg-dump",
            image=args.image,
            resources=dump_resources,
            command=["sh", "-c", dump_command(db.name)],
            env=[
                *kube.plain_env({"PGHOST": db.name, "PGUSER": db.user, "PGDATABASE": db.database}),
                kube.secret_env("PGPASSWORD", db.credentials, "password"),
            ],
            volumes=[backups],
        )
        if store is None:
            finish = kube.Container(
                name="prune",
                image=args.image,
                resources=db.resources,
                command=["sh", "-c", prune_volume_command(db.name, keep)],
                volumes=[backups],
            )
        else:
            store_secret = _store_secret(owner, name, db, store, own)
            finish = _upload(db, store, store_secret, keep, backups)
        pod = kube.Pod(
            f"{db.name}-backup",
            db.namespace,
            own,
            [finish],
            init_containers=[dump],
            run_as_user=db.run_as_user,
            restart_policy="OnFailure",
        )
        self.cron_job = pod.cron_job(f"{name}-backup", schedule=args.schedule, opts=kube.child(owner))
        self.traffic = pod.traffic(network, f"{name}-backup-netpol", kube.child(owner))
        kube.connect(self.traffic, db.server, db.port)
        if store is not None:
            # The store may be anywhere, a private address included (an in-house
            # S3-compatible server), but only on its own port.
            kube.connect(self.traffic, kube.Addresses("0.0.0.0/0"), store.port)


def _store_secret(owner: pulumi.Resource, name: str, db: Database, store: BackupStore, own: Mapping[str, str]) -> str:
    """The Secret of the store's credentials; returns its name."""
    secret_name = f"{db.name}-backup-store"
    Secret(
        f"{name}-backup-store",
        metadata=kube.metadata(secret_name, db.namespace, own),
        type="Opaque",
        string_data={
            "accessKeyId": pulumi.Output.secret(store.access_key_id),
            "secretAccessKey": pulumi.Output.secret(store.secret_access_key),
        },
        opts=kube.child(owner),
    )
    return secret_name


def _upload(db: Database, store: BackupStore, secret_name: str, keep: str, backups: kube.Volume) -> kube.Container:
    """The AWS CLI uploading the dumps, then pruning the store, with the store's
    credentials from `secret_name`."""
    return kube.Container(
        name="upload",
        image=store.image,
        resources=db.resources,
        command=["sh", "-c", upload_command(db.name, keep)],
        env=[
            kube.secret_env("AWS_ACCESS_KEY_ID", secret_name, "accessKeyId"),
            kube.secret_env("AWS_SECRET_ACCESS_KEY", secret_name, "secretAccessKey"),
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
