"""PostgresStatefulSet: one PostgreSQL server with its volume, credentials and init scripts."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kb
from components.settings import PostgresSettings

PORT = 5432
DATA_DIR = "/var/lib/postgresql/data"
POSTGRES_UID = 999


def init_scripts(settings: PostgresSettings) -> dict[str, str]:
    """SQL run once by the image's entrypoint when the data directory is empty."""
    scripts: dict[str, str] = {}
    if settings.extensions:
        scripts["00-extensions.sql"] = "".join(
            f'CREATE EXTENSION IF NOT EXISTS "{extension}";\n' for extension in settings.extensions
        )
    if settings.init_sql:
        scripts["10-init.sql"] = settings.init_sql
    return scripts


class PostgresStatefulSet(pulumi.ComponentResource):
    """Creates a headless Service, a ClusterIP Service, a StatefulSet with a
    volumeClaimTemplate (claims retained when the set is deleted or scaled down), a
    ConfigMap of init scripts, a Secret holding a generated password, a NetworkPolicy
    that admits only `clients`, and optionally a nightly `pg_dump` CronJob.

    Outputs: `host`, `port`, `database`, `user`, `password` (secret), `uri` (secret),
    `secret_name` (the Secret with keys username, password, database, host, port, uri).
    """

    def __init__(
        self,
        name: str,
        settings: PostgresSettings,
        *,
        storage_class: str,
        clients: Sequence[kb.Peer] = (),
        protect: bool = False,
        component: str = "database",
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("platform:index:PostgresStatefulSet", name, None, opts)
        ns = settings.namespace
        self.name = settings.name
        self.labels = kb.labels(settings.name, name, component)
        self.peer = kb.Peer(ns, kb.selector(self.labels))
        self.secret_name = f"{settings.name}-credentials"
        headless_name = f"{settings.name}-headless"

        self.host = pulumi.Output.from_input(kb.service_host(settings.name, ns))
        self.port = pulumi.Output.from_input(PORT)
        self.database = pulumi.Output.from_input(settings.database)
        self.user = pulumi.Output.from_input(settings.user)
        password = kb.generated_password(f"{name}-password", self, rotation=settings.rotation)
        self.password: pulumi.Output[str] = pulumi.Output.secret(password.result)
        self.uri: pulumi.Output[str] = pulumi.Output.secret(
            pulumi.Output.format(
                "postgresql://{0}:{1}@{2}:{3}/{4}", settings.user, password.result, self.host, PORT, settings.database
            )
        )

        secret = k8s.core.v1.Secret(
            f"{name}-credentials",
            metadata=kb.metadata(self.secret_name, ns, self.labels),
            type="Opaque",
            string_data={
                "username": settings.user,
                "password": self.password,
                "database": settings.database,
                "host": self.host,
                "port": str(PORT),
                "uri": self.uri,
            },
            opts=kb.child(self),
        )
        scripts = init_scripts(settings)
        init = k8s.core.v1.ConfigMap(
            f"{name}-init",
            metadata=kb.metadata(f"{settings.name}-init", ns, self.labels),
            data=scripts,
            opts=kb.child(self),
        )
        ports = [{"name": "postgres", "port": PORT, "targetPort": "postgres", "protocol": "TCP"}]
        k8s.core.v1.Service(
            f"{name}-headless",
            metadata=kb.service_metadata(headless_name, ns, self.labels),
            spec={
                "clusterIP": "None",
                "publishNotReadyAddresses": True,
                "selector": kb.selector(self.labels),
                "ports": ports,
            },
            opts=kb.child(self),
        )
        k8s.core.v1.Service(
            f"{name}-service",
            metadata=kb.service_metadata(settings.name, ns, self.labels),
            spec={"type": "ClusterIP", "selector": kb.selector(self.labels), "ports": ports},
            opts=kb.child(self),
        )
        ready = ["pg_isready", "-h", "127.0.0.1", "-U", settings.user, "-d", settings.database]
        container = kb.Container(
            name="postgres",
            image=settings.image,
            resources=settings.resources,
            ports={"postgres": PORT},
            env=[
                {"name": "POSTGRES_DB", "value": settings.database},
                {"name": "POSTGRES_USER", "value": settings.user},
                kb.secret_env("POSTGRES_PASSWORD", self.secret_name, "password"),
                {"name": "PGDATA", "value": f"{DATA_DIR}/pgdata"},
            ],
            liveness=kb.exec_probe(ready, initial_delay=30, period=10, timeout=5, failures=3),
            readiness=kb.exec_probe(ready, initial_delay=5, period=5, timeout=3, failures=2),
            mounts=[
                {"name": "data", "mountPath": DATA_DIR},
                {"name": "init", "mountPath": "/docker-entrypoint-initdb.d", "readOnly": True},
            ],
            scratch=("/tmp", "/var/run/postgresql"),
        )
        template = kb.pod_template(
            self.labels,
            [container],
            run_as_user=POSTGRES_UID,
            volumes=[{"name": "init", "configMap": {"name": f"{settings.name}-init"}}],
        )
        self.stateful_set = k8s.apps.v1.StatefulSet(
            f"{name}-statefulset",
            metadata=kb.workload_metadata(settings.name, ns, self.labels, template),
            spec={
                "serviceName": headless_name,
                "replicas": 1,
                "selector": {"matchLabels": kb.selector(self.labels)},
                "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
                "template": template,
                "volumeClaimTemplates": [
                    {
                        "metadata": {"name": "data", "labels": self.labels},
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "storageClassName": storage_class,
                            "resources": {"requests": {"storage": settings.storage}},
                        },
                    }
                ],
            },
            opts=kb.child(self, protect=protect, depends_on=[secret, init]),
        )
        self.backup_labels = kb.labels(f"{settings.name}-backup", name, "backup")
        peers = list(clients)
        if settings.backup is not None:
            peers.append(kb.Peer(ns, kb.selector(self.backup_labels)))
        kb.admit_only(f"{name}-netpol", ns, settings.name, self.labels, peers, PORT, kb.child(self))
        if settings.backup is not None:
            self._backup(name, settings, storage_class, protect)
        self.register_outputs(
            {
                "host": self.host,
                "port": self.port,
                "database": self.database,
                "user": self.user,
                "password": self.password,
                "uri": self.uri,
            }
        )

    def _backup(self, name: str, settings: PostgresSettings, storage_class: str, protect: bool) -> None:
        """A nightly `pg_dump` into a volume of its own, kept like the data volume."""
        backup = settings.backup
        assert backup is not None
        ns = settings.namespace
        backup_labels = self.backup_labels
        claim = f"{settings.name}-backups"
        k8s.core.v1.PersistentVolumeClaim(
            f"{name}-backups",
            metadata=kb.metadata(claim, ns, backup_labels),
            spec={
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": storage_class,
                "resources": {"requests": {"storage": backup.storage}},
            },
            opts=pulumi.ResourceOptions(parent=self, protect=protect, retain_on_delete=True),
        )
        dump = kb.Container(
            name="pg-dump",
            image=backup.image or settings.image,
            resources=settings.resources,
            command=["sh", "-c", 'pg_dump --format=custom --file="/backups/$(date +%Y%m%dT%H%M%S).dump"'],
            env=[
                {"name": "PGHOST", "value": settings.name},
                {"name": "PGUSER", "value": settings.user},
                {"name": "PGDATABASE", "value": settings.database},
                kb.secret_env("PGPASSWORD", self.secret_name, "password"),
            ],
            mounts=[{"name": "backups", "mountPath": "/backups"}],
        )
        template = kb.pod_template(
            backup_labels,
            [dump],
            run_as_user=POSTGRES_UID,
            volumes=[{"name": "backups", "persistentVolumeClaim": {"claimName": claim}}],
        )
        template["spec"]["restartPolicy"] = "OnFailure"
        k8s.batch.v1.CronJob(
            f"{name}-backup",
            metadata=kb.workload_metadata(f"{settings.name}-backup", ns, backup_labels, template),
            spec={
                "schedule": backup.schedule,
                "concurrencyPolicy": "Forbid",
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 3,
                "jobTemplate": {"spec": {"backoffLimit": 2, "template": template}},
            },
            opts=kb.child(self),
        )
        kb.network_policy(
            f"{name}-backup-netpol",
            ns,
            f"{settings.name}-backup",
            backup_labels,
            pods=kb.selector(backup_labels),
            egress=[([self.peer.rule()], [PORT])],
            opts=kb.child(self),
        )
