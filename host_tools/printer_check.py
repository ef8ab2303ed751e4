"""`posdiag printer PORT`: a technician checks a receipt printer straight
from a laptop, with no terminal in between: a USB-serial adapter, RS-232, or
a network printer at socket://HOST:9100. It runs the firmware's own printer
code (posdiag/printer.py and printerid.py: DLE EOT 1-4, the baud scan, GS I,
GS g 2) through a pyserial port and ranks the result with the terminal's own
rules, so the laptop and the terminal never disagree. Recovery (DLE ENQ) is
offered when it can help and sent only when asked for."""

from __future__ import annotations

import time

from host_tools.diagnosis import diagnose
from host_tools.identity import readable
from host_tools.uart import HostClock, SerialUart
from posdiag import catalog as c
from posdiag import escpos, printer, printerid, record

# Flags the recovery request clears: errors the printer recovers from when
# told to (a cutter jam once the paper is out of the way), and a printer
# waiting for exactly that request. Head temperature recovers by itself.
RECOVERABLE = c.P_CUTTER | c.P_MECHANICAL | c.P_WAIT_RECOVERY
RECOVERY_MODES = {"reprint": escpos.RECOVER_REPRINT, "clear": escpos.RECOVER_CLEAR}


def _scans(url: str) -> bool:
    # A baud rate means something only on a serial line, not on raw TCP.
    return "://" not in url or url.startswith(("rfc2217://", "spy://"))


def check(port, url: str, baud: int, timeout_ms: int, supported: list[str], lang: str = "en") -> dict:  # noqa: ANN001
    """One check of the printer on an open pyserial port: the printer's
    status, identity and counters, and the ranked diagnosis (the same JSON
    as `posdiag diagnose`, docs/json-output.md)."""
    uart = SerialUart(port)
    clock = HostClock()
    result = printer.check_printer(uart, clock, timeout_ms, baud if _scans(url) else None, 8 * timeout_ms)
    identity = counters = None
    if printer.answered(result[0]):
        identity = printerid.identify(uart, clock, timeout_ms)
        counters = printerid.read_counters(uart, clock, timeout_ms)
        if printerid.unsupported(identity, supported):
            result[0] |= c.P_UNSUPPORTED
    checks = [result, None, None, None, None]
    raw = record.encode(record.build(0, 0, 0, int(time.time()), record.TRIGGER_REQUEST, checks))
    diag = diagnose(raw, lang)
    return {
        "port": url,
        "baud": baud if _scans(url) else None,
        "printer": readable(identity),
        "printer_counters": counters,
        "recovery_offered": bool(result[0] & RECOVERABLE),
        "diagnosis": diag,
    }


def recover(port, mode: str) -> None:  # noqa: ANN001
    """Send the recovery request (DLE ENQ) the technician asked for."""
    printer.recover(SerialUart(port), RECOVERY_MODES[mode])
