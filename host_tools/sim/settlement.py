"""A stand-in settlement host: a real TCP server on 127.0.0.1 that echoes
what it receives, or misbehaves the way a real host can: answering wrong
(a backend that rejects the terminal) or late (an overloaded network)."""

from __future__ import annotations

import socket
import socketserver
import threading
import time

MODES = ("echo", "reject", "slow")
SLOW_S = 0.8  # the "slow" host's extra delay: above the 500 ms default limit


class _Echo(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        self.request.settimeout(2)
        try:
            while data := self.request.recv(1024):
                if self.server.mode == "reject":
                    self.request.sendall(b"ERR unknown terminal\n")
                    return
                if self.server.mode == "slow":
                    time.sleep(SLOW_S)
                self.request.sendall(data)
        except OSError:
            pass


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    mode = "echo"


class EchoServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, mode: str = "echo") -> None:
        self._server = _Server((host, port), _Echo)
        self._server.mode = mode
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
