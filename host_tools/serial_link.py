"""The host's side of the diagnostics link. The only module that imports
pyserial, and the only one on the host that packs or unpacks link bytes: it
opens the port, sends request frames and collects responses, retrying each
request on its own; `Client` has a method for every command, with the
layouts of posdiag/protocol.py."""

from __future__ import annotations

import json
import random
import struct
import time

import cbor2
import serial

from host_tools.errors import AuthError, BadDataError, NoAnswerError, PortError, RateLimitedError, UsageError
from posdiag import auth, frame
from posdiag import protocol as p

# Hints for open errors, matched on the OS message.
_OPEN_HINTS = (
    ("Permission denied", "add your user to the dialout group, then log in again"),
    ("No such file", "check the port name; `ls /dev/tty*` or Device Manager lists ports"),
    ("could not open port", "check the port name and that no other program holds it"),
    ("Device or resource busy", "another program holds the port: close it"),
    ("Resource temporarily unavailable", "another program holds the port: close it"),
)


def open_port(url: str, baudrate: int = 115200, timeout: float = 0.05) -> serial.Serial:
    """Open a device path (/dev/ttyUSB0, COM3) or any pyserial URL (socket://,
    rfc2217://, loop://). DTR and RTS are set low before opening so boards
    that reset on DTR (ESP32 and friends) keep running."""
    try:
        port = serial.serial_for_url(url, baudrate=baudrate, timeout=timeout, do_not_open=True)
        port.dtr = False
        port.rts = False
        if "://" not in url:
            # A device only one program may talk through: a second posdiag
            # (or a terminal emulator) would garble both conversations.
            port.exclusive = True
        port.open()
    except (serial.SerialException, OSError, ValueError) as e:
        message = str(e)
        hint = next((h for pattern, h in _OPEN_HINTS if pattern in message), "")
        raise PortError(f"cannot open {url}: {message}", hint) from None
    return port


class RefusedError(BadDataError):
    """The terminal answered, with a status other than OK."""

    def __init__(self, status: int, payload: bytes = b"") -> None:
        name = p.STATUS_NAMES[status] if status < len(p.STATUS_NAMES) else str(status)
        super().__init__(f"terminal refused the request: {name}")
        self.status = status
        self.payload = payload  # what the terminal sent after the status byte


def list_ports() -> list[tuple[str, str | None, str]]:
    """(device, "VID:PID" or None, description) of every serial port here."""
    from serial.tools import list_ports as lp

    out = []
    for info in sorted(lp.comports(), key=lambda i: i.device):
        usb_id = f"{info.vid:04X}:{info.pid:04X}" if info.vid is not None else None
        out.append((info.device, usb_id, info.description or ""))
    return out


class Client:
    """Request/response over an open serial port (any pyserial object)."""

    def __init__(self, port: serial.SerialBase, timeout: float = 1.0, retries: int = 3) -> None:
        self._port = port
        self._timeout = timeout
        self._retries = retries
        self._reader = frame.Reader(frame.MAX_BODY)
        # A random first id: a new session's first request must not look like
        # a retry of the previous session's last one (the terminal replays
        # its cached answer to a retried self-test).
        self._req_id = random.randrange(256)
        self.retried = 0  # extra attempts the last request needed

    def request(self, kind: int, payload: bytes = b"", timeout: float | None = None) -> bytes:
        """Send one request; return the response payload after its status
        byte. Each attempt waits `timeout` (default: the client's); a garbled
        or missing answer is asked again, up to `retries` times, with the
        same request id so the terminal can tell a retry from a new request."""
        self._req_id = (self._req_id + 1) & 0xFF
        wire = frame.encode(kind, self._req_id, payload)
        for attempt in range(self._retries + 1):
            self.retried = attempt
            try:
                self._port.write(wire)
                response = self._await(kind | p.RESPONSE, self._req_id, timeout or self._timeout)
            except (serial.SerialException, OSError) as e:
                # A USB adapter unplugged, a network serial server gone.
                raise PortError(
                    f"lost the connection to the terminal: {e}", "reconnect the cable, then run again"
                ) from None
            if response is not None:
                status = response[0] if response else p.FAILED
                if status != p.OK:
                    raise RefusedError(status, response[1:])
                return response[1:]
        raise NoAnswerError(
            f"no answer from the terminal after {self._retries + 1} tries",
            "check the cable, the port name and the baud rate",
        )

    def _await(self, kind: int, req_id: int, timeout: float) -> bytes | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            data = self._port.read(self._port.in_waiting or 1)
            for b in data:
                if self._reader.push(b) and self._reader.kind == kind and self._reader.req_id == req_id:
                    return bytes(self._reader.payload())
        return None

    def authorised(self, kind: int, args: bytes, key: bytes, timeout: float | None = None) -> bytes:
        """An authenticated command: a fresh challenge, then the command with
        the HMAC answer (posdiag/auth.py); `timeout` for the command's answer."""
        try:
            nonce = self.request(p.CMD_CHALLENGE)
        except RefusedError as e:
            if e.status == p.AUTH_FAILED:
                raise AuthError(
                    "the terminal has no technician key set", "set tech_key in its posdiag_config.py"
                ) from None
            if e.status == p.LOCKED:
                raise AuthError(
                    "the terminal is locked after wrong keys", "wait a minute, then use the right key"
                ) from None
            raise
        try:
            return self.request(kind, auth.answer(key, nonce, kind, args), timeout)
        except RefusedError as e:
            if e.status == p.AUTH_FAILED:
                raise AuthError(
                    "the terminal refused the technician key",
                    "check --key, --key-file or POSDIAG_KEY; each wrong try locks the terminal longer",
                ) from None
            raise

    def info(self) -> bytes:
        """The terminal item, CBOR-encoded as the terminal sent it."""
        return self.request(p.CMD_INFO)

    def selftest(self, key: bytes | None = None) -> bytes:
        """Run a self-test now; its record. It may take as long as the
        terminal's host timeout plus its printer retries: allow for that.
        With the technician key it is SELFTEST_KEY, never rate-limited
        (plain SELFTEST on a terminal too old to know it); without, the
        terminal runs a few and then one every SELFTEST_EVERY_S."""
        timeout = max(self._timeout, 5.0)
        if key is not None:
            try:
                return self.authorised(p.CMD_SELFTEST_KEY, b"", key, timeout)
            except RefusedError as e:
                if e.status != p.UNKNOWN_COMMAND:
                    raise
        try:
            return self.request(p.CMD_SELFTEST, timeout=timeout)
        except RefusedError as e:
            if e.status != p.RATE_LIMITED:
                raise
            size = struct.calcsize(p.RATE_LIMITED_ANSWER)
            wait = struct.unpack(p.RATE_LIMITED_ANSWER, e.payload)[0] if len(e.payload) == size else p.SELFTEST_EVERY_S
            raise RateLimitedError(
                f"the terminal runs only {p.SELFTEST_BURST} self-tests in a row without the technician key, "
                f"then one every {p.SELFTEST_EVERY_S} s",
                f"wait {wait} s, or give --key HEX, --key-file FILE or POSDIAG_KEY",
            ) from None

    def pull_batch(self, since: int, max_bytes: int = p.MAX_PAYLOAD) -> bytes:
        """Records from seq `since` on, as many whole records as fit in
        max_bytes (a CBOR sequence); empty when the terminal has no more."""
        return self.request(p.CMD_PULL, struct.pack(p.PULL_ARGS, since, max_bytes))

    def config_get(self) -> dict:
        """The settings a technician may change, the terminal id and whether
        a key is set (never the key)."""
        try:
            settings = json.loads(self.request(p.CMD_CONFIG_GET))
        except ValueError as e:
            raise BadDataError(f"the terminal's settings are not readable: {e}") from None
        if not isinstance(settings, dict):
            raise BadDataError("the terminal's settings are not a JSON object")
        return settings

    def config_set(self, changes: dict, key: bytes) -> None:
        """Change settings (kept across reboots). Too many at once for one
        request is refused here, before anything is sent."""
        text = json.dumps(changes).encode()
        if len(text) > p.CONFIG_TEXT_MAX:
            raise UsageError(
                f"these settings take {len(text)} bytes; the terminal takes at most {p.CONFIG_TEXT_MAX} at once",
                "split them over several calls",
            )
        self.authorised(p.CMD_CONFIG_SET, text, key)

    def clear_log(self, key: bytes) -> None:
        """Remove every diagnostics record; seqs go on from where they were."""
        self.authorised(p.CMD_CLEAR_LOG, b"", key)

    def recover(self, mode: int, key: bytes) -> None:
        """Have the terminal send the printer DLE ENQ `mode`
        (escpos.RECOVER_REPRINT or RECOVER_CLEAR)."""
        self.authorised(p.CMD_RECOVER, struct.pack(p.RECOVER_ARGS, mode), key)

    def receipts(self, key: bytes) -> list[tuple[int, int]]:
        """(journal seq, size in bytes) of every receipt waiting on the terminal."""
        answer = self.authorised(p.CMD_RECEIPTS, b"", key)
        try:
            return [(int(seq), int(size)) for seq, size in cbor2.loads(answer)]
        except (cbor2.CBORDecodeError, TypeError, ValueError) as e:
            raise BadDataError(f"the terminal's receipt list is not readable: {e}") from None

    def receipt_chunk(self, seq: int, offset: int, key: bytes) -> tuple[int, bytes]:
        """(the receipt's total size, its bytes from offset on: at most
        RECEIPT_CHUNK, none when offset >= total)."""
        answer = self.authorised(p.CMD_RECEIPT, struct.pack(p.RECEIPT_ARGS, seq, offset), key)
        if len(answer) < p.RECEIPT_ANSWER_SIZE:
            raise BadDataError(f"receipt {seq}: a short answer")
        total = struct.unpack_from(p.RECEIPT_ANSWER, answer)[0]
        return total, answer[p.RECEIPT_ANSWER_SIZE :]

    def ack(self, seq: int, key: bytes) -> None:
        """That receipt is delivered: the terminal no longer keeps it pending."""
        self.authorised(p.CMD_ACK, struct.pack(p.ACK_ARGS, seq), key)
