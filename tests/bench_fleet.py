"""The fleet view's bench (docs/fleet.md): 10,000 terminals at 100,000 and
at 1,000,000 records, on SQLite and on a throwaway PostgreSQL (tests/pg.py).

- Ingest: records/s through put_records (the summaries folded in, the hub's
  path after app.parse_records) beside a bare executemany of the same rows
  into a table of the records' shape, same batches, one transaction each.
- Each list: Fleet's method beside the bare SQL behind it, run on the same
  store's connections; each page (host_tools/fleet/web.py) through an
  in-process ASGI request, when the pages are there. Median of a few runs.
  The goal: a page as fast at 1M records as at 100k, and <= 2x its bare
  query.

Run: .venv/bin/python tests/bench_fleet.py [--terminals N] [--sizes 100000,1000000]
(tests/bench.py runs it with the defaults)."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import fleet_gen as gen

RUNS = 5  # each query: the median of this many
BARE_SAMPLE = 100_000  # records the bare executemany inserts for the comparison
BARE_SQL = (
    "INSERT INTO bare_records (terminal, seq, raw, received, trigger_id, rec_time, top_cause) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (terminal, seq) DO NOTHING"
)
BARE_TABLE = (
    "CREATE TABLE IF NOT EXISTS bare_records (terminal TEXT NOT NULL, seq BIGINT NOT NULL, raw BYTEA NOT NULL, "
    "received BIGINT NOT NULL, trigger_id INTEGER NOT NULL, rec_time BIGINT, top_cause TEXT, "
    "PRIMARY KEY (terminal, seq))"
)


def _median_ms(fn: Callable[[], Any], runs: int = RUNS) -> float:
    fn()  # warm: the first run pays for the plan and the cache
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


# -- loading -----------------------------------------------------------------------------


def _load(store: Any, terminals: Any, provision: bool) -> tuple[int, float, float]:
    """(records, seconds in parse_records, seconds in put_records)."""
    from host_tools.hub.app import parse_records

    n = 0
    parse_s = put_s = 0.0
    for term in terminals:
        if provision:
            store.add_terminal(term.terminal, merchant=term.merchant)
        item = term.item_bytes()
        for chunk, received in gen.batches(term):
            t0 = time.perf_counter()
            info, rows = parse_records(gen.body(item, chunk))
            t1 = time.perf_counter()
            store.put_records(term.terminal, rows, info=info, now=received)
            put_s += time.perf_counter() - t1
            parse_s += t1 - t0
            n += len(chunk)
    return n, parse_s, put_s


def _bare_rate(url: str, terminals: int, per: int) -> float:
    """Records/s of a bare executemany of the rows parse_records gives for
    the same kind of batches, into bare_records (one transaction each)."""
    from host_tools.hub.app import parse_records

    batches = []
    count = 0
    for term in gen.bulk_records(terminals, terminals * per, per_terminal=per):
        for chunk, received in gen.batches(term):
            _, rows = parse_records(gen.body(term.item_bytes(), chunk))
            batches.append([(term.terminal, r.seq, r.raw, received, r.trigger, r.time, r.top_cause) for r in rows])
            count += len(rows)
        if count >= BARE_SAMPLE:
            break
    if url.startswith("postgresql"):
        import psycopg

        with psycopg.connect(url) as conn, conn.cursor() as cur:
            cur.execute(BARE_TABLE)
            conn.commit()
            t0 = time.perf_counter()
            for batch in batches:
                cur.executemany(BARE_SQL.replace("?", "%s"), batch)
                conn.commit()
            took = time.perf_counter() - t0
            cur.execute("DROP TABLE bare_records")
            conn.commit()
        return count / took
    import sqlite3

    conn = sqlite3.connect(url, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")  # as the hub commits
    conn.execute(BARE_TABLE)
    t0 = time.perf_counter()
    for batch in batches:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(BARE_SQL, batch)
        conn.execute("COMMIT")
    took = time.perf_counter() - t0
    conn.execute("DROP TABLE bare_records")
    conn.close()
    return count / took


# -- the lists and their bare queries ------------------------------------------------------


def _bare_queries(now: int) -> dict[str, list[tuple[str, tuple]]]:
    """The SQL behind each Fleet list (migration 0002's tables), as the
    statements the list needs, run bare."""
    cutoff = now - 36 * 3600
    shown = "CASE WHEN last_seen < ? THEN 'silent' ELSE light END"
    order = "CASE WHEN last_seen < ? THEN 2 WHEN light = 'fault' THEN 0 WHEN light = 'warning' THEN 1 ELSE 3 END"
    cols = (
        "terminal, merchant, model, firmware, last_seen, last_seq, last_time, light, top_cause, category, records, "
        "operator_events, p0_time, p0_mm, p1_time, p1_mm, roll_change, roll_mm, head_mm, cuts, overheats, "
        "power_events, silences, flaps, runs_out"
    )
    first_day = time.strftime("%Y-%m-%d", time.gmtime(now - 29 * 86400))
    return {
        "terminals": [
            (f"SELECT {shown} AS l, COUNT(*) FROM terminal_state GROUP BY l", (cutoff,)),
            ("SELECT COUNT(*) FROM terminal_state WHERE 1 = 1", ()),
            (
                f"SELECT {shown}, terminal, merchant, top_cause, category, model, firmware, last_seen, last_time, "
                f"records FROM terminal_state ORDER BY {order}, terminal LIMIT 100 OFFSET 0",
                (cutoff, cutoff),
            ),
        ],
        "causes": [
            ("SELECT day, category, SUM(records) FROM cause_days WHERE day >= ? GROUP BY day, category", (first_day,)),
            ("SELECT DISTINCT model FROM cause_days ORDER BY model", ()),
            ("SELECT DISTINCT firmware FROM cause_days ORDER BY firmware", ()),
        ],
        "paper": [
            (f"SELECT {cols} FROM terminal_state WHERE runs_out IS NOT NULL ORDER BY runs_out, terminal LIMIT 500", ()),
            (
                f"SELECT {cols} FROM terminal_state WHERE runs_out <= ? ORDER BY merchant, runs_out, terminal",
                (now + 7 * 86400,),
            ),
        ],
        "training": [
            ("SELECT merchant, COUNT(*), SUM(records), SUM(operator_events) FROM terminal_state GROUP BY merchant", ()),
            (
                "SELECT s.merchant, c.cause, SUM(c.records) FROM terminal_causes c "
                "JOIN terminal_state s ON s.terminal = c.terminal "
                "WHERE c.cause IN ('cover-open', 'link-garbled', 'paper-loaded-backwards', 'printer-busy-offline', "
                "'software-mismatch') GROUP BY s.merchant, c.cause",
                (),
            ),
        ],
        "service": [
            (
                f"SELECT {cols} FROM terminal_state WHERE head_mm >= ? OR cuts >= ? OR overheats >= 3 OR flaps >= 1 "
                "OR power_events >= 2",
                (90_000_000, 450_000),
            ),
        ],
        "silent": [
            (
                "SELECT terminal, merchant, last_seen FROM terminal_state WHERE last_seen < ? "
                "ORDER BY last_seen, terminal",
                (cutoff,),
            ),
        ],
    }


PAGES = {
    "terminals": "/fleet/",
    "causes": "/fleet/causes",
    "paper": "/fleet/paper",
    "training": "/fleet/training",
    "service": "/fleet/service",
    "silent": "/fleet/silent",
}


class _Pages:
    """The fleet pages in this process: an ASGI request straight to the app
    (no socket), signed in with an operator's cookie."""

    def __init__(self, store: Any, clock: Callable[[], float]) -> None:
        from starlette.applications import Starlette

        from host_tools.fleet import web
        from host_tools.hub.app import make_app

        _, hub = make_app(store, clock=clock) if _takes_clock() else make_app(store)
        self.app = Starlette(routes=web.fleet_routes(hub))
        self.cookie = f"{web.COOKIE}={store.add_operator(f'bench-{time.monotonic_ns()}')}"
        self.loop = asyncio.new_event_loop()

    def get(self, path: str) -> tuple[int, int]:
        return self.loop.run_until_complete(self._get(path))

    async def _get(self, path: str) -> tuple[int, int]:
        status = 0
        size = 0
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"127.0.0.1"), (b"cookie", self.cookie.encode())],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
        }

        async def receive() -> dict:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict) -> None:
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, size

    def close(self) -> None:
        self.loop.close()


def _takes_clock() -> bool:
    import inspect

    from host_tools.hub.app import Hub

    return "clock" in inspect.signature(Hub).parameters


def _measure(store: Any, fleet: Any, pages: _Pages | None, now: int) -> dict[str, tuple[float, float, float | None]]:
    """{list: (Fleet ms, bare ms, page ms)}."""
    bare = _bare_queries(now)
    calls = {
        "terminals": lambda: fleet.terminals(),
        "causes": lambda: fleet.causes(),
        "paper": lambda: fleet.paper(),
        "training": lambda: fleet.training(),
        "service": lambda: fleet.service(),
        "silent": lambda: fleet.silent(),
    }
    out = {}
    for name, call in calls.items():
        statements = bare[name]

        def run_bare(statements: list = statements) -> None:
            store.transaction(lambda ex: [ex(sql, params).fetchall() for sql, params in statements], False)

        page_ms = None
        if pages is not None:
            status, _ = pages.get(PAGES[name])
            if status == 200:
                page_ms = _median_ms(lambda name=name: pages.get(PAGES[name]))
            else:
                print(f"    page {PAGES[name]}: status {status}")
        out[name] = (_median_ms(call), _median_ms(run_bare), page_ms)
    return out


def _shown(times: tuple[float, float, float | None]) -> float:
    """The page's time, else Fleet's."""
    return times[2] if times[2] is not None else times[0]


def _pages_ready() -> bool:
    try:
        from host_tools.fleet import web
    except ImportError:
        return False
    return hasattr(web, "fleet_routes")


def fleet_bench(terminals: int = 10_000, sizes: tuple[int, ...] = (100_000, 1_000_000)) -> None:
    from host_tools.fleet.queries import Fleet
    from host_tools.hub.store import Store
    from tests import pg

    started = time.perf_counter()
    now = gen.NOW
    print(f"fleet view: {terminals:,} terminals at {', '.join(f'{s:,}' for s in sizes)} records (same run)")
    with tempfile.TemporaryDirectory() as tmp:
        dbs = [("SQLite", str(Path(tmp) / "fleet.sqlite3"))]
        cluster = None
        if pg.available():
            cluster = pg.Cluster()
            dbs.append(("PostgreSQL", cluster.url))
        else:
            print("  PostgreSQL (initdb, pg_ctl) is not installed: SQLite only")
        try:
            for label, url in dbs:
                store = Store(url)
                store.migrate()
                clock = [now]

                def hub_clock(clock: list[int] = clock) -> float:
                    return clock[0]

                fleet = Fleet(store, clock=hub_clock)
                pages = _Pages(store, hub_clock) if _pages_ready() else None
                if pages is None:
                    print("  (host_tools/fleet/web.py has no fleet_routes yet: no page times)")
                loaded = 0
                results = {}
                for size in sizes:
                    per = size // terminals - loaded // terminals
                    t0 = time.perf_counter()
                    made = gen.bulk_records(
                        terminals, terminals * per, first_seq=loaded // terminals + 1, per_terminal=per
                    )
                    n, parse_s, put_s = _load(store, made, provision=loaded == 0)
                    took = time.perf_counter() - t0
                    loaded += n
                    bare = _bare_rate(url, terminals, per)
                    # The hub's clock an hour after the newest record (bulk_records
                    # spreads 100 records a terminal over 30 days).
                    clock[0] = (
                        now - gen.SPAN_DAYS * gen.DAY + gen.SPAN_DAYS * gen.DAY * (loaded // terminals) // 101 + 7200
                    )
                    print(
                        f"  {label}: loaded {n:,} records in {took:.1f} s (to {loaded:,}); put_records with summaries "
                        f"{n / put_s:,.0f} records/s, parse_records {n / parse_s:,.0f}/s; bare executemany "
                        f"{bare:,.0f}/s; summaries {n / put_s / bare:.2f} of bare"
                    )
                    results[size] = _measure(store, fleet, pages, clock[0])
                    print(
                        f"  {label} at {loaded:,} records (ms, median of {RUNS}):   Fleet    bare  ratio    page  "
                        "page/bare"
                    )
                    for name, (f_ms, b_ms, p_ms) in results[size].items():
                        page = f"{p_ms:7.2f} {p_ms / b_ms:9.2f}" if p_ms is not None else "      -         -"
                        print(f"    {name:10}{'':30}{f_ms:7.2f} {b_ms:7.2f} {f_ms / b_ms:6.2f} {page}")
                if len(sizes) > 1:
                    first, last = results[sizes[0]], results[sizes[-1]]
                    growth = ", ".join(f"{name} {_shown(last[name]) / _shown(first[name]):.2f}" for name in first)
                    print(f"  {label}: page (else Fleet) time at {sizes[-1]:,} / at {sizes[0]:,}: {growth}")
                if pages is not None:
                    pages.close()
                store.close()
        finally:
            if cluster is not None:
                cluster.remove()
    print(f"  fleet bench took {time.perf_counter() - started:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--terminals", type=int, default=10_000)
    parser.add_argument("--sizes", default="100000,1000000", help="record counts, comma-separated, rising")
    args = parser.parse_args()
    fleet_bench(args.terminals, tuple(int(s) for s in args.sizes.split(",")))


if __name__ == "__main__":
    main()
