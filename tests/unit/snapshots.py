"""Golden renders: what each stack sends to the engine, as committed text.

Every stack file is built under mocks (tests/unit/harness.py); each registration
becomes one entry: its URN, parent, the options that change what happens in the
cluster (protect, retainOnDelete, ignoreChanges, aliases, dependencies) and its
inputs, with every secret value replaced by `[secret]`. The URNs alone go to a
second file, so a rename shows up on its own line.

    make snapshots        # rewrite tests/unit/snapshots/ after a reviewed change
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.unit.harness import SECRET_SIG, Registration, Run, run_program, stack_config

SNAPSHOT_DIR = Path(__file__).resolve().parent / "snapshots"
SECRET = "[secret]"
MINIKUBE_SECRETS = {"openaiApiKey": "sk-test-openai-key"}

# Every committed stack, and each cloud the staging stack can target.
RENDERS: dict[str, tuple[str, dict[str, Any], dict[str, str]]] = {
    "local": ("local", {}, {}),
    "minikube": ("minikube", {}, MINIKUBE_SECRETS),
    "staging-gke": ("staging", {"target": "gke"}, {}),
    "staging-eks": ("staging", {"target": "eks"}, {}),
    "staging-aks": ("staging", {"target": "aks"}, {}),
}


def _normalise(node: Any) -> Any:
    """`node` with every value the engine would treat as secret replaced by SECRET,
    and whole numbers (protobuf sends every number as a double) written as integers."""
    if isinstance(node, dict):
        if node.get(SECRET_SIG):
            return SECRET
        return {key: _normalise(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_normalise(item) for item in node]
    if isinstance(node, float) and node.is_integer():
        return int(node)
    return node


ROOT_STACK = "pulumi:pulumi:Stack::"
STACK = "[stack]"


def _parent(urn: str) -> str:
    """The parent's URN; the root Stack resource as STACK, as the mock runtime keeps
    the first run's root for the whole process."""
    return STACK if ROOT_STACK in urn else urn


def entry(registration: Registration) -> dict[str, Any]:
    options: dict[str, Any] = {
        "protect": registration.protect,
        "retainOnDelete": registration.retain_on_delete,
        "ignoreChanges": sorted(registration.ignore_changes),
        "aliases": sorted(registration.aliases),
        "dependsOn": sorted(registration.dependencies),
        # The provider's name: every Kubernetes object goes to the stack's one provider.
        "provider": registration.provider.rsplit("::", 1)[0].rsplit("::", 1)[-1],
    }
    return {
        "urn": registration.urn,
        "parent": _parent(registration.parent),
        "options": {key: value for key, value in options.items() if value},
        "inputs": _normalise(registration.raw),
    }


def build(name: str) -> Run:
    stack, overrides, secrets = RENDERS[name]
    return run_program(stack_config(stack) | overrides, secrets=secrets, stack=stack)


def render(run: Run) -> str:
    entries = sorted((entry(r) for r in run.registrations), key=lambda e: e["urn"])
    return yaml.safe_dump(entries, sort_keys=True, width=120, allow_unicode=True)


def urns(run: Run) -> str:
    return "".join(f"{urn}\n" for urn in sorted(r.urn for r in run.registrations))


def render_path(name: str) -> Path:
    return SNAPSHOT_DIR / f"{name}.render.yaml"


def urns_path(name: str) -> Path:
    return SNAPSHOT_DIR / f"{name}.urns"


def write_all() -> None:
    SNAPSHOT_DIR.mkdir(exist_ok=True)
    for name in RENDERS:
        run = build(name)
        render_path(name).write_text(render(run))
        urns_path(name).write_text(urns(run))
        print(f"[snapshots] {name}: {len(run.registrations)} resources")


if __name__ == "__main__":
    write_all()
