# From check flags to causes, ranked root cause first. The terminal uses it to
# pick its on-screen hint and the host tool uses it to diagnose a record, so
# both always agree. docs/diagnosis.md states the rules in words; the tables
# (catalog.SIGNALS, catalog.RANK) are the catalog's.
from posdiag import catalog as c
from posdiag.record import check_flags

try:
    from micropython import const
except ImportError:   # CPython: the host tool and the simulator
    const = int  # type: ignore[assignment]

# The catalog's codes the rules below use, folded into the bytecode
# (tests/test_catalog.py checks each is catalog.<name without _>).
_CHECK_PRINTER = const(0)
_CHECK_PAPER = const(1)
_S_PAPER_END = const(0x1)
_P_OFFLINE = const(0x4)
_P_NEAR_END = const(0x20)
_PAPER_OUT = const(0)
_PAPER_NEAR_END = const(1)
_COVER_OPEN = const(3)
_CUTTER_JAM = const(4)
_HEAD_OVERHEAT = const(5)
_HEAD_FAULT = const(6)
_PRINTER_NO_RESPONSE = const(8)
_LINK_GARBLED = const(9)
_PRINTER_BUSY_OFFLINE = const(11)
_INTERNAL_ERROR = const(17)

# Causes that make the printer's offline bit a consequence, not a cause
# (1 << code each).
_OFFLINE_EXPLAINED_BY = const((1 << _HEAD_FAULT) | (1 << _HEAD_OVERHEAT) | (1 << _CUTTER_JAM)
                              | (1 << _COVER_OPEN) | (1 << _PAPER_OUT))


def causes(checks, failed=False):
    """Cause codes for a record's checks array, most likely root cause first.
    failed: the self-test stopped with an error (record key 9)."""
    found = 1 << _INTERNAL_ERROR if failed else 0
    for check, mask, cause in c.SIGNALS:
        if check_flags(checks, check) & mask:
            found |= 1 << cause
    printer = check_flags(checks, _CHECK_PRINTER)
    # Cover open: the printer's own paper-end bit is unreliable (some printers
    # set it with the cover up); the terminal's paper sensor still counts.
    if found & (1 << _COVER_OPEN) and not check_flags(checks, _CHECK_PAPER) & _S_PAPER_END:
        found &= ~(1 << _PAPER_OUT)
    # An empty roll is also a near-end roll: report the one that matters.
    if found & (1 << _PAPER_OUT):
        found &= ~(1 << _PAPER_NEAR_END)
    # The offline bit alone: busy or paused, unless another cause explains it.
    # Some printers are set (ESC c 4) to stop at near end: their own near-end
    # bit explains the offline bit (the terminal's sensor not).
    if (printer & _P_OFFLINE and not printer & _P_NEAR_END
            and not found & _OFFLINE_EXPLAINED_BY):
        found |= 1 << _PRINTER_BUSY_OFFLINE
    # No reply or garbage: every other printer bit is unknown, not absent.
    if found & ((1 << _PRINTER_NO_RESPONSE) | (1 << _LINK_GARBLED)):
        found &= ~(1 << _PRINTER_BUSY_OFFLINE)
    return [cause for cause in c.RANK if found & (1 << cause)]
