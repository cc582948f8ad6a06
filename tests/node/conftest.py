"""The real-node suite: the local stack as a user brings it up, on a kubelet that
runs every pod in a real container.

One fresh clone of this repository runs `make up`, exactly as the README says;
on this machine (Linux, root, no kind) that starts the real node (cluster/node/),
builds the images (cluster/images/) and deploys the local stack. The tests then
look at what the pods do, through the ports the node publishes on 127.0.0.1 and
through `kubectl exec`. `make down` in the clone removes it all at the end, also
when a test fails.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.documented import ROLLOUT_WAIT
from tests.e2e.test_readme import FreshClone, failed, user_shell
from tests.e2e.test_user_path import Clone

ROOT = Path(__file__).resolve().parents[2]
NAMESPACES = ("staging-infra", "staging-core", "staging-ai", "staging-web", "staging-gateway")
MAKE_TIMEOUT = 2400


@dataclass
class Node:
    """The clone, its cluster (what `make up` started) and the published gateway."""

    clone: Clone
    up_output: str
    http_port: int = 80

    @property
    def name(self) -> str:
        return (self.clone.path / ".state" / "node" / "name").read_text().strip()

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.clone.kubectl(*args, check=check)

    def objects(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        scope = ["-n", namespace] if namespace else ["-A"]
        return list(json.loads(self.kubectl("get", kind, *scope, "-o", "json").stdout)["items"])

    def pod(self, namespace: str, workload: str) -> str:
        """The name of a serving pod of `workload` (a Deployment's pods are <name>-<hash>-<id>,
        a StatefulSet's <name>-<ordinal>), waiting up to 3 minutes for one: right after
        a rollout the pod it replaced may still be terminating."""
        deadline = time.monotonic() + 180
        while True:
            for pod in self.objects("pods", namespace):
                name = str(pod["metadata"]["name"])
                statuses = pod["status"].get("containerStatuses", [])
                serving = (
                    pod["status"].get("phase") == "Running"
                    and "deletionTimestamp" not in pod["metadata"]
                    and bool(statuses)
                    and all(s["ready"] for s in statuses)
                )
                if serving and workload in (name.rsplit("-", 2)[0], name.rsplit("-", 1)[0]):
                    return name
            if time.monotonic() > deadline:
                raise AssertionError(f"no pod of {namespace}/{workload} is serving")
            time.sleep(1)

    def exec(self, namespace: str, target: str, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.kubectl("exec", "-n", namespace, target, "--", *command, check=check)

    def apply(self, *objects: dict[str, Any]) -> None:
        """`kubectl apply` of Kubernetes objects given as dicts."""
        documents = {"apiVersion": "v1", "kind": "List", "items": list(objects)}
        subprocess.run(
            ["kubectl", "--kubeconfig", str(self.clone.kubeconfig), "apply", "-f", "-"],
            input=json.dumps(documents),
            env=self.clone.env,
            capture_output=True,
            text=True,
            check=True,
        )

    def pulumi(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Plain pulumi on the clone's stack, with make's backend and passphrase."""
        return self.clone.run(
            "bash",
            "-c",
            ". tools/env.sh && PULUMI_BACKEND_URL=file://$PWD/.state/backend "
            'PULUMI_CONFIG_PASSPHRASE_FILE=$PWD/.state/passphrase pulumi "$@" --stack local --non-interactive',
            "pulumi",
            *args,
            check=check,
        )

    def up(self) -> subprocess.CompletedProcess[str]:
        """`pulumi up` on the clone's stack, then `rolled_out`."""
        result = self.pulumi("up", "--yes", "--skip-preview", "--parallel", "64")
        self.rolled_out()
        return result

    def rolled_out(self) -> None:
        """Wait for every Deployment and StatefulSet of the platform to finish rolling
        out, with the block docs/operations.md gives for it, as written: `up` can return before
        the controllers have taken a new template in (pulumi-kubernetes 4.25: the
        Deployment "complete" at 0 s, the old pods still serving)."""
        done = FreshClone(self.clone.path).bash(ROLLOUT_WAIT)
        assert done.returncode == 0, failed(ROLLOUT_WAIT, done)

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
        """GET `path` from the gateway through the port published on the host."""
        connection = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=10)
        try:
            connection.request("GET", path, headers={"Host": "localhost", **(headers or {})})
            response = connection.getresponse()
            body = response.read().decode(errors="replace")
            return response.status, {k.lower(): v for k, v in response.getheaders()}, body
        finally:
            connection.close()


def make(clone: Clone, *targets: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """`make TARGETS` in the clone, from a new user's shell (no tool on PATH)."""
    result = subprocess.run(
        ["make", *targets],
        cwd=clone.path,
        env=user_shell(),
        capture_output=True,
        text=True,
        timeout=MAKE_TIMEOUT,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"`make {' '.join(targets)}` failed ({result.returncode}) in {clone.path}:\n"
            f"{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
        )
    return result


@pytest.fixture(scope="session")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """`make up` in a fresh clone, from a new user's shell: what the README says."""
    path = tmp_path_factory.mktemp("node") / "platform"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(path)], check=True)
    # The tests' own kubectl and pulumi calls come from the tool cache.
    clone = Clone(path, {k: v for k, v in os.environ.items() if not k.startswith(("PLATFORM_CLUSTER_", "KUBECONFIG"))})
    try:
        up = make(clone, "up")
        yield Node(clone, up.stdout + up.stderr)
    finally:
        down = make(clone, "down", check=False)
        if down.returncode != 0:
            subprocess.run([str(clone.path / "cluster" / "down.sh")], cwd=clone.path, env=clone.env, check=False)


def serving_pods(node: Node) -> dict[str, str]:
    """Uid to name of the platform's pods, leaving out the ones a rollout is replacing."""
    return {
        p["metadata"]["uid"]: p["metadata"]["name"]
        for ns in NAMESPACES
        for p in node.objects("pods", ns)
        if "deletionTimestamp" not in p["metadata"]
    }


def workload_of(pod: dict[str, Any]) -> str:
    """The workload a pod belongs to, from its owner: a Deployment's pod is owned by a
    ReplicaSet `<deployment>-<hash>`, a StatefulSet's by the set; a bare pod is its own."""
    meta = pod["metadata"]
    owner = (meta.get("ownerReferences") or [{"kind": "", "name": meta["name"]}])[0]
    name: str = owner["name"]
    return name.rsplit("-", 1)[0] if owner["kind"] == "ReplicaSet" else name


def stack_config(node: Node) -> dict[str, Any]:
    return dict(yaml.safe_load((node.clone.path / "Pulumi.local.yaml").read_text())["config"])


# The probe's image: one the node already has (the application database's), with
# bash for `/dev/tcp`, getent for DNS and psql.
PROBE_IMAGE = "pgvector/pgvector:pg17"
RESTRICTED: dict[str, object] = {
    "runAsNonRoot": True,
    "runAsUser": 999,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def template_labels(node: Node, kind: str, namespace: str, name: str) -> dict[str, str]:
    """The labels a workload's pods carry: what its NetworkPolicies select."""
    workload = json.loads(node.kubectl("get", kind, name, "-n", namespace, "-o", "json").stdout)
    return dict(workload["spec"]["template"]["metadata"]["labels"])


def run_pod(
    node: Node,
    namespace: str,
    labels: dict[str, str],
    script: str,
    env: dict[str, str] | None = None,
    image: str = PROBE_IMAGE,
) -> str:
    """Run `script` (bash) in a one-off pod of `image` with `labels` in `namespace`; its output.

    The pod carries the labels of the workload it stands for, so the NetworkPolicies
    that apply to it are exactly that workload's; it is never Ready, so no Service
    sends it the workload's traffic. It is deleted afterwards.
    """
    name = f"probe-{os.urandom(4).hex()}"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {**labels, "platform-test": "probe"}},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "containers": [
                {
                    "name": "probe",
                    "image": image,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["bash", "-c", script],
                    "env": [{"name": k, "value": v} for k, v in (env or {}).items()],
                    "securityContext": RESTRICTED,
                    # Never Ready, so never an endpoint of the Services that select the
                    # workload's labels: traffic for the workload never reaches it.
                    "readinessProbe": {"exec": {"command": ["false"]}, "periodSeconds": 3600},
                    "resources": {
                        "requests": {"cpu": "10m", "memory": "32Mi", "ephemeral-storage": "16Mi"},
                        "limits": {"cpu": "200m", "memory": "128Mi", "ephemeral-storage": "64Mi"},
                    },
                }
            ],
        },
    }
    node.apply(pod)
    try:
        node.kubectl(
            "wait",
            "-n",
            namespace,
            f"pod/{name}",
            "--for=jsonpath={.status.phase}=Succeeded",
            "--timeout=120s",
            check=False,
        )
        logs = node.kubectl("logs", "-n", namespace, name, check=False)
        return logs.stdout + logs.stderr
    finally:
        node.kubectl("delete", "pod", "-n", namespace, name, "--wait=false", check=False)


# Bash that waits up to 30 s for the probe pod's DNS: the enforcer has synced its own
# side of the new pod's rules once DNS answers.
WAIT_FOR_DNS = (
    "for _ in $(seq 30); do getent hosts kubernetes.default.svc.cluster.local >/dev/null && break; sleep 1; done; "
)


def reachable(node: Node, namespace: str, labels: dict[str, str], targets: list[str]) -> dict[str, bool]:
    """Whether a pod with `labels` in `namespace` can open a TCP connection to each
    `host:port` of `targets`: open if one of 10 attempts a second apart connects."""
    lines = " ".join(f"'{t}'" for t in targets)
    # The enforcer admits a new pod's flows once it has synced its rules for it, on
    # both ends: DNS answering shows its own side; the attempts, all targets at once,
    # give the other ends' rules the time to take the new pod in.
    script = (
        f"{WAIT_FOR_DNS}"
        f"for target in {lines}; do ( host=${{target%:*}}; port=${{target##*:}}; "
        "for _ in $(seq 10); do "
        'if timeout 1 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null; then echo "$target open"; exit; fi; '
        'sleep 1; done; echo "$target closed" ) & done; wait'
    )
    output = run_pod(node, namespace, labels, script)
    result = {}
    for line in output.splitlines():
        target, _, state = line.rpartition(" ")
        if target in targets:
            result[target] = state == "open"
    assert set(result) == set(targets), output
    return result
