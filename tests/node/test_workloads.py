"""`make up` on the real node: every workload Ready by its own probes, and each
route answered by a pod of the right app through the port published on the host."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import time

from tests.node.conftest import NAMESPACES, Node


def pod_states(node: Node) -> dict[str, str]:
    """Each platform pod: 'ready' or why not (phase, waiting reasons, restarts)."""
    states = {}
    for namespace in NAMESPACES:
        for pod in node.objects("pods", namespace):
            if pod["status"].get("phase") == "Succeeded":
                continue
            name = f"{namespace}/{pod['metadata']['name']}"
            statuses = pod["status"].get("containerStatuses", [])
            ready = bool(statuses) and all(s["ready"] for s in statuses)
            restarts = sum(s["restartCount"] for s in statuses)
            if ready and restarts == 0:
                states[name] = "ready"
            else:
                states[name] = json.dumps(
                    {
                        "phase": pod["status"].get("phase"),
                        "restarts": restarts,
                        "states": [s["state"] for s in statuses],
                    }
                )
    return states


def test_make_up_prints_the_url_and_the_stand_ins(node: Node) -> None:
    assert "http://localhost/" in node.up_output, node.up_output[-3000:]
    assert "stand-in" in node.up_output, node.up_output[-3000:]


def test_every_workload_runs_ready_with_no_restart(node: Node) -> None:
    states = pod_states(node)
    expected = {"staging-infra", "staging-core", "staging-ai", "staging-web", "staging-gateway"}
    assert {name.split("/")[0] for name in states} == expected, states
    assert set(states.values()) == {"ready"}, states
    # Still so a while later: a probe that passes once and then fails shows as restarts.
    time.sleep(30)
    assert set(pod_states(node).values()) == {"ready"}, pod_states(node)


def test_pods_run_in_containers_on_the_node(node: Node) -> None:
    (only,) = node.objects("nodes")
    assert "kwok.x-k8s.io/node" not in only["metadata"].get("annotations", {}), only["metadata"]
    assert only["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://1.6"), only["status"]
    command = node.exec("staging-infra", "postgres-0", "cat", "/proc/1/cmdline").stdout
    assert command.split("\0")[0] == "postgres", command
    assert node.objects("pods", "staging-infra")[0]["status"]["podIP"].startswith("10.244.")


def served_by(body: str) -> str:
    """The pod that answered: whoami's `Hostname:` line, or `hostname` of its JSON (/api)."""
    if body.startswith("{"):
        return str(json.loads(body)["hostname"])
    return next(line.split(": ", 1)[1] for line in body.splitlines() if line.startswith("Hostname: "))


def test_each_route_reaches_a_pod_of_its_app(node: Node) -> None:
    pods = {ns: {p["metadata"]["name"] for p in node.objects("pods", ns)} for ns in NAMESPACES}
    for path, namespace in (("/", "staging-web"), ("/api", "staging-core"), ("/ai", "staging-ai")):
        status, _, body = node.get(path)
        assert status == 200, (path, status, body)
        assert served_by(body) in pods[namespace], (path, body[:400], pods[namespace])


def test_path_boundaries_hold(node: Node) -> None:
    # A Prefix path matches by path element (the Ingress spec): /apidocs is not /api.
    for path, not_namespace in (("/apidocs", "staging-core"), ("/authors", "staging-infra"), ("/aide", "staging-ai")):
        status, _, body = node.get(path)
        pods = {p["metadata"]["name"] for p in node.objects("pods", not_namespace)}
        answered = served_by(body) if "Hostname: " in body or body.startswith("{") else ""
        assert answered not in pods, (path, status, body[:400])


def test_the_gateway_sets_forwarded_headers(node: Node) -> None:
    _, _, body = node.get("/ai", {"X-Forwarded-For": "203.0.113.9"})
    headers = {line.split(": ", 1)[0].lower(): line.split(": ", 1)[1] for line in body.splitlines() if ": " in line}
    assert headers.get("x-forwarded-host") == "localhost", body
    assert headers.get("x-forwarded-proto") == "http", body
    assert headers.get("x-forwarded-port") == "80", body
    # What a client claims is not passed on: the gateway names the peer it saw.
    assert "203.0.113.9" not in headers.get("x-forwarded-for", ""), body


def test_authentik_answers_under_auth(node: Node) -> None:
    status, _, body = node.get("/auth/-/health/ready/")
    assert status == 200, (status, body)
    status, _, body = node.get("/auth/")
    assert status in (200, 302), (status, body)


def test_a_websocket_on_api_goes_through_the_gateway_and_echoes(node: Node) -> None:
    key = base64.b64encode(os.urandom(16)).decode()
    with socket.create_connection(("127.0.0.1", node.http_port), timeout=10) as sock:
        sock.sendall(
            (
                "GET /api HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(1024)
        status, _, rest = head.partition(b"\r\n\r\n")
        accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
        headers = dict(line.split(b": ", 1) for line in status.split(b"\r\n")[1:])
        accepted = {name.lower(): value for name, value in headers.items()}.get(b"sec-websocket-accept")
        assert status.startswith(b"HTTP/1.1 101") and accepted == accept, status
        message = b"hello through the gateway"
        mask = os.urandom(4)
        sock.sendall(bytes([0x81, 0x80 | len(message)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(message)))
        frame = rest
        while len(frame) < 2 + len(message):
            frame += sock.recv(1024)
        assert frame[0] == 0x81 and frame[1] == len(message), frame
        assert frame[2 : 2 + len(message)] == message
