#!/usr/bin/env python3
"""A read-only OCI distribution registry over the image layouts build.py writes.

    python3 cluster/images/registry.py serve --listen 127.0.0.1:5000 --layouts DIR...
    python3 cluster/images/registry.py list --layouts DIR...

Each DIR is an image layout, or a directory of layouts (build.py's `--out`). An image
is served under the reference its index.json names (`org.opencontainers.image.ref.name`,
the full upstream reference such as `docker.io/library/redis:7-alpine`).

containerd reaches it as a mirror of every registry (hosts.toml under its registry
`config_path`) and names the registry it stands in for in the query: a pull of
`redis:7-alpine` asks `GET /v2/library/redis/manifests/7-alpine?ns=docker.io`, so
`<ns>/<repository>:<tag>` is the reference looked up. Without `ns` (a pull that names
this registry itself), the repository is matched against each reference with its
registry host removed. Served: `GET /v2/`, `GET|HEAD /v2/<repository>/manifests/<tag
or digest>`, `GET|HEAD /v2/<repository>/blobs/<digest>`; anything else is a 404 (405
for other methods) with the distribution spec's JSON error body. One line per request
goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from ocilayout import CHUNK, ServedImage, blob_path, find_layouts, read_layout

ROUTE = re.compile(r"^/v2/(?P<name>[a-z0-9]+(?:[._/-][a-z0-9]+)*)/(?P<kind>manifests|blobs)/(?P<ref>[^/]+)$")


def split_reference(ref: str) -> tuple[str, str, str]:
    """(registry host, repository, tag) of a full reference `host/path:tag`."""
    name, _, tag = ref.rpartition(":")
    host, _, repository = name.partition("/")
    return host, repository, tag


class Catalog:
    """The references served, from the layouts given. Two layouts naming the same
    reference are an error: which one a node pulls must never be a guess."""

    def __init__(self, layouts: Sequence[Path]) -> None:
        self.images: dict[str, ServedImage] = {}
        for layout in layouts:
            for image in read_layout(layout):
                other = self.images.get(image.ref_name)
                if other is not None and other.layout != layout:
                    raise SystemExit(f"registry: {image.ref_name} is named by both {other.layout} and {layout}")
                self.images[image.ref_name] = image

    def repository(self, ns: str | None, name: str) -> list[ServedImage]:
        """The images of repository `name` as seen from registry `ns`."""
        found = []
        for ref, image in self.images.items():
            host, repository, _ = split_reference(ref)
            if repository == name and (ns is None or host == ns):
                found.append(image)
        return found

    def manifest(self, ns: str | None, name: str, reference: str) -> tuple[ServedImage, Path] | None:
        for image in self.repository(ns, name):
            if reference in (image.manifest.digest, split_reference(image.ref_name)[2]):
                path = image.blob_path(image.manifest.digest)
                if path is not None:
                    return image, path
        return None

    def blob(self, ns: str | None, name: str, digest: str) -> Path | None:
        for image in self.repository(ns, name):
            path = blob_path(image.layout, digest)
            if path is not None:
                return path
        return None


def manifest_media_type(path: Path) -> str:
    return str(json.loads(path.read_bytes()).get("mediaType", "application/vnd.oci.image.manifest.v1+json"))


class Handler(BaseHTTPRequestHandler):
    server_version = "platform-registry/1"
    protocol_version = "HTTP/1.1"
    catalog: Catalog

    def do_GET(self) -> None:
        self._serve(body=True)

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def do_POST(self) -> None:
        self._refuse()

    def do_PUT(self) -> None:
        self._refuse()

    def do_PATCH(self) -> None:
        self._refuse()

    def do_DELETE(self) -> None:
        self._refuse()

    def _refuse(self) -> None:
        # The request body is never read, so the connection cannot carry another request.
        self.close_connection = True
        self._error(405, "UNSUPPORTED", "this registry is read-only")

    def _serve(self, *, body: bool) -> None:
        url = urlsplit(self.path)
        ns = parse_qs(url.query).get("ns", [None])[0]
        if url.path in ("/v2", "/v2/"):
            self._send(200, "application/json", b"{}", body=body)
            return
        match = ROUTE.match(url.path)
        if match is None:
            self._error(404, "NAME_UNKNOWN", f"no route for {url.path}", body=body)
            return
        name, kind, ref = match["name"], match["kind"], match["ref"]
        if kind == "manifests":
            found = self.catalog.manifest(ns, name, ref)
            if found is None:
                where = f"{ns}/{name}" if ns else name
                self._error(404, "MANIFEST_UNKNOWN", f"{where}:{ref} is not served here", body=body)
                return
            manifest = found[1]
            self._send_file(manifest, manifest_media_type(manifest), "sha256:" + manifest.name, body=body)
            return
        blob = self.catalog.blob(ns, name, ref)
        if blob is None:
            self._error(404, "BLOB_UNKNOWN", f"blob {ref} of {name} is not served here", body=body)
            return
        self._send_file(blob, "application/octet-stream", ref, body=body)

    def _send_file(self, path: Path, content_type: str, digest: str, *, body: bool) -> None:
        size = path.stat().st_size
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(size))
        self.send_header("Docker-Content-Digest", digest)
        self.send_header("Docker-Distribution-Api-Version", "registry/2.0")
        self.end_headers()
        if body:
            with path.open("rb") as source:
                while chunk := source.read(CHUNK):
                    self.wfile.write(chunk)

    def _send(self, status: int, content_type: str, data: bytes, *, body: bool = True) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Docker-Distribution-Api-Version", "registry/2.0")
        self.end_headers()
        if body:
            self.wfile.write(data)

    def _error(self, status: int, code: str, message: str, *, body: bool = True) -> None:
        document = {"errors": [{"code": code, "message": message, "detail": {}}]}
        self._send(status, "application/json", json.dumps(document).encode(), body=body)

    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write(f"[registry] {self.client_address[0]} {format % args}\n")


def make_server(listen: str, catalog: Catalog) -> ThreadingHTTPServer:
    host, _, port = listen.rpartition(":")
    handler = type("CatalogHandler", (Handler,), {"catalog": catalog})
    server = ThreadingHTTPServer((host or "127.0.0.1", int(port)), handler)
    server.daemon_threads = True
    return server


def serve_in_thread(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, name="registry", daemon=True)
    thread.start()
    return thread


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve image layouts read-only as an OCI registry.")
    parser.add_argument("command", nargs="?", choices=["serve", "list"], default="serve")
    parser.add_argument("--listen", default="127.0.0.1:5000", help="HOST:PORT (port 0: any free port)")
    parser.add_argument("--layouts", nargs="+", type=Path, required=True, help="layouts, or directories of them")
    parser.add_argument("--index", action="store_true", help="print each served reference and digest, then exit")
    args = parser.parse_args(argv)
    layouts = find_layouts(args.layouts)
    if not layouts:
        parser.error(f"no image layout (a directory with index.json) in {' '.join(map(str, args.layouts))}")
    catalog = Catalog(layouts)
    if args.command == "list" or args.index:
        for ref, image in sorted(catalog.images.items()):
            print(f"{ref} {image.manifest.digest} {image.layout}")
        return 0
    server = make_server(args.listen, catalog)
    host, port = args.listen.rpartition(":")[0] or "127.0.0.1", server.server_address[1]
    print(f"[registry] serving {len(catalog.images)} images on {host}:{port}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
