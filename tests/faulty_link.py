"""A damaged cable between the host tool and the terminal's diagnostics port:
it flips bits, drops and duplicates bytes, injects console text, stalls,
and can be unplugged and plugged back in. Real ptys or real TCP on both
sides, so the host tool and the terminal see nothing but a bad line."""

from __future__ import annotations

import os
import pty
import random
import select
import socket
import threading
import time
import tty
from dataclasses import dataclass

CONSOLE = (
    b"I (31337) wifi: sta disconnected, reconnecting\r\n",
    b"\r\nMicroPython v1.27.0 on 2026-01-01; ESP32 module with ESP32\r\n>>> ",
    b"E (4242) uart: UART_FIFO_OVF\r\n",
)


@dataclass
class Damage:
    flip: float = 0.0  # per byte: one bit flipped
    drop: float = 0.0  # per byte: lost
    dup: float = 0.0  # per byte: sent twice
    console: float = 0.0  # per chunk: a line of console text slipped in
    stall: float = 0.0  # per chunk: the line stops for stall_s
    stall_s: float = 0.3

    @classmethod
    def byte_errors(cls, rate: float) -> Damage:
        """A steady byte error rate in both directions: each byte is damaged
        with probability `rate`, a third each flipped, lost or doubled."""
        return cls(flip=rate / 3, drop=rate / 3, dup=rate / 3)


class FaultyLink:
    """Forwards between the host (self.url) and the terminal (a pty path or a
    socket:// URL), damaging the bytes as told."""

    def __init__(self, terminal: str, damage: Damage, seed: int = 7) -> None:
        self.damage = damage
        self._rng = random.Random(seed)
        self._terminal = terminal
        self._tcp = terminal.startswith("socket://")
        self._unplugged_until = 0.0
        self._cut_at: int | None = None
        self._cut_s = 0.0
        self.to_host = 0
        self.harm = {"flip": 0, "drop": 0, "dup": 0, "console": 0, "stall": 0}
        self._stop = threading.Event()
        if self._tcp:
            self._listener = socket.create_server(("127.0.0.1", 0))
            self.url = f"socket://127.0.0.1:{self._listener.getsockname()[1]}"
        else:
            self._host_master, self._host_slave = pty.openpty()
            tty.setraw(self._host_slave)
            tty.setraw(self._host_master)
            self.url = os.ttyname(self._host_slave)
            self._term_fd = os.open(terminal, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
            tty.setraw(self._term_fd)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    # -- what the tests do to the cable -----------------------------------
    def unplug(self, seconds: float) -> None:
        self._unplugged_until = time.monotonic() + seconds

    def unplug_after(self, to_host_bytes: int, seconds: float) -> None:
        """Pull the cable once `to_host_bytes` have reached the host."""
        self._cut_at = to_host_bytes
        self._cut_s = seconds

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        if self._tcp:
            self._listener.close()
        else:
            for fd in (self._host_master, self._host_slave, self._term_fd):
                os.close(fd)

    # -- the line ----------------------------------------------------------
    def _plugged(self) -> bool:
        return time.monotonic() >= self._unplugged_until

    def _mangle(self, data: bytes) -> bytes:
        d, rng = self.damage, self._rng
        out = bytearray()
        harm = self.harm
        if rng.random() < d.console:
            out += rng.choice(CONSOLE)
            harm["console"] += 1
        for b in data:
            if rng.random() < d.drop:
                harm["drop"] += 1
                continue
            if rng.random() < d.flip:
                b ^= 1 << rng.randrange(8)
                harm["flip"] += 1
            out.append(b)
            if rng.random() < d.dup:
                out.append(b)
                harm["dup"] += 1
        if rng.random() < d.stall:
            harm["stall"] += 1
            time.sleep(d.stall_s)
        return bytes(out)

    def _pump(self, host: int, term: int, closes: bool) -> None:
        """Forward until stopped, or (TCP) until the cable is pulled or a
        side hangs up."""
        while not self._stop.is_set():
            ready, _, _ = select.select([host, term], [], [], 0.05)
            for fd in ready:
                try:
                    data = os.read(fd, 1024)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b"" if closes else None
                if data is None:
                    continue
                if not data:
                    return
                if not self._plugged():
                    if closes:
                        return  # TCP: the connection dies with the cable
                    continue  # pty: the bytes go nowhere
                data = self._mangle(data)
                self._write(term if fd == host else host, data)
                if fd == term:
                    self.to_host += len(data)
                    if self._cut_at is not None and self.to_host >= self._cut_at:
                        self._cut_at = None
                        self.unplug(self._cut_s)

    @staticmethod
    def _write(fd: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(fd, view) :]
            except BlockingIOError:
                time.sleep(0.001)
            except OSError:
                return

    def _run(self) -> None:
        if not self._tcp:
            self._pump(self._host_master, self._term_fd, closes=False)
            return
        host_addr = self._terminal.removeprefix("socket://").rsplit(":", 1)
        while not self._stop.is_set():
            ready, _, _ = select.select([self._listener], [], [], 0.05)
            if not ready:
                continue
            host_conn, _ = self._listener.accept()
            if not self._plugged():
                host_conn.close()  # nothing answers while unplugged
                continue
            with host_conn, socket.create_connection((host_addr[0], int(host_addr[1]))) as term_conn:
                self._pump(host_conn.fileno(), term_conn.fileno(), closes=True)
