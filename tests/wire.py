"""The diagnostics port as bytes in and bytes out (a UART's FIFOs), for
tests that drive a LinkServer without a line."""

from __future__ import annotations


class WirePort:
    def __init__(self, incoming: bytes = b"") -> None:
        self.incoming = bytearray(incoming)
        self.sent = bytearray()

    def any(self) -> int:
        return len(self.incoming)

    def read(self, n: int) -> bytes | None:
        data, self.incoming = bytes(self.incoming[:n]), self.incoming[n:]
        return data or None

    def write(self, data: bytes) -> int:
        self.sent += data
        return len(data)
