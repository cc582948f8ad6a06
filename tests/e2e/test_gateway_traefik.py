"""The real gateway: the official Traefik binary, at the version of the image the
program deploys, runs with the configuration `pulumi up` rendered (see
gateway_harness.py), reads the Ingresses and EndpointSlices of the local stack from
the API server with its own ServiceAccount's token and RBAC, and routes real HTTP
requests on 127.0.0.1. Then the same with TLS configured: plain HTTP is redirected
and HTTPS answers with HSTS and the certificate from the Ingresses' Secret.

The local stack is deployed here and destroyed at the end, with the platform
namespaces, so test_local_stack.py starts from an empty cluster.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi import automation as auto

from tests.e2e.conftest import Deployer, kube_json, kubectl
from tests.e2e.gateway_harness import (
    LOOPBACK,
    Gateway,
    Received,
    peers,
    request,
    run_gateway,
    self_signed,
    stand_in,
    wait_for_route,
)
from tests.e2e.resilience_helpers import delete_platform_namespaces, existing_namespaces, managed_objects, wait_for

pytestmark = pytest.mark.e2e

GATEWAY_NAMESPACE = "staging-gateway"
HOST = "localhost"
CERT_SECRET = "gateway-cert"
# Every route of the local stack: a request path, and the Service that must answer
# it, with the path it must see (the same: the gateway strips nothing).
ROUTES = [
    ("GET", "/", "staging-web", "web"),
    ("GET", "/index.html?lang=en", "staging-web", "web"),
    ("GET", "/api", "staging-core", "core"),
    ("GET", "/api/todos?done=false", "staging-core", "core"),
    ("POST", "/api/todos", "staging-core", "core"),
    ("GET", "/ai/chat", "staging-ai", "ai"),
    ("GET", "/auth/", "staging-infra", "authentik-server"),
    ("GET", "/auth/if/flow/default-authentication-flow/?next=%2F", "staging-infra", "authentik-server"),
    ("GET", "/auth/-/health/live/", "staging-infra", "authentik-server"),
    # A `Prefix` path matches whole path elements (the Ingress spec): a path that only
    # starts with the same letters belongs to the route of `/`.
    ("GET", "/api/", "staging-core", "core"),
    ("GET", "/api/x", "staging-core", "core"),
    ("GET", "/apidocs", "staging-web", "web"),
    ("GET", "/authors", "staging-web", "web"),
    ("GET", "/aix", "staging-web", "web"),
]


@pytest.fixture(scope="module")
def stack(deployer: Deployer) -> Iterator[auto.Stack]:
    wait_for(lambda: "Terminating" not in existing_namespaces().values(), "terminating platform namespaces", 300)
    if any(kind in ("Deployment", "StatefulSet") for kind, *_ in managed_objects()):
        pytest.fail("a stack is deployed in the platform namespaces: destroy it first", pytrace=False)
    delete_platform_namespaces()
    stack = deployer.stack("e2e-gateway", "local")
    stack.up(on_output=print, color="never")
    yield stack
    stack.destroy(color="never")
    stack.workspace.remove_stack("e2e-gateway")
    delete_platform_namespaces()


def _endpoints(namespace: str, service: str) -> set[tuple[str, int]]:
    """(pod address, port) of the Service's ready pods, from its EndpointSlices."""
    slices = kube_json("endpointslices", "-n", namespace, "-l", f"kubernetes.io/service-name={service}")["items"]
    found = set()
    for item in slices:
        ports = [p["port"] for p in item.get("ports") or [] if p.get("name") == "http"]
        for endpoint in item.get("endpoints") or []:
            if endpoint.get("conditions", {}).get("ready", True):
                found |= {(address, port) for address in endpoint["addresses"] for port in ports}
    return found


def _answer(body: bytes) -> Received:
    return Received(**json.loads(body))


@pytest.fixture(scope="module")
def plain(stack: auto.Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    work = tmp_path_factory.mktemp("traefik-http")
    with stand_in() as (proxy_port, received), run_gateway(GATEWAY_NAMESPACE, "gateway", work, proxy_port) as gateway:
        gateway.received = received
        wait_for_route(gateway, gateway.ports["web"], "/api", HOST)
        yield gateway


def test_traefik_runs_the_rendered_arguments(plain: Gateway) -> None:
    rendered = kube_json("deployment", "gateway", "-n", GATEWAY_NAMESPACE)["spec"]["template"]["spec"]
    args = rendered["containers"][0]["args"]
    changed = [a for a in plain.args if a not in args]
    assert all(a.startswith(("--entryPoints.", "--providers.kubernetesingress.")) for a in changed), changed
    assert len(plain.args) == len(args) + 3


@pytest.mark.parametrize(("method", "path", "namespace", "service"), ROUTES)
def test_route_reaches_its_backend_with_the_path_unchanged(
    plain: Gateway, method: str, path: str, namespace: str, service: str
) -> None:
    status, _, body = request(plain.ports["web"], method, path, host=HOST, body="{}" if method == "POST" else None)
    assert status == 200, body
    seen = _answer(body)
    assert (seen.pod_address, seen.pod_port) in _endpoints(namespace, service), (seen, service)
    assert seen.method == method
    assert seen.path == path
    if method == "POST":
        assert seen.body == "{}"


def test_forwarded_headers_are_what_authentik_trusts(plain: Gateway) -> None:
    status, _, body = request(plain.ports["web"], "GET", "/auth/if/admin/", host=HOST)
    assert status == 200
    headers = _answer(body).headers
    assert headers["Host"] == HOST
    assert headers["X-Forwarded-Host"] == HOST
    assert headers["X-Forwarded-Proto"] == "http"
    assert headers["X-Forwarded-For"] == "127.0.0.1"
    assert headers["X-Real-Ip"] == "127.0.0.1"


def test_an_unknown_host_is_not_routed(plain: Gateway) -> None:
    status, _, _ = request(plain.ports["web"], "GET", "/api", host="elsewhere.example")
    assert status == 404


def test_gateway_reads_only_what_its_rbac_allows(plain: Gateway) -> None:
    account = f"system:serviceaccount:{GATEWAY_NAMESPACE}:gateway"
    for namespace in ("staging-web", "staging-core", "staging-ai", "staging-infra", GATEWAY_NAMESPACE):
        assert kubectl("auth", "can-i", "list", "secrets", "-n", namespace, f"--as={account}").stdout.strip() == "yes"
    for namespace in ("kube-system", "default"):
        denied = kubectl("auth", "can-i", "list", "secrets", "-n", namespace, f"--as={account}", check=False)
        assert denied.stdout.strip() == "no", namespace
    assert kubectl("auth", "can-i", "list", "secrets", "-A", f"--as={account}", check=False).stdout.strip() == "no"
    log = plain.text().lower()
    assert "forbidden" not in log, plain.text()


def test_traefik_connects_to_loopback_only(plain: Gateway) -> None:
    # After every route was served: the API server's watch and the kept-alive
    # backend connections are open, and all of them end on 127.0.0.1.
    assert plain.received
    assert peers(plain.process.pid) == {LOOPBACK}


# --- with TLS ---------------------------------------------------------------------------------------------------------


def _routed_namespaces() -> list[str]:
    return sorted({item["metadata"]["namespace"] for item in kube_json("ingress", "-A")["items"]})


@pytest.fixture(scope="module")
def tls(
    stack: auto.Stack, deployer: Deployer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Gateway, ssl.SSLContext]]:
    work = tmp_path_factory.mktemp("traefik-https")
    cert, key = self_signed(HOST, work)
    for namespace in _routed_namespaces():
        kubectl("create", "secret", "tls", CERT_SECRET, f"--cert={cert}", f"--key={key}", "-n", namespace)
    stack_file = deployer.work_dir / "Pulumi.e2e-gateway.yaml"
    settings: dict[str, Any] = yaml.safe_load(stack_file.read_text())
    settings["config"]["platform:gateway"]["tls"] = {"secretName": CERT_SECRET}
    stack_file.write_text(yaml.safe_dump(settings))
    stack.up(on_output=print, color="never")
    trust = ssl.create_default_context(cafile=str(cert))
    with stand_in() as (proxy_port, received), run_gateway(GATEWAY_NAMESPACE, "gateway", work, proxy_port) as gateway:
        gateway.received = received
        wait_for_route(gateway, gateway.ports["websecure"], "/api", HOST, tls=trust)
        yield gateway, trust


def test_tls_plain_http_is_redirected_to_https(tls: tuple[Gateway, ssl.SSLContext]) -> None:
    gateway, _ = tls
    for _, path, _, _ in ROUTES:
        status, headers, _ = request(gateway.ports["web"], "GET", path, host=HOST)
        assert status in (301, 308), (path, status)
        assert headers["location"] == f"https://{HOST}{path}"
    assert not [r for r in gateway.received if r.headers.get("X-Forwarded-Proto") == "http"]


@pytest.mark.parametrize(("method", "path", "namespace", "service"), ROUTES)
def test_tls_https_routes_with_hsts(
    tls: tuple[Gateway, ssl.SSLContext], method: str, path: str, namespace: str, service: str
) -> None:
    gateway, trust = tls
    status, headers, body = request(
        gateway.ports["websecure"], method, path, host=HOST, tls=trust, body="{}" if method == "POST" else None
    )
    assert status == 200, body
    assert headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    seen = _answer(body)
    assert (seen.pod_address, seen.pod_port) in _endpoints(namespace, service), (seen, service)
    assert seen.path == path
    assert seen.headers["X-Forwarded-Proto"] == "https"
    assert seen.headers["X-Forwarded-Host"] == HOST


def test_tls_serves_the_certificate_of_the_ingress_secret(tls: tuple[Gateway, ssl.SSLContext]) -> None:
    # The context trusts only the test's self-signed certificate: Traefik read it
    # from the Secret with its ServiceAccount's Role (its default certificate
    # would fail verification).
    gateway, trust = tls
    status, _, _ = request(gateway.ports["websecure"], "GET", "/", host=HOST, tls=trust)
    assert status == 200
    assert "forbidden" not in gateway.text().lower(), gateway.text()
    assert peers(gateway.process.pid) == {LOOPBACK}


def test_tls_rendered_files_are_the_ones_traefik_loaded(tls: tuple[Gateway, ssl.SSLContext]) -> None:
    gateway, _ = tls
    directory = next(a.split("=", 1)[1] for a in gateway.args if a.startswith("--providers.file.directory="))
    assert [p.name for p in Path(directory).iterdir()] == ["hsts.yaml"]
