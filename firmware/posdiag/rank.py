# From check flags to causes, ranked root cause first. The terminal uses it to
# pick its on-screen hint and the host tool uses it to diagnose a record, so
# both always agree. docs/diagnosis.md states the rules in words; the tables
# (catalog.SIGNALS, catalog.RANK) are the catalog's.
from posdiag import catalog as c
from posdiag.record import check_flags


def causes(checks, failed=False):
    """Cause codes for a record's checks array, most likely root cause first.
    failed: the self-test stopped with an error (record key 9)."""
    found = 1 << c.INTERNAL_ERROR if failed else 0
    for check, mask, cause in c.SIGNALS:
        if check_flags(checks, check) & mask:
            found |= 1 << cause
    printer = check_flags(checks, c.CHECK_PRINTER)
    # Cover open: the printer's own paper-end bit is unreliable (some printers
    # set it with the cover up); the terminal's paper sensor still counts.
    if found & (1 << c.COVER_OPEN) and not check_flags(checks, c.CHECK_PAPER) & c.S_PAPER_END:
        found &= ~(1 << c.PAPER_OUT)
    # An empty roll is also a near-end roll: report the one that matters.
    if found & (1 << c.PAPER_OUT):
        found &= ~(1 << c.PAPER_NEAR_END)
    # The offline bit alone: busy or paused, unless another cause explains it.
    # Some printers are set (ESC c 4) to stop at near end: their own near-end
    # bit explains the offline bit (the terminal's sensor not).
    if (printer & c.P_OFFLINE and not printer & c.P_NEAR_END
            and not found & c.OFFLINE_EXPLAINED_BY):
        found |= 1 << c.PRINTER_BUSY_OFFLINE
    # No reply or garbage: every other printer bit is unknown, not absent.
    if found & ((1 << c.PRINTER_NO_RESPONSE) | (1 << c.LINK_GARBLED)):
        found &= ~(1 << c.PRINTER_BUSY_OFFLINE)
    return [cause for cause in c.RANK if found & (1 << cause)]
