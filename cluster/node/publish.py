"""Publish ports of the node on the host's loopback, as kind publishes a node's ports.

    python3 cluster/node/publish.py --netns /run/netns/NAME --ready FILE \
        127.0.0.1:6443=172.18.0.2:6443 127.0.0.1:80=172.18.0.2:30080 ...

Each LISTEN=TARGET pair: the listening socket is made in the host's network
namespace (on 127.0.0.1 only), then the process moves into the node's namespace,
so every connection to TARGET is made from inside the node. The host reaches the
cluster through these ports and nothing else. Writes FILE once every port listens;
exits with a message naming the port when one cannot be bound.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import os
import socket
import sys

CLONE_NEWNET = 0x40000000


def enter_netns(path: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({path}): {os.strerror(err)}")
    finally:
        os.close(fd)


def split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


def listen(address: str) -> socket.socket:
    host, port = split(address)
    if not host.startswith("127."):
        raise SystemExit(f"publish.py: {address}: ports are published on loopback (127.0.0.0/8) only")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        raise SystemExit(
            f"publish.py: cannot listen on {address}: {err.strerror}. Another program (or another local "
            "cluster) has that port: stop it, or choose other ports (PLATFORM_CLUSTER_HTTP_PORT, "
            "PLATFORM_CLUSTER_HTTPS_PORT, PLATFORM_CLUSTER_API_PORT)"
        ) from err
    sock.listen(128)
    sock.setblocking(False)
    return sock


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.close()


async def serve(sock: socket.socket, target: str) -> None:
    host, port = split(target)

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            node_r, node_w = await asyncio.open_connection(host, port)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(pipe(client_r, node_w), pipe(node_r, client_w))
        for w in (client_w, node_w):
            w.close()

    server = await asyncio.start_server(handle, sock=sock)
    async with server:
        await server.serve_forever()


async def main_async(pairs: list[tuple[socket.socket, str]]) -> None:
    await asyncio.gather(*(serve(sock, target) for sock, target in pairs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--netns", required=True, help="the node's network namespace file (/run/netns/NAME)")
    parser.add_argument("--ready", required=True, help="file written once every port listens")
    parser.add_argument("ports", nargs="+", metavar="LISTEN=TARGET")
    args = parser.parse_args()
    pairs = []
    for spec in args.ports:
        listen_at, _, target = spec.partition("=")
        pairs.append((listen(listen_at), target))
    enter_netns(args.netns)
    with open(args.ready, "w") as ready:
        ready.write("\n".join(args.ports) + "\n")
    print("publishing " + " ".join(args.ports), file=sys.stderr, flush=True)
    asyncio.run(main_async(pairs))


if __name__ == "__main__":
    main()
