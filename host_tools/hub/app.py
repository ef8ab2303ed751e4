"""`posdiag hub`: the web service terminals upload to (docs/hub.md).

- Terminals POST their diagnostics records and pending receipts, signed
  with their upload key (posdiag/hubwire.py defines the contract once).
  Every batch is checked item by item at the boundary (host_tools/records.py
  for records, the journal entry's shape and card data for receipts) and
  stored in one transaction; a repeat stores nothing twice and gets the
  same answer, which tells the terminal what is safely stored.
- Customers open their e-receipt at its capability link, /r/<32 hex>, as
  `posdiag serve` serves them: 404 for anything else, 410 once expired, no
  referrer, a strict CSP; nothing lists receipts.
- Operators read a terminal's records and diagnosis with a bearer token and
  may upload a pulled log for a terminal whose network is down.

Backpressure: a bounded number of uploads in flight (more: 503 with
Retry-After), a database that does not answer is 503 with Retry-After,
never a 500; a body over the limit is 413 before it is read. Logs carry
method, path (tokens cut short), status and time: never a header, a key, a
token or a receipt."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import cbor2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from host_tools import catalog_names as names
from host_tools.diagnosis import record_causes
from host_tools.ereceipt import TOKEN, render_html
from host_tools.errors import BadDataError
from host_tools.fleet.alerts import Deliverer
from host_tools.fleet.queries import Fleet
from host_tools.fleet.summary import facts
from host_tools.hub.store import ReceiptRow, RecordRow, Store, Unavailable, token_hash
from host_tools.records import (
    MAX_TERMINAL,
    UNREADABLE,
    PulledLog,
    clean_terminal,
    decode_item,
    decode_record,
    plain_records,
    record_at,
)
from host_tools.report import report_json, report_of
from posdiag import config, hubwire
from posdiag import record as r
from posdiag.receipt import MAX_RECEIPT, ReceiptError, sanitize

log = logging.getLogger("posdiag.hub")

# Every answer carries these (as `posdiag serve`'s do).
SECURITY_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
MAX_INFLIGHT = 32  # uploads being read or stored at once; more are told to come back
BODY_TIME_S = 10.0  # a body must arrive within this
RETRY_BUSY_S = 1
RETRY_DOWN_S = 5
NONCE_KEEP_S = 2 * hubwire.SKEW_S + 60  # a nonce older than this is refused by its time anyway
PAGE_CACHE = 2048  # rendered receipt pages kept in memory (about 3 KB each)
DIAGNOSIS_RECORDS = 1000  # newest records the diagnosis looks at
DEFAULT_TTL_S = config.DEFAULTS["receipt_ttl_s"]  # a receipt without an expiry (the terminal's clock unset)
_TERMINAL_ID = re.compile(r"[A-Za-z0-9._-]{1,%d}" % hubwire.TERMINAL_MAX)
_HEX = re.compile(r"[0-9a-f]+")
_SECRET_IN_PATH = re.compile(r"[0-9a-f]{32}")
_URL_MAX = 512
_EXPIRES_MAX = 253402300799


class Refusal(Exception):
    """An answer other than 200: status, a short error code, a sentence."""

    def __init__(self, status: int, error: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.error, self.headers = status, error, headers or {}


def safe_path(path: str) -> str:
    """A path as logs may show it: a link's token cut to 4 digits, no
    control characters (one request, one line), at most 200 characters."""
    path = "".join(ch if ch.isprintable() else "?" for ch in path[:200])
    return _SECRET_IN_PATH.sub(lambda m: m.group(0)[:4] + "…", path)


def _terminal_param(request: Request) -> str:
    """The terminal id in an operator's path; 404 for one no terminal can have."""
    terminal = str(request.path_params["terminal"])
    if not _TERMINAL_ID.fullmatch(terminal):
        raise Refusal(404, "unknown-terminal", "no terminal has that id")
    return terminal


class _Edge:
    """Around every request: the security headers and the hub's clock on
    every answer, one log line per request, and no 500 with a traceback
    for the client (the error's class only, in the log)."""

    def __init__(self, app: ASGIApp, clock: Callable[[], float]) -> None:
        self.app, self.clock = app, clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        status = [0]

        async def answer(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if name not in headers:  # the fleet pages set their own CSP, static files their caching
                        headers[name] = value
                headers[hubwire.H_HUB_TIME] = str(int(self.clock()))
            await send(message)

        try:
            await self.app(scope, receive, answer)
        except Exception as e:  # noqa: BLE001 - one line in the log, a JSON 500 for the client
            where = safe_path(scope.get("path", ""))
            log.error("%s %s: internal error %s", scope.get("method"), where, type(e).__name__)
            if status[0] == 0:
                await JSONResponse({"error": "internal", "message": "internal error"}, 500)(scope, receive, answer)
        finally:
            why = scope.get("state", {}).get("why")
            log.info(
                "%s %s %d %d ms%s",
                scope.get("method"),
                safe_path(scope.get("path", "")),
                status[0],
                (time.monotonic() - started) * 1000,
                f" ({why})" if why else "",
            )


def _refused(request: Request, e: Refusal) -> Response:
    request.state.why = e.error
    return JSONResponse({"error": e.error, "message": str(e)}, e.status, headers=e.headers)


def _array_head(body: bytes, what: str) -> tuple[int, int]:
    """(item count, offset of the first item) of a definite CBOR array."""
    if not body:
        raise Refusal(400, "malformed", f"empty body: a {what} batch is a CBOR array")
    ib = body[0]
    if ib >> 5 != 4:
        raise Refusal(400, "malformed", f"a {what} batch is a CBOR array")
    info = ib & 31
    if info < 24:
        return info, 1
    if info > 27:
        raise Refusal(400, "malformed", f"a {what} batch is a CBOR array of definite length")
    n = 1 << (info - 24)
    if len(body) < 1 + n:
        raise Refusal(400, "malformed", "truncated CBOR")
    return int.from_bytes(body[1 : 1 + n], "big"), 1 + n


def parse_records(body: bytes) -> tuple[bytes | None, list[RecordRow]]:
    """A records batch: (the terminal item's bytes when the batch starts
    with one, the records). Each record passes the strict decoder and the
    field checks of host_tools/records.py; anything else refuses the batch.
    The usual batch takes records.plain_records' one-pass path (the same
    checks, the same results); any other is read item by item, which names
    the first item that is wrong."""
    count, pos = _array_head(body, "records")
    if count > hubwire.MAX_RECORDS + 1:
        raise Refusal(413, "too-many", f"{count} items: at most {hubwire.MAX_RECORDS} records in one batch")
    info = None
    rows: dict[int, RecordRow] = {}
    first = 0
    if count and pos < len(body) and 0xA0 <= body[pos] <= 0xBB and (item := _terminal_item(body, pos)) is not None:
        info, pos = item
        first = 1
    fast = plain_records(body, pos, count - first) if count > first else None
    if fast is not None:
        for i, (raw, rec) in enumerate(fast, first):
            _add_row(rows, i, raw, rec)
        pos = len(body)
    else:
        for i in range(first, count):
            if pos >= len(body):
                raise Refusal(400, "malformed", f"truncated batch: {count} items announced, {i} found")
            got = record_at(body, pos, len(body))
            if isinstance(got, str):
                raise Refusal(400, "malformed", f"item {i} (byte {pos}): {got}")
            raw = body[pos : got[1]]
            pos = got[1]
            try:
                rec = decode_record(raw)
            except BadDataError as e:
                raise Refusal(400, "malformed", f"item {i}: {e}") from None
            _add_row(rows, i, raw, rec)
    if pos != len(body):
        raise Refusal(400, "malformed", f"{len(body) - pos} bytes after the batch's {count} items")
    if len(rows) > hubwire.MAX_RECORDS:
        raise Refusal(413, "too-many", f"at most {hubwire.MAX_RECORDS} records in one batch")
    return info, sorted(rows.values(), key=lambda row: row.seq)


def _add_row(rows: dict[int, RecordRow], i: int, raw: bytes, rec: dict) -> None:
    """Item i of a batch, its bytes and its checked map, as the row to store."""
    ranked = record_causes(rec)
    if rec[r.K_SEQ] >= 1 << 32:
        raise Refusal(400, "malformed", f"item {i}: a seq is a 32-bit number")
    trigger = rec.get(r.K_TRIGGER, r.TRIGGER_BOOT)
    if "trigger" in rec[UNREADABLE] or trigger >= 1 << 31:
        trigger = -1  # unknown to this hub
    row = RecordRow(
        rec[r.K_SEQ], raw, trigger, rec.get(r.K_TIME), names.cause_id(ranked[0]) if ranked else None,
        facts(rec, ranked),
    )
    if row.seq in rows and rows[row.seq].raw != raw:
        raise Refusal(400, "malformed", f"item {i}: seq {row.seq} twice with different bytes")
    rows[row.seq] = row


def _terminal_item(body: bytes, pos: int) -> tuple[bytes, int] | None:
    """A terminal item (text keys, "posdiag") at pos: (its bytes, offset after it)."""
    try:
        value, used = decode_item(body[pos : pos + MAX_TERMINAL], "the terminal item")
    except BadDataError:
        return None
    if not isinstance(value, dict) or "posdiag" not in value:
        return None
    return body[pos : pos + used], pos + used


def parse_receipts(body: bytes, now: int, tokens: list[str] | None = None) -> list[ReceiptRow]:
    """A receipts batch: [[journal seq, entry], ...], the entries as the
    journal holds them. The receipt's fields are masked again
    (posdiag/receipt.py): a card number never reaches the database whole,
    and a receipt with CVV, PIN or track data is refused."""
    count, pos = _array_head(body, "receipts")
    if count > hubwire.MAX_RECEIPTS:
        raise Refusal(413, "too-many", f"{count} items: at most {hubwire.MAX_RECEIPTS} receipts in one batch")
    rows: dict[int, ReceiptRow] = {}
    for i in range(count):
        try:
            item, used = decode_item(body[pos : pos + MAX_RECEIPT + 16], f"receipt item {i}")
        except BadDataError as e:
            raise Refusal(400, "malformed", str(e).replace("malformed CBOR in", "malformed CBOR:")) from None
        pos += used
        if not (isinstance(item, list) and len(item) == 2 and type(item[0]) is int and 0 <= item[0] < 1 << 32):
            raise Refusal(400, "malformed", f"receipt item {i}: not [journal seq, entry]")
        seq, entry = item
        row = _receipt_row(seq, entry, now)
        rows[seq] = row
        if tokens is not None and row.token_hash:
            tokens.append(entry["token"])  # the page to render once it is stored
    if pos != len(body):
        raise Refusal(400, "malformed", f"{len(body) - pos} bytes after the batch's {count} items")
    return sorted(rows.values(), key=lambda row: row.seq)


def _receipt_row(seq: int, entry: object, now: int) -> ReceiptRow:
    if not isinstance(entry, dict) or not isinstance(entry.get("receipt"), dict):
        raise Refusal(400, "malformed", f"receipt {seq}: not a journal entry")
    token = entry.get("token")
    if token is not None and not (isinstance(token, str) and TOKEN.fullmatch(token)):
        raise Refusal(400, "malformed", f"receipt {seq}: a token is 32 hex digits")
    expires = entry.get("expires")
    if expires is None:
        expires = now + DEFAULT_TTL_S
    elif type(expires) is not int or not 0 < expires <= _EXPIRES_MAX:
        raise Refusal(400, "malformed", f"receipt {seq}: expires is Unix seconds")
    url = entry.get("url")
    url_base = None
    if url is not None:
        if not isinstance(url, str) or len(url) > _URL_MAX or not url.isprintable():
            raise Refusal(400, "malformed", f"receipt {seq}: a link is printable text")
        if token and url.endswith(token):
            url_base = url[: -len(token)]
    try:
        fields = sanitize(entry["receipt"])
    except ReceiptError as e:
        raise Refusal(422, "card-data", f"receipt {seq} refused: {e}") from None
    kept = {"receipt": fields, "expires": entry.get("expires")}
    return ReceiptRow(seq, token_hash(token) if token else None, cbor2.dumps(kept, canonical=True), url_base, expires)


class Hub:
    """The app's state: the store and the count of uploads in flight."""

    def __init__(
        self,
        store: Store,
        max_inflight: int = MAX_INFLIGHT,
        body_time_s: float = BODY_TIME_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.fleet = Fleet(store, clock)  # the fleet view's lists (host_tools/fleet)
        self.deliverer: Deliverer | None = None  # alerts to a webhook (server.run starts it)
        self.counted = {"records": 0, "record_uploads": 0}  # this process's, for /metrics
        self.max_inflight = max_inflight
        self.body_time_s = body_time_s
        self.clock = clock
        self.inflight = 0
        self._pages: OrderedDict[str, tuple[int, str]] = OrderedDict()  # token hash -> (expires, page)
        self._ahead: OrderedDict[str, tuple[int, str]] = OrderedDict()  # rendered on upload, not yet opened
        self._pages_lock = threading.Lock()

    async def db(self, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return await run_in_threadpool(fn, *args)
        except Unavailable as e:
            log.warning("%s", e)  # what the database said; never a password (store.Store.safe_url)
            raise Refusal(
                503, "unavailable", "storage unavailable, try again later", {"Retry-After": str(RETRY_DOWN_S)}
            ) from None

    def check_size(self, request: Request) -> None:
        """Refuse a body by its headers, before anything of it is read:
        the wrong type (415), too large by its Content-Length (413)."""
        if request.headers.get("content-type", "").split(";")[0].strip() != hubwire.CONTENT_TYPE:
            raise Refusal(415, "content-type", f"send the batch as {hubwire.CONTENT_TYPE}")
        length = request.headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                raise Refusal(400, "malformed", "Content-Length is a number")
            if int(length) > hubwire.MAX_BODY:
                raise Refusal(413, "too-large", f"a body holds at most {hubwire.MAX_BODY} bytes")

    async def body(self, request: Request) -> bytes:
        """The request's body, refused (413) as soon as it grows too large,
        408 when it does not arrive in time."""
        chunks, size = [], 0
        try:
            async with asyncio.timeout(self.body_time_s):
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > hubwire.MAX_BODY:
                        raise Refusal(413, "too-large", f"a body holds at most {hubwire.MAX_BODY} bytes")
                    chunks.append(chunk)
        except TimeoutError:
            raise Refusal(408, "slow", f"the body did not arrive within {self.body_time_s:g} s") from None
        except ClientDisconnect:
            raise Refusal(400, "disconnected", "the client went away") from None
        return b"".join(chunks)

    async def upload(
        self,
        request: Request,
        signed_path: str,
        store: Callable[[str, bytes, tuple[str, int] | None, Callable[[], None] | None], Awaitable[dict]],
    ) -> Response:
        """An upload: a slot (or 503), the body, who sent it, then store.
        A terminal's signature is checked by verify(), which store() calls
        first in the worker thread that then reads and stores the batch:
        one trip to a worker thread per upload, the terminal's key read
        once."""
        if self.inflight >= self.max_inflight:
            return _refused(
                request, Refusal(503, "busy", "too many uploads at once", {"Retry-After": str(RETRY_BUSY_S)})
            )
        self.inflight += 1
        try:
            self.check_size(request)
            if "terminal" in request.path_params:  # a technician's upload for a terminal
                await self.operator(request)
                terminal = _terminal_param(request)
                if not await self.db(self.store.upload_key, terminal):
                    raise Refusal(404, "unknown-terminal", f"no terminal {terminal} is provisioned")
                body = await self.body(request)
                nonce = None
                verify = None
            else:
                terminal, stamp, nonce_text, signature = self.signed_headers(request)
                body = await self.body(request)
                verify = self._verifier(signed_path, terminal, stamp, nonce_text, signature, body)
                nonce = (nonce_text, NONCE_KEEP_S)
            return JSONResponse(await store(terminal, body, nonce, verify))
        except Refusal as e:
            return _refused(request, e)
        finally:
            self.inflight -= 1

    def _verifier(
        self, path: str, terminal: str, stamp: int, nonce: str, signature: str, body: bytes
    ) -> Callable[[], None]:
        def verify() -> None:
            """The signature against the terminal's key (401 when it does not
            match or no terminal has that id), before anything of the body
            is read. Runs in the worker thread."""
            key = self.store.upload_key(terminal)
            digest = hashlib.sha256(body).digest()
            expected = hubwire.sign(key or b"\0" * 32, "POST", path, terminal, stamp, nonce, digest)
            if key is None or not hmac.compare_digest(expected, signature):
                raise Refusal(401, "signature", "the signature does not match this terminal's upload key")

        return verify

    def signed_headers(self, request: Request) -> tuple[str, int, str, str]:
        h = request.headers
        terminal, stamp = h.get(hubwire.H_TERMINAL), h.get(hubwire.H_TIME)
        nonce, signature = h.get(hubwire.H_NONCE), h.get(hubwire.H_SIGNATURE)
        if terminal is None or stamp is None or nonce is None or signature is None:
            raise Refusal(401, "unsigned", "a terminal's upload is signed: see docs/hub.md")
        if (
            not _TERMINAL_ID.fullmatch(terminal)
            or not (stamp.isdigit() and len(stamp) <= 12)
            or not (len(nonce) == 2 * hubwire.NONCE_LEN and _HEX.fullmatch(nonce))
            or not (len(signature) == 64 and _HEX.fullmatch(signature))
        ):
            raise Refusal(401, "unsigned", "malformed signature headers: see docs/hub.md")
        now = int(self.clock())
        if abs(int(stamp) - now) > hubwire.SKEW_S:
            raise Refusal(
                401,
                "clock",
                f"the request's time is more than {hubwire.SKEW_S} s from the hub's: "
                f"correct the clock by {hubwire.H_HUB_TIME} and sign again",
            )
        return terminal, int(stamp), nonce, signature

    async def operator(self, request: Request) -> str:
        auth = request.headers.get("authorization", "")
        scheme, _, bearer = auth.partition(" ")
        name = await self.db(self.store.operator, bearer.strip()) if scheme.lower() == "bearer" and bearer else None
        if name is None:
            raise Refusal(401, "operator", "an operator's bearer token is needed", {"WWW-Authenticate": "Bearer"})
        return str(name)

    # -- routes -----------------------------------------------------------------

    async def post_records(self, request: Request) -> Response:
        def ingest(
            terminal: str, body: bytes, nonce: tuple[str, int] | None, verify: Callable[[], None] | None
        ) -> list[int]:
            # In a worker thread: checking a batch takes milliseconds, which
            # the event loop serving pages must not wait for.
            if verify is not None:
                verify()
            info, rows = parse_records(body)
            if not self.store.put_records(terminal, rows, nonce, info, now=int(self.clock())):
                raise Refusal(401, "replay", "this request was seen before: sign each request with a fresh nonce")
            self.counted["records"] += len(rows)
            self.counted["record_uploads"] += 1
            return [row.seq for row in rows]

        async def store(
            terminal: str, body: bytes, nonce: tuple[str, int] | None, verify: Callable[[], None] | None
        ) -> dict:
            seqs = await self.db(ingest, terminal, body, nonce, verify)
            return {"terminal": terminal, "records": len(seqs), "first": min(seqs, default=None),
                    "last": max(seqs, default=None)}

        return await self.upload(request, hubwire.PATH_RECORDS, store)

    async def post_receipts(self, request: Request) -> Response:
        def ingest(
            terminal: str, body: bytes, nonce: tuple[str, int] | None, verify: Callable[[], None] | None
        ) -> list[int]:
            if verify is not None:
                verify()
            tokens: list[str] = []
            rows = parse_receipts(body, int(self.clock()), tokens)  # in a worker thread, as records
            if not self.store.put_receipts(terminal, rows, nonce):
                raise Refusal(401, "replay", "this request was seen before: sign each request with a fresh nonce")
            # Each stored receipt's page rendered now from its stored row
            # (_prerender): its first opening on this process then needs only
            # the database's answer for the link. A page that cannot be made
            # now is made when it is opened.
            for token in tokens:
                try:
                    self._prerender(token)
                except Exception:  # noqa: BLE001, S110 - only a head start
                    pass
            return [row.seq for row in rows]

        async def store(
            terminal: str, body: bytes, nonce: tuple[str, int] | None, verify: Callable[[], None] | None
        ) -> dict:
            return {"terminal": terminal, "receipts": await self.db(ingest, terminal, body, nonce, verify)}

        return await self.upload(request, hubwire.PATH_RECEIPTS, store)

    async def page(self, request: Request) -> Response:
        token = request.path_params["token"]
        try:
            if not TOKEN.fullmatch(token):
                return _text(404, "not found\n")
            # A page rendered before is answered from here; only a lookup
            # and a rendering go to a worker thread (a phone opening its
            # page again does not queue behind other phones' renderings).
            page = self._cached(token)
            if page is None:
                page = await self.db(self._page, token)
        except Refusal as e:
            request.state.why = e.error
            return Response("busy, try again in a moment\n", e.status, headers=e.headers, media_type="text/plain")
        if page is None:
            return _text(404, "not found\n")
        if page == "expired":
            return _text(410, "此链接已过期 This link has expired.\n")
        return HTMLResponse(page)

    def _page(self, token: str) -> str | None:
        """The receipt's page, "expired", or None when the link opens nothing.
        A stored receipt never changes: its page is rendered once (the QR
        code takes milliseconds) and kept, under its token's hash, while
        PAGE_CACHE newer ones have not pushed it out. A page rendered ahead
        (_prerender) is used only once the database has answered for the
        link, as a rendering would have needed it."""
        key = token_hash(token)
        cached = self._kept(key)
        if cached is None:
            row = self.store.receipt_by_token(token)
            if row is None:
                return None
            with self._pages_lock:
                cached = self._ahead.pop(key, None)
            if cached is None:
                cached = self._render(row, token)
            with self._pages_lock:
                self._pages[key] = cached
                while len(self._pages) > PAGE_CACHE:
                    self._pages.popitem(last=False)
        if cached[0] < self.clock():
            return "expired"
        return cached[1]

    @staticmethod
    def _render(row: ReceiptRow, token: str) -> tuple[int, str]:
        entry = cbor2.loads(row.entry)
        entry["token"] = token
        entry["url"] = row.url_base + token if row.url_base is not None else None
        return row.expires, render_html(entry)

    def _prerender(self, token: str) -> None:
        """Render a just-stored receipt's page from its stored row, as its
        first opening would, and keep it aside for that opening: the
        customer who scans the code a moment later is not kept waiting for
        the QR code (nor by 200 others' at once)."""
        key = token_hash(token)
        with self._pages_lock:
            done = key in self._ahead
        if done or self._kept(key) is not None:
            return  # a repeated upload: rendered already
        row = self.store.receipt_by_token(token)
        if row is None:
            return
        page = self._render(row, token)
        with self._pages_lock:
            self._ahead[key] = page
            while len(self._ahead) > PAGE_CACHE:
                self._ahead.popitem(last=False)

    def _kept(self, key: str) -> tuple[int, str] | None:
        """(expires, page) kept under a token's hash, or None."""
        with self._pages_lock:
            cached = self._pages.get(key)
            if cached is not None:
                self._pages.move_to_end(key)
        return cached

    def _cached(self, token: str) -> str | None:
        """What _page answers, when it needs no database: the kept page or
        "expired"; None when the page is not kept."""
        cached = self._kept(token_hash(token))
        if cached is None:
            return None
        return "expired" if cached[0] < self.clock() else cached[1]

    async def terminal_records(self, request: Request) -> Response:
        try:
            await self.operator(request)
            terminal = _terminal_param(request)
            since = _query_int(request, "since", 0)
            limit = min(_query_int(request, "limit", 100), 1000)
            if await self.db(self.store.terminal, terminal) is None:
                raise Refusal(404, "unknown-terminal", f"no terminal {terminal} is provisioned")
            rows = await self.db(self.store.records, terminal, since, limit)
        except Refusal as e:
            return _refused(request, e)
        return JSONResponse(
            {
                "terminal": terminal,
                "records": [
                    {"seq": x.seq, "trigger": x.trigger, "time": x.time, "top_cause": x.top_cause, "cbor": x.raw.hex()}
                    for x in rows
                ],
            }
        )

    async def terminal_diagnosis(self, request: Request) -> Response:
        try:
            await self.operator(request)
            terminal = _terminal_param(request)
            lang = request.query_params.get("lang", "en")
            if lang not in ("en", "zh"):
                raise Refusal(400, "lang", "lang is en or zh")
            known = await self.db(self.store.terminal, terminal)
            if known is None:
                raise Refusal(404, "unknown-terminal", f"no terminal {terminal} is provisioned")
            rows = await self.db(self.store.newest_records, terminal, DIAGNOSIS_RECORDS)
        except Refusal as e:
            return _refused(request, e)
        if not rows:
            return JSONResponse({"terminal": terminal, "records": 0, "newest": None})
        item = {"terminal": terminal}
        if known["info"]:
            value, _ = decode_item(known["info"], "the terminal item")
            if isinstance(value, dict):
                item = {**clean_terminal(value), "terminal": terminal}
        rep = report_of(PulledLog(item, [x.raw for x in rows]), lang)
        return JSONResponse(json.loads(json.dumps(report_json(rep, lang), default=str)))

    async def metrics(self, request: Request) -> Response:
        """Prometheus text: terminals by light, alerts, this process's ingest
        and webhook counts. Operators only (a bearer token, as Prometheus's
        authorization setting sends it)."""
        try:
            await self.operator(request)
            counts = (await self.db(self.fleet.terminals, None, None, None, None, 0))["counts"]
            alerts = await self.db(self.fleet.alert_counts)
        except Refusal as e:
            return _refused(request, e)
        lines = [
            "# HELP posdiag_terminals Terminals by light (silent: nothing heard for silent_after_h hours).",
            "# TYPE posdiag_terminals gauge",
            *(f'posdiag_terminals{{light="{light}"}} {n}' for light, n in counts.items()),
            "# HELP posdiag_alerts Alerts raised, by kind and whether acknowledged.",
            "# TYPE posdiag_alerts gauge",
            *(f'posdiag_alerts{{kind="{kind}",acked="{acked}"}} {n}' for (kind, acked), n in sorted(alerts.items())),
            "# HELP posdiag_records_ingested_total Records in uploads this process stored (repeats included).",
            "# TYPE posdiag_records_ingested_total counter",
            f"posdiag_records_ingested_total {self.counted['records']}",
            "# HELP posdiag_record_uploads_total Record uploads this process stored.",
            "# TYPE posdiag_record_uploads_total counter",
            f"posdiag_record_uploads_total {self.counted['record_uploads']}",
        ]
        if self.deliverer is not None:
            lines += [
                "# HELP posdiag_webhook_delivered_total Alerts this process delivered to the webhook.",
                "# TYPE posdiag_webhook_delivered_total counter",
                f"posdiag_webhook_delivered_total {self.deliverer.delivered}",
                "# HELP posdiag_webhook_failed_tries_total Webhook tries that failed, in this process.",
                "# TYPE posdiag_webhook_failed_tries_total counter",
                f"posdiag_webhook_failed_tries_total {self.deliverer.failed_tries}",
            ]
        return Response("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4; charset=utf-8")

    async def not_found(self, request: Request) -> Response:
        return _text(404, "not found\n")


def _text(status: int, text: str) -> Response:
    return Response(text, status, media_type="text/plain; charset=utf-8")


def _query_int(request: Request, name: str, default: int) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    if not text.isdigit() or len(text) > 12:
        raise Refusal(400, "query", f"{name} is a whole number")
    return int(text)


def make_app(store: Store, **options: Any) -> tuple[ASGIApp, Hub]:
    """The ASGI app over a store (options: Hub's)."""
    from host_tools.fleet.web import fleet_routes  # here: fleet.web builds on this module

    hub = Hub(store, **options)
    # uvicorn's access log would write whole links: off, whatever server
    # runs the app (_Edge logs each request with tokens cut short).
    logging.getLogger("uvicorn.access").disabled = True
    routes = [
        Route(hubwire.PATH_RECORDS, hub.post_records, methods=["POST"]),
        Route(hubwire.PATH_RECEIPTS, hub.post_receipts, methods=["POST"]),
        Route(hubwire.API + "/terminals/{terminal}/records", hub.post_records, methods=["POST"], name="op-records"),
        Route(hubwire.API + "/terminals/{terminal}/receipts", hub.post_receipts, methods=["POST"], name="op-receipts"),
        Route(hubwire.API + "/terminals/{terminal}/records", hub.terminal_records, methods=["GET"]),
        Route(hubwire.API + "/terminals/{terminal}/diagnosis", hub.terminal_diagnosis, methods=["GET"]),
        Route("/r/{token}", hub.page, methods=["GET", "HEAD"]),
        Route("/metrics", hub.metrics, methods=["GET"]),
        *fleet_routes(hub),
    ]

    async def missing(request: Request, exc: Exception) -> Response:
        if getattr(exc, "status_code", 404) == 405:
            return _text(405, "method not allowed\n")
        return _text(404, "not found\n")

    app = Starlette(routes=routes, exception_handlers={404: missing, 405: missing})
    return _Edge(app, hub.clock), hub
