"""A stand-in settlement host: a real TCP echo server on 127.0.0.1."""

from __future__ import annotations

import socket
import socketserver
import threading


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.settimeout(2)
        try:
            while data := self.request.recv(1024):
                self.request.sendall(data)
        except OSError:
            pass


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class EchoServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = _Server((host, port), _Echo)
        self.address: tuple[str, int] = self._server.server_address[:2]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def closed_port(host: str = "127.0.0.1") -> tuple[str, int]:
    """An address where nothing listens: connecting is refused, as when the
    settlement host is down."""
    with socket.socket() as s:
        s.bind((host, 0))
        return host, s.getsockname()[1]
