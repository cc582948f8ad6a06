"""A workload whose readiness probe fails is not Ready on the real node, and `make up`
fails within `platform:rolloutTimeout` saying which pods and why; the pods it was
replacing keep serving meanwhile, and the next `up` with the fix rolls it out."""

from __future__ import annotations

from tests.node.conftest import Node, make, stack_config


def test_a_failing_probe_shows_as_not_ready_in_make_ups_error(node: Node) -> None:
    apps = [a["name"] for a in stack_config(node)["platform:apps"]]
    port_key = f"platform:apps[{apps.index('web')}].env.WHOAMI_PORT_NUMBER"
    node.pulumi("config", "set", "platform:rolloutTimeout", "60s")
    # The app now listens on 8081 while its probe and Service stay on 8080.
    node.pulumi("config", "set", "--path", port_key, "8081")
    failed = make(node.clone, "up", check=False)
    output = failed.stdout + failed.stderr
    assert failed.returncode != 0, output
    assert "staging-web/web" in output and "unready status: [web]" in output, output[-4000:]
    assert sorted(readiness(node).values()) == [False, True], readiness(node)
    assert node.get("/")[0] == 200

    node.pulumi("config", "set", "--path", port_key, "8080")
    make(node.clone, "up")
    node.rolled_out()
    assert list(readiness(node).values()) == [True], readiness(node)


def readiness(node: Node) -> dict[str, bool]:
    """Whether each pod of the web app that is not terminating is Ready."""
    return {
        p["metadata"]["name"]: all(s["ready"] for s in p["status"].get("containerStatuses", [{"ready": False}]))
        for p in node.objects("pods", "staging-web")
        if "deletionTimestamp" not in p["metadata"]
    }
