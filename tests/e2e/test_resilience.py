"""Failure and recovery on a real API server: an interrupted `pulumi up` (SIGINT,
SIGKILL), the API server killed mid-update, drift made with kubectl, two concurrent
updates, protected and retained data on destroy, and invalid config on a running
stack. docs/reliability.md describes each scenario, what was measured and how users
recover; the tests run exactly those recovery steps.

Each test deploys its own stack of the local config (`e2e-res-*`), so they are
independent but share the platform namespaces: one stack is up at a time. After each
test its stack is destroyed and removed, and the namespace that destroy retains
(`staging-infra`, with its claims) is deleted. Figures are printed (`pytest -s`) and
written as JSON to $PLATFORM_RESILIENCE_REPORT when it is set; no test asserts a
duration.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import Callable, Iterator

import pytest
from pulumi import automation as auto

from tests.e2e.conftest import Deployer, kube_json, kubectl
from tests.e2e.resilience_helpers import (
    LOCAL_CONFIG,
    LOCKED,
    Expected,
    KwokCluster,
    StackCli,
    alive,
    api_ready,
    changes,
    claims,
    delete_platform_namespaces,
    existing_namespaces,
    fingerprint,
    kill_pids,
    managed_objects,
    record,
    slowest,
    summary,
    wait_for,
    write_report,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

INTERRUPT_AFTER = 25  # resources created (of 81) before the CLI is signalled
API_DOWNTIME = 3.0  # seconds the API server stays down; short of the controllers' 10 s lease deadline
CONNECTION_ERRORS = (
    "connection refused",
    "connection reset by peer",
    "error reading from server: EOF",
    "cluster is unreachable",
    "client connection lost",
    "unexpected EOF",
    "i/o timeout",
)

POSTGRES = LOCAL_CONFIG["platform:postgres"]
REDIS = LOCAL_CONFIG["platform:redis"]
INFRA = POSTGRES["namespace"]
DATA_CLAIMS = (f"data-{POSTGRES['name']}-0", f"{REDIS['name']}-data")
APPS = {app["name"]: app for app in LOCAL_CONFIG["platform:apps"]}


# --- fixtures --------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def platform_namespaces_free(deployer: Deployer) -> Iterator[None]:
    """Start without the platform namespaces and end without them.

    test_local_stack.py deploys the same namespaces and its destroy retains
    `staging-infra` with the data claims; a live stack there would be adopted and
    then destroyed by these tests, so that stops the module instead.
    """
    wait_for(
        lambda: "Terminating" not in existing_namespaces().values(),
        "terminating platform namespaces to go away",
        timeout=300,
    )
    workloads = sorted(key for key in managed_objects() if key[0] in ("Deployment", "StatefulSet"))
    if workloads:
        pytest.fail(
            f"a stack is deployed in the platform namespaces ({workloads[:3]} ...): destroy it first; "
            "these tests deploy into, break and delete those namespaces",
            pytrace=False,
        )
    leftover = {namespace: sorted(claims(namespace)) for namespace in existing_namespaces()}
    if leftover:
        print(f"[resilience] deleting namespaces retained by an earlier destroy, with their claims: {leftover}")
        delete_platform_namespaces()
    started = time.monotonic()
    yield
    record("module", seconds=round(time.monotonic() - started, 1))
    write_report()
    stacks = deployer.pulumi("stack", "ls", "--json")
    ours = [s for s in json.loads(stacks) if s["name"].startswith("e2e-res-")]
    assert ours == [], f"stacks of this module left behind: {ours}"
    assert existing_namespaces() == {}, "platform namespaces left behind"


def tear_down(cli: StackCli) -> None:
    """Whatever state a test left: processes stopped, cluster healthy, lock and
    pending operations cleared, protection lifted, stack destroyed and removed."""
    for running in cli.running:
        running.stop()
    cluster = KwokCluster.current()
    if cluster is not None:
        cluster.heal()
    wait_for(api_ready, "the API server", timeout=180)
    if cli.lock_files():
        cli.ok("cancel", "--yes")
    if cli.pending():
        cli.ok("refresh", "--yes", "--clear-pending-creates")
    if cli.protected():
        cli.ok("state", "unprotect", "--all", "--yes")
    cli.ok("destroy", "--yes")
    cli.ok("stack", "rm", "--yes")


@pytest.fixture
def make_stack(deployer: Deployer) -> Iterator[Callable[..., StackCli]]:
    """A new stack of the local config (plus `config`), torn down after the test."""
    made: list[StackCli] = []

    def make(name: str, config: dict[str, str] | None = None) -> StackCli:
        stack = deployer.stack(name, "local")
        for key, value in (config or {}).items():
            stack.set_config(key, auto.ConfigValue(value=value))
        cli = StackCli(deployer, name, stack)
        made.append(cli)
        return cli

    yield make
    problems = []
    for cli in made:
        try:
            tear_down(cli)
        except AssertionError as error:
            problems.append(f"{cli.name}: {error}")
    delete_platform_namespaces()
    assert not problems, "teardown failed:\n" + "\n".join(problems)


# --- shared checks ---------------------------------------------------------------------------------------------------


def assert_converged(cli: StackCli, expected: Expected) -> None:
    """State and cluster as after one clean `pulumi up`, and nothing left to do."""
    urns = cli.urns()
    duplicates = sorted({urn for urn in urns if urns.count(urn) > 1})
    assert not duplicates, f"URNs recorded twice in the state: {duplicates}"
    # Providers are compared on neither side: the state lists default providers that
    # a preview never shows, and the preview lists the stack's explicit ones.
    resources = {urn for urn in urns if "::pulumi:providers:" not in urn}
    wanted = {urn for urn in expected.urns if "::pulumi:providers:" not in urn}
    assert resources == wanted, (
        f"state differs from a clean up: missing {sorted(wanted - resources)}, extra {sorted(resources - wanted)}"
    )
    assert not cli.pending(), f"pending operations left: {cli.pending()}"
    objects = set(managed_objects())
    assert objects == expected.objects, (
        f"cluster differs from a clean up: missing {sorted(expected.objects - objects)}, "
        f"extra (duplicates or auto-named) {sorted(objects - expected.objects)}"
    )
    again = cli.ok("up", "--yes")
    assert changes(again.output) == {}, f"the next up still changes things:\n{again.output}"


# --- 1. interrupted `pulumi up` --------------------------------------------------------------------------------------


def test_sigint_finishes_in_flight_work_and_up_converges(make_stack: Callable[..., StackCli]) -> None:
    cli = make_stack("e2e-res-sigint")
    expected = cli.expect()
    up = cli.start("up", "--yes")
    at = up.wait_until(lambda: len(up.progress()[0]) >= INTERRUPT_AFTER, f"{INTERRUPT_AFTER} resources created")
    created_before, in_flight = up.progress()
    signalled = time.monotonic()
    up.signal(signal.SIGINT)
    stopped = up.wait(timeout=600)
    exit_seconds = time.monotonic() - signalled

    assert stopped.returncode != 0, stopped.describe()
    assert "^C received; cancelling" in stopped.output, stopped.describe()
    # The engine starts nothing new; the provider aborts what it was waiting on, so the run
    # ends "canceled" when nothing was in flight and "failed" when an operation was cut short.
    ending = "update canceled" if "update canceled" in stopped.output else "update failed"
    assert ending in stopped.output, stopped.describe()
    assert not cli.lock_files(), "SIGINT left the stack locked"
    assert not cli.pending(), f"SIGINT left pending operations: {cli.pending()}"
    in_state = [urn for urn in cli.urns() if "::pulumi:providers:" not in urn]
    assert len(in_state) < len(expected.urns), "the update finished before the interrupt took effect"
    try:
        plugins_gone: float | None = wait_for(
            lambda: not [p for p, t in up.plugins.items() if alive(p, t)], "plugins", timeout=30
        )
    except AssertionError:
        plugins_gone = None
        kill_pids(up.plugins)

    recovered = cli.ok("up", "--yes")
    assert "pending operations" not in recovered.output, recovered.describe()
    assert_converged(cli, expected)
    record(
        "1a SIGINT",
        signalled_after_seconds=round(at, 1),
        created_before_signal=len(created_before),
        in_flight_at_signal=len(in_flight),
        exit_after_signal_seconds=round(exit_seconds, 2),
        resources_in_state_after_exit=len(in_state),
        expected_resources=len(expected.urns),
        plugins_exited_within_seconds=None if plugins_gone is None else round(plugins_gone, 1),
        ending=ending,
        interrupted_up=summary(stopped.output),
        cancelled_in_flight=any(m in stopped.output for m in ("operation was cancelled", "context canceled")),
        recovery_up=summary(recovered.output),
        recovery_up_seconds=round(recovered.seconds, 1),
    )


def test_sigkill_leaves_lock_and_pending_creates_that_cancel_and_refresh_clear(
    make_stack: Callable[..., StackCli],
) -> None:
    cli = make_stack("e2e-res-sigkill")
    expected = cli.expect()
    up = cli.start("up", "--yes")
    at = up.wait_until(
        lambda: len(up.progress()[0]) >= INTERRUPT_AFTER and bool(up.progress()[1]),
        f"{INTERRUPT_AFTER} resources created and another one in flight",
    )
    created_before, in_flight = up.progress()
    up.signal(signal.SIGKILL)
    killed = up.wait(timeout=60)
    assert killed.returncode == -signal.SIGKILL, killed.describe()

    # The plugins are not in the CLI's process group and outlive it.
    time.sleep(2)
    orphans = {pid: started for pid, started in up.plugins.items() if alive(pid, started)}
    kill_pids(orphans)  # a lost CI runner takes them along; on a workstation they linger for minutes

    locks = cli.lock_files()
    assert len(locks) == 1, f"expected the killed update's lock, found {locks}"
    assert json.loads(locks[0].read_text())["pid"] == up.pid
    pending = cli.pending()
    assert pending, f"no pending operations although {sorted(in_flight)} were in flight"
    assert all(op.startswith("creating ") for op in pending), pending

    # Documented recovery (docs/reliability.md): the lock first ...
    blocked = cli.run("up", "--yes")
    assert blocked.returncode != 0, blocked.describe()
    assert LOCKED in blocked.output and "pulumi cancel" in blocked.output, blocked.describe()
    assert f"(pid {up.pid})" in blocked.output, blocked.describe()
    cancel = cli.ok("cancel", "--yes")
    assert not cli.lock_files(), f"`pulumi cancel` left the lock file:\n{cancel.output}"
    assert cli.pending() == pending, "`pulumi cancel` is expected to touch only the lock"
    # ... then the pending creates, then a normal up.
    refresh = cli.ok("refresh", "--yes", "--clear-pending-creates")
    assert not cli.pending(), f"pending operations after refresh --clear-pending-creates: {cli.pending()}"
    recovered = cli.ok("up", "--yes")
    assert "pending operations" not in recovered.output, recovered.describe()
    assert_converged(cli, expected)
    record(
        "1b SIGKILL",
        killed_after_seconds=round(at, 1),
        created_before_kill=len(created_before),
        in_flight_at_kill=sorted(in_flight),
        orphaned_plugins=len(orphans),
        lock_file=str(locks[0].relative_to(locks[0].parents[5])),
        pending_operations=len(pending),
        blocked_up_message=next(line for line in blocked.output.splitlines() if LOCKED in line).strip(),
        cancel_output=cancel.output.strip(),
        cancel_seconds=round(cancel.seconds, 1),
        refresh_seconds=round(refresh.seconds, 1),
        recovery_up=summary(recovered.output),
        recovery_up_seconds=round(recovered.seconds, 1),
    )


# --- 2. API server killed and restarted during `pulumi up` ----------------------------------------------------------


def test_api_server_restart_during_up(make_stack: Callable[..., StackCli]) -> None:
    cluster = KwokCluster.current()
    if cluster is None:
        pytest.skip("needs the local kwok control plane (cluster/up.sh without kind) to kill its API server")
    cli = make_stack("e2e-res-apiserver")
    expected = cli.expect()
    up = cli.start("up", "--yes")
    up.wait_until(lambda: len(up.progress()[0]) >= INTERRUPT_AFTER, f"{INTERRUPT_AFTER} resources created")
    created_before, in_flight = up.progress()

    with cluster.port_reserved() as reserved:
        killed_at = time.monotonic()
        old_pid = cluster.kill("kube-apiserver")
        time.sleep(API_DOWNTIME)
        refused = kubectl("get", "--raw", "/readyz", check=False)
        assert refused.returncode != 0, "the API server still answers after it was killed"
        start_seconds = cluster.start()
        try:
            wait_for(api_ready, "the restarted API server", timeout=180, interval=0.2)
        except AssertionError as error:
            raise AssertionError(f"{error}; its log:\n{cluster.log_tail('kube-apiserver')}") from None
        ready_at = time.monotonic()
    assert cluster.pid("kube-apiserver") != old_pid

    interrupted = up.wait(timeout=900)
    interrupted_at = time.monotonic()
    dead = cluster.dead()
    cluster.heal()  # controller manager and scheduler: restart them if they lost their lease
    if interrupted.returncode == 0:
        outcome = "retried and succeeded"
        markers: list[str] = []
    else:
        markers = [marker for marker in CONNECTION_ERRORS if marker in interrupted.output]
        assert markers, f"the up failed without naming the lost API server connection:\n{interrupted.output}"
        outcome = "failed"
    assert not cli.lock_files(), "the CLI exited on its own but left its lock"
    pending = cli.pending()
    if pending:
        cli.ok("refresh", "--yes", "--clear-pending-creates")

    recovered = cli.ok("up", "--yes")
    converged_at = time.monotonic()
    assert "errored" not in summary(recovered.output), recovered.describe()
    assert not [line for line in recovered.output.splitlines() if "error:" in line], recovered.describe()
    assert_converged(cli, expected)
    record(
        "2 API server restart",
        killed_after_created=len(created_before),
        in_flight_at_kill=len(in_flight),
        api_down_seconds=round(ready_at - killed_at, 1),
        api_port_reserved=reserved,
        refused_message=refused.stderr.strip(),
        kwokctl_start_seconds=round(start_seconds, 1),
        outcome=outcome,
        error_markers=markers,
        provider_crashed="exited prematurely" in interrupted.output,
        up_ended_after_kill_seconds=round(interrupted_at - killed_at, 1),
        first_error=next((line.strip() for line in interrupted.output.splitlines() if "error:" in line), ""),
        interrupted_up=summary(interrupted.output),
        pending_operations=len(pending),
        recovery_up=summary(recovered.output),
        recovery_up_seconds=round(recovered.seconds, 1),
        recovery_up_slowest=slowest(recovered.output),
        components_restarted_afterwards=dead,
        kill_to_converged_seconds=round(converged_at - killed_at, 1),
        ready_to_converged_seconds=round(converged_at - ready_at, 1),
    )


# --- 3. drift ------------------------------------------------------------------------------------------------------


def test_drift_is_reported_and_reverted(make_stack: Callable[..., StackCli]) -> None:
    cli = make_stack("e2e-res-drift")
    cli.ok("up", "--yes")
    core, web = APPS["core"], APPS["web"]
    configmaps = [key for key in managed_objects() if key[:2] == ("ConfigMap", core["namespace"])]
    assert len(configmaps) == 1, configmaps
    configmap = configmaps[0][2]
    deployment_name = cli.logical_name("Deployment", core["namespace"], core["name"])
    configmap_name = cli.logical_name("ConfigMap", core["namespace"], configmap)
    service_name = cli.logical_name("Service", web["namespace"], web["name"])

    drifted = core["replicas"] + 2
    kubectl("-n", core["namespace"], "scale", f"deployment/{core['name']}", "--replicas", str(drifted))
    kubectl("-n", core["namespace"], "delete", "configmap", configmap)
    kubectl("-n", web["namespace"], "delete", "service", web["name"])

    plain = cli.ok("preview")
    preview = cli.run("preview", "--refresh")
    assert re.search(rf"~\s+kubernetes:apps/v1:Deployment\s+{deployment_name}\s+update", preview.output), (
        preview.describe()
    )
    assert re.search(rf"\+\s+kubernetes:core/v1:ConfigMap\s+{configmap_name}\s+create", preview.output), (
        preview.describe()
    )
    assert re.search(rf"\+\s+kubernetes:core/v1:Service\s+{service_name}\s+create", preview.output), preview.describe()
    refresh = cli.ok("refresh", "--yes")
    assert changes(refresh.output) == {"updated": 1, "deleted": 2}, refresh.describe()

    restored = cli.run("up", "--yes", "--refresh")
    conflict = restored.returncode != 0
    if conflict:
        # `kubectl scale` made kubectl the owner of .spec.replicas; Pulumi's server-side
        # apply does not take a field from another manager unless forced.
        assert "Server-Side Apply field conflict" in restored.output, restored.describe()
        assert ".spec.replicas" in restored.output, restored.describe()
        assert "errored" in summary(restored.output) and "created" not in summary(restored.output)
        restored = cli.ok("up", "--yes", "--refresh", env={"PULUMI_K8S_ENABLE_PATCH_FORCE": "true"})
    deployment = kube_json("deployment", core["name"], "-n", core["namespace"])
    assert deployment["spec"]["replicas"] == core["replicas"]
    assert kubectl("-n", core["namespace"], "get", "configmap", configmap, check=False).returncode == 0
    assert kubectl("-n", web["namespace"], "get", "service", web["name"], check=False).returncode == 0
    clean = cli.run("preview", "--refresh", "--expect-no-changes")
    assert clean.returncode == 0, clean.describe()
    record(
        "3 drift",
        plain_preview=summary(plain.output),
        preview_refresh=summary(preview.output),
        preview_refresh_exit=preview.returncode,
        refresh=summary(refresh.output),
        up_refresh_blocked_by_ssa_conflict=conflict,
        restoring_up=summary(restored.output),
        restoring_up_seconds=round(restored.seconds, 1),
    )


# --- 4. locking ------------------------------------------------------------------------------------------------------


def test_concurrent_up_is_refused_by_the_lock(make_stack: Callable[..., StackCli]) -> None:
    cli = make_stack("e2e-res-lock")
    expected = cli.expect()
    clean = cli.ok("up", "--yes")
    assert summary(clean.output).get("created") == len(expected.urns), clean.describe()

    first = cli.start("up", "--yes")
    first.wait_until(lambda: bool(cli.lock_files()), "the first up to take the stack lock")
    first.signal(signal.SIGSTOP)  # hold it mid-update: the second one surely overlaps it
    try:
        second = cli.run("up", "--yes", timeout=300)
    finally:
        os.kill(first.pid, signal.SIGCONT)
    finished = first.wait()

    assert finished.returncode == 0, finished.describe()
    assert second.returncode != 0, second.describe()
    assert LOCKED in second.output, second.describe()
    assert "pulumi cancel" in second.output and f"(pid {first.pid})" in second.output, second.describe()
    assert "Updating (" not in second.output and "Previewing update" not in second.output, second.describe()
    assert not cli.lock_files()
    assert_converged(cli, expected)
    record(
        "4 locking",
        clean_up=summary(clean.output),
        refused_after_seconds=round(second.seconds, 2),
        message=second.output.strip().splitlines()[0],
    )


# --- 5. data safety --------------------------------------------------------------------------------------------------


def test_protected_data_stops_destroy_until_unprotected(make_stack: Callable[..., StackCli]) -> None:
    cli = make_stack("e2e-res-protect", {"platform:protectData": "true"})
    cli.ok("up", "--yes")
    protected = cli.protected()
    data = {
        cli.logical_name("StatefulSet", INFRA, POSTGRES["name"]),
        cli.logical_name("PersistentVolumeClaim", INFRA, DATA_CLAIMS[1]),
    }
    assert data <= {urn.rsplit("::", 1)[1] for urn in protected}, protected
    before = fingerprint(managed_objects())
    in_state = len(cli.urns())

    refused = cli.run("destroy", "--yes")
    assert refused.returncode != 0, refused.describe()
    assert "because it is protected" in refused.output, refused.describe()
    for urn in protected:
        assert f"pulumi state unprotect '{urn}'" in refused.output, f"{urn} not named:\n{refused.output}"
    assert "Destroying (" not in refused.output, "destroy went past its preview"
    assert len(cli.urns()) == in_state
    assert fingerprint(managed_objects()) == before, "the refused destroy changed cluster objects"

    # Without its preview, destroy deletes everything that is not protected before it
    # fails: the data survives, the workloads and credentials around it do not.
    forced = cli.run("destroy", "--yes", "--skip-preview")
    assert forced.returncode != 0, forced.describe()
    in_state_forced = len(cli.urns())
    assert set(protected) <= set(cli.urns()), "a protected resource left the state"
    left = set(managed_objects())
    assert ("StatefulSet", INFRA, POSTGRES["name"]) in left, sorted(left)
    assert set(DATA_CLAIMS) <= set(claims(INFRA)), claims(INFRA)

    # The documented way to really delete: unprotect, destroy, then the retained namespace.
    cli.ok("state", "unprotect", "--all", "--yes")
    assert cli.protected() == []
    destroyed = cli.ok("destroy", "--yes")
    assert existing_namespaces() == {INFRA: "Active"}
    kept = claims(INFRA)
    assert set(DATA_CLAIMS) <= set(kept), kept
    deleted = delete_platform_namespaces()
    assert claims(INFRA) == {}
    record(
        "5a protectData",
        protected=sorted(urn.rsplit("::", 1)[1] for urn in protected),
        refused_destroy=summary(refused.output),
        refused_after_seconds=round(refused.seconds, 1),
        skip_preview_destroy=summary(forced.output),
        left_after_skip_preview=sorted(f"{kind} {name}" for kind, _, name in left),
        in_state_after_skip_preview=in_state_forced,
        destroy_after_unprotect=summary(destroyed.output),
        retained_claims=sorted(kept),
        deleted_namespaces=deleted,
    )


def test_destroy_keeps_data_volumes_and_up_binds_them_again(make_stack: Callable[..., StackCli]) -> None:
    cli = make_stack("e2e-res-volumes")
    cli.ok("up", "--yes")
    before = claims(INFRA)
    for claim in DATA_CLAIMS:
        assert before[claim]["phase"] == "Bound", before

    destroyed = cli.ok("destroy", "--yes")
    assert existing_namespaces() == {INFRA: "Active"}, existing_namespaces()
    assert not [key for key in managed_objects() if key[0] in ("Deployment", "StatefulSet")]
    kept = claims(INFRA)
    for claim in DATA_CLAIMS:
        assert kept[claim] == before[claim], f"{claim} changed by destroy: {before[claim]} -> {kept.get(claim)}"

    again = cli.ok("up", "--yes")
    after = claims(INFRA)
    for claim in DATA_CLAIMS:
        assert after[claim] == before[claim], f"{claim} not reused: {before[claim]} -> {after.get(claim)}"
    pod = kube_json("pod", f"{POSTGRES['name']}-0", "-n", INFRA)
    mounted = {v["persistentVolumeClaim"]["claimName"] for v in pod["spec"]["volumes"] if "persistentVolumeClaim" in v}
    assert DATA_CLAIMS[0] in mounted, mounted
    redis = kube_json("deployment", REDIS["name"], "-n", INFRA)
    volumes = redis["spec"]["template"]["spec"]["volumes"]
    assert DATA_CLAIMS[1] in {v["persistentVolumeClaim"]["claimName"] for v in volumes if "persistentVolumeClaim" in v}
    assert changes(cli.ok("up", "--yes").output) == {}
    record(
        "5b retained volumes",
        destroy=summary(destroyed.output),
        claims={claim: before[claim]["volumeName"] for claim in DATA_CLAIMS},
        reused_after_up=all(after[c]["volumeName"] == before[c]["volumeName"] for c in DATA_CLAIMS),
        up_again=summary(again.output),
    )


# --- 6. invalid config on a running stack ----------------------------------------------------------------------------


def test_invalid_config_fails_before_any_change(make_stack: Callable[..., StackCli]) -> None:
    cli = make_stack("e2e-res-badconfig")
    cli.ok("up", "--yes")
    before = fingerprint(managed_objects())
    urns = cli.urns()
    history = cli.history()

    cli.stack.set_config("platform:postgres.storage", auto.ConfigValue(value="10Gb"), path=True)
    expected_line = (
        "platform:postgres.storage: '10Gb' is not a Kubernetes quantity; use a number with a suffix such as 10Gi"
    )
    failed = cli.run("up", "--yes")
    assert failed.returncode != 0, failed.describe()
    assert "invalid stack configuration, nothing was changed" in failed.output, failed.describe()
    assert expected_line in failed.output, failed.describe()
    assert "Updating (" not in failed.output, "the update started"
    assert changes(failed.output) == {"errored": 1}, failed.describe()
    assert len(cli.history()) == len(history), "a failed preview recorded an update"

    skipped = cli.run("up", "--yes", "--skip-preview")
    assert skipped.returncode != 0, skipped.describe()
    assert expected_line in skipped.output, skipped.describe()
    latest = cli.history()[0]
    assert latest["result"] == "failed", latest
    assert set(latest.get("resourceChanges") or {}) <= {"same"}, latest

    assert cli.urns() == urns, "the state changed"
    assert fingerprint(managed_objects()) == before, "cluster objects changed"
    claim = kube_json("pvc", DATA_CLAIMS[0], "-n", INFRA)
    assert claim["spec"]["resources"]["requests"]["storage"] == POSTGRES["storage"]

    cli.stack.set_config("platform:postgres.storage", auto.ConfigValue(value=POSTGRES["storage"]), path=True)
    fixed = cli.ok("up", "--yes")
    assert changes(fixed.output) == {}, fixed.describe()
    record(
        "6 invalid config",
        message=expected_line,
        failed_up=summary(failed.output),
        failed_up_seconds=round(failed.seconds, 1),
        skip_preview_history_entry={k: latest.get(k) for k in ("kind", "result", "resourceChanges")},
        objects_compared=len(before),
    )
