"""The virtual ESC/POS printer (sim/parts.py) on the master side of a
pseudo-terminal. The firmware talks to it through the tty exactly as to a
printer on a UART, and the tty's baud rate matters: when the terminal's side
is set to another rate than the printer's, the replies arrive mangled, as on
a real link with mismatched settings."""

from __future__ import annotations

import os
import select
import termios
import threading

from host_tools.sim.parts import EscPosEmulator


def _tty_baud(fd: int) -> int | None:
    """The baud rate the pty is set to (both sides share one termios)."""
    speed = termios.tcgetattr(fd)[5]
    for rate in (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400):
        if getattr(termios, f"B{rate}") == speed:
            return rate
    return None


class PtyPrinter:
    """Serves an emulator on a pseudo-terminal master until stopped."""

    def __init__(self, master_fd: int, emulator: EscPosEmulator) -> None:
        self._fd = master_fd
        self.emulator = emulator
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="printer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def _serve(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._fd], [], [], 0.05)
            if not ready:
                continue
            try:
                data = os.read(self._fd, 256)
            except OSError:
                continue  # no one has the port open right now
            reply = self.emulator.feed(data, _tty_baud(self._fd))
            if reply:
                os.write(self._fd, reply)
