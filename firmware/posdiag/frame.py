# Frames on the diagnostics serial link, used by the terminal and the host.
#
#   body  = kind u8 | request id u8 | payload | CRC-32 u32 LE (over the rest)
#   wire  = COBS(body) | 0x00
#
# COBS removes every 0x00 from the body, so 0x00 marks the end of a frame and
# a receiver that lost its place (noise, console text, a cable re-plugged)
# picks up again at the next one. docs/serial-protocol.md has byte examples.
from binascii import crc32

DELIMITER = 0
OVERHEAD = 6         # kind, request id and CRC-32 around the payload
MAX_BODY = 1030      # OVERHEAD + 1024 payload (protocol.MAX_PAYLOAD)


def _cobs_into(out, data):
    # COBS of data written to out (room for a code byte per 254 data bytes,
    # plus one): its length. No block is built on its own.
    code_at = 0   # where the current block's code byte goes
    w = 1
    for b in data:
        if b:
            out[w] = b
            w += 1
            if w - code_at == 255:   # a full block: 254 bytes, no zero
                out[code_at] = 255
                code_at = w
                w += 1
        else:
            out[code_at] = w - code_at
            code_at = w
            w += 1
    out[code_at] = w - code_at
    return w


def cobs_encode(data):
    out = bytearray(len(data) + len(data) // 254 + 2)
    return out[:_cobs_into(out, data)]


def cobs_decode_in_place(buf, n):
    """Decode the COBS bytes buf[:n] in place; return the decoded length, or
    -1 when they are not valid COBS. Decoded bytes never overtake the ones
    still to read, so no second buffer is needed."""
    read = 0
    write = 0
    while read < n:
        code = buf[read]
        if code == 0 or read + code > n:
            return -1
        read += 1
        for _ in range(code - 1):
            buf[write] = buf[read]
            write += 1
            read += 1
        if code != 255 and read < n:
            buf[write] = 0
            write += 1
    return write


def encode(kind, req_id, payload=b"", status=None):
    """The wire bytes of a frame. status: a response's status byte, put
    before the payload (the payload is not copied to prepend it)."""
    head = 2 if status is None else 3
    n = head + len(payload)
    body = bytearray(n + 4)
    body[0] = kind
    body[1] = req_id
    if status is not None:
        body[2] = status
    body[head:n] = payload
    crc = crc32(memoryview(body)[:n])
    for i in range(4):
        body[n + i] = (crc >> (8 * i)) & 0xFF
    # COBS and the delimiter in one buffer (a fresh bytearray is all zeros).
    out = bytearray(n + 4 + (n + 4) // 254 + 3)
    return bytes(memoryview(out)[:_cobs_into(out, body) + 1])


class Reader:
    """Turns a byte stream into frames, with one fixed buffer: whatever
    arrives, it never holds more than max_body bytes. After push() returns
    True, kind, req_id and payload() describe the frame; bad frames (wrong
    CRC, invalid COBS, too long) are counted in errors and skipped."""

    def __init__(self, max_body=MAX_BODY):
        # COBS adds one byte per 254: room for the encoded form of max_body.
        self._buf = bytearray(max_body + max_body // 254 + 2)
        self._max_body = max_body
        self._n = 0
        self._overflow = False
        self._len = 0
        self.kind = 0
        self.req_id = 0
        self.errors = 0

    def push(self, b):
        if b != DELIMITER:
            if self._n < len(self._buf):
                self._buf[self._n] = b
                self._n += 1
            else:
                self._overflow = True
            return False
        n = self._n
        overflow = self._overflow
        self._n = 0
        self._overflow = False
        if n == 0:
            return False       # back-to-back delimiters: nothing to report
        if overflow:
            self.errors += 1
            return False
        size = cobs_decode_in_place(self._buf, n)
        if size < OVERHEAD or size > self._max_body:
            self.errors += 1
            return False
        body = memoryview(self._buf)[:size - 4]
        crc = (self._buf[size - 4] | self._buf[size - 3] << 8
               | self._buf[size - 2] << 16 | self._buf[size - 1] << 24)
        if crc32(body) != crc:
            self.errors += 1
            return False
        self.kind = self._buf[0]
        self.req_id = self._buf[1]
        self._len = size - OVERHEAD
        return True

    def payload(self):
        """The payload of the last frame: a view valid until the next push."""
        return memoryview(self._buf)[2:2 + self._len]
