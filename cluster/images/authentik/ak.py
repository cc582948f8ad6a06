#!/usr/bin/python3
"""`ak` of the Authentik STAND-IN image (ghcr.io/goauthentik/server:2026.8.6 built here).

The real Authentik is not to be had on this machine. This program implements only the
contract docs/images.md writes down for the image, so that a pod spec that works
with this stand-in wires Authentik the way the real one needs:

- `ak server`: HTTP on AUTHENTIK_LISTEN__HTTP (`0.0.0.0:9000`), HTTPS on
  AUTHENTIK_LISTEN__HTTPS (`0.0.0.0:9443`, a self-signed certificate made at start, as
  Authentik serves one until a brand has its own), metrics on AUTHENTIK_LISTEN__METRICS
  (`0.0.0.0:9300`), and `$TMPDIR/authentik.sock`. Everything lives under
  AUTHENTIK_WEB__PATH: `<path>-/health/live/` answers while the process runs,
  `<path>-/health/ready/` only while a PostgreSQL connection made from exactly the
  AUTHENTIK_POSTGRESQL__* variables answers `SELECT 1` (checked every few seconds),
  every other page below the path is a page that says it is a stand-in; `/` redirects
  to the path.
- `ak worker`: connects to the same database in a loop (logging each change) and
  serves `/-/health/live/` on `$TMPDIR/authentik.sock`.
- `ak healthcheck`: reads the mode file `$TMPDIR/authentik-mode` and asks the live
  endpoint of that mode over the socket, as upstream's `authentik healthcheck` does.

Both modes refuse to start without AUTHENTIK_SECRET_KEY, as Authentik does. Values
may be given as `env://NAME` or `file:///path`, Authentik's indirections.
"""

from __future__ import annotations

import html
import http.client
import http.server
import json
import os
import signal
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

STANDIN = "Authentik stand-in: implements only the documented contract of ghcr.io/goauthentik/server:2026.8.6"
SOCKET_NAME = "authentik.sock"
CHECK_SECONDS = 5.0


def log(event: str, level: str = "info", **fields: Any) -> None:
    """One JSON line per event on stderr, as Authentik logs."""
    record = {"event": event, "level": level, "logger": "authentik.standin", **fields}
    print(json.dumps(record), file=sys.stderr, flush=True)


def tmpdir() -> Path:
    return Path(os.environ.get("TMPDIR") or "/tmp")


def setting(key: str, default: str = "") -> str:
    """AUTHENTIK_<KEY>, following `env://` and `file://` as Authentik's config does."""
    value = os.environ.get(f"AUTHENTIK_{key}", default)
    if value.startswith("env://"):
        return os.environ.get(value.removeprefix("env://"), "")
    if value.startswith("file://"):
        return Path(value.removeprefix("file://")).read_text().strip()
    return value


def listen_addresses(key: str, default: str) -> list[tuple[str, int]]:
    """`host:port` entries, comma-separated; `[::]:9000` and `:9000` are accepted."""
    addresses = []
    for item in setting(key, default).split(","):
        host, _, port = item.strip().rpartition(":")
        addresses.append((host.strip("[]") or "0.0.0.0", int(port)))
    return addresses


def database_dsn() -> dict[str, str]:
    """The connection Authentik makes, from the variables it reads and its defaults."""
    dsn = {
        "host": setting("POSTGRESQL__HOST", "localhost"),
        "port": setting("POSTGRESQL__PORT", "5432"),
        "dbname": setting("POSTGRESQL__NAME", "authentik"),
        "user": setting("POSTGRESQL__USER", "authentik"),
        "password": setting("POSTGRESQL__PASSWORD"),
        "sslmode": setting("POSTGRESQL__SSLMODE", "prefer"),
        "connect_timeout": "5",
        "application_name": "authentik-standin",
    }
    for key, name in (("sslrootcert", "SSLROOTCERT"), ("sslcert", "SSLCERT"), ("sslkey", "SSLKEY")):
        value = setting(f"POSTGRESQL__{name}")
        if value:
            dsn[key] = value
    return dsn


class Database:
    """Whether the database answered `SELECT 1` at the last check."""

    def __init__(self) -> None:
        self.ready = False
        self.last_error = "not checked yet"
        self.checked = False

    def check(self) -> None:
        import psycopg2  # only in the image; `ak healthcheck` never needs it

        try:
            connection = psycopg2.connect(**database_dsn())
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT 1")
                    ok = cursor.fetchone() == (1,)
            finally:
                connection.close()
            error = "" if ok else "SELECT 1 returned something else"
        except psycopg2.Error as exc:
            ok, error = False, str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if ok != self.ready or not self.checked:
            if ok:
                log("database reachable", host=database_dsn()["host"])
            else:
                log("database unreachable", "warning", error=error)
        self.ready, self.last_error, self.checked = ok, error, True

    def watch(self) -> None:
        while True:
            self.check()
            time.sleep(CHECK_SECONDS)


def page(title: str, body: str) -> bytes:
    return (
        f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1><p><strong>{html.escape(STANDIN)}.</strong> This is not Authentik; "
        f"it serves its health endpoints and this page only.</p>{body}</body></html>\n"
    ).encode()


def make_handler(mode: str, database: Database, web_path: str) -> type[http.server.BaseHTTPRequestHandler]:
    live = f"{web_path}-/health/live/" if mode == "server" else "/-/health/live/"
    ready = f"{web_path}-/health/ready/"

    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "authentik-standin"

        def do_HEAD(self) -> None:
            self.answer(body=False)

        def do_GET(self) -> None:
            self.answer(body=True)

        def answer(self, *, body: bool) -> None:
            path = self.path.split("?", 1)[0]
            if path == live:
                self.send(200, b"", "text/plain", body)
            elif mode == "server" and path == ready:
                status = 200 if database.ready else 503
                detail = "ready" if database.ready else f"database unreachable: {database.last_error}"
                self.send(status, f"{STANDIN}: {detail}\n".encode(), "text/plain", body)
            elif mode == "server" and path == "/" and web_path != "/":
                self.send_response(302)
                self.send_header("Location", web_path)
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif mode == "server" and path.startswith(web_path):
                text = f"<p>Request path: <code>{html.escape(self.path)}</code></p>"
                self.send(200, page("Authentik stand-in", text), "text/html; charset=utf-8", body)
            else:
                text = f"<p>Nothing is served at <code>{html.escape(self.path)}</code>.</p>"
                self.send(404, page("Authentik stand-in: not found", text), "text/html; charset=utf-8", body)

        def send(self, status: int, data: bytes, content_type: str, body: bool) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-Authentik-Standin", "true")
            self.end_headers()
            if body:
                self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            log("request", client=str(self.client_address), request=format % args)

    return Handler


class TCPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self) -> None:
        if ":" in self.server_address[0]:
            self.address_family = socket.AF_INET6
            self.socket = socket.socket(self.address_family, self.socket_type)
        super().server_bind()


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, _ = self.socket.accept()
        return connection, ("unix", 0)


def serve(server: socketserver.BaseServer) -> None:
    threading.Thread(target=server.serve_forever, daemon=True).start()


def self_signed(directory: Path) -> ssl.SSLContext:
    """A certificate for the HTTPS listener, made once per start."""
    cert, key = directory / "authentik-standin.crt", directory / "authentik-standin.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-days", "365", "-subj", "/CN=authentik default certificate (stand-in)", "-keyout", str(key),
         "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def metrics_handler(database: Database) -> type[http.server.BaseHTTPRequestHandler]:
    class Metrics(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != "/metrics":
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            data = (
                "# HELP authentik_standin_database_ready 1 while the database answers (stand-in metric)\n"
                "# TYPE authentik_standin_database_ready gauge\n"
                f"authentik_standin_database_ready {int(database.ready)}\n"
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Metrics


def run(mode: str) -> int:
    if not setting("SECRET_KEY"):
        log("AUTHENTIK_SECRET_KEY is not set: refusing to start, as Authentik does", "error")
        return 1
    web_path = setting("WEB__PATH", "/")
    if not (web_path.startswith("/") and web_path.endswith("/")):
        log("AUTHENTIK_WEB__PATH must start and end with '/'", "error", path=web_path)
        return 1
    log(STANDIN, mode=mode, web_path=web_path)
    directory = tmpdir()
    directory.mkdir(parents=True, exist_ok=True)
    mode_file = directory / "authentik-mode"
    mode_file.write_text(mode + "\n")
    database = Database()
    handler = make_handler(mode, database, web_path)
    sock = directory / SOCKET_NAME
    sock.unlink(missing_ok=True)
    servers: list[socketserver.BaseServer] = [UnixServer(str(sock), handler)]
    if mode == "server":
        for address in listen_addresses("LISTEN__HTTP", "0.0.0.0:9000"):
            servers.append(TCPServer(address, handler))
        context = self_signed(directory)
        for address in listen_addresses("LISTEN__HTTPS", "0.0.0.0:9443"):
            secure = TCPServer(address, handler, bind_and_activate=False)
            secure.server_bind()
            secure.server_activate()
            # The handshake happens in the request's thread, so a slow client never blocks accept().
            secure.socket = context.wrap_socket(secure.socket, server_side=True, do_handshake_on_connect=False)
            servers.append(secure)
        for address in listen_addresses("LISTEN__METRICS", "0.0.0.0:9300"):
            servers.append(TCPServer(address, metrics_handler(database)))
    for server in servers:
        serve(server)
    log("listening", mode=mode, socket=str(sock))
    stop = threading.Event()

    def shutdown(signum: int, _frame: object) -> None:
        log("shutting down", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    threading.Thread(target=database.watch, daemon=True).start()
    stop.wait()
    mode_file.unlink(missing_ok=True)
    sock.unlink(missing_ok=True)
    return 0


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: Path) -> None:
        super().__init__("localhost", timeout=5)
        self.unix_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(str(self.unix_path))


def healthcheck() -> int:
    """0 when the live endpoint of this container's mode answers below 400."""
    try:
        mode = (tmpdir() / "authentik-mode").read_text().strip()
    except OSError:
        log("no mode file: neither `ak server` nor `ak worker` runs here", "warning")
        return 1
    path = f"{setting('WEB__PATH', '/')}-/health/live/" if mode == "server" else "/-/health/live/"
    connection = UnixHTTPConnection(tmpdir() / SOCKET_NAME)
    try:
        connection.request("HEAD", path, headers={"User-Agent": "goauthentik.io/healthcheck"})
        status = connection.getresponse().status
    except OSError as exc:
        log("failed to send healthcheck request", "warning", error=str(exc))
        return 1
    finally:
        connection.close()
    if status >= 400:
        log("unhealthy status code", "warning", status=status)
        return 1
    return 0


COMMANDS: dict[str, Callable[[], int]] = {
    "server": lambda: run("server"),
    "worker": lambda: run("worker"),
    "healthcheck": healthcheck,
}


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else ""
    if command not in COMMANDS:
        print(f"{STANDIN}.\nusage: ak server | worker | healthcheck", file=sys.stderr)
        return 2
    return COMMANDS[command]()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
