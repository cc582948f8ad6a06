"""Benchmarks: the Pulumi program against plain `kubectl apply` + `kubectl wait`
on a local control plane of its own, then docs/benchmarks.md and its chart.

    make bench                      # = bench/run.py --reps 5 plus the no-checkpoint variant (BENCH_ARGS)
    .venv/bin/python bench/run.py --reps 1 --out /tmp/bench.md --chart /tmp/bench.png

What one run does:

1. Starts a fresh cluster `platform-bench` (cluster/up.sh with PLATFORM_CLUSTER_NAME
   and PLATFORM_CLUSTER_STATE=.state/bench), renders the local stack's manifests the
   way `make render` does (scripts/render.py --stack local --out
   build/render/local) and copies them aside.
2. Copies the project (Pulumi.yaml, __main__.py, components/, the stack file) into a
   scratch directory with its own file backend and passphrase: the committed stack
   file and .state/backend are never touched.
3. For each repetition, interleaved: `pulumi up` from an empty cluster until
   everything is Ready (with `--skip-preview`, as `make up` runs the local stack), a
   no-op `pulumi up`, `pulumi preview`, `pulumi destroy`, cleanup (the namespace and
   claims that destroy keeps on purpose), then the same manifests with `kubectl
   apply` + `kubectl wait`, a no-op `kubectl apply`, `kubectl diff`, `kubectl
   delete`, cleanup; then the floor (`pulumi version`, preview and no-op `up` of a
   program that registers nothing, `kubectl get namespaces`), a cold `cluster/up.sh`
   on a fresh name, the unit suite, and builds of the program under mocks. In the
   first --scale-reps repetitions, the same Pulumi and kubectl cycles for the local
   stack with 30 and 100 apps (generated; rendered for kubectl the same way).
   During every `pulumi up` it samples /proc for the peak RSS of the Python program
   and stamps the engine's events, for a per-resource timeline.
4. Writes build/bench/results.json, docs/benchmarks.md (keeping the hand-written
   profile section between its markers) and docs/benchmarks.png, then removes the
   cluster and the scratch directory.

Benchmarks measure; nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import secrets
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))
import procmon
import report

from scripts.render import PROJECT_FILES, copy_project, render_config

ROOT = Path(__file__).resolve().parents[1]
STACK = "local"
CLUSTER_NAME = "platform-bench"
CLUSTER_STATE = ROOT / ".state" / "bench"
RENDERED = ROOT / "build" / "render" / STACK / "1-manifest"
RESULTS = ROOT / "build" / "bench" / "results.json"
CHART_PYTHON = ROOT / ".venv-bench" / "bin" / "python"
PART_OF = "app.kubernetes.io/part-of=platform"
TIMEOUT = 900
WAIT = "300s"
# `pulumi up` arguments as `make up` gives them for the local stack (Makefile, UP_ARGS).
UP_ARGS = ["--skip-preview"]
# Runs a command with SIGINT ignored, as `bash -c 'trap "" INT; ...'` does.
SIGINT_IGNORED = ["bash", "-c", 'trap "" INT; exec "$@"', "bash"]


def make_environment() -> dict[str, str]:
    """What the Makefile sets for every pulumi command besides backend and passphrase."""
    found = re.search(r"^PULUMI_PARALLEL \?= (\d+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    if found is None:
        raise BenchError("Makefile: no `PULUMI_PARALLEL ?= <n>` line; bench/run.py mirrors it")
    return {"PULUMI_PARALLEL": found.group(1)}


def say(message: str) -> None:
    print(f"[bench] {message}", flush=True)


class BenchError(RuntimeError):
    pass


def tools_environment() -> dict[str, str]:
    """The environment after `. tools/env.sh` (pinned pulumi, kubectl and kwokctl first on PATH)."""
    dump = subprocess.run(
        ["bash", "-c", f". {ROOT / 'tools' / 'env.sh'} && env -0"], capture_output=True, check=True
    ).stdout
    env = dict(item.split("=", 1) for item in dump.decode().split("\0") if "=" in item)
    for tool in ("pulumi", "kubectl"):
        if shutil.which(tool, path=env.get("PATH")) is None:
            raise BenchError(f"{tool} is not built: run `make tools`")
    return env


def run(
    args: Sequence[str],
    *,
    env: dict[str, str],
    cwd: Path = ROOT,
    log: Path | None = None,
    check: bool = True,
    timeout: float = TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=timeout)
    if log is not None:
        log.write_text(f"$ {' '.join(args)}\n{result.stdout}\n--- stderr ---\n{result.stderr}")
    if check and result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-25:])
        raise BenchError(f"`{' '.join(args[:4])} ...` exited with {result.returncode}:\n{tail}")
    return result


def loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


@dataclass
class Manifest:
    path: Path
    kind: str
    name: str
    namespace: str | None
    replicas: int | None


def load_manifests(directory: Path) -> list[Manifest]:
    out = []
    for path in sorted(directory.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc:
                continue
            meta = doc.get("metadata") or {}
            replicas = (doc.get("spec") or {}).get("replicas") if isinstance(doc.get("spec"), dict) else None
            out.append(Manifest(path, doc["kind"], meta["name"], meta.get("namespace"), replicas))
    return out


def stack_config(source: Path) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load((source / f"Pulumi.{STACK}.yaml").read_text())
    return config


def scaled_config(source: Path, apps: int) -> dict[str, Any]:
    """The local stack with `apps` apps: its own first, then generated ones like them
    (the same pinned echo image, a route on the gateway, a probe), spread over its
    placeholder namespaces."""
    config = stack_config(source)
    platform = config["config"]
    own: list[dict[str, Any]] = platform["platform:apps"]
    namespaces = [ns["name"] for ns in platform["platform:namespaces"] if ns.get("placeholder")]
    generated = [
        {
            "name": f"app{i}",
            "namespace": namespaces[i % len(namespaces)],
            "image": own[0]["image"],
            "port": 8080,
            "path": f"/app{i}",
            "replicas": 1,
            "probe": {"path": "/health"},
            "env": {"WHOAMI_PORT_NUMBER": "8080"},
        }
        for i in range(len(own), apps)
    ]
    platform["platform:apps"] = own[:apps] + generated
    return config


@dataclass
class Scaled:
    """The local stack with more apps, its rendered manifests and its scratch project."""

    apps: int
    project: Project
    manifests: list[Manifest]
    manifest_dir: Path


@dataclass
class Results:
    meta: dict[str, Any] = field(default_factory=dict)
    samples: dict[str, list[float]] = field(default_factory=dict)
    up_runs: list[dict[str, Any]] = field(default_factory=list)
    destroy_runs: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    load: list[float] = field(default_factory=list)

    def add(self, key: str, value: float) -> None:
        self.samples.setdefault(key, []).append(round(value, 4))

    def as_dict(self) -> dict[str, Any]:
        return {
            "meta": self.meta,
            "samples": self.samples,
            "up_runs": self.up_runs,
            "destroy_runs": self.destroy_runs,
            "notes": self.notes,
            "load": self.load,
        }


class Cluster:
    """kubectl against the bench cluster, and the readiness / emptiness checks."""

    def __init__(self, env: dict[str, str]) -> None:
        self.kubeconfig = CLUSTER_STATE / "kubeconfig"
        self.env = env | {"KUBECONFIG": str(self.kubeconfig)}

    def kubectl(self, *args: str, check: bool = True, log: Path | None = None) -> subprocess.CompletedProcess[str]:
        return run(["kubectl", *args], env=self.env, check=check, log=log)

    def wait_ready(self, manifests: list[Manifest], *, timeout: str = WAIT, log_dir: Path | None = None) -> None:
        """Deployments Available, StatefulSets rolled out (ready replicas), claims Bound,
        Ingresses with an address. `timeout="0s"` checks once without waiting."""

        def files(kind: str) -> list[str]:
            return [arg for m in manifests if m.kind == kind for arg in ("-f", str(m.path))]

        once = timeout == "0s"
        steps: list[list[str]] = []
        if files("Deployment"):
            steps.append(["wait", "--for=condition=Available", f"--timeout={timeout}", *files("Deployment")])
        for m in manifests:
            if m.kind == "StatefulSet":
                watch = ["--watch=false"] if once else [f"--timeout={timeout}"]
                steps.append(["rollout", "status", *watch, "-f", str(m.path)])
        if files("PersistentVolumeClaim"):
            steps.append(
                [
                    "wait",
                    "--for=jsonpath={.status.phase}=Bound",
                    f"--timeout={timeout}",
                    *files("PersistentVolumeClaim"),
                ]
            )
        if files("Ingress"):
            steps.append(
                ["wait", "--for=jsonpath={.status.loadBalancer.ingress}", f"--timeout={timeout}", *files("Ingress")]
            )
        for i, step in enumerate(steps):
            result = self.kubectl(*step, check=False, log=log_dir / f"wait-{i}.log" if log_dir else None)
            if result.returncode != 0 or (
                once
                and step[0] == "rollout"
                and "complete" not in result.stdout
                and "successfully rolled out" not in result.stdout
            ):
                raise BenchError(f"not ready: kubectl {' '.join(step[:3])}: {(result.stdout + result.stderr).strip()}")

    def leftovers(self) -> list[str]:
        found = []
        namespaces = self.kubectl("get", "namespaces", "-l", PART_OF, "-o", "name").stdout.split()
        found += namespaces
        found += self.kubectl("get", "pv", "-o", "name").stdout.split()
        found += self.kubectl(
            "get", "clusterroles,clusterrolebindings,ingressclasses", "-l", PART_OF, "-o", "name"
        ).stdout.split()
        return found

    def make_empty(self) -> None:
        """Remove what destroy keeps on purpose (the data namespace and its claims) and
        anything else of the platform, and wait until it is gone, volumes included."""
        self.kubectl("delete", "namespaces", "-l", PART_OF, "--ignore-not-found", "--wait=true", f"--timeout={WAIT}")
        self.kubectl(
            "delete",
            "clusterroles,clusterrolebindings,ingressclasses",
            "-l",
            PART_OF,
            "--ignore-not-found",
            "--wait=true",
        )
        deadline = time.monotonic() + 300
        while left := self.leftovers():
            if time.monotonic() > deadline:
                raise BenchError(f"the cluster did not become empty: {left}")
            time.sleep(0.25)


class Project:
    """A scratch copy of the project with its own file backend and passphrase."""

    def __init__(
        self,
        source: Path,
        scratch: Path,
        env: dict[str, str],
        kubeconfig: Path,
        label: str,
        extra_env: dict[str, str] | None = None,
        extra_args: Sequence[str] = UP_ARGS,
        config: dict[str, Any] | None = None,
        files: Sequence[str] = PROJECT_FILES,
        suffix: str | None = None,
    ) -> None:
        self.label = label
        # Appended to the keys of its measurements: " [variant]", or "@30" for a scaled stack.
        self.suffix = (f" [{label}]" if label else "") if suffix is None else suffix
        self.extra_args = list(extra_args)
        self.dir = scratch / f"project{('-' + label) if label else ''}"
        self.backend = scratch / f"backend{('-' + label) if label else ''}"
        copy_project(self.dir, [*files, f"Pulumi.{STACK}.yaml"], source)
        self.backend.mkdir()
        self.config_file = self.dir / f"Pulumi.{STACK}.yaml"
        # The stack names its cluster by kubeconfig path: here, the bench cluster's.
        stack_config = config if config is not None else yaml.safe_load(self.config_file.read_text())
        stack_config["config"]["kubernetes:kubeconfig"] = str(kubeconfig)
        # Only the config: an `encryptionsalt` a checkout's stack file may carry belongs to
        # that checkout's backend and passphrase, not to this copy's.
        self.config_file.write_text(yaml.safe_dump({"config": stack_config["config"]}, sort_keys=False))
        self.env = dict(env)
        self.env.pop("PULUMI_CONFIG_PASSPHRASE_FILE", None)
        self.env |= {
            "PULUMI_BACKEND_URL": f"file://{self.backend}",
            "PULUMI_CONFIG_PASSPHRASE": secrets.token_urlsafe(24),
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            # --event-log is a hidden flag of `pulumi up`: shown with PULUMI_DEBUG_COMMANDS.
            "PULUMI_DEBUG_COMMANDS": "true",
            "KUBECONFIG": str(kubeconfig),
        }
        self.env |= make_environment() | (extra_env or {})
        run(["pulumi", "stack", "init", STACK, "--secrets-provider", "passphrase"], env=self.env, cwd=self.dir)

    def args(self, command: str) -> list[str]:
        args = ["pulumi", command, "--stack", STACK, "--config-file", str(self.config_file), "--non-interactive"]
        if command in ("up", "destroy"):
            args.append("--yes")
        if command == "up":
            args += self.extra_args
        return args

    def command(self, command: str, log: Path) -> subprocess.CompletedProcess[str]:
        return run(self.args(command), env=self.env, cwd=self.dir, log=log)

    def watched(self, command: str, log: Path, events: Path) -> dict[str, Any]:
        """`pulumi up` or `destroy`, watched: wall time, peak RSS by role, stamped engine events."""
        events.unlink(missing_ok=True)
        args = [*self.args(command), "--event-log", str(events)]
        with log.open("w") as out:
            out.write(f"$ {' '.join(args)}\n")
            out.flush()
            t0 = time.perf_counter()
            process = subprocess.Popen(args, cwd=self.dir, env=self.env, stdout=out, stderr=subprocess.STDOUT)
            monitor = procmon.TreeMonitor(process.pid, t0)
            tail = procmon.EventTail(events, t0)
            monitor.start()
            tail.start()
            try:
                code = process.wait(timeout=TIMEOUT)
            finally:
                elapsed = time.perf_counter() - t0
                tree = monitor.stop()
                stamped = tail.stop()
        if code != 0:
            tail_text = "\n".join(log.read_text().splitlines()[-25:])
            raise BenchError(f"pulumi {command} exited with {code}:\n{tail_text}")
        update = procmon.last_phase(stamped)
        steps = procmon.steps(update)
        update_start = procmon.first_stamp(update)
        preview_start = procmon.first_stamp(stamped) if len(update) < len(stamped) else None
        return {
            "seconds": round(elapsed, 3),
            "preview_start_s": round(preview_start, 3) if preview_start is not None else None,
            "update_start_s": round(update_start, 3) if update_start is not None else None,
            "event_log_generations": tail.generations,
            "summary": procmon.summary(update),
            "rss": tree.as_dict(),
            "steps": steps,
            "diagnostics": [
                {
                    "t": round(stamp, 3),
                    "urn": ev["diagnosticEvent"].get("urn", ""),
                    "message": ev["diagnosticEvent"]["message"].strip(),
                }
                for stamp, ev in update
                if "diagnosticEvent" in ev and ev["diagnosticEvent"].get("severity") != "debug"
            ],
        }


@contextmanager
def timed(results: Results, key: str) -> Iterator[None]:
    results.load.append(loadavg())
    t0 = time.perf_counter()
    yield
    elapsed = time.perf_counter() - t0
    results.add(key, elapsed)
    say(f"  {key}: {elapsed:.1f}s")


def machine() -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    os_name = platform.platform()
    release = Path("/etc/os-release")
    if release.exists():
        for line in release.read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = f"{line.split('=', 1)[1].strip(chr(34))}, Linux {platform.release()}"
    return {
        "nproc": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "cpu": cpu,
        "os": os_name,
        "python": platform.python_version(),
    }


def versions(env: dict[str, str], cluster: Cluster) -> dict[str, str]:
    pulumi = run(["pulumi", "version"], env=env).stdout.strip()
    client = json.loads(cluster.kubectl("version", "-o", "json").stdout)
    plugins = run(["pulumi", "plugin", "ls", "--json"], env=env, check=False).stdout
    kinds = {}
    try:
        for plugin in json.loads(plugins):
            kinds[f"pulumi-resource-{plugin['name']}"] = plugin.get("version", "")
    except (ValueError, TypeError):
        pass
    return {
        "pulumi": pulumi,
        "kubectl": client.get("clientVersion", {}).get("gitVersion", ""),
        "kube-apiserver": client.get("serverVersion", {}).get("gitVersion", ""),
        **kinds,
    }


def command_line(options: argparse.Namespace) -> str:
    """How this run was started, for the doc: `make bench` when make started it."""
    if "MAKELEVEL" in os.environ:
        return "make bench" + ("" if options.reps == 5 else f" BENCH_REPS={options.reps}")
    return "bench/run.py " + " ".join(sys.argv[1:])


class Bench:
    def __init__(self, options: argparse.Namespace) -> None:
        self.options = options
        self.results = Results()
        # The emulated plane, as the figures in docs/benchmarks.md were measured: the
        # CLI and state against an API server, without container start-up in them.
        self.env = tools_environment() | {"PLATFORM_CLUSTER_RUNTIME": "kwok"}
        self.cluster_env = self.env | {
            "PLATFORM_CLUSTER_NAME": CLUSTER_NAME,
            "PLATFORM_CLUSTER_STATE": str(CLUSTER_STATE),
        }
        self.cluster = Cluster(self.env)
        self.scratch = Path(tempfile.mkdtemp(prefix="platform-bench-"))
        self.logs = self.scratch / "logs"
        self.logs.mkdir()
        self.projects: list[Project] = []
        self.manifests: list[Manifest] = []
        self.manifest_dir = self.scratch / "manifests"
        self.empty: Project | None = None
        self.scaled: list[Scaled] = []

    # -- set-up ---------------------------------------------------------------------
    def start_cluster(self) -> None:
        run([str(ROOT / "cluster" / "down.sh")], env=self.cluster_env)
        say(f"starting cluster {CLUSTER_NAME} (kubeconfig {CLUSTER_STATE / 'kubeconfig'})")
        run([str(ROOT / "cluster" / "up.sh")], env=self.cluster_env, log=self.logs / "cluster-up.log")

    def render(self) -> None:
        if self.options.no_render and RENDERED.is_dir():
            say(f"using the manifests already in {RENDERED.relative_to(ROOT)} (--no-render)")
        else:
            say("rendering the local stack (scripts/render.py --stack local --out build/render/local)")
            t0 = time.perf_counter()
            run(
                [
                    str(ROOT / ".venv" / "bin" / "python"),
                    "scripts/render.py",
                    "--stack",
                    STACK,
                    "--out",
                    str(RENDERED.parent.relative_to(ROOT)),
                ],
                env=self.env,
                log=self.logs / "render.log",
            )
            self.results.add("render", time.perf_counter() - t0)
        shutil.copytree(RENDERED, self.manifest_dir)
        self.manifests = load_manifests(self.manifest_dir)
        kinds = sorted({m.kind for m in self.manifests})
        say(f"{len(self.manifests)} manifests ({', '.join(kinds)})")

    def make_projects(self) -> None:
        self.projects.append(Project(ROOT, self.scratch, self.env, self.cluster.kubeconfig, ""))
        extra_env: dict[str, dict[str, str]] = {}
        for spec in self.options.variant_env:
            label, _, assignment = spec.partition("=")
            key, _, value = assignment.partition("=")
            extra_env.setdefault(label, {})[key] = value
        extra_args: dict[str, list[str]] = {}
        for spec in self.options.variant_args:  # replace UP_ARGS: `LABEL=` runs `pulumi up` with its preview
            label, _, args = spec.partition("=")
            extra_args.setdefault(label, []).extend(shlex.split(args))
        for spec in self.options.variant:
            label, _, directory = spec.partition("=")
            self.projects.append(
                Project(
                    Path(directory or ROOT).resolve(),
                    self.scratch,
                    self.env,
                    self.cluster.kubeconfig,
                    label,
                    extra_env.get(label),
                    extra_args.get(label, UP_ARGS),
                )
            )

    def make_empty_project(self) -> None:
        """A program that registers nothing (`import pulumi`), with the same CLI, language
        host, backend and `up` arguments: what every Pulumi command costs before the
        platform's first resource."""
        self.empty = Project(
            ROOT,
            self.scratch,
            self.env,
            self.cluster.kubeconfig,
            "empty",
            files=["Pulumi.yaml"],
            config={"config": {}},
            suffix="",
        )
        (self.empty.dir / "__main__.py").write_text("import pulumi  # noqa: F401\n")
        # The same project without its typed config, whose required keys an empty stack lacks.
        project_file = self.empty.dir / "Pulumi.yaml"
        project = yaml.safe_load(project_file.read_text())
        project.pop("config", None)
        project_file.write_text(yaml.safe_dump(project, sort_keys=False))
        self.empty.command("up", self.logs / "empty-first-up.log")  # creates the stack's state: not counted

    def make_scaled(self) -> None:
        """Render each scaled stack the way `make render` does, for kubectl; then its project."""
        self.results.meta["apps_local"] = len(stack_config(ROOT)["config"]["platform:apps"])
        self.results.meta["scale"] = {}
        for apps in self.options.scale:
            config = scaled_config(ROOT, apps)
            render = Project(
                ROOT, self.scratch, self.env, self.cluster.kubeconfig, f"render{apps}", config=config, suffix=""
            )
            out = self.scratch / f"render{apps}"
            rendering = yaml.safe_load(render.config_file.read_text())
            rendering["config"] = render_config(rendering["config"], out)
            render.config_file.write_text(yaml.safe_dump(rendering, sort_keys=False))
            render.env.pop("KUBECONFIG")  # the provider would read it, and refuse it beside a render directory
            render.command("up", self.logs / f"render{apps}.log")
            manifest_dir = out / "1-manifest"
            manifests = load_manifests(manifest_dir)
            project = Project(
                ROOT, self.scratch, self.env, self.cluster.kubeconfig, f"{apps}apps", config=config, suffix=f"@{apps}"
            )
            self.scaled.append(Scaled(apps, project, manifests, manifest_dir))
            self.results.meta["scale"][str(apps)] = {"manifests": len(manifests)}
            say(f"scaled stack: {apps} apps, {len(manifests)} manifests")
        self.results.meta["manifests_local"] = len(self.manifests)

    # -- one repetition -------------------------------------------------------------
    def floor_cycle(self, rep: int) -> None:
        """What no change to this project can remove: the CLI alone, an empty program's
        preview and no-op `up`, and kubectl's own start with one request."""
        assert self.empty is not None
        logs = self.logs / f"rep{rep}-empty"
        logs.mkdir(exist_ok=True)
        with timed(self.results, "floor_pulumi_version"):
            run(["pulumi", "version"], env=self.empty.env, cwd=self.empty.dir)
        with timed(self.results, "floor_empty_preview"):
            self.empty.command("preview", logs / "preview.log")
        with timed(self.results, "floor_empty_preview_sigint_ignored"):
            # As a job started with `&` or `nohup` from a script runs it: the CLI and its
            # plugins inherit an ignored SIGINT, the signal the CLI stops plugins with.
            run(
                [*SIGINT_IGNORED, *self.empty.args("preview")],
                env=self.empty.env,
                cwd=self.empty.dir,
                log=logs / "preview-sigint-ignored.log",
            )
        with timed(self.results, "floor_empty_up"):
            self.empty.command("up", logs / "up.log")
        with timed(self.results, "floor_kubectl_get"):
            self.cluster.kubectl("get", "namespaces", "-o", "name")

    def pulumi_cycle(self, rep: int, project: Project, manifests: list[Manifest] | None = None) -> None:
        suffix = project.suffix
        manifests = self.manifests if manifests is None else manifests
        logs = self.logs / f"rep{rep}{('-' + project.label) if project.label else ''}"
        logs.mkdir(exist_ok=True)
        results = self.results
        if self.cluster.leftovers():
            raise BenchError(f"the cluster is not empty before pulumi up: {self.cluster.leftovers()}")
        results.load.append(loadavg())
        up = project.watched("up", logs / "up.log", logs / "up-events.jsonl")
        results.add("pulumi_up" + suffix, up["seconds"])
        results.add("python_rss_up" + suffix, up["rss"]["peak_by_role_mb"].get("python program", 0.0))
        results.add("tree_rss_up" + suffix, up["rss"]["peak_total_mb"])
        say(
            f"  pulumi up from empty{suffix}: {up['seconds']:.1f}s, python peak RSS "
            f"{up['rss']['peak_by_role_mb'].get('python program', 0)} MB"
        )
        self.cluster.wait_ready(manifests, timeout="0s", log_dir=None)  # Ready when up returns
        up |= {"rep": rep, "label": project.label, "load": loadavg()}
        results.up_runs.append(up)

        results.load.append(loadavg())
        noop = project.watched("up", logs / "noop.log", logs / "noop-events.jsonl")
        changes = {k: v for k, v in noop["summary"].get("resourceChanges", {}).items() if k != "same"}
        if changes:
            results.notes.append(f"rep {rep}{suffix}: the second `pulumi up` changed {changes}")
        results.add("pulumi_noop" + suffix, noop["seconds"])
        results.add("python_rss_noop" + suffix, noop["rss"]["peak_by_role_mb"].get("python program", 0.0))
        say(f"  pulumi up, no changes{suffix}: {noop['seconds']:.1f}s")
        with timed(results, "pulumi_preview" + suffix):
            project.command("preview", logs / "preview.log")
        results.load.append(loadavg())
        destroy = project.watched("destroy", logs / "destroy.log", logs / "destroy-events.jsonl")
        results.add("pulumi_destroy" + suffix, destroy["seconds"])
        results.destroy_runs.append(
            {k: destroy[k] for k in ("seconds", "update_start_s", "steps", "summary")}
            | {"rep": rep, "label": project.label}
        )
        say(f"  pulumi destroy{suffix}: {destroy['seconds']:.1f}s")
        with timed(results, "cleanup_destroy" + suffix):
            self.cluster.make_empty()

    def kubectl_cycle(
        self, rep: int, manifests: list[Manifest] | None = None, manifest_dir: Path | None = None, suffix: str = ""
    ) -> None:
        manifests = self.manifests if manifests is None else manifests
        manifest_dir = self.manifest_dir if manifest_dir is None else manifest_dir
        logs = self.logs / f"rep{rep}{suffix.replace('@', '-')}"
        logs.mkdir(exist_ok=True)
        results = self.results
        if self.cluster.leftovers():
            raise BenchError(f"the cluster is not empty before kubectl apply: {self.cluster.leftovers()}")
        # Namespaces first, then cluster-wide objects, then the rest: one command.
        order = {"Namespace": 0, "ClusterRole": 1, "ClusterRoleBinding": 1, "IngressClass": 1}
        ordered = sorted(manifests, key=lambda m: (order.get(m.kind, 2), m.path.name))
        apply = ["apply", *[arg for m in ordered for arg in ("-f", str(m.path))]]
        results.load.append(loadavg())
        t0 = time.perf_counter()
        self.cluster.kubectl(*apply, log=logs / "kubectl-apply.log")
        applied = time.perf_counter() - t0
        self.cluster.wait_ready(manifests, log_dir=logs)
        total = time.perf_counter() - t0
        results.add("kubectl_apply" + suffix, applied)
        results.add("kubectl_wait" + suffix, total - applied)
        results.add("kubectl_apply_wait" + suffix, total)
        say(f"  kubectl apply + wait{suffix}: {total:.1f}s (apply {applied:.1f}s)")
        with timed(results, "kubectl_reapply" + suffix):
            self.cluster.kubectl(*apply, log=logs / "kubectl-reapply.log")
        with timed(results, "kubectl_diff" + suffix):
            diff = self.cluster.kubectl("diff", "-R", "-f", str(manifest_dir), check=False)
            if diff.returncode not in (0, 1):
                raise BenchError(f"kubectl diff failed: {diff.stderr}")
        with timed(results, "kubectl_delete" + suffix):
            self.cluster.kubectl(
                "delete",
                "--wait=true",
                f"--timeout={WAIT}",
                "--ignore-not-found",
                *[arg for m in reversed(ordered) for arg in ("-f", str(m.path))],
                log=logs / "kubectl-delete.log",
            )
        with timed(results, "cleanup_delete" + suffix):
            self.cluster.make_empty()

    def cluster_start(self, rep: int) -> None:
        env = self.env | {
            "PLATFORM_CLUSTER_NAME": f"{CLUSTER_NAME}-cold{rep}",
            "PLATFORM_CLUSTER_STATE": str(CLUSTER_STATE / "cold"),
        }
        down = [str(ROOT / "cluster" / "down.sh")]
        run(down, env=env)
        try:
            with timed(self.results, "cluster_start"):
                run([str(ROOT / "cluster" / "up.sh")], env=env, log=self.logs / f"cold-up-{rep}.log")
        finally:
            with timed(self.results, "cluster_down"):
                run(down, env=env)

    def unit_suite(self, rep: int) -> None:
        with timed(self.results, "unit_suite"):
            result = run(
                [str(ROOT / ".venv" / "bin" / "pytest"), "tests/unit", "-q", "-p", "no:cacheprovider"],
                env=self.env,
                check=False,
                log=self.logs / f"unit-{rep}.log",
            )
        last = (result.stdout.strip().splitlines() or [""])[-1]
        if result.returncode != 0:
            self.results.notes.append(f"rep {rep}: the unit suite failed ({last})")
        self.results.meta["unit_suite_result"] = last

    def mock_builds(self) -> None:
        self.results.load.append(loadavg())
        result = run(
            [
                str(ROOT / ".venv" / "bin" / "python"),
                str(ROOT / "bench" / "mockbuild.py"),
                "--stack",
                STACK,
                "--builds",
                str(self.options.builds),
            ],
            env=self.env,
        )
        data = json.loads(result.stdout)
        self.results.add("mock_first", data["first_build_s"])
        for value in data["later_builds_s"]:
            self.results.add("mock_build", value)
        for name, value in data["imports_s"].items():
            self.results.add(f"import: {name}", value)
        self.results.add("mock_process", data["process_s"])
        self.results.meta["mock_resources"] = data["resources"]
        say(
            f"  mock builds: first {data['first_build_s']:.2f}s, then "
            f"{statistics.median(data['later_builds_s'] or [0]):.2f}s"
        )

    # -- the whole run --------------------------------------------------------------
    def run(self) -> None:
        options = self.options
        results = self.results
        started = dt.datetime.now(dt.UTC)
        results.meta |= {
            "date": started.strftime("%Y-%m-%d %H:%M UTC"),
            "reps": options.reps,
            "machine": machine(),
            "uptime_start": run(["uptime"], env=self.env).stdout.strip(),
            "command": command_line(options),
            "git": run(["git", "describe", "--always", "--dirty"], env=self.env, check=False).stdout.strip(),
        }
        try:
            self.start_cluster()
            results.meta["versions"] = versions(self.env, self.cluster)
            self.render()
            self.make_projects()
            skip = set(options.skip)
            if "floor" not in skip:
                self.make_empty_project()
            self.make_scaled()
            for rep in range(1, options.reps + 1):
                say(f"repetition {rep}/{options.reps} (load {loadavg():.2f})")
                for project in self.projects:
                    self.pulumi_cycle(rep, project)
                if "kubectl" not in skip:
                    self.kubectl_cycle(rep)
                if "floor" not in skip:
                    self.floor_cycle(rep)
                if rep <= options.scale_reps:
                    for scaled in self.scaled:
                        self.pulumi_cycle(rep, scaled.project, scaled.manifests)
                        self.kubectl_cycle(rep, scaled.manifests, scaled.manifest_dir, scaled.project.suffix)
                if "cluster" not in skip:
                    self.cluster_start(rep)
                if "unit" not in skip:
                    self.unit_suite(rep)
                if "mock" not in skip:
                    self.mock_builds()
            results.meta["uptime_end"] = run(["uptime"], env=self.env).stdout.strip()
            results.meta["duration_min"] = round((dt.datetime.now(dt.UTC) - started).total_seconds() / 60, 1)
        finally:
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            results_path = Path(options.results)
            results_path.write_text(json.dumps(results.as_dict(), indent=1))
            say(f"results: {results_path}")
            if not options.keep_cluster:
                run([str(ROOT / "cluster" / "down.sh")], env=self.cluster_env, check=False)
            if options.keep_scratch:
                say(f"scratch (logs, projects): {self.scratch}")
            else:
                shutil.rmtree(self.scratch, ignore_errors=True)


def write_outputs(results_path: Path, out: Path, chart: Path) -> None:
    data = json.loads(results_path.read_text())
    chart_rel = os.path.relpath(chart, out.parent)
    report.write(data, out, chart_rel)
    say(f"wrote {out}")
    if not CHART_PYTHON.exists():
        raise BenchError("no .venv-bench for the chart: run `make bench` (it installs requirements-bench.txt)")
    run([str(CHART_PYTHON), str(ROOT / "bench" / "chart.py"), str(results_path), str(chart)], env=dict(os.environ))
    say(f"wrote {chart}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=5, help="repetitions of every measurement (default 5)")
    parser.add_argument("--builds", type=int, default=5, help="mock builds per repetition, in one process")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument("--chart", default=str(ROOT / "docs" / "benchmarks.png"))
    parser.add_argument("--results", default=str(RESULTS))
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="LABEL=DIR",
        help="also measure the pulumi cycle of the project in DIR (e.g. a patched copy), interleaved",
    )
    parser.add_argument(
        "--variant-env", action="append", default=[], metavar="LABEL=KEY=VALUE", help="environment of a variant"
    )
    parser.add_argument(
        "--variant-args",
        action="append",
        default=[],
        metavar="LABEL=ARGS",
        help=f"`pulumi up` arguments of a variant instead of {' '.join(UP_ARGS)} (empty: with its preview)",
    )
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=["kubectl", "cluster", "unit", "mock", "floor"],
        help="leave a part out",
    )
    parser.add_argument(
        "--scale",
        type=lambda text: [int(n) for n in text.split(",") if n],
        default=[30, 100],
        metavar="N,N",
        help="also measure the local stack with N apps (generated), both tools (default 30,100; '' for none)",
    )
    parser.add_argument("--scale-reps", type=int, default=3, help="repetitions of the scaled stacks (default 3)")
    parser.add_argument("--no-render", action="store_true", help="reuse build/render/local if it exists")
    parser.add_argument("--keep-cluster", action="store_true")
    parser.add_argument("--keep-scratch", action="store_true", help="keep the logs and scratch projects")
    parser.add_argument("--report-only", action="store_true", help="rewrite the doc and chart from --results")
    options = parser.parse_args()
    try:
        if not options.report_only:
            Bench(options).run()
        write_outputs(Path(options.results), Path(options.out), Path(options.chart))
    except BenchError as error:
        print(f"[bench] error: {error}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
