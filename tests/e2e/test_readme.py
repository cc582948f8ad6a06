"""The README is the test: every block marked `bash fresh-clone` in the README and the
docs runs as written, in a fresh clone of this checkout, in a shell that has only
what the README asks for (Python, make, Go for `make tools`; no `pulumi` on PATH, no
Pulumi variables, no virtualenv). `make cluster` in the block starts the clone's own
cluster; the fixture removes it. Every block marked `bash after-make-up` runs the
same way in a fresh clone after `make up`, on the emulated plane (they read the
stack, which needs no container).

Each clone is `git clone` of this checkout's HEAD, so commit before running these.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.documented import AFTER_MAKE_UP, marked_blocks
from tests.e2e.conftest import ROOT
from tests.e2e.test_user_path import fresh_clone, tools_overlay

pytestmark = pytest.mark.e2e

FENCE = "```bash fresh-clone\n"
TIMEOUT = 1800
# What a user's shell has that a test runner's may add: none of it may reach the block.
USER_VARIABLES = ("HOME", "USER", "LANG", "LC_ALL", "TERM", "TMPDIR", "GOPATH", "GOROOT", "PLATFORM_TOOLS_CACHE")


def fresh_clone_blocks(fence: str = FENCE) -> list[tuple[str, str]]:
    """Every block of the README and the docs marked with `fence`, as (where, script)."""
    return marked_blocks(fence)


def plain_pulumi_block() -> str:
    blocks = dict(fresh_clone_blocks())
    return blocks["README.md#1"]


def user_shell() -> dict[str, str]:
    """A new user's environment: the system PATH without the tool cache (so `pulumi`
    comes only from what the block does), the variables of a login shell."""
    cache = os.environ.get("PLATFORM_TOOLS_CACHE", str(Path.home() / ".cache" / "platform-tools"))
    path = [entry for entry in os.environ["PATH"].split(":") if entry and not entry.startswith(cache)]
    path = [entry for entry in path if not entry.startswith(str(ROOT))]
    env = {key: os.environ[key] for key in USER_VARIABLES if key in os.environ}
    return env | {"PATH": ":".join(path)}


def resources(export: Path) -> list[str]:
    """The URNs of the objects in an exported stack (not Pulumi's own)."""
    deployment = json.loads(export.read_text())["deployment"]
    return [r["urn"] for r in deployment.get("resources") or [] if not r["type"].startswith("pulumi:")]


@dataclass
class FreshClone:
    path: Path

    def bash(self, script: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
        """`script` as a user pastes it into a new shell in the clone (stopping at the
        first command that fails, each command traced)."""
        try:
            return subprocess.run(
                ["bash", "-e", "-o", "pipefail", "-x", "-c", script],
                cwd=self.path,
                env=user_shell(),
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise AssertionError(f"still running after {timeout}s:\n{script}") from error

    def git_status(self) -> list[str]:
        done = subprocess.run(
            ["git", "status", "--porcelain"], cwd=self.path, capture_output=True, text=True, check=True
        )
        return done.stdout.splitlines()


def failed(script: str, done: subprocess.CompletedProcess[str]) -> str:
    return (
        f"exited {done.returncode}:\n{script}\n"
        f"--- stdout ---\n{done.stdout[-6000:]}\n--- stderr ---\n{done.stderr[-6000:]}"
    )


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FreshClone]:
    path = tmp_path_factory.mktemp("readme") / "platform"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(path)], check=True)
    fresh = FreshClone(path)
    yield fresh
    fresh.bash("make cluster-down", timeout=300)


def test_the_plain_pulumi_block_runs_as_written_in_a_fresh_clone(clone: FreshClone) -> None:
    script = plain_pulumi_block()
    # After the block: where the CLI kept its settings, and what the stack holds.
    probe = 'echo "PULUMI_HOME=$PULUMI_HOME"; pulumi stack export --stack local --file .state/after-block.json'
    done = clone.bash(f"{script}\n{probe}")
    assert done.returncode == 0, failed(script, done)

    home = next(line for line in done.stdout.splitlines() if line.startswith("PULUMI_HOME="))
    assert home == f"PULUMI_HOME={clone.path}/.state/pulumi-home", "a PULUMI_HOME every checkout shares"
    assert resources(clone.path / ".state" / "after-block.json") == []
    # What the README says plain Pulumi does to the stack file: the salt, nothing else.
    diff = subprocess.run(
        ["git", "diff", "-U0", "--", "Pulumi.local.yaml"], cwd=clone.path, capture_output=True, text=True, check=True
    ).stdout
    added = [line for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    removed = [line for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")]
    assert removed == [] and len(added) == 1 and added[0].startswith("+encryptionsalt: v1:"), diff


def test_make_down_after_plain_pulumi_destroys_that_stack_and_removes_the_cluster(clone: FreshClone) -> None:
    # The block again, up to and without its destroy; then make, from a new shell
    # that exported nothing: one passphrase, one backend, one stack.
    lines = plain_pulumi_block().splitlines()
    script = "\n".join(line for line in lines if not line.startswith("pulumi destroy"))
    done = clone.bash(script)
    assert done.returncode == 0, failed(script, done)

    down = clone.bash("make down")
    assert down.returncode == 0, failed("make down", down)
    assert "incorrect passphrase" not in down.stdout + down.stderr
    assert "deleted" in down.stdout, down.stdout[-3000:]
    assert not (clone.path / ".state" / "kubeconfig").exists(), "make down left the cluster's kubeconfig"
    assert "no cluster" not in down.stdout and "deleted in" in down.stdout, down.stdout[-2000:]
    state = clone.bash(
        ". tools/env.sh && PULUMI_BACKEND_URL=file://$PWD/.state/backend "
        "PULUMI_CONFIG_PASSPHRASE_FILE=$PWD/.state/passphrase "
        "pulumi stack export --stack local --file .state/after-down.json"
    )
    assert state.returncode == 0, failed("pulumi stack export", state)
    assert resources(clone.path / ".state" / "after-down.json") == []


@pytest.fixture(scope="module")
def made_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FreshClone]:
    """A fresh clone after `make up` of the local stack, on the emulated plane."""
    parent = tmp_path_factory.mktemp("after-make-up")
    clone = fresh_clone(
        parent, "platform", PLATFORM_TOOLS_CACHE=str(tools_overlay(parent)), PLATFORM_CLUSTER_RUNTIME="kwok"
    )
    try:
        clone.run("make", "up")
        yield FreshClone(clone.path)
    finally:
        clone.run("make", "down", check=False)


@pytest.mark.parametrize(
    ("where", "script"),
    fresh_clone_blocks(AFTER_MAKE_UP),
    ids=[where for where, _ in fresh_clone_blocks(AFTER_MAKE_UP)],
)
def test_a_block_after_make_up_runs_as_written(made_up: FreshClone, where: str, script: str) -> None:
    done = made_up.bash(script, timeout=300)
    assert done.returncode == 0, f"{where}: " + failed(script, done)


def test_the_first_login_block_prints_authentiks_page_user_and_the_password_it_was_given(made_up: FreshClone) -> None:
    script = dict(fresh_clone_blocks(AFTER_MAKE_UP))["docs/cloud.md#1"]
    done = made_up.bash(script, timeout=300)
    assert done.returncode == 0, failed(script, done)
    lines = done.stdout.splitlines()
    # The login page, the user and the password, then every output as JSON.
    assert lines[:2] == ["http://localhost/auth/", "akadmin"], done.stdout
    secret = subprocess.run(
        [
            "kubectl",
            "--kubeconfig",
            str(made_up.path / ".state" / "kubeconfig"),
            "-n",
            "staging-infra",
            "get",
            "secret",
            "authentik-secrets",
            "-o",
            "jsonpath={.data.AUTHENTIK_BOOTSTRAP_PASSWORD}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert lines[2] == base64.b64decode(secret).decode() and len(lines[2]) >= 32
    outputs = json.loads("\n".join(lines[3:]))
    assert outputs["authentikAdminPassword"] == lines[2] and outputs["postgresUri"].startswith("postgresql://app:")
