# Faults the simulator can inject, by fault-catalogue id. Each one changes the
# virtual hardware the way the real fault does (printer status bits, sensor
# inputs, thermistor and supply readings, the settlement host), never the
# firmware's results. Written for MicroPython as well as CPython, so a
# scenario runs the same on both.
from host_tools.sim.parts import PrinterState

# ADC readings (read_u16) of the default board (posdiag/config.py).
HEAD_35C = 25950  # head thermistor at about 35 C
HEAD_75C = 8500  # about 75 C: over the 65 C limit
HEAD_OPEN = 65535  # thermistor wire broken: the pull-up's full scale
SUPPLY_NOISE = (43330, 43290, 43370, 43310)  # 24.0 V +-30 mV: a good adapter
SUPPLY_SAGGING = (37000, 33000, 38500, 31000)  # 17-21 V, 4 V spread: a weak one


class Scenario:
    def __init__(self):
        self.printer = PrinterState()
        self.paper_end_pin = False  # sensor inputs, True = condition present
        self.near_end_pin = False
        self.cover_pin = False
        self.head = (HEAD_35C,)
        self.supply = SUPPLY_NOISE
        self.host = "echo"  # settlement host: echo | reject | slow | down


def _paper_out(s):
    s.printer.paper = "end"
    s.paper_end_pin = True
    s.near_end_pin = True


def _paper_near_end(s):
    s.printer.paper = "near-end"
    s.near_end_pin = True


def _cover_open(s):
    s.printer.cover_open = True
    s.cover_pin = True


def _cutter_jam(s):
    s.printer.cutter_error = True


def _head_overheat(s):
    s.printer.overheat = True
    s.head = (HEAD_75C,)


def _head_fault(s):
    s.printer.unrecoverable = True
    s.head = (HEAD_OPEN,)


def _power_unstable(s):
    s.supply = SUPPLY_SAGGING


def _busy(s):
    s.printer.feed_pressed = True


def _garbled(s):
    s.printer.baud = 19200  # the terminal stays at 9600


def _no_response(s):
    s.printer.responsive = False


def _software_mismatch(s):
    s.printer.name = "RP-58 CLONE"  # not in the simulator's supported list


def _host_down(s):
    s.host = "down"


def _host_slow(s):
    s.host = "slow"


def _host_rejects(s):
    s.host = "reject"


FAULTS = {
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
    "host-unreachable": _host_down,
    "host-slow": _host_slow,
    "host-rejects": _host_rejects,
}


def scenario(fault_ids):
    """The scenario with every named fault applied; ValueError names an id
    the simulator cannot inject."""
    s = Scenario()
    for ident in fault_ids:
        if ident not in FAULTS:
            raise ValueError("cannot inject fault %r; the simulator knows: %s" % (ident, ", ".join(sorted(FAULTS))))
        FAULTS[ident](s)
    return s
