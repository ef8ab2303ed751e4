"""Real printers as they answer on the line (tests/data/printers.json): GS I
identities in GBK, GB18030, Big5, Latin-1, UTF-8 and garbage, blocks with no
closing NUL, clones that ignore GS I and GS g 2, printers 60-200 ms late,
ASB blocks and XON/XOFF between replies. Each runs against the real firmware
over a real pseudo-terminal: every healthy printer is healthy (no cause, the
same answer run after run), its identity is kept byte for byte and shown
readably on the host."""

from __future__ import annotations

import json
import os
import pty
import tempfile
import tty
from collections.abc import Iterator
from pathlib import Path

import cbor2
import pytest

from host_tools.diagnosis import diagnose
from host_tools.identity import readable
from host_tools.sim.hal_posix import TtyPort
from host_tools.sim.parts import EscPosEmulator, MemoryDisplay, PrinterState
from host_tools.sim.printer import PtyPrinter
from host_tools.uart import HostClock
from posdiag import catalog as c
from posdiag import config, printer, record
from posdiag.hal import FileStorage, Parts
from posdiag.printerid import BLOCK_LIMIT
from posdiag.terminal import Terminal

CORPUS = json.loads((Path(__file__).parent / "data" / "printers.json").read_text())["printers"]
HEALTHY_RAW = bytes([0x16, 0x12, 0x12, 0x12])  # DLE EOT 1-4 of a healthy emulator


def sent_bytes(spec: dict | None) -> bytes | None:
    """The bytes a profile's printer sends for one identity text."""
    if spec is None:
        return None
    if "hex" in spec:
        return bytes.fromhex(spec["hex"])
    return spec["text"].encode(spec["encoding"])


def printer_state(profile: dict) -> PrinterState:
    s = PrinterState()
    s.maker = sent_bytes(profile["maker"])
    s.name = sent_bytes(profile["name"])
    s.firmware = sent_bytes(profile["firmware"])
    s.model = profile["model"]
    for key in ("delay_ms", "answers_identity", "answers_counters", "terminates_blocks", "asb", "xon_xoff"):
        if key in profile:
            setattr(s, key, profile[key])
    return s


class PtyTerminal:
    """The firmware on CPython with only a printer: the profile's emulator on
    a pty master, the terminal's printer port on the slave."""

    def __init__(self, state: PrinterState, **settings: object) -> None:
        self.master, self.slave = pty.openpty()
        tty.setraw(self.master)
        tty.setraw(self.slave)
        self.emulator = EscPosEmulator(state)
        self.server = PtyPrinter(self.master, self.emulator)
        self.server.start()
        self.port = TtyPort.open(os.ttyname(self.slave), 9600)
        self.flash = tempfile.TemporaryDirectory()
        self.display = MemoryDisplay()
        parts = Parts(HostClock(), FileStorage(self.flash.name), self.display, printer=self.port)
        self.terminal = Terminal(config.load(settings), parts)

    def close(self) -> None:
        self.server.stop()
        self.port.close()
        os.close(self.master)
        os.close(self.slave)
        self.flash.cleanup()


@pytest.fixture
def make_terminal() -> Iterator:
    made: list[PtyTerminal] = []

    def make(state: PrinterState, **settings: object) -> PtyTerminal:
        made.append(PtyTerminal(state, **settings))
        return made[-1]

    yield make
    for t in made:
        t.close()


def printer_check(data: bytes) -> list:
    """A record's printer check in its full form."""
    value = cbor2.loads(data)[record.K_CHECKS][c.CHECK_PRINTER]
    return [0, HEALTHY_RAW, value] if isinstance(value, int) else value


@pytest.mark.parametrize("profile", CORPUS, ids=[p["id"] for p in CORPUS])
def test_a_real_printer_is_healthy_named_and_kept_faithfully(profile: dict, make_terminal, validate) -> None:  # noqa: ANN001
    rig = make_terminal(printer_state(profile))
    t = rig.terminal
    boot = t.boot()
    assert boot is not None
    validate(boot)
    assert diagnose(boot)["causes"] == [], "a healthy printer must give no cause"
    assert rig.display.text == c.HEALTHY_HINT[0]
    t.tick()  # identity not asked within the boot's budget (slow printers) is asked now
    # The same answer run after run: a late reply never passes for the next one.
    for _ in range(3):
        again = t.run_selftest(record.TRIGGER_REQUEST)
        assert printer_check(again)[:2] == [0, HEALTHY_RAW]
    item = t.info()
    validate(cbor2.dumps(item))
    shown = readable(item["printer"])
    if profile["shows"] is None:  # ignores GS I: no identity, and that is fine
        assert item["printer"] is None
        return
    for field in ("maker", "name"):
        assert (shown or {}).get(field) == profile["shows"][field], field
    # Faithful: whatever is not clean UTF-8 is kept as the exact bytes sent.
    for field in ("maker", "name", "firmware"):
        data = sent_bytes(profile[field])
        if data is None:
            continue
        raw = item["printer"].get("raw", {}).get(field)
        try:
            clean = data.decode("utf-8").isprintable()
        except UnicodeDecodeError:
            clean = False
        if clean:
            assert raw is None and item["printer"][field] == data.decode().strip()[:BLOCK_LIMIT].strip()
        else:
            assert raw == data.split(b"\x00")[0][:BLOCK_LIMIT]


@pytest.mark.parametrize(
    "delay_ms,timeout_ms",
    [(100, 80), (150, 80), (200, None), (150, None)],
    ids=["100ms-wait-80", "150ms-wait-80", "200ms-default-wait", "150ms-default-wait"],
)
def test_a_slow_printer_gives_the_same_healthy_answer_every_run(
    delay_ms: int, timeout_ms: int | None, make_terminal  # noqa: ANN001
) -> None:
    state = PrinterState()
    state.delay_ms = delay_ms
    rig = make_terminal(state, **({"printer_timeout_ms": timeout_ms} if timeout_ms else {}))
    t = rig.terminal
    results = [printer_check(t.boot())]
    t.tick()
    results += [printer_check(t.run_selftest(record.TRIGGER_REQUEST)) for _ in range(4)]
    assert [r[:2] for r in results] == [[0, HEALTHY_RAW]] * 5
    assert t.printer_identity["name"] == "POSDIAG-EMU-80"
    assert t.printer_counters == state.counters


def test_a_printer_slower_than_two_waits_is_no_response_every_run_never_a_false_fault(make_terminal) -> None:  # noqa: ANN001
    # 200 ms against a 60 ms wait: both tries time out, and the replies that
    # come later must not be read as the next checks' answers (they would
    # say cover open or paper end).
    state = PrinterState()
    state.delay_ms = 200
    rig = make_terminal(state, printer_timeout_ms=60)
    t = rig.terminal
    runs = [t.boot()] + [t.run_selftest(record.TRIGGER_REQUEST) for _ in range(4)]
    assert [[cause["id"] for cause in diagnose(r)["causes"]] for r in runs] == [["printer-no-response"]] * 5


def test_every_status_query_is_answered_by_its_own_reply(make_terminal) -> None:  # noqa: ANN001
    # Distinct replies to DLE EOT 1-4 (offline; cover open; cutter; near end):
    # a reply taken for the wrong query would show in the raw bytes.
    state = PrinterState()
    state.delay_ms = 150
    state.cover_open = True
    state.cutter_error = True
    state.paper = "near-end"
    rig = make_terminal(state)
    carry = [0, 0]
    for _ in range(3):  # 150 ms against an 80 ms wait: every first try times out
        flags, raw, _ = printer.check_printer(rig.port, HostClock(), 80, carry=carry)
        assert raw == bytes([0x1E, 0x56, 0x1A, 0x1E])
        assert flags == c.P_OFFLINE | c.P_COVER | c.P_CUTTER | c.P_NEAR_END


def test_partial_answers_never_outrank_the_fault_they_show(make_terminal) -> None:  # noqa: ANN001
    state = PrinterState()
    state.cover_open = True
    state.silent_after = 2  # DLE EOT 1 and 2 answered, then a loose connector
    rig = make_terminal(state)
    diag = diagnose(rig.terminal.boot())
    ids = [cause["id"] for cause in diag["causes"]]
    assert ids[0] == "cover-open"
    assert "link-intermittent" in ids and "printer-no-response" not in ids
    assert diag["checks"]["printer"]["flags"] == ["offline", "cover-open", "partial-reply"]


def test_a_printer_that_never_answers_is_still_no_response(make_terminal) -> None:  # noqa: ANN001
    state = PrinterState()
    state.responsive = False
    rig = make_terminal(state)
    assert [cause["id"] for cause in diagnose(rig.terminal.boot())["causes"]] == ["printer-no-response"]


def test_echoed_queries_are_a_garbled_link_not_a_silent_printer() -> None:
    # TX looped back to RX (a wrong cable, a modem echo): DLE EOT n has the
    # shape of an ASB block, yet it is our own query, so it is garbage.
    from host_tools.sim.parts import BufferedPort
    from host_tools.sim.parts import StepClock

    class Loopback(BufferedPort):
        def write(self, data: bytes) -> int:
            self._received(bytes(data))
            return len(data)

    flags, raw, _ = printer.check_printer(Loopback(), StepClock(), 100)
    assert flags == c.P_GARBLED and raw == b""
