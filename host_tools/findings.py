"""Findings over a whole pulled log, which no single record shows: a cable
that comes and goes, overheating that keeps coming back, a near-end sensor
that never gets to paper-out, paper use per day and when the roll runs out,
and wear against the printer's rated life."""

from __future__ import annotations

from dataclasses import dataclass, field

from host_tools import catalog_names as names
from host_tools import texts
from host_tools.diagnosis import record_causes
from host_tools.records import decode_record
from posdiag import catalog as c
from posdiag import record as r

# Rated life of a typical thermal mechanism (fault catalogue): 100-150 km of
# paper through the head, 0.5-2 million cuts. Findings start at 90 % of the
# low end, so the part is replaced before it fails.
HEAD_LIFE_MM = 100_000_000
CUTTER_LIFE = 500_000
WEAR_WARN = 0.9
DAY = 86400


@dataclass
class Finding:
    id: str  # a fault-catalogue id, or "paper-forecast"
    category: str
    text: dict[str, str]  # by language, with the numbers (texts: "finding")
    seqs: list[int] = field(default_factory=list)  # the records it rests on

    def as_json(self, lang: str) -> dict:
        return {
            "id": self.id,
            "category": self.category,
            "finding": self.text.get(lang, self.text["en"]),
            "records": self.seqs,
        }


def _text(key: str, **values: object) -> dict[str, str]:
    """A finding's text in every language, with its numbers."""
    return {lang: texts.text("finding", key, lang, **values) for lang in texts.languages()}


def _category(cause_id: str) -> str:
    return names.CAUSES[names.cause_code(cause_id)].category


def _runs(records: list[tuple[int, dict, tuple[int, ...]]]) -> list[Finding]:
    findings = []
    printer_runs = [
        (seq, c.PRINTER_NO_RESPONSE in causes)
        for seq, rec, causes in records
        if rec[r.K_CHECKS][c.CHECK_PRINTER] is not None
    ]
    silent = [seq for seq, dead in printer_runs if dead]
    answered = [seq for seq, dead in printer_runs if not dead]
    # Intermittent: the printer went silent at least twice, and answered
    # between silences (not just dead since some point).
    if len(silent) >= 2 and any(silent[0] < seq < silent[-1] for seq in answered):
        findings.append(
            Finding(
                "link-intermittent",
                _category("link-intermittent"),
                _text("link-intermittent", silent=len(silent), runs=len(printer_runs)),
                silent,
            )
        )
    hot = [seq for seq, _, causes in records if c.HEAD_OVERHEAT in causes]
    if len(hot) >= 3:
        findings.append(
            Finding(
                "head-overheat",
                _category("head-overheat"),
                _text("head-overheat", count=len(hot)),
                hot,
            )
        )
    near = [seq for seq, _, causes in records if c.PAPER_NEAR_END in causes]
    out = [seq for seq, _, causes in records if c.PAPER_OUT in causes]
    if len(near) >= 5 and not out:
        findings.append(
            Finding(
                "paper-near-end",
                _category("paper-near-end"),
                _text("paper-near-end", count=len(near)),
                near,
            )
        )
    return findings


def _forecast(records: list[tuple[int, dict, tuple[int, ...]]], roll_m: float) -> list[Finding]:
    """Paper use per day from the scheduled records' counters, and when the
    current roll runs out (counted from the last paper-out: the roll change)."""
    points = [
        (rec[r.K_TIME], rec[r.K_COUNTERS][0], seq) for seq, rec, _ in records if r.K_COUNTERS in rec and r.K_TIME in rec
    ]
    if len(points) < 2 or points[-1][0] - points[0][0] < DAY:
        return []
    (t0, mm0, _), (t1, mm1, _) = points[0], points[-1]
    per_day = (mm1 - mm0) / ((t1 - t0) / DAY)
    changes = [rec.get(r.K_TIME) for _, rec, causes in records if c.PAPER_OUT in causes and r.K_TIME in rec]
    since = [mm for t, mm, _ in points if not changes or t >= changes[-1]]
    used_mm = mm1 - since[0] if since else 0
    left_mm = max(0.0, roll_m * 1000 - used_mm)
    text = _text("paper-forecast", per_day_m=per_day / 1000)
    if per_day > 0 and changes:
        roll = _text("paper-forecast-roll", left_m=left_mm / 1000, roll_m=roll_m, days=left_mm / per_day)
        text = {lang: f"{text[lang]} {roll[lang]}" for lang in text}
    return [Finding("paper-forecast", "consumables", text, [p[2] for p in points])]


def _wear(terminal: dict) -> list[Finding]:
    findings = []
    counters = terminal.get("counters") or [0, 0, 0]
    printer = terminal.get("printer_counters") or [None, None, None]
    paper_mm = counters[0]
    cuts = printer[2] if printer[2] is not None else counters[1]
    if paper_mm >= WEAR_WARN * HEAD_LIFE_MM:
        findings.append(
            Finding(
                "head-fault",
                _category("head-fault"),
                _text("head-fault", km=paper_mm / 1e6),
            )
        )
    if cuts >= WEAR_WARN * CUTTER_LIFE:
        findings.append(
            Finding(
                "cutter-jam",
                _category("cutter-jam"),
                _text("cutter-jam", cuts=cuts),
            )
        )
    return findings


def analyse(raw_records: list[bytes], terminal: dict, roll_m: float = 50.0) -> list[Finding]:
    """Findings over the log, most pressing first."""
    records = []
    for raw in raw_records:
        rec = decode_record(raw)
        records.append((rec[r.K_SEQ], rec, record_causes(rec)))
    return _runs(records) + _wear(terminal) + _forecast(records, roll_m)
