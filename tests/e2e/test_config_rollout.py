"""Configuration changes reach running pods, on a real API server: a changed
ConfigMap rolls exactly the workloads that read it, and a PostgreSQL extension added
to a running stack rolls PostgreSQL alone, whose start then creates it.

One stack of the local config (`e2e-rollout`) is deployed for the module and changed
with `pulumi config set --path` and `pulumi up`, as a user would. The local control
plane runs no container: what is observed is what Kubernetes does with the rendered
objects (generations, ReplicaSets, pods replaced or kept), not what the images do.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.e2e.conftest import Deployer, kube_json, kubectl
from tests.e2e.resilience_helpers import (
    StackCli,
    changes,
    local_stack_deployed,
    managed_objects,
)

pytestmark = pytest.mark.e2e

CHECKSUM = "checksum/config"
STACK = "e2e-rollout"


@dataclass(frozen=True)
class Workload:
    generation: int
    checksum: str | None
    pods: frozenset[str]  # UIDs of the running (not terminating) pods


Key = tuple[str, str, str]


def workloads() -> dict[Key, Workload]:
    found = {}
    for key, item in managed_objects().items():
        if key[0] not in ("Deployment", "StatefulSet"):
            continue
        selector = ",".join(f"{k}={v}" for k, v in item["spec"]["selector"]["matchLabels"].items())
        pods = kube_json("pods", "-n", key[1], "-l", selector)["items"]
        annotations = item["spec"]["template"]["metadata"].get("annotations", {})
        found[key] = Workload(
            generation=item["metadata"]["generation"],
            checksum=annotations.get(CHECKSUM),
            pods=frozenset(p["metadata"]["uid"] for p in pods if not p["metadata"].get("deletionTimestamp")),
        )
    return found


def rolled(before: dict[Key, Workload], after: dict[Key, Workload]) -> set[Key]:
    """Workloads whose pod template changed, and check that exactly their pods were replaced."""
    assert before.keys() == after.keys()
    changed = {key for key in before if after[key].generation != before[key].generation}
    for key in before:
        if key in changed:
            assert after[key].checksum != before[key].checksum, f"{key} rolled without a new checksum"
            assert not before[key].pods & after[key].pods, f"{key}: old pods still running after its rollout"
        else:
            assert after[key].pods == before[key].pods, f"{key} did not change, but its pods were replaced"
    return changed


@pytest.fixture(scope="module")
def deployed(deployer: Deployer) -> Iterator[StackCli]:
    with local_stack_deployed(deployer, STACK) as cli:
        yield cli


def test_every_deployed_workload_carries_its_config_checksum(deployed: StackCli) -> None:
    without = sorted(key for key, workload in workloads().items() if workload.checksum is None)
    # The gateway reads no ConfigMap or Secret.
    assert without == [("Deployment", "staging-gateway", "gateway")]


def test_a_changed_app_setting_rolls_exactly_that_app(deployed: StackCli) -> None:
    before = workloads()
    deployed.ok("config", "set", "--path", "platform:apps[0].env.LOG_LEVEL", "debug")
    result = deployed.ok("up", "--yes")
    after = workloads()
    assert rolled(before, after) == {("Deployment", "staging-core", "core")}, result.output
    config = kube_json("configmap", "-n", "staging-core", "core-config")["data"]
    assert config["LOG_LEVEL"] == "debug"


def test_a_new_postgres_extension_rolls_postgres_alone_and_its_start_creates_it(deployed: StackCli) -> None:
    before = workloads()
    deployed.ok("config", "set", "--path", "platform:postgres.extensions[1]", "pg_trgm")
    result = deployed.ok("up", "--yes")
    after = workloads()
    assert rolled(before, after) == {("StatefulSet", "staging-infra", "postgres")}, result.output
    scripts = kube_json("configmap", "-n", "staging-infra", "postgres-init")["data"]
    assert scripts["00-extensions.sql"] == (
        'CREATE EXTENSION IF NOT EXISTS "vector";\nCREATE EXTENSION IF NOT EXISTS "pg_trgm";\n'
    )
    # The replaced pod runs the extensions script on start (the control plane runs no
    # container, so what is checked is that the new pod carries the hook).
    pod = json.loads(kubectl("get", "pod", "-n", "staging-infra", "postgres-0", "-o", "json").stdout)
    assert pod["metadata"]["uid"] not in before[("StatefulSet", "staging-infra", "postgres")].pods
    hook = pod["spec"]["containers"][0]["lifecycle"]["postStart"]["exec"]["command"]
    assert "-f /docker-entrypoint-initdb.d/00-extensions.sql" in hook[2]


def test_an_up_without_changes_rolls_nothing(deployed: StackCli) -> None:
    before = workloads()
    result = deployed.ok("up", "--yes")
    assert changes(result.output) == {}, result.output
    assert rolled(before, workloads()) == set()
