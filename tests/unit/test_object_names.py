"""Object names learned from the program (components/object_names.py): every name
the Platform would render is checked against Kubernetes' rules and the others, the
error names the config key that made it, and a name exactly at its limit renders
objects Kubernetes accepts (tests/unit/kube_rules.py, written from Kubernetes' side)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from components.config.loading import ConfigError, parse_settings
from components.object_names import check_names, named_objects, rendered_objects
from tests.unit import kube_rules
from tests.unit.generated_configs import EVERY_OBJECT, name_limits, set_key
from tests.unit.harness import last_run, run_program, stack_config


def _refusal(config: dict[str, Any], stack: str) -> str:
    with pytest.raises(ConfigError) as raised:
        run_program(config, stack=stack)
    assert last_run().registrations == [], "a resource was registered before the names were checked"
    return str(raised.value)


def test_authentik_name_too_long_for_its_database_backup_is_refused_naming_the_key() -> None:
    config = copy.deepcopy(stack_config("staging"))
    config["authentik"]["name"] = "a" * 38
    message = _refusal(config, "staging")
    assert (
        f"platform:authentik.name: '{'a' * 38}' (38 characters) makes the CronJob '{'a' * 38}-postgres-backup' "
        "(54 characters), longer than the 52 Kubernetes allows (the CronJob controller appends 11 characters to "
        "name its Jobs); shorten authentik.name to at most 36 characters"
    ) in message


def test_app_named_like_redis_metrics_policy_is_refused_naming_both_keys() -> None:
    config = copy.deepcopy(stack_config("staging"))
    config["apps"].append({"name": "redis-metrics", "namespace": "staging-infra", "image": "traefik/whoami:v1.11.0"})
    message = _refusal(config, "staging")
    assert (
        "platform:apps[3].name: the NetworkPolicy 'redis-metrics' in namespace staging-infra is also made by "
        "platform:redis.name; give one of them another name"
    ) in message


def test_a_key_too_long_for_several_names_gets_one_line_for_the_shortest_limit() -> None:
    config = copy.deepcopy(stack_config("staging"))
    config["authentik"]["name"] = "a" * 50
    lines = [line for line in _refusal(config, "staging").splitlines() if "authentik.name" in line]
    assert len(lines) == 1, lines
    assert lines[0].endswith("shorten authentik.name to at most 36 characters")


def test_the_check_counts_pod_monitors_the_cluster_may_add() -> None:
    settings = parse_settings(stack_config("staging"))
    assert settings.metrics.monitors is None
    assert any(obj.kind == "PodMonitor" for obj in rendered_objects(settings))


def test_every_rendered_object_is_named_after_a_key_of_its_own_component() -> None:
    named = {(item.obj.kind, item.obj.namespace, item.obj.name): item.source.key for item in _every_object()}
    assert named[("CronJob", "staging-infra", "authentik-postgres-backup")] == "authentik.name"
    assert named[("NetworkPolicy", "staging-infra", "redis-metrics")] == "redis.name"
    assert named[("NetworkPolicy", "staging-core", "default-deny")] == "namespaces[1].name"
    assert named[("Ingress", "staging-core", "gateway")] == "gateway.name"
    assert named[("IngressClass", None, "traefik")] == "gateway.className"
    assert named[("Deployment", "staging-web", "web")] == "apps[2].name"


def _every_object() -> list[Any]:
    return named_objects(parse_settings(EVERY_OBJECT))


LIMITS = name_limits()


def test_the_limits_are_those_the_components_render() -> None:
    assert LIMITS == {
        "postgres.name": 45,
        "redis.name": 63,
        "authentik.name": 36,
        "apps[0].name": 63,
        "apps[1].name": 63,
        "apps[2].name": 63,
        "gateway.name": 63,
        "gateway.className": 63,
    }


@pytest.mark.parametrize(("key", "limit"), sorted(LIMITS.items()))
def test_a_name_at_its_limit_renders_objects_kubernetes_accepts_and_one_more_is_refused(key: str, limit: int) -> None:
    config = copy.deepcopy(EVERY_OBJECT)
    set_key(config, key, "n" * limit)
    assert kube_rules.problems(run_program(config, stack="staging")) == []
    if limit < 63:
        set_key(config, key, "n" * (limit + 1))
        assert f"platform:{key}: " in (message := _refusal(config, "staging"))
        assert f"shorten {key} to at most {limit} characters" in message


def test_valid_stacks_pass_the_check() -> None:
    for stack, secrets in (("local", {}), ("minikube", {"openaiApiKey": "sk-test"}), ("staging", {})):
        check_names(parse_settings(stack_config(stack) | secrets, secret_keys=set(secrets)))
