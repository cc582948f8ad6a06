"""Rollouts on the real node: a changed Secret rolls exactly the workloads that read
it, and the new value is the one inside the containers; a rotated Redis password
is the server's on the next `up` and the old one stops working."""

from __future__ import annotations

import time

from tests.node.conftest import Node, serving_pods, stack_config


def test_rotating_the_redis_password_rolls_redis_and_its_readers_only(node: Node) -> None:
    old_password = node.exec(
        "staging-infra", node.pod("staging-infra", "redis"), "printenv", "REDISCLI_AUTH"
    ).stdout.strip()
    before = serving_pods(node)
    node.pulumi("config", "set", "--path", "platform:redis.rotation", "1")
    node.pulumi("up", "--yes", "--skip-preview", "--parallel", "64")
    after = serving_pods(node)
    rolled = sorted({name.rsplit("-", 2)[0] for uid, name in before.items() if uid not in after})
    assert rolled == ["core", "redis"], rolled

    pod = node.pod("staging-infra", "redis")
    new_password = node.exec("staging-infra", pod, "printenv", "REDISCLI_AUTH").stdout.strip()
    assert new_password and new_password != old_password
    assert node.exec("staging-infra", pod, "redis-cli", "ping").stdout.strip() == "PONG"
    with_old = node.exec("staging-infra", pod, "env", f"REDISCLI_AUTH={old_password}", "redis-cli", "ping", check=False)
    assert "WRONGPASS" in with_old.stdout + with_old.stderr, with_old


def test_a_changed_config_value_rolls_only_its_reader_and_is_seen_inside(node: Node) -> None:
    apps = [a["name"] for a in stack_config(node)["platform:apps"]]
    before = serving_pods(node)
    node.pulumi("config", "set", "--path", f"platform:apps[{apps.index('web')}].env.GREETING", "hello-from-config")
    node.pulumi("up", "--yes", "--skip-preview", "--parallel", "64")
    after = serving_pods(node)
    rolled = sorted({name.rsplit("-", 2)[0] for uid, name in before.items() if uid not in after})
    assert rolled == ["web"], rolled
    # whoami prints its environment with ?env=true: the value inside the new container.
    # The gateway learns of the new pod within its provider's throttle (2 s by default).
    deadline = time.monotonic() + 15
    while "GREETING=hello-from-config" not in (body := node.get("/?env=true")[2]):
        assert time.monotonic() < deadline, body
        time.sleep(1)
