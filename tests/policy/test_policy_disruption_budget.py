"""pod-disruption-budget: replicated workloads have a PDB selecting their pods."""

from typing import Any

from pulumi_policy.proxy import UNKNOWN_NUMBER_VALUE, unknown_checking_proxy
from rules import pod_disruption_budgets

from tests.policy.k8s_builders import (
    CORE_SELECTOR,
    Args,
    Reports,
    StackArgs,
    autoscaler,
    disruption_budget,
    workload,
)


def stack(*resources: Args) -> Reports:
    reports = Reports()
    pod_disruption_budgets(StackArgs(list(resources)), reports)
    return reports


def preview(args: Args) -> Args:
    args.props = unknown_checking_proxy(dict(args.props))
    return args


def test_single_replica_needs_no_budget() -> None:
    assert stack(workload(replicas=1)).messages == []


def test_replicated_deployment_without_budget_is_reported_on_it() -> None:
    deployment = workload(replicas=2)

    reports = stack(deployment)

    assert reports.messages == [
        "Deployment staging-core/core: runs 2 replicas but no PodDisruptionBudget in "
        "its namespace selects its pods; add one (e.g. maxUnavailable: 1) whose "
        "selector.matchLabels are a subset of the pod template labels"
    ]
    assert reports.urns == [deployment.urn]


def test_replicated_deployment_with_matching_budget_passes() -> None:
    assert stack(workload(replicas=2), disruption_budget()).messages == []


def test_replica_count_sent_as_a_double_is_read() -> None:
    assert len(stack(workload(replicas=3.0)).messages) == 1


def test_replicated_statefulset_without_budget_is_reported() -> None:
    [message] = stack(workload("StatefulSet", name="app-db", replicas=3)).messages

    assert message.startswith("StatefulSet staging-core/app-db: runs 3 replicas")


def test_budget_in_another_namespace_does_not_count() -> None:
    budget = disruption_budget(namespace="staging-web")

    assert len(stack(workload(replicas=2), budget).messages) == 1


def test_budget_selecting_other_pods_does_not_count() -> None:
    budget = disruption_budget({"matchLabels": {"app.kubernetes.io/name": "web"}})

    assert len(stack(workload(replicas=2), budget).messages) == 1


def test_budget_without_selector_does_not_count() -> None:
    assert len(stack(workload(replicas=2), disruption_budget(None)).messages) == 1


def test_budget_with_empty_selector_selects_every_pod() -> None:
    assert stack(workload(replicas=2), disruption_budget({})).messages == []


def test_autoscaled_deployment_with_two_minimum_replicas_needs_a_budget() -> None:
    deployment = workload(replicas=None)

    assert len(stack(deployment, autoscaler(2)).messages) == 1
    assert stack(deployment, autoscaler(2), disruption_budget()).messages == []


def test_autoscaler_of_another_deployment_does_not_count() -> None:
    assert stack(workload(replicas=None), autoscaler(3, target="web")).messages == []


def test_autoscaler_with_one_minimum_replica_needs_no_budget() -> None:
    assert stack(workload(replicas=None), autoscaler(1)).messages == []


def test_daemonsets_and_jobs_need_no_budget() -> None:
    assert stack(workload("DaemonSet", replicas=None), workload("Job")).messages == []


def test_unknown_replicas_during_preview_are_not_reported() -> None:
    assert stack(workload(replicas=UNKNOWN_NUMBER_VALUE, preview=True)).messages == []


def test_budget_with_unknown_selector_during_preview_counts() -> None:
    budget: Any = preview(disruption_budget({"matchLabels": UNKNOWN_NUMBER_VALUE}))

    assert stack(workload(replicas=2), budget).messages == []


def test_budget_in_unknown_namespace_during_preview_counts() -> None:
    budget = preview(disruption_budget(CORE_SELECTOR, namespace=UNKNOWN_NUMBER_VALUE))

    assert stack(workload(replicas=2), budget).messages == []
