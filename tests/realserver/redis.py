"""A rendered Redis container run as a local server.

The container's command runs as rendered, in the image's working directory
(`WORKDIR /data` in docker-library/redis's Dockerfile, where Redis writes its
AOF and RDB files with the default `dir ./`), with the pod's volumes as local
directories. Local stand-ins for the pod's network: `--port <free> --bind
127.0.0.1` are appended to the server's arguments, and `redis-cli` inside the
container is a shim that adds `-p <port>`, so probe commands run unchanged.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.realserver.pods import (
    LocalPod,
    as_user,
    free_port,
    pinned_versions,
    start,
    stop,
    tcp_open,
    tool_dir,
    wait_for,
)

WORKDIR = "/data"


def redis_home() -> Path:
    version = pinned_versions()["REDIS_DEB_VERSION"]
    return tool_dir("redis-" + version.replace(":", "_").replace("~", "_"), "redis")


class RedisServer:
    def __init__(self, pod: LocalPod, container: str = "redis") -> None:
        self.pod = pod
        self.container = container
        home = redis_home()
        self.libs = home / "usr" / "lib" / "x86_64-linux-gnu"
        self.real_cli = home / "usr" / "bin" / "redis-cli"
        self.port = free_port()
        self.uid = pod.run_as_user
        self.log = pod.root / f"{container}.log"
        self.shims = pod.root / "container-bin"
        self.shims.mkdir()
        (self.shims / "redis-server").symlink_to(home / "usr" / "bin" / "redis-server")
        cli = self.shims / "redis-cli"
        cli.write_text(f'#!/bin/sh\nexec "{self.real_cli}" -p {self.port} "$@"\n')
        cli.chmod(0o755)
        self.process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    @property
    def data(self) -> Path:
        return self.pod.path(self.container, WORKDIR)

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        base = {key: value for key, value in os.environ.items() if not key.startswith("REDIS")}
        return {
            **base,
            **self.pod.env(self.container),
            "PATH": f"{self.shims}:{os.environ['PATH']}",
            "LD_LIBRARY_PATH": str(self.libs),
            **(extra or {}),
        }

    def command(self) -> list[str]:
        rendered = self.pod.container(self.container)
        return self.pod.localize(self.container, [*rendered["command"], *rendered.get("args", [])])

    def start(self) -> None:
        command = [*self.command(), "--port", str(self.port), "--bind", "127.0.0.1"]
        self._log_offset = self.log.stat().st_size if self.log.exists() else 0
        self.process = start(as_user(self.uid, command), log=self.log, env=self.env(), cwd=self.data)
        wait_for(self._serving, f"redis on 127.0.0.1:{self.port}", log=self.log)

    def _serving(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"redis-server exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}")
        return "Ready to accept connections" in self.log.read_text()[self._log_offset :]

    def stop(self) -> None:
        """SIGTERM, as the kubelet stops a container."""
        if self.process is not None:
            assert stop(self.process, signal.SIGTERM) == 0, self.log.read_text()[-3000:]
            self.process = None

    def cli(self, *args: str, env: Mapping[str, str] | None = None) -> str:
        """redis-cli's answer (it prints some errors, such as WRONGPASS, on stderr)."""
        result = self.run(["redis-cli", *args], env=env)
        return (result.stdout + result.stderr).strip()

    def run(self, command: Sequence[str], env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            as_user(self.uid, command), env=self.env(env), capture_output=True, text=True, check=False, timeout=60
        )

    def probe(self, kind: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        spec = self.pod.container(self.container)[kind]
        if "tcpSocket" in spec:
            assert spec["tcpSocket"]["port"] == "redis", spec
            return tcp_open(self.port)
        return self.run(spec["exec"]["command"], env=env)
