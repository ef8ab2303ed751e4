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


# Waiting for an answer. The first request waits the whole --timeout; after
# that each try waits what the answers so far took (smoothed round trip plus
# four times its variation, as TCP does, RFC 6298), at least _MIN_WAIT and at
# most --timeout, doubled after every try that heard nothing. On a bad line
# most failed tries are then over in milliseconds instead of a second each.
_MIN_WAIT = 0.01
# A damaged frame while waiting is most likely the answer, garbled: once the
# line has been quiet for a round trip (at least _QUIET_MIN, at most
# _QUIET_MAX: the rest of a frame split by a byte turned into 0x00 has
# arrived), the try is over and the next one starts.
_QUIET_MIN = 0.002
_QUIET_MAX = 0.02
# How long a pull keeps trying with nothing new arriving: this many times
# --timeout (30 s at the default 1 s), and at least `retries + 1` tries.
PATIENCE = 30


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
        self._unanswered = b""  # kind and payload of the last try that got no answer
        self._srtt: float | None = None  # smoothed round trip (s); None until an answer came
        self._rttvar = 0.0
        self._backoff = 1
        self.retried = 0  # extra attempts the last request needed
        self.noisy = False  # the last try heard a damaged frame (the line is alive)
        self.patience = PATIENCE * timeout  # seconds without progress before a pull gives up
        self.min_tries = retries + 1

    def _wait(self, timeout: float | None) -> float:
        if timeout is not None:
            return timeout  # the caller knows the terminal's work takes that long
        if self._srtt is None:
            return self._timeout
        return min(self._timeout, max(_MIN_WAIT, self._srtt + 4 * self._rttvar) * self._backoff)

    def attempt(self, kind: int, payload: bytes = b"", timeout: float | None = None) -> bytes | None:
        """One try: the response payload after its status byte, or None when
        no intact answer came. The same kind and payload as the previous
        unanswered try is a retry: it keeps that request id (the terminal
        answers a retried SELFTEST, CHALLENGE or authenticated command from
        its cache instead of running it again). Anything else is a new
        request with the next id. After a try that got no answer, a lone
        0x00 goes first: it ends whatever half frame the terminal holds (the
        last request's 0x00 may have been lost)."""
        request = bytes([kind]) + payload
        retry = request == self._unanswered
        if not retry:
            self._req_id = (self._req_id + 1) & 0xFF
        wire = frame.encode(kind, self._req_id, payload)
        wait = self._wait(timeout)
        sent = time.monotonic()
        try:
            if self._unanswered:
                wire = bytes([frame.DELIMITER]) + wire
            # A half frame left in the reader (its 0x00 was lost) would spoil
            # the next answer: end it, after taking what already arrived.
            response = self._await(kind | p.RESPONSE, self._req_id, 0.0)
            if response is None:
                self._reader.push(frame.DELIMITER)
                sent = time.monotonic()
                self._port.write(wire)
                response = self._await(kind | p.RESPONSE, self._req_id, wait)
        except (serial.SerialException, OSError) as e:
            # A USB adapter unplugged, a network serial server gone.
            raise PortError(
                f"lost the connection to the terminal: {e}", "reconnect the cable, then run again"
            ) from None
        if response is None:
            self._unanswered = request
            # Silence may be a slow terminal: wait longer. A damaged frame
            # is a live but noisy line: keep the short wait.
            self._backoff = 1 if self.noisy else min(self._backoff * 2, 64)
            return None
        self._unanswered = b""
        self._backoff = 1
        if not retry and timeout is None:
            self._sample(time.monotonic() - sent)
        status = response[0] if response else p.FAILED
        if status != p.OK:
            raise RefusedError(status, response[1:])
        return response[1:]

    def _sample(self, rtt: float) -> None:
        """Karn's rule: only answers to a first try are timed."""
        if self._srtt is None:
            self._srtt, self._rttvar = rtt, rtt / 2
        else:
            self._rttvar = 0.75 * self._rttvar + 0.25 * abs(self._srtt - rtt)
            self._srtt = 0.875 * self._srtt + 0.125 * rtt

    def request(self, kind: int, payload: bytes = b"", timeout: float | None = None) -> bytes:
        """Send one request; return the response payload after its status
        byte. A garbled or missing answer is asked again with the same
        request id so the terminal can tell a retry from a new request. It
        gives up after `retries + 1` tries that heard nothing, and not before
        that many times the timeout has passed; tries that heard a damaged
        frame (a noisy line, not a dead one) count only against
        `patience`."""
        start = time.monotonic()
        budget = (self._retries + 1) * (timeout or self._timeout)
        silent = tries = 0
        while True:
            self.retried = tries
            answer = self.attempt(kind, payload, timeout)
            if answer is not None:
                return answer
            tries += 1
            silent += not self.noisy
            elapsed = time.monotonic() - start
            if (silent > self._retries and elapsed >= budget) or elapsed >= max(budget, self.patience):
                raise NoAnswerError(
                    f"no answer from the terminal after {tries} tries",
                    "check the cable, the port name and the baud rate",
                )

    def _await(self, kind: int, req_id: int, timeout: float) -> bytes | None:
        """The payload of the answer (kind, req_id), or None after timeout,
        or sooner once a damaged frame came and the line went quiet."""
        now = time.monotonic()
        deadline = now + timeout
        errors = self._reader.errors
        heard = now
        quiet = min(_QUIET_MAX, max(_QUIET_MIN, self._srtt or _QUIET_MAX))
        self.noisy = False
        while True:
            waiting = self._port.in_waiting
            if waiting:
                heard = time.monotonic()
                for b in self._port.read(waiting):
                    if self._reader.push(b) and self._reader.kind == kind and self._reader.req_id == req_id:
                        return bytes(self._reader.payload())
                if self._reader.errors != errors:
                    self.noisy = True
                if time.monotonic() < deadline:
                    continue  # more may be there (a socket:// port says 1 for any number)
            now = time.monotonic()
            if now >= deadline or (self.noisy and now - heard >= quiet):
                return None
            time.sleep(min(0.001, deadline - now))

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

    def try_pull(self, since: int, max_bytes: int) -> bytes | None:
        """One try of pull_batch: None when no intact answer came (the
        caller picks the next size; at least one record comes whatever
        max_bytes says)."""
        return self.attempt(p.CMD_PULL, struct.pack(p.PULL_ARGS, since, max_bytes))

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
