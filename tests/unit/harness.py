"""Run the platform program under Pulumi mocks and record every registration.

No Pulumi CLI is involved: the recording monitor stands in for the engine and keeps,
for each resource, its type, name, parent, options and inputs, with secret values
still marked as secret.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from google.protobuf import json_format
from pulumi.runtime import config as runtime_config
from pulumi.runtime import mocks

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "platform"
SECRET_SIG = "4dabf18193072939515e22adb298388d"


@dataclass
class Registration:
    type: str
    name: str
    parent: str
    urn: str
    inputs: dict[str, Any]
    raw: dict[str, Any]
    protect: bool
    retain_on_delete: bool
    ignore_changes: list[str]
    dependencies: list[str]
    aliases: list[str]
    provider: str = ""

    @property
    def metadata(self) -> dict[str, Any]:
        return dict(self.inputs.get("metadata") or {})

    @property
    def k8s_name(self) -> str | None:
        return self.metadata.get("name")

    @property
    def namespace(self) -> str | None:
        return self.metadata.get("namespace")

    @property
    def kind(self) -> str:
        return self.type.rsplit(":", 1)[-1]

    def pod_spec(self) -> dict[str, Any]:
        spec = self.inputs["spec"]
        if self.kind == "CronJob":
            return dict(spec["jobTemplate"]["spec"]["template"]["spec"])
        return dict(spec["template"]["spec"])

    def is_secret(self, *path: str) -> bool:
        """Whether the input at `path` (or anything containing it) is marked secret."""
        node: Any = self.raw
        for key in path:
            if isinstance(node, dict) and node.get(SECRET_SIG):
                return True
            node = node[key]
        return isinstance(node, dict) and bool(node.get(SECRET_SIG))


def _reveal(node: Any) -> Any:
    """The plain value of `node`, with secret markers removed at every depth."""
    if isinstance(node, dict):
        if node.get(SECRET_SIG):
            return _reveal(node["value"])
        return {key: _reveal(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_reveal(item) for item in node]
    return node


class _Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        state = dict(args.inputs)
        if args.typ == "random:index/randomPassword:RandomPassword":
            state["result"] = f"generated-{args.name}-" + "x" * 8
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


class _RecordingMonitor(mocks.MockMonitor):
    def __init__(self) -> None:
        super().__init__(_Mocks())
        self.registrations: list[Registration] = []

    def SupportsFeature(self, request: Any) -> Any:  # noqa: N802 - the engine's RPC name
        # Without alias specs the SDK resolves each alias to the URN it stands for,
        # which is what the URN snapshot compares against (tests/unit/snapshots.py).
        if request.id == "aliasSpecs":
            return type("SupportsFeatureResponse", (object,), {"hasSupport": False})
        return super().SupportsFeature(request)

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - the engine's RPC name
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.registrations.append(
                Registration(
                    type=request.type,
                    name=request.name,
                    parent=request.parent,
                    urn=response.urn,
                    inputs=_reveal(self.resources[response.urn].state),
                    raw=json_format.MessageToDict(request.object),
                    protect=bool(request.protect),
                    retain_on_delete=bool(request.retainOnDelete),
                    ignore_changes=list(request.ignoreChanges),
                    dependencies=list(request.dependencies),
                    aliases=list(request.aliasURNs),
                    provider=request.provider,
                )
            )
        return response


@dataclass
class Run:
    """What one program run registered and exported."""

    registrations: list[Registration]
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: set[str] = field(default_factory=set)

    def of_kind(self, kind: str) -> list[Registration]:
        return [r for r in self.registrations if r.kind == kind]

    def one(self, kind: str, name: str, namespace: str | None = None) -> Registration:
        found = [
            r for r in self.of_kind(kind) if r.k8s_name == name and (namespace is None or r.namespace == namespace)
        ]
        assert len(found) == 1, f"expected one {kind} {namespace}/{name}, found {len(found)}"
        return found[0]

    def by_urn(self, urn: str) -> Registration:
        return next(r for r in self.registrations if r.urn == urn)

    def count(self, kind: str) -> int:
        return len(self.of_kind(kind))

    def workloads(self) -> list[Registration]:
        return [r for r in self.registrations if r.kind in ("Deployment", "StatefulSet", "CronJob")]


def stack_config(stack: str) -> dict[str, Any]:
    """The `platform:*` config of Pulumi.<stack>.yaml, keys without the prefix."""
    document = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())
    prefix = f"{PROJECT}:"
    return {key[len(prefix) :]: value for key, value in document["config"].items() if key.startswith(prefix)}


KUBECONFIG_FIXTURE = Path(__file__).resolve().parent / "fixtures" / "kubeconfig.yaml"


def cluster_config(stack: str) -> dict[str, str]:
    """The `kubernetes:*` keys of Pulumi.<stack>.yaml (full keys), the kubeconfig
    replaced by a fixture that has every stack's context."""
    path = ROOT / f"Pulumi.{stack}.yaml"
    if not path.exists():
        path = ROOT / "Pulumi.local.yaml"
    document = yaml.safe_load(path.read_text())
    config = {key: str(value) for key, value in document["config"].items() if key.startswith("kubernetes:")}
    return config | {"kubernetes:kubeconfig": str(KUBECONFIG_FIXTURE)}


def _encode(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def run_program(
    config: Mapping[str, Any],
    *,
    secrets: Mapping[str, str] | None = None,
    stack: str = "test",
    cluster: Mapping[str, str] | None = None,
    pod_monitors_available: bool = False,
) -> Run:
    """Build the whole program from `config` (and secret config) under mocks, as
    __main__.py does: settings, the stack's Kubernetes provider, the platform, in a
    cluster with the Prometheus Operator's CRDs if `pod_monitors_available`.
    `cluster` is the `kubernetes:*` config (default: the stack file's, see cluster_config)."""
    from components.cluster import stack_provider
    from components.config.loading import load_settings
    from components.from_settings import storage_sources
    from components.object_names import check_names
    from components.platform import Platform
    from components.storage_changes import sized_volumes

    monitor = _RecordingMonitor()
    pulumi.runtime.set_mocks(monitor.mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)
    secrets = dict(secrets or {})
    everything = {f"{PROJECT}:{key}": _encode(value) for key, value in {**config, **secrets}.items()}
    everything |= cluster_config(stack) if cluster is None else dict(cluster)
    runtime_config.set_all_config(everything, [f"{PROJECT}:{key}" for key in secrets])
    # As the language host does: every key also in PULUMI_CONFIG.
    os.environ["PULUMI_CONFIG"] = json.dumps(everything)
    run = Run(monitor.registrations)
    _runs.append(run)

    async def collect(outputs: Mapping[str, Any]) -> None:
        for key, value in outputs.items():
            output = pulumi.Output.from_input(value)
            run.outputs[key] = await output.future()
            if await output.is_secret():
                run.secret_outputs.add(key)

    @pulumi.runtime.test
    def program() -> Any:
        settings = load_settings()
        objects = check_names(settings)
        # The fixture's servers do not exist: only a test that brings a cluster looks objects up.
        check = settings.ownership_check and cluster is not None
        providers = stack_provider(project_dir=ROOT, check_ownership=check)
        providers.check_storage(sized_volumes(objects, storage_sources(settings)))
        platform = Platform(
            stack, settings, pod_monitors_available=pod_monitors_available, opts=providers.resource_options()
        )
        return asyncio.ensure_future(collect(platform.outputs()))

    try:
        program()
    finally:
        runtime_config.set_all_config({}, [])
        os.environ.pop("PULUMI_CONFIG", None)
    return run


_runs: list[Run] = []


def run_resources(build: Callable[[], object]) -> Run:
    """Run `build`, which creates resources, under mocks and record what it registered."""
    monitor = _RecordingMonitor()
    pulumi.runtime.set_mocks(monitor.mocks, project=PROJECT, stack="test", preview=False, monitor=monitor)
    run = Run(monitor.registrations)

    @pulumi.runtime.test
    def program() -> None:
        build()

    program()
    return run


def last_run() -> Run:
    """The most recent run, also when the program raised."""
    return _runs[-1]


def run_stack(stack: str, secrets: Mapping[str, str] | None = None) -> Run:
    return run_program(stack_config(stack), secrets=secrets, stack=stack)


def kinds(registrations: Iterable[Registration]) -> list[str]:
    return sorted(r.kind for r in registrations)
