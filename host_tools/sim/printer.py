"""A virtual ESC/POS receipt printer on the master side of a pseudo-terminal.
It answers DLE EOT 1-4 from its state the way an Epson-compatible printer
does, names itself (GS I), reports maintenance counters (GS g 2) and takes the
recovery request (DLE ENQ). The firmware talks to it through the tty exactly
as to a printer on a UART, and the tty's baud rate matters: when the
terminal's side is set to another rate than the printer's, the replies arrive
mangled, as on a real link with mismatched settings."""

from __future__ import annotations

import os
import select
import termios
import threading
from dataclasses import dataclass, field

GS_I_BLOCKS = {65: "firmware", 66: "maker", 67: "name"}
GS_G_COUNTERS = {148: "feed", 149: "head", 178: "cuts"}


@dataclass
class PrinterState:
    paper: str = "ok"            # "ok" | "near-end" | "end"
    cover_open: bool = False
    cutter_error: bool = False
    unrecoverable: bool = False  # head or driver damaged
    overheat: bool = False       # auto-recoverable error
    feed_pressed: bool = False
    responsive: bool = True      # False: printer off or cable pulled
    baud: int = 9600             # the printer's own setting
    model: int = 0x20
    firmware: str = "1.05 ESC/POS"
    maker: str = "posdiag"
    name: str = "POSDIAG-EMU-80"
    counters: dict[str, int] = field(default_factory=lambda: {"feed": 412_345, "head": 98_765_432, "cuts": 23_456})

    @property
    def error(self) -> bool:
        return self.cutter_error or self.unrecoverable or self.overheat

    @property
    def offline(self) -> bool:
        return self.cover_open or self.paper == "end" or self.error or self.feed_pressed


def status_byte(state: PrinterState, n: int) -> int:
    """The reply to DLE EOT n (fixed bits 0xx1xx10 included)."""
    b = 0x12
    if n == 1:
        b |= 0x04  # drawer kick-out connector pin 3 high, as most printers report
        b |= 0x08 if state.offline else 0
        b |= 0x40 if state.feed_pressed else 0
    elif n == 2:
        b |= 0x04 if state.cover_open else 0
        b |= 0x08 if state.feed_pressed else 0
        b |= 0x20 if state.paper == "end" else 0
        b |= 0x40 if state.error else 0
    elif n == 3:
        b |= 0x08 if state.cutter_error else 0
        b |= 0x20 if state.unrecoverable else 0
        b |= 0x40 if state.overheat else 0
    elif n == 4:
        b |= 0x0C if state.paper in ("near-end", "end") else 0
        b |= 0x60 if state.paper == "end" else 0
    return b


def _block(text: str) -> bytes:
    return b"\x5f" + text.encode() + b"\x00"


class EscPosEmulator:
    """Parses the byte stream a terminal sends to its printer and returns the
    printer's replies. Print data is accepted and discarded."""

    def __init__(self, state: PrinterState) -> None:
        self.state = state
        self._pending = bytearray()
        self.queries = 0
        self.recoveries: list[int] = []

    def _command(self, buf: bytearray, i: int) -> tuple[int, bytes] | None:
        """(bytes used, reply) for a command at buf[i], (1, b"") for print
        data, None when the command is not complete yet."""
        s = self.state
        b = buf[i]
        if b == 0x10:  # DLE
            if i + 2 >= len(buf):
                return None
            op, n = buf[i + 1], buf[i + 2]
            if op == 0x04 and 1 <= n <= 4:
                self.queries += 1
                return 3, bytes([status_byte(s, n)])
            if op == 0x05 and n in (1, 2):
                self.recoveries.append(n)
                s.cutter_error = False  # recoverable: the recovery request clears it
                return 3, b""
        elif b == 0x1D:  # GS
            if i + 1 >= len(buf):
                return None
            if buf[i + 1] == 0x49:  # GS I n
                if i + 2 >= len(buf):
                    return None
                n = buf[i + 2]
                if n == 1:
                    return 3, bytes([s.model])
                if n in GS_I_BLOCKS:
                    return 3, _block(getattr(s, GS_I_BLOCKS[n]))
                return 3, b""
            if buf[i + 1] == 0x67 and i + 2 < len(buf) and buf[i + 2] == 0x32:  # GS g 2 0 nL nH
                if i + 5 >= len(buf):
                    return None
                n = buf[i + 4] | buf[i + 5] << 8
                key = GS_G_COUNTERS.get(n)
                return 6, _block(str(s.counters[key])) if key else b""
        return 1, b""

    def feed(self, data: bytes, link_baud: int | None = None) -> bytes:
        """Replies to data. link_baud: the rate the terminal's side of the
        line is set to, when known; a mismatch mangles the replies."""
        if not self.state.responsive:
            self._pending.clear()
            return b""
        self._pending.extend(data)
        out = bytearray()
        buf = self._pending
        i = 0
        while i < len(buf):
            step = self._command(buf, i)
            if step is None:
                break  # a command split across reads: wait for the rest
            used, reply = step
            out += reply
            i += used
        del buf[:i]
        if link_baud is not None and link_baud != self.state.baud:
            # What a receiver set to the wrong rate makes of each byte: the
            # framing bits smear into the data, failing the fixed-bit test.
            return bytes(b ^ 0x93 for b in out)
        return bytes(out)


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
