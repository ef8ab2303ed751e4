"""The virtual ESC/POS printer (sim/parts.py) on a real line: the master side
of a pseudo-terminal (as a printer on a UART or USB-serial adapter), or a TCP
server (as an Ethernet receipt printer on port 9100). The firmware and
`posdiag printer` talk to it exactly as to a real printer. On a pty the baud
rate matters: when the terminal's side is set to another rate than the
printer's, the replies arrive mangled, as on a real link with mismatched
settings. Replies go out after the printer's delay_ms, as a slow printer's
do."""

from __future__ import annotations

import os
import select
import socket
import termios
import threading
import time
from collections.abc import Callable

from host_tools.sim.parts import EscPosEmulator


def _tty_baud(fd: int) -> int | None:
    """The baud rate the pty is set to (both sides share one termios)."""
    speed = termios.tcgetattr(fd)[5]
    for rate in (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400):
        if getattr(termios, f"B{rate}") == speed:
            return rate
    return None


class _Line:
    """Serves an emulator over one readable file descriptor until stopped:
    requests in, replies out after the printer's delay."""

    def __init__(self, emulator: EscPosEmulator, name: str) -> None:
        self.emulator = emulator
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def _serve(self) -> None:
        raise NotImplementedError

    def _pump(self, fd: int, read: Callable[[], bytes | None], write: Callable[[bytes], None],
              baud: Callable[[], int | None]) -> bool:
        """Answer requests from fd until stopped (True) or the peer went away
        (False). Replies wait in order for their time."""
        due: list[tuple[float, bytes]] = []
        while not self._stop.is_set():
            wait = 0.05 if not due else max(0.0, min(0.05, due[0][0] - time.monotonic()))
            ready, _, _ = select.select([fd], [], [], wait)
            if ready:
                data = read()
                if data is None:
                    return False
                reply = self.emulator.feed(data, baud())
                if reply:
                    due.append((time.monotonic() + self.emulator.state.delay_ms / 1000, reply))
            while due and due[0][0] <= time.monotonic():
                try:
                    write(due.pop(0)[1])
                except OSError:
                    return False
        return True


class PtyPrinter(_Line):
    """The emulator on a pseudo-terminal master; the slave is the 'device'."""

    def __init__(self, master_fd: int, emulator: EscPosEmulator) -> None:
        super().__init__(emulator, "printer")
        self._fd = master_fd

    def _read(self) -> bytes | None:
        try:
            return os.read(self._fd, 256)
        except OSError:
            time.sleep(0.01)
            return b""  # no one has the port open right now

    def _write(self, data: bytes) -> None:
        os.write(self._fd, data)

    def _serve(self) -> None:
        while not self._stop.is_set():
            self._pump(self._fd, self._read, self._write, lambda: _tty_baud(self._fd))


class TcpPrinter(_Line):
    """The emulator as a network printer: raw TCP on 127.0.0.1 (port 9100 on
    real printers; any free port here). One client at a time, as real
    printers take them. `url` is what pyserial opens."""

    def __init__(self, emulator: EscPosEmulator, port: int = 0) -> None:
        super().__init__(emulator, "tcp-printer")
        self._listener = socket.create_server(("127.0.0.1", port))
        self.url = f"socket://127.0.0.1:{self._listener.getsockname()[1]}"

    def stop(self) -> None:
        super().stop()
        self._listener.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._listener], [], [], 0.05)
            if not ready:
                continue
            conn, _ = self._listener.accept()
            with conn:

                def read(conn: socket.socket = conn) -> bytes | None:
                    return conn.recv(256) or None  # b"": the client closed

                self._pump(conn.fileno(), read, conn.sendall, lambda: None)
