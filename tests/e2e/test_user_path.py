"""The user's path: fresh clones of this repository driven by plain `pulumi` commands
and by `make`, as the README tells a user to, on real API servers.

- plain Pulumi, no make and no scripts: login, stack init, up, preview with 0
  changes, destroy;
- the local stack refuses a kubeconfig without the context it names, changing nothing;
- an object made outside the stack is neither adopted nor deleted;
- `make up` in two clones: two clusters, neither touches the other's objects;
  `make cluster-down` then `make up` converges on the new cluster.

Each clone is `git clone` of this checkout's HEAD, so commit before running these.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import KUBECONFIG, LOCAL_CONTEXT, ROOT, kubectl
from tests.e2e.resilience_helpers import delete_platform_namespaces, existing_namespaces

pytestmark = pytest.mark.e2e

CLI_TIMEOUT = 1200
NAMESPACES = {"staging-infra", "staging-core", "staging-ai", "staging-web", "staging-gateway"}
# What the user's shell must not carry into a clone: make and the stack file decide.
SCRUBBED = ("KUBECONFIG", "PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE")


@dataclass
class Clone:
    """A fresh clone of this repository in a scratch directory."""

    path: Path
    env: dict[str, str]

    @property
    def kubeconfig(self) -> Path:
        return self.path / ".state" / "kubeconfig"

    def run(self, *args: str, check: bool = True, timeout: float = CLI_TIMEOUT) -> subprocess.CompletedProcess[str]:
        try:
            done = subprocess.run(
                list(args), cwd=self.path, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as error:
            raise AssertionError(f"`{' '.join(args)}` still running after {timeout}s") from error
        if check and done.returncode != 0:
            raise AssertionError(
                f"`{' '.join(args)}` in {self.path} exited {done.returncode}\n"
                f"stdout:\n{done.stdout[-6000:]}\nstderr:\n{done.stderr[-6000:]}"
            )
        return done

    def pulumi(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("pulumi", *args, "--non-interactive", "--color", "never", check=check)

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("kubectl", "--kubeconfig", str(self.kubeconfig), *args, check=check)


def fresh_clone(parent: Path, name: str, **extra_env: str) -> Clone:
    path = parent / name
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(path)], check=True)
    # The checkout's virtualenv, marked current for make (same requirements files).
    (path / ".venv").symlink_to(ROOT / ".venv")
    for requirements in path.glob("requirements*.txt"):
        os.utime(requirements, (0, 0))
    env = {key: value for key, value in os.environ.items() if key not in SCRUBBED}
    return Clone(path, env | extra_env)


@pytest.fixture
def plain_env(tmp_path: Path) -> dict[str, str]:
    """A user's shell: their own PULUMI_HOME (so `pulumi login` stays theirs), with
    the plugins `make tools` installed, and a passphrase."""
    home = tmp_path / "pulumi-home"
    home.mkdir()
    (home / "plugins").symlink_to(Path(os.environ["PULUMI_HOME"]) / "plugins")
    return {"PULUMI_HOME": str(home), "PULUMI_CONFIG_PASSPHRASE": "correct horse battery staple"}


@pytest.fixture
def clean_cluster() -> Iterator[None]:
    """The suite's cluster without the platform's namespaces, before and after."""
    delete_platform_namespaces()
    yield
    delete_platform_namespaces()


def local_kubeconfig(clone: Clone, context: str = LOCAL_CONTEXT) -> None:
    """What `make cluster` leaves in a checkout: .state/kubeconfig, here for the
    suite's cluster, its context renamed to `context`."""
    clone.kubeconfig.parent.mkdir(exist_ok=True)
    document = yaml.safe_load(KUBECONFIG.read_text())
    for item in document["contexts"]:
        if item["name"] == LOCAL_CONTEXT:
            item["name"] = context
    document["current-context"] = context
    clone.kubeconfig.write_text(yaml.safe_dump(document))


def plain_stack(parent: Path, env: dict[str, str], context: str = LOCAL_CONTEXT) -> Clone:
    """A fresh clone set up the way the README's plain-Pulumi steps do it: the cluster's
    kubeconfig (its context named `context`), a file backend inside the clone, `pulumi
    login`, and the local stack selected (created, with the passphrase)."""
    clone = fresh_clone(parent, "platform", **env)
    local_kubeconfig(clone, context)
    backend = clone.path / ".state" / "backend"
    backend.mkdir(parents=True)
    clone.pulumi("login", f"file://{backend}")
    clone.pulumi("stack", "select", "--create", "local", "--secrets-provider", "passphrase")
    return clone


def resources_in_state(clone: Clone) -> list[str]:
    deployment = json.loads(clone.pulumi("stack", "export", "--stack", "local").stdout)["deployment"]
    return [r["urn"] for r in deployment.get("resources") or [] if not r["type"].startswith("pulumi:")]


def test_plain_pulumi_from_a_fresh_clone(tmp_path: Path, plain_env: dict[str, str], clean_cluster: None) -> None:
    clone = plain_stack(tmp_path, plain_env)
    committed = clone.run("git", "show", "HEAD:Pulumi.local.yaml").stdout
    clone.pulumi("config", "set", "--path", "platform:gateway.host", "localhost", "--stack", "local")
    up = clone.pulumi("up", "--stack", "local", "--yes")
    assert "error" not in up.stderr.lower(), up.stderr

    deployments = json.loads(kubectl("get", "deployments", "-A", "-o", "json").stdout)["items"]
    ours = [d for d in deployments if d["metadata"]["namespace"] in NAMESPACES]
    assert ours and all(d["status"].get("readyReplicas") == d["spec"]["replicas"] for d in ours), [
        (d["metadata"]["name"], d["status"]) for d in ours
    ]
    preview = clone.pulumi("preview", "--stack", "local", "--expect-no-changes", "--json")
    steps = json.loads(preview.stdout)["steps"]
    assert [s for s in steps if s["op"] != "same"] == [], "preview after up is not empty"

    # Pulumi maintains the stack file itself: it adds the salt, keeps every key and
    # what `pulumi config set` changed; nothing regenerates it.
    stack_file = yaml.safe_load((clone.path / "Pulumi.local.yaml").read_text())
    assert stack_file["encryptionsalt"].startswith("v1:")
    assert stack_file["config"] == yaml.safe_load(committed)["config"]

    clone.pulumi("destroy", "--stack", "local", "--yes")
    assert resources_in_state(clone) == []
    # Only the data namespace is retained (retainOnDelete), as docs/operations.md says.
    assert set(existing_namespaces()) <= {"staging-infra"}


def test_the_local_stack_refuses_a_context_it_does_not_name(
    tmp_path: Path, plain_env: dict[str, str], clean_cluster: None
) -> None:
    clone = plain_stack(tmp_path, plain_env, context="kwok-somebody-else")

    for command in (["preview"], ["up", "--yes"]):
        done = clone.pulumi(*command, "--stack", "local", check=False)
        output = done.stdout + done.stderr
        assert done.returncode != 0, output
        assert "kubernetes:context" in output and "kind-platform" in output and "kwok-somebody-else" in output, output
    assert resources_in_state(clone) == []
    assert existing_namespaces() == {}


def _long_authentik_with_a_backup(config: dict[str, Any]) -> None:
    # Its database's backup CronJob would be `<name>-postgres-backup`, 54 characters.
    config["platform:authentik"] |= {"name": "a" * 38, "database": {"backup": {}}}


def _app_named_like_redis_metrics_policy(config: dict[str, Any]) -> None:
    # With metrics on, Redis' own NetworkPolicy `redis-metrics` is in that namespace.
    config["platform:metrics"] = {"enabled": True}
    config["platform:apps"].append({"name": "redis-metrics", "namespace": "staging-infra", "image": "nginx:1.27"})


@pytest.mark.parametrize(
    ("change", "problem", "fix"),
    [
        (_long_authentik_with_a_backup, "platform:authentik.name: ", "shorten authentik.name to at most 36 characters"),
        (
            _app_named_like_redis_metrics_policy,
            "platform:apps[3].name: the NetworkPolicy 'redis-metrics' in namespace staging-infra",
            "is also made by platform:redis.name",
        ),
    ],
)
def test_preview_and_up_refuse_a_name_the_cluster_would_refuse_before_anything_exists(
    tmp_path: Path, plain_env: dict[str, str], change: Callable[[dict[str, Any]], None], problem: str, fix: str
) -> None:
    clone = plain_stack(tmp_path, plain_env)
    stack_file = clone.path / "Pulumi.local.yaml"
    document = yaml.safe_load(stack_file.read_text())
    change(document["config"])
    stack_file.write_text(yaml.safe_dump(document, sort_keys=False))

    for command in (["preview"], ["up", "--yes", "--skip-preview"]):
        done = clone.pulumi(*command, "--stack", "local", check=False)
        output = done.stdout + done.stderr
        assert done.returncode != 0, output
        assert "invalid stack configuration, nothing was changed" in output, output
        assert problem in output and fix in output, output
    assert resources_in_state(clone) == []


def test_an_object_made_outside_the_stack_is_neither_adopted_nor_deleted(
    tmp_path: Path, plain_env: dict[str, str], clean_cluster: None
) -> None:
    kubectl("create", "namespace", "staging-web")
    kubectl("label", "namespace", "staging-web", "owner=someone-else")
    before = json.loads(kubectl("get", "namespace", "staging-web", "-o", "json").stdout)["metadata"]

    clone = plain_stack(tmp_path, plain_env)

    for command in (["preview"], ["up", "--yes"]):
        done = clone.pulumi(*command, "--stack", "local", check=False)
        output = done.stdout + done.stderr
        assert done.returncode != 0, output
        assert "Namespace staging-web already exists in the cluster and was not created by this stack" in output
        assert "pulumi import kubernetes:core/v1:Namespace namespaces-staging-web staging-web" in output, output
    clone.pulumi("destroy", "--stack", "local", "--yes")

    after = json.loads(kubectl("get", "namespace", "staging-web", "-o", "json").stdout)["metadata"]
    assert after["uid"] == before["uid"] and after["labels"].get("owner") == "someone-else"
    managers = {entry["manager"] for entry in after.get("managedFields") or []}
    assert not any(manager.startswith("pulumi") for manager in managers), managers
    assert not any(urn.endswith("::namespaces-staging-web") for urn in resources_in_state(clone))


def deployments_ready(clone: Clone) -> dict[str, str]:
    """Each platform Deployment of the clone's cluster and whether it is Ready."""
    items = json.loads(clone.kubectl("get", "deployments", "-A", "-o", "json").stdout)["items"]
    return {
        f"{d['metadata']['namespace']}/{d['metadata']['name']}": (
            "ready" if d["status"].get("readyReplicas") == d["spec"]["replicas"] else json.dumps(d["status"])
        )
        for d in items
        if d["metadata"]["namespace"] in NAMESPACES
    }


def uids(clone: Clone) -> dict[str, str]:
    kinds = "deployments,statefulsets,services,secrets,configmaps"
    items = json.loads(clone.kubectl("get", kinds, "-A", "-o", "json").stdout)["items"]
    return {
        f"{i['kind']}/{i['metadata']['namespace']}/{i['metadata']['name']}": i["metadata"]["uid"]
        for i in items
        if i["metadata"]["namespace"] in NAMESPACES
    }


def server(clone: Clone) -> str:
    return str(yaml.safe_load(clone.kubeconfig.read_text())["clusters"][0]["cluster"]["server"])


def tools_overlay(parent: Path) -> Path:
    """A tool cache for make in the clones: the built tools and plugins of the shared
    cache, linked, but its own `pulumi` entry, which `make tools` points at whatever
    CLI is first on PATH (so a run with another CLI leaves the shared cache alone)."""
    shared = Path(os.environ["PLATFORM_TOOLS_CACHE"])
    overlay = parent / "tools-cache"
    (overlay / "bin").mkdir(parents=True)
    for entry in (shared / "bin").iterdir():
        if not entry.name.startswith(("pulumi-3", ".")):
            (overlay / "bin" / entry.name).symlink_to(entry)
    for name in ("pulumi-home", "gomod", "gocache"):
        (overlay / name).symlink_to(shared / name)
    return overlay


@pytest.fixture
def two_clones(tmp_path: Path) -> Iterator[tuple[Clone, Clone]]:
    cache = str(tools_overlay(tmp_path))
    clones = (
        fresh_clone(tmp_path, "first", PLATFORM_TOOLS_CACHE=cache),
        fresh_clone(tmp_path, "second", PLATFORM_TOOLS_CACHE=cache),
    )
    yield clones
    for clone in clones:
        clone.run("make", "down", check=False)


def test_make_up_in_two_clones_and_after_a_new_cluster(two_clones: tuple[Clone, Clone]) -> None:
    first, second = two_clones
    first.run("make", "up")
    assert set(deployments_ready(first).values()) == {"ready"}, deployments_ready(first)
    first_objects = uids(first)

    second.run("make", "up")
    assert server(second) != server(first), "the two clones share one cluster"
    assert set(deployments_ready(second).values()) == {"ready"}
    assert uids(first) == first_objects, "the second clone's `make up` changed the first clone's objects"
    second.run("make", "down")
    assert uids(first) == first_objects, "the second clone's `make down` changed the first clone's objects"

    # A new cluster behind the same stack: preview shows the work, up converges.
    first.run("make", "cluster-down")
    first.run("make", "cluster")
    preview = first.run("make", "preview")
    assert "to create" in preview.stdout or "to replace" in preview.stdout, preview.stdout[-4000:]
    first.run("make", "up")
    ready = deployments_ready(first)
    assert ready and set(ready.values()) == {"ready"}, ready
    assert set(deployments_ready(first)) == {
        key.split("/", 1)[1] for key in first_objects if key.startswith("Deployment/")
    }
    again = first.run(
        "bash",
        "-c",
        ". tools/env.sh && PULUMI_BACKEND_URL=file://$PWD/.state/backend "
        "PULUMI_CONFIG_PASSPHRASE_FILE=$PWD/.state/passphrase "
        "pulumi preview --stack local --expect-no-changes --non-interactive",
        check=False,
    )
    assert again.returncode == 0, again.stdout[-4000:]


@pytest.fixture
def clone_with_make(tmp_path: Path) -> Iterator[Clone]:
    clone = fresh_clone(tmp_path, "platform", PLATFORM_TOOLS_CACHE=str(tools_overlay(tmp_path)))
    yield clone
    clone.run("make", "down", check=False)


def stacks_in_backend(clone: Clone) -> list[str]:
    done = clone.run(
        "bash", "-c", ". tools/env.sh && PULUMI_BACKEND_URL=file://$PWD/.state/backend pulumi stack ls --json"
    )
    return [stack["name"] for stack in json.loads(done.stdout)]


def test_make_targets_change_no_committed_file_and_leave_no_stack_a_preview_could_not_use(
    clone_with_make: Clone,
) -> None:
    clone = clone_with_make
    # No cluster for staging here, no secret for minikube: each stops with the command
    # that fixes it for that stack, and leaves nothing behind.
    for stack, hints in (
        ("staging", ("kubernetes:kubeconfig", "get-credentials")),
        ("minikube", ("`make secret STACK=minikube KEY=openaiApiKey`",)),
    ):
        for target in ("preview", "up"):
            done = clone.run("make", target, f"STACK={stack}", check=False)
            output = done.stdout + done.stderr
            assert done.returncode != 0, output[-3000:]
            assert all(hint in output for hint in hints), output[-3000:]
            assert clone.run("git", "status", "--porcelain").stdout == "", f"make {target} STACK={stack}"
            assert stacks_in_backend(clone) == [], f"make {target} STACK={stack} left its stack"

    for local_target in ("up", "preview", "destroy", "up", "down"):
        made = clone.run("make", local_target)
        assert clone.run("git", "status", "--porcelain").stdout == "", f"make {local_target} changed the tree"
        if local_target == "up":
            # The emulated plane runs no container: make says the url does not serve.
            assert "the url does not serve" in made.stdout, made.stdout[-2000:]
        if local_target == "destroy":
            assert "make stack-rm STACK=local" in made.stdout, made.stdout[-2000:]
    assert stacks_in_backend(clone) == ["local"]
