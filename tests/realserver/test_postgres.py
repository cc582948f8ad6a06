"""PostgreSQL with pgvector, started exactly as the rendered StatefulSet starts it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.realserver.pods import LocalPod
from tests.realserver.postgres import PostgresServer, run_backup_job
from tests.unit.harness import Run, run_stack

ROWS = [(1, "[1,2,3]", "first"), (2, "[0.5,0,-1]", "second"), (3, "[9,9,9]", "third")]


@pytest.fixture(scope="module")
def local() -> Run:
    return run_stack("local")


@pytest.fixture(scope="module")
def staging() -> Run:
    return run_stack("staging")


@pytest.fixture
def app_db(local: Run, pod_root: Path) -> Iterator[PostgresServer]:
    server = PostgresServer(LocalPod(local, local.one("StatefulSet", "postgres"), pod_root))
    yield server
    server.stop()


def test_init_scripts_install_vector(app_db: PostgresServer) -> None:
    app_db.start()
    assert app_db.initialized_now
    assert app_db.sql("SELECT extname FROM pg_extension WHERE extname = 'vector'") == "vector"
    assert app_db.sql("SELECT '[1,2]'::vector <-> '[4,6]'::vector") == "5"


def test_entrypoint_sets_the_generated_password(app_db: PostgresServer) -> None:
    app_db.start()
    assert app_db.sql("SELECT current_user, current_database()") == "app|app"
    hashed = app_db.sql("SELECT rolpassword FROM pg_authid WHERE rolname = 'app'")
    assert hashed.startswith("SCRAM-SHA-256$")
    hba = (app_db.pgdata / "pg_hba.conf").read_text().splitlines()
    assert hba[-1] == "host all all all scram-sha-256"


@pytest.mark.parametrize("probe", ["startupProbe", "readinessProbe", "livenessProbe"])
def test_probe_fails_before_start_and_succeeds_once_serving(app_db: PostgresServer, probe: str) -> None:
    down = app_db.probe(probe)
    assert down.returncode != 0, down.stdout
    app_db.start()
    up = app_db.probe(probe)
    assert up.returncode == 0, up.stdout + up.stderr


def test_restart_keeps_data_and_skips_init(app_db: PostgresServer) -> None:
    app_db.start()
    app_db.sql("CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)")
    app_db.stop()
    app_db.initialized_now = False
    app_db.start()
    assert not app_db.initialized_now
    assert app_db.sql("SELECT n FROM kept") == "42"


def test_authentik_database_starts_under_its_uid(local: Run, pod_root: Path) -> None:
    server = PostgresServer(LocalPod(local, local.one("StatefulSet", "authentik-postgres"), pod_root))
    try:
        server.start()
        assert server.probe("readinessProbe").returncode == 0
        assert server.sql("SELECT current_database()") == server.database
    finally:
        server.stop()


def test_backup_job_dump_restores_into_an_empty_server(staging: Run, pod_root: Path) -> None:
    source = PostgresServer(LocalPod(staging, staging.one("StatefulSet", "postgres"), pod_root / "source"))
    target = PostgresServer(LocalPod(staging, staging.one("StatefulSet", "postgres"), pod_root / "target"))
    try:
        source.start()
        source.sql("CREATE TABLE items (id int PRIMARY KEY, embedding vector(3), note text)")
        values = ", ".join(f"({i}, '{v}', '{n}')" for i, v, n in ROWS)
        source.sql(f"INSERT INTO items VALUES {values}")
        job = run_backup_job(staging, "postgres-backup", source, pod_root / "job")
        dumps = sorted(job.volumes["backups"].glob("*.dump"))
        assert len(dumps) == 1, dumps
        source.stop()

        target.start()
        assert target.sql("SELECT count(*) FROM pg_tables WHERE tablename = 'items'") == "0"
        target.run(
            ["pg_restore", "--exit-on-error", "--no-owner", "-U", target.user, "-d", target.database, str(dumps[0])],
            env={**target.tcp_env(), "PGPASSWORD": target.password},
        )
        restored = target.sql("SELECT id, embedding::text, note FROM items ORDER BY id")
        assert restored.splitlines() == [f"{i}|{v}|{n}" for i, v, n in ROWS]
    finally:
        source.stop()
        target.stop()
