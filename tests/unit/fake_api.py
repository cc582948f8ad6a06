"""A fake Kubernetes API server on 127.0.0.1 and a kubeconfig for it: the objects
the program looks up, by path."""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import yaml


def kubeconfig(path: Path, context: str, server: str = "https://127.0.0.1:6443", ca: bytes = b"ca-1") -> Path:
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
    """An API server that knows a few objects by path, and keeps connections open
    (HTTP/1.1) as the real one does. It records each connection and request."""

    protocol_version = "HTTP/1.1"
    last: ClassVar[type[FakeApi]]
    objects: ClassVar[dict[str, dict[str, Any]]] = {}
    connections: ClassVar[list[int]] = []
    accepts: ClassVar[list[str]] = []
    paths: ClassVar[list[str]] = []
    # The Authorization header the server wants; any when None.
    authorization: ClassVar[str | None] = None
    # After this many requests every further one is refused (403); never when None.
    refuse_after: ClassVar[int | None] = None

    def setup(self) -> None:
        super().setup()
        self.connections.append(0)

    def do_GET(self) -> None:
        self.connections[-1] += 1
        self.accepts.append(self.headers.get("Accept", ""))
        self.paths.append(self.path)
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


@contextlib.contextmanager
def serve(tmp_path: Path) -> Iterator[tuple[Path, dict[str, dict[str, Any]]]]:
    """A local fake API server and a kubeconfig (context kind-platform, token) for it."""
    objects: dict[str, dict[str, Any]] = {}
    handler = type("Handler", (FakeApi,), {"objects": objects, "connections": [], "accepts": [], "paths": []})
    FakeApi.last = handler
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    path = kubeconfig(tmp_path / "kubeconfig", "kind-platform", server=f"http://127.0.0.1:{server.server_port}")
    yield path, objects
    server.shutdown()
