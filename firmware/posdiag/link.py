# The terminal's side of the diagnostics link: reads request frames from the
# diagnostics port, answers them. Requests are few bytes; the reader's fixed
# buffer bounds memory whatever arrives on the wire. The link package (link,
# frame, auth): a board without it builds no LinkServer.
#
# The codes and layouts are protocol.py's (the host's and the docs'
# reference), folded here into const() so the terminal does not load that
# module: tests/test_heap.py checks they agree.
import struct

from posdiag import auth, cbor, frame

try:
    from micropython import const
except ImportError:   # CPython: the simulator and the tests
    const = int  # type: ignore[assignment]

# protocol.CMD_*
_INFO = const(0x01)
_PULL = const(0x02)
_SELFTEST = const(0x03)
_RECOVER = const(0x04)
_CHALLENGE = const(0x05)
_CLEAR_LOG = const(0x06)
_CONFIG_GET = const(0x07)
_CONFIG_SET = const(0x08)
_RECEIPTS = const(0x09)
_RECEIPT = const(0x0A)
_ACK = const(0x0B)
_SELFTEST_KEY = const(0x0C)
_RESPONSE = const(0x80)
# Kinds as bits: protocol.AUTHENTICATED and NOT_REPEATABLE (SELFTEST,
# CHALLENGE and the authenticated ones), for kind < 16.
_AUTHENTICATED = const(0x1F50)
_NOT_REPEATABLE = const(0x1F78)
# protocol's status codes
_OK = const(0)
_UNKNOWN_COMMAND = const(1)
_BAD_REQUEST = const(2)
_FAILED = const(3)
_AUTH_FAILED = const(4)
_LOCKED = const(5)
_NOT_FOUND = const(6)
_RATE_LIMITED = const(7)
# protocol's limits
_MAX_PAYLOAD = const(1024)
_REQUEST_MAX = const(256)
_SELFTEST_BURST = const(5)
_SELFTEST_EVERY_S = const(20)
_RECEIPT_CHUNK = const(1000)
_TRIGGER_REQUEST = const(2)   # record.TRIGGER_REQUEST


def _is(kinds, kind):
    return kind < 16 and (kinds >> kind) & 1


class LinkServer:
    def __init__(self, port, terminal):
        self._port = port
        self._terminal = terminal
        if terminal.guard is None:
            # The technician key belongs to the link: the terminal reports
            # the guard's wrong answers in its item (Terminal.info).
            terminal.guard = auth.Guard(auth.key(terminal.cfg["tech_key"]),
                                        terminal.clock, terminal.parts.entropy)
        self._reader = frame.Reader(_REQUEST_MAX)
        # The last answer to a command that must not run twice, kept so a
        # retried request (the very same bytes: the host lost the answer)
        # gets the same answer instead of running again. Matching the whole
        # request, not just kind and id, keeps a forged request with a
        # guessed id from reading the answer to an authenticated one. An
        # answer that belongs to a challenge (CHALLENGE, authenticated
        # commands) is replayed only while that challenge is the latest and
        # valid: after it, an old request meets the guard and its MAC fails.
        self._last_request = b""
        self._last_wire = b""
        self._last_challenge = 0
        self.failures = 0
        # SELFTEST without the key: a token bucket (protocol.SELFTEST_BURST,
        # one more every SELFTEST_EVERY_S of uptime), refusals counted.
        self._tokens = _SELFTEST_BURST
        self._refilled = terminal.clock.uptime_s()
        self.selftests_refused = 0

    def poll(self):
        """Handle whatever the port has received; return frames answered."""
        answered = 0
        port = self._port
        reader = self._reader
        while port.any():
            data = port.read(port.any())
            if not data:
                break
            for b in data:
                if reader.push(b):
                    self._answer(reader.kind, reader.req_id, reader.payload())
                    answered += 1
        return answered

    def _answer(self, kind, req_id, req):
        guard = self._terminal.guard
        once = _is(_NOT_REPEATABLE, kind)
        request = bytes((kind, req_id)) + bytes(req)
        if once and request == self._last_request:
            # Every such kind but SELFTEST answers a challenge: it lapses with it.
            if kind == _SELFTEST or guard.current(self._last_challenge):
                self._port.write(self._last_wire)
                return
        try:
            status, payload = self._dispatch(kind, req)
        except Exception:  # noqa: BLE001 - a failed command must not stop the link
            self.failures += 1
            status, payload = _FAILED, b""
        if len(payload) >= _MAX_PAYLOAD:  # the host could not take the frame
            self.failures += 1
            status, payload = _FAILED, b""
        wire = frame.encode(kind | _RESPONSE, req_id, payload, status)
        if once:
            self._last_request = request
            self._last_wire = wire
            self._last_challenge = guard.issued
        self._port.write(wire)

    def _dispatch(self, kind, req):
        t = self._terminal
        guard = t.guard
        if _is(_AUTHENTICATED, kind):
            args = guard.check(kind, req)
            if args is None:
                return _AUTH_FAILED, b""
            return self._privileged(kind, args)
        if kind == _INFO:
            item = t.info()
            item["selftests_refused"] = self.selftests_refused
            return _OK, cbor.encode(item)
        if kind == _PULL:
            if len(req) != 6:
                return _BAD_REQUEST, b""
            since, max_bytes = struct.unpack("<IH", req)   # protocol.PULL_ARGS
            # The status byte shares the frame's payload with the records.
            return _OK, self._batch(since, min(max_bytes, _MAX_PAYLOAD - 1))
        if kind == _SELFTEST:
            wait = self._take_token()
            if wait:
                self.selftests_refused += 1
                return _RATE_LIMITED, struct.pack("<H", wait)   # protocol.RATE_LIMITED_ANSWER
            return self._selftest()
        if kind == _CHALLENGE:
            if not guard.ready():
                return _AUTH_FAILED, b""   # no key set: nothing to answer
            nonce = guard.challenge()
            return (_LOCKED, b"") if nonce is None else (_OK, nonce)
        if kind == _CONFIG_GET:
            return _OK, t.settings_json().encode()
        return _UNKNOWN_COMMAND, b""

    def _take_token(self):
        """0 when a SELFTEST without the key may run now (a token taken),
        else the seconds until the next token."""
        now = self._terminal.clock.uptime_s()
        if self._tokens >= _SELFTEST_BURST:
            self._refilled = now   # a full bucket earns nothing: count from now
        else:
            gained = (now - self._refilled) // _SELFTEST_EVERY_S
            if gained:
                self._tokens = min(_SELFTEST_BURST, self._tokens + gained)
                self._refilled += gained * _SELFTEST_EVERY_S
                if self._tokens == _SELFTEST_BURST:
                    self._refilled = now
        if self._tokens == 0:
            return _SELFTEST_EVERY_S - (now - self._refilled)
        self._tokens -= 1
        return 0

    def _privileged(self, kind, args):
        t = self._terminal
        if kind == _SELFTEST_KEY:
            return self._selftest()
        if kind == _CLEAR_LOG:
            t.log.clear()
            return _OK, b""
        if kind == _RECOVER:
            # mode u8, exactly: escpos.RECOVER_REPRINT (1) or RECOVER_CLEAR (2)
            if len(args) != 1 or args[0] not in (1, 2):
                return _BAD_REQUEST, b""
            t.recover_printer(args[0])
            return _OK, b""
        if kind == _CONFIG_SET:
            return (_OK, b"") if t.change_settings(bytes(args)) else (_BAD_REQUEST, b"")
        if kind == _RECEIPTS:
            return _OK, cbor.encode([[seq, len(data)] for seq, data in t.journal.records()])
        if kind == _ACK and len(args) >= 4:
            seq = struct.unpack_from("<I", args)[0]   # protocol.ACK_ARGS
            t.journal.ack(seq)  # already delivered or gone: still OK, once is enough
            return _OK, b""
        if kind == _RECEIPT and len(args) == 6:
            seq, offset = struct.unpack("<IH", args)   # protocol.RECEIPT_ARGS
            live = t.journal.records(seq)
            try:
                for s, data in live:
                    if s == seq:   # protocol.RECEIPT_ANSWER: total u16, then the chunk
                        return _OK, (struct.pack("<H", len(data))
                                     + data[offset:offset + _RECEIPT_CHUNK])
                    break
            finally:
                live.close()   # its segment file now, not when collected
            return _NOT_FOUND, b""
        return _BAD_REQUEST, b""

    def _selftest(self):
        # The new record; FAILED when not even the failure could be written
        # (the flash itself fails): the screen says so, the link goes on.
        data = self._terminal.run_selftest(_TRIGGER_REQUEST)
        return (_OK, data) if data is not None else (_FAILED, b"")

    def _batch(self, since, max_bytes):
        # Whole records only, as many as fit; at least one if any is left.
        # Joined once: a growing buffer would be copied at every record.
        recs = []  # type: list[bytes]
        size = 0
        live = self._terminal.log.records(since)
        for _, rec in live:
            if recs and size + len(rec) > max_bytes:
                break
            recs.append(rec)
            size += len(rec)
        live.close()   # its segment file now, not when collected
        return b"".join(recs)
