"""The terminal's triggers on the simulator's real parts (ptys, TCP, flash in
a folder): boot within its time budget, failed print, schedule, identity."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator

import cbor2
import pytest

from host_tools.catalog_names import CHECKS
from host_tools.sim.runner import SimulatedTerminal
from posdiag import catalog as c
from posdiag import record
from posdiag.receipt import ReceiptError

RECEIPT = {
    "txn_id": "T-1001",
    "time": "2026-11-25T10:15:00+08:00",
    "merchant": {"name": "Corner Shop", "id": "M-77", "address": "1 Main St"},
    "terminal_id": "SIM-0001",
    "items": [{"name": "Tea", "qty": 2, "amount": 1200}],
    "tax": 156,
    "total": 2400,
    "currency": "CNY",
    "card": {"brand": "UnionPay", "pan": "6222 0212 3456 7890 128"},
    "auth_code": "A1B2C3",
}


@pytest.fixture
def make_sim() -> Iterator:
    made: list[SimulatedTerminal] = []

    def make(*faults: str, **kwargs: object) -> SimulatedTerminal:
        sim = SimulatedTerminal(faults=list(faults), out=lambda _line: None, **kwargs)  # type: ignore[arg-type]
        made.append(sim)
        return sim

    yield make
    for sim in made:
        sim.close()


def checks_of(data: bytes) -> list:
    return cbor2.loads(data)[record.K_CHECKS]


def test_boot_record_has_every_check(make_sim) -> None:  # noqa: ANN001
    sim = make_sim()
    rec = cbor2.loads(sim.boot())
    assert rec[record.K_SEQ] == 1 and record.K_TRIGGER not in rec
    checks = rec[record.K_CHECKS]
    assert len(checks) == len(CHECKS)
    assert all(isinstance(v, int) for v in checks)  # all healthy: key measurements only
    assert 300 < checks[c.CHECK_HEAD] < 400  # about 35 C
    assert 23_900 < checks[c.CHECK_POWER] < 24_100
    ident = sim.terminal.info()["printer"]
    assert ident["name"] == "POSDIAG-EMU-80" and ident["firmware"] == "1.05 ESC/POS"
    assert sim.terminal.info()["printer_counters"] == [412_345, 98_765_432, 23_456]


def test_boot_with_everything_dead_keeps_to_its_budget(make_sim) -> None:  # noqa: ANN001
    # A settlement host that never answers the SYN (full accept queue), a
    # printer that never answers, and a host timeout longer than the budget.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    for _ in range(4):
        f = socket.socket()
        f.setblocking(False)
        f.connect_ex(listener.getsockname())
        fillers.append(f)
    time.sleep(0.05)
    try:
        sim = make_sim("printer-no-response", host=listener.getsockname())
        sim.terminal.cfg["host_timeout_ms"] = 5000
        started = time.monotonic()
        data = sim.boot()
        took = time.monotonic() - started
    finally:
        for f in fillers:
            f.close()
        listener.close()
    budget = sim.terminal.cfg["budget_ms"] / 1000
    # The budget bounds the checks; the slack covers writing the record and a busy machine.
    assert took < budget + 0.5, f"boot self-test took {took:.2f} s, budget {budget} s"
    checks = checks_of(data)
    assert checks[c.CHECK_PRINTER][0] == c.P_NO_REPLY
    assert checks[c.CHECK_HOST] is None or checks[c.CHECK_HOST][0] == c.H_TIMEOUT


def test_a_tiny_budget_skips_checks_instead_of_waiting(make_sim) -> None:  # noqa: ANN001
    sim = make_sim("printer-no-response")
    checks = checks_of(sim.terminal.run_selftest(record.TRIGGER_REQUEST, budget_ms=0))
    assert checks[c.CHECK_PRINTER] is None and checks[c.CHECK_HOST] is None
    assert checks[c.CHECK_POWER] is not None  # cheap checks still run


def test_failed_print_journals_the_receipt_first_then_tests(make_sim) -> None:  # noqa: ANN001
    sim = make_sim("paper-out")
    sim.boot()
    seq = sim.terminal.failed_print(RECEIPT)
    [(jseq, stored)] = list(sim.terminal.journal.records())
    assert jseq == seq
    entry = cbor2.loads(stored)
    kept = entry["receipt"]
    assert re.fullmatch(r"[0-9a-f]{32}", entry["token"])  # 128 random bits
    assert entry["expires"] - time.time() > 29 * 86400
    assert kept["card"]["pan"] == "622202*********0128"
    assert kept["total"] == 2400 and kept["items"][0]["name"] == "Tea"
    rec = cbor2.loads(list(sim.terminal.log.records())[-1][1])
    assert rec[record.K_TRIGGER] == record.TRIGGER_FAILED_PRINT and rec[record.K_RECEIPT] == seq
    assert sim.terminal.last_causes[0] == c.PAPER_OUT
    assert sim.terminal.info()["receipts"] == 1


@pytest.mark.parametrize("field", ["cvv", "track2", "pin_block"])
def test_failed_print_refuses_sensitive_card_data(make_sim, field: str) -> None:  # noqa: ANN001
    sim = make_sim()
    bad = {**RECEIPT, "card": {**RECEIPT["card"], field: "123"}}
    with pytest.raises(ReceiptError, match=field):
        sim.terminal.failed_print(bad)
    assert list(sim.terminal.journal.records()) == []  # nothing stored


def test_scheduled_run_carries_the_wear_counters(make_sim) -> None:  # noqa: ANN001
    sim = make_sim()
    sim.terminal.cfg["schedule_s"] = 3600
    sim.terminal._next_scheduled = 0  # due now
    for _ in range(3):
        sim.terminal.note_print(paper_mm=120, cuts=1, energized=5000)
    data = sim.terminal.tick()
    assert data is not None
    rec = cbor2.loads(data)
    assert rec[record.K_TRIGGER] == record.TRIGGER_SCHEDULE
    assert rec[record.K_COUNTERS] == [360, 3, 15000]
    assert sim.terminal.tick() is None  # the next one is an hour away


def test_counters_survive_a_reboot(make_sim, tmp_path) -> None:  # noqa: ANN001
    first = make_sim(state_dir=str(tmp_path))
    first.terminal.note_print(paper_mm=80, cuts=1, energized=100)
    first.terminal.run_selftest(record.TRIGGER_SCHEDULE)  # saves them
    again = make_sim(state_dir=str(tmp_path))
    assert again.terminal.info()["counters"] == [80, 1, 100]


def test_unsupported_printer_is_software_mismatch(make_sim) -> None:  # noqa: ANN001
    sim = make_sim("software-mismatch")
    checks = checks_of(sim.boot())
    assert checks[c.CHECK_PRINTER][0] == c.P_UNSUPPORTED
    assert sim.terminal.last_causes == [c.SOFTWARE_MISMATCH]


def test_brownout_reset_is_reported_at_boot_only(make_sim) -> None:  # noqa: ANN001
    sim = make_sim()
    sim.parts.reset_cause = c.RESET_BROWNOUT
    assert checks_of(sim.boot())[c.CHECK_POWER][0] == c.V_BROWNOUT
    assert sim.terminal.last_causes == [c.POWER_UNSTABLE]
    assert isinstance(checks_of(sim.terminal.run_selftest(record.TRIGGER_REQUEST))[c.CHECK_POWER], int)


def test_screen_shows_the_top_cause_in_the_configured_language(make_sim) -> None:  # noqa: ANN001
    sim = make_sim("cover-open", "host-unreachable", lang="en")
    sim.boot()
    assert sim.display.text == c.hint(c.COVER_OPEN, "en")
    healthy = make_sim()
    healthy.boot()
    assert healthy.display.text == c.hint(None, "zh")


def test_failed_print_offers_the_e_receipt_link_when_the_host_answers(make_sim) -> None:  # noqa: ANN001
    sim = make_sim("paper-out", lang="en")
    sim.boot()
    sim.terminal.failed_print(RECEIPT)
    token = cbor2.loads(list(sim.terminal.journal.records())[0][1])["token"]
    assert sim.display.text == c.E_RECEIPT_HINT[1]
    assert sim.display.qr == sim.terminal.cfg["receipt_url"] + token


def test_failed_print_offers_the_receipt_itself_when_the_network_is_down(make_sim) -> None:  # noqa: ANN001
    sim = make_sim("paper-out", "host-unreachable")
    sim.boot()
    sim.terminal.failed_print(RECEIPT)
    assert sim.display.text == c.E_RECEIPT_HINT[0]
    qr = sim.display.qr
    assert qr.startswith("RECEIPT Corner Shop\n1 Main St\n")
    assert "Tea x2 12.00" in qr and "TAX 1.56" in qr and "TOTAL CNY 24.00" in qr
    assert "UnionPay 622202*********0128 A1B2C3" in qr
    assert "6222021234567890128" not in qr.replace(" ", "")


def test_settings_live_in_config_defaults_board_link_changes_and_flash(tmp_path) -> None:  # noqa: ANN001
    """config.py owns the settings: the link's changes are checked, kept in
    flash and laid over the board's values at the next start; a kept file
    that is not a JSON object, or a kept key the link may not change, is
    ignored."""
    import json

    from posdiag import config, flashfile
    from posdiag.hal import FileStorage

    storage = FileStorage(str(tmp_path))
    cfg = config.load({"terminal_id": "T-9"})
    assert config.change(cfg, storage, b'{"lang": "fr"}') is None  # out of range: nothing changed
    assert config.change(cfg, storage, b"[1]") is None
    assert config.change(cfg, storage, b'{"budget_ms": 900}') == {"budget_ms": 900}
    assert config.change(cfg, storage, b'{"lang": "en"}') == {"lang": "en"}
    assert cfg["budget_ms"] == 900 and cfg["lang"] == "en"
    shown = json.loads(config.shown(cfg))
    assert shown["terminal_id"] == "T-9" and shown["tech_key"] == "" and "printer_uart" not in shown
    assert set(shown) == {"terminal_id", "tech_key", *config.CHANGEABLE}

    again = config.load({"terminal_id": "T-9"})
    config.apply_kept(again, storage)
    assert (again["budget_ms"], again["lang"]) == (900, "en")

    flashfile.write_atomic(storage, config.FILE, b'{"budget_ms": 700, "printer_uart": 5}')
    again = config.load()
    config.apply_kept(again, storage)
    assert again["budget_ms"] == 700 and again["printer_uart"] == config.DEFAULTS["printer_uart"]
    flashfile.write_atomic(storage, config.FILE, b"[1, 2]")
    again = config.load()
    config.apply_kept(again, storage)
    assert again == config.load()
