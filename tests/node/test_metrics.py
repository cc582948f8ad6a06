"""With `platform:metrics` on, every metrics port serves the scraper and nobody else:
the exporters beside PostgreSQL and Redis report their servers up (they logged in
with the platform's credentials), Authentik and Traefik answer on their own ports,
and pods outside the scraper namespace, or in it without the scraper's labels, are
refused, including pods in the same namespace as the server and the gateway."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.node.conftest import (
    NAMESPACES,
    WAIT_FOR_DNS,
    Node,
    make,
    reachable,
    run_pod,
    template_labels,
    workload_of,
)

SCRAPER_NAMESPACE = "monitoring"
SCRAPER = {"app.kubernetes.io/name": "prometheus"}
# Each workload with a metrics port, and a line its /metrics shows when the thing it
# measures works: the exporters' `*_up 1` needs a login to their server.
EXPECTED = {
    "staging-infra/postgres": r"^pg_up 1$",
    "staging-infra/authentik-postgres": r"^pg_up 1$",
    "staging-infra/redis": r"^redis_up 1$",
    "staging-infra/authentik-server": r"^authentik_standin_database_ready 1$",
    "staging-gateway/gateway": r"^traefik_config_reloads_total ",
}


@pytest.fixture(scope="module")
def endpoints(node: Node) -> dict[str, str]:
    """Metrics on, scraped by pods labelled `SCRAPER` in `SCRAPER_NAMESPACE`; each
    workload's metrics `pod-ip:port`."""
    node.pulumi("config", "set", "--path", "platform:metrics.enabled", "true")
    node.pulumi("config", "set", "--path", "platform:metrics.scraperNamespace", SCRAPER_NAMESPACE)
    node.pulumi("config", "set", "--path", 'platform:metrics.scraperPodLabels["app.kubernetes.io/name"]', "prometheus")
    make(node.clone, "up")
    node.rolled_out()
    node.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": SCRAPER_NAMESPACE}})
    found = {}
    for namespace in NAMESPACES:
        for pod in node.objects("pods", namespace):
            if "deletionTimestamp" in pod["metadata"] or not pod["status"].get("podIP"):
                continue
            for container in pod["spec"]["containers"]:
                for port in container.get("ports", []):
                    if port.get("name") == "metrics":
                        found[f"{namespace}/{workload_of(pod)}"] = f"{pod['status']['podIP']}:{port['containerPort']}"
    return found


def test_every_metrics_port_serves_the_scraper(node: Node, endpoints: dict[str, str]) -> None:
    assert set(endpoints) == set(EXPECTED), endpoints
    # `up` has just restarted the databases with their exporters: the servers that
    # use them report it until their next check, so the scrape is repeated a while.
    deadline = time.monotonic() + 120
    while True:
        pages = scrape(node, SCRAPER_NAMESPACE, SCRAPER, list(endpoints.values()))
        wrong = {
            n: pages[t][-2000:] for n, t in endpoints.items() if not re.search(EXPECTED[n], pages[t], re.MULTILINE)
        }
        if not wrong or time.monotonic() > deadline:
            break
        time.sleep(5)
    assert wrong == {}


def test_no_one_else_reaches_a_metrics_port(node: Node, endpoints: dict[str, str]) -> None:
    targets = list(endpoints.values())
    strangers: list[tuple[str, dict[str, str]]] = [
        (SCRAPER_NAMESPACE, {"app.kubernetes.io/name": "grafana"}),
        ("staging-infra", {"app.kubernetes.io/name": "stranger"}),
        ("staging-infra", template_labels(node, "deployment", "staging-infra", "authentik-server")),
        ("staging-gateway", template_labels(node, "deployment", "staging-gateway", "gateway")),
        ("staging-core", template_labels(node, "deployment", "staging-core", "core")),
    ]
    # The strangers' probes run at once: each waits out its ten attempts per port.
    with ThreadPoolExecutor(len(strangers)) as pool:
        flows = list(pool.map(lambda stranger: reachable(node, stranger[0], stranger[1], targets), strangers))
    opened = [(stranger, flow) for stranger, flow in zip(strangers, flows, strict=True) if any(flow.values())]
    assert opened == []


def scrape(node: Node, namespace: str, labels: dict[str, str], targets: list[str]) -> dict[str, str]:
    """GET /metrics on each `ip:port` of `targets` from a pod with `labels` in
    `namespace`: each response, retried for ten seconds while the enforcer takes the
    new pod in."""
    script = (
        f"{WAIT_FOR_DNS}"
        'for target in $TARGETS; do echo "== $target"; for _ in $(seq 10); do '
        "if page=$(timeout 5 bash -c 'exec 3<>/dev/tcp/${0%:*}/${0##*:} && "
        'printf "GET /metrics HTTP/1.0\\r\\nHost: $0\\r\\n\\r\\n" >&3 && cat <&3\' "$target" 2>/dev/null); '
        'then echo "$page"; break; fi; sleep 1; done; done'
    )
    output = run_pod(node, namespace, labels, script, env={"TARGETS": " ".join(targets)})
    pages: dict[str, str] = {}
    target = ""
    for line in output.splitlines():
        if line.startswith("== "):
            target = line.removeprefix("== ")
            pages[target] = ""
        elif target:
            pages[target] += line.rstrip("\r") + "\n"
    assert set(pages) == set(targets), output
    return pages
