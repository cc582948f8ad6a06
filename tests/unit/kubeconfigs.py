"""Kubeconfigs and fake exec credential plugins for the unit tests.

A fake plugin is a small shell script that records how it was run (its arguments,
environment and KUBERNETES_EXEC_INFO, one line per run in `<script>.runs`) and
prints an ExecCredential, as gke-gcloud-auth-plugin or `aws eks get-token` do.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import yaml

V1 = "client.authentication.k8s.io/v1"
V1BETA1 = "client.authentication.k8s.io/v1beta1"


def exec_plugin(
    path: Path,
    status: dict[str, Any] | None = None,
    *,
    api_version: str = V1,
    exit_code: int = 0,
    stderr: str = "",
    token_per_run: bool = False,
) -> Path:
    """A plugin at `path` that answers `status` (or, with `token_per_run`, the token
    `t<n>` on its n-th run), or fails with `exit_code` and `stderr`."""
    answer = {"apiVersion": api_version, "kind": "ExecCredential", "status": status or {}}
    lines = [
        "#!/bin/sh",
        'printf "%s\\n" "$KUBERNETES_EXEC_INFO" > "$0.info"',
        'printf "%s\\n" "$*" > "$0.args"',
        'env > "$0.env"',
        'echo run >> "$0.runs"',
    ]
    if stderr:
        lines.append(f"echo {shlex.quote(stderr)} >&2")
    if exit_code:
        lines.append(f"exit {exit_code}")
    if token_per_run:
        prefix = json.dumps({"apiVersion": api_version, "kind": "ExecCredential"})[:-1]
        lines.append('n=$(wc -l < "$0.runs" | tr -d " ")')
        lines.append(f'printf \'%s, "status": {{"token": "t%s"}}}}\\n\' {shlex.quote(prefix)} "$n"')
    else:
        lines.append(f"printf '%s\\n' {shlex.quote(json.dumps(answer))}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o755)
    return path


def runs(plugin: Path) -> int:
    """How often the plugin ran."""
    runs_file = plugin.with_name(plugin.name + ".runs")
    return len(runs_file.read_text().splitlines()) if runs_file.exists() else 0


def exec_user(command: str, api_version: str = V1, **extra: Any) -> dict[str, Any]:
    """A kubeconfig user that runs `command` for its credentials."""
    spec: dict[str, Any] = {"apiVersion": api_version, "command": command}
    if api_version == V1:
        spec["interactiveMode"] = "Never"
    return {"exec": spec | extra}


def write_kubeconfig(
    path: Path,
    server: str,
    user: dict[str, Any],
    cluster: dict[str, Any] | None = None,
    context: str = "kind-platform",
) -> Path:
    """A kubeconfig at `path` with one context `context` for `server` (and the
    further `cluster` settings) and `user`."""
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server, **(cluster or {})}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": context, "context": {"cluster": "c", "user": "u"}}],
        "current-context": context,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document))
    return path
