"""The fleet view's lists computed again, from the generator's raw data
(tests/fleet_gen.py), by code of its own: the rules are read from
docs/fleet.md, not imported from host_tools/fleet. Records are decoded with
cbor2; the causes of one record and their category and severity come from
host_tools.diagnosis.record_causes and host_tools.catalog_names (they are
not what is under test). Where docs/fleet.md leaves a choice open, the
choice made here is written beside the rule."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import cbor2

from host_tools import catalog_names as names
from host_tools.diagnosis import record_causes
from host_tools.identity import readable
from posdiag import record as r
from tests.fleet_gen import DAY, Fleet, Terminal, batches

# The defaults of docs/fleet.md.
SETTINGS = {
    "silent_after_h": 36,
    "roll_m": 50,
    "ship_within_days": 7,
    "cover_days": 30,
    "training_min_events": 3,
    "training_factor": 2,
}
HEAD_LIFE_MM = 100_000_000  # 100 km
CUTTER_LIFE = 500_000
WEAR_SHARE = 0.9


@dataclass
class Rec:
    seq: int
    time: int | None  # record key 4
    received: int  # the hub's receive time of its upload
    trigger: int
    counters: list | None
    causes: tuple[str, ...]  # ranked cause ids

    @property
    def day(self) -> int:
        """Its day (unix at 00:00 UTC): the record's time, else the receive time."""
        t = self.time if self.time is not None else self.received
        return t // DAY * DAY

    @property
    def when(self) -> int:
        return self.time if self.time is not None else self.received


@dataclass
class Term:
    terminal: str
    merchant: str
    item: dict
    records: list[Rec]
    last_seen: int
    model: str = ""
    firmware: str = ""
    extra: dict = field(default_factory=dict)


def model_name(item: dict) -> str:
    """The printer's name (GS I 67) from the terminal item, decoded as the
    host shows it (host_tools/identity.readable: a GBK or Big5 name in its
    own characters, not the firmware's escaped form), or "unknown"."""
    shown = readable(item.get("printer"))
    name = shown.get("name") if shown else None
    return name if isinstance(name, str) and name else "unknown"


_memo: dict[tuple[int, int], tuple[Fleet, list[Term]]] = {}


def terms(fleet: Fleet, batch: int = 256) -> list[Term]:
    """Each terminal's records as the hub holds them after load(fleet, batch)."""
    got = _memo.get((id(fleet), batch))
    if got is None or got[0] is not fleet:
        got = _memo[(id(fleet), batch)] = (fleet, [_term(t, batch) for t in fleet.terminals])
    return got[1]


def _term(t: Terminal, batch: int) -> Term:
    recs: dict[int, Rec] = {}
    last_seen = 0
    for chunk, received in batches(t, batch):
        last_seen = max(last_seen, received)
        for raw in chunk:
            m = cbor2.loads(raw)
            seq = m[r.K_SEQ]
            if seq in recs:
                continue  # stored once: the first upload's receive time stays
            causes = tuple(names.cause_id(c) for c in record_causes(m))
            recs[seq] = Rec(
                seq, m.get(r.K_TIME), received, m.get(r.K_TRIGGER, r.TRIGGER_BOOT), m.get(r.K_COUNTERS), causes
            )
    ordered = [recs[s] for s in sorted(recs)]
    return Term(t.terminal, t.merchant, t.item, ordered, last_seen, model_name(t.item), t.item.get("firmware", ""))


def category(cause: str) -> str:
    return names.CAUSES[names.cause_code(cause)].category


def severity(cause: str) -> str:
    return names.CAUSES[names.cause_code(cause)].severity


# -- lights --------------------------------------------------------------------------


def light(term: Term, now: int, settings: dict = SETTINGS) -> str:
    """fault / warning / healthy from the highest seq's causes; silent after
    silent_after_h hours with nothing received (silent when now - last
    received >= silent_after_h h; the generator keeps terminals well off
    the edge)."""
    if now - term.last_seen >= settings["silent_after_h"] * 3600:
        return "silent"
    causes = term.records[-1].causes if term.records else ()
    if any(severity(c) == "fault" for c in causes):
        return "fault"
    if causes:
        return "warning"
    return "healthy"


def terminals(fleet: Fleet, now: int | None = None, batch: int = 256) -> dict:
    now = fleet.now if now is None else now
    rows = []
    counts = Counter({"fault": 0, "warning": 0, "healthy": 0, "silent": 0})
    for t in terms(fleet, batch):
        last = t.records[-1]
        top = last.causes[0] if last.causes else None
        lt = light(t, now)
        counts[lt] += 1
        rows.append(
            {
                "terminal": t.terminal,
                "merchant": t.merchant,
                "light": lt,
                "top_cause": top,
                "category": category(top) if top else None,
                "model": t.model,
                "firmware": t.firmware,
                "last_seen": t.last_seen,
                "last_time": last.time,  # the highest seq's record time (None without a clock)
                "records": len(t.records),
            }
        )
    return {"counts": dict(counts), "total": len(rows), "terminals": rows}


# -- paper -------------------------------------------------------------------------------


def paper_of(t: Term, now: int, settings: dict = SETTINGS) -> dict | None:
    """The forecast of one terminal; None without use per day (fewer than two
    scheduled records a day or more apart)."""
    sched = [x for x in t.records if x.trigger == r.TRIGGER_SCHEDULE and x.counters is not None]
    if len(sched) < 2:
        return None
    oldest, newest = sched[0], sched[-1]  # seq order
    days = (newest.when - oldest.when) / DAY
    if days < 1:
        return None
    per_day_mm = (newest.counters[0] - oldest.counters[0]) / days
    outs = [x for x in t.records if "paper-out" in x.causes]
    left_m = runs_out = days_left = None
    roll_start = None
    if outs:
        change = outs[-1].when  # the newest record that shows paper-out (highest seq)
        after = [x for x in sched if x.when >= change]
        if after:
            roll_start = after[0]
    if roll_start is not None:
        # Never below 0: a roll longer than roll_m is out now (docs/fleet.md).
        left_m = max(0.0, settings["roll_m"] - (newest.counters[0] - roll_start.counters[0]) / 1000)
        if per_day_mm > 0:
            runs_out = newest.when + left_m / (per_day_mm / 1000) * DAY
            days_left = (runs_out - now) / DAY
    return {
        "terminal": t.terminal,
        "merchant": t.merchant,
        "per_day_m": per_day_mm / 1000,
        "left_m": left_m,
        "runs_out": runs_out,
        "days_left": days_left,
    }


def paper(fleet: Fleet, now: int | None = None, batch: int = 256, settings: dict = SETTINGS) -> dict:
    now = fleet.now if now is None else now
    rows = [p for t in terms(fleet, batch) if (p := paper_of(t, now, settings)) is not None]
    ship: dict[str, dict] = {}
    for p in rows:
        if p["runs_out"] is None or p["runs_out"] > now + settings["ship_within_days"] * DAY:
            continue
        rolls = max(1, math.ceil(p["per_day_m"] * settings["cover_days"] / settings["roll_m"]))
        entry = ship.setdefault(
            p["merchant"], {"merchant": p["merchant"], "terminals": [], "rolls": 0, "runs_out": p["runs_out"]}
        )
        entry["terminals"].append(p["terminal"])
        entry["rolls"] += rolls
        entry["runs_out"] = min(entry["runs_out"], p["runs_out"])
    return {
        "terminals": rows,
        "ship": sorted(ship.values(), key=lambda e: (e["runs_out"], e["merchant"])),
        "settings": dict(settings),
    }


def by_count(counts: Counter) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


# -- training ------------------------------------------------------------------------------


def training(fleet: Fleet, batch: int = 256, settings: dict = SETTINGS) -> dict:
    per: dict[str, dict] = {}
    for t in terms(fleet, batch):
        m = per.setdefault(
            t.merchant, {"merchant": t.merchant, "terminals": 0, "records": 0, "events": 0, "causes": Counter()}
        )
        m["terminals"] += 1
        for x in t.records:
            m["records"] += 1
            ops = [c for c in x.causes if category(c) == "operator"]
            if ops:
                m["events"] += 1
                m["causes"].update(ops)
    total_records = sum(m["records"] for m in per.values())
    total_events = sum(m["events"] for m in per.values())
    norm = total_events / total_records if total_records else 0.0
    listed = []
    for m in per.values():
        rate = m["events"] / m["records"] if m["records"] else 0.0
        if m["events"] < settings["training_min_events"] or rate < settings["training_factor"] * norm:
            continue
        listed.append(
            {
                "merchant": m["merchant"],
                "terminals": m["terminals"],
                "records": m["records"],
                "events": m["events"],
                "rate": rate,
                "ratio": rate / norm if norm else math.inf,
                "causes": [{"cause": c, "count": n} for c, n in by_count(m["causes"])],
            }
        )
    listed.sort(key=lambda m: (-m["ratio"], m["merchant"]))
    return {"norm": norm, "merchants": listed}


# -- service ----------------------------------------------------------------------------------


def newest_counters(t: Term) -> tuple[list | None, str]:
    """The newest counters: the newest scheduled record's, or the terminal
    item's when it arrived later (an item comes with every upload here, so
    it is the newest whenever the hub has one)."""
    sched = [x for x in t.records if x.trigger == r.TRIGGER_SCHEDULE and x.counters is not None]
    rec = sched[-1] if sched else None
    item = t.item.get("counters") if t.item else None
    if item is not None and (rec is None or t.last_seen >= rec.when):
        return item, "item"
    return (rec.counters if rec else None), "record"


def silences(recs: list[Rec]) -> int:
    """Times the printer went silent (printer-no-response) after it had
    answered or at the start, in seq order: runs of silent records. A record
    whose printer check did not run (no printer cause and a null check)
    neither breaks nor starts a run; here every record's check ran."""
    runs = 0
    silent = False
    for x in recs:
        now_silent = "printer-no-response" in x.causes
        if now_silent and not silent:
            runs += 1
        silent = now_silent
    return runs


def service(fleet: Fleet, batch: int = 256) -> list[dict]:
    out = []
    for t in terms(fleet, batch):
        reasons = []
        counters, _ = newest_counters(t)
        if counters is not None:
            paper_mm = counters[0]
            if paper_mm >= WEAR_SHARE * HEAD_LIFE_MM:
                reasons.append({"id": "head-wear", "score": paper_mm / HEAD_LIFE_MM, "value": paper_mm})
        pc = t.item.get("printer_counters") if t.item else None
        cuts = (
            pc[2]
            if isinstance(pc, list) and len(pc) == 3 and pc[2] is not None
            else (counters[1] if counters is not None else None)
        )
        if cuts is not None and cuts >= WEAR_SHARE * CUTTER_LIFE:
            reasons.append({"id": "cutter-wear", "score": cuts / CUTTER_LIFE, "value": cuts})
        hot = sum(1 for x in t.records if "head-overheat" in x.causes)
        if hot >= 3:
            reasons.append({"id": "head-overheat", "score": hot / 3, "value": hot})
        quiet = silences(t.records)
        if quiet >= 2:
            reasons.append({"id": "link-intermittent", "score": quiet / 2, "value": quiet})
        power = sum(1 for x in t.records if "power-unstable" in x.causes)
        if power >= 2:
            reasons.append({"id": "power-unstable", "score": power / 2, "value": power})
        if reasons:
            reasons.sort(key=lambda x: (-x["score"], x["id"]))
            out.append(
                {
                    "terminal": t.terminal,
                    "merchant": t.merchant,
                    "model": t.model,
                    "urgency": reasons[0]["score"],
                    "reasons": reasons,
                }
            )
    out.sort(key=lambda s: (-s["urgency"], s["terminal"]))
    return out


# -- silent ---------------------------------------------------------------------------------------


def silent(fleet: Fleet, now: int | None = None, batch: int = 256, settings: dict = SETTINGS) -> list[dict]:
    now = fleet.now if now is None else now
    out = [
        {
            "terminal": t.terminal,
            "merchant": t.merchant,
            "last_seen": t.last_seen,
            "silent_h": (now - t.last_seen) / 3600,
        }
        for t in terms(fleet, batch)
        if now - t.last_seen >= settings["silent_after_h"] * 3600
    ]
    out.sort(key=lambda s: (-s["silent_h"], s["terminal"]))
    return out


# -- causes over time --------------------------------------------------------------------------------


def cause_days(fleet: Fleet, batch: int = 256) -> dict[tuple[int, str, str, str], list]:
    """{(day, cause, model, firmware): [records, set of terminals]}."""
    out: dict[tuple[int, str, str, str], list] = defaultdict(lambda: [0, set()])
    for t in terms(fleet, batch):
        for x in t.records:
            for c in x.causes:
                cell = out[(x.day, c, t.model, t.firmware)]
                cell[0] += 1
                cell[1].add(t.terminal)
    return out


def causes(
    fleet: Fleet,
    days: int = 30,
    by: str = "category",
    model: str | None = None,
    firmware: str | None = None,
    now: int | None = None,
    batch: int = 256,
) -> dict:
    """Counts per day (the `days` UTC days up to now's, oldest first) summed by
    category (a record with two causes of one category counts twice: the
    sum of the cause counts) or by cause."""
    now = fleet.now if now is None else now
    today = now // DAY * DAY
    day_list = [today - (days - 1 - i) * DAY for i in range(days)]
    index = {d: i for i, d in enumerate(day_list)}
    series: dict[str, list[int]] = {}
    all_terms = terms(fleet, batch)
    for (day, cause, m, fw), (n, _) in cause_days(fleet, batch).items():
        if day not in index or (model is not None and m != model) or (firmware is not None and fw != firmware):
            continue
        name = category(cause) if by == "category" else cause
        series.setdefault(name, [0] * days)[index[day]] += n
    return {
        "days": day_list,
        "series": [{"name": k, "counts": v} for k, v in sorted(series.items())],
        "models": sorted({t.model for t in all_terms}),
        "firmwares": sorted({t.firmware for t in all_terms}),
    }


def spread(fleet: Fleet, batch: int = 256) -> dict[tuple[int, str, str], int]:
    """Distinct terminals per (day, cause, model): what cause-spreads counts."""
    out: dict[tuple[int, str, str], set] = defaultdict(set)
    for (day, cause, m, _fw), (_n, who) in cause_days(fleet, batch).items():
        out[(day, cause, m)] |= who
    return {k: len(v) for k, v in out.items()}
