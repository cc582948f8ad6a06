"""Each stack names its cluster; the program refuses any other before registering anything."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import kubeconfig as kubeconfig_module
from components.cluster import ClusterConfig, api_path, resolve
from components.config.loading import ConfigError
from tests.unit.fake_api import kubeconfig, served
from tests.unit.harness import ROOT, cluster_config, run_program, stack_config
from tests.unit.kubeconfigs import exec_plugin, exec_user, runs, write_kubeconfig


def stack_file(stack: str) -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"])


@pytest.mark.parametrize("stack", ["local", "minikube", "staging"])
def test_every_stack_file_names_its_cluster_in_strict_mode(stack: str) -> None:
    config = stack_file(stack)
    assert config.get("kubernetes:kubeconfig"), "the stack names no kubeconfig"
    assert config.get("kubernetes:context"), "the stack names no context"
    assert config.get("kubernetes:strictMode") == "true"


def test_only_the_disposable_local_cluster_forgets_unreachable_objects() -> None:
    assert stack_file("local")["kubernetes:deleteUnreachable"] == "true"
    assert "kubernetes:deleteUnreachable" not in stack_file("minikube")
    assert "kubernetes:deleteUnreachable" not in stack_file("staging")


def test_the_local_stack_names_the_context_make_cluster_writes() -> None:
    script = (ROOT / "cluster" / "up.sh").read_text()
    assert stack_file("local")["kubernetes:context"] == "kind-platform"
    assert "CONTEXT=${PLATFORM_CLUSTER_CONTEXT:-kind-platform}" in script
    assert stack_file("local")["kubernetes:kubeconfig"] == ".state/kubeconfig"


def test_a_kubeconfig_without_the_named_context_is_refused(tmp_path: Path) -> None:
    path = kubeconfig(tmp_path / "kubeconfig", "minikube")
    with pytest.raises(ConfigError) as raised:
        resolve(ClusterConfig(context="kind-platform", kubeconfig=str(path)), tmp_path)
    message = str(raised.value)
    assert "kind-platform" in message and "minikube" in message and "nothing was changed" in message


def test_a_missing_kubeconfig_names_the_key_and_make_cluster(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"kubernetes:kubeconfig: .*does not exist.*make cluster"):
        resolve(ClusterConfig(context="kind-platform", kubeconfig=".state/kubeconfig"), tmp_path)


def test_a_stack_without_context_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="kubernetes:context is not set"):
        resolve(ClusterConfig(context=None, kubeconfig="x"), tmp_path)


def test_relative_kubeconfig_is_read_from_the_project_directory(tmp_path: Path) -> None:
    (tmp_path / ".state").mkdir()
    kubeconfig(tmp_path / ".state" / "kubeconfig", "kind-platform")
    cluster = resolve(ClusterConfig(context="kind-platform", kubeconfig=".state/kubeconfig"), tmp_path)
    assert cluster.context == "kind-platform" and cluster.server == "https://127.0.0.1:6443"


def test_a_new_cluster_behind_the_same_context_is_a_new_identity(tmp_path: Path) -> None:
    def identity(server: str, ca: bytes) -> str:
        path = kubeconfig(tmp_path / "kubeconfig", "kind-platform", server, ca)
        return resolve(ClusterConfig(context="kind-platform", kubeconfig=str(path)), tmp_path).identity

    first = identity("https://127.0.0.1:6443", b"ca-1")
    assert identity("https://127.0.0.1:6443", b"ca-1") == first
    assert identity("https://127.0.0.1:6443", b"ca-2") != first  # recreated: new CA
    assert identity("https://127.0.0.1:7443", b"ca-1") != first  # another API server


def test_the_program_refuses_before_registering_anything(tmp_path: Path) -> None:
    path = kubeconfig(tmp_path / "kubeconfig", "kwok-somebody-else")
    cluster = cluster_config("local") | {"kubernetes:kubeconfig": str(path)}
    with pytest.raises(ConfigError, match="kind-platform"):
        run = run_program(stack_config("local"), stack="local", cluster=cluster)
        pytest.fail(f"no error; registered {len(run.registrations)} resources")
    from tests.unit.harness import last_run

    assert last_run().registrations == []


@pytest.mark.parametrize("stack", ["local", "minikube", "staging"])
def test_every_kubernetes_object_goes_to_the_stack_provider(stack: str) -> None:
    secrets = {"openaiApiKey": "sk-test"} if stack == "minikube" else {}
    run = run_program(stack_config(stack), secrets=secrets, stack=stack)
    providers = [r for r in run.registrations if r.type == "pulumi:providers:kubernetes"]
    assert [p.name for p in providers] == ["cluster"]
    provider = providers[0]
    # Server-side apply: what an interrupted up created, and what destroy kept, is
    # taken back; what someone else made is refused by the lookup before the provider
    # sees it.
    assert provider.inputs["enableServerSideApply"] in (True, "true")
    context = stack_file(stack)["kubernetes:context"]
    assert provider.inputs["clusterIdentifier"].startswith(context + "@")
    assert provider.inputs["context"] == context
    objects = [r for r in run.registrations if r.type.startswith("kubernetes:")]
    assert any(r.retain_on_delete for r in objects)
    for r in objects:
        assert "::cluster::" in r.provider, f"{r.urn} uses provider {r.provider!r}"


# --- objects that exist already ---------------------------------------------------


def managed_by(*managers: str) -> dict[str, Any]:
    return {"metadata": {"managedFields": [{"manager": m} for m in managers]}}


def test_api_paths_of_core_group_namespaced_and_cluster_scoped_kinds() -> None:
    assert api_path("kubernetes:core/v1:Namespace", None, "a") == "/api/v1/namespaces/a"
    assert api_path("kubernetes:core/v1:Secret", "ns", "s") == "/api/v1/namespaces/ns/secrets/s"
    assert api_path("kubernetes:networking.k8s.io/v1:NetworkPolicy", "ns", "p") == (
        "/apis/networking.k8s.io/v1/namespaces/ns/networkpolicies/p"
    )
    assert api_path("kubernetes:networking.k8s.io/v1:IngressClass", None, "traefik") == (
        "/apis/networking.k8s.io/v1/ingressclasses/traefik"
    )
    assert api_path("kubernetes:networking.k8s.io/v1:Ingress", "ns", "i") == (
        "/apis/networking.k8s.io/v1/namespaces/ns/ingresses/i"
    )


def test_an_object_made_outside_the_stack_stops_the_program_with_kind_name_and_import(
    api: tuple[Path, dict[str, dict[str, Any]]],
) -> None:
    path, objects = api
    objects["/apis/networking.k8s.io/v1/ingressclasses/traefik"] = managed_by("k3s")
    cluster = cluster_config("local") | {"kubernetes:kubeconfig": str(path)}
    with pytest.raises(ConfigError) as raised:
        run_program(stack_config("local"), stack="local", cluster=cluster)
    message = str(raised.value)
    assert "IngressClass traefik already exists" in message and "not created by this stack" in message
    assert "pulumi import kubernetes:networking.k8s.io/v1:IngressClass" in message
    from tests.unit.harness import last_run

    assert not [r for r in last_run().registrations if r.k8s_name == "traefik" and r.kind == "IngressClass"]


def test_objects_the_provider_made_and_absent_ones_pass(api: tuple[Path, dict[str, dict[str, Any]]]) -> None:
    path, objects = api
    objects["/apis/networking.k8s.io/v1/ingressclasses/traefik"] = managed_by("pulumi-kubernetes")
    objects["/api/v1/namespaces/staging-web"] = managed_by("kube-controller-manager", "pulumi-kubernetes")
    # Made by this stack before, with server-side apply (its field manager has a suffix).
    objects["/api/v1/namespaces/staging-core"] = managed_by("pulumi-kubernetes-7f3a9c2e")
    # Retained objects are not checked: server-side apply takes them back after a destroy.
    objects["/api/v1/namespaces/staging-infra"] = managed_by("pulumi-kubernetes-abc123")
    cluster = cluster_config("local") | {"kubernetes:kubeconfig": str(path)}
    run = run_program(stack_config("local"), stack="local", cluster=cluster)
    assert run.one("IngressClass", "traefik")


def test_every_lookup_of_a_program_run_shares_one_connection_and_reads_metadata_only(
    api: tuple[Path, dict[str, dict[str, Any]]],
) -> None:
    path, objects = api
    objects["/api/v1/namespaces/staging-web"] = managed_by("pulumi-kubernetes-7f3a9c2e")
    cluster = cluster_config("local") | {"kubernetes:kubeconfig": str(path)}
    run = run_program(stack_config("local"), stack="local", cluster=cluster)
    checked = [r for r in run.registrations if r.type.startswith("kubernetes:") and not r.retain_on_delete]
    # Every volume the stack file sizes (the local stack's StatefulSets and claims).
    sized = [r for r in run.registrations if r.kind in ("StatefulSet", "PersistentVolumeClaim")]
    handler = served[-1]
    # First the API itself (can the cluster be read at all?), then the live sized
    # volumes (components/storage_changes.py), then one GET an object.
    assert handler.paths[0] == "/api"
    assert sum(handler.connections) == 1 + len(sized) + len([r for r in checked if r.k8s_name]), handler.connections
    # A new TLS connection per object cost a handshake each; a stack has hundreds.
    assert len(handler.connections) == 1, f"{len(handler.connections)} connections for {sum(handler.connections)} GETs"
    # Secrets are looked up too: their data must not reach the program.
    assert set(handler.accepts[1 + len(sized) :]) == {
        "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1, application/json"
    }


# --- kubeconfigs whose user logs in through a command (the clouds) ----------------


def exec_cluster(api: tuple[Path, dict[str, dict[str, Any]]], plugin: Path) -> dict[str, str]:
    """The local stack's cluster keys for the fake API server, its user running `plugin`."""
    path, _ = api
    server = yaml.safe_load(path.read_text())["clusters"][0]["cluster"]["server"]
    write_kubeconfig(path, server, exec_user(str(plugin)))
    return cluster_config("local") | {"kubernetes:kubeconfig": str(path)}


@pytest.fixture(autouse=True)
def no_cached_answers() -> Iterator[None]:
    kubeconfig_module._exec_answers.clear()
    yield
    kubeconfig_module._exec_answers.clear()


def test_an_exec_credential_kubeconfig_refuses_an_object_made_outside_the_stack(
    api: tuple[Path, dict[str, dict[str, Any]]], tmp_path: Path
) -> None:
    _, objects = api
    objects["/api/v1/namespaces/staging-web"] = managed_by("kubectl-create")
    served[-1].authorization = "Bearer from-the-cloud-login"
    plugin = exec_plugin(tmp_path / "login", {"token": "from-the-cloud-login"})
    with pytest.raises(ConfigError) as raised:
        run_program(stack_config("local"), stack="local", cluster=exec_cluster(api, plugin))
    assert "Namespace staging-web already exists in the cluster and was not created by this stack" in str(raised.value)
    # One login for the whole run, however many objects are looked up.
    assert runs(plugin) == 1


def test_a_failing_login_command_stops_the_program_with_the_command_the_key_and_the_way_out(
    api: tuple[Path, dict[str, dict[str, Any]]], tmp_path: Path
) -> None:
    plugin = exec_plugin(tmp_path / "login", exit_code=1, stderr="ERROR: Reauthentication required.")
    with pytest.raises(ConfigError) as raised:
        run_program(stack_config("local"), stack="local", cluster=exec_cluster(api, plugin))
    message = str(raised.value)
    assert message.startswith("kubernetes:kubeconfig: "), message
    assert f"runs `{plugin}` for its credentials, which exited 1: ERROR: Reauthentication required." in message
    assert "Nothing was changed" in message
    assert "`pulumi config set platform:ownershipCheck false --stack local`" in message
    from tests.unit.harness import last_run

    assert last_run().registrations == []


def test_a_server_that_does_not_answer_stops_the_program(tmp_path: Path) -> None:
    # Nothing listens on port 1 of the loopback address.
    path = kubeconfig(tmp_path / "kubeconfig", "kind-platform", server="http://127.0.0.1:1")
    with pytest.raises(ConfigError) as raised:
        run_program(
            stack_config("local"), stack="local", cluster=cluster_config("local") | {"kubernetes:kubeconfig": str(path)}
        )
    message = str(raised.value)
    assert "context 'kind-platform' (http://127.0.0.1:1) cannot be read" in message
    assert "Connection refused" in message and "platform:ownershipCheck false" in message


def test_credentials_the_server_refuses_stop_the_program(api: tuple[Path, dict[str, dict[str, Any]]]) -> None:
    path, _ = api
    served[-1].authorization = "Bearer another-token"
    with pytest.raises(ConfigError, match=r"cannot be read: GET .*/api: HTTP 401"):
        run_program(
            stack_config("local"), stack="local", cluster=cluster_config("local") | {"kubernetes:kubeconfig": str(path)}
        )


def test_a_lookup_that_fails_midway_stops_the_program(api: tuple[Path, dict[str, dict[str, Any]]]) -> None:
    path, objects = api
    # The server answers the first request (the API), then refuses every lookup.
    objects["/api"] = {"kind": "APIVersions"}
    served[-1].authorization = None
    served[-1].refuse_after = 1
    with pytest.raises(ConfigError, match=r"cannot be read: GET .*: HTTP 403"):
        run_program(
            stack_config("local"), stack="local", cluster=cluster_config("local") | {"kubernetes:kubeconfig": str(path)}
        )


def test_with_the_check_off_nothing_is_looked_up_and_a_warning_says_so(
    api: tuple[Path, dict[str, dict[str, Any]]], caplog: pytest.LogCaptureFixture
) -> None:
    path, objects = api
    objects["/api/v1/namespaces/staging-web"] = managed_by("kubectl-create")
    cluster = cluster_config("local") | {"kubernetes:kubeconfig": str(path)}
    run = run_program(stack_config("local") | {"ownershipCheck": False}, stack="local", cluster=cluster)
    assert run.one("Namespace", "staging-web")
    assert served[-1].paths == []
    assert any("platform:ownershipCheck is false" in record.getMessage() for record in caplog.records)
