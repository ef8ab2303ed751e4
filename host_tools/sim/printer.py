"""A virtual ESC/POS receipt printer: answers DLE EOT 1-4 from its state, the
way an Epson-compatible printer does, over the master side of a pseudo-
terminal. The firmware talks to it through the tty, exactly as to a printer
on a UART."""

from __future__ import annotations

import os
import select
import threading
from dataclasses import dataclass


@dataclass
class PrinterState:
    paper: str = "ok"  # "ok" | "near-end" | "end"
    cover_open: bool = False
    cutter_error: bool = False
    unrecoverable: bool = False  # head or driver damaged
    overheat: bool = False  # auto-recoverable error
    feed_pressed: bool = False
    responsive: bool = True  # False: printer off or cable pulled
    garbled: bool = False  # baud rate mismatch: replies arrive mangled

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


class EscPosEmulator:
    """Parses the byte stream a terminal sends to its printer and returns the
    printer's replies. Print data is accepted and discarded."""

    def __init__(self, state: PrinterState) -> None:
        self.state = state
        self._pending = bytearray()
        self.queries = 0

    def feed(self, data: bytes) -> bytes:
        if not self.state.responsive:
            self._pending.clear()
            return b""
        self._pending.extend(data)
        out = bytearray()
        buf = self._pending
        i = 0
        while i < len(buf):
            if buf[i] == 0x10 and i + 2 >= len(buf):
                break  # a command split across reads: wait for the rest
            if buf[i] == 0x10 and buf[i + 1] == 0x04 and 1 <= buf[i + 2] <= 4:
                self.queries += 1
                out.append(status_byte(self.state, buf[i + 2]))
                i += 3
            elif buf[i] == 0x10 and buf[i + 1] == 0x05 and buf[i + 2] in (1, 2):
                self.state.cutter_error = False  # recovery request clears it
                i += 3
            else:
                i += 1
        del buf[:i]
        if self.state.garbled:
            # What a terminal reads at the wrong baud rate: each reply byte
            # arrives with its framing bits smeared, failing the fixed-bit test.
            return bytes(b ^ 0x93 for b in out)
        return bytes(out)


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
            reply = self.emulator.feed(data)
            if reply:
                os.write(self._fd, reply)
