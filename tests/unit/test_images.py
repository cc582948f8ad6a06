"""The images built here (cluster/images/): the OCI layout writer, the read-only
registry the real node's containerd pulls from, and the whoami stand-in.

No network and no mmdebstrap: layouts are written from small in-memory layers, the
registry and whoami listen on 127.0.0.1 only.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import http.client
import json
import os
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import build
import registry
from components.config.models import MetricsSettings
from ocilayout import (
    LAYER_MEDIA_TYPE,
    MANIFEST_MEDIA_TYPE,
    REF_NAME,
    Entry,
    LayoutWriter,
    find_layouts,
    full_reference,
    read_layout,
)

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOTS = ROOT / "tests" / "unit" / "snapshots"
REDIS = "docker.io/library/redis:7-alpine"
ENTRIES = [
    Entry("/usr/local/bin/docker-entrypoint.sh", 0o755, data=b'#!/bin/sh\nexec "$@"\n'),
    Entry("/data", 0o755, uid=999, gid=1000),
    Entry("/bin/sh", 0o777, link="/bin/busybox"),
]


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write_layout(root: Path, ref: str = REDIS) -> Path:
    writer = LayoutWriter(root)
    layer = writer.add_entries_layer(ENTRIES, mtime=build.EPOCH)
    config = build.Config(entrypoint=("docker-entrypoint.sh",), cmd=("redis-server",), ports=("6379/tcp",))
    writer.write_image(ref, [layer], config.as_json({"x": "y"}), created=build.CREATED, history=["test"])
    return root


def blob(layout: Path, digest: str) -> bytes:
    return (layout / "blobs" / "sha256" / digest.removeprefix("sha256:")).read_bytes()


def manifest_of(layout: Path) -> tuple[str, dict[str, Any]]:
    index = json.loads((layout / "index.json").read_text())
    digest = index["manifests"][0]["digest"]
    return digest, json.loads(blob(layout, digest))


# -- the layout writer ----------------------------------------------------------------------


def test_layout_names_the_full_upstream_reference(tmp_path: Path) -> None:
    layout = write_layout(tmp_path / "redis")
    index = json.loads((layout / "index.json").read_text())
    assert json.loads((layout / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    assert [m["annotations"][REF_NAME] for m in index["manifests"]] == [REDIS]
    assert index["manifests"][0]["mediaType"] == MANIFEST_MEDIA_TYPE


def test_every_blob_is_stored_under_its_digest(tmp_path: Path) -> None:
    layout = write_layout(tmp_path / "redis")
    for path in (layout / "blobs" / "sha256").iterdir():
        assert sha256(path.read_bytes()) == f"sha256:{path.name}"
    digest, manifest = manifest_of(layout)
    index_entry = json.loads((layout / "index.json").read_text())["manifests"][0]
    assert index_entry["size"] == len(blob(layout, digest))
    for descriptor in [manifest["config"], *manifest["layers"]]:
        assert len(blob(layout, descriptor["digest"])) == descriptor["size"]


def test_config_diff_ids_are_the_uncompressed_layers(tmp_path: Path) -> None:
    layout = write_layout(tmp_path / "redis")
    _, manifest = manifest_of(layout)
    config = json.loads(blob(layout, manifest["config"]["digest"]))
    layers = [gzip.decompress(blob(layout, layer["digest"])) for layer in manifest["layers"]]
    assert [layer["mediaType"] for layer in manifest["layers"]] == [LAYER_MEDIA_TYPE]
    assert config["rootfs"]["diff_ids"] == [sha256(layer) for layer in layers]
    assert config["config"]["Cmd"] == ["redis-server"]
    assert config["config"]["ExposedPorts"] == {"6379/tcp": {}}
    assert (config["architecture"], config["os"]) == ("amd64", "linux")


def test_our_layer_keeps_owners_modes_and_links(tmp_path: Path) -> None:
    import io
    import tarfile

    layout = write_layout(tmp_path / "redis")
    _, manifest = manifest_of(layout)
    data = gzip.decompress(blob(layout, manifest["layers"][0]["digest"]))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {member.name: member for member in tar.getmembers()}
    assert (members["data"].uid, members["data"].gid, members["data"].isdir()) == (999, 1000, True)
    assert members["bin/sh"].issym() and members["bin/sh"].linkname == "/bin/busybox"
    assert members["usr/local/bin/docker-entrypoint.sh"].mode == 0o755
    assert {member.mtime for member in members.values()} == {build.EPOCH}


def test_the_same_inputs_give_the_same_digest(tmp_path: Path) -> None:
    first, _ = manifest_of(write_layout(tmp_path / "one"))
    second, _ = manifest_of(write_layout(tmp_path / "two"))
    assert first == second


def test_every_image_of_the_local_stack_has_a_recipe() -> None:
    render = yaml.safe_load((SNAPSHOTS / "local.render.yaml").read_text())
    images: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("image"), str):
                images.add(node["image"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(render)
    built = {recipe.ref for recipe in build.RECIPES}
    assert images, "the local render names no image"
    assert {full_reference(image) for image in images} - built == set()


def test_the_exporters_that_metrics_turn_on_have_recipes() -> None:
    """The real-node suite turns metrics on: the exporters' default images are built too."""
    metrics = MetricsSettings()
    exporters = {full_reference(e.image) for e in (metrics.postgres_exporter, metrics.redis_exporter)}
    assert exporters - {recipe.ref for recipe in build.RECIPES} == set()


def test_docker_hub_references_are_written_as_containerd_names_them() -> None:
    assert full_reference("redis:7-alpine") == "docker.io/library/redis:7-alpine"
    assert full_reference("pgvector/pgvector:pg17") == "docker.io/pgvector/pgvector:pg17"
    assert full_reference("ghcr.io/goauthentik/server:2026.8.6") == "ghcr.io/goauthentik/server:2026.8.6"
    assert full_reference("localhost/platform/helper:1") == "localhost/platform/helper:1"


def test_recipes_say_which_images_are_stand_ins() -> None:
    standins = {recipe.ref for recipe in build.RECIPES if recipe.standin}
    assert standins == {"ghcr.io/goauthentik/server:2026.8.6", "docker.io/traefik/whoami:v1.11.0"}


# -- the registry ---------------------------------------------------------------------------


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[http.client.HTTPConnection, Path]]:
    layout = write_layout(tmp_path / "layouts" / "redis-7")
    write_layout(tmp_path / "layouts" / "authentik", "ghcr.io/goauthentik/server:2026.8.6")
    catalog = registry.Catalog(find_layouts([tmp_path / "layouts"]))
    server = registry.make_server("127.0.0.1:0", catalog)
    registry.serve_in_thread(server)
    connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
    yield connection, layout
    connection.close()
    server.shutdown()
    server.server_close()


def request(connection: http.client.HTTPConnection, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
    connection.request(method, path)
    response = connection.getresponse()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()


def test_registry_answers_the_version_check(served: tuple[http.client.HTTPConnection, Path]) -> None:
    status, _, _ = request(served[0], "GET", "/v2/")
    assert status == 200


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_registry_serves_a_manifest_by_the_mirrored_registry_and_tag(
    served: tuple[http.client.HTTPConnection, Path], method: str
) -> None:
    connection, layout = served
    digest, _ = manifest_of(layout)
    status, headers, body = request(connection, method, "/v2/library/redis/manifests/7-alpine?ns=docker.io")
    assert status == 200
    assert headers["content-type"] == MANIFEST_MEDIA_TYPE
    assert headers["docker-content-digest"] == digest
    assert int(headers["content-length"]) == len(blob(layout, digest))
    assert body == (blob(layout, digest) if method == "GET" else b"")


def test_registry_serves_a_manifest_by_digest(served: tuple[http.client.HTTPConnection, Path]) -> None:
    connection, layout = served
    digest, _ = manifest_of(layout)
    status, headers, body = request(connection, "GET", f"/v2/library/redis/manifests/{digest}?ns=docker.io")
    assert (status, headers["docker-content-digest"], sha256(body)) == (200, digest, digest)


def test_registry_serves_no_layer_as_a_manifest(served: tuple[http.client.HTTPConnection, Path]) -> None:
    connection, layout = served
    _, manifest = manifest_of(layout)
    path = f"/v2/library/redis/manifests/{manifest['layers'][0]['digest']}?ns=docker.io"
    assert request(connection, "GET", path)[0] == 404


def test_registry_serves_blobs(served: tuple[http.client.HTTPConnection, Path]) -> None:
    connection, layout = served
    _, manifest = manifest_of(layout)
    for descriptor in [manifest["config"], *manifest["layers"]]:
        path = f"/v2/library/redis/blobs/{descriptor['digest']}?ns=docker.io"
        status, headers, body = request(connection, "GET", path)
        assert (status, sha256(body), headers["docker-content-digest"]) == (200, descriptor["digest"], sha256(body))
        status, headers, _ = request(connection, "HEAD", path)
        assert (status, int(headers["content-length"])) == (200, descriptor["size"])


def test_registry_serves_other_registries_by_their_ns(served: tuple[http.client.HTTPConnection, Path]) -> None:
    status, _, _ = request(served[0], "HEAD", "/v2/goauthentik/server/manifests/2026.8.6?ns=ghcr.io")
    assert status == 200


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/v2/library/redis/manifests/7-alpine?ns=ghcr.io", "MANIFEST_UNKNOWN"),
        ("/v2/library/redis/manifests/6-alpine?ns=docker.io", "MANIFEST_UNKNOWN"),
        ("/v2/library/nginx/manifests/latest?ns=docker.io", "MANIFEST_UNKNOWN"),
        ("/v2/library/redis/blobs/sha256:" + "0" * 64 + "?ns=docker.io", "BLOB_UNKNOWN"),
        ("/v2/_catalog", "NAME_UNKNOWN"),
    ],
)
def test_registry_answers_404_with_the_error_body(
    served: tuple[http.client.HTTPConnection, Path], path: str, code: str
) -> None:
    status, headers, body = request(served[0], "GET", path)
    assert (status, headers["content-type"]) == (404, "application/json")
    assert json.loads(body)["errors"][0]["code"] == code


def test_registry_refuses_writes(served: tuple[http.client.HTTPConnection, Path]) -> None:
    status, _, _ = request(served[0], "PUT", "/v2/library/redis/manifests/7-alpine")
    assert status == 405


def test_registry_lists_what_it_serves(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    layout = write_layout(tmp_path / "redis-7")
    assert registry.main(["list", "--layouts", str(tmp_path)]) == 0
    digest, _ = manifest_of(layout)
    assert capsys.readouterr().out.split() == [REDIS, digest, str(layout)]
    assert [image.ref_name for image in read_layout(layout)] == [REDIS]


# -- the whoami stand-in ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def whoami(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    if shutil.which("go") is None:
        pytest.fail("go is not on PATH: install Go 1.26 (docs/toolchain.md) to build cluster/images/whoami")
    binary = tmp_path_factory.mktemp("whoami") / "whoami"
    subprocess.run(
        ["go", "build", "-trimpath", "-o", str(binary), "."],
        cwd=build.HERE / "whoami",
        env={**os.environ, **build.go_env()},
        check=True,
        capture_output=True,
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [str(binary)], env={**os.environ, "WHOAMI_PORT_NUMBER": str(port)}, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                pytest.fail("whoami did not listen on its WHOAMI_PORT_NUMBER")
            time.sleep(0.05)
    yield port
    process.terminate()
    process.wait(timeout=10)


def get(port: int, method: str, path: str, body: str | None = None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request(method, path, body=body, headers={"X-Probe": "yes"})
    response = connection.getresponse()
    result = response.status, response.read()
    connection.close()
    return result


def test_whoami_prints_the_request_it_received(whoami: int) -> None:
    status, body = get(whoami, "GET", "/anything?x=1")
    text = body.decode()
    assert status == 200
    assert text.startswith("Hostname: ")
    assert "IP: 127.0.0.1" in text
    assert "RemoteAddr: 127.0.0.1:" in text
    assert "GET /anything?x=1 HTTP/1.1" in text
    assert "X-Probe: yes" in text


def test_whoami_api_is_the_same_as_json(whoami: int) -> None:
    status, body = get(whoami, "GET", "/api")
    document = json.loads(body)
    assert status == 200
    assert (document["method"], document["url"], document["headers"]["X-Probe"]) == ("GET", "/api", ["yes"])


def test_whoami_health_answers_the_status_that_post_sets(whoami: int) -> None:
    assert get(whoami, "GET", "/health")[0] == 200
    assert get(whoami, "POST", "/health", "503")[0] == 200
    assert get(whoami, "GET", "/health")[0] == 503
    get(whoami, "POST", "/health", "200")
    assert get(whoami, "GET", "/health")[0] == 200


def test_whoami_data_answers_the_size_asked(whoami: int) -> None:
    status, body = get(whoami, "GET", "/data?size=3&unit=KB")
    assert (status, len(body)) == (200, 3 * 1024)


def masked_frame(opcode: int, payload: bytes) -> bytes:
    mask = os.urandom(4)
    header = bytes([0x80 | opcode])
    if len(payload) < 126:
        header += bytes([0x80 | len(payload)])
    else:
        header += bytes([0x80 | 126]) + struct.pack("!H", len(payload))
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def read_frame(conn: socket.socket) -> tuple[int, bytes]:
    def exactly(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            assert chunk, "the connection closed mid-frame"
            data += chunk
        return data

    first, second = exactly(2)
    assert second & 0x80 == 0, "a server frame must not be masked"
    length = second & 0x7F
    if length == 126:
        length = struct.unpack("!H", exactly(2))[0]
    elif length == 127:
        length = struct.unpack("!Q", exactly(8))[0]
    return first & 0x0F, exactly(length)


def test_whoami_echoes_websocket_messages(whoami: int) -> None:
    key = base64.b64encode(os.urandom(16)).decode()
    with socket.create_connection(("127.0.0.1", whoami), timeout=10) as conn:
        conn.sendall(
            (
                f"GET /echo HTTP/1.1\r\nHost: 127.0.0.1:{whoami}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        response = b""
        while b"\r\n\r\n" not in response:
            response += conn.recv(1024)
        head = response.decode().split("\r\n")
        accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
        assert head[0] == "HTTP/1.1 101 Switching Protocols"
        assert f"Sec-WebSocket-Accept: {accept.decode()}" in head
        conn.sendall(masked_frame(0x1, b"hello"))
        assert read_frame(conn) == (0x1, b"hello")
        payload = bytes(range(256)) * 2
        conn.sendall(masked_frame(0x2, payload))
        assert read_frame(conn) == (0x2, payload)
        conn.sendall(masked_frame(0x9, b"ping"))
        assert read_frame(conn) == (0xA, b"ping")
        conn.sendall(masked_frame(0x8, struct.pack("!H", 1000)))
        assert read_frame(conn) == (0x8, struct.pack("!H", 1000))


def test_whoami_refuses_a_plain_request_on_echo(whoami: int) -> None:
    assert get(whoami, "GET", "/echo")[0] == 400
