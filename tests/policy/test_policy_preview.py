"""During preview any value may be unknown: no rule fails or flags on that alone."""

from collections.abc import Iterator
from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy
from rules import RESOURCE_RULES, pod_disruption_budgets

from tests.policy.k8s_builders import (
    Args,
    Reports,
    StackArgs,
    config_map,
    container,
    disruption_budget,
    findings,
    labels,
    pod_template,
    service,
    workload,
)

VALIDATORS = [validate for _, validate in RESOURCE_RULES.values()]


def gateway() -> Args:
    bind = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
    }
    main = container(
        "traefik",
        image="traefik:v3.3.4",
        securityContext=bind,
        env=[
            {"name": "LOG_LEVEL", "value": "INFO"},
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "t", "key": "t"}}},
        ],
    )
    template = pod_template(
        [main],
        init_containers=[container("init")],
        pod_labels=labels("traefik", component="gateway"),
    )
    return workload(name="traefik", template=template, replicas=2)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path into `value`, each container before what it contains."""
    yield prefix
    if isinstance(value, list):
        value = dict(enumerate(value))
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths(child, (*prefix, key))


def unknown_at(props: Any, path: tuple[Any, ...]) -> Any:
    if not path:
        return UNKNOWN_STRING_VALUE
    copy = dict(props) if isinstance(props, dict) else list(props)
    copy[path[0]] = unknown_at(props[path[0]], path[1:])
    return copy


def previews(args: Args) -> Iterator[Args]:
    """`args` once for each of its values made unknown, as preview sends it."""
    for path in list(paths(args.props))[1:]:
        props = unknown_checking_proxy(unknown_at(args.props, path))
        yield Args(args.resource_type, props, args.name, args.urn)


COMPLIANT = {
    "gateway": gateway(),
    "cronjob": workload("CronJob"),
    "pod": workload("Pod"),
    "service": service(service_type="NodePort", object_labels=labels("traefik", "gateway")),
    "configmap": config_map({"DATABASE_URL": "postgresql://app@db/app"}),
}


@pytest.mark.parametrize("name", COMPLIANT)
def test_compliant_objects_pass_every_rule(name: str) -> None:
    for validate in VALIDATORS:
        assert findings(validate, COMPLIANT[name]) == []


@pytest.mark.parametrize("name", COMPLIANT)
def test_any_unknown_value_is_neither_a_failure_nor_a_finding(name: str) -> None:
    for args in previews(COMPLIANT[name]):
        for validate in VALIDATORS:
            assert findings(validate, args) == []


def test_any_unknown_value_leaves_the_budget_rule_quiet() -> None:
    deployment = gateway()
    budget = disruption_budget({"matchLabels": {"app.kubernetes.io/name": "traefik"}})
    for stack in (
        [deployment, budget],
        *([preview, budget] for preview in previews(deployment)),
        *([deployment, preview] for preview in previews(budget)),
    ):
        reports = Reports()
        pod_disruption_budgets(StackArgs(stack), reports)
        assert reports.messages == []


def test_non_kubernetes_resources_are_ignored() -> None:
    args = Args("random:index/randomPassword:RandomPassword", {"length": 32}, "pw", "urn")

    for validate in VALIDATORS:
        assert findings(validate, args) == []
