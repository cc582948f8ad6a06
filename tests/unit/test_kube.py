"""The construct layer (components/kube) on its own: what a pod description makes,
and the rules that live only there."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest
from pulumi_kubernetes.core.v1 import ResourceRequirementsArgs

from components import kube
from components.config.models import resources
from components.contracts import Route
from components.kube import Peer
from tests.unit.harness import Run, run_resources

RESOURCES = ResourceRequirementsArgs(
    requests={"cpu": "100m", "memory": "64Mi"}, limits={"cpu": "200m", "memory": "128Mi"}
)
LABELS = kube.labels("web", "web", "frontend")


def web(**container: Any) -> kube.Pod:
    fields: dict[str, Any] = {"ports": {"http": 8080, "metrics": 9090}} | container
    return kube.Pod(
        "web", "apps", LABELS, [kube.Container("web", "nginx:1.27", RESOURCES, **fields)], run_as_user=10001
    )


class Owner(pulumi.ComponentResource):
    def __init__(self) -> None:
        super().__init__("test:index:Owner", "owner")


def build(make: Any) -> Run:
    return run_resources(lambda: make(Owner()))


def test_service_ports_are_the_containers_ports() -> None:
    run = build(lambda owner: web().service("web", kube.child(owner)))
    ports = run.one("Service", "web").inputs["spec"]["ports"]
    assert [(p["name"], p["port"], p["targetPort"]) for p in ports] == [
        ("http", 8080, "http"),
        ("metrics", 9090, "metrics"),
    ]


def test_service_can_listen_on_other_numbers_for_some_ports() -> None:
    run = build(lambda owner: web().service("web", kube.child(owner), listen={"http": 80}, node_ports={"http": 30080}))
    ports = run.one("Service", "web").inputs["spec"]["ports"]
    assert ports == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP", "nodePort": 30080}]


def test_service_selects_the_pods_by_their_stable_labels() -> None:
    run = build(lambda owner: web().service("web", kube.child(owner)))
    assert run.one("Service", "web").inputs["spec"]["selector"] == kube.selector(LABELS)


def test_one_replica_gets_no_disruption_budget() -> None:
    run = build(lambda owner: web().disruption_budget("web-pdb", replicas=1, opts=kube.child(owner)))
    assert run.count("PodDisruptionBudget") == 0


def test_two_replicas_get_a_budget_that_keeps_all_but_one() -> None:
    run = build(lambda owner: web().disruption_budget("web-pdb", replicas=2, opts=kube.child(owner)))
    spec = run.one("PodDisruptionBudget", "web").inputs["spec"]
    assert spec == {"maxUnavailable": 1, "selector": {"matchLabels": kube.selector(LABELS)}}


def claim(owner: pulumi.Resource, *, protect: bool) -> None:
    data = kube.DataVolume("data", "/data", "1Gi", "standard", claim_name="web-data")
    data.claim("web-data", "apps", LABELS, owner, protect=protect)


def test_a_data_volume_survives_destroy_and_is_protected_when_asked() -> None:
    run = build(lambda owner: claim(owner, protect=True))
    pvc = run.one("PersistentVolumeClaim", "web-data")
    assert (pvc.protect, pvc.retain_on_delete) == (True, True)


def test_an_unprotected_data_volume_is_still_retained() -> None:
    run = build(lambda owner: claim(owner, protect=False))
    pvc = run.one("PersistentVolumeClaim", "web-data")
    assert (pvc.protect, pvc.retain_on_delete) == (False, True)


def test_a_volume_brings_its_mount_and_the_pod_its_volume() -> None:
    data = kube.DataVolume("data", "/srv/data", "1Gi", "standard", claim_name="web-data")
    run = build(lambda owner: web(volumes=[data.volume]).deployment("web", replicas=1, opts=kube.child(owner)))
    pod = run.one("Deployment", "web").pod_spec()
    assert {"name": "data", "mountPath": "/srv/data"} in pod["containers"][0]["volumeMounts"]
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "web-data"}} in pod["volumes"]


def test_containers_are_hardened_by_default() -> None:
    run = build(lambda owner: web().deployment("web", replicas=1, opts=kube.child(owner)))
    pod = run.one("Deployment", "web").pod_spec()
    context = pod["containers"][0]["securityContext"]
    assert context["runAsNonRoot"] and context["readOnlyRootFilesystem"]
    assert not context["allowPrivilegeEscalation"]
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    assert {"name": "scratch-tmp", "emptyDir": {"sizeLimit": "256Mi"}} in pod["volumes"]


def test_scan_skips_name_only_the_checks_that_apply() -> None:
    secret = [kube.secret_env("TOKEN", "web-secrets", "TOKEN")]
    run = build(lambda owner: web(env=secret).deployment("web", replicas=1, opts=kube.child(owner)))
    annotations = run.one("Deployment", "web").metadata["annotations"]
    skips = [value for key, value in annotations.items() if key.startswith("checkov.io/skip")]
    assert sorted(skip.split("=")[0] for skip in skips) == ["CKV_K8S_35", "CKV_K8S_43"]


def test_workloads_are_deleted_in_the_background() -> None:
    run = build(lambda owner: web().deployment("web", replicas=1, opts=kube.child(owner)))
    annotations = run.one("Deployment", "web").metadata["annotations"]
    assert annotations["pulumi.com/deletionPropagationPolicy"] == "background"


API_LABELS = kube.labels("api", "api", "backend")


def api() -> kube.Pod:
    container = kube.Container("api", "nginx:1.27", RESOURCES, ports={"http": 8080})
    return kube.Pod("api", "core", API_LABELS, [container], run_as_user=10001)


def _peer(namespace: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
        "podSelector": {"matchLabels": kube.selector(labels)},
    }


def connected(connect: Any) -> Run:
    """Web and api, each with a policy in one network, after `connect(web, api)`."""

    def make(owner: pulumi.Resource) -> None:
        network = kube.Network()
        connect(
            web().traffic(network, "web-netpol", kube.child(owner)),
            api().traffic(network, "api-netpol", kube.child(owner)),
        )
        network.close()

    return build(make)


def test_a_connection_writes_the_clients_egress_and_the_servers_ingress() -> None:
    run = connected(lambda client, server: kube.connect(client, server, 8080))
    web_spec, api_spec = (run.one("NetworkPolicy", name).inputs["spec"] for name in ("web", "api"))
    assert web_spec["egress"] == [{"to": [_peer("core", API_LABELS)], "ports": [{"protocol": "TCP", "port": 8080}]}]
    assert web_spec["policyTypes"] == ["Ingress", "Egress"]
    assert api_spec["ingress"] == [{"from": [_peer("apps", LABELS)], "ports": [{"protocol": "TCP", "port": 8080}]}]
    assert (api_spec["policyTypes"], api_spec.get("egress", [])) == (["Ingress"], [])


def test_an_end_with_no_policy_here_gives_only_the_other_end_a_rule() -> None:
    scraper = Peer("monitoring")

    def outside(client: kube.Traffic, server: kube.Traffic) -> None:
        kube.connect(scraper, server, 9090)
        kube.connect(client, kube.INTERNET, 443)

    run = connected(outside)
    web_spec, api_spec = (run.one("NetworkPolicy", name).inputs["spec"] for name in ("web", "api"))
    assert web_spec["egress"][0]["to"][0]["ipBlock"]["cidr"] == "0.0.0.0/0"
    assert web_spec["ingress"] == []
    assert api_spec["ingress"][0]["from"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
            "podSelector": {"matchLabels": {}},
        }
    ]


def _ingress_of(clients: list[str]) -> list[Any]:
    def connect(_: kube.Traffic, server: kube.Traffic) -> None:
        for namespace in clients:
            kube.connect(Peer(namespace, {"app": "client"}), server, 8080)

    return list(connected(connect).one("NetworkPolicy", "api").inputs["spec"]["ingress"])


def test_rules_are_sorted_so_a_new_client_only_adds_a_rule() -> None:
    before = _ingress_of(["zeta", "alpha"])
    after = _ingress_of(["zeta", "mid", "alpha", "alpha"])
    assert [rule["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for rule in after] == [
        "alpha",
        "mid",
        "zeta",
    ]
    assert [rule for rule in after if rule not in before] == [after[1]]


def test_a_workload_nothing_connects_to_admits_nothing() -> None:
    run = connected(lambda client, server: None)
    spec = run.one("NetworkPolicy", "api").inputs["spec"]
    assert (spec["policyTypes"], spec["ingress"]) == (["Ingress"], [])


def test_route_paths_lose_their_trailing_slash_but_root_stays() -> None:
    server = kube.Network().traffic("web", "apps", LABELS, "web-netpol", pulumi.ResourceOptions())
    assert Route("/auth/", "apps", "auth", 9000, server).path == "/auth"
    assert Route("/", "apps", "web", 8080, server).path == "/"


@pytest.mark.parametrize(
    ("memory", "quarter"),
    [("2Gi", "512Mi"), ("1.5Gi", "384Mi"), ("1G", "238Mi"), ("1Pi", "268435456Mi"), ("1E", "238418579101Mi")],
)
def test_shared_memory_is_a_quarter_of_any_memory_limit_the_settings_accept(memory: str, quarter: str) -> None:
    accepted = resources("100m", memory, "1", memory)
    limits = ResourceRequirementsArgs(limits={"cpu": accepted.limits.cpu, "memory": accepted.limits.memory})
    assert kube.quarter_of_memory(limits) == quarter


def test_init_containers_run_first_hardened_and_share_the_pod_volumes() -> None:
    staged = kube.Volume.empty("work", "/work", "1Gi")
    first = kube.Container("fetch", "busybox:1.37", RESOURCES, volumes=[staged])
    pod = kube.Pod(
        "job",
        "apps",
        LABELS,
        [kube.Container("use", "busybox:1.37", RESOURCES, volumes=[staged])],
        run_as_user=10001,
        init_containers=[first],
        restart_policy="OnFailure",
    )
    run = build(lambda owner: pod.cron_job("job", schedule="0 3 * * *", opts=kube.child(owner)))
    spec = run.one("CronJob", "job").pod_spec()
    assert [c["name"] for c in spec["initContainers"]] == ["fetch"]
    assert [c["name"] for c in spec["containers"]] == ["use"]
    assert spec["initContainers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    assert [v["name"] for v in spec["volumes"]] == ["work", "scratch-tmp"]
