"""A volume size changed on a running stack, on a real API server: a claim template
that Kubernetes will not change is refused before anything changes, with the key and
the steps, and those steps, run as written, grow the claim and bring the StatefulSet
back with the new template; a claim of its own grows through `up` (the emulated
plane's StorageClass allows expansion); a smaller size is refused.

One stack of the local config (`e2e-storage`) is deployed for the module and changed
with `pulumi config set --path`, as a user would. The module ends without the
platform namespaces, so the claims it grew do not reach another module.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import KUBECONFIG, LOCAL_CONTEXT, Deployer, kube_json
from tests.e2e.resilience_helpers import (
    StackCli,
    changes,
    fingerprint,
    local_stack_deployed,
    managed_objects,
)

pytestmark = pytest.mark.e2e

STACK = "e2e-storage"
NAMESPACE = "staging-infra"
# A numbered step of a refusal, and each command in it.
STEP = re.compile(r"^\s+\d+\. (?P<text>.*)$", re.MULTILINE)
COMMAND = re.compile(r"`([^`]+)`")


@pytest.fixture(scope="module")
def deployed(deployer: Deployer) -> Iterator[StackCli]:
    with local_stack_deployed(deployer, STACK) as cli:
        yield cli


def requested(claim: str) -> str:
    return str(kube_json("pvc", "-n", NAMESPACE, claim)["spec"]["resources"]["requests"]["storage"])


def uid(*args: str) -> str:
    return str(kube_json(*args)["metadata"]["uid"])


def shell(command: str, cli: StackCli) -> subprocess.CompletedProcess[str]:
    """A command of a refusal, in the stack's project with its backend, as a user runs it."""
    return subprocess.run(
        ["bash", "-c", command], cwd=cli.deployer.work_dir, env=cli.env(), capture_output=True, text=True, check=False
    )


def test_a_grown_postgres_storage_is_refused_naming_the_key_and_nothing_changes(deployed: StackCli) -> None:
    before = fingerprint(managed_objects())
    deployed.ok("config", "set", "--path", "platform:postgres.storage", "20Gi")
    for command in (("preview",), ("up", "--yes")):
        refused = deployed.run(*command)
        assert refused.returncode != 0, refused.describe()
        assert (
            "platform:postgres.storage: '20Gi' is larger than the 10Gi of the claim template 'data' of the "
            "StatefulSet staging-infra/postgres" in refused.output
        ), refused.describe()
        assert "Forbidden" not in refused.output, refused.describe()
    assert fingerprint(managed_objects()) == before
    assert requested("data-postgres-0") == "10Gi"


def test_the_steps_of_the_refusal_grow_the_claim_and_bring_the_statefulset_back(deployed: StackCli) -> None:
    refused = deployed.run("preview")
    steps = STEP.findall(refused.output)
    assert len(steps) == 5, refused.describe()
    claim, pod = uid("pvc", "-n", NAMESPACE, "data-postgres-0"), uid("pod", "-n", NAMESPACE, "postgres-0")
    kubectl = f"kubectl --kubeconfig {KUBECONFIG} --context {LOCAL_CONTEXT}"
    for step in steps:
        # Each step's command as given; for make's targets, the plain Pulumi one beside
        # it (make works on the checkout's own backend), with the --yes a script needs.
        commands = COMMAND.findall(step)
        command = commands[1] + " --yes" if commands[0].startswith("make ") else commands[0]
        assert command.startswith((kubectl, "pulumi ")), step
        done = shell(command, deployed)
        assert done.returncode == 0, f"{command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        if "jsonpath" in command:
            assert done.stdout == "true"
    statefulset = kube_json("statefulset", "-n", NAMESPACE, "postgres")
    assert statefulset["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "20Gi"
    # The same claim, grown, and the same pod, adopted by the new StatefulSet.
    assert uid("pvc", "-n", NAMESPACE, "data-postgres-0") == claim and requested("data-postgres-0") == "20Gi"
    assert uid("pod", "-n", NAMESPACE, "postgres-0") == pod
    assert changes(deployed.ok("preview", "--expect-no-changes").output) == {}


def test_a_grown_redis_claim_grows_through_up(deployed: StackCli) -> None:
    claim = uid("pvc", "-n", NAMESPACE, "redis-data")
    deployed.ok("config", "set", "--path", "platform:redis.storage", "4Gi")
    result = deployed.ok("up", "--yes")
    assert changes(result.output) == {"updated": 1}, result.describe()
    assert uid("pvc", "-n", NAMESPACE, "redis-data") == claim and requested("redis-data") == "4Gi"


def test_a_smaller_redis_claim_is_refused_as_a_volume_cannot_shrink(deployed: StackCli) -> None:
    deployed.ok("config", "set", "--path", "platform:redis.storage", "1Gi")
    refused = deployed.run("preview")
    assert refused.returncode != 0, refused.describe()
    assert (
        "platform:redis.storage: '1Gi' is smaller than the 4Gi of the claim staging-infra/redis-data, and a volume "
        "cannot shrink; set it back to 4Gi"
    ) in refused.output, refused.describe()
    deployed.ok("config", "set", "--path", "platform:redis.storage", "4Gi")
