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
        host_bound, port_bound = self._server.server_address[:2]
        self.address: tuple[str, int] = (str(host_bound), int(port_bound))
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


class DnsServer:
    """A tiny DNS server on UDP 127.0.0.1 for the settlement host's name.
    answers maps a name to the IPv4 addresses it gives, one per query (the
    last one from then on: a host that moved); other names get NXDOMAIN.
    silent=True reads every query and never answers, as a dead resolver.
    queries counts what arrived."""

    def __init__(self, answers: dict[str, list[str]] | None = None, silent: bool = False) -> None:
        self.answers = {name.lower(): list(ips) for name, ips in (answers or {}).items()}
        self.silent = silent
        self.queries = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self.address: tuple[str, int] = self._sock.getsockname()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                query, peer = self._sock.recvfrom(512)
            except TimeoutError:
                continue
            except OSError:
                return
            self.queries += 1
            if not self.silent:
                self._sock.sendto(self._answer(query), peer)

    def _answer(self, query: bytes) -> bytes:
        # Header, the question copied back, then one A record per address.
        labels, pos = [], 12
        while pos < len(query) and query[pos]:
            labels.append(query[pos + 1 : pos + 1 + query[pos]].decode("ascii", "replace"))
            pos += 1 + query[pos]
        question = query[12 : pos + 5]
        ips = self.answers.get(".".join(labels).lower())
        qtype = int.from_bytes(query[pos + 1 : pos + 3], "big")
        if ips is None:
            return query[:2] + b"\x81\x83" + b"\x00\x01\x00\x00\x00\x00\x00\x00" + question
        records = b""
        if qtype in (1, 255):  # A or ANY; an AAAA query gets no answer records
            ip = ips.pop(0) if len(ips) > 1 else ips[0]
            records = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + socket.inet_aton(ip)
        count = (1 if records else 0).to_bytes(2, "big")
        return query[:2] + b"\x81\x80" + b"\x00\x01" + count + b"\x00\x00\x00\x00" + question + records
