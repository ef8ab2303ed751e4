"""Faults the simulator can inject, by fault-catalogue id. Each one changes
the virtual hardware the way the real fault does (printer status bits, sensor
inputs, the settlement host), never the firmware's results."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from host_tools.sim.printer import PrinterState


@dataclass
class Scenario:
    printer: PrinterState = field(default_factory=PrinterState)
    paper_end_pin: bool = False  # sensor inputs, True = condition present
    near_end_pin: bool = False
    cover_pin: bool = False
    host_down: bool = False  # settlement host refuses connections


def _paper_out(s: Scenario) -> None:
    s.printer.paper = "end"
    s.paper_end_pin = True
    s.near_end_pin = True


def _paper_near_end(s: Scenario) -> None:
    s.printer.paper = "near-end"
    s.near_end_pin = True


def _cover_open(s: Scenario) -> None:
    s.printer.cover_open = True
    s.cover_pin = True


def _set(attr: str) -> Callable[[Scenario], None]:
    def apply(s: Scenario) -> None:
        setattr(s.printer, attr, True)

    return apply


def _no_response(s: Scenario) -> None:
    s.printer.responsive = False


def _host_down(s: Scenario) -> None:
    s.host_down = True


FAULTS: dict[str, Callable[[Scenario], None]] = {
    "paper-out": _paper_out,
    "paper-near-end": _paper_near_end,
    "cover-open": _cover_open,
    "cutter-jam": _set("cutter_error"),
    "head-overheat": _set("overheat"),
    "head-fault": _set("unrecoverable"),
    "printer-busy-offline": _set("feed_pressed"),
    "link-garbled": _set("garbled"),
    "printer-no-response": _no_response,
    "host-unreachable": _host_down,
}


def scenario(fault_ids: list[str]) -> Scenario:
    """The scenario with every named fault applied; ValueError names an id
    the simulator cannot inject."""
    s = Scenario()
    for ident in fault_ids:
        if ident not in FAULTS:
            raise ValueError(
                f"cannot inject fault {ident!r}; the simulator knows: {', '.join(sorted(FAULTS))}"
            )
        FAULTS[ident](s)
    return s
