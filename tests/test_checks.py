"""The firmware's checks against real parts: the printer check over a real
pseudo-terminal to the ESC/POS emulator, the host check against real TCP."""

from __future__ import annotations

import os
import pty
import socket
import threading
import tty
from collections.abc import Iterator

import pytest
from posdiag import catalog as c
from posdiag import checks
from posdiag.hal import Sensor
from posdiag.netprobe import TcpProbe

from host_tools.sim.hal_posix import HostClock, TtyPort, VirtualPin
from host_tools.sim.printer import EscPosEmulator, PrinterState, PtyPrinter
from host_tools.sim.settlement import EchoServer, closed_port

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
        self.port = TtyPort.open(os.ttyname(self.slave))

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


def run(rig: PrinterRig) -> list:
    return checks.check_printer(rig.port, CLOCK, timeout_ms=150)


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
    rig.state.garbled = True
    flags, raw, _ = run(rig)
    assert flags == c.P_GARBLED
    assert raw == b""


def test_asb_and_xon_between_replies_are_tolerated(rig: PrinterRig) -> None:
    # An ASB message (4 bytes) and XON arrive unasked before each reply.
    real_feed = rig.emulator.feed

    def noisy_feed(data: bytes) -> bytes:
        reply = real_feed(data)
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


def test_paper_sensors_absent() -> None:
    assert checks.check_paper(None, None, None, CLOCK) == 0


def test_host_reachable_over_real_tcp() -> None:
    server = EchoServer()
    server.start()
    try:
        flags, rtt = checks.check_host(TcpProbe(socket, CLOCK), *server.address, 1000, 500)
    finally:
        server.stop()
    assert flags == 0
    assert rtt is not None and rtt < 500


def test_host_refused() -> None:
    host, port = closed_port()
    assert checks.check_host(TcpProbe(socket, CLOCK), host, port, 1000, 500) == [c.H_REFUSED, None]


def test_host_slow_threshold() -> None:
    server = EchoServer()
    server.start()
    try:
        flags, rtt = checks.check_host(TcpProbe(socket, CLOCK), *server.address, 1000, -1)
    finally:
        server.stop()
    assert flags == c.H_SLOW and rtt is not None


def test_host_dns_failure() -> None:
    class NoDns:
        SOCK_STREAM = socket.SOCK_STREAM

        @staticmethod
        def getaddrinfo(*_: object) -> list:
            raise OSError(-2, "Name or service not known")

    assert checks.check_host(TcpProbe(NoDns, CLOCK), "host.invalid", 443, 100, 50) == [
        c.H_DNS,
        None,
    ]


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
        flags, rtt = checks.check_host(TcpProbe(socket, CLOCK), *listener.getsockname(), 200, 100)
    finally:
        for f in fillers:
            f.close()
        listener.close()
    assert (flags, rtt) == (c.H_TIMEOUT, None)
