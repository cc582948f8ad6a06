"""The one kubeconfig reader (components/kubeconfig.py) reads as client-go does:
paths relative to the kubeconfig's directory, exec credential plugins (v1 and
v1beta1) run and their answers kept until they expire, and what it cannot do
refused with the stack key, the file and the cause."""

from __future__ import annotations

import base64
import datetime
import json
import select
import socket
import socketserver
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import kubeconfig as kc
from components.kubeconfig import ApiClient, Kubeconfig, KubeconfigError
from tests.unit.fake_api import API_VERSIONS, FakeApi, serve
from tests.unit.kubeconfigs import V1, V1BETA1, exec_plugin, exec_user, runs, write_kubeconfig


@pytest.fixture(autouse=True)
def no_cached_answers() -> Iterator[None]:
    """Each test starts without the exec answers earlier tests left in the process."""
    kc._exec_answers.clear()
    yield
    kc._exec_answers.clear()


def context(path: Path, name: str | None = None) -> kc.Context:
    return Kubeconfig.load(str(path), path.parent).context(name)


def in_the_future(seconds: int) -> str:
    moment = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- paths ------------------------------------------------------------------------


def test_relative_paths_are_read_from_the_kubeconfig_directory_not_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, elsewhere = tmp_path / "config", tmp_path / "elsewhere"
    for directory, mark in ((config, "right"), (elsewhere, "wrong")):
        (directory / "pki").mkdir(parents=True)
        for name in ("ca.crt", "client.crt", "client.key", "token"):
            (directory / "pki" / name).write_text(f"{mark}-{name}")
        exec_plugin(directory / "bin" / "login", {"token": f"{mark}-exec"})
    document = {
        "clusters": [{"name": "c", "cluster": {"server": "https://k.test", "certificate-authority": "pki/ca.crt"}}],
        "users": [
            {"name": "certs", "user": {"client-certificate": "pki/client.crt", "client-key": "pki/client.key"}},
            {"name": "file", "user": {"tokenFile": "pki/token", "token": "ignored-for-the-file"}},
            {"name": "exec", "user": exec_user("./bin/login")},
        ],
        "contexts": [{"name": user, "context": {"cluster": "c", "user": user}} for user in ("certs", "file", "exec")],
    }
    (config / "kubeconfig").write_text(yaml.safe_dump(document))
    monkeypatch.chdir(elsewhere)

    kubeconfig = Kubeconfig.load("../config/kubeconfig", elsewhere)
    certs = kubeconfig.context("certs")
    assert certs.certificate_authority() == b"right-ca.crt"
    assert certs.credential().certificate == b"right-client.crt"
    assert certs.credential().key == b"right-client.key"
    assert kubeconfig.context("file").credential().token == "right-token"
    assert kubeconfig.context("exec").credential().token == "right-exec"


def test_the_provider_gets_the_same_files_and_an_unchanged_kubeconfig_without_relative_paths(tmp_path: Path) -> None:
    relative = write_kubeconfig(
        tmp_path / "a" / "kubeconfig",
        "https://k.test",
        exec_user("./login"),
        cluster={"certificate-authority": "ca.crt"},
    )
    document = yaml.safe_load(Kubeconfig.load(str(relative), tmp_path).provider_text())
    assert document["clusters"][0]["cluster"]["certificate-authority"] == str(tmp_path / "a" / "ca.crt")
    assert document["users"][0]["user"]["exec"]["command"] == str(tmp_path / "a" / "login")

    plain = write_kubeconfig(tmp_path / "b" / "kubeconfig", "https://k.test", exec_user("gke-gcloud-auth-plugin"))
    assert Kubeconfig.load(str(plain), tmp_path).provider_text() == plain.read_text()


def test_a_bare_exec_command_is_looked_up_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exec_plugin(tmp_path / "bin" / "cloud-login", {"token": "from-path"})
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    path = write_kubeconfig(tmp_path / "kubeconfig", "https://k.test", exec_user("cloud-login"))
    assert context(path).credential().token == "from-path"


def test_a_missing_context_names_the_key_the_file_and_the_contexts_there(tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path / "kubeconfig", "https://k.test", {"token": "t"}, context="minikube")
    with pytest.raises(KubeconfigError) as raised:
        context(path, "platform-staging")
    message = str(raised.value)
    assert message.startswith(f"kubernetes:kubeconfig: {path}")
    assert "context 'platform-staging'" in message and "minikube" in message


# --- exec credential plugins ------------------------------------------------------


def test_exec_v1_runs_the_command_with_its_args_env_and_exec_info(tmp_path: Path) -> None:
    plugin = exec_plugin(tmp_path / "login", {"token": "v1-token"})
    user = exec_user(
        str(plugin), args=["get-token", "--cluster", "staging"], env=[{"name": "LOGIN_PROFILE", "value": "ci"}]
    )
    path = write_kubeconfig(tmp_path / "kubeconfig", "https://k.test", user)

    assert context(path).credential().token == "v1-token"
    assert (tmp_path / "login.args").read_text().split() == ["get-token", "--cluster", "staging"]
    assert "LOGIN_PROFILE=ci" in (tmp_path / "login.env").read_text().splitlines()
    info = json.loads((tmp_path / "login.info").read_text())
    # Never interactive: the program has no terminal to prompt on.
    assert info == {"apiVersion": V1, "kind": "ExecCredential", "spec": {"interactive": False}}


def test_exec_v1beta1_returns_a_client_certificate_and_gets_the_cluster_when_asked(tmp_path: Path) -> None:
    plugin = exec_plugin(
        tmp_path / "login",
        {"clientCertificateData": "CERT PEM", "clientKeyData": "KEY PEM"},
        api_version=V1BETA1,
    )
    ca = base64.b64encode(b"the CA").decode()
    user = exec_user(str(plugin), V1BETA1, provideClusterInfo=True)
    path = write_kubeconfig(tmp_path / "kubeconfig", "https://k.test", user, cluster={"certificate-authority-data": ca})

    credential = context(path).credential()
    assert (credential.certificate, credential.key, credential.token) == (b"CERT PEM", b"KEY PEM", None)
    info = json.loads((tmp_path / "login.info").read_text())
    assert info["apiVersion"] == V1BETA1
    assert info["spec"]["cluster"] == {"server": "https://k.test", "certificate-authority-data": ca}


def test_an_answer_is_kept_until_it_expires(tmp_path: Path) -> None:
    plugin = exec_plugin(tmp_path / "login", {"token": "t", "expirationTimestamp": in_the_future(3600)})
    path = write_kubeconfig(tmp_path / "kubeconfig", "https://k.test", exec_user(str(plugin)))
    # A second reader in the same run (the guard, then discovery) asks again.
    for _ in range(3):
        assert context(path).credential().token == "t"
    assert runs(plugin) == 1


@pytest.fixture
def server() -> Iterator[type[FakeApi]]:
    with serve({"/api": API_VERSIONS}) as handler:
        yield handler


def test_an_expired_answer_is_fetched_again_before_the_next_request(tmp_path: Path, server: type[FakeApi]) -> None:
    url, handler = server.url, server
    plugin = exec_plugin(tmp_path / "login", token_per_run=True)
    # Expired as soon as it is given: client-go runs the plugin again for each request.
    expired = exec_plugin(tmp_path / "expired", {"token": "old", "expirationTimestamp": "2020-01-01T00:00:00Z"})
    api = ApiClient(context(write_kubeconfig(tmp_path / "kubeconfig", url, exec_user(str(expired)))))
    api.get("/api")
    api.get("/api")
    assert runs(expired) == 2 and handler.authorizations == ["Bearer old", "Bearer old"]

    # A credential the server refuses (401) is fetched anew, once, as client-go does.
    handler.authorizations.clear()
    handler.authorization = "Bearer t2"
    fresh = ApiClient(context(write_kubeconfig(tmp_path / "fresh", url, exec_user(str(plugin)))))
    assert fresh.get("/api") == {"kind": "APIVersions"}
    assert handler.authorizations == ["Bearer t1", "Bearer t2"] and runs(plugin) == 2


def test_a_failing_exec_command_names_the_command_its_output_and_the_stack_key(tmp_path: Path) -> None:
    plugin = exec_plugin(tmp_path / "login", exit_code=3, stderr="ERROR: you are not logged in; run gcloud auth login")
    user = exec_user(str(plugin), args=["--use_application_default_credentials"])
    path = write_kubeconfig(tmp_path / "kubeconfig", "https://k.test", user)
    with pytest.raises(KubeconfigError) as raised:
        context(path).credential()
    message = str(raised.value)
    assert message.startswith(f"kubernetes:kubeconfig: {path}")
    assert f"`{plugin} --use_application_default_credentials`" in message and "exited 3" in message
    assert "ERROR: you are not logged in; run gcloud auth login" in message


def test_a_missing_exec_command_says_so_with_its_install_hint(tmp_path: Path) -> None:
    user = exec_user("gke-gcloud-auth-plugin-not-here", installHint="Install gke-gcloud-auth-plugin with gcloud.")
    path = write_kubeconfig(tmp_path / "kubeconfig", "https://k.test", user)
    with pytest.raises(KubeconfigError, match=r"runs `gke-gcloud-auth-plugin-not-here`.*not installed.*with gcloud"):
        context(path).credential()


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"interactiveMode": "Always"}, "no terminal to prompt on"),
        ({"interactiveMode": None}, "interactiveMode None"),
        ({"apiVersion": "client.authentication.k8s.io/v1alpha1"}, "supported: client.authentication.k8s.io/v1,"),
    ],
    ids=["always-interactive", "v1-without-interactive-mode", "v1alpha1"],
)
def test_exec_settings_client_go_refuses_are_refused(tmp_path: Path, spec: dict[str, Any], expected: str) -> None:
    plugin = exec_plugin(tmp_path / "login", {"token": "t"})
    user = exec_user(str(plugin))
    user["exec"] = {key: value for key, value in (user["exec"] | spec).items() if value is not None}
    path = write_kubeconfig(tmp_path / "kubeconfig", "https://k.test", user)
    with pytest.raises(KubeconfigError, match=expected):
        context(path).credential()
    assert runs(plugin) == 0


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"apiVersion": V1BETA1, "kind": "ExecCredential", "status": {"token": "t"}}, "answered in"),
        ({"apiVersion": V1, "kind": "ExecCredential", "status": {}}, "neither a token nor a client certificate"),
        ({"apiVersion": V1, "kind": "ExecCredential", "status": {"clientKeyData": "k"}}, "without the other"),
    ],
    ids=["other-version", "empty-status", "key-without-certificate"],
)
def test_an_answer_that_is_not_a_credential_is_refused(tmp_path: Path, answer: dict[str, Any], expected: str) -> None:
    plugin = tmp_path / "login"
    plugin.write_text(f"#!/bin/sh\nprintf '%s' '{json.dumps(answer)}'\n")
    plugin.chmod(0o755)
    path = write_kubeconfig(tmp_path / "kubeconfig", "https://k.test", exec_user(str(plugin)))
    with pytest.raises(KubeconfigError, match=expected):
        context(path).credential()


# --- other credentials and the connection -----------------------------------------


def test_basic_auth_and_tokens_are_sent_as_client_go_sends_them(tmp_path: Path, server: type[FakeApi]) -> None:
    url, handler = server.url, server
    basic = write_kubeconfig(tmp_path / "basic", url, {"username": "admin", "password": "s3cret"})
    ApiClient(context(basic)).get("/api")
    token = write_kubeconfig(tmp_path / "token", url, {"token": "abc"})
    ApiClient(context(token)).get("/api")
    assert handler.authorizations == [f"Basic {base64.b64encode(b'admin:s3cret').decode()}", "Bearer abc"]


def test_an_auth_provider_is_refused_with_the_way_out(tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path / "kubeconfig", "https://k.test", {"auth-provider": {"name": "gcp"}})
    with pytest.raises(KubeconfigError, match=r"auth-provider 'gcp'.*exec plugin"):
        context(path).credential()


class ConnectProxy(socketserver.ThreadingTCPServer):
    """An HTTP proxy that only tunnels (CONNECT), and records where to."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        self.targets: list[str] = []
        super().__init__(("127.0.0.1", 0), self.Tunnel)

    class Tunnel(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            request = self.rfile.readline().decode()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            target = request.split()[1]
            assert isinstance(self.server, ConnectProxy)
            self.server.targets.append(target)
            host, port = target.rsplit(":", 1)
            upstream = socket.create_connection((host, int(port)))
            self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self.wfile.flush()
            sockets = [self.connection, upstream]
            while True:
                ready, _, _ = select.select(sockets, [], [], 5)
                if not ready:
                    break
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        upstream.close()
                        return
                    (upstream if sock is self.connection else self.connection).sendall(data)


def test_the_cluster_is_reached_through_its_proxy_url(tmp_path: Path, server: type[FakeApi]) -> None:
    url = server.url
    proxy = ConnectProxy()
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        proxy_url = f"http://127.0.0.1:{proxy.server_address[1]}"
        path = write_kubeconfig(tmp_path / "kubeconfig", url, {"token": "t"}, cluster={"proxy-url": proxy_url})
        assert ApiClient(context(path)).get("/api") == {"kind": "APIVersions"}
        assert proxy.targets == [url.removeprefix("http://")]
    finally:
        proxy.shutdown()
        proxy.server_close()


def test_a_proxy_it_cannot_use_is_refused(tmp_path: Path) -> None:
    path = write_kubeconfig(
        tmp_path / "kubeconfig", "https://k.test", {"token": "t"}, cluster={"proxy-url": "socks5://127.0.0.1:1080"}
    )
    with pytest.raises(KubeconfigError, match=r"proxy-url socks5://127.0.0.1:1080.*only http:// proxies"):
        ApiClient(context(path)).get("/api")


# --- TLS: the cluster's CA, a client certificate from a plugin, tls-server-name ----


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate for the name `api.test` only (not its address), and
    a client certificate, made with openssl."""
    directory = tmp_path_factory.mktemp("pki")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=test-ca",
    )
    for name, extension in (("server", "subjectAltName=DNS:api.test"), ("client", "extendedKeyUsage=clientAuth")):
        openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
            "-subj",
            f"/CN={name}",
        )
        (directory / f"{name}.ext").write_text(extension + "\n")
        openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            f"{name}.crt",
            "-days",
            "2",
            "-extfile",
            f"{name}.ext",
        )
    return directory


@pytest.fixture
def tls_server(pki: Path) -> Iterator[type[FakeApi]]:
    """An HTTPS API server that demands a client certificate signed by the CA."""
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(str(pki / "server.crt"), str(pki / "server.key"))
    tls.load_verify_locations(str(pki / "ca.crt"))
    tls.verify_mode = ssl.CERT_REQUIRED
    with serve({"/api": API_VERSIONS}, tls) as handler:
        yield handler


def test_a_plugin_client_certificate_reaches_a_server_that_demands_one(
    tmp_path: Path, pki: Path, tls_server: type[FakeApi]
) -> None:
    url = tls_server.url
    status = {
        "clientCertificateData": (pki / "client.crt").read_text(),
        "clientKeyData": (pki / "client.key").read_text(),
    }
    plugin = exec_plugin(tmp_path / "login", status)
    (tmp_path / "ca.crt").write_bytes((pki / "ca.crt").read_bytes())
    cluster = {"certificate-authority": "ca.crt", "tls-server-name": "api.test"}
    path = write_kubeconfig(tmp_path / "kubeconfig", url, exec_user(str(plugin)), cluster)
    assert ApiClient(context(path)).get("/api") == {"kind": "APIVersions"}

    # The certificate names api.test, not 127.0.0.1: without tls-server-name the
    # server is not the one the CA vouches for.
    del cluster["tls-server-name"]
    path = write_kubeconfig(tmp_path / "kubeconfig", url, exec_user(str(plugin)), cluster)
    with pytest.raises(ssl.SSLCertVerificationError):
        ApiClient(context(path)).get("/api")

    # insecure-skip-tls-verify: no CA, no name check; the client certificate still goes.
    path = write_kubeconfig(
        tmp_path / "kubeconfig", url, exec_user(str(plugin)), cluster={"insecure-skip-tls-verify": True}
    )
    assert ApiClient(context(path)).get("/api") == {"kind": "APIVersions"}
