"""A changed volume size against the live cluster (components/storage_changes.py):
what cannot reach the cluster stops the program before anything is registered, with
the key and the steps; a claim whose class allows expansion grows through `up`."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from components.config.loading import ConfigError, invalid, parse_settings
from components.config.targets import TARGETS
from components.from_settings import storage_sources
from components.object_names import rendered_objects
from components.storage_changes import CLAIM, TEMPLATE, Commands, LiveVolume, SizedVolume, problem, sized_volumes
from tests.unit.harness import ROOT, cluster_config, last_run, run_program, stack_config
from tests.unit.test_cluster import stack_file

COMMANDS = Commands("kubectl --kubeconfig .state/kubeconfig --context kind-platform", "local")
KUBECTL = COMMANDS.kubectl
POSTGRES = SizedVolume("postgres.storage", TEMPLATE, "staging-infra", "postgres", "20Gi", template="data")
REDIS = SizedVolume("redis.storage", CLAIM, "staging-infra", "redis-data", "4Gi")


def live(size: str, *, expandable: bool = True, claims: tuple[str, ...] = ("data-postgres-0",)) -> LiveVolume:
    return LiveVolume(size, "standard", expandable, claims)


def test_a_larger_claim_template_is_refused_with_the_key_and_each_step_for_the_stack() -> None:
    message = problem(POSTGRES, live("10Gi", claims=("data-postgres-0", "data-postgres-1")), COMMANDS)
    assert message is not None
    assert message.startswith(
        "postgres.storage: '20Gi' is larger than the 10Gi of the claim template 'data' of the StatefulSet "
        "staging-infra/postgres: Kubernetes does not let a StatefulSet's volumeClaimTemplates change"
    )
    steps = message.split("\n    ")[1:]
    assert steps == [
        f"1. `{KUBECTL} get storageclass standard -o jsonpath='{{.allowVolumeExpansion}}'` prints true "
        "(the StorageClass standard allows expansion)",
        f"""2. `{KUBECTL} -n staging-infra patch pvc data-postgres-0 -p '{{"spec":{{"resources":{{"requests":"""
        """{"storage":"20Gi"}}}}'`""",
        f"""3. `{KUBECTL} -n staging-infra patch pvc data-postgres-1 -p '{{"spec":{{"resources":{{"requests":"""
        """{"storage":"20Gi"}}}}'`""",
        f"4. `{KUBECTL} -n staging-infra delete statefulset postgres --cascade=orphan` (its pods keep running, "
        "its claims stay)",
        "5. `make refresh STACK=local` (or `pulumi refresh --stack local`): the stack forgets the StatefulSet",
        "6. `make up STACK=local` (or `pulumi up --stack local`): the StatefulSet again, with the new template, "
        "adopting the running pods",
    ]


def test_the_steps_allow_expansion_first_where_the_class_does_not() -> None:
    message = problem(POSTGRES, live("10Gi", expandable=False), COMMANDS) or ""
    first = message.split("\n    ")[1]
    assert first.startswith("1. allow expansion on the StorageClass standard")
    assert f"""`{KUBECTL} patch storageclass standard -p '{{"allowVolumeExpansion":true}}'`""" in first
    assert "local-path-provisioner, the local clusters', cannot" in first


@pytest.mark.parametrize("volume", [POSTGRES, REDIS], ids=["claim template", "claim"])
def test_a_size_below_the_live_one_is_refused_as_a_volume_cannot_shrink(volume: SizedVolume) -> None:
    message = problem(volume, live("50Gi"), COMMANDS)
    assert message is not None
    assert message.startswith(f"{volume.key}: '{volume.size}' is smaller than the 50Gi of")
    assert message.endswith("a volume cannot shrink; set it back to 50Gi")


def test_a_larger_claim_of_its_own_grows_through_up_where_its_class_allows_expansion() -> None:
    assert problem(REDIS, live("2Gi", claims=("redis-data",)), COMMANDS) is None


def test_a_larger_claim_of_its_own_is_refused_where_its_class_does_not_allow_expansion() -> None:
    message = problem(REDIS, live("2Gi", expandable=False, claims=("redis-data",)), COMMANDS) or ""
    assert message.startswith(
        "redis.storage: '4Gi' is larger than the 2Gi of the claim staging-infra/redis-data, but its StorageClass "
        "standard does not allow expansion"
    )
    assert "Set it back to 2Gi, or allow expansion first:" in message


def test_a_larger_claim_that_is_not_bound_yet_is_refused() -> None:
    pending = LiveVolume("2Gi", "standard", True, ("redis-data",), bound=False)
    message = problem(REDIS, pending, COMMANDS) or ""
    assert "not bound to a volume yet, and Kubernetes resizes only bound claims" in message


@pytest.mark.parametrize("live_size", ["20Gi", "20480Mi", "21474836480"])
def test_the_same_size_in_other_units_passes(live_size: str) -> None:
    assert problem(POSTGRES, live(live_size), COMMANDS) is None


def test_a_volume_not_in_the_cluster_passes() -> None:
    assert problem(POSTGRES, None, COMMANDS) is None


def test_every_sized_volume_of_the_staging_stack_names_its_key() -> None:
    settings = parse_settings(stack_config("staging"))
    volumes = sized_volumes(rendered_objects(settings), storage_sources(settings))
    found = {(v.key, v.kind, v.name, v.template, v.size) for v in volumes}
    assert found == {
        ("postgres.storage", TEMPLATE, "postgres", "data", "50Gi"),
        ("postgres.backup.storage", CLAIM, "postgres-backups", "", "50Gi"),
        ("redis.storage", CLAIM, "redis-data", "", "10Gi"),
        ("authentik.database.storage", TEMPLATE, "authentik-postgres", "data", "20Gi"),
        ("authentik.mediaStorage", CLAIM, "authentik-media", "", "10Gi"),
        ("authentik.database.backup.storage", CLAIM, "authentik-postgres-backups", "", "20Gi"),
    }


def test_the_refusal_in_the_operations_guide_is_the_one_the_program_gives_on_staging() -> None:
    staging = stack_file("staging")
    kubectl = f"kubectl --kubeconfig {staging['kubernetes:kubeconfig']} --context {staging['kubernetes:context']}"
    live_template = LiveVolume(
        stack_config("staging")["postgres"]["storage"], TARGETS["gke"].storage_class, True, ("data-postgres-0",)
    )
    grown = SizedVolume("postgres.storage", TEMPLATE, "staging-infra", "postgres", "100Gi", template="data")
    refusal = problem(grown, live_template, Commands(kubectl, "staging"))
    assert refusal is not None
    guide = (ROOT / "docs" / "operations.md").read_text()
    assert f"```\nerror: {invalid([refusal])}\n```" in guide


# --- the program against a cluster that runs the stack ---------------------------

OURS = {"managedFields": [{"manager": "pulumi-kubernetes-7f3a9c2e"}]}


def deployed(objects: dict[str, dict[str, Any]], *, postgres: str = "10Gi", redis: str = "2Gi") -> None:
    """The local stack's sized volumes as `up` left them, on a class that allows expansion."""
    template = {"metadata": {"name": "data"}, "spec": {"storageClassName": "standard", **requests(postgres)}}
    objects["/apis/apps/v1/namespaces/staging-infra/statefulsets/postgres"] = {
        "metadata": OURS,
        "spec": {"replicas": 1, "volumeClaimTemplates": [template]},
    }
    objects["/api/v1/namespaces/staging-infra/persistentvolumeclaims/redis-data"] = {
        "metadata": OURS,
        "spec": {"storageClassName": "standard", **requests(redis)},
        "status": {"phase": "Bound"},
    }
    objects["/apis/storage.k8s.io/v1/storageclasses/standard"] = {"allowVolumeExpansion": True}


def requests(size: str) -> dict[str, Any]:
    return {"resources": {"requests": {"storage": size}}}


def test_a_grown_postgres_storage_stops_the_program_before_anything_is_registered(
    api: tuple[Path, dict[str, dict[str, Any]]],
) -> None:
    path, objects = api
    deployed(objects)
    config = copy.deepcopy(stack_config("local"))
    config["postgres"]["storage"] = "20Gi"
    with pytest.raises(ConfigError) as raised:
        run_program(config, stack="local", cluster=cluster_config("local") | {"kubernetes:kubeconfig": str(path)})
    message = str(raised.value)
    assert message.startswith("invalid stack configuration, nothing was changed:")
    assert "platform:postgres.storage: '20Gi' is larger than the 10Gi of the claim template 'data'" in message
    assert f"kubectl --kubeconfig {path} --context kind-platform -n staging-infra patch pvc data-postgres-0" in message
    assert "delete statefulset postgres --cascade=orphan" in message and "`make refresh STACK=local`" in message
    # The stack's provider only: no object of the cluster.
    assert [r.type for r in last_run().registrations] == ["pulumi:providers:kubernetes"]


def test_a_grown_redis_claim_reaches_the_cluster_where_its_class_allows_expansion(
    api: tuple[Path, dict[str, dict[str, Any]]],
) -> None:
    path, objects = api
    deployed(objects)
    config = copy.deepcopy(stack_config("local"))
    config["redis"]["storage"] = "4Gi"
    run = run_program(config, stack="local", cluster=cluster_config("local") | {"kubernetes:kubeconfig": str(path)})
    assert run.one("PersistentVolumeClaim", "redis-data").inputs["spec"]["resources"]["requests"]["storage"] == "4Gi"
