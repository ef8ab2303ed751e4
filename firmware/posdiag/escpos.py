# ESC/POS real-time status (DLE EOT n): the request bytes and the meaning of
# the one-byte replies. Pure logic: no I/O, shared with the host tool.
from posdiag import catalog as c

XON = 0x11
XOFF = 0x13

# n = 1 printer, 2 offline cause, 3 error cause, 4 paper roll sensor
QUERIES = (b"\x10\x04\x01", b"\x10\x04\x02", b"\x10\x04\x03", b"\x10\x04\x04")

# GS I n: printer identity. n 1-3 answer one byte; 65-68 answer a block
# 0x5F + ASCII + 0x00.
ID_MODEL = 1
ID_FIRMWARE = 65
ID_MAKER = 66
ID_NAME = 67
BLOCK_START = 0x5F

# GS g 2 n: maintenance counters, cumulative versions (block reply, digits).
COUNTER_FEED = 148        # line feeds
COUNTER_HEAD = 149        # head energizing count
COUNTER_CUTS = 178        # autocuts

# DLE ENQ n: recovery request. 1: recover and reprint from the failed line,
# 2: clear the buffers and recover. Only for recoverable errors (cutter jam).
RECOVER_REPRINT = 1
RECOVER_CLEAR = 2


def identity_query(n):
    return bytes((0x1D, 0x49, n))   # GS I n


def counter_query(n):
    return bytes((0x1D, 0x67, 0x32, 0, n & 0xFF, n >> 8))   # GS g 2 n (16 bits)


def recover_request(mode):
    return bytes((0x10, 0x05, mode))   # DLE ENQ n


def is_status(b):
    """True when b has the fixed bits of a DLE EOT reply, 0xx1xx10 (bits 0
    and 7 clear, 1 and 4 set). ASB bytes, XON/XOFF and bytes garbled by a
    wrong baud rate fail this test."""
    return (b & 0x93) == 0x12


# (query n, bit mask, printer flag) for every bit posdiag interprets.
_BITS = (
    (1, 0x08, c.P_OFFLINE),
    (1, 0x20, c.P_WAIT_RECOVERY),
    (1, 0x40, c.P_FEED),
    (2, 0x04, c.P_COVER),
    (2, 0x08, c.P_FEED),
    (2, 0x20, c.P_PAPER_END),
    (3, 0x04, c.P_MECHANICAL),
    (3, 0x08, c.P_CUTTER),
    (3, 0x20, c.P_UNRECOVERABLE),
    (3, 0x40, c.P_AUTO_RECOVER),
    (4, 0x0C, c.P_NEAR_END),
    (4, 0x60, c.P_PAPER_END),
)


def status_flags(n, b):
    """Printer flags that reply byte b to DLE EOT n reports. b must be valid
    (see is_status). Multi-bit fields (paper sensor) count when any bit is set:
    printers with one sensor set only one of the pair."""
    flags = 0
    for q, mask, flag in _BITS:
        if q == n and b & mask:
            flags |= flag
    return flags


def flags_from_raw(raw):
    """Printer flags from the replies to DLE EOT 1, 2, 3, 4 in order; a reply
    that fails the fixed-bit test marks the whole set garbled."""
    flags = 0
    for i in range(len(raw)):
        b = raw[i]
        if not is_status(b):
            return c.P_GARBLED
        flags |= status_flags(i + 1, b)
    return flags
