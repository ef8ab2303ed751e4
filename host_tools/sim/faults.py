"""Faults the simulator can inject, by fault-catalogue id. Each one changes
the virtual hardware the way the real fault does (printer status bits, sensor
inputs, thermistor and supply readings, the settlement host), never the
firmware's results."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from host_tools.sim.printer import PrinterState

# ADC readings (read_u16) of the default board (posdiag/config.py).
HEAD_35C = 25950        # head thermistor at about 35 C
HEAD_75C = 8500         # about 75 C: over the 65 C limit
HEAD_OPEN = 65535       # thermistor wire broken: the pull-up's full scale
SUPPLY_24V = 43330      # 24.0 V through the 100k/10k divider
SUPPLY_NOISE = (43330, 43290, 43370, 43310)   # +-30 mV: a good adapter
SUPPLY_SAGGING = (37000, 33000, 38500, 31000)  # 17-21 V, 4 V spread: a weak adapter


@dataclass
class Scenario:
    printer: PrinterState = field(default_factory=PrinterState)
    paper_end_pin: bool = False   # sensor inputs, True = condition present
    near_end_pin: bool = False
    cover_pin: bool = False
    head: tuple[int, ...] = (HEAD_35C,)
    supply: tuple[int, ...] = SUPPLY_NOISE
    host: str = "echo"            # settlement host: echo | reject | slow | down


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


def _cutter_jam(s: Scenario) -> None:
    s.printer.cutter_error = True


def _head_overheat(s: Scenario) -> None:
    s.printer.overheat = True
    s.head = (HEAD_75C,)


def _head_fault(s: Scenario) -> None:
    s.printer.unrecoverable = True
    s.head = (HEAD_OPEN,)


def _power_unstable(s: Scenario) -> None:
    s.supply = SUPPLY_SAGGING


def _busy(s: Scenario) -> None:
    s.printer.feed_pressed = True


def _garbled(s: Scenario) -> None:
    s.printer.baud = 19200  # the terminal stays at 9600


def _no_response(s: Scenario) -> None:
    s.printer.responsive = False


def _software_mismatch(s: Scenario) -> None:
    s.printer.name = "RP-58 CLONE"  # not in the simulator's supported list


def _host(mode: str) -> Callable[[Scenario], None]:
    def apply(s: Scenario) -> None:
        s.host = mode

    return apply


FAULTS: dict[str, Callable[[Scenario], None]] = {
    "paper-out": _paper_out,
    "paper-near-end": _paper_near_end,
    "cover-open": _cover_open,
    "cutter-jam": _cutter_jam,
    "head-overheat": _head_overheat,
    "head-fault": _head_fault,
    "power-unstable": _power_unstable,
    "printer-busy-offline": _busy,
    "link-garbled": _garbled,
    "printer-no-response": _no_response,
    "software-mismatch": _software_mismatch,
    "host-unreachable": _host("down"),
    "host-slow": _host("slow"),
    "host-rejects": _host("reject"),
}


def scenario(fault_ids: list[str]) -> Scenario:
    """The scenario with every named fault applied; ValueError names an id
    the simulator cannot inject."""
    s = Scenario()
    for ident in fault_ids:
        if ident not in FAULTS:
            raise ValueError(f"cannot inject fault {ident!r}; the simulator knows: {', '.join(sorted(FAULTS))}")
        FAULTS[ident](s)
    return s
