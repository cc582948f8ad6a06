"""Invariants every component keeps, checked on every stack: parents and names,
labels, hardened pods, probes, resources, and secret credentials."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components.authentik_stack import needs_redis
from components.config.loading import parse_settings
from components.platform import rollout_timeout
from tests.unit.harness import Registration, Run, run_program, run_stack, stack_config

ROOT = Path(__file__).resolve().parents[2]
STACKS = {
    "local": {},
    "minikube": {"openaiApiKey": "sk-test-openai-key"},
    "staging": {},
}
RECOMMENDED = ("app.kubernetes.io/part-of", "app.kubernetes.io/managed-by")
WORKLOAD_LABELS = ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component", *RECOMMENDED)
COMPONENTS = {
    "PostgresStatefulSet",
    "RedisCache",
    "AuthentikStack",
    "AppTier",
    "IngressGateway",
    "NamespaceLayout",
    "Platform",
}


@cache
def built(stack: str) -> Run:
    return run_stack(stack, secrets=STACKS[stack])


every_stack = pytest.mark.parametrize("stack", sorted(STACKS))


def _pods(run: Run) -> list[tuple[Registration, dict[str, Any]]]:
    return [(w, w.pod_spec()) for w in run.workloads()]


@every_stack
def test_components_use_platform_type_tokens(stack: str) -> None:
    tokens = {
        r.type
        for r in built(stack).registrations
        if not r.type.startswith(("kubernetes:", "random:", "pulumi:providers:"))
    }
    assert tokens == {f"platform:index:{name}" for name in COMPONENTS} - (
        {"platform:index:RedisCache"} if stack == "minikube" else set()
    ) - ({"platform:index:AuthentikStack"} if stack == "minikube" else set())


@every_stack
def test_every_resource_has_a_component_parent_and_a_derived_name(stack: str) -> None:
    run = built(stack)
    for registration in run.registrations:
        if registration.kind == "Platform" or registration.type.startswith("pulumi:providers:"):
            continue
        parent = run.by_urn(registration.parent)
        assert parent.type.startswith("platform:index:"), f"{registration.urn} has parent {parent.urn}"
        if parent.kind != "Platform":
            assert registration.name.startswith(f"{parent.name}-"), (registration.name, parent.name)


@every_stack
def test_every_kubernetes_object_has_the_recommended_labels(stack: str) -> None:
    for r in built(stack).registrations:
        if r.type.startswith("kubernetes:"):
            labels = r.metadata.get("labels", {})
            for key in RECOMMENDED:
                assert key in labels, f"{r.kind} {r.k8s_name} lacks {key}"


@every_stack
def test_workloads_and_pods_carry_all_app_labels_and_select_by_them(stack: str) -> None:
    for workload, _ in _pods(built(stack)):
        labels = workload.metadata["labels"]
        template_labels = (
            workload.inputs["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
            if workload.kind == "CronJob"
            else workload.inputs["spec"]["template"]["metadata"]["labels"]
        )
        for key in WORKLOAD_LABELS:
            assert key in labels and key in template_labels, f"{workload.k8s_name}: {key}"
        if workload.kind != "CronJob":
            selector = workload.inputs["spec"]["selector"]["matchLabels"]
            assert selector.items() <= template_labels.items()


@every_stack
def test_every_pod_is_hardened(stack: str) -> None:
    for workload, pod in _pods(built(stack)):
        context = pod["securityContext"]
        assert context["runAsNonRoot"] is True, workload.k8s_name
        assert context["runAsUser"] >= 999
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        for container in pod["containers"] + pod.get("initContainers", []):
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False
            assert security["readOnlyRootFilesystem"] is True
            assert security["capabilities"] == {"drop": ["ALL"]}
            claims = {t["metadata"]["name"] for t in workload.inputs["spec"].get("volumeClaimTemplates", [])}
            mounted = {m["name"] for m in container["volumeMounts"]}
            assert mounted <= {v["name"] for v in pod["volumes"]} | claims, workload.k8s_name


@every_stack
def test_every_container_has_requests_and_limits(stack: str) -> None:
    for workload, pod in _pods(built(stack)):
        for container in [*pod["containers"], *pod.get("initContainers", [])]:
            resources = container["resources"]
            for bound in ("requests", "limits"):
                assert set(resources[bound]) == {"cpu", "memory", "ephemeral-storage"}, workload.k8s_name


@every_stack
def test_long_running_containers_have_liveness_and_readiness_probes(stack: str) -> None:
    for workload, pod in _pods(built(stack)):
        if workload.kind == "CronJob":
            continue
        for container in pod["containers"]:
            assert "livenessProbe" in container and "readinessProbe" in container, workload.k8s_name


@every_stack
def test_images_are_pinned(stack: str) -> None:
    for _, pod in _pods(built(stack)):
        for container in pod["containers"]:
            image = container["image"]
            assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), image


@every_stack
def test_every_credential_is_secret(stack: str) -> None:
    run = built(stack)
    for secret in run.of_kind("Secret"):
        assert secret.is_secret("stringData"), secret.k8s_name
    for password in run.of_kind("RandomPassword"):
        assert password.inputs["length"] >= 32
        assert password.inputs["special"] is False
    for config_map in run.of_kind("ConfigMap"):
        assert "generated-" not in str(config_map.inputs), config_map.k8s_name
    for workload, pod in _pods(run):
        for container in pod["containers"]:
            for env in container.get("env", []):
                assert "generated-" not in str(env.get("value", "")), workload.k8s_name


@every_stack
def test_services_exposed_outside_the_cluster_are_only_the_gateway(stack: str) -> None:
    for service in built(stack).of_kind("Service"):
        if service.inputs["spec"].get("type") in ("NodePort", "LoadBalancer"):
            assert service.metadata["labels"]["app.kubernetes.io/component"] == "gateway"


@every_stack
def test_every_namespace_denies_by_default_and_allows_dns(stack: str) -> None:
    run = built(stack)
    for namespace in run.of_kind("Namespace"):
        names = {p.k8s_name for p in run.of_kind("NetworkPolicy") if p.namespace == namespace.k8s_name}
        assert {"default-deny", "allow-dns"} <= names


@every_stack
def test_every_workload_has_its_own_network_policy(stack: str) -> None:
    run = built(stack)
    policies = [p for p in run.of_kind("NetworkPolicy") if p.inputs["spec"]["podSelector"]]
    for workload, _ in _pods(run):
        labels = (
            workload.inputs["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
            if workload.kind == "CronJob"
            else workload.inputs["spec"]["template"]["metadata"]["labels"]
        )
        assert any(
            p.namespace == workload.namespace
            and p.inputs["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
            for p in policies
        ), workload.k8s_name


Pods = tuple[str, frozenset[tuple[str, str]]]
NAMESPACE_POLICIES = ("default-deny", "allow-dns")


def _pods_of(peer: dict[str, Any]) -> Pods | None:
    """The namespace and pod labels a NetworkPolicy peer selects; None for addresses."""
    if "namespaceSelector" not in peer:
        return None
    namespace = peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
    return namespace, frozenset((peer.get("podSelector") or {}).get("matchLabels", {}).items())


def _sides(run: Run, direction: str, peers: str) -> set[tuple[Pods, Pods, tuple[int, ...]]]:
    """(these pods, the other end's pods, ports) of every rule in `direction` of the
    platform's workload policies."""
    found = set()
    for policy in run.of_kind("NetworkPolicy"):
        if policy.k8s_name in NAMESPACE_POLICIES:
            continue
        spec = policy.inputs["spec"]
        own = (policy.namespace or "", frozenset(spec["podSelector"]["matchLabels"].items()))
        for rule in spec.get(direction, []):
            ports = tuple(sorted(port["port"] for port in rule.get("ports", [])))
            for other in filter(None, map(_pods_of, rule.get(peers, []))):
                found.add((own, other, ports))
    return found


@every_stack
def test_every_connection_between_workloads_is_admitted_at_both_ends(stack: str) -> None:
    run = built(stack)
    workloads = {own for own, _, _ in _sides(run, "ingress", "from") | _sides(run, "egress", "to")}
    egress = {(client, server, ports) for client, server, ports in _sides(run, "egress", "to") if server in workloads}
    ingress = {
        (client, server, ports) for server, client, ports in _sides(run, "ingress", "from") if client in workloads
    }
    assert egress, "no connection between workloads"
    assert egress == ingress


@every_stack
def test_workloads_with_two_or_more_replicas_have_a_disruption_budget(stack: str) -> None:
    run = built(stack)
    budgets = {(b.namespace, b.k8s_name) for b in run.of_kind("PodDisruptionBudget")}
    for workload in run.of_kind("Deployment"):
        if workload.inputs["spec"]["replicas"] >= 2:
            assert (workload.namespace, workload.k8s_name) in budgets


def test_gateway_runs_unprivileged_with_a_projected_token() -> None:
    gateway = built("local").one("Deployment", "gateway", "staging-gateway")
    pod = gateway.pod_spec()
    assert pod["serviceAccountName"] == "gateway"
    assert pod["automountServiceAccountToken"] is False
    token = next(v for v in pod["volumes"] if v["name"] == "api-token")
    assert token["projected"]["sources"][0]["serviceAccountToken"]["path"] == "token"
    ports = {p["containerPort"] for p in pod["containers"][0]["ports"]}
    assert all(port >= 1024 for port in ports)


def test_gateway_can_use_an_existing_controller() -> None:
    config = stack_config("local")
    config["gateway"] = {**config["gateway"], "install": False, "className": "nginx"}
    run = run_program(config)
    assert run.count("Deployment") == 6
    assert not run.of_kind("IngressClass") and not run.of_kind("ClusterRole")
    assert {i.inputs["spec"]["ingressClassName"] for i in run.of_kind("Ingress")} == {"nginx"}


def test_gateway_reads_only_the_namespaces_it_routes() -> None:
    run = built("local")
    routed = {str(i.namespace) for i in run.of_kind("Ingress")}
    watched = {*routed, "staging-gateway"}
    args = run.one("Deployment", "gateway", "staging-gateway").pod_spec()["containers"][0]["args"]
    assert f"--providers.kubernetesingress.namespaces={','.join(sorted(watched))}" in args
    (cluster_role,) = run.of_kind("ClusterRole")
    assert {r for rule in cluster_role.inputs["rules"] for r in rule["resources"]} == {"ingressclasses", "nodes"}
    roles = {r.namespace: r for r in run.of_kind("Role") if r.k8s_name == "staging-gateway-gateway"}
    assert set(roles) == watched
    for role in roles.values():
        granted = {(res, verb) for rule in role.inputs["rules"] for res in rule["resources"] for verb in rule["verbs"]}
        assert ("secrets", "list") in granted and ("ingresses/status", "update") in granted
    bindings = {b.namespace for b in run.of_kind("RoleBinding") if b.inputs["roleRef"]["kind"] == "Role"}
    assert watched <= bindings
    for namespace in {ns.k8s_name for ns in run.of_kind("Namespace")} - watched:
        assert namespace not in roles


@every_stack
def test_gateway_reports_where_each_ingress_is_reached(stack: str) -> None:
    # `pulumi up` waits for every Ingress' status: a NodePort Service has no address
    # of its own, so Traefik writes the host the cluster publishes the ports for.
    run = built(stack)
    gateway = run.one("Deployment", "gateway")
    args = gateway.pod_spec()["containers"][0]["args"]
    service = run.one("Service", "gateway")
    endpoint = [a for a in args if a.startswith("--providers.kubernetesingress.ingressendpoint.")]
    if service.inputs["spec"]["type"] == "LoadBalancer":
        assert endpoint == [
            f"--providers.kubernetesingress.ingressendpoint.publishedservice={gateway.namespace}/gateway"
        ]
    else:
        host = run.of_kind("Ingress")[0].inputs["spec"]["rules"][0]["host"]
        assert endpoint == [f"--providers.kubernetesingress.ingressendpoint.hostname={host}"]


@every_stack
def test_gateway_test_binary_is_the_deployed_traefik(stack: str) -> None:
    # tests/e2e/test_gateway_traefik.py runs the binary that tools/bootstrap.sh fetches.
    pinned = re.search(r"^TRAEFIK_VERSION=(\S+)$", (ROOT / "tools" / "versions.env").read_text(), re.MULTILINE)
    assert pinned is not None
    image = built(stack).one("Deployment", "gateway").pod_spec()["containers"][0]["image"]
    assert image == f"traefik:v{pinned.group(1)}"


@every_stack
def test_gateway_matches_prefix_paths_by_path_element(stack: str) -> None:
    # Traefik matches a `Prefix` path as a plain string prefix without the flag, so
    # `/api` would take `/apidocs` (tests/e2e/test_gateway_traefik.py sends both).
    args = built(stack).one("Deployment", "gateway").pod_spec()["containers"][0]["args"]
    assert "--providers.kubernetesingress.strictPrefixMatching=true" in args
    paths = [
        p for ingress in built(stack).of_kind("Ingress") for p in ingress.inputs["spec"]["rules"][0]["http"]["paths"]
    ]
    assert {p["pathType"] for p in paths} == {"Prefix"}


def test_gateway_without_tls_has_no_redirect() -> None:
    args = built("local").one("Deployment", "gateway", "staging-gateway").pod_spec()["containers"][0]["args"]
    assert not [a for a in args if "redirections" in a or "websecure.http" in a]


def test_gateway_with_tls_redirects_http_and_sends_hsts() -> None:
    config = stack_config("local")
    config["gateway"] = {**config["gateway"], "tls": {"secretName": "gateway-cert"}}
    run = run_program(config)
    pod = run.one("Deployment", "gateway", "staging-gateway").pod_spec()
    args = pod["containers"][0]["args"]
    assert "--entryPoints.web.http.redirections.entryPoint.to=:443" in args
    assert "--entryPoints.web.http.redirections.entryPoint.scheme=https" in args
    assert "--entryPoints.websecure.http.middlewares=hsts@file" in args
    dynamic = run.one("ConfigMap", "gateway-dynamic", "staging-gateway").inputs["data"]["hsts.yaml"]
    assert json.loads(dynamic)["http"]["middlewares"]["hsts"]["headers"]["stsSeconds"] >= 31536000
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "dynamic")
    assert f"--providers.file.directory={mount['mountPath']}" in args
    volume = next(v for v in pod["volumes"] if v["name"] == "dynamic")
    assert volume["configMap"]["name"] == "gateway-dynamic"


def test_gateway_tls_redirect_names_the_published_port() -> None:
    config = stack_config("minikube")
    config["gateway"] = {**config["gateway"], "tls": {"secretName": "gateway-cert"}}
    run = run_program(config, secrets=STACKS["minikube"])
    args = run.one("Deployment", "gateway").pod_spec()["containers"][0]["args"]
    assert "--entryPoints.web.http.redirections.entryPoint.to=:30443" in args


def test_gateway_tls_from_cert_manager() -> None:
    config = stack_config("local")
    config["gateway"] = {**config["gateway"], "tls": {"clusterIssuer": "letsencrypt"}}
    run = run_program(config)
    for ingress in run.of_kind("Ingress"):
        assert ingress.metadata["annotations"] == {"cert-manager.io/cluster-issuer": "letsencrypt"}
        assert ingress.inputs["spec"]["tls"] == [{"hosts": ["localhost"], "secretName": "gateway-tls"}]
    assert run.outputs["url"] == "https://localhost/"


def test_authentik_shares_media_on_one_node_without_a_shared_class() -> None:
    run = built("local")
    media = run.one("PersistentVolumeClaim", "authentik-media").inputs["spec"]
    assert media["accessModes"] == ["ReadWriteOnce"]
    for name in ("authentik-server", "authentik-worker"):
        affinity = run.one("Deployment", name).pod_spec()["affinity"]
        term = affinity["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
        assert term["labelSelector"]["matchLabels"] == {"app.kubernetes.io/instance": "authentik"}


@pytest.mark.parametrize("web_path", ["/auth/", "/sso/", "/identity/provider/"])
def test_authentik_server_probes_live_under_its_web_path(web_path: str) -> None:
    """Authentik mounts `/-/health/...` below AUTHENTIK_WEB__PATH, as the chart probes
    `{{ web.path }}-/health/live/`; probing `/-/health/live/` under `/auth/` never
    succeeds on a real cluster."""
    config = stack_config("local")
    run = run_program(config | {"authentik": config["authentik"] | {"path": web_path}})
    server = run.one("Deployment", "authentik-server").pod_spec()["containers"][0]
    assert server["livenessProbe"]["httpGet"]["path"] == f"{web_path}-/health/live/"
    assert server["startupProbe"]["httpGet"]["path"] == f"{web_path}-/health/live/"
    assert server["readinessProbe"]["httpGet"]["path"] == f"{web_path}-/health/ready/"
    config_map = run.one("ConfigMap", "authentik-config").inputs["data"]
    assert config_map["AUTHENTIK_WEB__PATH"] == web_path


def test_authentik_probes_follow_the_official_chart() -> None:
    run = built("local")
    server = run.one("Deployment", "authentik-server").pod_spec()["containers"][0]
    assert server["livenessProbe"]["httpGet"]["path"] == "/auth/-/health/live/"
    assert server["readinessProbe"]["httpGet"]["path"] == "/auth/-/health/ready/"
    worker = run.one("Deployment", "authentik-worker").pod_spec()["containers"][0]
    assert worker["livenessProbe"]["exec"]["command"] == ["ak", "healthcheck"]
    assert {p["containerPort"] for p in server["ports"]} == {9000, 9443, 9300}


def test_authentik_secret_holds_generated_credentials() -> None:
    secret = built("local").one("Secret", "authentik-secrets", "staging-infra")
    data = secret.inputs["stringData"]
    assert set(data) == {
        "AUTHENTIK_SECRET_KEY",
        "AUTHENTIK_POSTGRESQL__PASSWORD",
        "AUTHENTIK_BOOTSTRAP_PASSWORD",
        "AUTHENTIK_BOOTSTRAP_TOKEN",
    }
    assert data["AUTHENTIK_POSTGRESQL__PASSWORD"] == "generated-authentik-db-password-xxxxxxxx"
    for key in data:
        assert secret.is_secret("stringData", key)


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("ghcr.io/goauthentik/server:2025.8.4", True),
        ("ghcr.io/goauthentik/server:2025.10.0", False),
        ("ghcr.io/goauthentik/server:2026.8.6", False),
    ],
)
def test_authentik_needs_redis_only_before_2025_10(image: str, expected: bool) -> None:
    assert needs_redis(image) is expected


def test_older_authentik_gets_its_own_redis() -> None:
    config = stack_config("local")
    config["authentik"] = {**config["authentik"], "image": "ghcr.io/goauthentik/server:2025.8.4"}
    run = run_program(config)
    assert run.one("Deployment", "authentik-redis", "staging-infra")
    assert "AUTHENTIK_REDIS__HOST" in run.one("ConfigMap", "authentik-config").inputs["data"]


@pytest.mark.parametrize(
    ("mode", "args", "has_claim"),
    [
        ("aof", ["--appendonly", "yes", "--appendfsync", "everysec"], True),
        ("rdb", ["--appendonly", "no", "--save", "60 1"], True),
        ("none", ["--appendonly", "no", "--save", ""], False),
    ],
)
def test_redis_persistence_modes(mode: str, args: list[str], has_claim: bool) -> None:
    config = stack_config("local")
    config["redis"] = {**config["redis"], "persistence": mode}
    run = run_program(config)
    redis = run.one("Deployment", "redis").pod_spec()
    assert redis["containers"][0]["command"] == ["redis-server", "/etc/redis/auth.conf", *args]
    claims = {c.k8s_name for c in run.of_kind("PersistentVolumeClaim")}
    assert ("redis-data" in claims) is has_claim


def test_raising_rotation_changes_only_that_services_keepers() -> None:
    config = stack_config("local")
    config["redis"] = {**config["redis"], "rotation": 2}
    run = run_program(config)
    keepers = {r.name: r.inputs["keepers"] for r in run.of_kind("RandomPassword")}
    assert keepers["redis-password"] == {"rotation": "2"}
    assert keepers["postgres-password"] == {"rotation": "0"}


def test_authentik_trusted_proxies_default_to_the_pod_network_and_can_be_set() -> None:
    config = built("local").one("ConfigMap", "authentik-config").inputs["data"]
    assert config["AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS"] == "10.244.0.0/16"
    custom = stack_config("staging")
    custom["authentik"] = {**custom["authentik"], "trustedProxies": "192.168.0.0/16"}
    run = run_program(custom | {"target": "eks"})
    assert run.one("ConfigMap", "authentik-config").inputs["data"]["AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS"] == (
        "192.168.0.0/16"
    )


def test_redis_password_never_in_pod_spec() -> None:
    redis = built("local").one("Deployment", "redis")
    assert "generated-" not in str(redis.inputs)


def test_protect_data_can_be_forced_on_a_local_target() -> None:
    run = run_program(stack_config("local") | {"protectData": True})
    assert run.one("StatefulSet", "postgres").protect


def test_settings_profile_drives_protection_default() -> None:
    assert parse_settings(stack_config("staging")).data_protected is True
    assert parse_settings(stack_config("local")).data_protected is False


@every_stack
def test_services_are_ready_with_their_cluster_ip_but_load_balancers_wait_for_an_address(stack: str) -> None:
    for service in built(stack).of_kind("Service"):
        annotations = service.metadata.get("annotations", {})
        if service.inputs["spec"].get("type") == "LoadBalancer":
            assert "pulumi.com/waitFor" not in annotations
        else:
            assert annotations["pulumi.com/waitFor"] == "jsonpath={.spec.clusterIP}", service.k8s_name


def test_rollout_timeout_reaches_deployments_and_stateful_sets_only() -> None:
    transform = rollout_timeout("90s")
    parent = pulumi.ResourceOptions(protect=True)
    for type_ in ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet"):
        result = transform(pulumi.ResourceTransformArgs(True, type_, "web", {"spec": {}}, parent))
        assert isinstance(result, pulumi.ResourceTransformResult)
        timeouts = result.opts.custom_timeouts
        assert result.props == {"spec": {}} and result.opts.protect is True
        assert timeouts is not None and (timeouts.create, timeouts.update, timeouts.delete) == ("90s", "90s", None)
    for type_ in ("kubernetes:batch/v1:CronJob", "kubernetes:core/v1:Service", "platform:index:AppTier"):
        assert transform(pulumi.ResourceTransformArgs(True, type_, "web", {}, parent)) is None


def test_a_rollout_timeout_leaves_the_name_check_and_the_objects_as_they_are() -> None:
    # The transform is the engine's callback, given by the program: the Platform built
    # under mocks for the name check has none, and renders what it renders without.
    timed = run_program(stack_config("local") | {"rolloutTimeout": "90s"}, stack="local")
    plain = run_program(stack_config("local"), stack="local")
    assert {(r.type, r.name): r.inputs for r in timed.registrations} == {
        (r.type, r.name): r.inputs for r in plain.registrations
    }
