"""What one upload changes in the fleet's summaries (docs/fleet.md), as
plain functions over plain values: the store reads a terminal's summary
row, folds the batch's new records into it here, and writes it back with
the per-cause and per-day counts. Nothing here touches a database.

A record is folded in once, when it first arrives (the store passes only
the seqs it inserted), so a repeated upload changes nothing."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from host_tools import catalog_names as names
from host_tools.findings import CUTTER_LIFE, DAY, HEAD_LIFE_MM, WEAR_WARN
from host_tools.identity import readable
from posdiag import catalog as c
from posdiag import record as r

UNKNOWN_MODEL = "unknown"
OPERATOR_CAUSES = frozenset(code for code, cause in names.CAUSES.items() if cause.category == "operator")

# Settings an operator may change (posdiag hub --set NAME=VALUE), with
# their defaults; docs/fleet.md says what each means.
DEFAULTS: dict[str, float] = {
    "silent_after_h": 36,
    "roll_m": 50,
    "ship_within_days": 7,
    "cover_days": 30,
    "training_min_events": 3,
    "training_factor": 2,
    "alert_paper_days": 3,
    "alert_spread_terminals": 5,
}

# The summary row's columns (migrations/0002_fleet.sql, terminal_state), in order.
COLUMNS = (
    "terminal",
    "merchant",
    "model",
    "firmware",
    "last_seen",
    "last_seq",
    "last_time",
    "light",
    "top_cause",
    "category",
    "records",
    "operator_events",
    "p0_time",
    "p0_mm",
    "p1_time",
    "p1_mm",
    "roll_change",
    "roll_time",
    "roll_mm",
    "head_mm",
    "cuts",
    "printer_cuts",
    "overheats",
    "power_events",
    "silences",
    "silent_now",
    "pending_receipts",
)


@dataclass(frozen=True)
class NewRecord:
    """What the summaries need of one stored record (host_tools/hub/app.py
    builds it from the checked record)."""

    seq: int
    time: int | None
    causes: tuple[int, ...]  # ranked cause codes
    counters: tuple[int, int, int] | None  # scheduled records: paper mm, cuts, head
    printer_ran: bool  # the printer check ran (not null)


def facts(rec: dict, ranked: tuple[int, ...]) -> NewRecord:
    """A checked record (host_tools/records.py) and its ranked causes."""
    counters = rec.get(r.K_COUNTERS)  # a wrong one was left out by the check
    return NewRecord(
        rec[r.K_SEQ],
        rec.get(r.K_TIME),
        ranked,
        tuple(counters) if counters is not None else None,
        rec[r.K_CHECKS][c.CHECK_PRINTER] is not None,
    )


@dataclass
class Changes:
    """What a batch adds to the per-cause and per-day tables."""

    causes: Counter[str] = field(default_factory=Counter)  # cause id -> records
    cause_last: dict[str, int] = field(default_factory=dict)  # cause id -> newest record time
    days: Counter[tuple[str, str]] = field(default_factory=Counter)  # (day, cause id) -> records


def day_of(unix: int) -> str:
    """The UTC date of a Unix time, as text."""
    return _day(unix // DAY)


@lru_cache(maxsize=4096)
def _day(n: int) -> str:  # records of a batch share a few days: each formatted once
    return dt.datetime.fromtimestamp(n * DAY, dt.timezone.utc).strftime("%Y-%m-%d")


def light_of(causes: Iterable[int]) -> str:
    """fault / warning / healthy for a record's causes (silent is decided
    when a page is read: it depends on the time then)."""
    severities = {names.CAUSES[code].severity for code in causes}
    if "fault" in severities:
        return "fault"
    return "warning" if severities else "healthy"


def empty(terminal: str, merchant: str | None, now: int) -> dict:
    row = dict.fromkeys(COLUMNS)
    row.update(
        terminal=terminal,
        merchant=merchant,
        model=UNKNOWN_MODEL,
        last_seen=now,
        last_seq=-1,
        light="healthy",
        records=0,
        operator_events=0,
        overheats=0,
        power_events=0,
        silences=0,
        silent_now=0,
    )
    return row


def fold_item(row: dict, item: dict) -> None:
    """A terminal item (checked by records.clean_terminal): the printer's
    model and posdiag's version, wear counters, pending receipts."""
    printer = readable(item.get("printer"))
    if printer and printer.get("name"):
        row["model"] = str(printer["name"])[:64]
    if isinstance(item.get("firmware"), str):
        row["firmware"] = item["firmware"][:32]
    counters = item.get("counters")
    if isinstance(counters, list) and len(counters) == 3:
        row["head_mm"] = max(row["head_mm"] or 0, counters[0])
        row["cuts"] = max(row["cuts"] or 0, counters[1])
    printer_counters = item.get("printer_counters")
    if isinstance(printer_counters, list) and len(printer_counters) == 3 and printer_counters[2] is not None:
        row["printer_cuts"] = max(row["printer_cuts"] or 0, printer_counters[2])
    if isinstance(item.get("receipts"), int):
        row["pending_receipts"] = item["receipts"]


def fold_records(row: dict, new: list[NewRecord], now: int) -> Changes:
    """Fold new records into the terminal's summary row; the counts they
    add to the per-cause and per-day tables. Counts and the paper points
    do not depend on the order records arrive in; the light and the
    printer's silences follow seq order, and when records older than the
    newest arrive late the store recounts the silences (printer_step over
    the terminal's records) and finds the roll's start again."""
    changes = Changes()
    row["last_seen"] = max(row["last_seen"] or 0, now)
    newest = None
    silences, silent_now, last_seq = row["silences"], row["silent_now"], row["last_seq"]
    # Records with the same causes on the same day are counted together:
    # a batch holds a few such groups, however many records it has.
    groups: dict[tuple[tuple[int, ...], int], list[int]] = {}  # (causes, day number) -> [records, newest time]
    for rec in sorted(new, key=lambda x: x.seq):
        causes = rec.causes
        if causes:
            when = rec.time if rec.time is not None else now
            group = groups.get((causes, when // DAY))
            if group is None:
                groups[(causes, when // DAY)] = [1, when]
            else:
                group[0] += 1
                if when > group[1]:
                    group[1] = when
            if rec.time is not None and c.PAPER_OUT in causes and rec.time > (row["roll_change"] or 0):
                row["roll_change"] = rec.time
                row["roll_time"] = row["roll_mm"] = None  # the store looks for the roll's first scheduled record
        if rec.counters is not None and rec.time is not None:
            _paper_point(row, rec.time, rec.counters)
        if rec.seq > last_seq:
            newest = rec
            if rec.printer_ran:
                silences, silent_now = printer_step(silences, silent_now, rec)
    row["records"] += len(new)
    row["silences"], row["silent_now"] = silences, silent_now
    for (causes, day_no), (n, last) in groups.items():
        day = _day(day_no)
        for code in causes:
            ident = names.cause_id(code)
            changes.causes[ident] += n
            changes.days[(day, ident)] += n
            if last > changes.cause_last.get(ident, 0):
                changes.cause_last[ident] = last
        if not OPERATOR_CAUSES.isdisjoint(causes):
            row["operator_events"] += n
        row["overheats"] += n * (c.HEAD_OVERHEAT in causes)
        row["power_events"] += n * (c.POWER_UNSTABLE in causes)
    if newest is not None:
        row["last_seq"] = newest.seq
        row["last_time"] = newest.time
        row["light"] = light_of(newest.causes)
        row["top_cause"] = names.cause_id(newest.causes[0]) if newest.causes else None
        row["category"] = names.CAUSES[newest.causes[0]].category if newest.causes else None
    return changes


def printer_step(silences: int, silent_now: int, rec: NewRecord) -> tuple[int, int]:
    """The printer's silences after one more record in seq order: a run of
    printer-no-response records is one silence; a record whose printer
    check did not run neither ends nor starts one."""
    if not rec.printer_ran:
        return silences, silent_now
    if c.PRINTER_NO_RESPONSE in rec.causes:
        return silences + (not silent_now), 1
    return silences, 0


def roll_point(row: dict, when: int, paper_mm: int) -> None:
    """A scheduled record at `when`: the roll's start when it is the first
    one at or after the roll change seen so far."""
    change = row["roll_change"]
    if change is not None and when >= change and (row["roll_time"] is None or when < row["roll_time"]):
        row["roll_time"], row["roll_mm"] = when, paper_mm


def _paper_point(row: dict, when: int, counters: tuple[int, int, int]) -> None:
    paper_mm, cuts, _ = counters
    if row["p0_time"] is None or when < row["p0_time"]:
        row["p0_time"], row["p0_mm"] = when, paper_mm
    if row["p1_time"] is None or when >= row["p1_time"]:
        row["p1_time"], row["p1_mm"] = when, paper_mm
    roll_point(row, when, paper_mm)
    row["head_mm"] = max(row["head_mm"] or 0, paper_mm)
    row["cuts"] = max(row["cuts"] or 0, cuts)


# -- what the lists derive from a summary row -------------------------------------------------


def paper_forecast(row: dict, roll_m: float) -> dict:
    """Use per day, metres left and the day the roll runs out (docs/fleet.md)."""
    out: dict = {"per_day_m": None, "left_m": None, "runs_out": None}
    t0, t1 = row["p0_time"], row["p1_time"]
    if t0 is None or t1 is None or t1 - t0 < DAY:
        return out
    per_day_mm = (row["p1_mm"] - row["p0_mm"]) / ((t1 - t0) / DAY)
    out["per_day_m"] = per_day_mm / 1000
    if row["roll_mm"] is None:
        return out
    left_mm = max(0.0, roll_m * 1000 - (row["p1_mm"] - row["roll_mm"]))  # a longer roll than roll_m: out now
    out["left_m"] = left_mm / 1000
    if per_day_mm > 0:
        out["runs_out"] = int(t1 + left_mm / per_day_mm * DAY)
    return out


def service_reasons(row: dict) -> list[dict]:
    """Why a terminal should be serviced, each with its score (docs/fleet.md)."""
    reasons = []
    head = (row["head_mm"] or 0) / HEAD_LIFE_MM
    if head >= WEAR_WARN:
        reasons.append({"id": "head-wear", "score": head, "value": row["head_mm"]})
    cuts = row["printer_cuts"] if row["printer_cuts"] is not None else row["cuts"] or 0  # the printer's own first
    if cuts / CUTTER_LIFE >= WEAR_WARN:
        reasons.append({"id": "cutter-wear", "score": cuts / CUTTER_LIFE, "value": cuts})
    if row["overheats"] >= 3:
        reasons.append({"id": "head-overheat", "score": row["overheats"] / 3, "value": row["overheats"]})
    if row["silences"] >= 2:  # silent, answered, silent again
        reasons.append({"id": "link-intermittent", "score": row["silences"] / 2, "value": row["silences"]})
    if row["power_events"] >= 2:
        reasons.append({"id": "power-unstable", "score": row["power_events"] / 2, "value": row["power_events"]})
    reasons.sort(key=lambda x: (-x["score"], x["id"]))
    return reasons


def service_urgency(row: dict) -> float | None:
    """The service list's order: the highest reason's score, None without a reason."""
    reasons = service_reasons(row)
    return reasons[0]["score"] if reasons else None
