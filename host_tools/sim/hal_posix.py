"""The firmware's hardware seam on a POSIX host: ttys for UARTs. Used only by
the simulator on CPython (host_tools/uart.py has the portable clock and
pyserial port; on the MicroPython unix port, which has no os.read or fcntl,
the simulator's tty port is host_tools/sim/mp_tty.py)."""

from __future__ import annotations

import array
import errno
import fcntl
import os
import termios
import time
import tty


class TtyPort:
    """The machine.UART subset (write, any, read) over a tty file descriptor:
    a pseudo-terminal in the simulator, or a real serial device."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    @classmethod
    def open(cls, path: str, baudrate: int | None = None) -> TtyPort:
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(fd)
        port = cls(fd)
        if baudrate:
            port.init(baudrate)
        return port

    def init(self, baudrate: int) -> None:
        """Set the line speed, as machine.UART.init(baudrate=...) does."""
        attrs = termios.tcgetattr(self.fd)
        attrs[4] = attrs[5] = getattr(termios, f"B{baudrate}")
        termios.tcsetattr(self.fd, termios.TCSANOW, attrs)

    def any(self) -> int:
        buf = array.array("i", [0])
        try:
            fcntl.ioctl(self.fd, termios.FIONREAD, buf)
        except OSError:
            return 0
        return buf[0]

    def read(self, n: int) -> bytes | None:
        try:
            return os.read(self.fd, n) or None
        except (BlockingIOError, InterruptedError):
            return None
        except OSError as e:
            if e.errno == errno.EIO:  # the other side is closed
                return None
            raise

    def readinto(self, buf: bytearray) -> int | None:
        data = self.read(len(buf))
        if not data:
            return None
        buf[: len(data)] = data
        return len(data)

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        deadline = time.monotonic() + 2.0
        while view:
            try:
                n = os.write(self.fd, view)
                view = view[n:]
            except BlockingIOError:
                if time.monotonic() > deadline:
                    break  # nobody reads: drop, as a UART would
                time.sleep(0.001)
        return len(data) - len(view)

    def close(self) -> None:
        os.close(self.fd)
