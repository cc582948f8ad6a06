"""Run a rendered container as a local process, as the kubelet would run it.

The program is rendered under the unit harness's mocks (tests/unit/harness.py);
`LocalPod` takes one rendered workload and lays out what the kubelet gives its
containers: every volume becomes a directory under the test's tmp dir (ConfigMap
and Secret volumes filled from the rendered objects, items and all), environment
variables are resolved from their values, Secrets and ConfigMaps, and each path a
container mounts maps to its directory. Commands are the rendered ones; only the
mount paths in them are rewritten to the directories that stand for the volumes.

Where the pod's network namespace and the machine's differ, tests say so at the
call: servers listen on 127.0.0.1 on a free port instead of the pod's port.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.unit.harness import ROOT, Registration, Run

TOOLS_CACHE = Path(os.environ.get("PLATFORM_TOOLS_CACHE", Path.home() / ".cache" / "platform-tools"))


def pinned_versions() -> dict[str, str]:
    """tools/versions.env as a dict."""
    versions: dict[str, str] = {}
    for line in (ROOT / "tools" / "versions.env").read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            versions[key] = value
    return versions


def tool_dir(name: str, tool: str) -> Path:
    """A directory of the tool cache that tools/bootstrap.sh fills; fail (not skip) without it."""
    path = TOOLS_CACHE / "bin" / name
    if not path.is_dir():
        pytest.fail(
            f"{path} is missing: the real-server tests need `tools/bootstrap.sh {tool}` "
            "(run by `make test-real` and `make tools`)",
            pytrace=False,
        )
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(check: Callable[[], bool], what: str, timeout: float = 30.0, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    tail = log.read_text()[-3000:] if log is not None and log.exists() else ""
    raise AssertionError(f"{what} did not happen within {timeout:.0f}s\n{tail}")


class LocalPod:
    """The volumes, environment and paths of one rendered workload's pod."""

    def __init__(self, run: Run, workload: Registration, root: Path) -> None:
        self.run = run
        self.workload = workload
        self.spec = workload.pod_spec()
        self.namespace = workload.namespace
        self.root = root
        self.volumes: dict[str, Path] = {}
        root.mkdir(parents=True, exist_ok=True)
        claims = workload.inputs["spec"].get("volumeClaimTemplates", []) if workload.kind == "StatefulSet" else []
        for volume in [*self.spec.get("volumes", []), *({"name": c["metadata"]["name"]} for c in claims)]:
            self.volumes[volume["name"]] = self._materialize(volume)

    @property
    def run_as_user(self) -> int:
        return int(self.spec["securityContext"]["runAsUser"])

    def container(self, name: str) -> dict[str, Any]:
        every = [*self.spec.get("initContainers", []), *self.spec["containers"]]
        found = [c for c in every if c["name"] == name]
        assert len(found) == 1, f"{self.workload.k8s_name} has no container {name!r}"
        return dict(found[0])

    def _object(self, kind: str, name: str) -> dict[str, Any]:
        return self.run.one(kind, name, self.namespace).inputs

    def _data(self, kind: str, name: str) -> dict[str, str]:
        obj = self._object(kind, name)
        return {**obj.get("data", {}), **obj.get("stringData", {})}

    def _materialize(self, volume: Mapping[str, Any]) -> Path:
        path: Path = self.root / "volumes" / str(volume["name"])
        path.mkdir(parents=True)
        source: dict[str, Any] | None = None
        if "configMap" in volume:
            source = {"data": self._data("ConfigMap", volume["configMap"]["name"]), **volume["configMap"]}
        elif "secret" in volume:
            source = {"data": self._data("Secret", volume["secret"]["secretName"]), **volume["secret"]}
        if source is not None:
            data: dict[str, str] = source["data"]
            items = source.get("items") or [{"key": key, "path": key} for key in data]
            for item in items:
                (path / item["path"]).write_text(data[item["key"]])
        return path

    def env(self, container: str) -> dict[str, str]:
        """The container's environment, references resolved as the kubelet resolves them."""
        resolved: dict[str, str] = {}
        for entry in self.container(container).get("env", []):
            if "value" in entry:
                resolved[entry["name"]] = entry["value"]
                continue
            source = entry["valueFrom"]
            if "secretKeyRef" in source:
                ref = source["secretKeyRef"]
                resolved[entry["name"]] = self._data("Secret", ref["name"])[ref["key"]]
            else:
                ref = source["configMapKeyRef"]
                resolved[entry["name"]] = self._data("ConfigMap", ref["name"])[ref["key"]]
        return resolved

    def mounts(self, container: str) -> dict[str, Path]:
        """Mount path -> the directory standing for its volume."""
        return {m["mountPath"]: self.volumes[m["name"]] for m in self.container(container).get("volumeMounts", [])}

    def path(self, container: str, container_path: str) -> Path:
        """Where `container_path` (under one of the container's mounts) lives here."""
        for mount, host in sorted(self.mounts(container).items(), key=lambda item: -len(item[0])):
            if container_path == mount or container_path.startswith(mount.rstrip("/") + "/"):
                return host / container_path[len(mount) :].lstrip("/")
        raise AssertionError(f"{container_path} is on no volume of container {container!r}: it would not be writable")

    def localize(self, container: str, words: Sequence[str]) -> list[str]:
        """`words` with every mount path rewritten to its directory here."""
        mounts = self.mounts(container)
        # One pass, longest mount first, whole path components only: a rewritten
        # path is never rewritten again.
        pattern = re.compile(
            r"(?<![\w./-])(" + "|".join(re.escape(m) for m in sorted(mounts, key=len, reverse=True)) + r")(?=/|\b|$)"
        )
        return [pattern.sub(lambda match: str(mounts[match.group(1)]), word) for word in words]


def as_user(uid: int, command: Sequence[str]) -> list[str]:
    """`command` run as `uid`, as the pod's securityContext runs it.

    As root, a user namespace maps this process to `uid` (so the program sees the
    rendered non-root UID while the tool cache under a private home stays
    readable); as anyone else, the command runs as the current user.
    """
    if os.geteuid() != 0:
        return list(command)
    unshare = shutil.which("unshare")
    assert unshare is not None, "unshare (util-linux) is needed to run servers as the pod's non-root UID"
    return [unshare, "--user", f"--map-user={uid}", f"--map-group={uid}", *command]


def start(
    command: Sequence[str], *, log: Path, env: Mapping[str, str], cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(list(command), stdout=out, stderr=subprocess.STDOUT, env=dict(env), cwd=cwd)


def stop(process: subprocess.Popen[bytes], sig: int) -> int:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return int(process.returncode)


def tcp_open(port: int) -> subprocess.CompletedProcess[str]:
    """A tcpSocket probe: the pod's named port stands here for the server's local port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(3)
        code = probe.connect_ex(("127.0.0.1", port))
    return subprocess.CompletedProcess(["tcp", str(port)], 0 if code == 0 else 1, "", "")
