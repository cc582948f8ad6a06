"""Nothing leaves the machine: checked from the configuration and the routing
tables the node set up, never by sending traffic anywhere."""

from __future__ import annotations

import ipaddress
import json
import re
import subprocess
from pathlib import Path

from tests.node.conftest import Node

POD_RANGE = ipaddress.IPv4Network("10.244.0.0/16")
SERVICE_RANGE = ipaddress.IPv4Network("10.96.0.0/16")
NODE_RANGE = ipaddress.IPv4Network("172.18.0.0/16")


def sh(*command: str) -> str:
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def in_node(node: Node, *command: str) -> str:
    """COMMAND in the node's network and mount namespaces (where the pods' are)."""
    pid = (node.clone.path / ".state" / "node" / "init.pid").read_text().strip()
    return sh("nsenter", "-t", pid, "-m", "-n", *command)


def test_the_node_has_no_route_out(node: Node) -> None:
    table = json.loads(in_node(node, "ip", "-j", "route", "show"))
    assert table, "the node's namespace has no routes at all"
    assert not [r for r in table if r["dst"] == "default"], table
    for route in table:
        network = ipaddress.IPv4Network(route["dst"])
        assert any(network.subnet_of(r) for r in (POD_RANGE, NODE_RANGE)), route


def test_pods_route_only_to_the_pod_and_service_ranges(node: Node) -> None:
    namespaces = in_node(node, "ip", "netns", "list").split()
    pod_namespaces = [n for n in namespaces if n.startswith("cni-")]
    assert len(pod_namespaces) >= 8, namespaces
    for netns in pod_namespaces:
        table = json.loads(in_node(node, "ip", "netns", "exec", netns, "ip", "-j", "route", "show"))
        assert not [r for r in table if r["dst"] == "default"], (netns, table)
        for route in table:
            network = ipaddress.IPv4Network(route["dst"])
            assert network.subnet_of(POD_RANGE) or network.subnet_of(SERVICE_RANGE), (netns, route)


def test_the_bridge_does_not_masquerade(node: Node) -> None:
    conflist = json.loads((node.clone.path / ".state" / "node" / "cni" / "10-platform.conflist").read_text())
    bridge = next(p for p in conflist["plugins"] if p["type"] == "bridge")
    assert bridge["ipMasq"] is False
    nat = in_node(node, "iptables-save", "-t", "nat")
    # kube-proxy masquerades only packets it marked (hairpin traffic to a Service);
    # no rule masquerades by source range, as a bridge with ipMasq would.
    for line in nat.splitlines():
        if "MASQUERADE" in line:
            assert "KUBE-" in line and "-s " not in line, line


def test_dns_forwards_nowhere(node: Node) -> None:
    corefile = json.loads(node.kubectl("get", "configmap", "coredns", "-n", "kube-system", "-o", "json").stdout)
    text = corefile["data"]["Corefile"]
    assert "forward" not in text and "proxy" not in text, text
    resolv = (node.clone.path / ".state" / "node" / "resolv.conf").read_text().split()
    assert resolv == ["nameserver", "10.96.0.10"], resolv


def test_every_registry_resolves_to_the_nodes_own(node: Node) -> None:
    hosts = sorted((node.clone.path / ".state" / "node" / "registry").glob("*/hosts.toml"))
    assert {p.parent.name for p in hosts} >= {"docker.io", "ghcr.io", "registry.k8s.io", "_default"}
    for path in hosts:
        servers = re.findall(r'^(?:server = |\[host\.)"([^"]+)"', path.read_text(), re.M)
        assert servers and all(s.startswith("http://127.0.0.1:") for s in servers), (path, servers)


def test_the_host_drops_the_cluster_ranges_on_its_own_interfaces(node: Node) -> None:
    uplinks = {r["dev"] for r in json.loads(sh("ip", "-j", "route", "show", "default"))}
    rules = [line for line in sh("iptables-save", "-t", "filter").splitlines() if f"platform node {node.name}" in line]
    for dev in uplinks:
        for network in (POD_RANGE, SERVICE_RANGE, NODE_RANGE):
            for chain in ("OUTPUT", "FORWARD"):
                for direction in ("-s", "-d"):
                    assert any(
                        f"-A {chain} " in r and f"{direction} {network}" in r and f"-o {dev} " in r and "-j DROP" in r
                        for r in rules
                    ), (chain, direction, network, dev, rules)


def test_ports_are_published_on_loopback_only(node: Node) -> None:
    publisher = Path("/proc") / (node.clone.path / ".state" / "node" / "publish.pid").read_text().strip()
    assert publisher.exists(), "the port publisher is not running"
    listening = [line.split()[3] for line in sh("ss", "-Hltnp").splitlines() if f"pid={publisher.name}," in line]
    assert len(listening) == 3, listening
    assert all(address.startswith("127.") for address in listening), listening
