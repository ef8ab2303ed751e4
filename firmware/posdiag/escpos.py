# ESC/POS real-time status (DLE EOT n): the request bytes and the meaning of
# the one-byte replies. Pure logic: no I/O, shared with the host tool.
try:
    from micropython import const
except ImportError:   # CPython: the host tool and the simulator
    const = int  # type: ignore[assignment]

# The catalog's printer flags this module sets, folded into the bytecode
# (tests/test_catalog.py checks each is catalog.<name without _>).
_P_GARBLED = const(0x2)
_P_OFFLINE = const(0x4)
_P_COVER = const(0x8)
_P_PAPER_END = const(0x10)
_P_NEAR_END = const(0x20)
_P_CUTTER = const(0x40)
_P_UNRECOVERABLE = const(0x80)
_P_AUTO_RECOVER = const(0x100)
_P_FEED = const(0x200)
_P_WAIT_RECOVERY = const(0x400)
_P_MECHANICAL = const(0x800)

_DLE = const(0x10)
_ENQ = const(0x05)
_GS = const(0x1D)

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
    return bytes((_GS, 0x49, n))


def counter_query(n):
    return bytes((_GS, 0x67, 0x32, 0, n & 0xFF, n >> 8))


def recover_request(mode):
    return bytes((_DLE, _ENQ, mode))

# Every status byte has the form 0xx1xx10: bits 0 and 7 clear, 1 and 4 set.
_FIXED_MASK = const(0x93)
_FIXED_VALUE = const(0x12)


def is_status(b):
    """True when b has the fixed bits of a DLE EOT reply. ASB bytes, XON/XOFF
    and bytes garbled by a wrong baud rate fail this test."""
    return (b & _FIXED_MASK) == _FIXED_VALUE


# (query n, bit mask, printer flag) for every bit posdiag interprets.
_BITS = (
    (1, 0x08, _P_OFFLINE),
    (1, 0x20, _P_WAIT_RECOVERY),
    (1, 0x40, _P_FEED),
    (2, 0x04, _P_COVER),
    (2, 0x08, _P_FEED),
    (2, 0x20, _P_PAPER_END),
    (3, 0x04, _P_MECHANICAL),
    (3, 0x08, _P_CUTTER),
    (3, 0x20, _P_UNRECOVERABLE),
    (3, 0x40, _P_AUTO_RECOVER),
    (4, 0x0C, _P_NEAR_END),
    (4, 0x60, _P_PAPER_END),
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
            return _P_GARBLED
        flags |= status_flags(i + 1, b)
    return flags
