"""A team's state backend: the stack's state in S3-compatible storage (versitygw on
127.0.0.1), shared by two checkouts, with the backend's lock refusing a concurrent
`pulumi up` (docs/operations.md, "Sharing stacks: the team state backend")."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from scripts.render import copy_project
from tests.e2e.conftest import KUBECONFIG, LOCAL_CONTEXT, _require_tools, kubectl
from tests.realserver.objectstore import ACCESS_KEY, SECRET_KEY, ObjectStore, versitygw

pytestmark = pytest.mark.e2e

BUCKET = "platform-state"
STACK = "team"
NAMESPACE = "e2e-team-backend"
CONFIG = {
    "config": {
        "platform:target": "kind",
        "platform:namespaces": [{"name": NAMESPACE, "description": "team state backend check"}],
        "platform:gateway": {"namespace": NAMESPACE, "install": False},
        "kubernetes:kubeconfig": str(KUBECONFIG),
        "kubernetes:context": LOCAL_CONTEXT,
    }
}


def checkout(root: Path) -> Path:
    """A copy of the project, as a teammate's clone would be."""
    root.mkdir()
    copy_project(root)
    (root / f"Pulumi.{STACK}.yaml").write_text(yaml.safe_dump(CONFIG))
    return root


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObjectStore]:
    _require_tools()
    with versitygw(tmp_path_factory.mktemp("team-store")) as running:
        running.aws("s3api", "create-bucket", "--bucket", BUCKET)
        yield running


def backend_url(store: ObjectStore) -> str:
    # The CLI's S3 backend (gocloud.dev, AWS SDK v2) needs the endpoint's scheme
    # (a bare host:port is taken as https) and path-style requests.
    return f"s3://{BUCKET}?endpoint={store.endpoint}&s3ForcePathStyle=true&region=us-east-1"


def pulumi(work: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["pulumi", *args], cwd=work, env=env, capture_output=True, text=True, check=False, timeout=600
    )


def test_two_checkouts_share_the_stack_and_the_lock_refuses_a_concurrent_up(store: ObjectStore, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PULUMI_BACKEND_URL": backend_url(store),
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "PULUMI_CONFIG_PASSPHRASE": secrets.token_urlsafe(24),
        "KUBECONFIG": str(KUBECONFIG),
    }
    first, second = checkout(tmp_path / "alice"), checkout(tmp_path / "bob")
    created = pulumi(first, env, "stack", "init", STACK, "--secrets-provider", "passphrase")
    assert created.returncode == 0, created.stderr
    # The stack file (with its encryption salt) is committed, so the teammate has it too.
    shutil.copy(first / f"Pulumi.{STACK}.yaml", second / f"Pulumi.{STACK}.yaml")
    # The second checkout sees the stack the first created: the state is in the bucket.
    listed = pulumi(second, env, "stack", "ls", "--json")
    assert STACK in listed.stdout, listed.stdout + listed.stderr

    locks = store.root / "s3" / BUCKET / ".pulumi" / "locks"
    running = subprocess.Popen(
        ["pulumi", "up", "--yes", "--stack", STACK],
        cwd=first,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (locks.exists() and any(p.suffix == ".json" for p in locks.rglob("*"))):
            assert running.poll() is None, f"the first up ended before it was seen holding the lock:\n{running.stdout}"
            assert time.monotonic() < deadline, "the first up never took the lock"
            time.sleep(0.05)
        refused = pulumi(second, env, "up", "--yes", "--stack", STACK)
    finally:
        output, _ = running.communicate(timeout=600)
    assert running.returncode == 0, output
    assert refused.returncode != 0
    assert "the stack is currently locked" in refused.stderr, refused.stderr

    # Once the first up is done, the second checkout updates the same stack: no changes.
    again = pulumi(second, env, "up", "--yes", "--stack", STACK, "--expect-no-changes")
    assert again.returncode == 0, again.stdout + again.stderr
    assert kubectl("get", "namespace", NAMESPACE, check=False).returncode == 0
    destroyed = pulumi(second, env, "destroy", "--yes", "--stack", STACK, "--remove")
    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
    assert STACK not in pulumi(first, env, "stack", "ls", "--json").stdout
