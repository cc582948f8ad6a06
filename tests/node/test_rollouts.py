"""Rollouts on the real node: a changed Secret rolls exactly the workloads that read
it, and the new value is the one inside the containers; a rotated Redis password
is the server's on the next `up` and the old one stops working; so are rotated
PostgreSQL and Authentik database passwords."""

from __future__ import annotations

import time

from tests.node.conftest import NAMESPACES, Node, run_pod, serving_pods, stack_config, template_labels, workload_of
from tests.node.test_data import INFRA, app_env, psql_as_core, secret_value


def test_rotating_the_redis_password_rolls_redis_and_its_readers_only(node: Node) -> None:
    old_password = node.exec(
        "staging-infra", node.pod("staging-infra", "redis"), "printenv", "REDISCLI_AUTH"
    ).stdout.strip()
    rolled, seen = rolled_by(node, "platform:redis.rotation")
    assert rolled == ["core", "redis"], seen

    pod = node.pod("staging-infra", "redis")
    new_password = node.exec("staging-infra", pod, "printenv", "REDISCLI_AUTH").stdout.strip()
    assert new_password and new_password != old_password
    assert node.exec("staging-infra", pod, "redis-cli", "ping").stdout.strip() == "PONG"
    with_old = node.exec("staging-infra", pod, "env", f"REDISCLI_AUTH={old_password}", "redis-cli", "ping", check=False)
    assert "WRONGPASS" in with_old.stdout + with_old.stderr, with_old


def test_a_changed_config_value_rolls_only_its_reader_and_is_seen_inside(node: Node) -> None:
    apps = [a["name"] for a in stack_config(node)["platform:apps"]]
    rolled, seen = rolled_by(node, f"platform:apps[{apps.index('web')}].env.GREETING", "hello-from-config")
    assert rolled == ["web"], seen
    # whoami prints its environment with ?env=true: the value inside the new container.
    # The gateway learns of the new pod within its provider's throttle (2 s by default).
    deadline = time.monotonic() + 15
    while "GREETING=hello-from-config" not in (body := node.get("/?env=true")[2]):
        assert time.monotonic() < deadline, body
        time.sleep(1)


def workloads(node: Node) -> dict[str, tuple[str, str]]:
    """Uid to name and workload of the platform's pods that are not terminating."""
    found = {}
    for namespace in NAMESPACES:
        for pod in node.objects("pods", namespace):
            meta = pod["metadata"]
            if "deletionTimestamp" not in meta:
                found[meta["uid"]] = (meta["name"], workload_of(pod))
    return found


def rolled_by(node: Node, key: str, value: str = "1") -> tuple[list[str], str]:
    """Set `key` to `value` and `up`; the workloads whose pods were replaced, and what
    `up` printed with the pods before and after (for a failing assertion)."""
    before = workloads(node)
    node.pulumi("config", "set", "--path", key, value)
    up = node.up()
    after = serving_pods(node)
    rolled = sorted({workload for uid, (_, workload) in before.items() if uid not in after})
    names = sorted(name for name, _ in before.values())
    return rolled, f"{up.stdout[-3000:]}\nbefore: {names}\nafter: {sorted(after.values())}"


def test_rotating_the_postgres_password_changes_it_in_the_server_for_its_readers(node: Node) -> None:
    old_url = app_env(node, "staging-core", "core", "DATABASE_URL")
    rolled, seen = rolled_by(node, "platform:postgres.rotation")
    assert rolled == ["ai", "core", "postgres"], seen
    assert app_env(node, "staging-core", "core", "DATABASE_URL") != old_url
    assert psql_as_core(node, "select 'new password'").strip().splitlines()[-1] == "new password"
    refused = run_pod(
        node,
        "staging-core",
        template_labels(node, "deployment", "staging-core", "core"),
        'for _ in $(seq 60); do pg_isready -q -d "$DATABASE_URL" && break; sleep 1; done; '
        'psql "$DATABASE_URL" -Atc "select 1" 2>&1 || true',
        {"DATABASE_URL": old_url},
    )
    assert "password authentication failed" in refused, refused


def test_rotating_authentiks_credentials_reaches_its_database(node: Node) -> None:
    old = secret_value(node, INFRA, "authentik-postgres-credentials", "password")
    rolled, seen = rolled_by(node, "platform:authentik.rotation")
    assert rolled == ["authentik-postgres", "authentik-server", "authentik-worker"], seen
    assert secret_value(node, INFRA, "authentik-postgres-credentials", "password") != old
    # The stand-in is Ready only once it has logged in with its AUTHENTIK_POSTGRESQL__* values.
    node.pod(INFRA, "authentik-server")
    # Over the network, as Authentik connects (the image trusts local connections).
    refused = run_pod(
        node,
        INFRA,
        template_labels(node, "deployment", INFRA, "authentik-server"),
        'for _ in $(seq 60); do pg_isready -q && break; sleep 1; done; psql -Atc "select 1" 2>&1 || true',
        {"PGHOST": "authentik-postgres", "PGUSER": "authentik", "PGDATABASE": "authentik", "PGPASSWORD": old},
    )
    assert "password authentication failed" in refused, refused
