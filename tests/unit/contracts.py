"""What each image the program deploys expects of its pod, as data the unit tests
check the rendered manifests against. Every fact here is stated, with its upstream
source, in docs/images.md; change both together.

A contract answers, for one container of a rendered pod: which user it runs as,
which paths it writes (each needs a volume under a read-only root filesystem),
which ports it listens on, which environment variables it reads, and which probe
handlers test only that the process lives (liveness) or that it can serve
(readiness). Answers that move with configuration (Authentik's web path, Traefik's
entry points, whoami's port) are computed from the container's own env and args.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Manifest = dict[str, Any]
SECRET_VALUE = "<from a Secret>"


@dataclass(frozen=True)
class Target:
    """One rendered container with everything a contract reads from it."""

    container: Manifest
    env: Mapping[str, str]  # resolved: plain values, ConfigMap values, SECRET_VALUE for Secrets
    run_as_user: int
    run_as_group: int

    @property
    def args(self) -> list[str]:
        return [*(self.container.get("command") or []), *(self.container.get("args") or [])]

    @property
    def ports(self) -> dict[str, int]:
        return {p["name"]: int(p["containerPort"]) for p in self.container.get("ports", [])}

    def port_number(self, port: str | float) -> int:
        return self.ports[port] if isinstance(port, str) else int(port)


def handler(probe: Manifest, target: Target) -> tuple[Any, ...]:
    """A probe's handler in comparable form, named ports resolved to numbers."""
    if "httpGet" in probe:
        return ("http", probe["httpGet"]["path"], target.port_number(probe["httpGet"]["port"]))
    if "tcpSocket" in probe:
        return ("tcp", target.port_number(probe["tcpSocket"]["port"]))
    return ("exec", tuple(probe["exec"]["command"]))


@dataclass(frozen=True)
class Contract:
    name: str
    image: re.Pattern[str]
    uid: int
    gid: int | None
    # The entrypoint runs under any UID (then the writable paths need only be group
    # writable, which fsGroup gives every volume).
    any_uid: bool
    writes: Callable[[Target], set[str]]
    shared_memory: bool
    ports: Callable[[Target], set[int]]
    env_known: frozenset[str]
    # Variables outside these prefixes are not the image's: with `strict`, setting
    # one is an error; without (a stand-in), they are the real service's settings.
    env_prefixes: tuple[str, ...]
    strict_env: bool
    # Handlers that test only that the process lives / that it can serve.
    liveness: Callable[[Target], set[tuple[Any, ...]]]
    readiness: Callable[[Target], set[tuple[Any, ...]]]
    # The image offers one check only, which depends on nothing else: readiness may
    # then be the same check as liveness.
    single_check: bool = False
    runs_as_job: bool = False
    extra: Callable[[Target], list[str]] = field(default=lambda _: [])


# --- PostgreSQL (docker-library/postgres, pgvector/pgvector) ----------------------------------------------------------

POSTGRES_ENV = frozenset(
    {
        "POSTGRES_PASSWORD",
        "POSTGRES_PASSWORD_FILE",
        "POSTGRES_USER",
        "POSTGRES_USER_FILE",
        "POSTGRES_DB",
        "POSTGRES_DB_FILE",
        "POSTGRES_INITDB_ARGS",
        "POSTGRES_INITDB_ARGS_FILE",
        "POSTGRES_INITDB_WALDIR",
        "POSTGRES_HOST_AUTH_METHOD",
        "PGDATA",
        "PGPORT",
        "PGUSER",
        "PGPASSWORD",
    }
)
LIBPQ_ENV = frozenset(
    {
        "PGHOST",
        "PGHOSTADDR",
        "PGPORT",
        "PGDATABASE",
        "PGUSER",
        "PGPASSWORD",
        "PGPASSFILE",
        "PGSSLMODE",
        "PGCONNECT_TIMEOUT",
        "PGAPPNAME",
    }
)
POSTGRES_DATA = "/var/lib/postgresql/data"
SOCKET_DIR = "/var/run/postgresql"


def _postgres_port(target: Target) -> int:
    return int(target.env.get("PGPORT", "5432"))


def _postgres_writes(target: Target) -> set[str]:
    # PGDATA and the socket directory; /tmp for nss_wrapper's passwd file when the
    # UID has no passwd entry in the image.
    return {target.env.get("PGDATA", POSTGRES_DATA), SOCKET_DIR, "/tmp"}


def _pg_isready_tcp(command: Sequence[str]) -> bool:
    """pg_isready against a TCP address: during initdb the entrypoint's temporary
    server listens on the socket only, so only a TCP check says the real server runs."""
    if not command or command[0] != "pg_isready" or "-h" not in command:
        return False
    host = command[command.index("-h") + 1]
    return not host.startswith("/")


def _postgres_liveness(target: Target) -> set[tuple[Any, ...]]:
    accepted: set[tuple[Any, ...]] = {("tcp", _postgres_port(target))}
    for name in ("livenessProbe", "startupProbe"):
        if name in target.container:
            found = handler(target.container[name], target)
            if found[0] == "exec" and _pg_isready_tcp(found[1]):
                accepted.add(found)
    return accepted


def _postgres_readiness(target: Target) -> set[tuple[Any, ...]]:
    found = handler(target.container["readinessProbe"], target)
    return {found} if found[0] == "exec" and _pg_isready_tcp(found[1]) else set()


def _postgres_extra(target: Target) -> list[str]:
    problems = []
    if not {"POSTGRES_PASSWORD", "POSTGRES_PASSWORD_FILE"} & set(target.env) and (
        target.env.get("POSTGRES_HOST_AUTH_METHOD") != "trust"
    ):
        problems.append("the entrypoint refuses to initialise without POSTGRES_PASSWORD")
    startup = target.container.get("startupProbe")
    if startup is None:
        problems.append("no startup probe: liveness would run during initdb, before the port opens")
    return problems


POSTGRES_SERVER = Contract(
    name="postgres",
    image=re.compile(
        r"^(docker\.io/)?(library/)?(postgres:1[5-7](\.\d+)?(-(alpine|bookworm|trixie).*)?|pgvector/pgvector:pg1[5-7].*)$"
    ),
    uid=999,
    gid=999,
    any_uid=True,
    writes=_postgres_writes,
    shared_memory=True,
    ports=lambda t: {_postgres_port(t)},
    env_known=POSTGRES_ENV,
    env_prefixes=("POSTGRES_", "PG"),
    strict_env=True,
    liveness=_postgres_liveness,
    readiness=_postgres_readiness,
    extra=_postgres_extra,
)
ALPINE_POSTGRES_UID = 70


def _dump_dir(target: Target) -> set[str]:
    """The directory of the dump: `--file=` an absolute path, or of the variable it names."""
    match = re.search(r'(?:--file=|\bdump=)"?(/[^"\s]+)', " ".join(target.args))
    return {match[1].rsplit("/", 1)[0]} if match else set()


PG_DUMP = Contract(
    name="pg_dump",
    image=POSTGRES_SERVER.image,
    uid=999,
    gid=999,
    any_uid=True,
    writes=lambda t: _dump_dir(t) | {"/tmp"},
    shared_memory=False,
    ports=lambda _: set(),
    env_known=LIBPQ_ENV,
    env_prefixes=("PG", "POSTGRES_"),
    strict_env=True,
    liveness=lambda _: set(),
    readiness=lambda _: set(),
    runs_as_job=True,
)


PG_PRUNE = Contract(
    name="backup prune",
    image=POSTGRES_SERVER.image,
    uid=999,
    gid=999,
    any_uid=True,
    writes=lambda _: {"/backups"},
    shared_memory=False,
    ports=lambda _: set(),
    env_known=frozenset(),
    env_prefixes=("PG", "POSTGRES_"),
    strict_env=True,
    liveness=lambda _: set(),
    readiness=lambda _: set(),
    runs_as_job=True,
)


# --- The AWS CLI (amazon/aws-cli) -------------------------------------------------------------------------------------

AWS_ENV = frozenset(
    {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_ENDPOINT_URL",
        "AWS_DEFAULT_REGION",
        "AWS_CONFIG_FILE",
        "HOME",
    }
)


def _aws_extra(target: Target) -> list[str]:
    # The CLI writes its cache under ~/.aws; the image's HOME is /root, which a
    # non-root UID cannot write.
    if target.run_as_user != 0 and not target.env.get("HOME", "").startswith("/tmp"):
        return ["runs as a non-root UID: set HOME to a writable path (/tmp)"]
    return []


AWS_CLI = Contract(
    name="aws-cli",
    image=re.compile(r"^(docker\.io/)?amazon/aws-cli:2\.\d+\.\d+$"),
    uid=0,
    gid=0,
    any_uid=True,
    writes=lambda _: {"/tmp"},
    shared_memory=False,
    ports=lambda _: set(),
    env_known=AWS_ENV,
    # BACKUP_BUCKET and BACKUP_PREFIX are the upload script's own.
    env_prefixes=("AWS_",),
    strict_env=False,
    liveness=lambda _: set(),
    readiness=lambda _: set(),
    runs_as_job=True,
    extra=_aws_extra,
)


# --- Redis (docker-library/redis) -------------------------------------------------------------------------------------


def _redis_readiness(target: Target) -> set[tuple[Any, ...]]:
    # redis-cli exits 0 on an error reply (NOAUTH, LOADING): ready means PONG
    # (tests/realserver/test_redis.py shows both with Debian's redis 7.0).
    return {("exec", ("sh", "-c", '[ "$(redis-cli ping)" = PONG ]'))}


def _redis_extra(target: Target) -> list[str]:
    configs = [arg for arg in target.args if arg.endswith(".conf")]
    if configs and "REDISCLI_AUTH" not in target.env:
        return ["a config file may set requirepass: redis-cli probes need REDISCLI_AUTH"]
    return []


def _redis_writes(target: Target) -> set[str]:
    args = target.args
    return {args[args.index("--dir") + 1] if "--dir" in args else "/data"}


REDIS = Contract(
    name="redis",
    image=re.compile(r"^(docker\.io/)?(library/)?redis:7(\.\d+)*(-alpine.*)?$"),
    uid=999,
    gid=1000,
    any_uid=True,
    writes=_redis_writes,
    shared_memory=False,
    ports=lambda t: {6379},
    env_known=frozenset({"REDISCLI_AUTH"}),
    env_prefixes=("REDIS",),
    strict_env=True,
    liveness=lambda t: {("tcp", 6379)},
    readiness=_redis_readiness,
    extra=_redis_extra,
)


# --- Authentik (goauthentik/authentik) --------------------------------------------------------------------------------

AUTHENTIK_ENV = frozenset(
    {
        "AUTHENTIK_SECRET_KEY",
        "AUTHENTIK_LOG_LEVEL",
        "AUTHENTIK_ERROR_REPORTING__ENABLED",
        "AUTHENTIK_POSTGRESQL__HOST",
        "AUTHENTIK_POSTGRESQL__PORT",
        "AUTHENTIK_POSTGRESQL__NAME",
        "AUTHENTIK_POSTGRESQL__USER",
        "AUTHENTIK_POSTGRESQL__PASSWORD",
        "AUTHENTIK_POSTGRESQL__SSLMODE",
        "AUTHENTIK_POSTGRESQL__SSLROOTCERT",
        "AUTHENTIK_POSTGRESQL__SSLCERT",
        "AUTHENTIK_POSTGRESQL__SSLKEY",
        "AUTHENTIK_POSTGRESQL__USE_PGBOUNCER",
        "AUTHENTIK_POSTGRESQL__USE_PGPOOL",
        "AUTHENTIK_REDIS__HOST",
        "AUTHENTIK_REDIS__PORT",
        "AUTHENTIK_REDIS__PASSWORD",
        "AUTHENTIK_WEB__PATH",
        "AUTHENTIK_LISTEN__HTTP",
        "AUTHENTIK_LISTEN__HTTPS",
        "AUTHENTIK_LISTEN__METRICS",
        "AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS",
        "AUTHENTIK_BOOTSTRAP_PASSWORD",
        "AUTHENTIK_BOOTSTRAP_TOKEN",
        "AUTHENTIK_BOOTSTRAP_EMAIL",
        "AUTHENTIK_WORKER__CONSUMER_LISTEN_TIMEOUT",
    }
)


def _listen_port(target: Target, key: str, default: int) -> int:
    value = target.env.get(key)
    return int(value.rsplit(":", 1)[1]) if value else default


def _web_path(target: Target) -> str:
    return target.env.get("AUTHENTIK_WEB__PATH", "/")


def _role(target: Target) -> str:
    return str((target.container.get("args") or [""])[0])


def _authentik_ports(target: Target) -> set[int]:
    if _role(target) != "server":
        return set()
    return {
        _listen_port(target, "AUTHENTIK_LISTEN__HTTP", 9000),
        _listen_port(target, "AUTHENTIK_LISTEN__HTTPS", 9443),
        _listen_port(target, "AUTHENTIK_LISTEN__METRICS", 9300),
    }


def _authentik_liveness(target: Target) -> set[tuple[Any, ...]]:
    if _role(target) == "server":
        port = _listen_port(target, "AUTHENTIK_LISTEN__HTTP", 9000)
        return {("http", f"{_web_path(target)}-/health/live/", port), ("tcp", port)}
    return {("exec", ("ak", "healthcheck"))}


def _authentik_readiness(target: Target) -> set[tuple[Any, ...]]:
    if _role(target) == "server":
        return {("http", f"{_web_path(target)}-/health/ready/", _listen_port(target, "AUTHENTIK_LISTEN__HTTP", 9000))}
    return {("exec", ("ak", "healthcheck"))}


def _authentik_extra(target: Target) -> list[str]:
    problems = []
    if _role(target) not in ("server", "worker"):
        problems.append(f"lifecycle/ak runs `server` or `worker`, not {_role(target)!r}")
    if "AUTHENTIK_SECRET_KEY" not in target.env:
        problems.append("AUTHENTIK_SECRET_KEY is required")
    path = _web_path(target)
    if not (path.startswith("/") and path.endswith("/")):
        problems.append(f"AUTHENTIK_WEB__PATH {path!r} must start and end with '/'")
    return problems


AUTHENTIK = Contract(
    name="authentik",
    image=re.compile(r"^ghcr\.io/goauthentik/server:20\d\d\.\d+\.\d+$"),
    uid=1000,
    gid=None,
    any_uid=False,
    # TMPDIR is /dev/shm (sockets, IPC key, mode file); media and files under /data.
    writes=lambda t: {"/data"},
    shared_memory=True,
    ports=_authentik_ports,
    env_known=AUTHENTIK_ENV,
    env_prefixes=("AUTHENTIK_",),
    strict_env=True,
    liveness=_authentik_liveness,
    readiness=_authentik_readiness,
    single_check=True,  # the worker; the server's two checks differ
    extra=_authentik_extra,
)


# --- Traefik (traefik/traefik-library-image, traefik/traefik docs) ----------------------------------------------------


def _traefik_flags(target: Target) -> dict[str, str]:
    flags: dict[str, str] = {}
    for arg in target.args:
        if arg.startswith("--"):
            key, _, value = arg[2:].partition("=")
            flags[key.lower()] = value or "true"
    return flags


def _traefik_entry_points(target: Target) -> dict[str, int]:
    points = {}
    for key, value in _traefik_flags(target).items():
        match = re.fullmatch(r"entrypoints\.([^.]+)\.address", key)
        if match:
            points[match[1]] = int(value.rsplit(":", 1)[1].split("/")[0])
    return points


def _ping_port(target: Target) -> int | None:
    flags = _traefik_flags(target)
    if flags.get("ping") != "true":
        return None
    return _traefik_entry_points(target).get(flags.get("ping.entrypoint", "traefik"))


def _traefik_liveness(target: Target) -> set[tuple[Any, ...]]:
    port = _ping_port(target)
    return set() if port is None else {("tcp", port), ("http", "/ping", port)}


def _traefik_readiness(target: Target) -> set[tuple[Any, ...]]:
    port = _ping_port(target)
    return set() if port is None else {("http", "/ping", port)}


TRAEFIK = Contract(
    name="traefik",
    image=re.compile(r"^(docker\.io/)?(library/)?traefik:v3\.\d+\.\d+$"),
    uid=0,
    gid=0,
    any_uid=True,
    writes=lambda t: {"/tmp"},
    shared_memory=False,
    ports=lambda t: set(_traefik_entry_points(t).values()),
    env_known=frozenset(),
    env_prefixes=("TRAEFIK_",),
    strict_env=True,
    liveness=_traefik_liveness,
    readiness=_traefik_readiness,
)


# --- whoami (traefik/whoami), the echo stand-in -----------------------------------------------------------------------


def _whoami_port(target: Target) -> int:
    args = target.args
    for i, arg in enumerate(args):
        if arg.startswith(("-port=", "--port=")):
            return int(arg.split("=", 1)[1])
        if arg in ("-port", "--port"):
            return int(args[i + 1])
    return int(target.env.get("WHOAMI_PORT_NUMBER") or 80)


WHOAMI = Contract(
    name="whoami",
    image=re.compile(r"^(docker\.io/)?traefik/whoami:v1\.\d+\.\d+$"),
    uid=0,
    gid=0,
    any_uid=True,
    writes=lambda t: set(),
    shared_memory=False,
    ports=lambda t: {_whoami_port(t)},
    env_known=frozenset({"WHOAMI_PORT_NUMBER", "WHOAMI_NAME"}),
    env_prefixes=("WHOAMI_",),
    strict_env=False,
    liveness=lambda t: {("tcp", _whoami_port(t))},
    readiness=lambda t: {("http", "/health", _whoami_port(t))},
    extra=lambda t: (
        []
        if _whoami_port(t) >= 1024 or t.run_as_user == 0
        else [f"whoami binds port {_whoami_port(t)} below 1024 without root or NET_BIND_SERVICE"]
    ),
)

# --- Exporters (prometheus-community/postgres_exporter, oliver006/redis_exporter) ------------------------------------

POSTGRES_EXPORTER = Contract(
    name="postgres-exporter",
    image=re.compile(r"^(docker\.io/)?prometheuscommunity/postgres-exporter:v0\.\d+\.\d+$"),
    uid=65534,
    gid=65534,
    any_uid=True,
    writes=lambda t: set(),
    shared_memory=False,
    ports=lambda t: {9187},
    env_known=frozenset(
        {
            "DATA_SOURCE_NAME",
            "DATA_SOURCE_URI",
            "DATA_SOURCE_URI_FILE",
            "DATA_SOURCE_USER",
            "DATA_SOURCE_USER_FILE",
            "DATA_SOURCE_PASS",
            "DATA_SOURCE_PASS_FILE",
        }
    ),
    env_prefixes=("DATA_SOURCE_", "PG_EXPORTER_"),
    strict_env=True,
    liveness=lambda t: {("tcp", 9187)},
    readiness=lambda t: {("http", "/", 9187)},
)

REDIS_EXPORTER = Contract(
    name="redis-exporter",
    image=re.compile(r"^(docker\.io/)?oliver006/redis_exporter:v1\.\d+\.\d+$"),
    uid=59000,
    gid=59000,
    any_uid=True,
    writes=lambda t: set(),
    shared_memory=False,
    ports=lambda t: {9121},
    env_known=frozenset({"REDIS_ADDR", "REDIS_USER", "REDIS_PASSWORD", "REDIS_PASSWORD_FILE"}),
    env_prefixes=("REDIS_",),
    strict_env=True,
    liveness=lambda t: {("tcp", 9121)},
    readiness=lambda t: {("http", "/health", 9121)},
)

CONTRACTS = (POSTGRES_SERVER, REDIS, AUTHENTIK, TRAEFIK, WHOAMI, POSTGRES_EXPORTER, REDIS_EXPORTER, AWS_CLI)


def contract_for(image: str, command: Sequence[str] | None) -> Contract | None:
    """The contract of `image` run with `command` (the backup job's pg_dump and
    prune run in the server image)."""
    script = " ".join(command or [])
    if "pg_dump" in script and PG_DUMP.image.match(image):
        return PG_DUMP
    if "rm -f" in script and PG_PRUNE.image.match(image):
        return PG_PRUNE
    return next((c for c in CONTRACTS if c.image.match(image)), None)


def image_uid(contract: Contract, image: str) -> int:
    """The image's own user: the Alpine PostgreSQL images use 70, the Debian ones 999."""
    if contract in (POSTGRES_SERVER, PG_DUMP, PG_PRUNE) and "alpine" in image:
        return ALPINE_POSTGRES_UID
    return contract.uid


def violations(
    contract: Contract, target: Target, mounts: Mapping[str, Manifest], volumes: Mapping[str, Manifest]
) -> list[str]:
    """Every way `target` breaks `contract`; `mounts` by mountPath, `volumes` by name."""
    c = target.container
    image = c["image"]
    problems: list[str] = []

    uid = image_uid(contract, image)
    if target.run_as_user != uid and not contract.any_uid:
        problems.append(f"runs as UID {target.run_as_user}; the image's user is {uid}")
    if contract.gid is not None and not contract.any_uid and target.run_as_group != contract.gid:
        problems.append(f"runs as GID {target.run_as_group}; the image's group is {contract.gid}")
    if target.run_as_user == 0:
        problems.append("runs as root")

    if c["securityContext"].get("readOnlyRootFilesystem"):
        for path in sorted(contract.writes(target)):
            if not any(
                path == m or path.startswith(m.rstrip("/") + "/") for m in mounts if not mounts[m].get("readOnly")
            ):
                problems.append(f"writes {path}, but no writable volume is mounted there (read-only root filesystem)")
    if contract.shared_memory:
        shm = mounts.get("/dev/shm")
        volume = volumes.get(shm["name"]) if shm else None
        if (
            volume is None
            or volume.get("emptyDir", {}).get("medium") != "Memory"
            or not volume["emptyDir"].get("sizeLimit")
        ):
            problems.append("uses /dev/shm: mount a sized memory-backed emptyDir there (the runtime gives 64 MiB)")

    declared = {int(p["containerPort"]) for p in c.get("ports", [])}
    if declared != contract.ports(target):
        problems.append(f"declares ports {sorted(declared)}; the image listens on {sorted(contract.ports(target))}")

    for name in sorted(target.env):
        owned = name.startswith(contract.env_prefixes)
        if name in contract.env_known:
            continue
        if owned or contract.strict_env:
            problems.append(f"sets {name}, which the image does not read")

    if not contract.runs_as_job:
        live = c.get("livenessProbe")
        ready = c.get("readinessProbe")
        if live is None or ready is None:
            problems.append("needs both a liveness and a readiness probe")
        else:
            live_handler, ready_handler = handler(live, target), handler(ready, target)
            if live_handler not in contract.liveness(target):
                problems.append(
                    f"liveness {live_handler} is not one of the image's process checks "
                    f"{sorted(contract.liveness(target))}"
                )
            if ready_handler not in contract.readiness(target):
                problems.append(
                    f"readiness {ready_handler} is not the image's readiness check {sorted(contract.readiness(target))}"
                )
            if live_handler == ready_handler and not (contract.single_check and live_handler[0] == "exec"):
                problems.append(f"liveness and readiness are the same check {live_handler}")
        startup = c.get("startupProbe")
        if startup is not None and handler(startup, target) not in contract.liveness(target):
            problems.append(f"startup {handler(startup, target)} is not one of the image's process checks")

    problems += contract.extra(target)
    return problems
