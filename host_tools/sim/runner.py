"""The simulated terminal: the real firmware on CPython, with a virtual
printer on one pseudo-terminal, its diagnostics port on another, virtual
sensor inputs, a settlement host on 127.0.0.1 and flash in a folder."""

from __future__ import annotations

import os
import pty
import shutil
import socket
import tempfile
import threading
import tty
from collections.abc import Callable

from host_tools.sim.faults import scenario
from host_tools.sim.hal_posix import ConsoleDisplay, HostClock, SerialPort, TtyPort
from host_tools.sim.parts import EscPosEmulator, VirtualAdc, VirtualPin
from host_tools.sim.printer import PtyPrinter
from host_tools.sim.settlement import EchoServer, closed_port
from posdiag import config
from posdiag.hal import FileStorage, Parts, Sensor
from posdiag.link import LinkServer
from posdiag.netprobe import TcpProbe
from posdiag.terminal import Terminal

# The simulated board's settings (posdiag/config.py has the defaults).
SIM_CONFIG = {
    "printer_supported": ["POSDIAG-EMU-80"],
    "host_echo": b"posdiag echo\n",
    "host_echo_expect": b"posdiag echo\n",
}


def _raw_pty() -> tuple[int, int, str]:
    """A pseudo-terminal in raw mode from the start, so no byte is changed by
    the line discipline before the other side opens it."""
    master, slave = pty.openpty()
    tty.setraw(slave)
    tty.setraw(master)
    os.set_blocking(master, False)
    return master, slave, os.ttyname(slave)


class SimulatedTerminal:
    def __init__(
        self,
        faults: list[str] | None = None,
        printer_url: str | None = None,
        host: tuple[str, int] | None = None,
        state_dir: str | None = None,
        lang: str = "zh",
        terminal_id: str = "SIM-0001",
        out: Callable[[str], None] = print,
    ) -> None:
        self.scenario = scenario(faults or [])
        self._out = out
        self._closers: list[Callable[[], None]] = []
        self._own_state = state_dir is None
        self.state_dir = state_dir or tempfile.mkdtemp(prefix="posdiag-sim-")
        os.makedirs(self.state_dir, exist_ok=True)
        self.emulator: EscPosEmulator | None = None

        printer_port = self._printer_port(printer_url)
        host_addr = self._settlement_host(host)

        self._diag_master, diag_slave, self.diag_path = _raw_pty()
        self._closers.append(lambda: (os.close(self._diag_master), os.close(diag_slave)))

        s = self.scenario
        paper_end, near_end, cover = (
            Sensor(VirtualPin(1 if on else 0), 1) for on in (s.paper_end_pin, s.near_end_pin, s.cover_pin)
        )
        cfg = config.load(
            {
                **SIM_CONFIG,
                "terminal_id": terminal_id,
                "lang": lang,
                "host": host_addr[0],
                "host_port": host_addr[1],
            }
        )
        self.display = ConsoleDisplay(out)
        clock = HostClock()
        self.parts = Parts(
            clock,
            FileStorage(os.path.join(self.state_dir, "flash")),
            self.display,
            printer=printer_port,
            paper_end=paper_end,
            near_end=near_end,
            cover=cover,
            head_adc=VirtualAdc(*s.head),
            supply_adc=VirtualAdc(*s.supply),
            probe=TcpProbe(socket, clock),
        )
        self.terminal = Terminal(cfg, self.parts)
        self.link = LinkServer(TtyPort(self._diag_master), self.terminal)

    def _printer_port(self, printer_url: str | None):  # noqa: ANN202 - a UART-like port
        if printer_url:
            from host_tools.serial_link import open_port

            port = open_port(printer_url, baudrate=9600, timeout=0)
            self._closers.append(port.close)
            return SerialPort(port)
        master, slave, path = _raw_pty()
        self.emulator = EscPosEmulator(self.scenario.printer)
        server = PtyPrinter(master, self.emulator)
        server.start()
        # The firmware's UART: a real tty device, at the configured rate.
        port = TtyPort.open(path, config.DEFAULTS["printer_baud"])
        self._closers.append(
            lambda: (server.stop(), port.close(), os.close(master), os.close(slave))
        )
        return port

    def _settlement_host(self, host: tuple[str, int] | None) -> tuple[str, int]:
        if self.scenario.host == "down":
            return closed_port()
        if host:
            return host
        server = EchoServer(mode=self.scenario.host)
        server.start()
        self._closers.append(server.stop)
        return server.address

    def boot(self) -> bytes:
        return self.terminal.boot()

    def serve(self, stop: threading.Event) -> None:
        """Answer the diagnostics link until stop is set."""
        while not stop.is_set():
            if not self.link.poll():
                stop.wait(0.002)

    def close(self) -> None:
        for closer in reversed(self._closers):
            try:
                closer()
            except OSError:
                pass
        if self._own_state:
            shutil.rmtree(self.state_dir, ignore_errors=True)
