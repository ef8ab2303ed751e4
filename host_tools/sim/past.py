"""`posdiag sim --history N`: a terminal that has lived before. N self-tests
of varied, realistic scenarios are run by the real firmware on virtual parts
(instant replies, a clock that moves hours between runs) and logged to the
simulated flash before the terminal boots, as if it had been in a shop for
weeks: mostly healthy, paper running low and out, a cover left open, the
network now and then, a cable working loose."""

from __future__ import annotations

import random

from host_tools.sim import faults, parts
from posdiag import config, record
from posdiag.hal import FileStorage, Parts, Sensor
from posdiag.terminal import Terminal

# (weight, fault ids): what a terminal's self-tests find over weeks.
LIFE: tuple[tuple[int, list[str]], ...] = (
    (70, []),
    (8, ["paper-near-end"]),
    (5, ["paper-out"]),
    (3, ["cover-open"]),
    (3, ["host-slow"]),
    (2, ["host-unreachable"]),
    (2, ["printer-no-response"]),
    (1, ["cutter-jam"]),
    (1, ["head-overheat"]),
    (1, ["power-unstable", "printer-no-response"]),
    (1, ["cover-open", "host-unreachable"]),
)
TRIGGERS = (
    (60, record.TRIGGER_BOOT),
    (25, record.TRIGGER_SCHEDULE),
    (10, record.TRIGGER_FAILED_PRINT),
    (5, record.TRIGGER_REQUEST),
)


class _LifeParts:
    """Virtual parts whose state is swapped for each scenario."""

    def __init__(self) -> None:
        self.printer_state = parts.PrinterState()
        self.pins = [parts.VirtualPin(0) for _ in range(3)]
        self.head = parts.VirtualAdc(faults.HEAD_35C)
        self.supply = parts.VirtualAdc(*faults.SUPPLY_NOISE)
        self.host = parts.VirtualHost()

    def become(self, fault_ids: list[str]) -> None:
        s = faults.scenario(fault_ids)
        self.printer_state.__dict__.update(s.printer.__dict__)
        for pin, on in zip(self.pins, (s.paper_end_pin, s.near_end_pin, s.cover_pin), strict=True):
            pin.level = 1 if on else 0
        self.head.readings = list(s.head)
        self.supply.readings = list(s.supply)
        self.host.mode = s.host


def write_history(flash_dir: str, count: int, cfg: dict, seed: int = 1, start_unix: int = 1790000000) -> None:
    """Log `count` earlier self-tests into flash_dir with the firmware itself."""
    rng = random.Random(seed)
    life = _LifeParts()
    clock = parts.StepClock(start_unix)
    hw = Parts(
        clock,
        FileStorage(flash_dir),
        parts.MemoryDisplay(),
        printer=parts.MemoryPort(parts.EscPosEmulator(life.printer_state), 9600),
        paper_end=Sensor(life.pins[0]),
        near_end=Sensor(life.pins[1]),
        cover=Sensor(life.pins[2]),
        head_adc=life.head,
        supply_adc=life.supply,
        probe=life.host,
    )
    terminal = Terminal(config.load(cfg), hw)
    weights, scenarios = zip(*LIFE, strict=True)
    trigger_weights, triggers = zip(*TRIGGERS, strict=True)
    for _ in range(count):
        life.become(rng.choices(scenarios, weights)[0])
        trigger = rng.choices(triggers, trigger_weights)[0]
        clock.sleep_ms(rng.randrange(600, 4 * 3600) * 1000)  # minutes to hours apart
        if trigger == record.TRIGGER_BOOT:
            terminal.log.note_boot()
            terminal.printer_identity = None  # a new boot asks the printer again
        if trigger == record.TRIGGER_FAILED_PRINT:
            # Receipts of weeks ago went out as e-receipts and were
            # acknowledged: their journal numbers are used, the entries gone.
            terminal.run_selftest(trigger, receipt_seq=terminal.journal.next_seq)
            terminal.journal.skip(1)
        else:
            terminal.note_print(paper_mm=rng.randrange(60, 400), cuts=1, energized=rng.randrange(2000, 40000))
            terminal.run_selftest(trigger)
    terminal.counters.save()
