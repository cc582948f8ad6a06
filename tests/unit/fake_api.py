"""A fake Kubernetes API server for the unit tests: it answers GETs of the objects
it is given by path, keeps connections open (HTTP/1.1) as the real one does, and
records each connection and request, so a test can say what the client sent.
"""

from __future__ import annotations

import base64
import http.server
import json
import ssl
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import yaml

API_VERSIONS = {"kind": "APIVersions"}

# The handler of each server `serve` started, the latest last: where a test asks what
# the server it did not start itself (the `api` fixture's) was sent.
served: list[type[FakeApi]] = []


def kubeconfig(path: Path, context: str, server: str = "https://127.0.0.1:6443", ca: bytes = b"ca-1") -> Path:
    """A kubeconfig at `path` whose only context `context` reaches `server` with a token."""
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "c", "cluster": {"server": server, "certificate-authority-data": base64.b64encode(ca).decode()}}
        ],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": context, "context": {"cluster": "c", "user": "u"}}],
        "current-context": context,
    }
    path.write_text(yaml.safe_dump(document))
    return path


class FakeApi(http.server.BaseHTTPRequestHandler):
    """The handler of one server (`serve` makes a subclass per server, so what one
    records is its own). An unknown path answers 404, as the API server does."""

    protocol_version = "HTTP/1.1"
    url: ClassVar[str]
    objects: ClassVar[dict[str, dict[str, Any]]]
    # One entry per connection, counting its requests.
    connections: ClassVar[list[int]]
    paths: ClassVar[list[str]]
    accepts: ClassVar[list[str]]
    authorizations: ClassVar[list[str]]
    # The Authorization header the server wants; any when None.
    authorization: ClassVar[str | None] = None
    # After this many requests every further one is refused (403); never when None.
    refuse_after: ClassVar[int | None] = None

    def setup(self) -> None:
        super().setup()
        self.connections.append(0)

    def do_GET(self) -> None:
        self.connections[-1] += 1
        self.paths.append(self.path)
        self.accepts.append(self.headers.get("Accept", ""))
        self.authorizations.append(self.headers.get("Authorization", ""))
        item = self.objects.get(self.path)
        status = 200 if item else 404
        if self.authorization is not None and self.headers.get("Authorization") != self.authorization:
            item, status = {"kind": "Status", "code": 401}, 401
        if self.refuse_after is not None and len(self.paths) > self.refuse_after:
            item, status = {"kind": "Status", "code": 403}, 403
        body = json.dumps(item or {"kind": "Status", "code": 404}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def serve(
    objects: Mapping[str, dict[str, Any]] | None = None, tls: ssl.SSLContext | None = None
) -> Iterator[type[FakeApi]]:
    """A server on a free loopback port, over HTTPS with `tls`, that knows `objects`
    (more may be added to the handler's `objects` while it runs); its handler class,
    whose `url` is where it listens."""
    handler: type[FakeApi] = type(
        "Handler",
        (FakeApi,),
        {"objects": dict(objects or {}), "connections": [], "paths": [], "accepts": [], "authorizations": []},
    )
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    handler.url = f"{'https' if tls else 'http'}://127.0.0.1:{httpd.server_port}"
    served.append(handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield handler
    finally:
        httpd.shutdown()
        httpd.server_close()


def resource_list(group_version: str, resources: Sequence[str]) -> dict[str, Any]:
    """What discovery answers for `/apis/<group_version>`: its resources, by plural name."""
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": [
            {"name": name, "singularName": "", "namespaced": True, "kind": name.title(), "verbs": ["get"]}
            for name in resources
        ],
    }
