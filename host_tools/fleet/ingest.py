"""The fleet's summaries brought up to date inside an upload's transaction
(host_tools/hub/store.py calls fold_upload with the records it inserted),
and the alerts that upload raises: stored in the same transaction, so none
is lost or raised twice; host_tools/fleet/alerts.py delivers them."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from host_tools import catalog_names as names
from host_tools.diagnosis import record_causes
from host_tools.errors import BadDataError
from host_tools.fleet import summary
from host_tools.fleet.summary import COLUMNS, NewRecord
from host_tools.records import clean_terminal, decode_item, decode_record
from posdiag import record as r

Execute = Callable[..., Any]

# The summary row, and what the lists sort by: the paper forecast's day and the service urgency.
_SORT_KEYS = ("runs_out", "service_urgency")
_UPSERT_STATE = (
    f"INSERT INTO terminal_state ({', '.join((*COLUMNS, *_SORT_KEYS))}) "
    f"VALUES ({', '.join('?' * (len(COLUMNS) + len(_SORT_KEYS)))}) "
    "ON CONFLICT (terminal) DO UPDATE SET "
    + ", ".join(f"{col} = excluded.{col}" for col in (*COLUMNS[1:], *_SORT_KEYS))
)


SETTINGS_TTL_S = 5.0  # an upload reads the thresholds at most this often per store


def settings(ex: Execute, cache: dict | None = None) -> dict[str, float]:
    """The fleet's thresholds: the defaults, with what an operator set.
    cache: a store's (Store.fleet_cache), so that uploads do not read them
    each time; another hub process sees a change within SETTINGS_TTL_S."""
    if cache is not None and cache.get("until", 0.0) > time.monotonic():
        return dict(cache["settings"])
    out = dict(summary.DEFAULTS)
    for name, value in ex("SELECT name, value FROM fleet_settings").fetchall():
        if name in out:
            out[name] = float(value)
    if cache is not None:
        cache.update(settings=dict(out), until=time.monotonic() + SETTINGS_TTL_S)
    return out


def lock_terminal(ex: Execute, terminal: str, pg: bool) -> tuple[bool, str | None, dict | None]:
    """In one statement: whether the terminal is provisioned, its merchant,
    and its summary row (None before its first upload). On PostgreSQL the
    terminal's row is locked until the commit: two uploads of one terminal
    fold their records one after the other, each once (SQLite's write
    transactions are one at a time already)."""
    got = ex(
        f"SELECT t.merchant, s.terminal, {', '.join('s.' + col for col in COLUMNS[1:])} FROM terminals t "
        "LEFT JOIN terminal_state s ON s.terminal = t.terminal WHERE t.terminal = ?"
        + (" FOR UPDATE OF t" if pg else ""),
        (terminal,),
    ).fetchone()
    if got is None:
        return False, None, None
    merchant, state = got[0], got[1:]
    return True, merchant, dict(zip(COLUMNS, state, strict=True)) if state[0] is not None else None


def _item(info: bytes | None) -> dict | None:
    if info is None:
        return None
    try:
        value, _ = decode_item(info, "the terminal item")
    except BadDataError:
        return None
    return clean_terminal(value) if isinstance(value, dict) else None


def fold_upload(
    ex: Execute,
    terminal: str,
    merchant: str | None,
    new: Sequence[NewRecord],
    info: bytes | None,
    now: int,
    state: dict | None,
    cache: dict | None = None,
    pg: bool = False,
) -> int:
    """Fold an upload into the summaries; the number of alerts it raised.
    state: the terminal's summary row as lock_terminal read it (None before
    its first upload); cache: the store's settings cache (see settings);
    pg: the database is PostgreSQL (counts then go as arrays, one statement
    per table)."""
    item = _item(info)
    if not new and item is None:
        return 0
    conf = settings(ex, cache)
    row = state or summary.empty(terminal, merchant, now)
    row["merchant"] = merchant
    before = row["light"] if row["records"] else None
    newest, roll_change = row["last_seq"], row["roll_change"]
    if item is not None:
        summary.fold_item(row, item)
    changes = summary.fold_records(row, list(new), now)
    if any(rec.seq < newest for rec in new):
        _recount_silences(ex, row)  # records older than the newest came late
    if row["roll_change"] != roll_change:
        _find_roll_start(ex, row)
    forecast = summary.paper_forecast(row, conf["roll_m"])
    ex(_UPSERT_STATE, (*(row[col] for col in COLUMNS), forecast["runs_out"], summary.service_urgency(row)))
    first = _terminal_counts(ex, row, changes, pg)
    raised = 0
    if row["light"] == "fault" and before not in (None, "fault"):
        raised += raise_alert(
            ex,
            now,
            "terminal-red",
            f"{terminal}:{row['last_seq']}",
            terminal=terminal,
            cause=row["top_cause"],
            detail={"from": before, "seq": row["last_seq"]},
        )
    if forecast["runs_out"] is not None and forecast["runs_out"] <= now + conf["alert_paper_days"] * 86400:
        raised += raise_alert(
            ex,
            now,
            "paper-runs-out",
            f"{terminal}:{row['roll_change']}",
            terminal=terminal,
            detail={"runs_out": forecast["runs_out"], "left_m": forecast["left_m"]},
        )
    _fleet_counts(ex, row, changes, first, pg)
    return raised + _spread(ex, now, row, first, conf, cache)


def _facts(raw: bytes) -> NewRecord:
    rec = decode_record(bytes(raw))
    return summary.facts(rec, record_causes(rec))


def _recount_silences(ex: Execute, row: dict) -> None:
    """The printer's silences over all the terminal's records in seq order
    (rare: only when records arrive out of order)."""
    silences = silent_now = 0
    for (raw,) in ex("SELECT raw FROM records WHERE terminal = ? ORDER BY seq", (row["terminal"],)).fetchall():
        silences, silent_now = summary.printer_step(silences, silent_now, _facts(raw))
    row["silences"], row["silent_now"] = silences, silent_now


def _find_roll_start(ex: Execute, row: dict) -> None:
    """A new roll change: its first scheduled record, stored before or in
    this upload (once per paper-out)."""
    got = ex(
        "SELECT raw FROM records WHERE terminal = ? AND trigger_id = ? AND rec_time >= ? "
        "ORDER BY rec_time, seq LIMIT 16",
        (row["terminal"], r.TRIGGER_SCHEDULE, row["roll_change"]),
    )
    for (raw,) in got.fetchall():
        facts = _facts(raw)
        if facts.counters is not None and facts.time is not None:
            summary.roll_point(row, facts.time, facts.counters[0])
            return


_TERMINAL_CAUSES = (
    "INSERT INTO terminal_causes (terminal, cause, records, last_time) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (terminal, cause) DO UPDATE SET records = terminal_causes.records + excluded.records, "
    "last_time = CASE WHEN excluded.last_time > terminal_causes.last_time "
    "THEN excluded.last_time ELSE terminal_causes.last_time END"
)
_TERMINAL_DAYS = (
    "INSERT INTO terminal_days (terminal, day, cause, records) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (terminal, day, cause) DO UPDATE SET records = terminal_days.records + excluded.records"
)
_CAUSE_DAYS = (
    "INSERT INTO cause_days (day, cause, category, model, firmware, records, terminals) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (day, cause, model, firmware) DO UPDATE SET "
    "records = cause_days.records + excluded.records, terminals = cause_days.terminals + excluded.terminals"
)


# PostgreSQL: the same upserts with the rows as arrays (binary), one
# statement whatever the batch holds: psycopg then adapts a few arrays, not
# every value of every row.
_PG_TERMINAL_CAUSES = (
    "INSERT INTO terminal_causes (terminal, cause, records, last_time) SELECT %s, c, n, l "
    "FROM unnest(%b::text[], %b::bigint[], %b::bigint[]) AS u(c, n, l) "
    "ON CONFLICT (terminal, cause) DO UPDATE SET records = terminal_causes.records + excluded.records, "
    "last_time = GREATEST(terminal_causes.last_time, excluded.last_time)"
)
# xmax = 0: the row was inserted, not updated (the first sight of a day and cause).
_PG_TERMINAL_DAYS = (
    "INSERT INTO terminal_days (terminal, day, cause, records) SELECT %s, d, c, n "
    "FROM unnest(%b::text[], %b::text[], %b::bigint[]) AS u(d, c, n) "
    "ON CONFLICT (terminal, day, cause) DO UPDATE SET records = terminal_days.records + excluded.records "
    "RETURNING day, cause, (xmax = 0)"
)
_PG_CAUSE_DAYS = (
    "INSERT INTO cause_days (day, cause, category, model, firmware, records, terminals) SELECT d, c, g, %s, %s, n, f "
    "FROM unnest(%b::text[], %b::text[], %b::text[], %b::bigint[], %b::bigint[]) AS u(d, c, g, n, f) "
    "ON CONFLICT (day, cause, model, firmware) DO UPDATE SET "
    "records = cause_days.records + excluded.records, terminals = cause_days.terminals + excluded.terminals"
)


def _terminal_counts(ex: Execute, row: dict, changes: summary.Changes, pg: bool) -> set[tuple[str, str]]:
    """The terminal's own per-cause and per-day counts (a statement or two
    each, whatever the batch holds); the (day, cause) pairs it shows for the
    first time, which count it once more in cause_days.terminals."""
    terminal = row["terminal"]
    causes = sorted(changes.causes)
    if causes and pg:
        ex(
            _PG_TERMINAL_CAUSES,
            (terminal, causes, [changes.causes[x] for x in causes], [changes.cause_last[x] for x in causes]),
        )
    elif causes:
        rows = [(terminal, cause, changes.causes[cause], changes.cause_last[cause]) for cause in causes]
        ex(_TERMINAL_CAUSES, rows, many=True)
    keys = sorted(changes.days)
    if not keys:
        return set()
    if pg:
        got = ex(
            _PG_TERMINAL_DAYS, (terminal, [d for d, _ in keys], [c for _, c in keys], [changes.days[k] for k in keys])
        ).fetchall()
        return {(day, cause) for day, cause, inserted in got if inserted}
    days = sorted({day for day, _ in keys})
    seen = ex(
        "SELECT day, cause FROM terminal_days WHERE terminal = ? AND day >= ? AND day <= ?",
        (terminal, days[0], days[-1]),
    ).fetchall()
    ex(_TERMINAL_DAYS, [(terminal, day, cause, changes.days[(day, cause)]) for day, cause in keys], many=True)
    return set(keys) - {(day, cause) for day, cause in seen}


def _fleet_counts(ex: Execute, row: dict, changes: summary.Changes, first: set[tuple[str, str]], pg: bool) -> None:
    """The fleet-wide counts per day, cause, model and firmware: rows every
    terminal of a model writes, so they come last in the transaction (their
    locks held only until the commit), in one order (no deadlock)."""
    model, firmware = row["model"], row["firmware"] or ""
    keys = sorted(changes.days)
    if not keys:
        return
    categories = [names.CAUSES[names.cause_code(cause)].category for _, cause in keys]
    counts = [changes.days[k] for k in keys]
    firsts = [int(k in first) for k in keys]
    if pg:
        ex(_PG_CAUSE_DAYS, (model, firmware, [d for d, _ in keys], [c for _, c in keys], categories, counts, firsts))
    else:
        rows = [
            (d, c, g, model, firmware, n, f) for (d, c), g, n, f in zip(keys, categories, counts, firsts, strict=True)
        ]
        ex(_CAUSE_DAYS, rows, many=True)


def _spread(
    ex: Execute, now: int, row: dict, first: set[tuple[str, str]], conf: dict[str, float], cache: dict | None
) -> int:
    """A cause on enough terminals of one model on one day: looked at only
    where this terminal was just counted in (one query for the batch)."""
    if not first:
        return 0
    days = sorted({day for day, _ in first})
    got = ex(
        "SELECT day, cause, SUM(terminals) FROM cause_days WHERE model = ? AND day >= ? AND day <= ? "
        "GROUP BY day, cause",
        (row["model"], days[0], days[-1]),
    ).fetchall()
    raised = 0
    known = cache.setdefault("alerts", set()) if cache is not None else set()
    for day, cause, count in got:
        about = f"{row['model']}:{cause}:{day}"
        if (day, cause) in first and int(count) >= conf["alert_spread_terminals"] and about not in known:
            new = raise_alert(
                ex,
                now,
                "cause-spreads",
                about,
                model=row["model"],
                cause=cause,
                detail={"day": day, "terminals": int(count)},
            )
            if not new:  # stored and committed before: later uploads need not try again
                known.add(about)
            raised += new
    return raised


def raise_alert(
    ex: Execute,
    now: int,
    kind: str,
    about: str,
    terminal: str | None = None,
    model: str | None = None,
    cause: str | None = None,
    detail: dict | None = None,
) -> int:
    """Store an alert once per (kind, about); 1 when it is new."""
    key = f"{kind}:{about}"
    ident = hashlib.sha256(key.encode()).hexdigest()[:16]
    cur = ex(
        "INSERT INTO alerts (id, alert_key, kind, terminal, model, cause, raised, detail, tries) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0) ON CONFLICT (alert_key) DO NOTHING",
        (ident, key, kind, terminal, model, cause, now, json.dumps(detail or {}, sort_keys=True)),
    )
    return int(cur.rowcount == 1)
