"""A config error, as the real CLI shows it: once, with the key and the fix, and
without the engine's "an unhandled error occurred" line after it."""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path

import pytest
import yaml

from scripts.render import copy_project
from tests.e2e.conftest import ROOT

pytestmark = pytest.mark.e2e


def test_a_config_error_is_shown_once_without_the_unhandled_error_line(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    stack = yaml.safe_load((ROOT / "Pulumi.local.yaml").read_text())
    stack["config"]["platform:postgres"]["storage"] = "10Gb"
    (project / "Pulumi.local.yaml").write_text(yaml.safe_dump({"config": stack["config"]}))
    backend = tmp_path / "backend"
    backend.mkdir()
    env = {
        **os.environ,
        "PULUMI_BACKEND_URL": f"file://{backend}",
        "PULUMI_CONFIG_PASSPHRASE": secrets.token_urlsafe(16),
    }

    def pulumi(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["pulumi", *args, "--non-interactive", "--color", "never"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )

    assert pulumi("stack", "init", "local").returncode == 0
    done = pulumi("preview", "--stack", "local")
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    diagnostics = output[output.index("Diagnostics:") :]
    assert diagnostics.count("platform:postgres.storage: '10Gb' is not a Kubernetes quantity") == 1, diagnostics
    assert diagnostics.count("error:") == 1, diagnostics
    assert "an unhandled error occurred" not in output, output
