"""The fleet view's bench (docs/fleet.md): 10,000 terminals at 100,000 and
at 1,000,000 records, on SQLite and on a throwaway PostgreSQL (tests/pg.py).

- The fleet: tests/fleet_gen.bulk_records, the same terminals (kinds,
  merchants, printers, paper use, wear, where their events fall) at every
  size, their records over the same 30 days: 10 a terminal at 100k, 100 at
  1M, the same fleet observed ten times as often. So the lists have about
  the same members at both sizes (printed beside the times) and only the
  records behind them grow. Each size is loaded into a database of its own
  through the hub's path (app.parse_records, then store.put_records).
- Ingest: records/s through put_records (the summaries folded in), and at
  the largest size a bare executemany of the same rows into a table of the
  records' shape, same batches, one transaction each.
- Each page: its time through the hub's whole app (make_app, an in-process
  ASGI GET with an operator's cookie), the Fleet calls it makes, and the
  bare SQL behind it: the statements that fetch the rows the page shows,
  nothing more, on the same store's connections. Median of RUNS runs.
  The now, paper (its terminals), service and silent pages show their
  first page of PAGE_SIZE rows: the bare SQL is then the same ORDER BY
  ... LIMIT query and the count the pager shows.
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

RUNS = 11  # each query: the median of this many (a shared machine: 5 was noisy)
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
    for term in gen.bulk_records(terminals, per):
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

# The columns the paper and service lists read (host_tools/fleet/queries.py's _PAPER, _SERVICE).
PAPER_COLS = "terminal, merchant, p0_time, p0_mm, p1_time, p1_mm, roll_mm"
SERVICE_COLS = "terminal, merchant, model, head_mm, cuts, printer_cuts, overheats, silences, power_events"
OPERATOR = "('cover-open', 'link-garbled', 'paper-loaded-backwards', 'printer-busy-offline', 'software-mismatch')"
PAGE_SIZE = 50  # rows on the first page of /fleet/ and of the long lists (webkit.PAGE_SIZE)


def _bare_queries(now: int) -> dict[str, Callable[[Callable[..., Any]], int]]:
    """Per page, the SQL that fetches the rows the page shows, and nothing
    more: the same statements as Fleet's, the settings written in as the
    defaults (docs/fleet.md) except on the paper page, which shows them.
    Each returns the rows it fetched."""
    cutoff = now - 36 * 3600
    shown = "CASE WHEN last_seen < ? THEN 'silent' ELSE light END"
    order = "CASE WHEN last_seen < ? THEN 2 WHEN light = 'fault' THEN 0 WHEN light = 'warning' THEN 1 ELSE 3 END"
    first_day = time.strftime("%Y-%m-%d", time.gmtime(now - 29 * 86400))

    def rows(ex: Callable[..., Any], statements: list[tuple[str, tuple]]) -> int:
        return sum(len(ex(sql, params).fetchall()) for sql, params in statements)

    def terminals(ex: Callable[..., Any]) -> int:
        return rows(
            ex,
            [
                (f"SELECT {shown} AS l, COUNT(*) FROM terminal_state GROUP BY l", (cutoff,)),
                ("SELECT COUNT(*) FROM terminal_state WHERE 1 = 1", ()),
                (
                    f"SELECT {shown}, terminal, merchant, top_cause, category, model, firmware, last_seen, "
                    f"last_time, records FROM terminal_state WHERE 1 = 1 ORDER BY {order}, terminal LIMIT ? OFFSET 0",
                    (cutoff, cutoff, PAGE_SIZE),
                ),
                ("SELECT DISTINCT model FROM terminal_state ORDER BY model", ()),  # the filters' choices
                ("SELECT DISTINCT COALESCE(firmware, '') FROM terminal_state ORDER BY 1", ()),
            ],
        )

    def causes(ex: Callable[..., Any]) -> int:
        return rows(
            ex,
            [
                (f"SELECT day, {by}, SUM(records) FROM cause_days WHERE day >= ? GROUP BY day, {by}", (first_day,))
                for by in ("category", "cause")
            ]
            + [
                ("SELECT DISTINCT model FROM terminal_state ORDER BY model", ()),
                ("SELECT DISTINCT COALESCE(firmware, '') FROM terminal_state ORDER BY 1", ()),
            ],
        )

    def paper(ex: Callable[..., Any]) -> int:
        return rows(
            ex,
            [
                ("SELECT name, value FROM fleet_settings", ()),
                ("SELECT COUNT(*) FROM terminal_state WHERE runs_out IS NOT NULL", ()),
                (
                    f"SELECT {PAPER_COLS} FROM terminal_state WHERE runs_out IS NOT NULL "
                    "ORDER BY runs_out, terminal LIMIT ? OFFSET 0",
                    (PAGE_SIZE,),
                ),
                (
                    f"SELECT {PAPER_COLS} FROM terminal_state WHERE runs_out <= ? "
                    "ORDER BY merchant, runs_out, terminal",
                    (now + 7 * 86400,),
                ),
            ],
        )

    def training(ex: Callable[..., Any]) -> int:
        recs, events = ex("SELECT SUM(records), SUM(operator_events) FROM terminal_state").fetchone()
        norm = int(events) / int(recs)
        merchants = ex(
            "SELECT merchant, COUNT(*), SUM(records), SUM(operator_events) FROM terminal_state "
            "WHERE merchant IS NOT NULL GROUP BY merchant "
            "HAVING SUM(operator_events) >= 3 AND SUM(operator_events) >= ? * SUM(records)",
            (2 * norm,),
        ).fetchall()
        listed = [m[0] for m in merchants]
        if not listed:
            return 1
        causes = ex(
            "SELECT s.merchant, c.cause, SUM(c.records) FROM terminal_state s CROSS JOIN terminal_causes c "
            f"WHERE c.terminal = s.terminal AND s.merchant IN ({', '.join('?' * len(listed))}) "
            f"AND c.cause IN {OPERATOR} "
            "GROUP BY s.merchant, c.cause",
            listed,
        ).fetchall()
        return 1 + len(merchants) + len(causes)

    def service(ex: Callable[..., Any]) -> int:
        return rows(
            ex,
            [
                ("SELECT COUNT(*) FROM terminal_state WHERE service_urgency IS NOT NULL", ()),
                (
                    f"SELECT {SERVICE_COLS} FROM terminal_state WHERE service_urgency IS NOT NULL "
                    "ORDER BY service_urgency DESC, terminal LIMIT ? OFFSET 0",
                    (PAGE_SIZE,),
                ),
            ],
        )

    def silent(ex: Callable[..., Any]) -> int:
        return rows(
            ex,
            [
                ("SELECT name, value FROM fleet_settings", ()),
                ("SELECT COUNT(*) FROM terminal_state WHERE last_seen < ?", (cutoff,)),
                (
                    "SELECT terminal, merchant, last_seen FROM terminal_state WHERE last_seen < ? "
                    "ORDER BY last_seen, terminal LIMIT ? OFFSET 0",
                    (cutoff, PAGE_SIZE),
                ),
            ],
        )

    return {
        "terminals": terminals,
        "causes": causes,
        "paper": paper,
        "training": training,
        "service": service,
        "silent": silent,
    }


def _fleet_calls(fleet: Any) -> dict[str, Callable[[], Any]]:
    """Per page, the Fleet calls it makes (host_tools/fleet/overview.py, worklists.py)."""
    return {
        "terminals": lambda: (fleet.terminals(limit=PAGE_SIZE), fleet.choices()),
        "causes": lambda: (fleet.causes(30, "category"), fleet.causes(30, "cause")),
        "paper": lambda: fleet.paper(PAGE_SIZE),
        "training": lambda: fleet.training(),
        "service": lambda: fleet.service_page(PAGE_SIZE),
        "silent": lambda: fleet.silent_page(PAGE_SIZE),
    }


def _lengths(fleet: Any) -> dict[str, str]:
    """What each page lists, in a few numbers (the same at both sizes when the comparison is fair)."""
    by_cause = fleet.causes(30, "cause")
    terms = fleet.terminals(limit=PAGE_SIZE)
    # the rows the charts' sums read: one per day, cause, model and firmware seen
    summed = fleet.store.transaction(
        lambda ex: ex("SELECT COUNT(*) FROM cause_days WHERE day >= ?", (by_cause["days"][0],)).fetchone()[0], False
    )
    counts = "/".join(str(terms["counts"][k]) for k in ("fault", "warning", "healthy", "silent"))
    paper = fleet.paper(PAGE_SIZE)
    service = fleet.service_page(PAGE_SIZE)
    silent = fleet.silent_page(PAGE_SIZE)
    return {
        "terminals": f"{len(terms['terminals'])} of {terms['total']} (f/w/h/s {counts})",
        "causes": f"{len(by_cause['series'])} causes x {len(by_cause['days'])} days, from {summed} cause_days rows",
        "paper": f"{len(paper['terminals'])} of {paper['total']} rolls, ship {len(paper['ship'])} merchants "
        f"({sum(len(e['terminals']) for e in paper['ship'])} terminals)",
        "training": f"{len(fleet.training()['merchants'])} merchants",
        "service": f"{len(service['service'])} of {service['total']} terminals",
        "silent": f"{len(silent['silent'])} of {silent['total']} terminals",
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
        from host_tools.fleet import web
        from host_tools.hub.app import make_app

        self.app, _ = make_app(store, clock=clock)  # the hub's whole app: its edge, then fleet_routes
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


def _measure(store: Any, fleet: Any, pages: _Pages, now: int) -> dict[str, tuple[float, float, float, int]]:
    """{page: (Fleet ms, bare ms, page ms, rows the bare SQL fetched)}."""
    bare = _bare_queries(now)
    out = {}
    for name, call in _fleet_calls(fleet).items():
        query = bare[name]
        status, _ = pages.get(PAGES[name])
        if status != 200:
            raise SystemExit(f"page {PAGES[name]}: status {status}")
        fetched = store.transaction(query, False)
        page_ms = _median_ms(lambda name=name: pages.get(PAGES[name]))
        fleet_ms = _median_ms(call)
        bare_ms = _median_ms(lambda query=query: store.transaction(query, False))
        out[name] = (fleet_ms, bare_ms, page_ms, fetched)
    return out


def _database(label: str, url_for: Callable[[str], str], terminals: int, sizes: tuple[int, ...]) -> dict:
    """Each size in a database of its own: the fleet loaded, the pages measured."""
    from host_tools.fleet.queries import Fleet
    from host_tools.hub.store import Store

    results = {}
    for size in sizes:
        per = size // terminals
        url = url_for(f"fleet_bench_{size}")
        store = Store(url)
        store.migrate()
        t0 = time.perf_counter()
        n, parse_s, put_s = _load(store, gen.bulk_records(terminals, per), provision=True)
        took = time.perf_counter() - t0
        if url.startswith("postgresql"):
            # what autovacuum does soon after a load this size: the planner's
            # statistics, and no vacuum running under the timings
            store.transaction(lambda ex: ex("ANALYZE"), False)
        print(
            f"  {label}: loaded {n:,} records ({per} a terminal over {gen.SPAN_DAYS} days) in {took:.0f} s: "
            f"put_records with summaries {n / put_s:,.0f} records/s, parse_records {n / parse_s:,.0f}/s",
            flush=True,
        )
        if size == sizes[-1]:
            bare = _bare_rate(url, terminals, per)
            print(f"  {label}: bare executemany {bare:,.0f} records/s; with summaries {n / put_s / bare:.2f} of bare")

        def hub_clock() -> float:
            return gen.NOW

        fleet = Fleet(store, clock=hub_clock)
        pages = _Pages(store, hub_clock)
        try:
            results[size] = (_lengths(fleet), _measure(store, fleet, pages, gen.NOW), took)
        finally:
            pages.close()
            store.close()
        if not url.startswith("postgresql"):
            for suffix in ("", "-wal", "-shm"):
                Path(url + suffix).unlink(missing_ok=True)
    return results


def _report(label: str, results: dict, sizes: tuple[int, ...]) -> None:
    print(
        f"\n  {label} (ms, median of {RUNS}; page: a GET through the hub's app in process, its operator's cookie "
        "checked; Fleet: the calls the page makes; bare: the SQL fetching the rows it shows; rows: what that SQL "
        "fetched)"
    )
    print(
        f"    {'page':10} {'records':>9} {'Fleet':>7} {'bare':>7} {'page':>7} {'F/bare':>6} {'pg/bare':>7}  rows  lists"
    )
    for name in PAGES:
        for size in sizes:
            lengths, times, _ = results[size]
            f_ms, b_ms, p_ms, fetched = times[name]
            print(
                f"    {name:10} {size:>9,} {f_ms:7.2f} {b_ms:7.2f} {p_ms:7.2f} {f_ms / b_ms:6.2f} {p_ms / b_ms:7.2f}"
                f" {fetched:5}  {lengths[name]}"
            )
    if len(sizes) > 1:
        first, last = results[sizes[0]][1], results[sizes[-1]][1]
        print(f"    at {sizes[-1]:,} / at {sizes[0]:,} records (1.00: flat):")
        for name in PAGES:
            growth = [last[name][i] / first[name][i] for i in (0, 1, 2)]
            print(f"      {name:10} Fleet {growth[0]:5.2f}  bare {growth[1]:5.2f}  page {growth[2]:5.2f}")


def fleet_bench(terminals: int = 10_000, sizes: tuple[int, ...] = (100_000, 1_000_000)) -> None:
    from tests import pg

    started = time.perf_counter()
    print(
        f"fleet view: {terminals:,} terminals, the same fleet at {', '.join(f'{s:,}' for s in sizes)} records "
        f"(each size a database of its own, records over the same {gen.SPAN_DAYS} days)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        dbs: list[tuple[str, Callable[[str], str]]] = [("SQLite", lambda name: str(Path(tmp) / f"{name}.sqlite3"))]
        cluster = None
        if pg.available():
            cluster = pg.Cluster()
            dbs.append(("PostgreSQL", cluster.database))
        else:
            print("  PostgreSQL (initdb, pg_ctl) is not installed: SQLite only")
        try:
            for label, url_for in dbs:
                results = _database(label, url_for, terminals, sizes)
                _report(label, results, sizes)
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
