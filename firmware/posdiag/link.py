# The terminal's side of the diagnostics link: reads request frames from the
# diagnostics port, answers them. Requests are few bytes; the reader's fixed
# buffer bounds memory whatever arrives on the wire. The link package
# (link, frame, protocol, auth): a board without it builds no LinkServer.
import struct

from posdiag import auth, cbor, frame, record
from posdiag import protocol as p


class LinkServer:
    def __init__(self, port, terminal):
        self._port = port
        self._terminal = terminal
        if terminal.guard is None:
            # The technician key belongs to the link: the terminal reports
            # the guard's wrong answers in its item (Terminal.info).
            terminal.guard = auth.Guard(auth.key(terminal.cfg["tech_key"]),
                                        terminal.clock, terminal.parts.entropy)
        self._reader = frame.Reader(p.REQUEST_MAX)
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
        self._tokens = p.SELFTEST_BURST
        self._refilled = terminal.clock.uptime_s()
        self.selftests_refused = 0

    def poll(self):
        """Handle whatever the port has received; return frames answered."""
        answered = 0
        while self._port.any():
            data = self._port.read(self._port.any())
            if not data:
                break
            for b in data:
                if self._reader.push(b):
                    self._answer(self._reader.kind, self._reader.req_id,
                                 self._reader.payload())
                    answered += 1
        return answered

    def _answer(self, kind, req_id, req):
        request = bytes((kind, req_id)) + bytes(req)
        if kind in p.NOT_REPEATABLE and request == self._last_request:
            # Every such kind but SELFTEST answers a challenge: it lapses with it.
            if kind == p.CMD_SELFTEST or self._terminal.guard.current(self._last_challenge):
                self._port.write(self._last_wire)
                return
        try:
            status, payload = self._dispatch(kind, req)
        except Exception:  # noqa: BLE001 - a failed command must not stop the link
            self.failures += 1
            status, payload = p.FAILED, b""
        if len(payload) >= p.MAX_PAYLOAD:  # the host could not take the frame
            self.failures += 1
            status, payload = p.FAILED, b""
        wire = frame.encode(kind | p.RESPONSE, req_id, bytes([status]) + payload)
        if kind in p.NOT_REPEATABLE:
            self._last_request = request
            self._last_wire = wire
            self._last_challenge = self._terminal.guard.issued
        self._port.write(wire)

    def _dispatch(self, kind, req):
        t = self._terminal
        if kind in p.AUTHENTICATED:
            args = t.guard.check(kind, req)
            if args is None:
                return p.AUTH_FAILED, b""
            return self._privileged(kind, args)
        if kind == p.CMD_INFO:
            item = t.info()
            item["selftests_refused"] = self.selftests_refused
            return p.OK, cbor.encode(item)
        if kind == p.CMD_PULL:
            if len(req) != p.PULL_ARGS_SIZE:
                return p.BAD_REQUEST, b""
            since, max_bytes = struct.unpack(p.PULL_ARGS, req)
            # The status byte shares the frame's payload with the records.
            return p.OK, self._batch(since, min(max_bytes, p.MAX_PAYLOAD - 1))
        if kind == p.CMD_SELFTEST:
            wait = self._take_token()
            if wait:
                self.selftests_refused += 1
                return p.RATE_LIMITED, struct.pack(p.RATE_LIMITED_ANSWER, wait)
            return self._selftest()
        if kind == p.CMD_CHALLENGE:
            if not t.guard.ready():
                return p.AUTH_FAILED, b""   # no key set: nothing to answer
            nonce = t.guard.challenge()
            return (p.LOCKED, b"") if nonce is None else (p.OK, nonce)
        if kind == p.CMD_CONFIG_GET:
            return p.OK, t.settings_json().encode()
        return p.UNKNOWN_COMMAND, b""

    def _take_token(self):
        """0 when a SELFTEST without the key may run now (a token taken),
        else the seconds until the next token."""
        now = self._terminal.clock.uptime_s()
        if self._tokens >= p.SELFTEST_BURST:
            self._refilled = now   # a full bucket earns nothing: count from now
        else:
            gained = (now - self._refilled) // p.SELFTEST_EVERY_S
            if gained:
                self._tokens = min(p.SELFTEST_BURST, self._tokens + gained)
                self._refilled += gained * p.SELFTEST_EVERY_S
                if self._tokens == p.SELFTEST_BURST:
                    self._refilled = now
        if self._tokens == 0:
            return p.SELFTEST_EVERY_S - (now - self._refilled)
        self._tokens -= 1
        return 0

    def _privileged(self, kind, args):
        t = self._terminal
        if kind == p.CMD_SELFTEST_KEY:
            return self._selftest()
        if kind == p.CMD_CLEAR_LOG:
            t.log.clear()
            return p.OK, b""
        if kind == p.CMD_RECOVER:
            if len(args) != p.RECOVER_ARGS_SIZE:
                return p.BAD_REQUEST, b""
            mode = struct.unpack(p.RECOVER_ARGS, args)[0]
            if mode not in p.RECOVER_MODES:
                return p.BAD_REQUEST, b""
            t.recover_printer(mode)
            return p.OK, b""
        if kind == p.CMD_CONFIG_SET:
            return (p.OK, b"") if t.change_settings(bytes(args)) else (p.BAD_REQUEST, b"")
        if kind == p.CMD_RECEIPTS:
            return p.OK, cbor.encode([[seq, len(data)] for seq, data in t.journal.records()])
        if kind == p.CMD_ACK and len(args) >= p.ACK_ARGS_SIZE:
            seq = struct.unpack_from(p.ACK_ARGS, args)[0]
            t.journal.ack(seq)  # already delivered or gone: still OK, once is enough
            return p.OK, b""
        if kind == p.CMD_RECEIPT and len(args) == p.RECEIPT_ARGS_SIZE:
            seq, offset = struct.unpack(p.RECEIPT_ARGS, args)
            for s, data in t.journal.records(seq):
                if s == seq:
                    return p.OK, (struct.pack(p.RECEIPT_ANSWER, len(data))
                                  + data[offset:offset + p.RECEIPT_CHUNK])
                break
            return p.NOT_FOUND, b""
        return p.BAD_REQUEST, b""

    def _selftest(self):
        # The new record; FAILED when not even the failure could be written
        # (the flash itself fails): the screen says so, the link goes on.
        data = self._terminal.run_selftest(record.TRIGGER_REQUEST)
        return (p.OK, data) if data is not None else (p.FAILED, b"")

    def _batch(self, since, max_bytes):
        # Whole records only, as many as fit; at least one if any is left.
        out = bytearray()
        for _, rec in self._terminal.log.records(since):
            if out and len(out) + len(rec) > max_bytes:
                break
            out.extend(rec)
        return bytes(out)
