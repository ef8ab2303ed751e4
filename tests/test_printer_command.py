"""`posdiag printer PORT`: a technician checks a printer from a laptop, no
terminal in between. The command runs as a technician runs it (a separate
process) against the emulator on a real pseudo-terminal (a USB-serial or
RS-232 printer) and as a raw TCP server (an Ethernet printer, port 9100)."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import tty
from collections.abc import Iterator

import pytest

from host_tools.sim.parts import EscPosEmulator, PrinterState
from host_tools.sim.printer import PtyPrinter, TcpPrinter
from tests.conftest import posdiag_cmd


class Printer:
    """The emulator on a pty (url: the device path) or on TCP (socket://)."""

    def __init__(self, kind: str, state: PrinterState) -> None:
        self.state = state
        self.emulator = EscPosEmulator(state)
        if kind == "tcp":
            self.server = TcpPrinter(self.emulator)
            self.url = self.server.url
            self._fds: tuple[int, ...] = ()
        else:
            master, slave = pty.openpty()
            tty.setraw(master)
            tty.setraw(slave)
            self.server = PtyPrinter(master, self.emulator)
            self.url = os.ttyname(slave)
            self._fds = (master, slave)
        self.server.start()

    def close(self) -> None:
        self.server.stop()
        for fd in self._fds:
            os.close(fd)


@pytest.fixture(params=["pty", "tcp"])
def make_printer(request: pytest.FixtureRequest) -> Iterator:
    made: list[Printer] = []

    def make(**behaviour: object) -> Printer:
        state = PrinterState()
        for key, value in behaviour.items():
            setattr(state, key, value)
        made.append(Printer(request.param, state))
        return made[-1]

    yield make
    for p in made:
        p.close()


def posdiag(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(posdiag_cmd(*args), capture_output=True, text=True, timeout=60)


def check_json(url: str, *args: str) -> dict:
    out = posdiag("printer", url, "--json", *args)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_a_healthy_printer_has_no_cause_and_is_named(make_printer) -> None:  # noqa: ANN001
    p = make_printer()
    result = check_json(p.url)
    assert result["diagnosis"]["causes"] == []
    assert result["diagnosis"]["checks"]["printer"]["status"] == "ok"
    expected = {"model": 0x20, "firmware": "1.05 ESC/POS", "maker": "posdiag", "name": "POSDIAG-EMU-80"}
    assert result["printer"] == expected
    assert result["printer_counters"] == p.state.counters
    assert result["recovery_offered"] is False
    text = posdiag("printer", p.url)
    assert text.returncode == 0
    assert text.stdout.splitlines()[0].endswith(": posdiag POSDIAG-EMU-80 1.05 ESC/POS")
    assert "No fault found" in text.stdout


def test_a_chinese_slow_clone_with_asb_is_healthy_and_readable(make_printer) -> None:  # noqa: ANN001
    p = make_printer(maker="佳博".encode("gbk"), name=b"GP-58130IVC", delay_ms=150, asb=True, xon_xoff=True)
    result = check_json(p.url)
    assert result["diagnosis"]["causes"] == []
    assert result["printer"]["maker"] == "佳博" and result["printer"]["encoding"] == {"maker": "gb18030"}
    assert result["printer"]["raw_hex"] == {"maker": "bcd1b2a9"}
    assert "佳博 GP-58130IVC" in posdiag("printer", p.url).stdout


@pytest.mark.parametrize(
    "fault,expected",
    [
        ({"paper": "end"}, "paper-out"),
        ({"cover_open": True}, "cover-open"),
        ({"overheat": True}, "head-overheat"),
        ({"unrecoverable": True}, "head-fault"),
        ({"feed_pressed": True}, "printer-busy-offline"),
        ({"responsive": False}, "printer-no-response"),
        ({"name": "TM-T88VI"}, "software-mismatch"),
    ],
)
def test_printer_faults_are_ranked_as_the_terminal_ranks_them(make_printer, fault: dict, expected: str) -> None:  # noqa: ANN001
    p = make_printer(**fault)
    result = check_json(p.url, "--supported", "POSDIAG-EMU-80")
    assert [cause["id"] for cause in result["diagnosis"]["causes"]][0] == expected


def test_recovery_is_offered_and_sent_only_when_asked(make_printer) -> None:  # noqa: ANN001
    p = make_printer(cutter_error=True)
    offered = posdiag("printer", p.url)
    assert "cutter-jam" in offered.stdout and f"posdiag printer {p.url} --recover clear" in offered.stdout
    assert check_json(p.url)["recovery_offered"] is True
    assert p.emulator.recoveries == []  # offered, never sent unasked
    after = check_json(p.url, "--recover", "clear")
    assert p.emulator.recoveries == [2]
    assert after["diagnosis"]["causes"] == []


def test_a_wrong_baud_rate_is_found_on_a_serial_line() -> None:
    p = Printer("pty", PrinterState())
    try:
        p.state.baud = 38400
        result = check_json(p.url, "--baud", "9600")
        assert [cause["id"] for cause in result["diagnosis"]["causes"]] == ["link-garbled"]
        assert result["diagnosis"]["checks"]["printer"]["baud_found"] == 38400
        assert check_json(p.url, "--baud", "38400")["diagnosis"]["causes"] == []
    finally:
        p.close()


def test_a_printer_that_is_not_there_is_one_line() -> None:
    out = posdiag("printer", "socket://127.0.0.1:1")
    assert out.returncode == 3 and out.stderr.startswith("posdiag: cannot open socket://127.0.0.1:1")
    assert "Traceback" not in out.stderr
    out = posdiag("printer", "/dev/ttyPOSDIAG-NONE")
    assert out.returncode == 3 and len(out.stderr.strip().splitlines()) == 1


def test_sim_with_a_real_printer_accepts_any_model_unless_told(start_sim, make_printer) -> None:  # noqa: ANN001
    # A real printer (here the emulator under another name, on its own
    # line) is judged against the configured list, not the emulator's own.
    from tests.test_e2e import diagnose_json

    p = make_printer(name="TM-T88V", maker="EPSON")
    first = start_sim("--printer", p.url)
    assert diagnose_json(first.port)["causes"] == []
    first.stop()  # a network printer serves one client at a time
    told = start_sim("--printer", p.url, "--supported", "TM-T20II")
    assert [cause["id"] for cause in diagnose_json(told.port)["causes"]] == ["software-mismatch"]
