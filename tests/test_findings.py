"""History rules over synthetic logs."""

from __future__ import annotations

from host_tools.findings import analyse
from posdiag import catalog as c
from posdiag import record

OK = [5, 0, 12, 350, 24000]
DEAD = [[c.P_NO_REPLY, b"", 240], 0, 12, 350, 24000]
HOT = [[c.P_OFFLINE | c.P_AUTO_RECOVER, b"\x1e\x52\x52\x12", 6], 0, 12, [c.T_OVERHEAT, 720], 24000]
NEAR = [[c.P_NEAR_END, b"\x16\x12\x12\x1e", 6], c.S_NEAR_END, 12, 350, 24000]
OUT = [[c.P_OFFLINE | c.P_PAPER_END | c.P_NEAR_END, b"\x1e\x32\x12\x7e", 6], c.S_PAPER_END, 12, 350, 24000]
TERMINAL = {"counters": [0, 0, 0], "printer_counters": None}


def log(*checks_list: list, start: int = 1790000000, every: int = 3600, counters=None) -> list[bytes]:  # noqa: ANN001
    out = []
    for i, checks in enumerate(checks_list):
        trigger = record.TRIGGER_SCHEDULE if counters else record.TRIGGER_BOOT
        count = counters(i) if counters else None
        out.append(record.encode(record.build(i + 1, 1, 10, start + i * every, trigger, checks, None, count)))
    return out


def ids(findings: list) -> list[str]:
    return [f.id for f in findings]


def test_printer_that_comes_and_goes_is_a_loose_cable() -> None:
    found = analyse(log(OK, DEAD, OK, OK, DEAD, OK), TERMINAL)
    assert ids(found) == ["link-intermittent"] and found[0].seqs == [2, 5]
    assert "loose connector" in found[0].text["en"] and "接头松动" in found[0].text["zh"]


def test_printer_dead_since_some_point_is_not_intermittent() -> None:
    assert ids(analyse(log(OK, OK, DEAD, DEAD, DEAD), TERMINAL)) == []


def test_recurring_overheat() -> None:
    assert ids(analyse(log(HOT, OK, HOT, OK, HOT), TERMINAL)) == ["head-overheat"]
    assert ids(analyse(log(HOT, OK, HOT), TERMINAL)) == []


def test_near_end_that_never_reaches_paper_out_is_the_sensor() -> None:
    assert ids(analyse(log(*[NEAR] * 5), TERMINAL)) == ["paper-near-end"]
    assert ids(analyse(log(*[NEAR] * 5, OUT), TERMINAL)) == []


def test_wear_against_rated_life() -> None:
    worn = {"counters": [95_000_000, 10, 0], "printer_counters": [1, 2, 460_000]}
    found = analyse([], worn)
    assert ids(found) == ["head-fault", "cutter-jam"]
    assert "95 km" in found[0].text["en"] and "460,000" in found[1].text["en"]
    assert ids(analyse([], {"counters": [50_000_000, 10, 0], "printer_counters": None})) == []


def test_paper_use_per_day_and_when_the_roll_runs_out() -> None:
    day = 86400
    # Paper out on day 0 (a new 50 m roll goes in), then 5 m a day for 4 days.
    records = log(OUT, start=1790000000 - 1) + log(
        OK, OK, OK, OK, OK, start=1790000000, every=day, counters=lambda i: [1_000_000 + 5000 * i, i, 0]
    )
    found = analyse(records, TERMINAL, roll_m=50)
    assert ids(found) == ["paper-forecast"]
    text = found[0].text["en"]
    assert "5.0 m a day" in text and "30 m left of 50 m" in text and "in about 6 days" in text
