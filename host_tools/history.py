"""Findings over a whole pulled log, which no single record shows: a cable
that comes and goes, overheating that keeps coming back, a near-end sensor
that never gets to paper-out, paper use per day and when the roll runs out,
and wear against the printer's rated life."""

from __future__ import annotations

from dataclasses import dataclass, field

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
    text: dict[str, str]  # en / zh, with the numbers
    seqs: list[int] = field(default_factory=list)  # the records it rests on

    def as_json(self, lang: str) -> dict:
        return {
            "id": self.id,
            "category": self.category,
            "finding": self.text.get(lang, self.text["en"]),
            "records": self.seqs,
        }


def _category(cause_id: str) -> str:
    return c.CATEGORIES[c.CAUSES[c.cause_code(cause_id)][1]]


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
                {
                    "en": f"The printer did not answer in {len(silent)} of {len(printer_runs)} self-tests "
                    "and answered in between: a loose connector or a damaged data cable, not a dead printer.",
                    "zh": f"{len(printer_runs)} 次自检中有 {len(silent)} 次打印机无响应，其间又能应答："
                    "多为接头松动或数据线损坏，而非打印机损坏。",
                },
                silent,
            )
        )
    hot = [seq for seq, _, causes in records if c.HEAD_OVERHEAT in causes]
    if len(hot) >= 3:
        findings.append(
            Finding(
                "head-overheat",
                _category("head-overheat"),
                {
                    "en": f"The head overheated in {len(hot)} self-tests: recurring, so look at the duty "
                    "cycle (long receipts, big logos, dense print) and the ventilation, and at the "
                    "thermistor if the room is cool.",
                    "zh": f"打印头过热出现 {len(hot)} 次，属反复发生：检查打印负荷（长小票、大图标、高浓度）与通风；"
                    "环境凉爽仍过热则查热敏电阻。",
                },
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
                {
                    "en": f"Near-end was reported {len(near)} times and paper never ran out: the near-end "
                    "sensor is dirty or misplaced, or set too early (ESC c 3 / the printer's setting).",
                    "zh": f"纸将尽报告 {len(near)} 次却从未缺纸：纸将尽传感器脏污或位置不当，或阈值设得过早。",
                },
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
    text_en = f"Paper use: {per_day / 1000:.1f} m a day."
    text_zh = f"用纸量：每天 {per_day / 1000:.1f} 米。"
    if per_day > 0 and changes:
        days = left_mm / per_day
        text_en += (
            f" The roll loaded after the last paper-out has about {left_mm / 1000:.0f} m left of {roll_m:.0f} m: "
            f"it runs out in about {days:.0f} days."
        )
        text_zh += f" 上次缺纸后换上的纸卷（{roll_m:.0f} 米）约剩 {left_mm / 1000:.0f} 米，约 {days:.0f} 天后用完。"
    return [Finding("paper-forecast", "consumables", {"en": text_en, "zh": text_zh}, [p[2] for p in points])]


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
                {
                    "en": f"{paper_mm / 1e6:.0f} km of paper has passed the head, near its rated 100-150 km: "
                    "plan to replace the head before it fails.",
                    "zh": f"打印头已走纸 {paper_mm / 1e6:.0f} 公里，接近额定寿命 100–150 公里：请在故障前安排更换。",
                },
            )
        )
    if cuts >= WEAR_WARN * CUTTER_LIFE:
        findings.append(
            Finding(
                "cutter-jam",
                _category("cutter-jam"),
                {
                    "en": f"The cutter has made {cuts:,} cuts, near its rated 0.5-2 million: plan to replace it.",
                    "zh": f"切刀已切 {cuts:,} 次，接近额定寿命 50–200 万次：请安排更换。",
                },
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
