"""The firmware's hardware seam for a printer reached from this computer
(posdiag printer, posdiag sim --printer URL): the machine.UART subset over an
open pyserial port, and a clock. Imports nothing POSIX-only, so it works on
every system pyserial does."""

from __future__ import annotations

import time


class SerialUart:
    """The machine.UART subset (write, any, read, readinto, init) over an
    open pyserial port: a USB-serial adapter, RS-232, or a network printer
    at socket://HOST:9100."""

    def __init__(self, port) -> None:  # noqa: ANN001 - a serial.Serial
        self._port = port

    def any(self) -> int:
        return self._port.in_waiting

    def read(self, n: int) -> bytes | None:
        return self._port.read(n) or None

    def readinto(self, buf: bytearray) -> int | None:
        return self._port.readinto(buf) or None

    def write(self, data: bytes) -> int:
        return self._port.write(data)

    def init(self, baudrate: int) -> None:
        self._port.baudrate = baudrate


class HostClock:
    """The firmware's clock on this computer (time.monotonic in ms)."""

    def __init__(self) -> None:
        self._start = time.monotonic()

    def uptime_s(self) -> int:
        return int(time.monotonic() - self._start)

    def ticks_ms(self) -> int:
        return int(time.monotonic() * 1000)

    def ticks_diff(self, a: int, b: int) -> int:
        return a - b

    def sleep_ms(self, ms: int) -> None:
        time.sleep(ms / 1000)

    def unix_time(self) -> int | None:
        return int(time.time())
