"""`posdiag serve DIR`: the e-receipts at their unguessable links. Only
/r/<32 hex digits> with a page behind it answers; everything else is 404, an
expired link is 410, nothing is listed, nothing refers onward."""

from __future__ import annotations

import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from host_tools.ereceipt import PAGES, TOKEN

HEADERS = {
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def make_handler(folder: str) -> type[BaseHTTPRequestHandler]:
    pages = Path(folder) / PAGES

    class Handler(BaseHTTPRequestHandler):
        server_version = "posdiag"
        sys_version = ""

        def _reply(self, status: int, body: bytes, kind: str = "text/plain; charset=utf-8") -> None:
            self.send_response(status)
            for name, value in HEADERS.items():
                self.send_header(name, value)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            path = self.path.split("?", 1)[0]
            prefix = "/r/"
            token = path[len(prefix) :] if path.startswith(prefix) else ""
            if not TOKEN.fullmatch(token) or not (pages / f"{token}.html").is_file():
                self._reply(404, b"not found\n")
                return
            try:
                expires = json.loads((pages / f"{token}.json").read_text()).get("expires")
            except (OSError, ValueError):
                expires = None
            if expires is not None and expires < time.time():
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


def serve(folder: str, host: str = "127.0.0.1", port: int = 8080) -> ThreadingHTTPServer:
    return ThreadingHTTPServer((host, port), make_handler(folder))
