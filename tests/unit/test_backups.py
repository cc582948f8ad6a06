"""The backup CronJobs: dump, then keep by the retention rule, on a volume or in S3."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from components.backup import restore_command
from tests.unit import contracts
from tests.unit.harness import ROOT, Run, run_program, stack_config
from tests.unit.test_contracts import targets

STORE = {"endpoint": "https://s3.eu-west-1.amazonaws.com", "bucket": "platform-backups", "prefix": "staging"}
CREDENTIALS = {"backupAccessKeyId": "AKIAEXAMPLE", "backupSecretAccessKey": "example-secret-key"}


@pytest.fixture(scope="module")
def on_volume() -> Run:
    return run_program(stack_config("staging"), stack="staging")


@pytest.fixture(scope="module")
def to_s3() -> Run:
    config: dict[str, Any] = copy.deepcopy(stack_config("staging"))
    config["backupStore"] = STORE
    return run_program(config, secrets=CREDENTIALS, stack="staging")


@pytest.mark.parametrize("cronjob", ["postgres-backup", "authentik-postgres-backup"])
def test_both_databases_are_dumped_first_then_pruned_on_the_volume(on_volume: Run, cronjob: str) -> None:
    spec = on_volume.one("CronJob", cronjob).pod_spec()
    assert [c["name"] for c in spec["initContainers"]] == ["pg-dump"]
    assert [c["name"] for c in spec["containers"]] == ["prune"]
    prune = spec["containers"][0]["command"][-1]
    assert "awk 'NR > 14'" in prune
    claim = next(v for v in spec["volumes"] if v["name"] == "backups")["persistentVolumeClaim"]["claimName"]
    assert on_volume.one("PersistentVolumeClaim", claim).retain_on_delete


@pytest.mark.parametrize("cronjob", ["postgres-backup", "authentik-postgres-backup"])
def test_a_backup_that_cannot_start_within_an_hour_waits_for_its_next_time(on_volume: Run, cronjob: str) -> None:
    spec = on_volume.one("CronJob", cronjob).inputs["spec"]
    assert spec["startingDeadlineSeconds"] == 3600
    assert spec["concurrencyPolicy"] == "Forbid"


def test_with_a_store_the_dump_is_uploaded_and_no_claim_is_made(to_s3: Run) -> None:
    spec = to_s3.one("CronJob", "postgres-backup").pod_spec()
    upload = spec["containers"][0]
    assert upload["name"] == "upload"
    assert upload["image"] == "amazon/aws-cli:2.17.0"
    env = {e["name"]: e.get("value") for e in upload["env"]}
    assert env["AWS_ENDPOINT_URL"] == STORE["endpoint"]
    assert env["BACKUP_BUCKET"] == "platform-backups"
    assert env["BACKUP_PREFIX"] == "staging/"
    assert {"name": "backups", "emptyDir": {"sizeLimit": "50Gi"}} in spec["volumes"]
    assert not [r for r in to_s3.of_kind("PersistentVolumeClaim") if r.k8s_name == "postgres-backups"]


def test_the_dump_may_grow_to_the_backup_storage_before_upload(to_s3: Run) -> None:
    spec = to_s3.one("CronJob", "postgres-backup").pod_spec()
    staged = next(v for v in spec["volumes"] if v["name"] == "backups")["emptyDir"]
    dump = spec["initContainers"][0]
    assert staged["sizeLimit"] == "50Gi"
    assert dump["resources"]["limits"]["ephemeral-storage"] == "50Gi"


def test_authentik_database_goes_to_the_store_too(to_s3: Run) -> None:
    spec = to_s3.one("CronJob", "authentik-postgres-backup").pod_spec()
    assert [c["name"] for c in spec["initContainers"]] == ["pg-dump"]
    assert [c["name"] for c in spec["containers"]] == ["upload"]
    assert to_s3.one("Secret", "authentik-postgres-backup-store").is_secret("stringData", "secretAccessKey")


def test_every_backup_container_keeps_its_image_contract(to_s3: Run, on_volume: Run) -> None:
    problems = []
    checked = set()
    for run in (to_s3, on_volume):
        for workload, target, mounts, volumes in targets(run):
            if workload.kind != "CronJob":
                continue
            image = target.container["image"]
            contract = contracts.contract_for(image, target.container.get("command"))
            assert contract is not None, f"{workload.k8s_name} {target.container['name']} ({image}): no contract"
            checked.add(contract.name)
            problems += [
                f"{workload.k8s_name} {target.container['name']}: {p}"
                for p in contracts.violations(contract, target, mounts, volumes)
            ]
    assert checked == {"pg_dump", "backup prune", "aws-cli"}
    assert not problems, "\n".join(problems)


def test_store_credentials_are_secret(to_s3: Run) -> None:
    secret = to_s3.one("Secret", "postgres-backup-store")
    assert secret.inputs["stringData"]["secretAccessKey"] == "example-secret-key"
    assert secret.is_secret("stringData", "secretAccessKey")
    assert secret.is_secret("stringData", "accessKeyId")


def test_backup_pod_may_reach_the_store_port_only_besides_postgres(to_s3: Run) -> None:
    policy = to_s3.one("NetworkPolicy", "postgres-backup").inputs["spec"]
    ports = sorted(p["port"] for rule in policy["egress"] for p in rule["ports"])
    assert ports == [443, 5432]


def test_documented_restore_is_the_components_restore_command() -> None:
    assert restore_command() in (ROOT / "docs" / "operations.md").read_text()
