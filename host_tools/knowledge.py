"""What the host knows of each cause (``catalog_names.CAUSES``) beyond the
catalogue: the readings of a record that support it, and whether the customer
is offered an e-receipt. The technician's steps are text, kept per language in
``host_tools/lang/`` (``texts.steps``)."""

from __future__ import annotations

from host_tools.catalog_names import CAUSES
from host_tools.texts import steps

__all__ = ["EVIDENCE", "E_RECEIPT", "READINGS", "steps"]

# Names of the readings in a record that may support a cause.
READINGS: tuple[str, ...] = (
    "printer.flags",
    "printer.raw",
    "printer.reply_ms",
    "printer.baud_found",
    "paper.flags",
    "host.flags",
    "host.rtt_ms",
    "host.echo_ms",
    "head.flags",
    "head.temp_dc",
    "power.flags",
    "power.mean_mv",
    "power.spread_mv",
    "error.stage",
    "error.name",
)

# EVIDENCE[cause_id]: the readings of a record that support the cause. Empty for causes no
# sensor sees (the host asks the technician instead).
EVIDENCE: dict[str, tuple[str, ...]] = {
    "paper-out": ("printer.flags", "printer.raw", "paper.flags"),
    "paper-near-end": ("printer.flags", "printer.raw", "paper.flags"),
    "paper-loaded-backwards": (),
    "cover-open": ("printer.flags", "printer.raw", "paper.flags"),
    "cutter-jam": ("printer.flags", "printer.raw"),
    "head-overheat": ("printer.flags", "printer.raw", "head.flags", "head.temp_dc"),
    "head-fault": ("printer.flags", "printer.raw", "head.flags", "head.temp_dc"),
    "power-unstable": ("power.flags", "power.mean_mv", "power.spread_mv"),
    "printer-no-response": ("printer.flags", "printer.reply_ms"),
    "link-garbled": ("printer.flags", "printer.raw", "printer.baud_found"),
    "link-intermittent": ("printer.flags", "printer.reply_ms"),
    "printer-busy-offline": ("printer.flags", "printer.raw"),
    "host-unreachable": ("host.flags",),
    "host-slow": ("host.flags", "host.rtt_ms", "host.echo_ms"),
    "host-rejects": ("host.flags", "host.echo_ms"),
    "software-mismatch": ("printer.flags",),
    "receipt-policy": (),
    "internal-error": ("error.stage", "error.name"),
}

# Causes for which the customer is offered an e-receipt: every cause that stops the paper
# receipt (fault severity), and the receipt policy.
E_RECEIPT: frozenset[str] = frozenset(
    ident for ident, category, severity in CAUSES.values() if severity == "fault" or category == "policy"
)
