"""HTTPS on the real node, as docs/operations.md ("HTTPS", kind) sets it up: a
self-signed Secret in every routed namespace and `platform:gateway.tls.secretName`.
Plain HTTP on the published port then redirects to HTTPS, and the certificate the
gateway serves on 443 is the Secret's. Runs after the tests that read the gateway
over plain HTTP (the suite's order in the Makefile)."""

from __future__ import annotations

import http.client
import socket
import ssl
from pathlib import Path

from tests.e2e.gateway_harness import self_signed
from tests.node.conftest import Node

HTTPS_PORT = 443
SECRET = "gateway-cert"


def test_http_redirects_to_https_and_the_gateway_serves_the_secrets_certificate(node: Node, tmp_path: Path) -> None:
    cert, key = self_signed("localhost", tmp_path)
    routed = {i["metadata"]["namespace"] for i in node.objects("ingress")}
    assert {"staging-core", "staging-ai", "staging-web", "staging-infra"} <= routed, routed
    for namespace in sorted(routed):
        node.kubectl("create", "secret", "tls", SECRET, f"--cert={cert}", f"--key={key}", "-n", namespace)
    node.pulumi("config", "set", "--path", "platform:gateway.tls.secretName", SECRET)
    node.up()

    status, headers, _ = node.get("/api")
    assert status == 301 and headers["location"] == "https://localhost/api", (status, headers)

    # The published port on loopback, verified as `localhost` (SNI and certificate name).
    context = ssl.create_default_context(cafile=str(cert))
    with (
        socket.create_connection(("127.0.0.1", HTTPS_PORT), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        served = tls.getpeercert(binary_form=True)
        tls.sendall(b"GET /api HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        response = http.client.HTTPResponse(tls)
        response.begin()
        response.read()
    assert served == ssl.PEM_cert_to_DER_cert(cert.read_text())
    assert response.status == 200
    assert response.getheader("strict-transport-security") == "max-age=31536000; includeSubDomains"
