"""The fleet view's lists (host_tools/fleet/queries.Fleet) against an
independent computation from the raw records (tests/fleet_reference.py),
on SQLite and on a throwaway PostgreSQL (tests/pg.py), field by field. The
fleet is tests/fleet_gen.py's, loaded through the hub's own path
(app.parse_records, store.put_records). A failure lists every disagreement:
which list, which terminal or merchant, which field, both values."""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Iterator
from typing import Any

import pytest

from host_tools.fleet.queries import Fleet
from host_tools.hub.store import Store
from tests import fleet_gen as gen
from tests import fleet_reference as ref
from tests.pg import Cluster, pg_cluster  # noqa: F401 - the session's cluster fixture

TERMINALS = 300
ABS = 1e-6  # floats: relative and absolute tolerance
TIME_S = 1.0  # a time (unix seconds) may be rounded to the second


@pytest.fixture(scope="module")
def fleet() -> gen.Fleet:
    return gen.make_fleet(terminals=TERMINALS, records_per_terminal=60, seed=1)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def loaded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, fleet: gen.Fleet
) -> Iterator[tuple[Store, Fleet]]:
    if request.param == "sqlite":
        url = str(tmp_path_factory.mktemp("fleet") / "hub.sqlite3")
    else:
        url = request.getfixturevalue("pg_cluster").database(f"fleet_lists_{os.getpid()}")
    store = Store(url)
    store.migrate()
    gen.load(store, fleet)
    yield store, Fleet(store, clock=lambda: fleet.now)
    store.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shuffled(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, fleet: gen.Fleet
) -> Iterator[tuple[Store, Fleet]]:
    """The same fleet uploaded out of order: each terminal's records in
    batches of 9, the batches in a shuffled order (a technician's pull of
    older records after newer ones came), all received at the time the
    one-batch load gives them."""
    if request.param == "sqlite":
        url = str(tmp_path_factory.mktemp("fleet") / "shuffled.sqlite3")
    else:
        url = request.getfixturevalue("pg_cluster").database(f"fleet_shuffled_{os.getpid()}")
    store = Store(url)
    store.migrate()
    gen.load_shuffled(store, fleet, batch=9, seed=5)
    yield store, Fleet(store, clock=lambda: fleet.now)
    store.close()


# -- comparing ---------------------------------------------------------------------


def _iso(day: int) -> str:
    return dt.datetime.fromtimestamp(day, dt.UTC).date().isoformat()


def same(a: Any, b: Any, tol: float = ABS) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        if math.isinf(a) or math.isinf(b):
            return a == b
        return math.isclose(a, b, rel_tol=tol, abs_tol=tol)
    return bool(a == b)


class Diffs:
    """Disagreements, each one line: list, whom, field, ours (the
    reference), theirs (Fleet)."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.lines: list[str] = []

    def add(self, where: str, who: str, what: str, ours: Any, theirs: Any) -> None:
        self.lines.append(f"{where} {who} {what}: reference {ours!r}, Fleet {theirs!r}")

    def field(self, where: str, who: str, what: str, ours: Any, theirs: Any, tol: float = ABS) -> None:
        if not same(ours, theirs, tol):
            self.add(where, who, what, ours, theirs)

    def check(self) -> None:
        if self.lines:
            shown = "\n".join(self.lines[:80])
            more = f"\n... and {len(self.lines) - 80} more" if len(self.lines) > 80 else ""
            pytest.fail(f"{len(self.lines)} disagreements ({self.backend}):\n{shown}{more}", pytrace=False)


def _backend(store: Store) -> str:
    return store.dialect


def _membership(d: Diffs, where: str, ours: set, theirs: set) -> None:
    for who in sorted(ours - theirs):
        d.add(where, who, "listed", True, False)
    for who in sorted(theirs - ours):
        d.add(where, who, "listed", False, True)


# -- the lists ------------------------------------------------------------------------


def test_the_fleet_has_members_in_every_list(fleet: gen.Fleet) -> None:
    """The generator's self-check: each list of docs/fleet.md has members,
    the names that break pages are there, and the fleet is the same twice."""
    t = ref.terminals(fleet)
    assert all(t["counts"][light] > 0 for light in ("fault", "warning", "healthy", "silent")), t["counts"]
    p = ref.paper(fleet)
    assert p["ship"] and any(x["runs_out"] is not None for x in p["terminals"])
    assert any(x["runs_out"] is None for x in p["terminals"])  # no known roll change
    tr = ref.training(fleet)
    assert len(tr["merchants"]) >= 3 and 0 < tr["norm"] < 0.05
    reasons = {r["id"] for s in ref.service(fleet) for r in s["reasons"]}
    assert reasons == {"head-wear", "cutter-wear", "head-overheat", "link-intermittent", "power-unstable"}
    assert ref.silent(fleet)
    c = ref.causes(fleet)
    assert {s["name"] for s in c["series"]} >= {"device", "operator", "network", "consumables"}
    spike = fleet.spike
    assert ref.spread(fleet)[(spike["day"], spike["cause"], spike["model"])] >= 5
    merchants = {x["merchant"] for x in t["terminals"]}
    assert gen.HOSTILE in merchants and all(name in merchants for name in gen.CHINESE)
    assert any(not m.isascii() for m in c["models"]) and "unknown" in c["models"]
    assert gen.make_fleet(TERMINALS, 60, 1).terminals == fleet.terminals


def test_terminals(loaded: tuple[Store, Fleet], fleet: gen.Fleet) -> None:
    compare_terminals(loaded, fleet).check()


def compare_terminals(loaded: tuple[Store, Fleet], fleet: gen.Fleet) -> Diffs:
    store, f = loaded
    d = Diffs(_backend(store))
    ours = ref.terminals(fleet)
    theirs = f.terminals(limit=100_000)
    for light, n in ours["counts"].items():
        d.field("terminals", "counts", light, n, theirs["counts"].get(light))
    d.field("terminals", "-", "total", ours["total"], theirs["total"])
    mine = {row["terminal"]: row for row in ours["terminals"]}
    got = {row["terminal"]: row for row in theirs["terminals"]}
    _membership(d, "terminals", set(mine), set(got))
    for tid in sorted(set(mine) & set(got)):
        for key, value in mine[tid].items():
            d.field("terminals", tid, key, value, got[tid].get(key))
    # Filters and paging
    for light in ("fault", "warning", "healthy", "silent"):
        want = {r["terminal"] for r in ours["terminals"] if r["light"] == light}
        page = f.terminals(light=light, limit=100_000)
        _membership(d, f"terminals(light={light})", want, {r["terminal"] for r in page["terminals"]})
        d.field(f"terminals(light={light})", "-", "total", len(want), page["total"])
    model = fleet.spike["model"]
    want = {r["terminal"] for r in ours["terminals"] if r["model"] == model}
    _membership(
        d,
        f"terminals(model={model})",
        want,
        {r["terminal"] for r in f.terminals(model=model, limit=100_000)["terminals"]},
    )
    want = {r["terminal"] for r in ours["terminals"] if r["firmware"] == "0.0.8"}
    _membership(
        d,
        "terminals(firmware=0.0.8)",
        want,
        {r["terminal"] for r in f.terminals(firmware="0.0.8", limit=100_000)["terminals"]},
    )
    for q in (gen.HOSTILE, gen.CHINESE[0], "POS-0001"):
        want = {
            r["terminal"]
            for r in ours["terminals"]
            if q.lower() in r["merchant"].lower() or q.lower() in r["terminal"].lower()
        }
        _membership(
            d, f"terminals(q={q!r})", want, {r["terminal"] for r in f.terminals(q=q, limit=100_000)["terminals"]}
        )
    pages = [r["terminal"] for off in range(0, TERMINALS, 70) for r in f.terminals(limit=70, offset=off)["terminals"]]
    if sorted(pages) != sorted(mine) or len(pages) != len(set(pages)):
        d.add("terminals", "paging", "limit=70 pages cover each terminal once", True, False)
    return d


def test_paper(loaded: tuple[Store, Fleet], fleet: gen.Fleet) -> None:
    compare_paper(loaded, fleet).check()


def compare_paper(loaded: tuple[Store, Fleet], fleet: gen.Fleet) -> Diffs:
    store, f = loaded
    d = Diffs(_backend(store))
    ours = ref.paper(fleet)
    theirs = f.paper()
    mine = {p["terminal"]: p for p in ours["terminals"]}
    got = {p["terminal"]: p for p in theirs["terminals"]}
    # Fleet lists the terminals with a forecast; the reference has use per day for more.
    _membership(d, "paper", {t for t, p in mine.items() if p["runs_out"] is not None}, set(got))
    for tid in sorted(set(mine) & set(got)):
        for key in ("merchant", "per_day_m", "left_m", "days_left"):
            d.field("paper", tid, key, mine[tid][key], got[tid].get(key), 1e-4 if key == "days_left" else ABS)
        if not same(mine[tid]["runs_out"], got[tid].get("runs_out"), 0) and not (
            got[tid].get("runs_out") is not None
            and mine[tid]["runs_out"] is not None
            and abs(mine[tid]["runs_out"] - got[tid]["runs_out"]) <= TIME_S
        ):
            d.add("paper", tid, "runs_out", mine[tid]["runs_out"], got[tid].get("runs_out"))
    ship = {s["merchant"]: s for s in ours["ship"]}
    gship = {s["merchant"]: s for s in theirs["ship"]}
    _membership(d, "ship", set(ship), set(gship))
    for m in sorted(set(ship) & set(gship)):
        mt, gt = ship[m]["terminals"], gship[m]["terminals"]
        if isinstance(gt, int):
            d.field("ship", m, "terminals", len(mt), gt)
        else:
            d.field("ship", m, "terminals", sorted(mt), sorted(gt))
        d.field("ship", m, "rolls", ship[m]["rolls"], gship[m]["rolls"])
        if abs(ship[m]["runs_out"] - gship[m]["runs_out"]) > TIME_S:
            d.add("ship", m, "runs_out", ship[m]["runs_out"], gship[m]["runs_out"])
    if [s["merchant"] for s in theirs["ship"]] != [s["merchant"] for s in ours["ship"] if s["merchant"] in gship]:
        d.add(
            "ship",
            "-",
            "order (soonest first)",
            [s["merchant"] for s in ours["ship"]],
            [s["merchant"] for s in theirs["ship"]],
        )
    return d


def test_training(loaded: tuple[Store, Fleet], fleet: gen.Fleet) -> None:
    compare_training(loaded, fleet).check()


def compare_training(loaded: tuple[Store, Fleet], fleet: gen.Fleet) -> Diffs:
    store, f = loaded
    d = Diffs(_backend(store))
    ours = ref.training(fleet)
    theirs = f.training()
    d.field("training", "-", "norm", ours["norm"], theirs["norm"])
    mine = {m["merchant"]: m for m in ours["merchants"]}
    got = {m["merchant"]: m for m in theirs["merchants"]}
    _membership(d, "training", set(mine), set(got))
    for m in sorted(set(mine) & set(got)):
        for key in ("terminals", "records", "events", "rate", "ratio"):
            d.field("training", m, key, mine[m][key], got[m].get(key))
        d.field(
            "training",
            m,
            "causes",
            {c["cause"]: c["count"] for c in mine[m]["causes"]},
            {c["cause"]: c["count"] for c in got[m].get("causes", [])},
        )
        counts = [c["count"] for c in got[m].get("causes", [])]
        if counts != sorted(counts, reverse=True):
            d.add("training", m, "causes order (by count)", "descending", counts)
    ratios = [m["ratio"] for m in theirs["merchants"]]
    if ratios != sorted(ratios, reverse=True):
        d.add("training", "-", "order (highest ratio first)", "descending", ratios)
    return d


def test_service(loaded: tuple[Store, Fleet], fleet: gen.Fleet) -> None:
    compare_service(loaded, fleet).check()


def compare_service(loaded: tuple[Store, Fleet], fleet: gen.Fleet) -> Diffs:
    store, f = loaded
    d = Diffs(_backend(store))
    ours = ref.service(fleet)
    theirs = f.service()
    mine = {s["terminal"]: s for s in ours}
    got = {s["terminal"]: s for s in theirs}
    _membership(d, "service", set(mine), set(got))
    for tid in sorted(set(mine) & set(got)):
        for key in ("merchant", "model", "urgency"):
            d.field("service", tid, key, mine[tid][key], got[tid].get(key))
        a = {r["id"]: r for r in mine[tid]["reasons"]}
        b = {r["id"]: r for r in got[tid].get("reasons", [])}
        _membership(d, f"service {tid} reason", set(a), set(b))
        for rid in sorted(set(a) & set(b)):
            d.field("service", tid, f"{rid}.score", a[rid]["score"], b[rid]["score"])
            d.field("service", tid, f"{rid}.value", a[rid]["value"], b[rid]["value"])
    urgencies = [s["urgency"] for s in theirs]
    if urgencies != sorted(urgencies, reverse=True):
        d.add("service", "-", "order (most urgent first)", "descending", urgencies)
    return d


def test_silent(loaded: tuple[Store, Fleet], fleet: gen.Fleet) -> None:
    compare_silent(loaded, fleet).check()


def compare_silent(loaded: tuple[Store, Fleet], fleet: gen.Fleet) -> Diffs:
    store, f = loaded
    d = Diffs(_backend(store))
    mine = {s["terminal"]: s for s in ref.silent(fleet)}
    theirs = f.silent()
    got = {s["terminal"]: s for s in theirs}
    _membership(d, "silent", set(mine), set(got))
    for tid in sorted(set(mine) & set(got)):
        for key in ("merchant", "last_seen", "silent_h"):
            d.field("silent", tid, key, mine[tid][key], got[tid].get(key))
    hours = [s["silent_h"] for s in theirs]
    if hours != sorted(hours, reverse=True):
        d.add("silent", "-", "order (longest first)", "descending", hours)
    return d


@pytest.mark.parametrize(
    "args",
    [
        {"by": "category"},
        {"by": "cause"},
        {"by": "cause", "days": 7},
        {"by": "category", "model": "TM-T20II"},
        {"by": "cause", "model": "RP80 热敏打印机"},
        {"by": "category", "model": "unknown"},
        {"by": "category", "firmware": "0.0.9"},
    ],
    ids=lambda a: ",".join(f"{k}={v}" for k, v in a.items()),
)
def test_causes(loaded: tuple[Store, Fleet], fleet: gen.Fleet, args: dict) -> None:
    compare_causes(loaded, fleet, args).check()


def compare_causes(loaded: tuple[Store, Fleet], fleet: gen.Fleet, args: dict) -> Diffs:
    store, f = loaded
    d = Diffs(_backend(store))
    ours = ref.causes(fleet, **args)
    theirs = f.causes(**args)
    where = f"causes({args})"
    d.field(where, "-", "days", [_iso(x) for x in ours["days"]], [str(x) for x in theirs["days"]])
    mine = {s["name"]: s["counts"] for s in ours["series"]}
    got = {s["name"]: s["counts"] for s in theirs["series"]}
    for name in sorted(set(mine) | set(got)):
        a = mine.get(name, [0] * len(ours["days"]))
        b = got.get(name, [0] * len(theirs["days"]))
        if a != b:
            days = [
                (_iso(ours["days"][i]), a[i], b[i] if i < len(b) else None)
                for i in range(len(a))
                if i >= len(b) or a[i] != b[i]
            ]
            d.add(where, name, "counts per day (day, reference, Fleet)", days, "")
    d.field(where, "-", "models", ours["models"], sorted(theirs["models"]))
    d.field(where, "-", "firmwares", ours["firmwares"], sorted(theirs["firmwares"]))
    return d


def test_a_second_load_changes_no_list(loaded: tuple[Store, Fleet], fleet: gen.Fleet) -> None:
    store, f = loaded
    before = (
        f.terminals(limit=100_000),
        f.paper(),
        f.training(),
        f.service(),
        f.silent(),
        f.causes(),
        f.causes(by="cause"),
    )
    gen.load(store, fleet, provision=False)
    gen.load(store, fleet, batch=37, provision=False)  # other batches, the same records
    after = (
        f.terminals(limit=100_000),
        f.paper(),
        f.training(),
        f.service(),
        f.silent(),
        f.causes(),
        f.causes(by="cause"),
    )
    for name, a, b in zip(
        ("terminals", "paper", "training", "service", "silent", "causes", "causes by cause"), before, after, strict=True
    ):
        assert a == b, f"{name} changed when the same records were loaded again"


def test_uploads_out_of_seq_order_give_the_same_lists(shuffled: tuple[Store, Fleet], fleet: gen.Fleet) -> None:
    """Summaries folded in as records arrive must not depend on the order
    they arrive in: light from the highest seq, scheduled records oldest
    and newest, the newest paper-out, silences in seq order."""
    d = Diffs(_backend(shuffled[0]) + ", out of order")
    for compare in (compare_terminals, compare_paper, compare_training, compare_service, compare_silent):
        d.lines += compare(shuffled, fleet).lines
    for args in ({"by": "cause"},):
        d.lines += compare_causes(shuffled, fleet, args).lines
    d.check()
