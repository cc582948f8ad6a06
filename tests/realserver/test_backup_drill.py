"""The backup loop with real servers on loopback: the CronJob's rendered commands dump
PostgreSQL (pgvector), upload to versitygw, prune by the retention rule, and the
documented restore brings the rows back into an empty server."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.realserver.objectstore import ACCESS_KEY, SECRET_KEY, ObjectStore, aws_bin, versitygw
from tests.realserver.pods import LocalPod
from tests.realserver.postgres import PostgresServer, run_backup_job
from tests.unit.harness import Run, run_program, stack_config

BUCKET = "platform-backups"
PREFIX = "staging/"
ROWS = [(1, "[1,2,3]", "first"), (2, "[0.5,0,-1]", "second")]
OLD = ["postgres-20200101T000000.dump", "postgres-20210101T000000.dump"]
# Another database's dumps under the same prefix, one of them named like this one's.
OTHERS = ["authentik-postgres-20200101T000000.dump", "postgres-todo-20200101T000000.dump"]


def render(endpoint: str | None, **retention: Any) -> Run:
    config: dict[str, Any] = stack_config("staging")
    backup = {k: v for k, v in config["postgres"]["backup"].items() if k not in ("keepLast", "keepDays")}
    config["postgres"] = {**config["postgres"], "backup": {**backup, **retention}}
    secrets = {}
    if endpoint is not None:
        config["backupStore"] = {"endpoint": endpoint, "bucket": BUCKET, "prefix": PREFIX}
        secrets = {"backupAccessKeyId": ACCESS_KEY, "backupSecretAccessKey": SECRET_KEY}
    return run_program(config, secrets=secrets, stack="staging")


@pytest.fixture
def store(pod_root: Path) -> Iterator[ObjectStore]:
    with versitygw(pod_root / "store") as running:
        running.aws("s3api", "create-bucket", "--bucket", BUCKET)
        empty = pod_root / "placeholder"
        empty.write_bytes(b"an older dump")
        for key in [*OLD, *OTHERS]:
            running.aws("s3", "cp", "--only-show-errors", str(empty), f"s3://{BUCKET}/{PREFIX}{key}")
        yield running


def seeded(run: Run, root: Path) -> PostgresServer:
    server = PostgresServer(LocalPod(run, run.one("StatefulSet", "postgres"), root))
    server.start()
    server.sql("CREATE TABLE items (id int PRIMARY KEY, embedding vector(3), note text)")
    server.sql("INSERT INTO items VALUES " + ", ".join(f"({i}, '{v}', '{n}')" for i, v, n in ROWS))
    return server


def test_dump_upload_prune_restore(store: ObjectStore, pod_root: Path) -> None:
    run = render(store.endpoint, keepLast=2)
    source = seeded(run, pod_root / "source")
    target = PostgresServer(LocalPod(run, run.one("StatefulSet", "postgres"), pod_root / "target"))
    try:
        run_backup_job(run, "postgres-backup", source, pod_root / "job", path=[aws_bin()])
        keys = store.keys(BUCKET)
        names = [key.removeprefix(PREFIX) for key in keys]
        uploaded = [f"{PREFIX}{n}" for n in names if n.startswith("postgres-") and n not in [*OLD, *OTHERS]]
        assert len(uploaded) == 1, keys
        # keepLast=2: the new dump and the newest old one stay; another database's dumps are not touched.
        assert keys == sorted([uploaded[0], f"{PREFIX}{OLD[1]}", *(f"{PREFIX}{other}" for other in OTHERS)])
        source.stop()

        dump = pod_root / "restore.dump"
        store.aws("s3", "cp", "--only-show-errors", f"s3://{BUCKET}/{uploaded[0]}", str(dump))
        target.start()
        assert target.sql("SELECT count(*) FROM pg_tables WHERE tablename = 'items'") == "0"
        target.restore(dump)
        restored = target.sql("SELECT id, embedding::text, note FROM items ORDER BY id")
        assert restored.splitlines() == [f"{i}|{v}|{n}" for i, v, n in ROWS]
    finally:
        source.stop()
        target.stop()


def test_keep_days_prunes_by_age(store: ObjectStore, pod_root: Path) -> None:
    run = render(store.endpoint, keepDays=1)
    source = seeded(run, pod_root / "source")
    try:
        run_backup_job(run, "postgres-backup", source, pod_root / "job", path=[aws_bin()])
    finally:
        source.stop()
    keys = store.keys(BUCKET)
    assert not any(f"{PREFIX}{old}" in keys for old in OLD), keys
    assert all(f"{PREFIX}{other}" in keys for other in OTHERS), keys
    assert len(keys) == len(OTHERS) + 1, keys


def test_without_a_bucket_dumps_stay_on_the_volume_and_are_pruned(pod_root: Path) -> None:
    run = render(None, keepLast=2)
    source = seeded(run, pod_root / "source")
    try:
        job = LocalPod(run, run.one("CronJob", "postgres-backup"), pod_root / "job")
        for old in OLD:
            (job.volumes["backups"] / old).write_bytes(b"an older dump")
        run_backup_job(run, "postgres-backup", source, pod_root / "job", pod=job)
    finally:
        source.stop()
    kept = sorted(path.name for path in job.volumes["backups"].iterdir())
    assert len(kept) == 2 and kept[0] == OLD[1], kept


def dump_step(run: Run, server: PostgresServer, root: Path) -> tuple[LocalPod, list[str], dict[str, str]]:
    """The backup pod, its `pg-dump` command as run here, and its environment against `server`."""
    job = LocalPod(run, run.one("CronJob", "postgres-backup"), root / "job")
    dump = job.container("pg-dump")
    command = job.localize("pg-dump", [*dump.get("command", []), *dump.get("args", [])])
    return job, command, {**job.env("pg-dump"), **server.tcp_env(), "HOME": str(root)}


def test_a_failed_dump_leaves_nothing_to_upload_or_count(store: ObjectStore, pod_root: Path) -> None:
    run = render(store.endpoint, keepLast=2)
    server = seeded(run, pod_root / "server")
    job, command, env = dump_step(run, server, pod_root)
    backups = job.path("pg-dump", "/backups")
    try:
        # pg_dump opens its file, then fails to connect to a database that is not there.
        assert server.run(command, env={**env, "PGDATABASE": "not_there"}, check=False).returncode != 0
        assert list(backups.iterdir()) == []
        run_backup_job(run, "postgres-backup", server, pod_root / "job", path=[aws_bin()], pod=job)
        uploaded = [k for k in store.keys(BUCKET) if k.removeprefix(PREFIX) not in [*OLD, *OTHERS]]
        assert len(uploaded) == 1, uploaded
    finally:
        server.stop()


def test_the_dump_waits_for_a_server_that_is_not_answering_yet(store: ObjectStore, pod_root: Path) -> None:
    run = render(store.endpoint, keepLast=2)
    server = seeded(run, pod_root / "server")
    job, command, env = dump_step(run, server, pod_root)
    server.stop()
    finished: list[subprocess.CompletedProcess[str]] = []
    dumping = threading.Thread(target=lambda: finished.append(server.run(command, env=env, check=False)))
    try:
        dumping.start()
        time.sleep(5)
        server.start()
        dumping.join(timeout=150)
        assert finished and finished[0].returncode == 0, finished
        assert [p.suffix for p in job.path("pg-dump", "/backups").iterdir()] == [".dump"]
    finally:
        dumping.join(timeout=150)
        server.stop()
