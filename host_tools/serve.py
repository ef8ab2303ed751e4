"""`posdiag serve DIR`: the e-receipts at their unguessable links. Only
/r/<32 hex digits> with a page behind it answers; everything else is 404, an
expired link is 410, nothing is listed, nothing refers onward.

Every answer, errors included, carries the security headers. A customer's
phone is not trusted to behave: each connection has a time limit and a
bounded pool of workers serves them; when all are busy a connection is
answered 503 at once instead of waiting in a queue."""

from __future__ import annotations

import errno
import json
import math
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

from host_tools.ereceipt import PAGES, TOKEN
from host_tools.errors import PortError, UsageError
from posdiag import config

HEADERS = {
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
# A receipt whose expiry file says none (or has none) lives as long as the
# firmware's default: receipt_ttl_s, 30 days, from when its page was saved.
DEFAULT_TTL_S = config.DEFAULTS["receipt_ttl_s"]
TIME_LIMIT_S = 10.0  # a whole connection, from accept to close
WORKERS = 16


def expiry(pages: Path, token: str) -> float | None:
    """When the page for token expires (unix seconds), or None when its
    expiry file is unreadable or malformed: such a page is not served."""
    page = pages / f"{token}.html"
    try:
        text = (pages / f"{token}.json").read_text()
    except FileNotFoundError:
        text = "{}"
    except (OSError, UnicodeDecodeError):
        return None
    try:
        meta = json.loads(text)
    except ValueError:
        return None
    if not isinstance(meta, dict):
        return None
    expires = meta.get("expires")
    if expires is None:
        try:
            return page.stat().st_mtime + DEFAULT_TTL_S
        except OSError:
            return None
    if isinstance(expires, bool) or not isinstance(expires, (int, float)):
        return None
    if isinstance(expires, float) and math.isnan(expires):
        return None
    return expires


def _busy_answer() -> bytes:
    body = b"busy, try again in a moment\n"
    head = "HTTP/1.0 503 Service Unavailable\r\n" + "".join(f"{k}: {v}\r\n" for k, v in HEADERS.items())
    head += f"Retry-After: 5\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


def make_handler(folder: str, time_limit: float = TIME_LIMIT_S) -> type[BaseHTTPRequestHandler]:
    pages = Path(folder) / PAGES

    class Handler(BaseHTTPRequestHandler):
        server_version = "posdiag"
        sys_version = ""
        timeout = time_limit  # each read and write on the socket

        def _reply(self, status: int, body: bytes, kind: str = "text/plain; charset=utf-8") -> None:
            self.send_response(status)
            for name, value in HEADERS.items():
                self.send_header(name, value)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            # http.server's own errors (400, 414, 431, 501) with the same headers.
            self.close_connection = True
            if self.request_version == "HTTP/0.9":
                self.request_version = "HTTP/1.0"  # a bad request line: still a status line and the headers
            reason = message or self.responses.get(code, ("error",))[0]
            self._reply(code, f"{code} {reason}\n".encode("latin-1", "replace"))

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            try:
                self._get()
            except OSError:
                raise  # the connection itself: nothing can be answered
            except Exception:  # noqa: BLE001 - a bad page must not drop the connection
                self._reply(500, b"internal error\n")

        def _get(self) -> None:
            path = self.path.split("?", 1)[0]
            prefix = "/r/"
            token = path[len(prefix) :] if path.startswith(prefix) else ""
            if not TOKEN.fullmatch(token) or not (pages / f"{token}.html").is_file():
                self._reply(404, b"not found\n")
                return
            expires = expiry(pages, token)
            if expires is None:
                self._reply(404, b"not found\n")  # a malformed expiry file: the page is not served
                return
            if expires < time.time():
                self._reply(410, "此链接已过期 This link has expired.\n".encode())
                return
            self._reply(200, (pages / f"{token}.html").read_bytes(), "text/html; charset=utf-8")

        do_HEAD = do_GET

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            # Links are capabilities: never write one whole into a log.
            line = format % args
            for part in line.split():
                if TOKEN.search(part):
                    line = line.replace(part, part[: part.find("/r/") + 7] + "…")
            sys.stderr.write(f"{self.address_string()} {line}\n")

    return Handler


class ReceiptServer(HTTPServer):
    """An HTTP server with a bounded pool of workers and a time limit on
    every connection: a connection still open past it is shut down by the
    serving loop, whatever the client does (a half-sent request included)."""

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        workers: int = WORKERS,
        time_limit: float = TIME_LIMIT_S,
    ) -> None:
        self.time_limit = time_limit
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="posdiag-serve")
        self._slots = threading.BoundedSemaphore(workers)
        self._deadlines: dict[socket.socket, float] = {}
        self._lock = threading.Lock()
        super().__init__(address, handler)  # binds: may raise, after which server_close has run

    def process_request(self, request, client_address) -> None:  # noqa: ANN001 - socketserver's signature
        request.settimeout(self.time_limit)
        if not self._slots.acquire(blocking=False):
            try:
                request.sendall(_busy_answer())
            except OSError:
                pass
            self.shutdown_request(request)
            return
        with self._lock:
            self._deadlines[request] = time.monotonic() + self.time_limit
        self._pool.submit(self._work, request, client_address)

    def _work(self, request, client_address) -> None:  # noqa: ANN001
        try:
            self.finish_request(request, client_address)
        except Exception:  # noqa: BLE001 - one line, never a traceback
            self.handle_error(request, client_address)
        finally:
            with self._lock:
                self._deadlines.pop(request, None)
            self.shutdown_request(request)
            self._slots.release()

    def service_actions(self) -> None:
        """Called by serve_forever about twice a second: end the late ones."""
        now = time.monotonic()
        with self._lock:
            late = [conn for conn, deadline in self._deadlines.items() if deadline < now]
        for conn in late:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address) -> None:  # noqa: ANN001
        sys.stderr.write(f"{client_address[0]} connection ended: {sys.exc_info()[1]!r}\n")

    def server_close(self) -> None:
        super().server_close()
        self._pool.shutdown(wait=False, cancel_futures=True)


def serve(
    folder: str,
    host: str = "127.0.0.1",
    port: int = 8080,
    workers: int = WORKERS,
    time_limit: float = TIME_LIMIT_S,
) -> ReceiptServer:
    """The server, listening; errors as one line: a folder that is not
    there, an address that cannot be had."""
    if not Path(folder).is_dir():
        raise UsageError(
            f"{folder} is not a folder of e-receipts", "give the folder `posdiag receipts --out` wrote into"
        )
    try:
        return ReceiptServer((host, port), make_handler(folder, time_limit), workers, time_limit)
    except socket.gaierror as e:
        raise PortError(
            f"cannot listen on {host}:{port}: {e.strerror}", "--host wants an address of this machine, e.g. 127.0.0.1"
        ) from None
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            hint = "another program listens there: choose another --port"
        elif e.errno == errno.EACCES:
            hint = "ports below 1024 need privileges: choose e.g. --port 8080"
        else:
            hint = "--host wants an address of this machine, e.g. 127.0.0.1 or 0.0.0.0"
        raise PortError(f"cannot listen on {host}:{port}: {e.strerror}", hint) from None
