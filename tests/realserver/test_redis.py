"""Redis, started with exactly the rendered command, config file and probes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.realserver.pods import LocalPod
from tests.realserver.redis import RedisServer
from tests.unit.harness import Run, run_program, stack_config


def render(persistence: str) -> Run:
    config: dict[str, Any] = stack_config("local")
    config["redis"] = {**config["redis"], "persistence": persistence}
    return run_program(config, stack="local")


@pytest.fixture(scope="module")
def aof() -> Run:
    return render("aof")


def server(run: Run, root: Path) -> RedisServer:
    return RedisServer(LocalPod(run, run.one("Deployment", "redis"), root))


@pytest.fixture
def redis(aof: Run, pod_root: Path) -> Iterator[RedisServer]:
    started = server(aof, pod_root)
    yield started
    started.stop()


def test_password_comes_from_the_mounted_config_file(redis: RedisServer) -> None:
    command = redis.pod.container("redis")["command"]
    assert "/etc/redis/auth.conf" in command
    redis.start()
    password = redis.pod.env("redis")["REDISCLI_AUTH"]
    assert redis.cli("CONFIG", "GET", "requirepass").splitlines() == ["requirepass", password]


def test_auth_is_required(redis: RedisServer) -> None:
    redis.start()
    assert "NOAUTH" in redis.cli("ping", env={"REDISCLI_AUTH": ""})
    assert "WRONGPASS" in redis.cli("ping", env={"REDISCLI_AUTH": "not-the-password"})
    assert redis.cli("ping") == "PONG"


def test_readiness_probe_passes_only_when_redis_answers_pong(redis: RedisServer) -> None:
    assert redis.probe("readinessProbe").returncode != 0
    redis.start()
    ready = redis.probe("readinessProbe")
    assert ready.returncode == 0, ready.stdout + ready.stderr
    # redis-cli exits 0 on an error reply: a NOAUTH answer must not count as ready.
    assert redis.probe("readinessProbe", env={"REDISCLI_AUTH": "not-the-password"}).returncode != 0


def test_liveness_probe_passes_while_the_process_answers(redis: RedisServer) -> None:
    assert redis.probe("livenessProbe").returncode != 0
    redis.start()
    assert redis.probe("livenessProbe").returncode == 0


def set_and_restart(redis: RedisServer) -> str:
    redis.start()
    assert redis.cli("SET", "survivor", "still-here") == "OK"
    redis.stop()
    redis.start()
    return redis.cli("GET", "survivor")


def test_aof_is_written_and_survives_a_restart(redis: RedisServer) -> None:
    redis.start()
    assert redis.cli("CONFIG", "GET", "appendonly").splitlines() == ["appendonly", "yes"]
    assert redis.cli("CONFIG", "GET", "appendfsync").splitlines() == ["appendfsync", "everysec"]
    redis.stop()
    assert set_and_restart(redis) == "still-here"
    aof_files = sorted(path.name for path in (redis.data / "appendonlydir").iterdir())
    assert any(name.endswith(".incr.aof") for name in aof_files), aof_files
    assert any(name.endswith(".manifest") for name in aof_files), aof_files


def test_rdb_is_written_and_survives_a_restart(pod_root: Path) -> None:
    redis = server(render("rdb"), pod_root)
    try:
        redis.start()
        assert redis.cli("CONFIG", "GET", "save").splitlines() == ["save", "60 1"]
        assert redis.cli("CONFIG", "GET", "appendonly").splitlines() == ["appendonly", "no"]
        redis.stop()
        assert set_and_restart(redis) == "still-here"
        assert (redis.data / "dump.rdb").stat().st_size > 0
        assert not (redis.data / "appendonlydir").exists()
    finally:
        redis.stop()


def test_none_writes_nothing(pod_root: Path) -> None:
    redis = server(render("none"), pod_root)
    try:
        assert redis.pod.container("redis")["volumeMounts"][0]["name"] == "data"
        assert set_and_restart(redis) == ""
        assert sorted(redis.data.iterdir()) == []
    finally:
        redis.stop()
