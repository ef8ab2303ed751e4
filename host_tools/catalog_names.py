"""The names of the firmware catalogue's integer codes (``posdiag/catalog.py``),
which only the host shows: cause ids with their category and severity, the
names of each check's flags, the flags that only warn, and the names of the
exception classes a record's key 9 counts. The terminal never needs them, so
they are not on the device (issue 11): the firmware keeps the codes, the
ranking and the merchant's hints.

Every table is keyed by the firmware's own constants, so each code is defined
once, there; tests/test_catalog.py checks that every code has exactly one name
here and that no name is left without a code."""

from __future__ import annotations

from typing import NamedTuple

from posdiag import catalog as c

__all__ = [
    "CATEGORIES",
    "CAUSES",
    "Cause",
    "CAUSE_IDS",
    "CHECKS",
    "ERRORS",
    "FLAGS",
    "SEVERITIES",
    "WARNING_FLAGS",
    "cause_code",
    "cause_id",
    "flag_names",
]

# The checks of a record's checks array, by catalog.CHECK_*.
CHECKS = ("printer", "paper", "host", "head", "power")

# Categories: the five causes of the merchant article posdiag started from.
CATEGORIES = ("device", "operator", "network", "consumables", "policy")

# Severity: a fault stops the receipt; a warning does not (yet).
SEVERITIES = ("fault", "warning")


class Cause(NamedTuple):
    id: str  # stable: the JSON, the steps in lang/*.toml and findings use it
    category: str  # one of CATEGORIES
    severity: str  # one of SEVERITIES


# Every cause code of the catalogue (catalog.PAPER_OUT ...), in code order.
CAUSES: dict[int, Cause] = {
    c.PAPER_OUT: Cause("paper-out", "consumables", "fault"),
    c.PAPER_NEAR_END: Cause("paper-near-end", "consumables", "warning"),
    c.PAPER_LOADED_BACKWARDS: Cause("paper-loaded-backwards", "operator", "fault"),
    c.COVER_OPEN: Cause("cover-open", "operator", "fault"),
    c.CUTTER_JAM: Cause("cutter-jam", "device", "fault"),
    c.HEAD_OVERHEAT: Cause("head-overheat", "device", "fault"),
    c.HEAD_FAULT: Cause("head-fault", "device", "fault"),
    c.POWER_UNSTABLE: Cause("power-unstable", "device", "fault"),
    c.PRINTER_NO_RESPONSE: Cause("printer-no-response", "device", "fault"),
    c.LINK_GARBLED: Cause("link-garbled", "operator", "fault"),
    c.LINK_INTERMITTENT: Cause("link-intermittent", "device", "warning"),
    c.PRINTER_BUSY_OFFLINE: Cause("printer-busy-offline", "operator", "fault"),
    c.HOST_UNREACHABLE: Cause("host-unreachable", "network", "fault"),
    c.HOST_SLOW: Cause("host-slow", "network", "warning"),
    c.HOST_REJECTS: Cause("host-rejects", "network", "fault"),
    c.SOFTWARE_MISMATCH: Cause("software-mismatch", "operator", "fault"),
    c.RECEIPT_POLICY: Cause("receipt-policy", "policy", "warning"),
    c.INTERNAL_ERROR: Cause("internal-error", "device", "fault"),
}

# The cause ids by code: CAUSE_IDS[code].
CAUSE_IDS: tuple[str, ...] = tuple(CAUSES[code].id for code in sorted(CAUSES))
_CODES = {ident: code for code, ident in enumerate(CAUSE_IDS)}


def cause_id(code: int) -> str:
    return CAUSE_IDS[code]


def cause_code(ident: str) -> int:
    """The code of a cause id; ValueError for an id the catalogue has not."""
    try:
        return _CODES[ident]
    except KeyError:
        raise ValueError(f"unknown cause id: {ident}") from None


# The names of each check's flags, by check and flag bit, in bit order.
FLAGS: dict[int, dict[int, str]] = {
    c.CHECK_PRINTER: {
        c.P_NO_REPLY: "no-reply",
        c.P_GARBLED: "garbled",
        c.P_OFFLINE: "offline",
        c.P_COVER: "cover-open",
        c.P_PAPER_END: "paper-end",
        c.P_NEAR_END: "near-end",
        c.P_CUTTER: "cutter-error",
        c.P_UNRECOVERABLE: "unrecoverable-error",
        c.P_AUTO_RECOVER: "auto-recoverable-error",
        c.P_FEED: "feed-button",
        c.P_WAIT_RECOVERY: "waiting-recovery",
        c.P_MECHANICAL: "mechanical-error",
        c.P_UNSUPPORTED: "unsupported-printer",
        c.P_PARTIAL: "partial-reply",
    },
    c.CHECK_PAPER: {
        c.S_PAPER_END: "paper-end",
        c.S_NEAR_END: "near-end",
        c.S_COVER: "cover-open",
        c.S_DISAGREE: "disagrees-with-printer",
    },
    c.CHECK_HOST: {
        c.H_DNS: "dns-failed",
        c.H_REFUSED: "refused",
        c.H_TIMEOUT: "timeout",
        c.H_SLOW: "slow",
        c.H_REJECTS: "rejects",
        c.H_ECHO_TIMEOUT: "echo-timeout",
        c.H_UNRESOLVED: "not-resolved-yet",
    },
    c.CHECK_HEAD: {
        c.T_OVERHEAT: "overheat",
        c.T_OPEN: "thermistor-open",
        c.T_SHORT: "thermistor-short",
    },
    c.CHECK_POWER: {
        c.V_LOW: "low",
        c.V_HIGH: "high",
        c.V_UNSTABLE: "unstable",
        c.V_BROWNOUT: "brownout-reset",
        c.V_WATCHDOG: "watchdog-reset",
    },
}

# Flags that warn (receipts still print), by check; every other flag is a fault.
WARNING_FLAGS: dict[int, int] = {
    c.CHECK_PRINTER: c.P_NEAR_END | c.P_PARTIAL,
    c.CHECK_PAPER: c.S_NEAR_END | c.S_DISAGREE,
    c.CHECK_HOST: c.H_SLOW | c.H_ECHO_TIMEOUT | c.H_UNRESOLVED,
    c.CHECK_HEAD: 0,
    c.CHECK_POWER: c.V_WATCHDOG,
}


def flag_names(check: int, flags: int) -> list[str]:
    """The names of the flags set in one check's flags, in bit order (a bit
    this host has no name for is left out)."""
    return [name for bit, name in FLAGS[check].items() if flags & bit]


# The exception classes of record key 9, by code: the firmware's classes'
# own names (catalog.ERROR_CLASSES; CPython has every one of them).
ERRORS: tuple[str, ...] = tuple(cls.__name__ for cls in c.ERROR_CLASSES)
