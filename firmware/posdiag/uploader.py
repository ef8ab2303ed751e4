# The terminal's uploader (package posdiag-uploader): posts the diagnostics
# records newer than its upload cursor and the pending receipts of the
# journal to a posdiag hub (docs/hub.md, the wire contract in hubwire.py),
# within a time budget, over a minimal HTTP/1.1 client on the board's socket
# module (and its TLS, required for any host but this machine's loopback).
#
# Exactly once, end to end: the hub keys records by (terminal, seq) and
# receipts by (terminal, journal seq) and stores nothing twice; the terminal
# moves its cursor (saved with flashfile: a power cut leaves the old or the
# new one) and acknowledges journal entries (Log.ack) only after the hub's
# 200 names them. A lost answer, a hub killed mid-request or a power cut
# before the cursor is saved mean the same items are sent again: stored once.
#
# Each request's body is streamed from the log twice: once to hash it (the
# signature covers sha256(body) and goes in the headers, before the body),
# then to send it. Nothing holds a whole batch or a whole receipt. One
# buffer allocated with the uploader serves each request in turn: the
# journal entry read through it to be hashed, the head written and signed
# in it, the body after the head (sent each time it fills), the answer.
#
# The terminal item (Terminal.info: its firmware, the printer's identity and
# counters) goes at the head of the first batch of records after each boot,
# so the hub's fleet view knows the printer model and firmware of terminals
# no technician visits. It is dropped from the batch, not retried, if the
# hub refuses a batch that carries it: records must never wait on it.
#
# Backoff is kept in RAM: a reboot runs a boot self-test and may try again
# at once, which costs one request; saving the backoff to flash would cost a
# flash write for every failed try (wear), on a terminal whose network may
# be down for days. Retry-After of a 429 or 503 is honoured (never earlier),
# other failures wait 1 s, 2 s, 4 s ... up to 5 min, plus up to half again
# at random, so terminals that lost the hub together do not return together.
import json
import struct
from hashlib import sha256

from posdiag import cbor, flashfile, hubwire
from posdiag.hubwire import put

try:
    from micropython import const
except ImportError:   # CPython: the simulator and the tests
    const = int  # type: ignore[assignment]

STATE = "up.state"       # the upload cursor: the next record seq to send
_STATE_FMT = "<I"
_ANSWER = const(1024)    # bytes of an answer's status line, headers and body
_MIN_LEFT_MS = const(20)  # below this much budget no request is started
_MAX_BATCH = const(32)   # records in one request: each one short
_HEAD_MAX = const(320)   # bytes of a request head besides the Host and terminal
_KEEP = const(512)       # record bytes held between hashing and sending
_ITEM_MAX = const(512)   # the terminal item's CBOR, at most (it is about 200 bytes)
_BACKOFF_MIN_MS = const(1000)
_BACKOFF_MAX_MS = const(300000)
_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
# Statuses of a request, as last_status keeps them besides the HTTP codes.
NET_ERROR = -1          # no connection, a timeout, an answer cut short


class Refused(ValueError):
    """A hub URL the uploader will not use."""


def parse_url(url):
    """(tls, host, port) of a hub URL: https://HOST[:PORT], or http:// to
    this machine's loopback only (a key-signed upload is not secret-free:
    receipts hold what a customer bought). Raises Refused."""
    if url.startswith("https://"):
        tls, rest, port = True, url[8:], 443
    elif url.startswith("http://"):
        tls, rest, port = False, url[7:], 80
    else:
        raise Refused("hub URL: https:// (or http:// to 127.0.0.1)")
    if rest.endswith("/"):
        rest = rest[:-1]
    if "/" in rest or "@" in rest or "?" in rest or "#" in rest or not rest:
        raise Refused("hub URL: a scheme, a host and a port, no path")
    host = rest
    i = rest.rfind(":")
    if i > rest.rfind("]"):
        digits = rest[i + 1:]
        if not digits.isdigit() or not 0 < int(digits) < 65536:
            raise Refused("hub URL: a port from 1 to 65535")
        host, port = rest[:i], int(digits)
    if not tls and host not in _LOOPBACK:
        raise Refused("hub URL: http:// only to 127.0.0.1 or localhost; use https://")
    return tls, host, port


class Uploader:
    """cfg: the terminal's settings (hub_url, upload_key, terminal_id,
    upload_budget_ms). parts: hal.Parts with net (the socket module), tls
    (an object with wrap_socket(sock, server_hostname=...): an
    ssl.SSLContext) for https, entropy (nonces), clock and storage. log:
    the diagnostics Log; journal: the pending-receipt Log; info: a function
    that returns the terminal item (Terminal.info), sent once per boot.
    Raises Refused for settings it cannot upload with."""

    def __init__(self, cfg, parts, log, journal, info=None):
        self.tls, self.host, self.port = parse_url(cfg["hub_url"])
        if self.tls and parts.tls is None:
            raise Refused("hub URL is https:// and the board has no TLS")
        try:
            key = bytes.fromhex(cfg["upload_key"])
        except ValueError:
            key = b""
        if len(key) < hubwire.MIN_KEY:
            raise Refused("upload_key: at least %d bytes as hex" % hubwire.MIN_KEY)
        if parts.net is None or parts.entropy is None:
            raise Refused("no network or no source of nonces")
        self._key = key
        self._cfg = cfg
        self._parts = parts
        self._clock = parts.clock
        self._st = parts.storage
        self.log = log
        self.journal = journal
        self._info = info        # the terminal item's source; None once the hub has it
        self._item = None  # type: bytes | None  # its CBOR, made at the first batch
        # The cursor and its copy's generation, kept so that moving it
        # writes one copy without reading both first.
        self._gen, saved = flashfile.newest(self._st, STATE)
        self.cursor = struct.unpack(_STATE_FMT, saved)[0] if saved is not None and len(saved) == 4 else 0
        self.offset = 0          # added to the clock: learnt from a 401 "clock"
        self._addr = None  # type: tuple | None  # getaddrinfo's entry for the hub, once found
        self._buf = bytearray(_ANSWER)
        # The request head's parts that never change, and the HMAC's pad
        # (the buffer's end, which no head reaches).
        host = self.host
        if self.port != (443 if self.tls else 80):
            host = "%s:%d" % (host, self.port)
        self._host_line = (" HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: "
                           % (host, hubwire.CONTENT_TYPE)).encode()
        self._terminal = cfg["terminal_id"].encode()
        if len(self._host_line) + len(self._terminal) > _ANSWER - _HEAD_MAX:
            raise Refused("hub URL or terminal_id too long")
        self._mv = memoryview(self._buf)
        self._pad = self._mv[_ANSWER - 64:]
        self._names = (b"content-length", hubwire.H_HUB_TIME.lower().encode(), b"retry-after")
        self._wait_from = 0      # ticks_ms of the last failure
        self._wait_ms = 0        # no request before _wait_from + this
        self._backoff = 0        # the last exponential wait, ms
        self._hold = False       # the wait is the hub's Retry-After
        self._batch = _MAX_BATCH  # records in one request (1 after a refusal)
        self._skip = []          # journal seqs the hub refused as they are
        self._journal_seen = -1  # journal.next_seq when it was last found empty
        self._start = 0
        self._budget = 0
        # The request's socket's write and settimeout, while a request runs.
        self._w = None  # type: object
        self._settimeout = None  # type: object
        self.last_status = None  # HTTP status of the last request, or NET_ERROR
        self.stored_records = 0  # since boot, as the hub's answers said
        self.stored_receipts = 0
        self.refused = 0         # items the hub will never take (4xx)

    # -- when -------------------------------------------------------------
    def waiting(self, bypass_backoff=False):
        """True while a failure's wait has not passed (a Retry-After always
        counts; the exponential backoff only unless bypass_backoff)."""
        if not self._wait_ms or (bypass_backoff and not self._hold):
            return False
        clock = self._clock
        return clock.ticks_diff(clock.ticks_ms(), self._wait_from) < self._wait_ms

    def _left(self):
        clock = self._clock
        return self._budget - clock.ticks_diff(clock.ticks_ms(), self._start)

    # -- one pass ---------------------------------------------------------
    def run(self, budget_ms, resolve=False, bypass_backoff=False):
        """Upload what waits, receipts first (a customer may be scanning
        their link), then records, for at most budget_ms. resolve: a host
        name may be looked up (it may block, with no timeout on
        MicroPython: idle only). True when nothing is left to send."""
        self._start = self._clock.ticks_ms()
        self._budget = budget_ms
        if self.waiting(bypass_backoff):
            return False
        if self._addr is None:
            if not resolve and not _is_ip(self.host):
                return False
            try:
                net = self._parts.net
                name = self.host[1:-1] if self.host[0] == "[" else self.host
                self._addr = net.getaddrinfo(name, self.port, 0, net.SOCK_STREAM)[0]
            except (OSError, IndexError):
                self._failed(NET_ERROR, 0)
                return False
        while self._left() > _MIN_LEFT_MS:
            sent = self._receipts()
            if sent == 0:
                sent = self._records()
                if sent == 0:
                    return True
            if sent is None:
                return False
        return False

    def _receipts(self):
        # The oldest pending journal entry, alone in its batch: the count
        # stored (1), 0 when none waits, -1 when the hub refused it for
        # good, None when the request failed (the wait is set). The entry
        # (up to receipt.MAX_RECEIPT bytes) is never held whole: it is read
        # from the journal through the uploader's buffer twice, to hash it
        # and to send it, its segment file open meanwhile.
        journal = self.journal
        if journal.next_seq == self._journal_seen:
            return 0   # nothing appended since the journal was found empty
        entries = journal.entries()
        try:
            for seq, entry in entries:
                if seq not in self._skip:
                    break
            else:
                self._journal_seen = journal.next_seq
                return 0
            # The oldest pending entry is the newest entry: once it is
            # stored, the journal need not be read again until the next append.
            alone = seq == journal.next_seq - 1 and not self._skip
            head = hubwire.records_head(1)
            piece = hubwire.receipt_head(seq)
            h = sha256(head)
            h.update(piece)
            self._stream(entry, h.update)
            answer = self._post(hubwire.PATH_RECEIPTS, h.digest(),
                                len(head) + len(piece) + entry.length,
                                self._send_entry, (head, piece, entry))
        finally:
            entries.close()   # the segment's file, before the ack writes it
        if answer is None:
            return None
        status, body = answer
        if status != 200:
            return self._refused(status, seq, True)
        stored = body.get("receipts") if isinstance(body, dict) else None
        if not isinstance(stored, list) or seq not in stored:
            self._failed(NET_ERROR, 0)   # not the answer to this batch
            return None
        journal.ack(seq)   # stored on the hub: now, not before
        if alone:
            self._journal_seen = journal.next_seq
        self.stored_receipts += 1
        self._ok()
        return 1

    def _stream(self, entry, out):
        # Hash a journal entry's payload a buffer at a time (the answer's
        # buffer: free before the request).
        mv = self._mv
        pos = 0
        while pos < entry.length:
            n = entry.readinto(pos, mv if entry.length - pos >= _ANSWER else mv[:entry.length - pos])
            if not n:
                raise OSError(5)   # EIO: the entry was read whole a moment ago
            out(mv[:n])
            pos += n

    # The body follows the head in the buffer (its HMAC pad no longer
    # needed), sent each time the buffer is full: a receipt or a few
    # records go in the head's write.
    def _send_entry(self, i, parts):
        head, piece, entry = parts
        buf = self._buf
        i = put(buf, i, head)
        i = put(buf, i, piece)
        pos = 0
        while pos < entry.length:
            if i == _ANSWER:
                i = self._flush(i)
            k = min(_ANSWER - i, entry.length - pos)
            n = entry.readinto(pos, self._mv[i:i + k])
            if not n:
                raise OSError(5)
            i += n
            pos += n
        self._flush(i)

    def _send_pieces(self, i, parts):
        # A body held as a few pieces (a few records), each one short.
        for piece in parts:
            i = self._put(i, piece)
        self._flush(i)

    def _put(self, i, piece):
        if i + len(piece) > _ANSWER:
            i = self._flush(i)
        return put(self._buf, i, piece)

    def _flush(self, i):
        if i:
            self._write(self._mv[:i])
        return 0

    def _records(self):
        # One batch of records from the cursor on: the count stored, 0 when
        # none waits, -1 when the batch must be tried otherwise, None when
        # the request failed. The batch is read twice from the log, to hash
        # it and to send it: its count (the CBOR head, hashed first) is
        # guessed from the seqs, and hashed again in the rare case of a gap
        # (records dropped or torn) that makes it fewer.
        log = self.log
        first = self.cursor
        if first >= log.next_seq:
            return 0
        n = min(self._batch, log.next_seq - first)
        item = self._terminal_item()
        found = last = length = 0
        h = None
        kept = []  # type: list
        for _ in range(2):
            head = hubwire.records_head(n + (1 if item else 0))
            h = sha256(head)
            found = last = 0
            length = len(item) if item else 0
            kept = [head]
            if item:
                h.update(item)
                kept.append(item)
            for seq, data in log.records(first):
                if found == n:
                    break
                h.update(data)
                found += 1
                length += len(data)
                last = seq
                if kept:
                    kept.append(data)
                    if length > _KEEP:
                        kept = []   # too much to hold: read again to send
            if found == n or not found:
                break
            n = found
        if not found or found != n or h is None:
            return 0   # nothing at or past the cursor (dropped or cleared)
        # A few records (the usual case) are sent from the copies the log
        # made while hashing; a backlog is read from the log again.
        answer = self._post(hubwire.PATH_RECORDS, h.digest(), len(head) + length,
                            self._send_pieces if kept else self._send_records,
                            kept or (first, n, item))
        if answer is None:
            return None
        status, body = answer
        if status != 200:
            if item and status in (400, 413, 415, 422):
                self._info = self._item = None   # the same records again, without it
                return -1
            return self._refused(status, last, False)
        if not isinstance(body, dict) or body.get("last") != last or body.get("records") != n:
            self._failed(NET_ERROR, 0)   # not the answer to this batch
            return None
        self._info = self._item = None   # the hub has it: not again this boot
        self._move_cursor(last + 1)
        self.stored_records += n
        self._ok()
        return n

    def _terminal_item(self):
        # The terminal item as CBOR, made once; None when it is sent or
        # cannot be (no source, or too large to go in one buffer).
        if self._info is None:
            return None
        if self._item is None:
            try:
                data = cbor.encode(self._info())
            except Exception:  # noqa: BLE001 - a part failed: the records go without it
                data = b""
            self._item = data if len(data) <= _ITEM_MAX else b""
            if not self._item:
                self._info = None
        return self._item or None

    def _send_records(self, i, batch):
        since, n, item = batch
        i = self._put(i, hubwire.records_head(n + (1 if item else 0)))
        if item:
            i = self._put(i, item)
        k = 0
        for _, data in self.log.records(since):
            if k == n:
                break
            i = self._put(i, data)
            k += 1
        self._flush(i)

    def _move_cursor(self, seq):
        if seq > self.cursor:
            self._gen = flashfile.save_struct(self._st, STATE, _STATE_FMT, (seq,), self._gen)
            self.cursor = seq

    # -- answers that are not a 200 ----------------------------------------
    def _refused(self, status, what, receipt):
        # 400, 413, 415, 422: a batch of records is sent again one record at
        # a time; a single record or receipt refused so is one the hub will
        # never take: it stays on the terminal (a technician's cable reads
        # it) and the uploader goes on past it. Anything else: wait and try
        # again. what: the receipt's journal seq, or the batch's last seq.
        if status in (400, 413, 415, 422):
            if not receipt and self._batch > 1:
                self._batch = 1
                return -1
            self.refused += 1
            if receipt:
                self._skip.append(what)
            else:
                self._move_cursor(what + 1)
                self._batch = _MAX_BATCH   # past it: whole batches again
            return -1
        self._failed(status, 0)
        return None

    def _ok(self):
        self._wait_ms = 0
        self._backoff = 0
        self._hold = False

    def _failed(self, status, retry_after_s):
        # The next request waits: Retry-After when the hub gave one (never
        # earlier), else twice the last wait, with up to half again at random.
        self.last_status = status
        back = min(_BACKOFF_MAX_MS, max(_BACKOFF_MIN_MS, 2 * self._backoff))
        self._backoff = back
        back += (self._parts.entropy(1)[0] * back) >> 9
        self._hold = retry_after_s > 0
        if status == NET_ERROR and not _is_ip(self.host):
            self._addr = None   # the name is looked up again (idle): the hub may have moved
        if back < retry_after_s * 1000:
            back = retry_after_s * 1000
        self._wait_from = self._clock.ticks_ms()
        self._wait_ms = back

    # -- the request ----------------------------------------------------------
    def _now(self):
        clock = self._clock
        t = clock.unix_time()
        return (t if t is not None else clock.uptime_s()) + self.offset

    def _post(self, path, digest, length, send_body, what):
        """(status, JSON body or None) of a signed POST, signed again once
        when the hub says the clock is off; None when it failed (the wait
        is set)."""
        for _ in range(2):
            now = self._now()
            got = self._request(path, digest, length, send_body, what, now)
            if got is None:
                return None
            status, hub_time, retry_after, body = got
            if status == 401 and isinstance(body, dict) and body.get("error") == "clock" \
                    and hub_time is not None:
                self.offset += hub_time - now
                continue
            if status in (429, 503) or status >= 500:
                self._failed(status, retry_after)
                return None
            self.last_status = status
            if status == 401:
                self._failed(status, 0)
                return None
            return status, body
        self._failed(401, 0)
        return None

    def _write(self, data):
        # Send all of data within what is left of the budget.
        mv = None
        while True:
            left = self._left()
            if left <= 0:
                raise OSError(110)   # ETIMEDOUT
            self._settimeout(left / 1000)  # type: ignore[operator]
            n = self._w(data if mv is None else mv) or 0  # type: ignore[operator]
            if mv is None:
                if n >= len(data):
                    return
                mv = memoryview(data)
            mv = mv[n:]
            if not mv:
                return

    def _request(self, path, digest, length, send_body, what, now):
        # (status, hub time, Retry-After s, JSON body) or None (failed).
        parts = self._parts
        net = parts.net
        addr = self._addr  # type: tuple  # type: ignore[assignment]  # set by run()
        raw = s = None
        try:
            left = self._left()
            if left <= _MIN_LEFT_MS:
                raise OSError(110)   # no time to start one
            # The head in one piece, written into the answer's buffer (free
            # until the answer comes) and signed from there.
            buf = self._buf
            path = path.encode()
            i = put(buf, 0, b"POST ")
            i = put(buf, i, path)
            i = put(buf, i, self._host_line)
            i = put(buf, i, b"%d" % length)
            i = put(buf, i, b"\r\nConnection: close\r\n")
            i = hubwire.put_headers(buf, i, self._pad, self._key, path, self._terminal, now,
                                    parts.entropy(hubwire.NONCE_LEN), digest, self._mv)
            i = put(buf, i, b"\r\n")
            raw = s = net.socket(addr[0], net.SOCK_STREAM)
            raw.settimeout(left / 1000)
            raw.connect(addr[-1])
            if self.tls:
                s = parts.tls.wrap_socket(raw, server_hostname=self.host)
            self._w = getattr(s, "write", None) or s.send
            # The wrapped socket's timeout where it has one (CPython's
            # SSLSocket), else the raw socket's (MicroPython's TLS reads
            # through it).
            self._settimeout = getattr(s, "settimeout", None) or raw.settimeout
            send_body(i, what)
            return self._answer(s)
        except (OSError, ValueError):
            self._failed(NET_ERROR, 0)
            return None
        finally:
            self._w = self._settimeout = None
            for sock in (s, raw):
                if sock is not None:
                    try:
                        sock.close()
                    except OSError:
                        pass
                if s is raw:
                    break

    def _answer(self, s):
        # Read the answer into the buffer until it is whole (its head and
        # Content-Length bytes of body; without a length, until the hub
        # closes: the request said Connection: close) and scan it there:
        # status, the three headers used, and the JSON body, the only copy.
        buf = self._buf
        mv = self._mv
        r = getattr(s, "readinto", None) or s.recv_into
        got = 0
        head = None
        while True:
            if got == len(buf):
                raise ValueError("answer too long")
            left = self._left()
            if left <= 0:
                raise OSError(110)
            self._settimeout(left / 1000)  # type: ignore[operator]
            try:
                n = r(mv[got:])
            except OSError:
                # A TLS peer that closes without close_notify after an
                # answer without a length: it counts as read.
                if head is None or head[0] is not None:
                    raise
                break
            if not n:
                break
            got += n
            if head is None:
                head = self._head(buf, got)
            if head is not None and head[0] is not None and got >= head[4] + head[0]:
                break
        if head is None:
            raise ValueError("answer cut short")
        length, status, hub_time, retry, start = head
        if length is not None and got - start != length:
            raise ValueError("answer cut short")
        body = None
        if got > start:
            try:
                body = json.loads(bytes(mv[start:got]))
            except ValueError:
                pass
        return status, hub_time, retry or 0, body

    def _head(self, buf, got):
        # (Content-Length, status, hub time, Retry-After, where the body
        # starts) once the head is whole in buf[:got], else None.
        if got < 12:
            return None
        for i in range(7):
            if buf[i] != _HTTP[i] or buf[8] != 32:
                raise ValueError("not an HTTP answer")
        values = [None, None, None]   # Content-Length, hub time, Retry-After
        names = self._names
        i = _line_end(buf, 0, got) + 2
        while True:
            j = _line_end(buf, i, got)
            if j >= got:
                return None   # not all of it yet
            if j == i:
                break   # the empty line: the body follows
            colon = i
            while colon < j and buf[colon] != 58:   # ":"
                colon += 1
            for k in range(3):
                if _named(buf, i, colon, names[k]):
                    values[k] = _number(buf, colon + 1, j)
            i = j + 2
        return values[0], _number(buf, 9, 12), values[1], values[2], j + 2


_HTTP = b"HTTP/1."


def _line_end(buf, i, end):
    # The index of the CR LF ending the line at i (end when there is none).
    while i + 1 < end:
        if buf[i] == 13 and buf[i + 1] == 10:
            return i
        i += 1
    return end


def _named(buf, i, colon, name):
    # True when buf[i:colon] is name (lower case bytes), in any case.
    if colon - i != len(name):
        return False
    for k in range(len(name)):
        c = buf[i + k]
        if 65 <= c <= 90:
            c += 32
        if c != name[k]:
            return False
    return True


def _number(buf, i, end):
    # The decimal number in buf[i:end] after spaces; None when there is none.
    while i < end and buf[i] == 32:
        i += 1
    n = None
    while i < end and 48 <= buf[i] <= 57:
        n = (n or 0) * 10 + buf[i] - 48
        i += 1
    return n


def _is_ip(host):
    # An IPv4 literal (or a bracketed IPv6 one): getaddrinfo needs no resolver.
    if host.startswith("["):
        return True
    parts = host.split(".")
    if len(parts) != 4:
        return False
    for p in parts:
        if not p.isdigit():
            return False
    return True
