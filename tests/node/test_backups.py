"""Backups on the real node: a Job made from the PostgreSQL backup CronJob dumps the
application database and uploads it to an S3-compatible store inside the cluster
(versitygw in a namespace of its own), the retention rule prunes the store, and the
documented restore command brings the rows back."""

from __future__ import annotations

import base64
import os
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from components.backup import restore_command
from tests.node.conftest import RESTRICTED, Node, run_pod
from tests.node.test_data import INFRA, psql_as_core

STORE_NAMESPACE = "backup-store"
STORE_IMAGE = "versity/versitygw:v1.8.0"
AWS_IMAGE = "amazon/aws-cli:2.17.0"
STORE_PORT = 7070
ENDPOINT = f"http://versitygw.{STORE_NAMESPACE}.svc.cluster.local:{STORE_PORT}"
BUCKET = "backups"
PREFIX = "app/"
KEEP_LAST = 2


def store_objects(access_key: str, secret_key: str) -> list[dict[str, Any]]:
    labels = {"app": "versitygw"}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": STORE_NAMESPACE}},
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "versitygw", "namespace": STORE_NAMESPACE},
            "stringData": {"ROOT_ACCESS_KEY_ID": access_key, "ROOT_SECRET_ACCESS_KEY": secret_key},
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "versitygw", "namespace": STORE_NAMESPACE, "labels": labels},
            "spec": {
                "automountServiceAccountToken": False,
                "containers": [
                    {
                        "name": "versitygw",
                        "image": STORE_IMAGE,
                        "args": ["--port", f":{STORE_PORT}", "posix", "/data"],
                        "envFrom": [{"secretRef": {"name": "versitygw"}}],
                        "ports": [{"containerPort": STORE_PORT}],
                        "readinessProbe": {"tcpSocket": {"port": STORE_PORT}, "periodSeconds": 2},
                        "securityContext": {**RESTRICTED, "runAsUser": 1000},
                        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                    }
                ],
                "volumes": [{"name": "data", "emptyDir": {}}],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "versitygw", "namespace": STORE_NAMESPACE},
            "spec": {"selector": labels, "ports": [{"port": STORE_PORT, "targetPort": STORE_PORT}]},
        },
    ]


class Store:
    """The in-cluster store, read with the AWS CLI from a pod beside it."""

    def __init__(self, node: Node, access_key: str, secret_key: str) -> None:
        self.node = node
        self.env = {
            "AWS_ACCESS_KEY_ID": access_key,
            "AWS_SECRET_ACCESS_KEY": secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": ENDPOINT,
            "HOME": "/tmp",
            "AWS_CONFIG_FILE": "/tmp/aws-config",
        }

    def aws(self, script: str) -> str:
        """`script` with the AWS CLI configured for the store; its output, ending `exit=<status>`."""
        prologue = "printf '[default]\\ns3 =\\n    addressing_style = path\\n' > /tmp/aws-config; "
        return run_pod(self.node, STORE_NAMESPACE, {}, prologue + script + '; echo "exit=$?"', self.env, AWS_IMAGE)

    def keys(self) -> list[str]:
        out = self.aws(f"aws s3api list-objects-v2 --bucket {BUCKET} --query 'Contents[].Key' --output text")
        assert out.rstrip().endswith("exit=0"), out
        return sorted(word for line in out.splitlines()[:-1] for word in line.split() if word != "None")

    def fetch(self, key: str) -> bytes:
        out = self.aws(f"aws s3 cp s3://{BUCKET}/{key} - | base64 -w0; echo")
        assert out.rstrip().endswith("exit=0"), out
        return base64.b64decode(out.splitlines()[0])


@pytest.fixture(scope="module")
def store(node: Node) -> Iterator[Store]:
    access_key, secret_key = f"node-{os.urandom(6).hex()}", os.urandom(18).hex()
    node.apply(*store_objects(access_key, secret_key))
    node.kubectl("wait", "-n", STORE_NAMESPACE, "pod/versitygw", "--for=condition=Ready", "--timeout=120s")
    store = Store(node, access_key, secret_key)
    made = store.aws(f"aws s3api create-bucket --bucket {BUCKET}")
    assert made.rstrip().endswith("exit=0"), made
    node.pulumi("config", "set", "--path", "platform:postgres.backup.keepLast", str(KEEP_LAST))
    node.pulumi("config", "set", "--path", "platform:backupStore.endpoint", ENDPOINT)
    node.pulumi("config", "set", "--path", "platform:backupStore.bucket", BUCKET)
    node.pulumi("config", "set", "--path", "platform:backupStore.prefix", PREFIX)
    node.pulumi("config", "set", "--secret", "platform:backupAccessKeyId", access_key)
    node.pulumi("config", "set", "--secret", "platform:backupSecretAccessKey", secret_key)
    node.up()
    try:
        yield store
    finally:
        node.kubectl("delete", "namespace", STORE_NAMESPACE, "--wait=false", check=False)
        node.kubectl("delete", "jobs", "-n", INFRA, "-l", "platform-test=backup", check=False)


def run_backup(node: Node) -> str:
    """A Job from the CronJob, as docs/operations.md says; its upload container's log."""
    job = f"postgres-backup-test-{os.urandom(3).hex()}"
    node.kubectl("create", "job", job, "-n", INFRA, "--from=cronjob/postgres-backup")
    node.kubectl("label", "job", job, "-n", INFRA, "platform-test=backup")
    waited = node.kubectl("wait", "-n", INFRA, f"job/{job}", "--for=condition=complete", "--timeout=300s", check=False)
    logs = {c: node.kubectl("logs", "-n", INFRA, f"job/{job}", "-c", c, check=False) for c in ("pg-dump", "upload")}
    assert waited.returncode == 0, "\n".join(f"[{c}] {r.stdout}{r.stderr}" for c, r in logs.items())
    return logs["upload"].stdout


def restore(node: Node, dump: bytes, database: str | None = None) -> None:
    """The documented restore: the dump on stdin of `restore_command()` in the server's container."""
    command = restore_command() if database is None else f"POSTGRES_DB={database}; {restore_command()}"
    subprocess.run(
        [
            "kubectl",
            "--kubeconfig",
            str(node.clone.kubeconfig),
            "exec",
            "-i",
            "-n",
            INFRA,
            node.pod(INFRA, "postgres"),
            "-c",
            "postgres",
            "--",
            "sh",
            "-c",
            command,
        ],
        input=dump,
        env=node.clone.env,
        capture_output=True,
        check=True,
    )


def test_the_cronjob_dumps_into_the_store_and_keeps_the_newest(node: Node, store: Store) -> None:
    psql_as_core(node, "create table if not exists ledger (entry text); insert into ledger values ('backed up')")
    uploads = []
    for _ in range(KEEP_LAST + 1):
        uploads.append(run_backup(node))
        # Dumps are named by the second they were taken.
        time.sleep(1)
    keys = store.keys()
    assert len(keys) == KEEP_LAST and all(k.startswith(f"{PREFIX}postgres-") for k in keys), keys
    # Whole dumps only: a retried pg_dump leaves no truncated one behind.
    assert all(store.fetch(key).startswith(b"PGDMP") for key in keys), keys
    # The last run pruned the oldest dump, which is no longer in the store.
    pruned = [line.split()[-1] for line in uploads[-1].splitlines() if line.startswith("pruned ")]
    assert len(pruned) == 1 and pruned[0] not in keys and pruned[0] < keys[0], (pruned, keys)


def test_the_documented_restore_brings_the_rows_back(node: Node, store: Store) -> None:
    newest = store.keys()[-1]
    dump = store.fetch(newest)
    assert dump.startswith(b"PGDMP"), dump[:16]
    psql_as_core(node, "drop table ledger")
    restore(node, dump)
    assert "backed up" in psql_as_core(node, "select entry from ledger")
    # Into a fresh database too, made as the image's entrypoint makes one: owned by the
    # user, with the stack's extensions.
    server = node.pod(INFRA, "postgres")
    node.exec(INFRA, server, "psql", "-U", "app", "-d", "app", "-c", "create database fresh owner app")
    node.exec(INFRA, server, "psql", "-U", "app", "-d", "fresh", "-c", "create extension vector")
    restore(node, dump, "fresh")
    rows = node.exec(INFRA, server, "psql", "-U", "app", "-d", "fresh", "-Atc", "select entry from ledger")
    assert rows.stdout.strip() == "backed up", rows
