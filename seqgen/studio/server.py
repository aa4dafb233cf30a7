"""Serve the studio's app with uvicorn on a socket bound here, so port 0 (a free port) can be
announced before the first request."""

from __future__ import annotations

import socket
from collections.abc import Callable

from seqgen.errors import SeqgenError


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise SeqgenError(
            f"--host {host} --port {port}: cannot listen there ({e.strerror})"
        ) from None
    return sock


def url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def server(app, sock: socket.socket):
    import uvicorn

    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=2)
    return uvicorn.Server(config)


def serve(app, host: str, port: int, announce: Callable[[str], None]) -> None:
    """Listen on ``host:port`` and serve until interrupted."""
    sock = bind(host, port)
    announce(url(sock))
    server(app, sock).run(sockets=[sock])
