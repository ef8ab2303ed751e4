# From check flags to causes, ranked root cause first. The terminal uses it to
# pick its on-screen hint and the host tool uses it to diagnose a record, so
# both always agree. docs/diagnosis.md states the rules in words.
from posdiag import catalog as c
from posdiag.record import check_flags

# (check, flag mask, cause): a check result with any bit of the mask set
# points at the cause.
_SIGNALS = (
    (c.CHECK_POWER, c.V_LOW | c.V_HIGH | c.V_UNSTABLE | c.V_BROWNOUT,
     c.POWER_UNSTABLE),
    (c.CHECK_PRINTER, c.P_NO_REPLY, c.PRINTER_NO_RESPONSE),
    (c.CHECK_PRINTER, c.P_GARBLED, c.LINK_GARBLED),
    (c.CHECK_PRINTER, c.P_UNRECOVERABLE, c.HEAD_FAULT),
    (c.CHECK_HEAD, c.T_OPEN | c.T_SHORT, c.HEAD_FAULT),
    (c.CHECK_PRINTER, c.P_AUTO_RECOVER, c.HEAD_OVERHEAT),
    (c.CHECK_HEAD, c.T_OVERHEAT, c.HEAD_OVERHEAT),
    (c.CHECK_PRINTER, c.P_CUTTER | c.P_MECHANICAL, c.CUTTER_JAM),
    (c.CHECK_PRINTER, c.P_COVER, c.COVER_OPEN),
    (c.CHECK_PAPER, c.S_COVER, c.COVER_OPEN),
    (c.CHECK_PRINTER, c.P_PAPER_END, c.PAPER_OUT),
    (c.CHECK_PAPER, c.S_PAPER_END, c.PAPER_OUT),
    (c.CHECK_PRINTER, c.P_NEAR_END, c.PAPER_NEAR_END),
    (c.CHECK_PAPER, c.S_NEAR_END, c.PAPER_NEAR_END),
    (c.CHECK_PRINTER, c.P_FEED | c.P_WAIT_RECOVERY, c.PRINTER_BUSY_OFFLINE),
    (c.CHECK_HOST, c.H_DNS | c.H_REFUSED | c.H_TIMEOUT, c.HOST_UNREACHABLE),
    (c.CHECK_HOST, c.H_REJECTS, c.HOST_REJECTS),
    (c.CHECK_HOST, c.H_SLOW | c.H_ECHO_TIMEOUT, c.HOST_SLOW),
    (c.CHECK_PRINTER, c.P_UNSUPPORTED, c.SOFTWARE_MISMATCH),
    (c.CHECK_PRINTER, c.P_PARTIAL, c.LINK_INTERMITTENT),
)

# Causes that make the printer's offline bit a consequence, not a cause.
_OFFLINE_EXPLAINED_BY = (c.HEAD_FAULT, c.HEAD_OVERHEAT, c.CUTTER_JAM,
                         c.COVER_OPEN, c.PAPER_OUT)


def flags_of(checks):
    """The flags of each check of a record's checks array, in catalog.CHECK_*
    order (0 where a check did not run or found nothing)."""
    return [check_flags(checks, check) for check in range(len(c.CHECK_NAMES))]


def causes(checks, failed=False):
    """Cause codes for a record's checks array, most likely root cause first.
    failed: the self-test stopped with an error (record key 9)."""
    return from_flags(flags_of(checks), failed)


def from_flags(flags, failed=False):
    """Cause codes for the checks' flags (flags_of), most likely root cause
    first. failed: the self-test stopped with an error (record key 9)."""
    found = 1 << c.INTERNAL_ERROR if failed else 0
    for check, mask, cause in _SIGNALS:
        if flags[check] & mask:
            found |= 1 << cause
    # Cover open: the printer's own paper-end bit is unreliable (some printers
    # set it with the cover up); the terminal's paper sensor still counts.
    if found & (1 << c.COVER_OPEN) and not flags[c.CHECK_PAPER] & c.S_PAPER_END:
        found &= ~(1 << c.PAPER_OUT)
    # An empty roll is also a near-end roll: report the one that matters.
    if found & (1 << c.PAPER_OUT):
        found &= ~(1 << c.PAPER_NEAR_END)
    # The offline bit alone: busy or paused, unless another cause explains it.
    printer_flags = flags[c.CHECK_PRINTER]
    if printer_flags & c.P_OFFLINE:
        # Some printers are set (ESC c 4) to stop at near end: their own
        # near-end bit explains the offline bit (the terminal's sensor not).
        explained = bool(printer_flags & c.P_NEAR_END)
        for cause in _OFFLINE_EXPLAINED_BY:
            if found & (1 << cause):
                explained = True
        if not explained:
            found |= 1 << c.PRINTER_BUSY_OFFLINE
    # No reply or garbage: every other printer bit is unknown, not absent.
    if found & ((1 << c.PRINTER_NO_RESPONSE) | (1 << c.LINK_GARBLED)):
        found &= ~(1 << c.PRINTER_BUSY_OFFLINE)
    return [cause for cause in c.RANK if found & (1 << cause)]


def top_cause(checks, failed=False):
    ranked = causes(checks, failed)
    return ranked[0] if ranked else None
