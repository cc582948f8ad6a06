"""Helpers for tests/e2e/test_resilience.py: the Pulumi CLI as a subprocess (so it can
be signalled midway), the file backend's checkpoint and locks, the objects the
program manages in the cluster, and the kwok control plane's processes.

Everything here acts only on processes these tests start and on the cluster named
by the e2e KUBECONFIG.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pulumi import automation as auto

from tests.e2e.conftest import KUBECONFIG, ROOT, Deployer, kubectl

CLI_TIMEOUT = 900  # longer than the provider's own 10-minute readiness waits
LOCAL_CONFIG: dict[str, Any] = yaml.safe_load((ROOT / "Pulumi.local.yaml").read_text())["config"]
PLATFORM_NAMESPACES: list[str] = [ns["name"] for ns in LOCAL_CONFIG["platform:namespaces"]]
# Namespaced kinds whose every object the program names explicitly. Claims are left
# out: a StatefulSet's volumeClaimTemplate makes `data-postgres-0`, not Pulumi.
INVENTORY_KINDS = (
    "deployments.apps,statefulsets.apps,services,configmaps,secrets,serviceaccounts,"
    "networkpolicies.networking.k8s.io,ingresses.networking.k8s.io,poddisruptionbudgets.policy"
)
INVENTORY_KIND_NAMES = {
    "Deployment",
    "StatefulSet",
    "Service",
    "ConfigMap",
    "Secret",
    "ServiceAccount",
    "NetworkPolicy",
    "Ingress",
    "PodDisruptionBudget",
}
MANAGED = "app.kubernetes.io/managed-by=pulumi"
# One progress line of the non-interactive display, e.g.
# " +  kubernetes:apps/v1:Deployment apps-core-deployment created (0.58s) "
PROGRESS = re.compile(r"^\s*\+\s+(?P<type>\S+)\s+(?P<name>\S+)\s+(?P<state>creating failed|creating|created)\b")
LOCKED = "the stack is currently locked by 1 lock(s)"


# --- results ---------------------------------------------------------------------------------------------------------

RESULTS: dict[str, dict[str, Any]] = {}


def record(scenario: str, **figures: Any) -> None:
    """Keep a scenario's measured figures: printed (pytest -s) and, at the end of the
    module, written to $PLATFORM_RESILIENCE_REPORT when it is set."""
    RESULTS.setdefault(scenario, {}).update(figures)
    print(f"[resilience] {scenario}: " + ", ".join(f"{key}={value!r}" for key, value in figures.items()))


def write_report() -> None:
    target = os.environ.get("PLATFORM_RESILIENCE_REPORT")
    if target:
        Path(target).write_text(json.dumps(RESULTS, indent=2, sort_keys=True) + "\n")


# --- processes -------------------------------------------------------------------------------------------------------


def _stat(pid: int | str) -> list[str] | None:
    """/proc/<pid>/stat after "pid (comm) ": state, ppid, ..., starttime at [19]."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()


Processes = dict[int, str]
"""pid -> start time: a pid is only acted on while it still names the same process."""


def descendants(pid: int) -> Processes:
    """Every process below `pid` (plugins: the language host, the program, providers).
    Call it only while `pid` is running or not yet reaped, so it can't be reused."""
    children: dict[int, list[tuple[int, str]]] = {}
    for entry in Path("/proc").iterdir():
        fields = _stat(entry.name) if entry.name.isdigit() else None
        if fields is not None:
            children.setdefault(int(fields[1]), []).append((int(entry.name), fields[19]))
    found: Processes = {}
    pending = [pid]
    while pending:
        for child, started in children.get(pending.pop(), []):
            found[child] = started
            pending.append(child)
    return found


def alive(pid: int, started: str | None = None) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z" and started in (None, fields[19])


def kill_pids(processes: Processes) -> None:
    for pid, started in processes.items():
        if alive(pid, started):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@dataclass
class Result:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def describe(self) -> str:
        output = self.output if len(self.output) < 6000 else "...\n" + self.output[-6000:]
        return f"`pulumi {' '.join(self.args)}` exited {self.returncode} after {self.seconds:.1f}s:\n{output}"


class Running:
    """A `pulumi` subprocess whose output is read line by line as it runs."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.args = args
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            ["pulumi", *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.plugins: Processes = {}
        self._lines: list[str] = []
        self._guard = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._guard:
                self._lines.append(line)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        with self._guard:
            return "".join(self._lines)

    def progress(self) -> tuple[set[str], set[str]]:
        """(created, in flight): custom resources (provider operations, not components or
        the stack) that the update finished / started and not finished."""
        created: set[str] = set()
        started: set[str] = set()
        failed: set[str] = set()
        with self._guard:
            lines = list(self._lines)
        for line in lines:
            match = PROGRESS.match(line)
            if not match or match["type"].startswith(("platform:", "pulumi:pulumi:")):
                continue
            name, state = match["name"], match["state"]
            if state == "created":
                created.add(name)
            elif state == "creating":
                started.add(name)
            else:
                failed.add(name)
        return created, started - created - failed

    def wait_until(self, condition: Callable[[], bool], what: str, timeout: float = 600) -> float:
        """Poll `condition` while the process runs; returns the seconds since start."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                self.plugins.update(descendants(self.pid))
                return time.monotonic() - self.started
            if self.proc.poll() is not None:
                raise AssertionError(f"`pulumi {' '.join(self.args)}` ended before {what}:\n{self.output()}")
            self.plugins.update(descendants(self.pid))
            time.sleep(0.05)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}:\n{self.output()}")

    def signal(self, signum: int) -> None:
        self.plugins.update(descendants(self.pid))
        os.kill(self.pid, signum)

    def wait(self, timeout: float = CLI_TIMEOUT) -> Result:
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired as error:
            self.stop()
            raise AssertionError(f"`pulumi {' '.join(self.args)}` still running after {timeout}s") from error
        self._reader.join(timeout=10)
        return Result(self.args, code, self.output(), "", time.monotonic() - self.started)

    def stop(self) -> None:
        """Kill the CLI and every plugin it started (teardown; idempotent)."""
        if self.proc.poll() is None:
            self.plugins.update(descendants(self.pid))
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(timeout=30)
        kill_pids(self.plugins)


# --- one stack through the CLI ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    urns: set[str]
    objects: set[tuple[str, str, str]]


@dataclass
class StackCli:
    """`pulumi ... --stack <name>` in the deployer's scratch work dir, with its env."""

    deployer: Deployer
    name: str
    stack: auto.Stack
    running: list[Running] = field(default_factory=list)

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {**os.environ, **self.deployer.env, **(extra or {})}

    def _args(self, args: tuple[str, ...]) -> list[str]:
        return [*args, "--stack", self.name, "--color", "never", "--non-interactive"]

    def run(self, *args: str, timeout: float = CLI_TIMEOUT, env: dict[str, str] | None = None) -> Result:
        full = self._args(args)
        started = time.monotonic()
        try:
            done = subprocess.run(
                ["pulumi", *full],
                cwd=self.deployer.work_dir,
                env=self.env(env),
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise AssertionError(f"`pulumi {' '.join(full)}` still running after {timeout}s") from error
        return Result(full, done.returncode, done.stdout, done.stderr, time.monotonic() - started)

    def ok(self, *args: str, timeout: float = CLI_TIMEOUT, env: dict[str, str] | None = None) -> Result:
        result = self.run(*args, timeout=timeout, env=env)
        assert result.returncode == 0, result.describe()
        return result

    def start(self, *args: str) -> Running:
        running = Running(self._args(args), self.deployer.work_dir, self.env())
        self.running.append(running)
        return running

    # state
    def export(self) -> dict[str, Any]:
        """The checkpoint as `pulumi stack export` prints it (secrets stay encrypted)."""
        done = self.ok("stack", "export")
        deployment: dict[str, Any] = json.loads(done.stdout)["deployment"]
        return deployment

    def urns(self) -> list[str]:
        return [resource["urn"] for resource in self.export().get("resources") or []]

    def pending(self) -> list[str]:
        return [f"{op['type']} {op['resource']['urn']}" for op in self.export().get("pending_operations") or []]

    def expect(self) -> Expected:
        """What a clean `pulumi up` of this stack creates, from its preview: the URNs and
        the inventoried (kind, namespace, name) objects. Call it before the first `up`."""
        done = self.ok("preview", "--json")
        steps = json.loads(done.stdout)["steps"]
        assert steps and all(step["op"] == "create" for step in steps), "expect() needs a stack that is not deployed"
        objects = set()
        for step in steps:
            inputs = step["newState"].get("inputs", {})
            if step["newState"]["type"].startswith("kubernetes:") and inputs.get("kind") in INVENTORY_KIND_NAMES:
                meta = inputs["metadata"]
                objects.add((inputs["kind"], meta["namespace"], meta["name"]))
        return Expected({step["urn"] for step in steps}, objects)

    def lock_files(self) -> list[Path]:
        backend = Path(self.deployer.env["PULUMI_BACKEND_URL"].removeprefix("file://"))
        return sorted((backend / ".pulumi" / "locks").glob(f"*/*/{self.name}/*.json"))

    def logical_name(self, kind: str, namespace: str, name: str) -> str:
        """The Pulumi resource name (end of the URN) of a cluster object."""
        for resource in self.export().get("resources") or []:
            meta = (resource.get("inputs") or {}).get("metadata") or {}
            if (resource.get("inputs") or {}).get("kind") == kind and (meta.get("namespace"), meta.get("name")) == (
                namespace,
                name,
            ):
                return str(resource["urn"]).rsplit("::", 1)[1]
        raise AssertionError(f"no {kind} {namespace}/{name} in the state of {self.name}")

    def protected(self) -> list[str]:
        return [r["urn"] for r in self.export().get("resources") or [] if r.get("protect")]

    def history(self) -> list[dict[str, Any]]:
        done = self.ok("stack", "history", "--json")
        entries: list[dict[str, Any]] = json.loads(done.stdout or "[]")
        return entries


def summary(output: str) -> dict[str, int]:
    """The `Resources:` block of a CLI run, e.g. {'created': 36, 'unchanged': 45}."""
    counts: dict[str, int] = {}
    if "Resources:" not in output:
        return counts
    for line in output.rsplit("Resources:", 1)[1].splitlines()[1:]:
        if not line.strip():
            break
        for number, op in re.findall(r"(\d+) (?:to )?([a-z]+)", line):
            counts[op] = int(number)
    return counts


def slowest(output: str, count: int = 3) -> list[str]:
    """The resources that took longest in a CLI run, e.g. ['gateway-service 10s']."""
    timed: dict[str, float] = {}
    pattern = r"\s(\S+) (\S+) (?:created|updated|deleted) \((\d+(?:\.\d+)?)(m?s)\)"
    for kind, name, seconds, unit in re.findall(pattern, output):
        if kind.startswith(("pulumi:pulumi:", "platform:")):
            continue
        timed[name] = max(timed.get(name, 0.0), float(seconds) / (1000 if unit == "ms" else 1))
    ranked = sorted(timed.items(), key=lambda item: -item[1])[:count]
    return [f"{name} {seconds:g}s" for name, seconds in ranked]


def changes(output: str) -> dict[str, int]:
    """The changing operations of a CLI run's summary (everything but unchanged)."""
    return {op: n for op, n in summary(output).items() if op not in ("unchanged", "changes") and n}


# --- the cluster -----------------------------------------------------------------------------------------------------


def managed_objects() -> dict[tuple[str, str, str], dict[str, Any]]:
    """Every inventoried object labelled managed-by=pulumi in the platform namespaces."""
    done = kubectl("get", INVENTORY_KINDS, "--all-namespaces", "-l", MANAGED, "-o", "json")
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    for item in json.loads(done.stdout)["items"]:
        meta = item["metadata"]
        if meta["namespace"] in PLATFORM_NAMESPACES:
            found[(item["kind"], meta["namespace"], meta["name"])] = item
    return found


def fingerprint(objects: dict[tuple[str, str, str], dict[str, Any]]) -> dict[tuple[str, str, str], tuple[str, ...]]:
    """What a change to an object would move: uid, generation for workloads (their
    status moves on its own), resourceVersion for the rest."""
    prints: dict[tuple[str, str, str], tuple[str, ...]] = {}
    for key, item in objects.items():
        meta = item["metadata"]
        if key[0] in ("Deployment", "StatefulSet"):
            prints[key] = (meta["uid"], f"generation={meta['generation']}")
        else:
            prints[key] = (meta["uid"], f"resourceVersion={meta['resourceVersion']}")
    return prints


def existing_namespaces() -> dict[str, str]:
    """Platform namespaces in the cluster and their phase."""
    done = kubectl("get", "namespaces", "-o", "json")
    return {
        item["metadata"]["name"]: item["status"]["phase"]
        for item in json.loads(done.stdout)["items"]
        if item["metadata"]["name"] in PLATFORM_NAMESPACES
    }


def claims(namespace: str) -> dict[str, dict[str, str]]:
    done = kubectl("get", "pvc", "-n", namespace, "-o", "json", check=False)
    if done.returncode != 0:
        return {}
    return {
        item["metadata"]["name"]: {
            "uid": item["metadata"]["uid"],
            "volumeName": item["spec"].get("volumeName", ""),
            "phase": item.get("status", {}).get("phase", ""),
        }
        for item in json.loads(done.stdout)["items"]
    }


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 300, interval: float = 1) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
    return time.monotonic() - started


def api_ready() -> bool:
    return kubectl("get", "--raw", "/readyz", check=False).returncode == 0


def delete_platform_namespaces() -> list[str]:
    """Delete the platform namespaces that remain (the retained `staging-infra` with its
    claims) and wait until they and their volumes are gone."""
    present = sorted(existing_namespaces())
    if present:
        kubectl("delete", "namespace", *present, "--wait=false")
    wait_for(lambda: not existing_namespaces(), f"namespaces {present} to be deleted", timeout=300)

    def volumes_left() -> list[str]:
        done = kubectl("get", "pv", "-o", "json")
        return [
            item["metadata"]["name"]
            for item in json.loads(done.stdout)["items"]
            if item["spec"].get("claimRef", {}).get("namespace") in PLATFORM_NAMESPACES
        ]

    wait_for(lambda: not volumes_left(), "the platform's volumes to be released and deleted", timeout=120)
    return present


# --- the kwok control plane ------------------------------------------------------------------------------------------


@dataclass
class KwokCluster:
    """The local control plane (kwokctl, binary runtime) behind the e2e KUBECONFIG."""

    name: str
    workdir: Path

    @classmethod
    def current(cls) -> KwokCluster | None:
        config = yaml.safe_load(KUBECONFIG.read_text())
        context = str(config.get("current-context", ""))
        # cluster/up.sh renames the context (kind-platform); the cluster entry keeps kwokctl's name.
        contexts = {item["name"]: item.get("context") or {} for item in config.get("contexts") or []}
        cluster = str(contexts.get(context, {}).get("cluster", context))
        if not cluster.startswith("kwok-"):
            return None
        name = cluster.removeprefix("kwok-")
        root = Path(os.environ.get("KWOK_WORKDIR", Path.home() / ".kwok"))
        workdir = root / "clusters" / name
        if not (workdir / "pids" / "kube-apiserver.pid").exists():
            return None
        return cls(name, workdir)

    def api_port(self) -> tuple[str, int]:
        server = str(yaml.safe_load(KUBECONFIG.read_text())["clusters"][0]["cluster"]["server"])
        host, _, port = server.removeprefix("https://").partition(":")
        return host, int(port.split("/")[0])

    @contextlib.contextmanager
    def port_reserved(self) -> Iterator[bool]:
        """Keep the API server's port from other kwokctl clusters while it is down.

        kwokctl gives a new cluster the highest free port below 32768, and it takes a port
        as free when it can listen on both 127.0.0.1:<port> and *:<port>. A listener on
        127.0.0.2:<port> fails the second check, yet leaves 127.0.0.1:<port> to the
        restarted API server, and clients of 127.0.0.1 still get "connection refused".
        Yields whether the port could be reserved (best effort: Linux loopback).
        """
        host, port = self.api_port()
        guard = socket.socket()
        try:
            guard.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            guard.bind(("127.0.0.2", port))
            guard.listen(1)
            reserved = host == "127.0.0.1"
        except OSError:
            reserved = False
        try:
            yield reserved
        finally:
            guard.close()

    def pid(self, component: str) -> int:
        return int((self.workdir / "pids" / f"{component}.pid").read_text().strip())

    def components(self) -> list[str]:
        return sorted(path.stem for path in (self.workdir / "pids").glob("*.pid"))

    def dead(self) -> list[str]:
        return [component for component in self.components() if not alive(self.pid(component))]

    def kill(self, component: str) -> int:
        pid = self.pid(component)
        os.kill(pid, signal.SIGKILL)
        return pid

    def start(self) -> float:
        """`kwokctl start cluster`: starts the components that are not running."""
        started = time.monotonic()
        done = subprocess.run(
            ["kwokctl", "--name", self.name, "start", "cluster"],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, f"kwokctl --name {self.name} start cluster failed:\n{done.stdout}{done.stderr}"
        return time.monotonic() - started

    def log_tail(self, component: str, lines: int = 15) -> str:
        path = self.workdir / "logs" / f"{component}.log"
        text = path.read_text(errors="replace").splitlines()[-lines:] if path.exists() else ["(no log)"]
        return f"{path}:\n" + "\n".join(text)

    def heal(self, timeout: float = 180) -> None:
        """Every component running and the API server ready (restart what died)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.dead():
                self.start()
            if api_ready() and not self.dead():
                return
            time.sleep(1)
        raise AssertionError(
            f"kwok cluster {self.name}: {self.dead() or 'API server'} not back after {timeout}s "
            "(another cluster started meanwhile may hold its port)\n" + self.log_tail("kube-apiserver")
        )


@contextlib.contextmanager
def local_stack_deployed(deployer: Deployer, stack: str) -> Iterator[StackCli]:
    """The local config deployed once as `stack` into empty platform namespaces;
    destroyed, removed and its namespaces deleted after."""
    wait_for(lambda: "Terminating" not in existing_namespaces().values(), "terminating platform namespaces")
    present = sorted(key for key in managed_objects() if key[0] in ("Deployment", "StatefulSet"))
    if present:
        raise AssertionError(f"a stack is deployed in the platform namespaces ({present[:3]} ...): destroy it first")
    delete_platform_namespaces()
    cli = StackCli(deployer, stack, deployer.stack(stack, "local"))
    cli.ok("up", "--yes")
    yield cli
    cli.ok("destroy", "--yes")
    cli.ok("stack", "rm", "--yes")
    delete_platform_namespaces()
