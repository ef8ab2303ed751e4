"""The firmware's checks against real parts: the printer check over a real
pseudo-terminal to the ESC/POS emulator, the host check against real TCP."""

from __future__ import annotations

import os
import pty
import socket
import tempfile
import threading
import tty
from collections.abc import Iterator

import pytest

from host_tools.sim.hal_posix import TtyPort
from host_tools.sim.parts import EscPosEmulator, PrinterState, VirtualAdc, VirtualPin
from host_tools.sim.printer import PtyPrinter
from host_tools.sim.settlement import EchoServer, closed_port
from host_tools.uart import HostClock
from posdiag import catalog as c
from posdiag import checks, printer, printerid
from posdiag.hal import FileStorage, Sensor
from posdiag.hostaddr import HostAddr
from posdiag.netprobe import TcpProbe

CLOCK = HostClock()


class PrinterRig:
    """A printer emulator on a pty master; the firmware's port on the slave."""

    def __init__(self) -> None:
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)
        tty.setraw(self.master)
        self.state = PrinterState()
        self.emulator = EscPosEmulator(self.state)
        self.server = PtyPrinter(self.master, self.emulator)
        self.server.start()
        self.port = TtyPort.open(os.ttyname(self.slave), 9600)

    def close(self) -> None:
        self.server.stop()
        self.port.close()
        os.close(self.master)
        os.close(self.slave)


@pytest.fixture
def rig() -> Iterator[PrinterRig]:
    r = PrinterRig()
    yield r
    r.close()


def run(rig: PrinterRig, baud: int | None = 9600) -> list:
    return printer.check_printer(rig.port, CLOCK, timeout_ms=150, baud=baud)


def test_healthy_printer(rig: PrinterRig) -> None:
    flags, raw, ms = run(rig)
    assert flags == 0
    assert raw == bytes([0x16, 0x12, 0x12, 0x12])
    assert rig.emulator.queries == 4
    assert 0 <= ms < 150


@pytest.mark.parametrize(
    "setup,expected",
    [
        (lambda s: setattr(s, "paper", "end"), c.P_OFFLINE | c.P_PAPER_END | c.P_NEAR_END),
        (lambda s: setattr(s, "paper", "near-end"), c.P_NEAR_END),
        (lambda s: setattr(s, "cover_open", True), c.P_OFFLINE | c.P_COVER),
        (lambda s: setattr(s, "cutter_error", True), c.P_OFFLINE | c.P_CUTTER),
        (lambda s: setattr(s, "overheat", True), c.P_OFFLINE | c.P_AUTO_RECOVER),
        (lambda s: setattr(s, "unrecoverable", True), c.P_OFFLINE | c.P_UNRECOVERABLE),
        (lambda s: setattr(s, "feed_pressed", True), c.P_OFFLINE | c.P_FEED),
    ],
    ids=["paper-end", "near-end", "cover", "cutter", "overheat", "unrecoverable", "feed"],
)
def test_printer_fault_bits(rig: PrinterRig, setup, expected: int) -> None:  # noqa: ANN001
    setup(rig.state)
    flags, raw, _ = run(rig)
    assert flags == expected
    assert len(raw) == 4


def test_no_reply_is_asked_twice_then_reported(rig: PrinterRig) -> None:
    rig.state.responsive = False
    flags, raw, ms = run(rig)
    assert flags == c.P_NO_REPLY
    assert raw == b""
    assert ms >= 2 * 150  # one retry before giving up


def test_garbled_replies_are_not_a_dead_printer(rig: PrinterRig) -> None:
    rig.state.baud = 19200  # the printer's setting; the terminal is at 9600
    flags, raw, _ = run(rig, baud=None)  # no scan
    assert flags == c.P_GARBLED
    assert raw == b""


def test_garbled_link_finds_the_printers_baud_rate_and_restores_the_port(rig: PrinterRig) -> None:
    rig.state.baud = 38400
    flags, raw, _, found = run(rig)
    assert flags == c.P_GARBLED and raw == b""
    assert c.BAUD_RATES[found] == 38400
    # The self-test never changes the setting: the port is back at 9600, so
    # the printer still answers garbled.
    assert run(rig, baud=None)[0] == c.P_GARBLED


def test_garbled_at_every_rate_reports_no_rate(rig: PrinterRig) -> None:
    rig.state.baud = 2400  # not a rate the scan tries
    result = run(rig)
    assert result[0] == c.P_GARBLED and len(result) == 3


def test_identity_and_counters(rig: PrinterRig) -> None:
    ident = printerid.identify(rig.port, CLOCK, 150)
    assert ident == {"model": 0x20, "firmware": "1.05 ESC/POS", "maker": "posdiag", "name": "POSDIAG-EMU-80"}
    assert printerid.read_counters(rig.port, CLOCK, 150) == [412345, 98765432, 23456]
    assert not printerid.unsupported(ident, [])
    assert not printerid.unsupported(ident, ["POSDIAG-EMU-80"])
    assert printerid.unsupported(ident, ["TM-T88VI"])


def test_silent_printer_has_no_identity(rig: PrinterRig) -> None:
    rig.state.responsive = False
    assert printerid.identify(rig.port, CLOCK, 50) is None
    assert printerid.read_counters(rig.port, CLOCK, 50) is None


def test_recovery_request_is_sent_only_when_asked(rig: PrinterRig) -> None:
    rig.state.cutter_error = True
    assert run(rig)[0] & c.P_CUTTER
    assert rig.emulator.recoveries == []  # the self-test never sends DLE ENQ
    printer.recover(rig.port, 2)
    CLOCK.sleep_ms(100)
    assert rig.emulator.recoveries == [2]
    assert run(rig)[0] == 0


def test_asb_and_xon_between_replies_are_tolerated(rig: PrinterRig) -> None:
    # An ASB message (4 bytes) and XON arrive unasked before each reply.
    real_feed = rig.emulator.feed

    def noisy_feed(data: bytes, link_baud: int | None = None) -> bytes:
        reply = real_feed(data, link_baud)
        return (bytes([0x14, 0x00, 0x00, 0x0F, 0x11]) + reply) if reply else reply

    rig.emulator.feed = noisy_feed  # type: ignore[method-assign]
    rig.state.cover_open = True
    flags, raw, _ = run(rig)
    assert flags == c.P_OFFLINE | c.P_COVER
    assert raw == bytes([0x1E, 0x16, 0x12, 0x12])


def test_paper_sensors_debounced_majority() -> None:
    class Bouncing:
        def __init__(self, levels: list[int]) -> None:
            self.levels = levels

        def value(self) -> int:
            return self.levels.pop(0)

    paper_end = Sensor(Bouncing([1, 0, 1]), 1)  # 2 of 3: active
    near_end = Sensor(Bouncing([0, 1, 0]), 1)  # 1 of 3: a bounce, not a signal
    cover = Sensor(VirtualPin(0), 0)  # active-low switch, pulled low: open
    flags = checks.check_paper(paper_end, near_end, cover, CLOCK)
    assert flags == c.S_PAPER_END | c.S_COVER


@pytest.mark.parametrize(
    "sensor,printer_flags,expected",
    [
        (1, c.P_PAPER_END, c.S_PAPER_END),  # agree: paper out
        (0, 0, 0),  # agree: paper in
        (1, 0, c.S_PAPER_END | c.S_DISAGREE),  # sensor sees an end the printer does not
        (0, c.P_PAPER_END | c.P_OFFLINE, c.S_DISAGREE),  # the printer's sensor disagrees
        (0, c.P_NO_REPLY, 0),  # no printer answer: nothing to compare
        (0, c.P_PAPER_END | c.P_COVER, 0),  # cover open: paper bits unreliable
    ],
)
def test_paper_end_cross_checked_with_printer(sensor: int, printer_flags: int, expected: int) -> None:
    flags = checks.check_paper(Sensor(VirtualPin(sensor), 1), None, None, CLOCK, printer_flags)
    assert flags == expected


def test_paper_sensors_absent() -> None:
    assert checks.check_paper(None, None, None, CLOCK) == 0


def host_check(probe: TcpProbe, host: str, port: int, *rest: object) -> list:
    """check_host for an address (no lookup), with an empty address cache."""
    with tempfile.TemporaryDirectory() as root:
        return checks.check_host(probe, HostAddr(FileStorage(root), probe), host, port, *rest)


def test_host_reachable_over_real_tcp() -> None:
    server = EchoServer()
    server.start()
    try:
        flags, rtt, echo = host_check(TcpProbe(socket, CLOCK), *server.address, 1000, 500, b"ping", b"ping")
    finally:
        server.stop()
    assert flags == 0
    assert rtt is not None and rtt < 500
    assert echo is not None and echo < 500


@pytest.mark.parametrize(
    "mode,expected",
    [("reject", c.H_REJECTS), ("slow", c.H_SLOW)],
)
def test_host_application_echo(mode: str, expected: int) -> None:
    server = EchoServer(mode=mode)
    server.start()
    try:
        flags, rtt, echo = host_check(TcpProbe(socket, CLOCK), *server.address, 2000, 500, b"ping", b"ping")
    finally:
        server.stop()
    assert flags == expected and rtt is not None
    assert echo is not None and (echo > 500) == (mode == "slow")


def test_host_echo_unanswered_in_time() -> None:
    server = EchoServer(mode="slow")
    server.start()
    try:
        result = host_check(TcpProbe(socket, CLOCK), *server.address, 300, 500, b"ping", b"ping")
    finally:
        server.stop()
    assert result[0] == c.H_ECHO_TIMEOUT and result[2] is None


def test_host_refused() -> None:
    host, port = closed_port()
    assert host_check(TcpProbe(socket, CLOCK), host, port, 1000, 500) == [c.H_REFUSED, None, None]


def test_host_slow_threshold() -> None:
    server = EchoServer()
    server.start()
    try:
        flags, rtt, _ = host_check(TcpProbe(socket, CLOCK), *server.address, 1000, -1)
    finally:
        server.stop()
    assert flags == c.H_SLOW and rtt is not None


def test_host_dns_failure() -> None:
    class NoDns:
        AF_INET = socket.AF_INET
        SOCK_STREAM = socket.SOCK_STREAM

        @staticmethod
        def getaddrinfo(*_: object) -> list:
            raise OSError(-2, "Name or service not known")

    probe = TcpProbe(NoDns, CLOCK)
    with tempfile.TemporaryDirectory() as root:
        addrs = HostAddr(FileStorage(root), probe)
        # Not looked up yet: no verdict. Looked up at idle and failed: DNS.
        assert checks.check_host(probe, addrs, "host.invalid", 443, 100, 50) == [c.H_UNRESOLVED, None, None]
        assert addrs.idle("host.invalid", 443, 0)
        assert checks.check_host(probe, addrs, "host.invalid", 443, 100, 50) == [c.H_DNS, None, None]


def test_host_timeout() -> None:
    # A listener whose accept queue is full drops the SYN: connect times out.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    try:
        for _ in range(4):
            f = socket.socket()
            f.setblocking(False)
            f.connect_ex(listener.getsockname())
            fillers.append(f)
        threading.Event().wait(0.05)
        result = host_check(TcpProbe(socket, CLOCK), *listener.getsockname(), 200, 100)
    finally:
        for f in fillers:
            f.close()
        listener.close()
    assert result == [c.H_TIMEOUT, None, None]


# -- head thermistor and supply voltage --------------------------------------
TABLE = [(2563, 1200), (9807, 700), (29202, 300), (50511, 0), (59855, -200)]


def test_interpolation_is_integer_and_clamped() -> None:
    assert checks.interpolate(TABLE, 29202) == 300
    assert checks.interpolate(TABLE, (29202 + 50511) // 2) == 150
    assert checks.interpolate(TABLE, 0) == 1200 and checks.interpolate(TABLE, 65535) == -200


@pytest.mark.parametrize(
    "raw,expected",
    [
        (29202, [0, 300]),
        (9000, [c.T_OVERHEAT, 755]),
        (65535, [c.T_OPEN, None]),
        (100, [c.T_SHORT, None]),
    ],
    ids=["30C", "overheat", "open", "short"],
)
def test_head_thermistor(raw: int, expected: list) -> None:
    assert checks.check_head(VirtualAdc(raw), CLOCK, TABLE, 64000, 1000, 650) == expected


def power(*readings: int, cause: int = c.RESET_POWER_ON) -> list:
    # 100k/10k divider on a 3.3 V ADC: mV = raw * 36300 // 65535.
    return checks.check_power(VirtualAdc(*readings), CLOCK, 36300, 65535, 21600, 26400, 1200, cause)


def test_power_healthy_mean_and_spread() -> None:
    flags, mean, spread = power(43330, 43290, 43370, 43310)
    assert flags == 0 and 23_970 <= mean <= 24_010 and spread == 44


def test_power_sagging_adapter_is_low_and_unstable() -> None:
    flags, mean, spread = power(37000, 33000, 38500, 31000)
    assert flags == c.V_LOW | c.V_UNSTABLE and mean < 21600 and spread > 1200


def test_power_too_high() -> None:
    assert power(49000)[0] == c.V_HIGH


@pytest.mark.parametrize(
    "cause,flag",
    [(c.RESET_BROWNOUT, c.V_BROWNOUT), (c.RESET_WATCHDOG, c.V_WATCHDOG), (c.RESET_SOFT, 0), (None, 0)],
)
def test_reset_cause(cause: int | None, flag: int) -> None:
    assert power(43330, cause=cause)[0] == flag
