"""End-to-end fixtures: the real Pulumi CLI (Automation API) against the local
control plane that `make cluster` starts.

The project is copied into a temporary work dir, so stack files and state never
touch the checkout; the virtualenv is the checkout's own.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi import automation as auto

from scripts.render import copy_project

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
KUBECONFIG = Path(os.environ.get("KUBECONFIG", ROOT / ".state" / "kubeconfig"))


SDK_VERSION = next(
    line.split("==")[1].strip()
    for line in (ROOT / "requirements.txt").read_text().splitlines()
    if line.startswith("pulumi==")
)
# The context `make cluster` (cluster/up.sh) gives every local cluster, the e2e one too.
LOCAL_CONTEXT = "kind-platform"


def cli_version(text: str) -> tuple[int, ...]:
    """(3, 259, 0) from `v3.259.0` (or `v3.260.0-alpha.x`); () when it is not a version."""
    core = text.strip().lstrip("v").split("-")[0].split("+")[0]
    try:
        return tuple(int(part) for part in core.split("."))
    except ValueError:
        return ()


def _require_tools() -> None:
    missing = [tool for tool in ("pulumi", "kubectl") if shutil.which(tool) is None]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not on PATH: run `make tools` and `. tools/env.sh` "
            "(or run the suite with `make test-e2e`)",
            pytrace=False,
        )
    version = subprocess.run(["pulumi", "version"], capture_output=True, text=True, check=False).stdout.strip()
    if cli_version(version) < cli_version(SDK_VERSION):
        pytest.fail(
            f"pulumi on PATH is {version!r}, older than the SDK's v{SDK_VERSION} (requirements.txt): "
            "install a newer CLI, or run `make tools` and `. tools/env.sh`",
            pytrace=False,
        )
    if not KUBECONFIG.exists():
        pytest.fail(f"no kubeconfig at {KUBECONFIG}: run `make cluster` first", pytrace=False)
    probe = kubectl("get", "--raw", "/readyz", check=False)
    if probe.returncode != 0:
        pytest.fail(
            f"the API server in {KUBECONFIG} does not answer: run `make cluster`\n{probe.stderr}", pytrace=False
        )


def kubectl(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["kubectl", "--kubeconfig", str(KUBECONFIG), *args], capture_output=True, text=True, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr}")
    return result


def kube_json(*args: str) -> dict[str, Any]:
    return dict(json.loads(kubectl("get", *args, "-o", "json").stdout))


@dataclass
class Deployer:
    """Creates stacks of this project in a scratch work dir and file backend."""

    work_dir: Path
    env: dict[str, str]

    def pulumi(self, *args: str) -> str:
        """Run the CLI itself in the work dir with this backend; its stdout."""
        return subprocess.run(
            ["pulumi", *args],
            cwd=self.work_dir,
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    def stack(
        self,
        name: str,
        stack_file: str,
        secret_config: dict[str, str] | None = None,
        overrides: dict[str, Any] | None = None,
    ) -> auto.Stack:
        """A stack with the config of Pulumi.<stack_file>.yaml, `overrides` (full keys,
        such as `platform:metrics`) replacing whole keys."""
        config = yaml.safe_load((ROOT / f"Pulumi.{stack_file}.yaml").read_text())["config"] | (overrides or {})
        # Every stack of the suite acts on the suite's own cluster, whatever its file names.
        config |= {"kubernetes:kubeconfig": str(KUBECONFIG), "kubernetes:context": LOCAL_CONTEXT}
        (self.work_dir / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump({"config": config}))
        stack = auto.create_or_select_stack(
            stack_name=name,
            work_dir=str(self.work_dir),
            opts=auto.LocalWorkspaceOptions(env_vars=self.env, secrets_provider="passphrase"),
        )
        for key, value in (secret_config or {}).items():
            stack.set_config(key, auto.ConfigValue(value=value, secret=True))
        return stack


@pytest.fixture(scope="session")
def deployer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployer]:
    _require_tools()
    work = copy_project(tmp_path_factory.mktemp("project"))
    backend = tmp_path_factory.mktemp("backend")
    env = {
        "PULUMI_BACKEND_URL": f"file://{backend}",
        "PULUMI_CONFIG_PASSPHRASE": secrets.token_urlsafe(24),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "KUBECONFIG": str(KUBECONFIG),
    }
    yield Deployer(work, env)
