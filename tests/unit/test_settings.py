"""Bad stack config fails before any resource is registered, naming the key and the fix."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from components.settings import ConfigError, parse_settings
from tests.unit.harness import last_run, run_program, stack_config

Mutation = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Mutation:
    def mutate(config: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = config
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


def _delete(path: str) -> Mutation:
    def mutate(config: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = config
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        del node[last]

    return mutate


# (stack, mutation, the key the message must name, a phrase of the fix)
BAD_INPUTS: list[tuple[str, str, Mutation, str, str]] = [
    ("unknown top-level key", "local", _set("postgress", {"storage": "1Gi"}), "platform:postgress", "spelling"),
    ("unknown nested key", "local", _set("redis.persistance", "aof"), "platform:redis.persistance", "spelling"),
    ("storage 10Gb", "local", _set("postgres.storage", "10Gb"), "platform:postgres.storage", "10Gi"),
    (
        "cpu with a unit typo",
        "local",
        _set("redis.resources.limits.cpu", "250 m"),
        "platform:redis.resources.limits.cpu",
        "250m",
    ),
    (
        "image :latest",
        "local",
        _set("postgres.image", "pgvector/pgvector:latest"),
        "platform:postgres.image",
        "pin a released version",
    ),
    ("image without tag", "local", _set("gateway.image", "traefik"), "platform:gateway.image", "pin a version"),
    ("app image :latest", "local", _set("apps.0.image", "traefik/whoami:latest"), "platform:apps[0].image", "pin"),
    (
        "replicas 0",
        "local",
        _set("authentik.serverReplicas", 0),
        "platform:authentik.serverReplicas",
        "greater than or equal to 1",
    ),
    ("app replicas 0", "local", _set("apps.1.replicas", 0), "platform:apps[1].replicas", "greater than or equal to 1"),
    ("path without leading slash", "local", _set("apps.0.path", "api"), "platform:apps[0].path", "must start with '/'"),
    (
        "authentik path without trailing slash",
        "local",
        _set("authentik.path", "/auth"),
        "platform:authentik.path",
        "'/auth/'",
    ),
    (
        "missing required secret",
        "minikube",
        lambda c: None,
        "platform:apps[0].secretEnv.OPENAI_API_KEY",
        "pulumi config set --secret platform:openaiApiKey",
    ),
    ("unknown target", "local", _set("target", "k3d"), "platform:target", "'kind', 'minikube', 'gke', 'eks' or 'aks'"),
    ("missing target", "local", _delete("target"), "platform:target", "required key is missing"),
    (
        "undeclared namespace",
        "local",
        _set("redis.namespace", "staging-cache"),
        "platform:redis.namespace",
        "add it to platform:namespaces",
    ),
    (
        "bad namespace name",
        "local",
        _set("namespaces.0.name", "Staging_Infra"),
        "platform:namespaces[0].name",
        "lower-case",
    ),
    (
        "unknown persistence mode",
        "local",
        _set("redis.persistence", "always"),
        "platform:redis.persistence",
        "'aof', 'rdb' or 'none'",
    ),
    (
        "autoscaling max below min",
        "minikube",
        _set("apps.0.autoscaling.maxReplicas", 1),
        "platform:apps[0].autoscaling",
        "raise maxReplicas",
    ),
    ("call to an unknown app", "minikube", _set("apps.1.calls", ["todo-api"]), "platform:apps[1].calls", "use one of"),
    (
        "two apps on one path",
        "local",
        _set("apps.1.path", "/api"),
        "platform:apps[1].path",
        "give each app its own path",
    ),
    (
        "one replica on a cloud target",
        "staging",
        _set("gateway.replicas", 1),
        "platform:gateway.replicas",
        "set platform:gateway.replicas to 2",
    ),
    (
        "uses a service the stack lacks",
        "minikube",
        _set("apps.0.uses", ["redis"]),
        "platform:apps[0].uses",
        "add platform:redis",
    ),
    ("privileged port", "local", _set("apps.0.port", 80), "platform:apps[0].port", "greater than or equal to 1024"),
    (
        "bad env name",
        "local",
        _set("apps.0.env", {"1BAD": "x"}),
        "platform:apps[0].env",
        "not a valid environment variable name",
    ),
    (
        "tls with both sources",
        "local",
        _set("gateway.tls", {"secretName": "a", "clusterIssuer": "b"}),
        "platform:gateway.tls",
        "exactly one",
    ),
    (
        "backup keepLast and keepDays",
        "staging",
        _set("postgres.backup", {"keepLast": 3, "keepDays": 7}),
        "platform:postgres.backup",
        "not both",
    ),
    ("backup keepDays 0", "staging", _set("postgres.backup.keepDays", 0), "platform:postgres.backup.keepDays", "1"),
    (
        "backup store endpoint without scheme",
        "staging",
        _set("backupStore", {"endpoint": "s3.example.com", "bucket": "platform-backups"}),
        "platform:backupStore.endpoint",
        "http(s)://host",
    ),
    (
        "backup store bucket with capitals",
        "staging",
        _set("backupStore", {"endpoint": "https://s3.example.com", "bucket": "Backups"}),
        "platform:backupStore.bucket",
        "lower-case",
    ),
    (
        "backup store prefix with a leading slash",
        "staging",
        _set("backupStore", {"endpoint": "https://s3.example.com", "bucket": "platform-backups", "prefix": "/x"}),
        "platform:backupStore.prefix",
        "leading '/'",
    ),
    (
        "backup store without its credentials",
        "staging",
        _set("backupStore", {"endpoint": "https://s3.example.com", "bucket": "platform-backups"}),
        "platform:backupStore.accessKeyIdSecret",
        "pulumi config set --secret platform:backupAccessKeyId",
    ),
    (
        "backup store without any backup",
        "local",
        _set("backupStore", {"endpoint": "https://s3.example.com", "bucket": "platform-backups"}),
        "platform:backupStore",
        "postgres.backup",
    ),
]


@pytest.mark.parametrize(
    ("stack", "mutation", "key", "fix"),
    [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
def test_bad_config_names_key_and_fix_and_registers_nothing(stack: str, mutation: Mutation, key: str, fix: str) -> None:
    config = copy.deepcopy(stack_config(stack))
    mutation(config)
    with pytest.raises(ConfigError) as raised:
        run = run_program(config, stack=stack)
        pytest.fail(f"no error; registered {len(run.registrations)} resources")
    message = str(raised.value)
    assert last_run().registrations == [], "a resource was registered before validation failed"
    assert key in message, message
    assert fix in message, message
    assert "nothing was changed" in message


def test_bad_config_error_is_a_config_error_without_traceback_noise() -> None:
    config = stack_config("local") | {"target": "k3d"}
    with pytest.raises(ConfigError):
        parse_settings(config)


def test_every_problem_is_reported_at_once() -> None:
    config = copy.deepcopy(stack_config("local"))
    config["postgres"]["storage"] = "10Gb"
    config["redis"]["image"] = "redis:latest"
    with pytest.raises(ConfigError) as raised:
        parse_settings(config)
    assert "platform:postgres.storage" in str(raised.value)
    assert "platform:redis.image" in str(raised.value)


def test_plaintext_config_cannot_stand_in_for_a_secret() -> None:
    config = stack_config("minikube") | {"openaiApiKey": "sk-plain"}
    with pytest.raises(ConfigError) as raised:
        parse_settings(config)
    assert "platform:openaiApiKey" in str(raised.value)


def test_unused_secret_is_reported() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_settings({**stack_config("local"), "groqApiKey": "x"}, secret_keys={"groqApiKey"})
    assert "platform:groqApiKey" in str(raised.value)
    assert "pulumi config rm platform:groqApiKey" in str(raised.value)


def test_each_stack_file_is_valid() -> None:
    for stack, secrets in (("local", {}), ("minikube", {"openaiApiKey": "sk-test"}), ("staging", {})):
        settings = parse_settings(stack_config(stack) | secrets, secret_keys=set(secrets))
        assert settings.target in ("kind", "minikube", "gke")


def test_structured_values_arrive_as_json_text() -> None:
    settings = parse_settings(
        {**stack_config("local"), "redis": '{"namespace": "staging-infra", "persistence": "rdb"}'}
    )
    assert settings.redis is not None and settings.redis.persistence == "rdb"
