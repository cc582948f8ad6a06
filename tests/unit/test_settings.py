"""Bad stack config fails before any resource is registered, naming the key and the fix."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from components.config.loading import ConfigError, parse_settings
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
    ("storage 10, bytes", "local", _set("postgres.storage", 10), "platform:postgres.storage", "with a unit"),
    ("rollout timeout without a unit", "local", _set("rolloutTimeout", "90"), "platform:rolloutTimeout", "90s"),
    (
        "media storage below 1Mi",
        "local",
        _set("authentik.mediaStorage", "512Ki"),
        "platform:authentik.mediaStorage",
        "with a unit",
    ),
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
        "`pulumi config set --secret --stack minikube platform:openaiApiKey` (both prompt",
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
    # Found by the generator (tests/unit/test_generated_configs.py): each passed
    # validation and failed at the API server, or was rejected without a fix.
    (
        "object name taken by a namespace's own policy",
        "local",
        _set("redis.name", "allow-dns"),
        "platform:redis.name",
        "also made by platform:namespaces[0].name; give one of them another name",
    ),
    (
        "app named like the database in its namespace",
        "local",
        lambda c: c["apps"][0].update(name="postgres", namespace="staging-infra", calls=[]),
        "platform:apps[0].name",
        "the Service 'postgres' in namespace staging-infra is also made by platform:postgres.name",
    ),
    (
        "app name starting with a digit",
        "local",
        _set("apps.0.name", "1core"),
        "platform:apps[0].name",
        "Service names must start with a letter",
    ),
    (
        "authentik name too long for its database's StatefulSet",
        "local",
        _set("authentik.name", "a" * 46),
        "platform:authentik.name",
        "makes the StatefulSet '" + "a" * 46 + "-postgres' (55 characters), longer than the 52 Kubernetes allows "
        "(its pods carry the label controller-revision-hash, the name plus 11 characters); "
        "shorten authentik.name to at most 43 characters",
    ),
    (
        "postgres name too long for a StatefulSet",
        "local",
        _set("postgres.name", "p" * 53),
        "platform:postgres.name",
        "shorten postgres.name to at most 52 characters",
    ),
    (
        "postgres name too long for its backup CronJob",
        "staging",
        _set("postgres.name", "p" * 46),
        "platform:postgres.name",
        "shorten postgres.name to at most 45 characters",
    ),
    (
        "gateway host with a scheme",
        "local",
        _set("gateway.host", "http://staging.example.com"),
        "platform:gateway.host",
        "without scheme, port or path: 'staging.example.com'",
    ),
    (
        "gateway host with a port",
        "local",
        _set("gateway.host", "localhost:8080"),
        "platform:gateway.host",
        "'localhost'",
    ),
    (
        "gateway host an IP address",
        "minikube",
        _set("gateway.host", "192.168.49.2"),
        "platform:gateway.host",
        "'192.168.49.2.nip.io'",
    ),
    (
        "gateway host in upper case",
        "local",
        _set("gateway.host", "Staging.Example.com"),
        "platform:gateway.host",
        "'staging.example.com'",
    ),
    (
        "cpu request above its limit",
        "local",
        _set("redis.resources.requests.cpu", "1"),
        "platform:redis.resources",
        "lower requests.cpu or raise limits.cpu to at least 1",
    ),
    (
        "backup schedule not cron",
        "staging",
        _set("postgres.backup.schedule", "nightly"),
        "platform:postgres.backup.schedule",
        "'0 3 * * *'",
    ),
    (
        "backup hour out of range",
        "staging",
        _set("postgres.backup.schedule", "0 24 * * *"),
        "platform:postgres.backup.schedule",
        "runs from 0 to 23",
    ),
    (
        "image with a trailing space",
        "local",
        _set("redis.image", "redis:7-alpine "),
        "platform:redis.image",
        "no spaces",
    ),
    (
        "image in upper case",
        "local",
        _set("apps.0.image", "Traefik/whoami:v1.11.0"),
        "platform:apps[0].image",
        "lower-case repository",
    ),
    (
        "path with an empty segment",
        "local",
        _set("apps.0.path", "/api//v1"),
        "platform:apps[0].path",
        "between single slashes",
    ),
    ("authentik path with a space", "local", _set("authentik.path", "/a b/"), "platform:authentik.path", "'/api'"),
    (
        "authentik at / and an app at /",
        "local",
        _set("authentik.path", "/"),
        "platform:apps[2].path",
        "already routed to authentik",
    ),
    (
        "env value a bare number",
        "local",
        _set("apps.0.env", {"WHOAMI_PORT_NUMBER": 8080}),
        "platform:apps[0].env.WHOAMI_PORT_NUMBER",
        'read the number 8080; quote it: "8080"',
    ),
    (
        "description read as a boolean",
        "local",
        _set("namespaces.0.description", True),
        "platform:namespaces[0].description",
        "read the boolean true (YAML reads unquoted yes",
    ),
    (
        "persistence no read as a boolean",
        "local",
        _set("redis.persistence", False),
        "platform:redis.persistence",
        "expected 'aof', 'rdb' or 'none', read the boolean false",
    ),
    (
        "credential as plain config",
        "minikube",
        _set("openaiApiKey", "sk-plain"),
        "platform:openaiApiKey",
        "set it with `make secret STACK=minikube KEY=openaiApiKey` or",
    ),
    (
        "label key with a space",
        "local",
        _set("namespaces.1.labels", {"service name": "core"}),
        "platform:namespaces[1].labels",
        "is not a label key",
    ),
    (
        "label value too long",
        "local",
        _set("namespaces.1.labels", {"service": "x" * 64}),
        "platform:namespaces[1].labels",
        "at most 63",
    ),
    (
        "label replacing the Pod Security level",
        "local",
        _set("namespaces.1.labels", {"pod-security.kubernetes.io/enforce": "privileged"}),
        "platform:namespaces[1].labels",
        "set podSecurity",
    ),
    (
        "runAsUser past int32",
        "local",
        _set("apps.0.runAsUser", 2**31),
        "platform:apps[0].runAsUser",
        "less than or equal to 2147483647",
    ),
    (
        "trusted proxies not a CIDR",
        "local",
        _set("authentik.trustedProxies", "10.0.0.0/33"),
        "platform:authentik.trustedProxies",
        "'10.244.0.0/16'",
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
        "`pulumi config set --secret --stack staging platform:backupAccessKeyId` (both prompt",
    ),
    (
        "backup store without any backup",
        "local",
        _set("backupStore", {"endpoint": "https://s3.example.com", "bucket": "platform-backups"}),
        "platform:backupStore",
        "postgres.backup",
    ),
]


# Every config value the components write into SQL or a shell command, and a value
# that would end the statement or run a command of its own there.
IN_SQL_OR_SHELL = [
    ("postgres.extensions", ["vector", 'x"; DROP TABLE app; --']),  # CREATE EXTENSION, the init script
    ("postgres.database", "app; DROP TABLE app"),  # pg_isready, the exporter's and the apps' URIs
    ("postgres.user", "app' OR '1'='1"),
    ("postgres.name", "pg$(id)"),  # the backup's pg_dump, prune and upload commands
    ("authentik.name", "auth`id`"),  # its database's backup commands
    ("postgres.name", "postgres\n"),
]


@pytest.mark.parametrize(("key", "value"), IN_SQL_OR_SHELL)
def test_a_value_written_into_sql_or_a_shell_command_is_held_to_its_grammar(key: str, value: object) -> None:
    config = copy.deepcopy(stack_config("staging"))
    section, field = key.split(".")
    config[section][field] = value
    with pytest.raises(ConfigError) as raised:
        parse_settings(config)
    assert f"platform:{key}" in str(raised.value)


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
    assert "platform:openaiApiKey: a credential set as plain config" in str(raised.value)
    assert "unknown key" not in str(raised.value)


def test_a_credential_named_as_one_is_a_secret_even_when_no_app_uses_it() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_settings({**stack_config("local"), "groqApiKey": "gsk-plain"})
    assert "`pulumi config set --secret --stack <stack> platform:groqApiKey`" in str(raised.value)


def test_yaml_numbers_are_quantities_as_in_kubernetes() -> None:
    config = stack_config("local")
    config["redis"]["resources"] = {"requests": {"cpu": 0.1, "memory": "128Mi"}, "limits": {"cpu": 1, "memory": "1Gi"}}
    settings = parse_settings(config)
    assert settings.redis is not None
    assert settings.redis.resources.requests.cpu == "0.1"
    assert settings.redis.resources.limits.cpu == "1"


def test_authentik_at_the_root_is_routed_at_slash() -> None:
    config = stack_config("local")
    config["authentik"]["path"] = "/"
    config["apps"][2]["path"] = "/web"
    run = run_program(config, stack="local")
    paths = [
        p["path"] for ingress in run.of_kind("Ingress") for p in ingress.inputs["spec"]["rules"][0]["http"]["paths"]
    ]
    assert "/" in paths
    assert "" not in paths


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
