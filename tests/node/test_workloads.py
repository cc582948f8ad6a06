"""`make up` on the real node: every workload Ready by its own probes, and each
route answered by a pod of the right app through the port published on the host."""

from __future__ import annotations

import json
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
    nodes = node.objects("nodes")
    assert len(nodes) == 1 and "kwok.x-k8s.io/node" not in nodes[0]["metadata"].get("annotations", {}), nodes
    runtime = nodes[0]["status"]["nodeInfo"]["containerRuntimeVersion"]
    assert runtime.startswith("containerd://1.6"), runtime
    pod = node.objects("pods", "staging-web")[0]
    hostname = node.exec("staging-web", pod["metadata"]["name"], "/whoami", "--help", check=False)
    assert pod["status"]["podIP"].startswith("10.244."), pod["status"]
    assert hostname.returncode in (0, 2), hostname.stderr


def test_each_route_reaches_a_pod_of_its_app(node: Node) -> None:
    pods = {ns: {p["metadata"]["name"] for p in node.objects("pods", ns)} for ns in NAMESPACES}
    for path, namespace in (("/", "staging-web"), ("/api", "staging-core"), ("/ai", "staging-ai")):
        status, _, body = node.get(path)
        assert status == 200, (path, status, body)
        hostname = next(line.split(": ", 1)[1] for line in body.splitlines() if line.startswith("Hostname: "))
        assert hostname in pods[namespace], (path, hostname, pods[namespace])


def test_authentik_answers_under_auth(node: Node) -> None:
    status, _, body = node.get("/auth/-/health/ready/")
    assert status == 200, (status, body)
    status, _, body = node.get("/auth/")
    assert status in (200, 302), (status, body)
