"""container-resources and container-probes."""

from pulumi_policy.proxy import UNKNOWN_OBJECT_VALUE, UNKNOWN_STRING_VALUE
from rules import container_probes, container_resources

from tests.policy.k8s_builders import container, findings, pod_template, workload


def test_container_without_cpu_limit_is_reported() -> None:
    resources = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "1Gi"}}
    template = pod_template(containers=[container(resources=resources)])

    assert findings(container_resources, workload(template=template)) == [
        "Deployment staging-core/core: container 'core' has no resources limits.cpu; "
        "set cpu and memory requests and limits for it in the stack config"
    ]


def test_init_container_without_resources_is_reported() -> None:
    template = pod_template(init_containers=[container("init-db", resources=None)])

    [message] = findings(container_resources, workload("StatefulSet", template=template))

    assert (
        "init container 'init-db' has no resources requests.cpu, requests.memory, limits.cpu, limits.memory" in message
    )


def test_resources_unknown_during_preview_are_not_reported() -> None:
    resources = {"requests": UNKNOWN_OBJECT_VALUE, "limits": {"cpu": UNKNOWN_STRING_VALUE, "memory": "1Gi"}}
    template = pod_template(containers=[container(resources=resources)])

    assert findings(container_resources, workload(template=template, preview=True)) == []


def test_deployment_container_without_probes_is_reported() -> None:
    template = pod_template(containers=[container(livenessProbe=None, readinessProbe=None)])

    assert findings(container_probes, workload(template=template)) == [
        "Deployment staging-core/core: container 'core' has no livenessProbe or "
        "readinessProbe; add both probes so a hung container is restarted and an "
        "unready one gets no traffic"
    ]


def test_statefulset_container_without_readiness_probe_is_reported() -> None:
    template = pod_template(containers=[container("postgres", readinessProbe=None)])

    [message] = findings(container_probes, workload("StatefulSet", template=template))

    assert "container 'postgres' has no readinessProbe;" in message


def test_jobs_and_init_containers_need_no_probes() -> None:
    bare = container("backup", livenessProbe=None, readinessProbe=None)
    job_template = pod_template(containers=[bare])
    deployment_template = pod_template(init_containers=[bare])

    assert findings(container_probes, workload("CronJob", template=job_template)) == []
    assert findings(container_probes, workload("Job", template=job_template)) == []
    assert findings(container_probes, workload(template=deployment_template)) == []


def test_probe_unknown_during_preview_is_not_reported() -> None:
    template = pod_template(containers=[container(livenessProbe=UNKNOWN_OBJECT_VALUE)])

    assert findings(container_probes, workload(template=template, preview=True)) == []
