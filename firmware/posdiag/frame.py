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


def cobs_encode(data):
    out = bytearray()
    block = bytearray()
    for b in data:
        if b:
            block.append(b)
            if len(block) == 254:
                out.append(255)
                out.extend(block)
                block = bytearray()
        else:
            out.append(len(block) + 1)
            out.extend(block)
            block = bytearray()
    out.append(len(block) + 1)
    out.extend(block)
    return out


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


def encode(kind, req_id, payload=b""):
    body = bytearray(2 + len(payload) + 4)
    body[0] = kind
    body[1] = req_id
    body[2:2 + len(payload)] = payload
    crc = crc32(memoryview(body)[:2 + len(payload)])
    for i in range(4):
        body[2 + len(payload) + i] = (crc >> (8 * i)) & 0xFF
    out = cobs_encode(body)
    out.append(DELIMITER)
    return bytes(out)


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
