"""Each Pulumi.<stack>.yaml builds the whole program under mocks and reproduces the
values its target calls for."""

from __future__ import annotations

from collections import Counter
from functools import cache
from typing import Any

import pytest

from tests.unit.harness import Registration, Run, run_program, run_stack, stack_config

MINIKUBE_SECRETS = {"openaiApiKey": "sk-test-openai-key"}


@cache
def local() -> Run:
    return run_stack("local")


@cache
def minikube() -> Run:
    return run_stack("minikube", secrets=MINIKUBE_SECRETS)


@cache
def staging(target: str = "gke") -> Run:
    return run_program(stack_config("staging") | {"target": target}, stack="staging")


def containers(workload: Registration) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in workload.pod_spec()["containers"]}


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


# --- local (kind) ---------------------------------------------------------------


def test_local_resource_counts() -> None:
    counts = Counter(r.kind for r in local().registrations)
    assert counts["Namespace"] == 5
    assert counts["StatefulSet"] == 2  # app PostgreSQL, Authentik's PostgreSQL
    assert counts["Deployment"] == 7  # redis, authentik server+worker, core, ai, web, gateway
    assert counts["Ingress"] == 4  # one per routed namespace
    assert counts["RandomPassword"] == 6
    assert counts["PodDisruptionBudget"] == 1  # authentik server, 2 replicas
    assert counts["HorizontalPodAutoscaler"] == 0


def test_local_namespaces_and_placeholders() -> None:
    run = local()
    infra = run.one("Namespace", "staging-infra").metadata
    assert infra["labels"]["environment"] == "staging"
    assert infra["labels"]["status"] == "active"
    for name, service, guide in (
        ("staging-core", "core-backend", "#deploying-core-backend"),
        ("staging-ai", "ai-service", "#deploying-ai-service"),
        ("staging-web", "web-client", "#deploying-web-client"),
    ):
        meta = run.one("Namespace", name).metadata
        assert meta["labels"]["status"] == "placeholder"
        assert meta["labels"]["environment"] == "staging"
        assert meta["labels"]["service"] == service
        assert "Sprint 0 Task" in meta["annotations"]["description"]
        assert meta["annotations"]["deployment-guide"] == f"docs/deployment-guide.md{guide}"


def test_local_postgres_is_pgvector_with_seed_resources() -> None:
    run = local()
    sts = run.one("StatefulSet", "postgres", "staging-infra")
    pg = containers(sts)["postgres"]
    assert pg["image"] == "pgvector/pgvector:pg17"
    assert pg["resources"] == {
        "requests": {"cpu": "250m", "memory": "256Mi", "ephemeral-storage": "64Mi"},
        "limits": {"cpu": "500m", "memory": "512Mi", "ephemeral-storage": "1Gi"},
    }
    claim = sts.inputs["spec"]["volumeClaimTemplates"][0]["spec"]
    assert claim["resources"]["requests"]["storage"] == "10Gi"
    assert claim["storageClassName"] == "standard"
    init = run.one("ConfigMap", "postgres-init", "staging-infra")
    assert init.inputs["data"]["00-extensions.sql"] == 'CREATE EXTENSION IF NOT EXISTS "vector";\n'


def test_local_redis_appendonly_with_seed_resources() -> None:
    run = local()
    redis = containers(run.one("Deployment", "redis", "staging-infra"))["redis"]
    assert redis["image"] == "redis:7-alpine"
    assert redis["command"][2:] == ["--appendonly", "yes", "--appendfsync", "everysec"]
    assert redis["resources"] == {
        "requests": {"cpu": "100m", "memory": "128Mi", "ephemeral-storage": "64Mi"},
        "limits": {"cpu": "250m", "memory": "256Mi", "ephemeral-storage": "1Gi"},
    }
    claim = run.one("PersistentVolumeClaim", "redis-data", "staging-infra")
    assert claim.inputs["spec"]["resources"]["requests"]["storage"] == "2Gi"
    assert claim.is_secret() is False
    secret = run.one("Secret", "redis-credentials", "staging-infra")
    assert secret.is_secret("stringData", "auth.conf")


def test_local_authentik_pinned_under_auth_path_without_redis() -> None:
    run = local()
    server = run.one("Deployment", "authentik-server", "staging-infra")
    worker = run.one("Deployment", "authentik-worker", "staging-infra")
    assert server.inputs["spec"]["replicas"] == 2
    assert worker.inputs["spec"]["replicas"] == 1
    image = containers(server)["server"]["image"]
    assert image.startswith("ghcr.io/goauthentik/server:2026.8.")
    config = run.one("ConfigMap", "authentik-config", "staging-infra").inputs["data"]
    assert config["AUTHENTIK_WEB__PATH"] == "/auth/"
    assert not any(key.startswith("AUTHENTIK_REDIS") for key in config)
    assert not [r for r in run.registrations if r.k8s_name and r.k8s_name.startswith("authentik-redis")]
    db = run.one("StatefulSet", "authentik-postgres", "staging-infra")
    assert db.inputs["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "5Gi"
    assert run.outputs["authentikUrl"] == "http://localhost/auth/"


def test_local_gateway_routes_without_prefix_stripping() -> None:
    run = local()
    routes = {}
    for ingress in run.of_kind("Ingress"):
        assert ingress.inputs["spec"]["ingressClassName"] == "traefik"
        assert not any("rewrite" in key for key in ingress.metadata.get("annotations", {}))
        for rule in ingress.inputs["spec"]["rules"]:
            assert rule["host"] == "localhost"
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                routes[path["path"]] = (ingress.namespace, backend["name"], backend["port"]["number"])
    assert routes == {
        "/auth": ("staging-infra", "authentik-server", 9000),
        "/api": ("staging-core", "core", 8080),
        "/ai": ("staging-ai", "ai", 8080),
        "/": ("staging-web", "web", 8080),
    }


def test_local_gateway_nodeports_published_by_kind() -> None:
    service = local().one("Service", "gateway", "staging-gateway")
    assert service.inputs["spec"]["type"] == "NodePort"
    assert [p["nodePort"] for p in service.inputs["spec"]["ports"]] == [30080, 30443]
    assert local().outputs["url"] == "http://localhost/"


def test_local_apps_get_generated_connection_urls() -> None:
    run = local()
    core = containers(run.one("Deployment", "core", "staging-core"))["core"]
    env = env_of(core)
    assert env["DATABASE_URL"] == {"secretKeyRef": {"name": "core-secrets", "key": "DATABASE_URL"}}
    assert env["REDIS_URL"] == {"secretKeyRef": {"name": "core-secrets", "key": "REDIS_URL"}}
    secret = run.one("Secret", "core-secrets", "staging-core")
    assert secret.is_secret("stringData", "DATABASE_URL")
    assert secret.inputs["stringData"]["DATABASE_URL"].startswith("postgresql://app:generated-")


def test_local_data_is_not_protected_but_volumes_are_retained() -> None:
    run = local()
    assert not any(r.protect for r in run.registrations)
    assert run.one("PersistentVolumeClaim", "redis-data").retain_on_delete
    assert run.one("Namespace", "staging-infra").retain_on_delete
    assert not run.one("Namespace", "staging-core").retain_on_delete
    for sts in run.of_kind("StatefulSet"):
        assert sts.inputs["spec"]["persistentVolumeClaimRetentionPolicy"] == {
            "whenDeleted": "Retain",
            "whenScaled": "Retain",
        }


def test_local_outputs() -> None:
    run = local()
    assert run.outputs["postgresHost"] == "postgres.staging-infra.svc.cluster.local"
    assert run.outputs["redisHost"] == "redis.staging-infra.svc.cluster.local"
    assert run.outputs["appsDeployed"] == ["core", "ai", "web"]
    assert run.outputs["appsNotDeployed"] == {}
    assert run.secret_outputs == {
        "postgresPassword",
        "postgresUri",
        "redisPassword",
        "redisUrl",
        "authentikAdminPassword",
    }
    # The bootstrap token is an API credential for akadmin: it stays in its Secret.
    assert "authentikAdminToken" not in run.outputs


# --- minikube (todo app) ---------------------------------------------------------


def test_minikube_namespace_quota_and_pod_security() -> None:
    run = minikube()
    ns = run.one("Namespace", "todo-app-dev").metadata["labels"]
    assert ns["pod-security.kubernetes.io/enforce"] == "restricted"
    assert ns["pod-security.kubernetes.io/audit"] == "restricted"
    assert ns["pod-security.kubernetes.io/warn"] == "restricted"
    quota = run.one("ResourceQuota", "todo-app-dev-quota", "todo-app-dev").inputs["spec"]["hard"]
    assert quota == {
        "requests.cpu": "4",
        "requests.memory": "8Gi",
        "limits.cpu": "8",
        "limits.memory": "16Gi",
        "persistentvolumeclaims": "5",
        "services.nodeports": "2",
    }


def test_minikube_backend() -> None:
    run = minikube()
    deployment = run.one("Deployment", "todo-backend", "todo-app-dev")
    spec = deployment.inputs["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    assert "spec.replicas" in deployment.ignore_changes
    affinity = deployment.pod_spec()["affinity"]["podAntiAffinity"]
    assert affinity["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]["topologyKey"] == (
        "kubernetes.io/hostname"
    )
    backend = containers(deployment)["todo-backend"]
    assert backend["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert backend["readinessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    for probe in ("livenessProbe", "startupProbe"):
        assert backend[probe]["tcpSocket"] == {"port": "http"}
    env = env_of(backend)
    assert env["OPENAI_MODEL"] == {"configMapKeyRef": {"name": "todo-backend-config", "key": "OPENAI_MODEL"}}
    assert env["OPENAI_API_KEY"] == {"secretKeyRef": {"name": "todo-backend-secrets", "key": "OPENAI_API_KEY"}}
    assert env["DATABASE_URL"] == {"secretKeyRef": {"name": "todo-backend-secrets", "key": "DATABASE_URL"}}
    secret = run.one("Secret", "todo-backend-secrets", "todo-app-dev")
    assert secret.inputs["stringData"]["OPENAI_API_KEY"] == "sk-test-openai-key"
    assert secret.is_secret("stringData", "OPENAI_API_KEY")
    service = run.one("Service", "todo-backend", "todo-app-dev").inputs["spec"]
    assert service["type"] == "ClusterIP"
    assert service["sessionAffinity"] == "ClientIP"
    assert service["ports"][0]["port"] == 8000


def test_minikube_backend_autoscales_2_to_5_at_70_percent() -> None:
    hpa = minikube().one("HorizontalPodAutoscaler", "todo-backend", "todo-app-dev").inputs["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "todo-backend"}
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 5)
    assert hpa["metrics"][0]["resource"]["target"] == {"type": "Utilization", "averageUtilization": 70}


def test_minikube_frontend_published_on_nodeport_30080() -> None:
    run = minikube()
    frontend = containers(run.one("Deployment", "todo-frontend", "todo-app-dev"))["todo-frontend"]
    assert frontend["ports"][0]["containerPort"] == 3000
    assert run.one("Deployment", "todo-frontend").inputs["spec"]["replicas"] == 2
    gateway = run.one("Service", "gateway", "todo-app-dev").inputs["spec"]
    assert gateway["type"] == "NodePort"
    assert gateway["ports"][0]["nodePort"] == 30080
    paths = {
        p["path"]: p["backend"]["service"]["name"]
        for p in run.one("Ingress", "gateway", "todo-app-dev").inputs["spec"]["rules"][0]["http"]["paths"]
    }
    assert paths == {"/": "todo-frontend", "/api": "todo-backend"}
    assert run.outputs["url"] == "http://todo.local:30080/"


def test_minikube_database_postgres16_with_schema() -> None:
    run = minikube()
    sts = run.one("StatefulSet", "todo-database", "todo-app-dev")
    assert containers(sts)["postgres"]["image"] == "postgres:16-alpine"
    assert sts.inputs["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "5Gi"
    scripts = run.one("ConfigMap", "todo-database-init", "todo-app-dev").inputs["data"]
    assert "CREATE TABLE IF NOT EXISTS tasks" in scripts["10-init.sql"]
    assert run.one("Service", "todo-database-headless").inputs["spec"]["clusterIP"] == "None"


def _policy(run: Run, name: str) -> dict[str, Any]:
    return dict(run.one("NetworkPolicy", name, "todo-app-dev").inputs["spec"])


def _selected(rule_peers: list[dict[str, Any]]) -> set[str]:
    return {p["podSelector"]["matchLabels"].get("app.kubernetes.io/name", "*") for p in rule_peers}


def test_minikube_network_policies_frontend_backend_database_dns() -> None:
    run = minikube()
    assert _policy(run, "default-deny") == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    dns = _policy(run, "allow-dns")["egress"][0]
    assert {(p["protocol"], p["port"]) for p in dns["ports"]} == {("UDP", 53), ("TCP", 53)}
    backend = _policy(run, "todo-backend")
    assert {name for rule in backend["ingress"] for name in _selected(rule["from"])} == {"todo-frontend", "gateway"}
    assert all(rule["ports"] == [{"protocol": "TCP", "port": 8000}] for rule in backend["ingress"])
    assert _selected(backend["egress"][0]["to"]) == {"todo-database"}
    assert backend["egress"][0]["ports"] == [{"protocol": "TCP", "port": 5432}]
    frontend = _policy(run, "todo-frontend")
    assert _selected(frontend["egress"][0]["to"]) == {"todo-backend"}
    database = _policy(run, "todo-database")
    assert _selected(database["ingress"][0]["from"]) == {"todo-backend"}
    assert "egress" not in database or database["egress"] == []


def test_minikube_backend_may_call_external_apis_over_https_only() -> None:
    egress = _policy(minikube(), "todo-backend")["egress"]
    external = [rule for rule in egress if "ipBlock" in rule["to"][0]]
    assert len(external) == 1
    assert external[0]["ports"] == [{"protocol": "TCP", "port": 443}]
    assert "10.0.0.0/8" in external[0]["to"][0]["ipBlock"]["except"]
    assert not any("ipBlock" in rule["to"][0] for rule in _policy(minikube(), "todo-frontend")["egress"])


def test_minikube_disruption_budgets_for_two_replica_services() -> None:
    budgets = {r.k8s_name for r in minikube().of_kind("PodDisruptionBudget")}
    assert budgets == {"todo-backend", "todo-frontend"}


# --- staging (cloud) -------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "storage_class", "shared_class"),
    [("gke", "standard-rwo", "standard-rwx"), ("eks", "gp3", "efs-sc"), ("aks", "managed-csi", "azurefile-csi")],
)
def test_staging_storage_classes_per_cloud(target: str, storage_class: str, shared_class: str) -> None:
    run = staging(target)
    for sts in run.of_kind("StatefulSet"):
        assert sts.inputs["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] == storage_class
    assert run.one("PersistentVolumeClaim", "redis-data").inputs["spec"]["storageClassName"] == storage_class
    media = run.one("PersistentVolumeClaim", "authentik-media").inputs["spec"]
    assert (media["storageClassName"], media["accessModes"]) == (shared_class, ["ReadWriteMany"])
    service = run.one("Service", "gateway", "staging-gateway").inputs["spec"]
    assert service["type"] == "LoadBalancer"
    assert all("nodePort" not in port for port in service["ports"])


def test_staging_stateless_services_have_two_replicas_and_budgets() -> None:
    run = staging()
    stateless = [d for d in run.of_kind("Deployment") if d.k8s_name != "redis"]
    assert stateless
    budgets = {(b.namespace, b.k8s_name) for b in run.of_kind("PodDisruptionBudget")}
    for deployment in stateless:
        assert deployment.inputs["spec"]["replicas"] >= 2, deployment.k8s_name
        assert (deployment.namespace, deployment.k8s_name) in budgets


def test_staging_has_larger_resources_than_local() -> None:
    big = containers(staging().one("StatefulSet", "postgres"))["postgres"]["resources"]
    assert big["limits"] == {"cpu": "2", "memory": "4Gi", "ephemeral-storage": "1Gi"}


def test_staging_protects_data_from_destroy() -> None:
    run = staging()
    protected = {(r.kind, r.k8s_name) for r in run.registrations if r.protect}
    assert {
        ("StatefulSet", "postgres"),
        ("StatefulSet", "authentik-postgres"),
        ("PersistentVolumeClaim", "redis-data"),
        ("PersistentVolumeClaim", "authentik-media"),
        ("PersistentVolumeClaim", "postgres-backups"),
    } <= protected
    # Credentials stay replaceable, so a rotation works on a protected stack.
    assert not any(r.protect for r in run.registrations if r.kind in ("Deployment", "Secret", "RandomPassword"))


def test_staging_apps_without_images_are_listed_not_deployed() -> None:
    run = staging()
    assert run.outputs["appsDeployed"] == []
    assert set(run.outputs["appsNotDeployed"]) == {"core", "ai", "web"}
    assert "set platform:apps[0].image" in run.outputs["appsNotDeployed"]["core"]
    assert {r.k8s_name for r in run.of_kind("Deployment")} == {
        "redis",
        "authentik-server",
        "authentik-worker",
        "gateway",
    }
    assert [r.namespace for r in run.of_kind("Ingress")] == ["staging-infra"]


def test_staging_nightly_backup() -> None:
    cron = staging().one("CronJob", "postgres-backup", "staging-infra").inputs["spec"]
    assert cron["schedule"] == "0 3 * * *"
    assert cron["concurrencyPolicy"] == "Forbid"
