"""`make cluster-down` leaves nothing of a real node behind: no process, mount,
interface, network namespace, cgroup, packet filter rule or file."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

POD = """
apiVersion: v1
kind: Pod
metadata: {name: scratch, namespace: default}
spec:
  containers:
  - name: whoami
    image: traefik/whoami:v1.11.0
    args: [--port, "8080"]
    volumeMounts: [{name: scratch, mountPath: /scratch}, {name: data, mountPath: /data}]
    readinessProbe: {httpGet: {path: /health, port: 8080}}
  volumes:
  - {name: scratch, emptyDir: {}}
  - {name: data, persistentVolumeClaim: {claimName: data}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: default}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Mi}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def snapshot(name: str) -> dict[str, list[str]]:
    """What the machine shows of a node named `name`, however it was left."""

    def lines(*command: str) -> list[str]:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        return result.stdout.splitlines()

    processes = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                mounts = (proc / "mountinfo").read_text()
            except OSError:
                continue
            if name in cmdline:
                processes.append(f"{proc.name}: {cmdline}")
            if name in mounts:
                processes.append(f"{proc.name} sees mounts of {name}")
    cgroups = [str(p) for p in Path("/sys/fs/cgroup").glob(f"*/{name}")] + [
        str(p) for p in Path("/sys/fs/cgroup").glob(name)
    ]
    return {
        "processes or mounts": processes,
        "cgroups": cgroups,
        "network namespaces": [n for n in lines("ip", "netns", "list") if name in n],
        "iptables rules": [r for r in lines("iptables-save") if name in r],
        "nftables rules": [r for r in lines("nft", "list", "ruleset") if name in r],
        "files": [str(p) for p in (Path("/var/lib/platform-nodes") / name,) if p.exists()],
    }


@pytest.fixture
def cluster_env(tmp_path: Path) -> dict[str, str]:
    return os.environ | {
        "PLATFORM_CLUSTER_RUNTIME": "node",
        "PLATFORM_CLUSTER_NAME": f"platform-lifecycle-{os.getpid()}",
        "PLATFORM_CLUSTER_STATE": str(tmp_path / "state"),
        "PLATFORM_CLUSTER_HTTP_PORT": str(free_port()),
        "PLATFORM_CLUSTER_HTTPS_PORT": str(free_port()),
    }


def test_cluster_down_leaves_nothing_behind(cluster_env: dict[str, str], tmp_path: Path) -> None:
    name = cluster_env["PLATFORM_CLUSTER_NAME"]
    links_before = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    try:
        subprocess.run([str(ROOT / "cluster" / "up.sh")], env=cluster_env, check=True, timeout=900)
        kubeconfig = str(tmp_path / "state" / "kubeconfig")
        kubectl = ["kubectl", "--kubeconfig", kubeconfig]
        subprocess.run([*kubectl, "apply", "-f", "-"], input=POD, text=True, env=cluster_env, check=True)
        subprocess.run(
            [*kubectl, "wait", "--for=condition=Ready", "pod/scratch", "--timeout=300s"], env=cluster_env, check=True
        )
        running = snapshot(name)
        assert running["processes or mounts"] and running["cgroups"] and running["network namespaces"], running
        assert running["iptables rules"], running
    finally:
        subprocess.run([str(ROOT / "cluster" / "down.sh")], env=cluster_env, check=True, timeout=300)
    left = snapshot(name)
    assert not any(left.values()), left
    links_after = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    assert sorted(line.split(":")[1] for line in links_after.splitlines()) == sorted(
        line.split(":")[1] for line in links_before.splitlines()
    )
