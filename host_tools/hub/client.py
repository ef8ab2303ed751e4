"""A client of the hub's API (docs/hub.md): signed uploads as a terminal
makes them (posdiag/hubwire.py), and operators' requests with a bearer
token. Standard library HTTP only."""

from __future__ import annotations

import http.client
import json
import os
import time
import urllib.parse
from dataclasses import dataclass

from posdiag import hubwire


@dataclass
class Answer:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes

    def json(self) -> dict:
        value = json.loads(self.body)
        return value if isinstance(value, dict) else {}


def request(
    base_url: str, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> Answer:
    """One HTTP request on a connection of its own."""
    url = urllib.parse.urlsplit(base_url)
    conn_type = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    conn = conn_type(url.hostname or "127.0.0.1", url.port, timeout=timeout)
    try:
        conn.request(method, url.path.rstrip("/") + path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


def signed_headers(
    key: bytes, terminal: str, path: str, body: bytes, now: int, nonce: str | None = None
) -> dict[str, str]:
    """The headers of a terminal's signed POST of body to path."""
    nonce = nonce or os.urandom(hubwire.NONCE_LEN).hex()
    digest = hubwire.body_hash([body])
    out = dict(hubwire.headers(key, "POST", path, terminal, now, nonce, digest))
    out["Content-Type"] = hubwire.CONTENT_TYPE
    return out


class Terminal:
    """A terminal's side of an upload: signs, and corrects its clock once
    when the hub says it is off (the hub's time in H_HUB_TIME)."""

    def __init__(self, base_url: str, terminal: str, key: bytes, clock_offset: int = 0) -> None:
        self.base_url, self.terminal, self.key = base_url, terminal, key
        self.offset = clock_offset  # added to this computer's clock

    def post(self, path: str, body: bytes, timeout: float = 30.0) -> Answer:
        for _ in range(2):
            now = int(time.time()) + self.offset
            answer = request(
                self.base_url, "POST", path, body, signed_headers(self.key, self.terminal, path, body, now), timeout
            )
            hub_time = answer.headers.get(hubwire.H_HUB_TIME.lower(), "")
            if answer.status == 401 and b'"clock"' in answer.body and hub_time.isdigit():
                self.offset += int(hub_time) - now
                continue
            return answer
        return answer

    def records(self, raws: list[bytes]) -> Answer:
        return self.post(hubwire.PATH_RECORDS, hubwire.records_head(len(raws)) + b"".join(raws))

    def receipts(self, entries: list[tuple[int, bytes]]) -> Answer:
        body = hubwire.records_head(len(entries)) + b"".join(hubwire.receipt_head(s) + e for s, e in entries)
        return self.post(hubwire.PATH_RECEIPTS, body)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
