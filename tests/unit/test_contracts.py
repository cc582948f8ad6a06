"""Every container of every stack against the contract of its image
(tests/unit/contracts.py, docs/images.md): user, writable paths, ports, environment
variables and probes. Also: a changed ConfigMap or Secret rolls exactly the
workloads that read it.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

import pytest

from components.config.loading import parse_settings
from tests.unit import contracts
from tests.unit.contracts import SECRET_VALUE, Target, handler, violations
from tests.unit.harness import Registration, Run, run_program, stack_config
from tests.unit.snapshots import RENDERS, build

CHECKSUM = "checksum/config"


@cache
def built(name: str) -> Run:
    return build(name)


def _data(run: Run, kind: str, name: str, namespace: str) -> dict[str, Any]:
    found = [r for r in run.of_kind(kind) if r.k8s_name == name and r.namespace == namespace]
    assert found, f"{namespace}/{name}: no such {kind} in the program"
    inputs = found[0].inputs
    return dict(inputs.get("data") or inputs.get("stringData") or {})


def resolved_env(run: Run, namespace: str, container: dict[str, Any]) -> dict[str, str]:
    """The container's environment as the image sees it (Secret values masked)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env |= {k: str(v) for k, v in _data(run, "ConfigMap", source["configMapRef"]["name"], namespace).items()}
        else:
            env |= dict.fromkeys(_data(run, "Secret", source["secretRef"]["name"], namespace), SECRET_VALUE)
    for entry in container.get("env", []):
        if "value" in entry:
            env[entry["name"]] = entry["value"]
        elif "configMapKeyRef" in entry.get("valueFrom", {}):
            ref = entry["valueFrom"]["configMapKeyRef"]
            env[entry["name"]] = str(_data(run, "ConfigMap", ref["name"], namespace)[ref["key"]])
        else:
            env[entry["name"]] = SECRET_VALUE
    return env


def targets(run: Run) -> list[tuple[Registration, Target, dict[str, Any], dict[str, Any]]]:
    out = []
    for workload in run.workloads():
        pod = workload.pod_spec()
        context = pod["securityContext"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        for t in workload.inputs["spec"].get("volumeClaimTemplates", []):
            volumes[t["metadata"]["name"]] = {"persistentVolumeClaim": {}}
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            security = container.get("securityContext", {})
            target = Target(
                container=container,
                env=resolved_env(run, workload.namespace or "", container),
                run_as_user=int(security.get("runAsUser", context["runAsUser"])),
                run_as_group=int(security.get("runAsGroup", context["runAsGroup"])),
            )
            mounts = {m["mountPath"]: m for m in container.get("volumeMounts", [])}
            out.append((workload, target, mounts, volumes))
    return out


def app_images(name: str) -> set[str]:
    stack, overrides, secrets = RENDERS[name]
    settings = parse_settings(stack_config(stack) | overrides | secrets, set(secrets))
    return {app.image for app in settings.apps if app.image}


def app_violations(target: Target) -> list[str]:
    """An app image of the stack's own (no upstream contract): its port and probe path
    come from the stack config, so only the probe rules apply."""
    c = target.container
    live, ready = handler(c["livenessProbe"], target), handler(c["readinessProbe"], target)
    problems = []
    if live[0] != "tcp":
        problems.append(f"liveness {live} may test a dependency; the app contract is a TCP check")
    if live == ready:
        problems.append("liveness and readiness are the same check")
    if "startupProbe" in c and handler(c["startupProbe"], target)[0] != "tcp":
        problems.append("startup may test a dependency")
    return problems


@pytest.mark.parametrize("name", sorted(RENDERS))
def test_every_container_keeps_its_image_contract(name: str) -> None:
    run = built(name)
    apps = app_images(name)
    problems = []
    for workload, target, mounts, volumes in targets(run):
        image = target.container["image"]
        contract = contracts.contract_for(image, target.container.get("command"))
        where = (
            f"{workload.kind} {workload.namespace}/{workload.k8s_name} container {target.container['name']} ({image})"
        )
        if contract is None:
            if image in apps:
                problems += [f"{where}: {p}" for p in app_violations(target)]
            else:
                problems.append(
                    f"{where}: no contract; describe the image in docs/images.md and tests/unit/contracts.py"
                )
            continue
        problems += [f"{where}: {p}" for p in violations(contract, target, mounts, volumes)]
    assert not problems, "\n".join(problems)


def _without_redis_persistence() -> Run:
    config = stack_config("local")
    return run_program({**config, "redis": {**config["redis"], "persistence": "none"}}, stack="local")


@pytest.mark.parametrize("name", [*sorted(RENDERS), "local-without-redis-persistence"])
def test_every_emptydir_is_sized(name: str) -> None:
    run = _without_redis_persistence() if name == "local-without-redis-persistence" else built(name)
    for workload in run.workloads():
        for volume in workload.pod_spec()["volumes"]:
            if "emptyDir" in volume:
                assert volume["emptyDir"].get("sizeLimit"), f"{workload.k8s_name}: {volume['name']} has no sizeLimit"


# --- the contract catches what it should ---------------------------------------------------------------------------


def _authentik(run: Run, role: str) -> tuple[Target, dict[str, Any], dict[str, Any]]:
    for workload, target, mounts, volumes in targets(run):
        if workload.k8s_name == f"authentik-{role}":
            return target, mounts, volumes
    raise AssertionError(f"no authentik-{role}")


def _with(target: Target, **changes: Any) -> Target:
    container = copy.deepcopy(target.container)
    env = dict(target.env)
    for key, value in changes.items():
        if key == "env":
            env = value
        else:
            container[key] = value
    return Target(container, env, target.run_as_user, target.run_as_group)


def test_the_probe_paths_below_the_root_that_authentik_never_serves_under_a_web_path_fail() -> None:
    target, mounts, volumes = _authentik(built("local"), "server")
    assert target.env["AUTHENTIK_WEB__PATH"] == "/auth/"
    live = copy.deepcopy(target.container["livenessProbe"])
    live["httpGet"]["path"] = "/-/health/live/"
    ready = copy.deepcopy(target.container["readinessProbe"])
    ready["httpGet"]["path"] = "/-/health/ready/"
    problems = violations(contracts.AUTHENTIK, _with(target, livenessProbe=live, readinessProbe=ready), mounts, volumes)
    assert any("liveness ('http', '/-/health/live/', 9000)" in p for p in problems), problems
    assert any("readiness ('http', '/-/health/ready/', 9000)" in p for p in problems), problems


@pytest.mark.parametrize("web_path", ["/", "/auth/", "/sso/id/"])
def test_authentik_probes_follow_the_configured_web_path(web_path: str) -> None:
    config = stack_config("local")
    config["authentik"] = {**config["authentik"], "path": web_path}
    # The web app serves `/` on the local stack; one path routes to one service.
    config["apps"][2] = {**config["apps"][2], "path": "/web"}
    run = run_program(config, stack="local")
    for role in ("server", "worker"):
        target, mounts, volumes = _authentik(run, role)
        assert violations(contracts.AUTHENTIK, target, mounts, volumes) == [], role


def test_a_misspelt_authentik_variable_fails() -> None:
    target, mounts, volumes = _authentik(built("local"), "server")
    env = dict(target.env)
    env["AUTHENTIK_POSTGRESQL__HOTS"] = env.pop("AUTHENTIK_POSTGRESQL__HOST")
    problems = violations(contracts.AUTHENTIK, _with(target, env=env), mounts, volumes)
    assert "sets AUTHENTIK_POSTGRESQL__HOTS, which the image does not read" in problems


def test_a_writable_path_without_a_volume_fails() -> None:
    target, mounts, volumes = _authentik(built("local"), "server")
    without_data = {path: mount for path, mount in mounts.items() if path != "/data"}
    problems = violations(contracts.AUTHENTIK, target, without_data, volumes)
    assert "writes /data, but no writable volume is mounted there (read-only root filesystem)" in problems
    without_shm = {path: mount for path, mount in mounts.items() if path != "/dev/shm"}
    assert any("/dev/shm" in p for p in violations(contracts.AUTHENTIK, target, without_shm, volumes))


def test_liveness_that_checks_a_dependency_fails() -> None:
    target, mounts, volumes = _authentik(built("local"), "server")
    problems = violations(
        contracts.AUTHENTIK, _with(target, livenessProbe=target.container["readinessProbe"]), mounts, volumes
    )
    assert any(p.startswith("liveness ('http', '/auth/-/health/ready/'") for p in problems), problems
    assert any(p.startswith("liveness and readiness are the same check") for p in problems), problems


def _postgres(run: Run) -> tuple[Target, dict[str, Any], dict[str, Any]]:
    for workload, target, mounts, volumes in targets(run):
        if workload.kind == "StatefulSet" and workload.k8s_name == "postgres":
            return target, mounts, volumes
    raise AssertionError("no postgres")


def test_a_readiness_check_on_the_socket_passes_during_initdb_and_fails_the_contract() -> None:
    target, mounts, volumes = _postgres(built("local"))
    ready = copy.deepcopy(target.container["readinessProbe"])
    command = ready["exec"]["command"]
    command[command.index("-h") + 1] = "/var/run/postgresql"
    problems = violations(contracts.POSTGRES_SERVER, _with(target, readinessProbe=ready), mounts, volumes)
    assert any(p.startswith("readiness") for p in problems), problems


def test_the_wrong_user_fails_for_an_image_that_needs_its_own() -> None:
    target, mounts, volumes = _authentik(built("local"), "server")
    wrong = Target(target.container, target.env, 999, 999)
    assert "runs as UID 999; the image's user is 1000" in violations(contracts.AUTHENTIK, wrong, mounts, volumes)


def test_a_port_the_image_does_not_listen_on_fails() -> None:
    run = built("local")
    for workload, target, mounts, volumes in targets(run):
        if workload.k8s_name == "core":
            env = {**target.env, "WHOAMI_PORT_NUMBER": "9090"}
            problems = violations(contracts.WHOAMI, _with(target, env=env), mounts, volumes)
            assert "declares ports [8080]; the image listens on [9090]" in problems
            return
    raise AssertionError("no core")


# --- configuration changes roll exactly their readers -----------------------------------------------------------------


def _checksums(run: Run) -> dict[str, str | None]:
    out = {}
    for workload in run.workloads():
        if workload.kind == "CronJob":
            continue
        annotations = workload.inputs["spec"]["template"]["metadata"].get("annotations", {})
        out[f"{workload.namespace}/{workload.k8s_name}"] = annotations.get(CHECKSUM)
    return out


def _changed(before: dict[str, str | None], after: dict[str, str | None]) -> set[str]:
    return {name for name in before if before[name] != after[name]}


def test_every_workload_that_reads_config_carries_a_checksum() -> None:
    missing = {name for name, checksum in _checksums(built("local")).items() if checksum is None}
    # The gateway reads no ConfigMap or Secret; the stand-ins read their own.
    assert missing == {"staging-gateway/gateway"}


def test_a_changed_app_setting_rolls_that_app_only() -> None:
    config = stack_config("local")
    before = _checksums(run_program(config, stack="local"))
    apps = copy.deepcopy(config["apps"])
    apps[0]["env"] = {**apps[0]["env"], "LOG_LEVEL": "debug"}
    after = _checksums(run_program({**config, "apps": apps}, stack="local"))
    assert _changed(before, after) == {"staging-core/core"}


def test_a_new_postgres_extension_rolls_postgres_only() -> None:
    config = stack_config("local")
    before = _checksums(run_program(config, stack="local"))
    postgres = {**config["postgres"], "extensions": ["vector", "pg_trgm"]}
    after = _checksums(run_program({**config, "postgres": postgres}, stack="local"))
    assert _changed(before, after) == {"staging-infra/postgres"}


def test_a_changed_authentik_setting_rolls_server_and_worker_only() -> None:
    config = stack_config("local")
    before = _checksums(run_program(config, stack="local"))
    authentik = {**config["authentik"], "bootstrapEmail": "root@example.org"}
    after = _checksums(run_program({**config, "authentik": authentik}, stack="local"))
    assert _changed(before, after) == {"staging-infra/authentik-server", "staging-infra/authentik-worker"}


def test_postgres_creates_its_extensions_on_every_start() -> None:
    target, _, _ = _postgres(built("local"))
    hook = target.container["lifecycle"]["postStart"]["exec"]["command"]
    assert hook[:2] == ["sh", "-c"]
    script = hook[2]
    # TCP, not the socket: during initdb only the socket-only temporary server runs.
    assert 'pg_isready -q -h 127.0.0.1 -U "$POSTGRES_USER"' in script
    assert "-h /var/run/postgresql" in script and "-f /docker-entrypoint-initdb.d/00-extensions.sql" in script
    assert "PGPASSWORD" not in script
    assert "ON_ERROR_STOP=1" in script
    minikube, _, _ = _postgres_in(built("minikube"), "todo-database")
    minikube_script = minikube.container["lifecycle"]["postStart"]["exec"]["command"][2]
    assert "00-extensions.sql" not in minikube_script  # no extensions configured


def test_postgres_sets_the_role_password_from_the_environment_on_every_start() -> None:
    # The entrypoint reads POSTGRES_PASSWORD only into an empty data directory: a
    # rotated password, or the new one beside a volume `destroy` kept, is set at start.
    for run, name in ((built("local"), "postgres"), (built("minikube"), "todo-database")):
        target, _, _ = _postgres_in(run, name)
        script = target.container["lifecycle"]["postStart"]["exec"]["command"][2]
        assert "\\set password `printenv POSTGRES_PASSWORD`" in script
        assert "PASSWORD :'\\''password'\\''" in script
        assert script.index("ALTER ROLE") < script.index("| psql")


def _postgres_in(run: Run, name: str) -> tuple[Target, dict[str, Any], dict[str, Any]]:
    for workload, target, mounts, volumes in targets(run):
        if workload.kind == "StatefulSet" and workload.k8s_name == name:
            return target, mounts, volumes
    raise AssertionError(name)


def test_contracts_cover_every_image_the_stacks_pin() -> None:
    images = {t.container["image"] for name in RENDERS for _, t, _, _ in targets(built(name))} - {
        image for name in RENDERS for image in app_images(name) if contracts.contract_for(image, None) is None
    }
    uncovered = {image for image in images if contracts.contract_for(image, None) is None}
    assert not uncovered
    # aws-cli: no committed stack names a backupStore; tests/unit/test_backups.py renders one.
    assert {c.name for c in contracts.CONTRACTS} == {
        "postgres",
        "redis",
        "authentik",
        "traefik",
        "whoami",
        "postgres-exporter",
        "redis-exporter",
        "aws-cli",
    }
