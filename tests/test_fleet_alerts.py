"""Fleet alerts end to end (docs/fleet.md): a real `posdiag hub` process on
SQLite and on a throwaway PostgreSQL, uploads through its API, a webhook
receiver started here. A scripted scenario raises each kind of alert once;
a webhook that is down, then a hub killed with SIGKILL, lose none of them;
a repeated upload raises nothing again; /metrics counts them."""

from __future__ import annotations

import http.server
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import cbor2
import pytest

from host_tools.fleet.queries import Fleet
from host_tools.hub import client as c
from host_tools.hub.store import Store
from posdiag import hubwire
from posdiag import record as r
from tests.pg import Cluster, pg_cluster  # noqa: F401 - the session's cluster fixture

pytestmark = pytest.mark.pty  # servers and processes

HEALTHY = [12, 0, 5, 350, 24000]
COVER_OPEN = [12, 4, 5, 350, 24000]
PAPER_OUT = [12, 1, 5, 350, 24000]
OVERHEAT = [12, 0, 5, [1, 712], 24000]  # head flag 1: over temperature, 71.2 C
SPREAD_MODEL = "GP-L80160"


class Webhook:
    """An HTTP receiver that answers 503 while down, 200 when up, and keeps
    every body it was sent (with the answer it gave)."""

    def __init__(self) -> None:
        self.up = False
        self.got: list[tuple[int, dict]] = []
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status = 200 if hook.up else 503
                hook.got.append((status, body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/posdiag"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def delivered(self) -> list[dict]:
        return [body for status, body in self.got if status == 200]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class HubProcess:
    def __init__(self, db: str, webhook: str, port: int = 0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "host_tools", "hub", "--db", db, "--listen", f"127.0.0.1:{port}",
             "--webhook", webhook, "--set", "alert_spread_terminals=3"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        m = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        assert m, line + (self.proc.stderr.read() if self.proc.stderr else "")
        self.url, self.port = m.group(0), int(m.group(1))

    def end(self, sig: int) -> str:
        self.proc.send_signal(sig)
        _, err = self.proc.communicate(timeout=15)
        return err


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "hub.sqlite3")
    cluster: Cluster = request.getfixturevalue("pg_cluster")
    return cluster.database(f"fleet_alerts_{os.getpid()}")  # the counts are this test's alone


def _item(terminal: str, model: str) -> dict:
    return {"posdiag": 1, "terminal": terminal, "firmware": "0.9.1", "printer": {"name": model, "model": 32},
            "boot": 3, "oldest": 1, "newest": 9, "drops": 0, "torn": 0, "auth_failures": 0, "receipts": 0,
            "counters": [1000, 10, 100], "printer_counters": [None, None, None]}


def _batch(terminal: str, model: str, records: list[tuple[int, int, list, int, list | None]]) -> bytes:
    """A technician's upload: the terminal item, then (seq, time, checks, trigger, counters) records."""
    body = [cbor2.dumps(_item(terminal, model))]
    for seq, when, checks, trigger, counters in records:
        body.append(r.encode(r.build(seq, 3, 60, when, trigger, checks, counters=counters)))
    return hubwire.records_head(len(body)) + b"".join(body)


def _post(url: str, op: dict[str, str], terminal: str, body: bytes) -> None:
    a = c.request(url, "POST", f"/api/v1/terminals/{terminal}/records", body,
                  {**op, "Content-Type": hubwire.CONTENT_TYPE})
    assert a.status == 200, a.body


def _until(what: str, check: Any, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < end, f"waited {timeout} s for {what}"
        time.sleep(0.1)


def test_each_alert_fires_once_and_reaches_the_webhook_across_a_killed_hub(backend: str) -> None:
    store = Store(backend)
    store.migrate()
    token = store.add_operator("ops")
    terminals = ["RED-1", "PAPER-1", "HOT-1", "HOT-2", "HOT-3", "HOT-4"]
    for t in terminals:
        store.add_terminal(t, merchant="茶餐厅 Tea House")
    store.close()
    op = c.bearer(token)
    hook = Webhook()
    hub = HubProcess(backend, hook.url)
    now = int(time.time())
    day = 86400
    try:
        # A terminal healthy an hour ago, then the cover left open: red.
        _post(hub.url, op, "RED-1", _batch("RED-1", "TM-T88", [(1, now - 7200, HEALTHY, 0, None)]))
        _post(hub.url, op, "RED-1", _batch("RED-1", "TM-T88", [(2, now - 3600, COVER_OPEN, 0, None)]))
        # A roll changed five days ago at 15 m a day: about 5 m left, out within a day.
        paper = [(1, now - 5 * day, PAPER_OUT, 0, None), (2, now - 4 * day, HEALTHY, 3, [1000, 10, 100]),
                 (3, now - day, HEALTHY, 3, [46000, 40, 400])]
        _post(hub.url, op, "PAPER-1", _batch("PAPER-1", "TM-T88", paper))
        # Overheating on three printers of one model today: it spreads.
        for i, t in enumerate(("HOT-1", "HOT-2", "HOT-3")):
            _post(hub.url, op, t, _batch(t, SPREAD_MODEL, [(1, now - 600 + i, OVERHEAT, 0, None)]))
        # One of another model does not count toward the spread of this one.
        _post(hub.url, op, "HOT-4", _batch("HOT-4", "TM-T88", [(1, now - 500, OVERHEAT, 0, None)]))

        # The webhook is down: the hub keeps trying; then it is killed.
        _until("a failed webhook try", lambda: len(hook.got) >= 1)
        err = hub.end(signal.SIGKILL)
        assert "Traceback" not in err
        assert hook.delivered() == []

        # Back up, the webhook takes them: every alert arrives, none lost.
        hook.up = True
        hub = HubProcess(backend, hook.url, hub.port)
        _until("three alerts delivered", lambda: len({b["id"] for b in hook.delivered()}) >= 3)
        # A repeated upload of a batch raises nothing again.
        _post(hub.url, op, "RED-1", _batch("RED-1", "TM-T88", [(2, now - 3600, COVER_OPEN, 0, None)]))
        _post(hub.url, op, "HOT-1", _batch("HOT-1", SPREAD_MODEL, [(1, now - 600, OVERHEAT, 0, None)]))

        time.sleep(1.5)  # a poll of the deliverer: anything new would go out now
        metrics = c.request(hub.url, "GET", "/metrics", headers=op)
        assert c.request(hub.url, "GET", "/metrics").status == 401
        err = hub.end(signal.SIGINT)
        assert "Traceback" not in err and token not in err
    finally:
        if hub.proc.poll() is None:
            hub.end(signal.SIGKILL)
        hook.close()

    delivered = hook.delivered()
    kinds = sorted(b["kind"] for b in delivered)
    assert kinds == ["cause-spreads", "paper-runs-out", "terminal-red"], delivered
    by_kind = {b["kind"]: b for b in delivered}
    assert by_kind["terminal-red"]["terminal"] == "RED-1" and by_kind["terminal-red"]["cause"] == "cover-open"
    assert by_kind["paper-runs-out"]["terminal"] == "PAPER-1"
    assert 0 < by_kind["paper-runs-out"]["detail"]["left_m"] < 6
    spread = by_kind["cause-spreads"]
    assert spread["model"] == SPREAD_MODEL and spread["cause"] == "head-overheat" and spread["detail"]["terminals"] == 3

    store = Store(backend)
    try:
        fleet = Fleet(store)
        alerts = fleet.alerts()
        assert sorted(a["id"] for a in alerts) == sorted(b["id"] for b in delivered)
        assert all(a["delivered"] and a["acked_by"] is None for a in alerts)
        assert fleet.ack(alerts[0]["id"], "ops") and not fleet.ack("0" * 16, "ops")
        assert fleet.alerts(open_only=True) == alerts[1:]
        assert fleet.ack(alerts[0]["id"], "someone else")  # the first acknowledgement stands
        assert fleet.alerts()[0]["acked_by"] == "ops"
    finally:
        store.close()

    text = metrics.body.decode()
    assert metrics.status == 200, text
    assert 'posdiag_terminals{light="fault"} 5' in text  # RED-1 and the four overheating
    assert 'posdiag_terminals{light="healthy"} 1' in text
    assert 'posdiag_alerts{kind="terminal-red",acked="false"} 1' in text
    assert re.search(r"^posdiag_records_ingested_total 2$", text, re.M)  # this process: the two repeats


def test_the_hub_refuses_a_wrong_webhook_or_setting_in_one_line(tmp_path: Path) -> None:
    db = str(tmp_path / "h.sqlite3")
    for args, said in (
        (["--webhook", "ftp://x"], "a webhook is an http:// or https:// URL"),
        (["--set", "roll_m"], "wants NAME=NUMBER"),
        (["--set", "rolls=3"], "no fleet setting 'rolls'"),
        (["--set", "roll_m=0"], "roll_m takes a number above 0"),
    ):
        got = subprocess.run([sys.executable, "-m", "host_tools", "hub", "--db", db, *args],
                             capture_output=True, text=True, timeout=60)
        assert got.returncode == 2, got.stderr
        assert said in got.stderr and len(got.stderr.strip().splitlines()) == 1 and "Traceback" not in got.stderr
