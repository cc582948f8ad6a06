"""Write a stack's Kubernetes manifests to a directory instead of deploying them.

    python scripts/render.py --stack local --out build/render/local [--secret KEY=VALUE]

The program runs in a scratch copy of the project (`.state/render/`, its own file
backend and a throwaway passphrase), with the committed stack file's config, its
cluster keys replaced by `kubernetes:renderYamlToDirectory`, so no cluster is contacted and neither the
checkout's stack files nor its state change. The provider writes a manifest only
when it creates an object, so every render starts from an empty stack.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def render_config(config: dict[str, object], out: Path) -> dict[str, object]:
    """A stack's config that renders to `out` instead of deploying. The provider refuses
    a kubeconfig or context with renderYamlToDirectory, and strictMode asks for both:
    a render names no cluster at all."""
    rendered = {key: value for key, value in config.items() if key not in _CLUSTER_KEYS}
    return rendered | {"kubernetes:renderYamlToDirectory": str(out)}


_CLUSTER_KEYS = {f"kubernetes:{key}" for key in ("kubeconfig", "context", "strictMode", "deleteUnreachable")}
WORK = ROOT / ".state" / "render"
# What a scratch copy of the program needs (render, the e2e tests, bench).
PROJECT_FILES = ["Pulumi.yaml", "__main__.py", "requirements.txt", "components"]


def copy_project(work: Path, files: Sequence[str] = PROJECT_FILES, source: Path = ROOT) -> Path:
    """The program's `files` copied from `source` into `work` (made if missing), with the
    checkout's virtualenv linked, so `pulumi` runs it there with its own stack files
    and state."""
    work.mkdir(parents=True, exist_ok=True)
    for name in files:
        path = source / name
        if path.is_dir():
            shutil.copytree(path, work / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(path, work / name)
    (work / ".venv").symlink_to(ROOT / ".venv")
    return work


def fail(message: str) -> None:
    print(f"[render] error: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", default="local")
    parser.add_argument("--out", required=True, help="directory for the manifests (replaced)")
    parser.add_argument("--secret", action="append", default=[], metavar="KEY=VALUE", help="a secret config value")
    options = parser.parse_args()
    if shutil.which("pulumi") is None:
        fail("the pulumi CLI is not on PATH; run `make tools` and `. tools/env.sh`")
    stack_file = ROOT / f"Pulumi.{options.stack}.yaml"
    if not stack_file.exists():
        fail(f"no stack file {stack_file.name}")
    out = Path(options.out).resolve()
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(WORK, ignore_errors=True)
    project, backend = copy_project(WORK / "project"), WORK / "backend"
    backend.mkdir()
    config = render_config((yaml.safe_load(stack_file.read_text()) or {}).get("config") or {}, out)
    (project / stack_file.name).write_text(yaml.safe_dump({"config": config}, sort_keys=False))
    env = dict(os.environ)
    env.pop("PULUMI_CONFIG_PASSPHRASE_FILE", None)
    env |= {"PULUMI_BACKEND_URL": f"file://{backend}", "PULUMI_CONFIG_PASSPHRASE": secrets.token_urlsafe(24)}

    def pulumi(*args: str) -> None:
        result = subprocess.run(["pulumi", *args, "--stack", options.stack], cwd=project, env=env, check=False)
        if result.returncode != 0:
            fail(f"`pulumi {' '.join(args)}` exited with {result.returncode}")

    pulumi("stack", "init", "--secrets-provider", "passphrase")
    for item in options.secret:
        key, _, value = item.partition("=")
        pulumi("config", "set", "--secret", key, value)
    pulumi("up", "--yes", "--skip-preview", "--suppress-outputs")
    print(f"[render] {options.stack}: manifests in {out}", flush=True)


if __name__ == "__main__":
    main()
