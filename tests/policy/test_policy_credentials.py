"""no-credentials-in-configmaps and no-literal-credentials-in-env."""

from typing import Any

from pulumi_policy.proxy import UNKNOWN_STRING_VALUE
from rules import no_credentials_in_configmaps, no_literal_credentials_in_env

from tests.policy.k8s_builders import config_map, container, findings, pod_template, workload

FIX = "move it to a Secret generated with pulumi-random and mount or reference that"


def test_configmap_of_plain_settings_passes() -> None:
    data = {
        "LOG_LEVEL": "info",
        "DATABASE_HOST": "app-db.staging-infra.svc",
        "AUTHENTIK_WEB__PATH": "/auth/",
        "init.sql": "CREATE EXTENSION IF NOT EXISTS vector;\nCREATE DATABASE todo;\n",
    }

    assert findings(no_credentials_in_configmaps, config_map(data)) == []


def test_configmap_key_naming_a_credential_is_reported() -> None:
    assert findings(no_credentials_in_configmaps, config_map({"REDIS_PASSWORD": "x"})) == [
        f"ConfigMap staging-core/core-config: data key 'REDIS_PASSWORD' looks like a credential; {FIX}"
    ]


def test_configmap_value_with_credentials_in_a_uri_is_reported() -> None:
    data = {"DATABASE_URL": "postgresql://app:s3cret@app-db:5432/app"}

    assert findings(no_credentials_in_configmaps, config_map(data)) == [
        "ConfigMap staging-core/core-config: data key 'DATABASE_URL' contains a "
        f"connection URI with a password (scheme://user:password@host); {FIX}"
    ]


def test_configmap_init_script_with_a_password_is_reported() -> None:
    data = {"init.sql": "CREATE ROLE authentik LOGIN PASSWORD 'hunter2';"}

    [message] = findings(no_credentials_in_configmaps, config_map(data))

    assert "data key 'init.sql' contains a SQL PASSWORD literal;" in message


def test_configmap_binary_key_naming_a_credential_is_reported() -> None:
    args = config_map(binary_data={"tls-private-key": "LS0tLS1CRUdJTi=="})

    [message] = findings(no_credentials_in_configmaps, args)

    assert "binaryData key 'tls-private-key' looks like a credential" in message


def test_configmap_value_unknown_during_preview_is_not_reported() -> None:
    args = config_map({"DATABASE_URL": UNKNOWN_STRING_VALUE}, preview=True)

    assert findings(no_credentials_in_configmaps, args) == []


def with_env(*env: dict[str, Any], init: bool = False, preview: bool = False) -> list[str]:
    main = container("migrate" if init else "core", env=list(env))
    template = pod_template(init_containers=[main]) if init else pod_template(containers=[main])
    return findings(no_literal_credentials_in_env, workload(template=template, preview=preview))


def test_credentials_from_secrets_pass() -> None:
    secret_ref = {"secretKeyRef": {"name": "core-secrets", "key": "openai-api-key"}}

    assert (
        with_env(
            {"name": "OPENAI_API_KEY", "valueFrom": secret_ref},
            {"name": "LOG_LEVEL", "value": "info"},
            {"name": "POSTGRES_PASSWORD_FILE", "value": "/run/secrets/db/password"},
            {"name": "DATABASE_URL", "value": "postgresql://app:$(DB_PASSWORD)@app-db/app"},
            {"name": "REDIS_PASSWORD", "value": ""},
        )
        == []
    )


def test_literal_password_in_env_is_reported() -> None:
    assert with_env({"name": "POSTGRES_PASSWORD", "value": "postgres"}) == [
        "Deployment staging-core/core: container 'core' sets env POSTGRES_PASSWORD to a "
        "literal value; take it from a Secret with valueFrom.secretKeyRef"
    ]


def test_literal_key_in_init_container_env_is_reported() -> None:
    [message] = with_env({"name": "AUTHENTIK_SECRET_KEY", "value": "abc"}, init=True)

    assert "init container 'migrate' sets env AUTHENTIK_SECRET_KEY" in message


def test_literal_uri_with_credentials_in_env_is_reported() -> None:
    [message] = with_env({"name": "DATABASE_URL", "value": "postgres://app:pw@db/app"})

    assert "env DATABASE_URL contains a connection URI with a password" in message


def test_literal_credential_computed_during_preview_is_still_reported() -> None:
    # The value is unknown, but that it is a literal rather than valueFrom is known.
    [message] = with_env({"name": "REDIS_PASSWORD", "value": UNKNOWN_STRING_VALUE}, preview=True)

    assert "sets env REDIS_PASSWORD to a literal value" in message


def test_literal_setting_computed_during_preview_is_not_reported() -> None:
    assert with_env({"name": "DATABASE_HOST", "value": UNKNOWN_STRING_VALUE}, preview=True) == []
