"""`make render` renders every stack; `make render STACK=<stack>` only that one
(README, docs/operations.md). `make -n` prints the recipe without running it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _render_recipe(*args: str) -> str:
    env = {key: value for key, value in os.environ.items() if key not in ("STACK", "MAKEFLAGS", "MAKELEVEL")}
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", "render", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_make_render_with_a_stack_renders_only_that_stack() -> None:
    assert "for stack in staging;" in _render_recipe("STACK=staging")


def test_make_render_without_a_stack_renders_every_stack() -> None:
    stacks = sorted(path.name.split(".")[1] for path in ROOT.glob("Pulumi.*.yaml"))
    recipe = _render_recipe()
    assert f"for stack in {' '.join(['local', 'minikube', 'staging'])};" in recipe
    assert stacks == ["local", "minikube", "staging"]
