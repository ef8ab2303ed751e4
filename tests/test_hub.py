"""`posdiag hub` against SQLite and a real PostgreSQL (tests/pg.py), over
HTTP to a real uvicorn server: signed uploads, replays and clocks, the same
answer to a repeat, malformed batches, limits and backpressure, a database
that stops and comes back, e-receipt pages, operators' access, logs that
never hold a secret, and a hub killed while a batch uploads."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from host_tools.hub import client as c
from host_tools.hub.app import SECURITY_HEADERS, make_app
from host_tools.hub.store import Store
from posdiag import ereceipt, hubwire, receipt
from posdiag import record as r
from tests.pg import Cluster, pg_cluster  # noqa: F401 - the session's cluster fixture

ROOT = Path(__file__).resolve().parent.parent
TEA = json.loads((ROOT / "tests" / "data" / "receipt-tea.json").read_text())
PAN = "6222021234567890128"
HEALTHY = [[0, b"\x16\x12\x12\x12", 17], 0, [0, 23, 31], [0, 352], [0, 24010, 40]]
PAPER_OUT = [[0x10, b"\x16\x12\x12\x72", 17], 1, [0, 23, 31], [0, 352], [0, 24010, 40]]


def rec(seq: int, checks: list | None = None) -> bytes:
    return bytes(r.encode(r.build(seq, 1, seq, 1767258000 + seq, r.TRIGGER_BOOT, checks or HEALTHY)))


def entry(token: str | None, expires: int | None, fields: dict | None = None) -> bytes:
    """A journal entry as the terminal keeps it (posdiag/ereceipt.py)."""
    fields = fields if fields is not None else receipt.sanitize(TEA)
    return bytes(ereceipt.entry(fields, token, expires, "https://h.example/r/"))


def new_token(n: int) -> str:
    return os.urandom(16).hex()


# -- the hub, in this process ---------------------------------------------------


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@dataclass
class Hub:
    url: str
    store: Store
    server: uvicorn.Server
    thread: threading.Thread
    log: Captured
    secrets: list[str] = field(default_factory=list)  # must never be logged

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.store.close()


def start_hub(db: str, log: Captured, **options: Any) -> Hub:
    store = Store(db, busy_timeout_ms=options.pop("busy_timeout_ms", 5000))
    app, _ = make_app(store, **options)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    server = uvicorn.Server(uvicorn.Config(app, access_log=False, log_config=None, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    return Hub(f"http://127.0.0.1:{sock.getsockname()[1]}", store, server, thread, log)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        return str(tmp_path_factory.mktemp("hub") / "hub.sqlite3")
    cluster: Cluster = request.getfixturevalue("pg_cluster")
    return cluster.url


@pytest.fixture(scope="module")
def hub(backend: str) -> Iterator[Hub]:
    log = Captured()
    root = logging.getLogger()
    old = root.level
    root.addHandler(log)
    root.setLevel(logging.INFO)
    h = start_hub(backend, log)
    yield h
    h.stop()
    root.removeHandler(log)
    root.setLevel(old)
    text = "\n".join(log.lines)
    assert re.search(r"^(GET|POST) /\S* \d{3} \d+ ms", text, re.M)  # the hub's log was captured at all
    for secret in h.secrets:
        assert secret not in text, "a secret in the hub's log"
    assert PAN not in text and not re.search(r"[0-9a-f]{32}", text)


_count = iter(range(1, 1 << 30))


@pytest.fixture
def terminal(hub: Hub) -> c.Terminal:
    name = f"T-{os.getpid()}-{next(_count)}"
    key = hub.store.add_terminal(name, "M-000777")
    hub.secrets.append(key)
    return c.Terminal(hub.url, name, bytes.fromhex(key))


@pytest.fixture
def operator(hub: Hub) -> dict[str, str]:
    token = hub.store.add_operator(f"op-{next(_count)}")
    hub.secrets.append(token)
    return c.bearer(token)


def records_of(hub: Hub, t: c.Terminal, op: dict[str, str]) -> list[dict]:
    a = c.request(hub.url, "GET", f"/api/v1/terminals/{t.terminal}/records?limit=1000", headers=op)
    assert a.status == 200, a.body
    return a.json()["records"]


# -- uploads ------------------------------------------------------------------------


def test_a_signed_batch_is_stored_and_a_repeat_answers_the_same(hub: Hub, terminal: c.Terminal, operator: dict) -> None:
    batch = [rec(s) for s in range(1, 6)] + [rec(6, PAPER_OUT)]
    first = terminal.records(batch)
    assert first.status == 200, first.body
    assert first.json() == {"terminal": terminal.terminal, "records": 6, "first": 1, "last": 6}
    again = terminal.records(batch)
    assert (again.status, again.body) == (first.status, first.body)
    stored = records_of(hub, terminal, operator)
    assert [x["seq"] for x in stored] == [1, 2, 3, 4, 5, 6]
    assert [bytes.fromhex(x["cbor"]) for x in stored] == batch  # exactly the terminal's bytes
    assert stored[0]["top_cause"] is None and stored[5]["top_cause"] == "paper-out"
    assert hub.store.count("records", terminal.terminal) == 6


def test_an_overlapping_batch_adds_only_the_new_records(hub: Hub, terminal: c.Terminal, operator: dict) -> None:
    assert terminal.records([rec(s) for s in range(1, 6)]).status == 200
    a = terminal.records([rec(s) for s in range(3, 9)])
    assert a.status == 200 and a.json() == {"terminal": terminal.terminal, "records": 6, "first": 3, "last": 8}
    assert [x["seq"] for x in records_of(hub, terminal, operator)] == list(range(1, 9))


def test_a_replayed_request_is_refused(hub: Hub, terminal: c.Terminal) -> None:
    body = hubwire.records_head(1) + rec(1)
    headers = c.signed_headers(terminal.key, terminal.terminal, hubwire.PATH_RECORDS, body, int(time.time()))
    assert c.request(hub.url, "POST", hubwire.PATH_RECORDS, body, headers).status == 200
    again = c.request(hub.url, "POST", hubwire.PATH_RECORDS, body, headers)
    assert again.status == 401 and again.json()["error"] == "replay"


def test_a_skewed_clock_is_answered_with_the_hubs_time(hub: Hub, terminal: c.Terminal) -> None:
    body = hubwire.records_head(1) + rec(1)
    wrong = int(time.time()) - 86400  # a terminal without a real-time clock
    headers = c.signed_headers(terminal.key, terminal.terminal, hubwire.PATH_RECORDS, body, wrong)
    a = c.request(hub.url, "POST", hubwire.PATH_RECORDS, body, headers)
    assert a.status == 401 and a.json()["error"] == "clock"
    assert abs(int(a.headers[hubwire.H_HUB_TIME.lower()]) - time.time()) < 5
    assert hub.store.count("records", terminal.terminal) == 0
    terminal.offset = -86400  # the client corrects its offset from the answer and signs again
    assert terminal.records([rec(1)]).status == 200 and abs(terminal.offset) < 5


@pytest.mark.parametrize(
    "change",
    ["key", "body", "path", "terminal", "unsigned", "nonce"],
)
def test_a_wrong_or_missing_signature_is_refused(hub: Hub, terminal: c.Terminal, change: str) -> None:
    body = hubwire.records_head(1) + rec(1)
    key, name, path = terminal.key, terminal.terminal, hubwire.PATH_RECORDS
    if change == "key":
        key = bytes(32)
    if change == "terminal":
        name = "NOBODY-1"
    if change == "path":
        path = hubwire.PATH_RECEIPTS
    headers = c.signed_headers(key, name, path, body, int(time.time()))
    if change == "body":
        body = hubwire.records_head(1) + rec(2)
    if change == "unsigned":
        del headers[hubwire.H_SIGNATURE]
    if change == "nonce":
        headers[hubwire.H_NONCE] = "not hex"
    a = c.request(hub.url, "POST", hubwire.PATH_RECORDS, body, headers)
    assert a.status == 401 and a.json()["error"] in ("signature", "unsigned"), a.body
    assert hub.store.count("records", terminal.terminal) == 0


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"", "empty body"),
        (b"\xa1\x00\x01", "a CBOR array"),
        (b"\x9f\xff", "definite length"),
        (b"\x82" + rec(1), "truncated batch"),
        (b"\x81" + rec(1)[:-2], "truncated"),
        (b"\x81\xa2\x00\x01\x01\x02", "not a posdiag record"),
        (b"\x82" + rec(1) + b"\xc1\x00", "a CBOR tag"),
        (b"\x81" + rec(1) + b"\x00", "1 bytes after"),
        (b"\x82" + rec(1) + rec(1)[:-1] + b"\x00", "twice with different bytes"),
    ],
)
def test_a_malformed_batch_is_a_clear_4xx_and_stores_nothing(
    hub: Hub, terminal: c.Terminal, body: bytes, why: str
) -> None:
    a = terminal.post(hubwire.PATH_RECORDS, body)
    assert a.status == 400, a.body
    assert a.json()["error"] == "malformed" and why in a.json()["message"], a.json()
    assert hub.store.count("records", terminal.terminal) == 0  # the good record before the bad one too


def test_a_body_over_the_limit_is_refused_before_it_is_read(hub: Hub, terminal: c.Terminal) -> None:
    port = int(hub.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(
            f"POST {hubwire.PATH_RECORDS} HTTP/1.1\r\nHost: x\r\nContent-Type: application/cbor\r\n"
            f"Content-Length: {hubwire.MAX_BODY + 1}\r\n\r\n".encode()
        )
        answer = s.recv(4096)  # no byte of the body sent
    assert answer.startswith(b"HTTP/1.1 413"), answer
    too_many = [rec(s) for s in range(1, hubwire.MAX_RECORDS + 3)]
    assert terminal.records(too_many).status == 413
    a = c.request(hub.url, "POST", hubwire.PATH_RECORDS, b"\x80", {"Content-Type": "text/plain"})
    assert a.status == 415


# -- receipts and their pages ---------------------------------------------------------


def test_a_receipt_page_answers_as_soon_as_it_is_uploaded(hub: Hub, terminal: c.Terminal) -> None:
    token = new_token(1)
    hub.secrets.append(token)
    body = entry(token, int(time.time()) + 3600)
    a = terminal.receipts([(7, body)])
    assert a.status == 200 and a.json() == {"terminal": terminal.terminal, "receipts": [7]}
    page = c.request(hub.url, "GET", f"/r/{token}")
    assert page.status == 200 and page.headers["content-type"].startswith("text/html")
    html = page.body.decode()
    assert "Corner Tea Shop" in html and "622202*********0128" in html and PAN not in html
    assert f"https://h.example/r/{token}" in html and 'name="viewport" content="width=device-width' in html
    for name, value in SECURITY_HEADERS.items():
        assert page.headers[name.lower()] == value
    again = terminal.receipts([(7, body)])
    assert (again.status, again.body) == (a.status, a.body)
    assert hub.store.count("receipts", terminal.terminal) == 1
    assert c.request(hub.url, "HEAD", f"/r/{token}").status == 200


def test_expired_unknown_and_other_paths(hub: Hub, terminal: c.Terminal) -> None:
    old, none = new_token(1), new_token(2)
    hub.secrets += [old, none]
    assert terminal.receipts([(1, entry(old, int(time.time()) - 1)), (2, entry(none, None))]).status == 200
    assert c.request(hub.url, "GET", f"/r/{old}").status == 410
    assert c.request(hub.url, "GET", f"/r/{none}").status == 200  # no expiry: the firmware's default lifetime
    for path in [f"/r/{new_token(3)}", "/r/", "/", "/r/../etc/passwd", f"/r/{old.upper()}", "/api/v1/receipts",
                 f"/r/{old}x", "/api/v1/terminals"]:
        a = c.request(hub.url, "GET", path)
        assert a.status in (404, 405), (path, a.status)  # nothing is listed
        assert a.headers["referrer-policy"] == "no-referrer"


def test_card_data_is_masked_or_refused_at_the_hub(hub: Hub, terminal: c.Terminal) -> None:
    token = new_token(1)
    hub.secrets.append(token)
    raw_fields = {**TEA, "note": f"card {PAN}"}  # an uploader that did not mask
    assert terminal.receipts([(1, entry(token, None, raw_fields))]).status == 200
    assert PAN not in c.request(hub.url, "GET", f"/r/{token}").body.decode()
    a = terminal.receipts([(2, entry(new_token(2), None, {**TEA, "cvv": "123"}))])
    assert a.status == 422 and a.json()["error"] == "card-data"
    bad = terminal.receipts([(3, b"\xa1\x00\x01")])
    assert bad.status == 400 and hub.store.count("receipts", terminal.terminal) == 1


# -- operators ------------------------------------------------------------------------


def test_operators_need_a_token(hub: Hub, terminal: c.Terminal, operator: dict) -> None:
    assert terminal.records([rec(1), rec(2, PAPER_OUT)]).status == 200
    path = f"/api/v1/terminals/{terminal.terminal}/records"
    assert c.request(hub.url, "GET", path).status == 401
    assert c.request(hub.url, "GET", path, headers=c.bearer("wrong")).status == 401
    assert c.request(hub.url, "GET", path, headers={"Authorization": "Basic eDp5"}).status == 401
    diag = c.request(hub.url, "GET", f"/api/v1/terminals/{terminal.terminal}/diagnosis", headers=operator)
    assert diag.status == 200 and diag.json()["newest"]["causes"][0]["id"] == "paper-out"
    assert c.request(hub.url, "GET", "/api/v1/terminals/NOBODY/records", headers=operator).status == 404
    for odd in ("%00", "a%0Ab", "%C3%A9", "x" * 65):  # no terminal's id: 404, never a database error
        for method, tail in (("GET", "records"), ("GET", "diagnosis"), ("POST", "records"), ("POST", "receipts")):
            a = c.request(hub.url, method, f"/api/v1/terminals/{odd}/{tail}", b"\x80" if method == "POST" else None,
                          {**operator, "Content-Type": hubwire.CONTENT_TYPE})
            assert a.status == 404, (odd, method, tail, a.status, a.body)


def test_a_technician_uploads_a_pulled_log(hub: Hub, terminal: c.Terminal, operator: dict) -> None:
    import cbor2

    item = cbor2.dumps({"posdiag": 1, "terminal": terminal.terminal, "firmware": "1.0"})
    body = hubwire.records_head(3) + item + rec(1) + rec(2)
    path = f"/api/v1/terminals/{terminal.terminal}/records"
    headers = {**operator, "Content-Type": hubwire.CONTENT_TYPE}
    assert c.request(hub.url, "POST", path, body, {"Content-Type": hubwire.CONTENT_TYPE}).status == 401
    a = c.request(hub.url, "POST", path, body, headers)
    assert a.status == 200 and a.json()["records"] == 2
    assert terminal.records([rec(2), rec(3)]).json()["last"] == 3  # the terminal's own upload meets it
    assert hub.store.count("records", terminal.terminal) == 3
    assert hub.store.terminal(terminal.terminal)["info"] == item  # type: ignore[index]


# -- backpressure ---------------------------------------------------------------------


def _slow_upload(url: str, t: c.Terminal, body: bytes) -> socket.socket:
    """A signed upload whose body stops after its first byte (held open)."""
    headers = c.signed_headers(t.key, t.terminal, hubwire.PATH_RECORDS, body, int(time.time()))
    port = int(url.rsplit(":", 1)[1])
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    head = f"POST {hubwire.PATH_RECORDS} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    s.sendall(head.encode() + body[:1])
    return s


def test_too_many_uploads_at_once_are_told_to_retry(backend: str, tmp_path: Path) -> None:
    log = Captured()
    h = start_hub(backend, log, max_inflight=1)
    try:
        name = f"B-{os.getpid()}-{next(_count)}"
        t = c.Terminal(h.url, name, bytes.fromhex(h.store.add_terminal(name)))
        body = hubwire.records_head(1) + rec(1)
        held = _slow_upload(h.url, t, body)
        time.sleep(0.2)
        a = t.records([rec(2)])
        assert a.status == 503 and a.headers["retry-after"] == "1" and a.json()["error"] == "busy"
        held.sendall(body[1:])
        assert held.recv(4096).startswith(b"HTTP/1.1 200")
        held.close()
        assert t.records([rec(2)]).status == 200
    finally:
        h.stop()


def test_a_database_that_stops_is_503_and_the_hub_recovers(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    log = Captured()
    h = start_hub(backend, log, busy_timeout_ms=200)
    try:
        name = f"D-{os.getpid()}-{next(_count)}"
        t = c.Terminal(h.url, name, bytes.fromhex(h.store.add_terminal(name)))
        token = new_token(1)
        assert t.records([rec(1)]).status == 200
        assert t.receipts([(1, entry(token, None))]).status == 200
        if backend.startswith("postgresql"):
            cluster: Cluster = request.getfixturevalue("pg_cluster")
            cluster.stop()
            restart = cluster.start
        else:  # SQLite: another process holds the write lock past the hub's patience
            blocker = sqlite3.connect(backend, isolation_level=None)
            blocker.execute("BEGIN EXCLUSIVE")
            restart = blocker.close
        try:
            down = t.records([rec(2)])
            assert down.status == 503 and down.headers["retry-after"] == "5", down.body
            assert down.json()["error"] == "unavailable"
            page = c.request(h.url, "GET", f"/r/{token}")
            if backend.startswith("postgresql"):
                assert page.status == 503 and page.headers["retry-after"] == "5"
            else:
                assert page.status == 200  # SQLite's WAL: a writer's lock does not stop readers
        finally:
            restart()
        up = t.records([rec(2)])
        assert up.status == 200 and up.json()["last"] == 2
        assert c.request(h.url, "GET", f"/r/{token}").status == 200
        assert h.store.count("records", name) == 2
    finally:
        h.stop()


# -- the hub as a process ---------------------------------------------------------------


def _cli(*args: str, **kwargs: Any) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "host_tools", *args], capture_output=True, text=True, timeout=60,
                          **kwargs)


class HubProcess:
    def __init__(self, db: str, port: int = 0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "host_tools", "hub", "--db", db, "--listen", f"127.0.0.1:{port}"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        m = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        assert m, line + (self.proc.stderr.read() if self.proc.stderr else "")
        self.url, self.port = m.group(0), int(m.group(1))

    def kill(self) -> str:
        self.proc.send_signal(signal.SIGKILL)
        _, err = self.proc.communicate(timeout=10)
        return err

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGINT)
        _, err = self.proc.communicate(timeout=10)
        return err


def test_a_hub_killed_while_a_batch_uploads_stores_it_once_on_retry(backend: str) -> None:
    name = f"K-{os.getpid()}-{next(_count)}"
    made = _cli("hub", "terminal", "add", name, "--db", backend)
    assert made.returncode == 0, made.stderr
    key = re.search(r"[0-9a-f]{64}", made.stdout)
    assert key, made.stdout
    batch = [rec(s, PAPER_OUT if s % 7 == 0 else None) for s in range(1, hubwire.MAX_RECORDS + 1)]
    body = hubwire.records_head(len(batch)) + b"".join(batch)
    logs = []
    hub = HubProcess(backend)
    port = hub.port
    t = c.Terminal(hub.url, name, bytes.fromhex(key.group(0)))
    for cut in (len(body) // 2, len(body)):  # killed mid-body, then with the whole batch in its hands
        s = _slow_upload(hub.url, t, body)
        s.sendall(body[1:cut])
        if cut == len(body):
            time.sleep(0.005)
        logs.append(hub.kill())
        s.close()
        store = Store(backend)
        try:  # a batch is one transaction: all of it or none of it survived the kill
            assert store.count("records", name) in ((0,) if cut < len(body) else (100, 256))
        finally:
            store.close()
        hub = HubProcess(backend, port)
        t.base_url = hub.url
        assert t.records(batch[:100]).status == 200  # a retry of part of it, then all of it
    a = t.records(batch)
    assert a.status == 200 and a.json() == {"terminal": name, "records": 256, "first": 1, "last": 256}
    assert (t.records(batch).body) == a.body  # and once more: the same answer
    store = Store(backend)
    try:
        assert store.count("records", name) == 256
        assert [row.raw for row in store.records(name, 0, 1000)] == batch  # each once, exactly as sent
    finally:
        store.close()
    logs.append(hub.stop())
    text = "\n".join(logs)
    assert "POST /api/v1/records 200" in text and key.group(0) not in text and "Traceback" not in text


def test_the_command_line_says_what_is_wrong_in_one_line(backend: str, tmp_path: Path) -> None:
    bad = _cli("hub", "--db", str(tmp_path / "no" / "such" / "hub.db"), "--listen", "127.0.0.1:0")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    (tmp_path / "junk.db").write_bytes(b"not a database at all, " * 100)
    junk = _cli("hub", "--db", str(tmp_path / "junk.db"), "--listen", "127.0.0.1:0")
    assert junk.returncode == 5 and len(junk.stderr.strip().splitlines()) == 1, junk.stderr
    made = _cli("hub", "terminal", "add", "URL-1", "--db", f"sqlite://{tmp_path}/url.db")
    assert made.returncode == 0 and (tmp_path / "url.db").is_file(), made.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        busy = _cli("hub", "--db", backend, "--listen", f"127.0.0.1:{taken.getsockname()[1]}")
    assert busy.returncode == 3 and "cannot listen" in busy.stderr and len(busy.stderr.strip().splitlines()) == 1
    name = f"op-{os.getpid()}-{next(_count)}"
    first = _cli("hub", "token", "add", name, "--db", backend)
    assert first.returncode == 0 and re.search(r"[A-Za-z0-9_-]{40,}", first.stdout), first.stderr
    twice = _cli("hub", "token", "add", name, "--db", backend)
    assert twice.returncode == 5 and "exists" in twice.stderr and len(twice.stderr.strip().splitlines()) == 1
    if backend.startswith("postgresql"):
        gone = _cli("hub", "--db", backend.replace("port=", "port=1"), "--listen", "127.0.0.1:0")
        assert gone.returncode == 3 and len(gone.stderr.strip().splitlines()) == 1, gone.stderr


_ = Callable  # typing helper kept for fixtures' signatures


def test_the_page_reads_on_a_360_px_phone_in_chromium(tmp_path: Path) -> None:
    """Headless Chromium at a 360-px-wide phone's size: the page's text is
    there and its QR code (its own link, drawn in the page) reads."""
    import zxingcpp
    from PIL import Image

    from tests.test_ereceipt import browse

    h = start_hub(str(tmp_path / "hub.sqlite3"), Captured())
    try:
        t = c.Terminal(h.url, "PHONE-1", bytes.fromhex(h.store.add_terminal("PHONE-1")))
        token = new_token(1)
        body = bytes(ereceipt.entry(receipt.sanitize(TEA), token, None, h.url + "/r/"))
        assert t.receipts([(1, body)]).status == 200
        url = f"{h.url}/r/{token}"
        dom = browse(url, tmp_path, "--dump-dom", "--window-size=360,800")
        assert "Corner Tea Shop" in dom.stdout and "136.00" in dom.stdout, dom.stderr[-2000:]
        shot = tmp_path / "phone.png"
        run = browse(url, tmp_path, f"--screenshot={shot}", "--window-size=360,1400", "--hide-scrollbars")
        assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
        assert Image.open(shot).size[0] == 360
        assert [code.text for code in zxingcpp.read_barcodes(Image.open(shot))] == [url]
    finally:
        h.stop()


# -- a technician's uploads ----------------------------------------------------------


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_posdiag_upload_sends_a_pulled_file_once(hub: Hub, terminal: c.Terminal, tmp_path: Path) -> None:
    from host_tools.records import PulledLog

    token = hub.store.add_operator(f"tech-{next(_count)}")
    hub.secrets.append(token)
    path = tmp_path / "log.cbor"
    PulledLog({"posdiag": 1, "terminal": terminal.terminal}, [rec(s) for s in range(1, 301)]).save(str(path))
    env = {**os.environ, "POSDIAG_HUB_TOKEN": token}
    first = _cli("upload", str(path), "--hub", hub.url, env=env)
    assert first.returncode == 0, first.stderr
    assert f"300 records of {terminal.terminal} (seq 1..300) stored on {hub.url}" in first.stdout
    again = _cli("upload", str(path), "--hub", hub.url, env=env)
    assert (again.returncode, again.stdout) == (0, first.stdout)
    assert hub.store.count("records", terminal.terminal) == 300
    damaged = tmp_path / "damaged.cbor"
    data = path.read_bytes()
    damaged.write_bytes(data[:-60] + b"\xff" * 40 + rec(301))
    d = _cli("upload", str(damaged), "--hub", hub.url, env=env)
    assert d.returncode == 5 and "intact records were uploaded" in d.stderr, d.stderr
    assert hub.store.count("records", terminal.terminal) == 301
    no_env = {k: v for k, v in os.environ.items() if k != "POSDIAG_HUB_TOKEN"}
    for args, code in [
        ((), 6),  # no token
        (("--token", "wrong"), 6),
        (("--token", token, "--terminal", "NOBODY"), 5),
    ]:
        p = _cli("upload", str(path), "--hub", hub.url, *args, env=no_env)
        assert p.returncode == code and len(p.stderr.strip().splitlines()) == 1, (args, p.stderr)
        assert token not in p.stderr + p.stdout
    down = _cli("upload", str(path), "--hub", _dead_url(), env=env)
    assert down.returncode == 3 and "cannot reach the hub" in down.stderr


def test_receipts_pulled_over_serial_reach_the_hub_before_their_ack(
    hub: Hub, start_sim: Callable[..., Any], tmp_path: Path
) -> None:
    from host_tools.sim.runner import DEMO_KEY

    name = f"SIM-{next(_count)}"
    hub.secrets.append(hub.store.add_terminal(name))
    token = hub.store.add_operator(f"tech-{next(_count)}")
    hub.secrets.append(token)
    sim = start_sim("--failed-print", str(ROOT / "tests" / "data" / "receipt-tea.json"), "--receipt-url",
                    f"{hub.url}/r/", "--terminal-id", name, "--lang", "en")
    env = {**os.environ, "POSDIAG_HUB_TOKEN": token, "POSDIAG_KEY": DEMO_KEY}
    out = tmp_path / "receipts"
    down = _cli("receipts", sim.port, "--out", str(out), "--hub", _dead_url(), env=env)
    assert down.returncode == 3, down.stderr  # not on the hub: not acknowledged
    got = _cli("receipts", sim.port, "--out", str(out), "--hub", hub.url, env=env)
    assert got.returncode == 0 and f"1 pending receipts saved in {out}, stored on {hub.url}," in got.stdout, got
    url = json.loads((out / f"{name}-1.json").read_text())["url"]
    hub.secrets.append(url.rsplit("/", 1)[1])
    page = c.request(hub.url, "GET", urllib_path(url))
    assert page.status == 200 and "Corner Tea Shop" in page.body.decode()
    assert "0 pending receipts" in _cli("receipts", sim.port, "--out", str(out), "--hub", hub.url, env=env).stdout
    assert hub.store.count("receipts", name) == 1


def urllib_path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def test_a_kept_page_still_expires(tmp_path: Path) -> None:
    now = [time.time()]
    h = start_hub(str(tmp_path / "hub.sqlite3"), Captured(), clock=lambda: now[0])
    try:
        t = c.Terminal(h.url, "EXP-1", bytes.fromhex(h.store.add_terminal("EXP-1")))
        token = new_token(1)
        assert t.receipts([(1, entry(token, int(now[0]) + 60))]).status == 200
        assert c.request(h.url, "GET", f"/r/{token}").status == 200  # rendered, and kept
        assert c.request(h.url, "GET", f"/r/{token}").status == 200
        now[0] += 61
        assert c.request(h.url, "GET", f"/r/{token}").status == 410
    finally:
        h.stop()


def test_a_body_that_does_not_arrive_is_408(tmp_path: Path) -> None:
    h = start_hub(str(tmp_path / "hub.sqlite3"), Captured(), body_time_s=0.5)
    try:
        t = c.Terminal(h.url, "SLOW-1", bytes.fromhex(h.store.add_terminal("SLOW-1")))
        held = _slow_upload(h.url, t, hubwire.records_head(1) + rec(1))
        started = time.monotonic()
        answer = held.recv(4096)
        assert answer.startswith(b"HTTP/1.1 408") and time.monotonic() - started < 3, answer
        held.close()
        assert t.records([rec(1)]).status == 200  # its slot is free again
    finally:
        h.stop()
