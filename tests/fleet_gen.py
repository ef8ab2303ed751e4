"""A deterministic fleet for the fleet view's tests and bench (docs/fleet.md).

make_fleet() gives a few hundred terminals of many merchants, each with the
terminal item its firmware would send (posdiag.terminal.Terminal.info) and
its records in seq order, encoded with posdiag.record.build + encode. The
checks arrays are never written by hand: the real firmware runs once per
scenario on the simulator's virtual parts (host_tools/sim/faults.py, as
host_tools/sim/past.py does) and each result is cached; a terminal's
records then vary seq, boot, uptime, time, trigger and counters around
them. The printer identities are the firmware's too, learnt from the
emulator playing each printer of tests/data/printers.json.

Terminals have propensities so that every list of the fleet view has
members: operator-prone merchants, paper users with roll changes, worn
printers, recurring head overheat, an intermittent printer link, unstable
power, a one-day cause spike over one printer model, terminals gone silent,
and mostly healthy ones. Each terminal's `kind` says which it was made as
(for reading a failure, never for computing a list).

load() sends a fleet through the hub's own path: app.parse_records on an
upload's body (the terminal item, then the records), then
store.put_records(..., info=, now=). bulk_records() makes the bench's
large fleets quickly from the same cached checks."""

from __future__ import annotations

import functools
import json
import random
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cbor2

from posdiag import cbor, config, hubwire, record

DAY = 86400
NOW = 1_790_000_000  # 2026-09-21T14:13:20Z: the fleet's "now" unless told
SPAN_DAYS = 30
RECEIVE_DELAY_S = 300  # a batch reaches the hub this long after its newest record
FIRMWARES = ("0.1.0", "0.0.9", "0.0.8")
FIRMWARE_WEIGHTS = (6, 3, 1)
HOSTILE = "<script>alert(1)</script>"
CHINESE = ("张记面馆", "好又多超市（南山店）", "老王便利店", "川味小厨", "福满楼茶餐厅", "鑫鑫五金")
OTHER_NAMES = (
    'Bob\'s "Best", Deli',  # a quote and a comma: CSV
    "=1+2 Café Müller",  # a formula in a spreadsheet, Latin-1 letters
    "Corner Shop",
    "Green Grocer",
    "Harbor Books",
    "Pizza Napoli",
    "Kiosk 24",
    "Sunrise Bakery",
    "Metro Pharmacy",
    "Blue Lagoon Bar",
)
SPIKE_CAUSE = ["cutter-jam"]  # the cause the spike model's terminals show on one day
SPIKE_TERMINALS = 7  # > alert_spread_terminals (5)

# Scenarios: fault ids of host_tools/sim/faults.py, by a short name.
SCENARIOS: dict[str, list[str]] = {
    "healthy": [],
    "paper-out": ["paper-out"],
    "paper-near-end": ["paper-near-end"],
    "cover-open": ["cover-open"],
    "busy": ["printer-busy-offline"],
    "garbled": ["link-garbled"],
    "mismatch": ["software-mismatch"],
    "no-response": ["printer-no-response"],
    "overheat": ["head-overheat"],
    "power": ["power-unstable"],
    "power-no-response": ["power-unstable", "printer-no-response"],
    "cutter": ["cutter-jam"],
    "host-slow": ["host-slow"],
    "host-down": ["host-unreachable"],
    "host-rejects": ["host-rejects"],
    "cover-host": ["cover-open", "host-unreachable"],
}
OPERATOR_SCENARIOS = ("cover-open", "busy", "garbled", "mismatch", "cover-host")
# What an ordinary terminal's unscheduled self-tests find (weight, scenario).
NOISE = (
    (900, "healthy"),
    (35, "host-slow"),
    (25, "paper-near-end"),
    (20, "host-down"),
    (6, "host-rejects"),
    (5, "cover-open"),
    (3, "busy"),
    (2, "cutter"),
)
SCHEDULED_NOISE = ((960, "healthy"), (20, "host-slow"), (20, "paper-near-end"))
# Last record of a terminal whose light is made fault or warning.
FAULT_LAST = ("cover-open", "paper-out", "cutter", "host-down", "garbled", "host-rejects")
WARNING_LAST = ("host-slow", "paper-near-end")
# (kind, share of the fleet): what each terminal is made as.
KINDS = (
    ("paper", 0.12),
    ("worn", 0.04),
    ("overheat", 0.04),
    ("intermittent", 0.03),
    ("power", 0.03),
    ("silent", 0.05),
    ("clockless", 0.02),
)
PRINTERS_JSON = Path(__file__).parent / "data" / "printers.json"


@dataclass
class Terminal:
    terminal: str
    merchant: str
    kind: str  # what it was made as (see KINDS; "operator", "healthy")
    item: dict  # the terminal item, as Terminal.info() gives it
    records: list[bytes]  # in seq order, as the firmware encodes them
    profile: str = ""  # the printers.json id of its printer

    def item_bytes(self) -> bytes:
        return bytes(cbor.encode(self.item))


@dataclass
class Fleet:
    now: int
    seed: int
    terminals: list[Terminal]
    merchants: list[str]
    firmwares: tuple[str, ...] = FIRMWARES
    spike: dict = field(default_factory=dict)  # model, day (unix at 00:00 UTC), terminals

    @property
    def record_count(self) -> int:
        return sum(len(t.records) for t in self.terminals)


# -- the firmware, once per scenario --------------------------------------------


class _Sampler:
    """The real firmware on the simulator's virtual parts (past.py's), run
    once per (scenario, trigger) and per printer profile."""

    def __init__(self) -> None:
        from host_tools.sim import parts
        from host_tools.sim.past import _LifeParts
        from host_tools.sim.runner import EMULATOR_SUPPORTED, SIM_CONFIG
        from posdiag.hal import FileStorage, Parts, Sensor
        from posdiag.terminal import Terminal as Firmware

        self._dir = tempfile.TemporaryDirectory(prefix="posdiag-fleet-")
        self.life = _LifeParts()
        self.clock = parts.StepClock(1_700_000_000)
        hw = Parts(
            self.clock,
            FileStorage(self._dir.name),
            parts.MemoryDisplay(),
            printer=parts.MemoryPort(parts.EscPosEmulator(self.life.printer_state), 9600),
            paper_end=Sensor(self.life.pins[0]),
            near_end=Sensor(self.life.pins[1]),
            cover=Sensor(self.life.pins[2]),
            head_adc=self.life.head,
            supply_adc=self.life.supply,
            probe=self.life.host,
        )
        cfg = {**SIM_CONFIG, "printer_supported": EMULATOR_SUPPORTED}
        self.firmware = Firmware(config.load(cfg), hw)

    def checks(self, scenario: str, trigger: int) -> list:
        """The full-form checks the firmware finds in this scenario."""
        fw = self.firmware
        self.life.become(SCENARIOS[scenario])
        fw._asked_printer = False  # a new boot asks the printer again (software-mismatch needs its name)
        fw.printer_identity = None
        self.clock.sleep_ms(3_600_000)
        receipt = 1 if trigger == record.TRIGGER_FAILED_PRINT else None
        fw.run_selftest(trigger, receipt_seq=receipt)
        return list(fw.last_results)

    def identity(self, profile: dict) -> tuple[dict | None, list | None]:
        """(printer identity, printer counters) the firmware learns from this printer."""
        from host_tools.sim.parts import PrinterState

        state = PrinterState()
        for key, spec in (("maker", profile["maker"]), ("name", profile["name"]), ("firmware", profile["firmware"])):
            if spec is None:
                value = None
            elif "hex" in spec:
                value = bytes.fromhex(spec["hex"])
            else:
                value = spec["text"].encode(spec["encoding"])
            setattr(state, key, value)
        state.model = profile["model"]
        for key in ("answers_identity", "answers_counters", "terminates_blocks", "asb", "xon_xoff"):
            if key in profile:
                setattr(state, key, profile[key])
        self.life.become([])
        self.life.printer_state.__dict__.update(state.__dict__)
        fw = self.firmware
        fw._asked_printer = False
        fw.printer_identity = None
        fw.printer_counters = None
        self.clock.sleep_ms(3_600_000)
        fw.run_selftest(record.TRIGGER_BOOT)
        info = fw.info()
        return info["printer"], info["printer_counters"]

    def close(self) -> None:
        self._dir.cleanup()


@functools.lru_cache(maxsize=1)
def firmware_results() -> tuple[dict[tuple[str, int], list], dict[str, tuple[dict | None, list | None]]]:
    """({(scenario, trigger): full-form checks}, {printer profile id: (identity, counters)}),
    from one firmware run each, cached for the process."""
    sampler = _Sampler()
    try:
        checks = {
            (name, trigger): sampler.checks(name, trigger)
            for name in SCENARIOS
            for trigger in (
                record.TRIGGER_BOOT,
                record.TRIGGER_FAILED_PRINT,
                record.TRIGGER_REQUEST,
                record.TRIGGER_SCHEDULE,
            )
        }
        profiles = json.loads(PRINTERS_JSON.read_text(encoding="utf-8"))["printers"]
        identities = {p["id"]: sampler.identity(p) for p in profiles}
    finally:
        sampler.close()
    return checks, identities


# -- one terminal's life -----------------------------------------------------------


@dataclass
class _Event:
    time: int | None  # None: the clock was not set
    trigger: int
    scenario: str
    order: float  # where it falls among the others (its time, or near the one before)


def _pick(rng: random.Random, table: tuple[tuple[int, str], ...]) -> str:
    weights, names = zip(*table, strict=True)
    return rng.choices(names, weights)[0]


def _life(rng: random.Random, kind: str, n: int, now: int, spike_day: int | None) -> tuple[list[_Event], dict]:
    """A terminal's self-tests (sorted) and its counters' plan."""
    start = now - SPAN_DAYS * DAY + rng.randrange(0, DAY)
    if kind == "silent":
        end = now - rng.choice((40 * 3600, 3 * DAY, 5 * DAY, 8 * DAY, 12 * DAY)) - rng.randrange(0, 3600)
    else:
        end = now - rng.randrange(1800, 30 * 3600)  # seen within 30 h: not silent at 36 h
    n_sched = max(2, n // 2)
    period = (end - start) // n_sched
    events = [
        _Event(start + (i + 1) * period, record.TRIGGER_SCHEDULE, _pick(rng, SCHEDULED_NOISE), 0.0)
        for i in range(n_sched)
    ]
    events[-1].time = end  # the newest record is a scheduled one ...
    for _ in range(n - n_sched):
        t = rng.randrange(start, end)
        trig = rng.choices((record.TRIGGER_BOOT, record.TRIGGER_FAILED_PRINT, record.TRIGGER_REQUEST), (6, 3, 1))[0]
        events.append(_Event(t, trig, _pick(rng, NOISE), 0.0))
    events.sort(key=lambda e: e.time or 0)
    if rng.random() < 0.5:  # ... or not
        events[-1], events[-2] = events[-2], events[-1]
        events[-1].time, events[-2].time = events[-2].time, events[-1].time
    unsched = [e for e in events if e.trigger != record.TRIGGER_SCHEDULE]
    plan: dict[str, Any] = {
        "paper_mm_day": rng.randrange(800, 6000),
        "paper_mm": rng.randrange(200_000, 20_000_000),
        "cuts": rng.randrange(1_000, 120_000),
        "head": rng.randrange(10_000_000, 400_000_000),
    }
    if kind == "operator":
        for e in unsched:
            if rng.random() < 0.35:
                e.scenario = rng.choice(OPERATOR_SCENARIOS)
    elif kind == "paper":
        plan["paper_mm_day"] = rng.randrange(2000, 12000)
        # one or two roll changes: paper-near-end, then paper-out, then a new roll
        # The newest roll lasts about roll_m (50 m) at this use; one in eight
        # terminals runs a longer roll than the setting says (used past 50 m).
        last = 50_000 / plan["paper_mm_day"] * (rng.uniform(1.1, 3) if rng.random() < 0.125 else rng.uniform(0.2, 1.1))
        newest = max(2, min(20, round(last)))
        changes = [newest + rng.randrange(6, 10), newest] if rng.random() < 0.3 else [newest]
        for days_ago in changes:
            t = end - days_ago * DAY + rng.randrange(-3 * 3600, 3 * 3600)
            near = [e for e in unsched if t - 2 * DAY < (e.time or 0) < t]
            for e in near[:2]:
                e.scenario = "paper-near-end"
            out = min(unsched, key=lambda e: abs((e.time or 0) - t))
            out.scenario = "paper-out"
        for e in unsched:  # no other paper-out: the roll change is the one above
            if e.scenario == "paper-out" and not any(abs((e.time or 0) - (end - d * DAY)) < 4 * DAY for d in changes):
                e.scenario = "healthy"
    elif kind == "worn":
        plan["paper_mm"] = rng.randrange(86_000_000, 99_500_000)
        plan["cuts"] = rng.randrange(430_000, 499_000)
    elif kind == "overheat":
        for e in rng.sample(unsched, rng.choice((2, 3, 3, 4, 6))):
            e.scenario = "overheat"
    elif kind == "intermittent":
        runs = rng.choice((1, 2, 2, 3))
        chunk = len(unsched) // runs
        for r in range(runs):
            first = r * chunk + rng.randrange(1, max(2, chunk - 3))
            for e in unsched[first : first + rng.choice((1, 2))]:
                e.scenario = "no-response"
    elif kind == "power":
        picks = rng.sample(unsched, rng.choice((1, 2, 2, 3, 4)))
        for i, e in enumerate(picks):
            e.scenario = "power-no-response" if i == 0 and len(picks) > 2 else "power"
    elif kind == "clockless":
        for e in rng.sample(unsched, 3):
            e.time = None  # a boot before the clock was set
            e.trigger = record.TRIGGER_BOOT
            e.scenario = rng.choice(("host-slow", "healthy", "host-down"))
    if kind not in ("intermittent", "power"):
        for e in unsched:  # no stray silences: intermittent links are the ones made so
            if e.scenario in ("no-response", "power-no-response"):
                e.scenario = "healthy"
    if spike_day is not None:
        t = spike_day + rng.randrange(3600, DAY - 3600)
        events.append(_Event(t, record.TRIGGER_FAILED_PRINT, "cutter", 0.0))
    # The newest record decides the light: some end in a fault or a warning.
    if kind not in ("silent", "paper", "intermittent"):
        roll = rng.random()
        last = max(events, key=lambda e: e.time or 0)
        if roll < 0.08:
            last.scenario = rng.choice(FAULT_LAST)
        elif roll < 0.16:
            last.scenario = rng.choice(WARNING_LAST)
    # Seq order: time order, a clockless record where it was logged.
    prev = 0.0
    for e in events:
        e.order = float(e.time) if e.time is not None else prev + 0.5
        prev = e.order
    events.sort(key=lambda e: e.order)
    return events, plan


def _records(
    rng: random.Random, events: list[_Event], plan: dict, seq0: int, boot0: int, checks: dict[tuple[str, int], list]
) -> tuple[list[bytes], dict]:
    """The encoded records and the terminal's final state."""
    out = []
    boot = boot0
    boot_time = (events[0].time or 0) - rng.randrange(60, 36_000)
    paper, cuts, head = plan["paper_mm"], plan["cuts"], plan["head"]
    t_prev = None
    receipt = rng.randrange(1, 500)
    for i, e in enumerate(events):
        t = e.time
        if t is not None and t_prev is not None:
            days = (t - t_prev) / DAY
            fed = int(plan["paper_mm_day"] * days * rng.uniform(0.6, 1.4))
            paper += fed
            cuts += fed // 180
            head += fed * 40
        if t is not None:
            t_prev = t
        if e.trigger == record.TRIGGER_BOOT:
            boot += 1
            boot_time = t if t is not None else boot_time
        uptime = max(1, (t - boot_time) if t is not None and t >= boot_time else rng.randrange(5, 60))
        counters = [paper, cuts, head] if e.trigger == record.TRIGGER_SCHEDULE else None
        rcpt = None
        if e.trigger == record.TRIGGER_FAILED_PRINT:
            receipt += rng.randrange(1, 40)
            rcpt = receipt
        rec = record.build(
            seq0 + i, boot, uptime, t, e.trigger, checks[(e.scenario, e.trigger)], receipt=rcpt, counters=counters
        )
        out.append(bytes(record.encode(rec)))
    # Printing goes on after the newest scheduled record: the item's counters are a little higher.
    paper += rng.randrange(0, 3000)
    return out, {"boot": boot, "counters": [paper, cuts + rng.randrange(0, 15), head + rng.randrange(0, 90_000)]}


def _merchants(rng: random.Random, terminals: int) -> list[tuple[str, int]]:
    """(name, terminal count) until `terminals` are placed; 1-5 each."""
    names = [HOSTILE, *CHINESE, *OTHER_NAMES]
    out = []
    left = terminals
    i = 0
    while left > 0:
        name = names[i] if i < len(names) else f"Merchant {i:04d}"
        size = min(left, rng.choice((1, 1, 2, 2, 3, 3, 4, 5)))
        out.append((name, size))
        left -= size
        i += 1
    return out


def make_fleet(terminals: int = 300, records_per_terminal: int = 60, seed: int = 1, now: int = NOW) -> Fleet:
    """The fleet: the same one for the same arguments."""
    checks, identities = firmware_results()
    rng = random.Random(seed)
    merchants = _merchants(rng, terminals)
    # Operator-prone merchants: a few with two or more terminals, one with
    # the hostile name and one Chinese one among them.
    multi = [m for m, size in merchants if size >= 2]
    prone = set(rng.sample(multi, min(5, len(multi))))
    prone.add(merchants[0][0])
    prone.add(merchants[1][0])
    profiles = sorted(identities)
    usable = [p for p in profiles if identities[p][0] is not None] or profiles
    # The spike's model: the one many terminals have.
    spike_profile = "epson-tm-t20ii" if "epson-tm-t20ii" in identities else usable[0]
    spike_day = (now // DAY - 6) * DAY
    kinds_left = []
    for kind, share in KINDS:
        kinds_left += [kind] * max(2, round(share * terminals))
    rng.shuffle(kinds_left)
    out: list[Terminal] = []
    spiked = []
    number = 0
    for merchant, size in merchants:
        for _ in range(size):
            number += 1
            tid = f"POS-{number:05d}"
            if merchant in prone:
                kind = "operator"
            elif kinds_left and rng.random() < len(kinds_left) / max(1, terminals - number + 1) * 1.6:
                kind = kinds_left.pop()
            else:
                kind = "healthy"
            profile = spike_profile if rng.random() < 0.12 else rng.choice(profiles)
            spike = None
            if profile == spike_profile and kind != "silent" and len(spiked) < SPIKE_TERMINALS:
                spike = spike_day
                spiked.append(tid)
            n = max(6, int(records_per_terminal * rng.uniform(0.7, 1.3)))
            events, plan = _life(rng, kind, n, now, spike)
            seq0 = rng.randrange(1, 400)
            boot0 = rng.randrange(0, 50)
            records, state = _records(rng, events, plan, seq0, boot0, checks)
            identity, pcounters = identities[profile]
            if pcounters is not None:
                pcounters = list(pcounters)
                if pcounters[2] is not None:
                    # The printer's own cuts: a worn printer near the end of its
                    # cutter's life (except one whose terminal counter says so
                    # but the printer's does not).
                    pcounters[2] = (
                        rng.randrange(440_000, 520_000)
                        if kind == "worn" and rng.random() < 0.7
                        else (state["counters"][1] + rng.randrange(0, 50_000))
                    )
                if pcounters[0] is not None:
                    pcounters[0] = state["counters"][0] // 3
                if pcounters[1] is not None:
                    pcounters[1] = state["counters"][2]
            item = {
                "posdiag": record.FORMAT_VERSION,
                "terminal": tid,
                "firmware": rng.choices(FIRMWARES, FIRMWARE_WEIGHTS)[0],
                "printer": identity,
                "boot": state["boot"],
                "oldest": seq0,
                "newest": seq0 + len(records) - 1,
                "drops": 0,
                "torn": 0,
                "auth_failures": 0,
                "receipts": 0,
                "counters": state["counters"],
                "printer_counters": pcounters,
            }
            out.append(Terminal(tid, merchant, kind, item, records, profile))
    if len(spiked) < SPIKE_TERMINALS:
        raise ValueError(f"only {len(spiked)} terminals of the spike's model: make a larger fleet")
    spike_model = (identities[spike_profile][0] or {}).get("name", "unknown")
    return Fleet(
        now,
        seed,
        out,
        [m for m, _ in merchants],
        FIRMWARES,
        {"model": spike_model, "day": spike_day, "terminals": spiked, "cause": SPIKE_CAUSE[0]},
    )


# -- through the hub's path ---------------------------------------------------------


def batches(term: Terminal, batch: int = 256) -> Iterator[tuple[list[bytes], int]]:
    """(records, the hub's receive time) of each upload of the terminal:
    `batch` records each, received RECEIVE_DELAY_S after the newest record
    time in it (or the batch before's, for a batch with no time)."""
    received = None
    size = min(batch, hubwire.MAX_RECORDS)
    for i in range(0, len(term.records), size):
        chunk = term.records[i : i + size]
        times = [t for t in (cbor2.loads(r).get(record.K_TIME) for r in chunk) if t is not None]
        if times:
            received = max(times) + RECEIVE_DELAY_S
        elif received is None:
            raise ValueError(f"{term.terminal}: a first batch without any record time")
        yield chunk, received


def body(item: bytes | None, records: list[bytes]) -> bytes:
    """An upload's body: a CBOR array of the terminal item, then the records."""
    parts = [item] if item is not None else []
    parts += records
    return hubwire.records_head(len(parts)) + b"".join(parts)


def load(store: Any, fleet: Fleet | Iterable[Terminal], batch: int = 256, provision: bool = True) -> int:
    """Every terminal's uploads through app.parse_records and store.put_records;
    the records sent."""
    from host_tools.hub.app import parse_records

    terminals = fleet.terminals if isinstance(fleet, Fleet) else fleet
    sent = 0
    for term in terminals:
        if provision:
            store.add_terminal(term.terminal, merchant=term.merchant)
        item = term.item_bytes()
        for chunk, received in batches(term, batch):
            info, rows = parse_records(body(item, chunk))
            store.put_records(term.terminal, rows, info=info, now=received)
            sent += len(chunk)
    return sent


def load_shuffled(store: Any, fleet: Fleet, batch: int = 9, seed: int = 5) -> int:
    """Each terminal's records in batches of `batch`, uploaded in a shuffled
    order, every one received when load(fleet) (one batch a terminal, the
    default) receives the terminal's upload: the lists must come out the
    same. Needs terminals of at most 256 records."""
    from host_tools.hub.app import parse_records

    rng = random.Random(seed)
    sent = 0
    for term in fleet.terminals:
        [(_, received)] = list(batches(term))
        store.add_terminal(term.terminal, merchant=term.merchant)
        chunks = [term.records[i : i + batch] for i in range(0, len(term.records), batch)]
        rng.shuffle(chunks)
        item = term.item_bytes()
        for chunk in chunks:
            info, rows = parse_records(body(item, chunk))
            store.put_records(term.terminal, rows, info=info, now=received)
            sent += len(chunk)
    return sent


# -- the bench's large fleets --------------------------------------------------------

# (kind, share): what each bulk terminal is made as, the same at every size.
BULK_KINDS = (
    ("paper", 0.15),
    ("worn", 0.04),
    ("overheat", 0.04),
    ("intermittent", 0.03),
    ("power", 0.03),
    ("silent", 0.05),
)
BULK_GRID = 10  # a kind's events fall on tenths of the terminal's life: the same times at every size
BULK_PRONE = 0.05  # share of merchants (of 2+ terminals) whose operators err, on half their unscheduled records
BULK_NOISE = tuple((w, s) for w, s in NOISE if s not in OPERATOR_SCENARIOS)
BULK_SCHEDULED = 3  # every third record (counting back from the newest) is a scheduled one


def _bulk_counters(t: int, start: int, mm_day: int, paper0: int, cuts0: int) -> list[int]:
    """A bulk terminal's counters (paper mm, cuts, head) at time t: steady use since start."""
    fed = mm_day * (t - start) // DAY
    return [paper0 + fed, cuts0 + fed // 180, 10_000_000 + fed * 40]


def bulk_records(n_terminals: int, per_terminal: int, seed: int = 1, now: int = NOW) -> Iterator[Terminal]:
    """A large fleet made quickly: n_terminals with per_terminal records each
    (a multiple of BULK_GRID), spread evenly over SPAN_DAYS days. Each record
    is one of the cached firmware checks with its seq, time and counters
    varied (cbor2's encoder gives the firmware's bytes for these maps;
    checked on the first one).

    Everything a list depends on is a terminal's, not a record's: its kind
    (BULK_KINDS), merchant, printer, paper use, wear, and the tenths of its
    life where its paper-outs, overheats, silences and power dips fall. So
    the fleet at 10 records a terminal and at 100 is the same fleet observed
    ten times as often: the lists have about the same members, only the
    counts behind them grow."""
    if per_terminal < BULK_GRID or per_terminal % BULK_GRID:
        raise ValueError(f"per_terminal is a multiple of {BULK_GRID}, not {per_terminal}")
    checks, identities = firmware_results()
    per = per_terminal
    rng = random.Random(seed * 7919 + per)  # only the noise differs with the size
    scenarios = [s for _, s in BULK_NOISE]
    pool = [
        (s, rng.choices((record.TRIGGER_BOOT, record.TRIGGER_FAILED_PRINT, record.TRIGGER_REQUEST), (6, 3, 1))[0])
        for s in rng.choices(scenarios, [w for w, _ in BULK_NOISE], k=4096)
    ]
    sched_pool = [_pick(rng, SCHEDULED_NOISE) for _ in range(1024)]
    ready = {key: [record.compact(i, v) for i, v in enumerate(value)] for key, value in checks.items()}
    profiles = sorted(p for p in identities if identities[p][0] is not None)
    merchants = _merchants(random.Random(seed), n_terminals)
    multi = [m for m, size in merchants if size >= 2]
    prone = set(random.Random(seed + 1).sample(multi, round(BULK_PRONE * len(multi))))
    span = SPAN_DAYS * DAY
    step = per // BULK_GRID
    checked = False
    number = 0
    for merchant, size in merchants:
        for _ in range(size):
            number += 1
            tid = f"B-{number:06d}"
            trng = random.Random(number * 1_000_003 + seed)  # the terminal's: the same at every size
            profile = profiles[number % len(profiles)]
            roll, kind = trng.random(), "healthy"
            for name, share in BULK_KINDS:
                if roll < share:
                    kind = name
                    break
                roll -= share
            if merchant in prone:
                kind = "operator"
            if kind == "silent":
                end = now - trng.choice((40 * 3600, 3 * DAY, 5 * DAY, 8 * DAY, 12 * DAY)) - trng.randrange(0, 3600)
            else:
                end = now - trng.randrange(1800, 30 * 3600)  # seen within 30 h: not silent at 36 h
            start = end - span
            mm_day = trng.randrange(1000, 8000)
            paper0 = trng.randrange(200_000, 20_000_000)
            cuts0 = trng.randrange(1_000, 120_000)
            printer_cuts = identities[profile][1]
            # events: tenth of the life (1..9) -> scenario; the newest record (10) keeps its noise
            events: dict[int, str] = {}
            if kind == "paper":
                tenth = trng.randrange(1, BULK_GRID)  # the roll changed (1 - tenth/10) x SPAN_DAYS ago
                age = span * (BULK_GRID - tenth) / BULK_GRID / DAY
                mm_day = max(1000, min(20_000, int(50_000 / (age / trng.uniform(0.35, 1.2)))))
                events[tenth] = "paper-out"
            elif kind == "worn":
                paper0 = trng.randrange(86_000_000, 99_500_000)
                cuts0 = trng.randrange(430_000, 499_000)
                if printer_cuts is not None and printer_cuts[2] is not None and trng.random() < 0.7:
                    printer_cuts = [*printer_cuts[:2], trng.randrange(440_000, 520_000)]
            elif kind == "overheat":
                for tenth in trng.sample(range(1, BULK_GRID), trng.choice((2, 3, 3, 4, 6))):
                    events[tenth] = "overheat"
            elif kind == "intermittent":
                runs = trng.choice((1, 2, 2, 3))
                for tenth in {1: (5,), 2: (3, 7), 3: (2, 5, 8)}[runs]:
                    events[tenth] = "no-response"  # one record each, answers between: `runs` silences
            elif kind == "power":
                for tenth in trng.sample(range(1, BULK_GRID), trng.choice((1, 2, 2, 3, 4))):
                    events[tenth] = "power"
            base = (start, mm_day, paper0, cuts0)
            light = trng.random()
            last = trng.choice(FAULT_LAST) if light < 0.08 else trng.choice(WARNING_LAST) if light < 0.16 else None
            recs = []
            for k in range(1, per + 1):
                t = start + span * k // per  # k = per: the newest, at `end`
                tenth = k // step if k % step == 0 else 0
                if tenth in events:
                    # at a tenth of the life: the same time at every size, and a
                    # scheduled record (a paper-out's roll starts right there)
                    scen, trig = events[tenth], record.TRIGGER_SCHEDULE
                elif k == per and last is not None:
                    scen, trig = last, record.TRIGGER_REQUEST  # the newest record decides the light
                elif (per - k) % BULK_SCHEDULED == 0:
                    scen, trig = sched_pool[(number * 31 + k * 7) % len(sched_pool)], record.TRIGGER_SCHEDULE
                else:
                    scen, trig = pool[(number * 131 + k * 17) % len(pool)]
                    if kind == "operator" and (k + number) % 2 == 0:
                        # two operator slips a terminal, taking turns: the same causes at every size
                        scen = OPERATOR_SCENARIOS[(number + k // 2 % 2) % len(OPERATOR_SCENARIOS)]
                counters = _bulk_counters(t, *base) if trig == record.TRIGGER_SCHEDULE else None
                rec = {0: 1, 1: k, 2: 1 + k // 10, 3: 60 + k, 4: t}
                if trig:
                    rec[5] = trig
                rec[6] = ready[(scen, trig)]
                if trig == record.TRIGGER_FAILED_PRINT:
                    rec[7] = k
                if counters is not None:
                    rec[8] = counters
                data = cbor2.dumps(rec)
                if not checked:
                    built = record.build(
                        k, 1 + k // 10, 60 + k, t, trig, checks[(scen, trig)], receipt=rec.get(7), counters=counters
                    )
                    assert data == bytes(record.encode(built))
                    checked = True
                recs.append(data)
            final = _bulk_counters(end + 3600, *base)  # printing goes on after the newest record
            item = {
                "posdiag": record.FORMAT_VERSION,
                "terminal": tid,
                "firmware": FIRMWARES[number % 3],
                "printer": identities[profile][0],
                "boot": 1 + per // 10,
                "oldest": 1,
                "newest": per,
                "drops": 0,
                "torn": 0,
                "auth_failures": 0,
                "receipts": 0,
                "counters": final,
                "printer_counters": printer_cuts,
            }
            yield Terminal(tid, merchant, kind, item, recs, profile)
