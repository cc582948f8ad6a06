"""Reading Kubernetes props: unknowns, pod templates, selectors, credentials."""

from typing import Any

import pytest
from kube import (
    UNKNOWN,
    credential_in_text,
    get,
    looks_like_credential_name,
    plain,
    selector_matches,
)
from kube import workload as as_workload
from pulumi_policy.proxy import (
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    unknown_checking_proxy,
)

from tests.policy.k8s_builders import container, pod_template, workload

CORE = {"app.kubernetes.io/name": "core", "app.kubernetes.io/component": "backend"}


def test_plain_turns_preview_unknowns_into_unknown() -> None:
    props = unknown_checking_proxy({"spec": {"image": UNKNOWN_STRING_VALUE, "ports": [80, UNKNOWN_OBJECT_VALUE]}})

    assert plain(props) == {"spec": {"image": UNKNOWN, "ports": [80, UNKNOWN]}}


def test_plain_turns_raw_unknown_sentinels_into_unknown() -> None:
    assert plain({"flag": UNKNOWN_BOOLEAN_VALUE, "name": "core"}) == {
        "flag": UNKNOWN,
        "name": "core",
    }


def test_get_tells_absent_from_unknown() -> None:
    props = {"metadata": {"labels": UNKNOWN}}

    assert get(props, "spec", "replicas") is None
    assert get(props, "metadata", "labels", "app.kubernetes.io/name") is UNKNOWN


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet", "Job", "CronJob", "Pod"])
def test_workload_reads_the_pod_template_of_every_kind(kind: str) -> None:
    template = pod_template(containers=[container("app")], init_containers=[container("init")])

    pod = as_workload(workload(kind, template=template))

    assert pod is not None
    assert pod.kind == kind
    assert [str(c) for c in pod.containers()] == [
        "init container 'init'",
        "container 'app'",
    ]
    assert [str(c) for c in pod.containers(init=False)] == ["container 'app'"]


def test_workload_names_kind_namespace_and_name() -> None:
    pod = as_workload(workload("StatefulSet", name="app-db"))

    assert pod is not None
    assert pod.ref == "StatefulSet staging-core/app-db"


def test_workload_shows_a_namespace_unknown_during_preview() -> None:
    pod = as_workload(workload(namespace=UNKNOWN_STRING_VALUE, preview=True))

    assert pod is not None
    assert pod.ref == "Deployment <computed>/core"


def test_workload_without_namespace_is_in_the_default_namespace() -> None:
    pod = as_workload(workload(namespace=None))

    assert pod is not None
    assert pod.ref == "Deployment <default>/core"


def test_workload_with_unknown_containers_has_none_to_check() -> None:
    template = pod_template()
    template["spec"]["containers"] = UNKNOWN_STRING_VALUE

    pod = as_workload(workload(template=template, preview=True))

    assert pod is not None
    assert list(pod.containers()) == []


def test_container_security_context_overrides_the_pods() -> None:
    template = pod_template(
        containers=[container(securityContext={"runAsNonRoot": False})],
        security_context={"runAsNonRoot": True},
    )
    pod = as_workload(workload(template=template))

    assert pod is not None
    [main] = pod.containers()
    assert pod.security(main, "runAsNonRoot") is False
    assert pod.security(main, "seccompProfile") is None


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ({"matchLabels": {"app.kubernetes.io/name": "core"}}, True),
        ({"matchLabels": {"app.kubernetes.io/name": "web"}}, False),
        ({"matchLabels": {**CORE, "extra": "label"}}, False),
        ({}, True),
        (None, False),
        (
            {
                "matchExpressions": [
                    {
                        "key": "app.kubernetes.io/name",
                        "operator": "In",
                        "values": ["core"],
                    }
                ]
            },
            True,
        ),
        (
            {
                "matchExpressions": [
                    {
                        "key": "app.kubernetes.io/name",
                        "operator": "NotIn",
                        "values": ["core"],
                    }
                ]
            },
            False,
        ),
        ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, False),
        (UNKNOWN, None),
        ({"matchLabels": {"app.kubernetes.io/name": UNKNOWN}}, None),
    ],
)
def test_selector_matches_like_kubernetes(selector: Any, expected: bool | None) -> None:
    assert selector_matches(selector, CORE) is expected


def test_selector_cannot_tell_for_unknown_pod_labels() -> None:
    assert selector_matches({"matchLabels": CORE}, UNKNOWN) is None


@pytest.mark.parametrize(
    "name",
    [
        "POSTGRES_PASSWORD",
        "redisPassword",
        "AUTHENTIK_SECRET_KEY",
        "OPENAI_API_KEY",
        "apiKey",
        "BOOTSTRAP_TOKEN",
        "aws-credentials",
        "SIGNING_KEY",
    ],
)
def test_credential_names(name: str) -> None:
    assert looks_like_credential_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "LOG_LEVEL",
        "DATABASE_HOST",
        "POSTGRES_PASSWORD_FILE",
        "TOKEN_TTL",
        "SECRET_NAME",
        "AUTHENTIK_WEB__PATH",
        "KEY_PREFIX",
        "keyboard",
        "",
    ],
)
def test_names_that_are_not_credentials(name: str) -> None:
    assert not looks_like_credential_name(name)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("postgresql://app:s3cret@db:5432/app", "a connection URI with a password"),
        ("CREATE ROLE app LOGIN PASSWORD 'hunter2';", "a SQL PASSWORD literal"),
        ("appendonly yes\nrequirepass hunter2\n", "a Redis requirepass password"),
        ("host: db\npassword: hunter2\n", "a value assigned to 'password'"),
        ("export API_TOKEN=abc123", "a value assigned to 'API_TOKEN'"),
    ],
)
def test_credentials_in_text(text: str, found: str) -> None:
    assert (credential_in_text(text) or "").startswith(found)


@pytest.mark.parametrize(
    "text",
    [
        "CREATE EXTENSION IF NOT EXISTS vector;",
        "postgresql://app@db:5432/app",
        "postgresql://app:$(POSTGRES_PASSWORD)@db:5432/app",
        "redis://:${REDIS_PASSWORD}@cache:6379/0",
        "password_file: /run/secrets/db",
        "https://auth.example.test/application/o/token/",
        "password: $(DB_PASSWORD)",
    ],
)
def test_text_without_credentials(text: str) -> None:
    assert credential_in_text(text) is None
