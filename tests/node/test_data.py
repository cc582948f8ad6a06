"""Data on the real node: PostgreSQL's init scripts ran in the container, rows and
keys outlive their pods, Redis wants its password, and an extension added to the
stack config reaches the existing database on the next `up`."""

from __future__ import annotations

import base64
import json

from tests.node.conftest import Node, make, run_pod, serving_pods, template_labels

INFRA = "staging-infra"


def secret_value(node: Node, namespace: str, name: str, key: str) -> str:
    data = json.loads(node.kubectl("get", "secret", name, "-n", namespace, "-o", "json").stdout)["data"]
    return base64.b64decode(data[key]).decode()


def app_env(node: Node, namespace: str, deployment: str, variable: str) -> str:
    """The value an app's container gets for `variable`, resolved as the kubelet does."""
    spec = json.loads(node.kubectl("get", "deployment", deployment, "-n", namespace, "-o", "json").stdout)
    for item in spec["spec"]["template"]["spec"]["containers"][0]["env"]:
        if item["name"] == variable:
            ref = item["valueFrom"]["secretKeyRef"]
            return secret_value(node, namespace, ref["name"], ref["key"])
    raise AssertionError(f"{deployment} has no {variable}")


def psql_as_core(node: Node, sql: str) -> str:
    """`sql` through the core app's DATABASE_URL, from a pod with the core app's labels."""
    url = app_env(node, "staging-core", "core", "DATABASE_URL")
    labels = template_labels(node, "deployment", "staging-core", "core")
    return run_pod(
        node,
        "staging-core",
        labels,
        # A client waits for the server first: after a restart its Service may take a
        # moment to list the new pod.
        'for _ in $(seq 60); do pg_isready -q -d "$DATABASE_URL" && break; sleep 1; done; '
        'psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -Atc "$SQL"',
        {
            "DATABASE_URL": url,
            "SQL": sql,
        },
    )


def restart(node: Node, namespace: str, workload: str) -> str:
    """Delete the serving pod of `workload`; the name of its replacement once it serves.
    `--wait` returns when the old pod object is gone, so the pod found after is new."""
    node.kubectl("delete", "pod", node.pod(namespace, workload), "-n", namespace, "--wait=true")
    return node.pod(namespace, workload)


def extensions(node: Node) -> set[str]:
    server = node.pod(INFRA, "postgres")
    out = node.exec(INFRA, server, "psql", "-U", "app", "-d", "app", "-Atc", "select extname from pg_extension")
    return set(out.stdout.split())


def test_init_scripts_ran_in_the_container(node: Node) -> None:
    assert "vector" in extensions(node)
    vector = node.exec(
        INFRA, "postgres-0", "psql", "-U", "app", "-d", "app", "-Atc", "select '[1,2]'::vector <-> '[4,6]'::vector"
    )
    assert vector.stdout.strip() == "5", vector.stdout
    server = node.exec(INFRA, "postgres-0", "psql", "-U", "app", "-d", "app", "-Atc", "show server_version_num")
    assert server.stdout.strip().startswith("17"), server.stdout


def test_a_row_written_through_database_url_survives_the_pod(node: Node) -> None:
    written = psql_as_core(
        node,
        "create table if not exists notes (body text); insert into notes values ('kept'); select count(*) from notes",
    )
    assert written.strip().splitlines()[-1].isdigit(), written
    restart(node, INFRA, "postgres")
    assert "kept" in psql_as_core(node, "select body from notes")


def test_redis_refuses_unauthenticated_commands_and_keeps_keys(node: Node) -> None:
    pod = node.pod(INFRA, "redis")
    anonymous = node.exec(INFRA, pod, "env", "-u", "REDISCLI_AUTH", "redis-cli", "ping", check=False)
    assert "NOAUTH" in anonymous.stdout + anonymous.stderr, anonymous
    assert node.exec(INFRA, pod, "redis-cli", "set", "platform-test", "kept").stdout.strip() == "OK"
    pod = restart(node, INFRA, "redis")
    assert node.exec(INFRA, pod, "redis-cli", "get", "platform-test").stdout.strip() == "kept"


def test_an_extension_added_later_reaches_the_existing_database(node: Node) -> None:
    assert "pg_trgm" not in extensions(node)
    before = serving_pods(node)
    node.pulumi("config", "set", "--path", "platform:postgres.extensions[1]", "pg_trgm")
    node.up()
    server = node.pod(INFRA, "postgres")
    assert {"vector", "pg_trgm"} <= extensions(node)
    # The changed init ConfigMap rolled PostgreSQL, and nothing else.
    after = serving_pods(node)
    rolled = sorted(name for uid, name in before.items() if uid not in after)
    assert rolled == ["postgres-0"], rolled
    script = node.exec(INFRA, server, "cat", "/docker-entrypoint-initdb.d/00-extensions.sql").stdout
    assert "pg_trgm" in script, script


def test_growing_a_volume_the_class_cannot_grow_stops_preview_with_the_way_out(node: Node) -> None:
    # The node's class, like kind's, is local-path-provisioner's: no expansion.
    node.pulumi("config", "set", "--path", "platform:postgres.storage", "20Gi")
    node.pulumi("config", "set", "--path", "platform:redis.storage", "4Gi")
    try:
        preview = make(node.clone, "preview", check=False)
    finally:
        node.pulumi("config", "set", "--path", "platform:postgres.storage", "10Gi")
        node.pulumi("config", "set", "--path", "platform:redis.storage", "2Gi")
    output = preview.stdout + preview.stderr
    assert preview.returncode != 0, output
    assert "platform:postgres.storage: '20Gi' is larger than the 10Gi" in output, output[-4000:]
    assert "--cascade=orphan" in output and "make refresh" in output, output[-4000:]
    assert "platform:redis.storage: '4Gi' is larger than the 2Gi" in output, output[-4000:]
    assert "does not allow expansion" in output, output[-4000:]
    template = json.loads(node.kubectl("get", "statefulset", "postgres", "-n", INFRA, "-o", "json").stdout)
    assert template["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "10Gi"
