"""Boot always reaches the link (issue 9): an exception inside a self-test is
caught at the trigger, recorded as record key 9 [stage, class code], shown
as the internal-error hint, and the diagnostics link still serves.

One script, unchanged, on CPython, on MicroPython's WebAssembly port and on
its unix port: for each check in turn a virtual part raises (power ADC,
head ADC, printer port write and any, a paper sensor pin, the settlement
probe), each with its own exception class, one of them a driver's own class
(recorded as its built-in base). Each terminal boots, takes a failed print, runs its scheduled
and a requested self-test, and answers INFO, SELFTEST and PULL over a
virtual diagnostics port. Also: the flash failing under the log, and an
exception that reaches the record stage (a float from an ADC, which the CBOR
encoder refuses). The records must be the same bytes on all three runtimes.
"""

from __future__ import annotations

import functools

import cbor2
import pytest

from host_tools.catalog_names import CHECKS, ERRORS
from host_tools.diagnosis import diagnose
from posdiag import catalog as c
from posdiag import protocol as p
from posdiag import record as r

from .runtimes import RUNTIMES, run_json

LONG_NAME = "SettlementProbeCrashedError"  # a driver's own class, a RuntimeError
SIZE_GOAL = 64  # bytes: the project's goal for an all-failing record

# Every other check failing at once, for the largest record with an error.
ALL_FAILING = [
    "power-unstable",
    "head-overheat",
    "cover-open",
    "paper-out",
    "cutter-jam",
    "software-mismatch",
    "host-slow",
]


def _spec(name: str, check: int | None = None, exc: str = "", **more: object) -> dict:
    spec = {
        "name": name,
        "check": check,
        "exc": exc,
        "mode": "",
        "lang": "en",
        "faults": [],
        "storage": "ok",
        "float_supply": False,
    }
    spec.update(more)
    return spec


# (scenario, the check that raises, the class raised)
INJECTED = [
    _spec("power", c.CHECK_POWER, "ValueError"),
    _spec("head", c.CHECK_HEAD, "OSError", lang="zh"),
    _spec("printer-write", c.CHECK_PRINTER, "ZeroDivisionError", mode="write"),
    _spec("printer-any", c.CHECK_PRINTER, "IndexError", mode="any", lang="zh"),
    _spec("paper", c.CHECK_PAPER, "TypeError"),
    _spec("host", c.CHECK_HOST, LONG_NAME, lang="zh"),
]
SIZE = [
    _spec("size-" + CHECKS[i], i, LONG_NAME, mode="write", faults=ALL_FAILING) for i in range(len(CHECKS))
]
SPECS = [
    _spec("healthy"),
    _spec("healthy-all-failing", faults=ALL_FAILING),
    *INJECTED,
    _spec("flash", storage="failing"),
    _spec("record-stage", float_supply=True, lang="zh"),
    *SIZE,
]

# Runs unchanged on CPython and on both MicroPython ports. SPECS and ROOT
# (a folder for the flash files) are prepended.
SCRIPT = r"""
import json
import struct
from host_tools.sim import faults, parts
from posdiag import config, frame, record
from posdiag import protocol as p
from posdiag.hal import FileStorage, Parts, Sensor
from posdiag.link import LinkServer
from posdiag.terminal import Terminal

RECEIPT = {"txn_id": "T-1", "total": 990, "currency": "CNY",
           "items": [{"name": "Tea", "qty": 1, "amount": 990}]}


class SettlementProbeCrashedError(RuntimeError):
    pass


def fail(kind):
    # Each class raised the way a real fault raises it, where one can.
    if kind == "ZeroDivisionError":
        zero = 0
        return 1 // zero
    if kind == "IndexError":
        return [][0]
    if kind == "TypeError":
        return "mV" + 1
    if kind == "ValueError":
        return int("x")
    if kind == "OSError":
        raise OSError(5)   # EIO: the same class on CPython (no subclass)
    raise SettlementProbeCrashedError("probe")


class FailingAdc:
    def __init__(self, kind):
        self.kind = kind

    def read_u16(self):
        return fail(self.kind)


class FailingPin:
    def __init__(self, kind):
        self.kind = kind

    def value(self):
        return fail(self.kind)


class FailingPort(parts.MemoryPort):
    def __init__(self, emulator, kind, mode):
        super().__init__(emulator, 9600)
        self.kind = kind
        self.mode = mode

    def write(self, data):
        if self.mode == "write":
            return fail(self.kind)
        return super().write(data)

    def any(self):
        if self.mode == "any":
            return fail(self.kind)
        return super().any()


class FailingHost(parts.VirtualHost):
    def __init__(self, mode, kind):
        super().__init__(mode)
        self.kind = kind

    def connect(self, host, port, timeout_ms, echo=b"", expect=b""):
        return fail(self.kind)


class FailingFlash(FileStorage):
    # The log's files ("d.state", "d0000000001.seg", their .tmp) cannot be
    # opened: the flash under the diagnostics log is gone.
    def open(self, name, mode):
        if name.startswith("d.") or name.startswith("d0"):
            raise OSError(5)
        return super().open(name, mode)


class DiagPort(parts.BufferedPort):
    # The diagnostics port: requests pushed in, answers collected.
    def __init__(self):
        super().__init__()
        self.sent = bytearray()

    def push(self, data):
        self._received(data)

    def write(self, data):
        self.sent.extend(data)
        return len(data)


def ask(link, port, kind, req_id, payload=b""):
    port.push(frame.encode(kind, req_id, payload))
    try:
        link.poll()
    except Exception as e:   # the board's loop would stop here: say so
        port.sent = bytearray()
        return [["raised", type(e).__name__]]
    reader = frame.Reader()
    answers = []
    for b in port.sent:
        if reader.push(b):
            body = bytes(reader.payload())
            answers.append([reader.kind, reader.req_id, body[0], body[1:].hex()])
    port.sent = bytearray()
    return answers


def terminal_for(spec, root):
    s = faults.scenario(spec["faults"])
    check = spec["check"]
    kind = spec["exc"]
    clock = parts.StepClock()
    emulator = parts.EscPosEmulator(s.printer)
    if check == 0:
        printer = FailingPort(emulator, kind, spec["mode"])
    else:
        printer = parts.MemoryPort(emulator, 9600)
    paper_pin = FailingPin(kind) if check == 1 else parts.VirtualPin(1 if s.paper_end_pin else 0)
    probe = FailingHost(s.host, kind) if check == 2 else parts.VirtualHost(s.host)
    head = FailingAdc(kind) if check == 3 else parts.VirtualAdc(*s.head)
    if check == 4:
        supply = FailingAdc(kind)
    elif spec["float_supply"]:
        supply = parts.VirtualAdc(*[float(v) for v in s.supply])
    else:
        supply = parts.VirtualAdc(*s.supply)
    storage = FailingFlash(root) if spec["storage"] == "failing" else FileStorage(root)
    hw = Parts(
        clock, storage, parts.MemoryDisplay(), printer=printer,
        paper_end=Sensor(paper_pin),
        near_end=Sensor(parts.VirtualPin(1 if s.near_end_pin else 0)),
        cover=Sensor(parts.VirtualPin(1 if s.cover_pin else 0)),
        head_adc=head, supply_adc=supply, probe=probe,
    )
    cfg = config.load({"terminal_id": "RT-IE", "lang": spec["lang"], "schedule_s": 60,
                       "printer_supported": ["POSDIAG-EMU-80"]})
    return Terminal(cfg, hw), hw, clock


def hex_or_none(data):
    return None if data is None else data.hex()


def run(spec, root):
    terminal, hw, clock = terminal_for(spec, root)
    diag = DiagPort()
    link = LinkServer(diag, terminal)   # built before the boot, as board.run does
    out = {}
    out["boot"] = hex_or_none(terminal.boot())
    out["boot_screen"] = hw.display.text
    seq = terminal.failed_print(RECEIPT)
    out["receipt_seq"] = seq
    out["journal"] = [[s, d.hex()] for s, d in terminal.journal.records()]
    terminal.tick()                     # idle: nothing due yet
    clock.sleep_ms(61000)
    out["schedule"] = hex_or_none(terminal.tick())
    out["schedule_screen"] = hw.display.text
    out["request"] = hex_or_none(terminal.run_selftest(record.TRIGGER_REQUEST))
    out["request_screen"] = hw.display.text
    out["info"] = ask(link, diag, p.CMD_INFO, 1)
    out["selftest"] = ask(link, diag, p.CMD_SELFTEST, 2)
    out["selftest_screen"] = hw.display.text
    out["pull"] = ask(link, diag, p.CMD_PULL, 3, struct.pack("<IH", 0, 1000))
    out["records"] = [[s, d.hex()] for s, d in terminal.log.records()]
    return out


results = {}
for i in range(len(SPECS)):
    results[SPECS[i]["name"]] = run(SPECS[i], ROOT + "/" + str(i))
print(json.dumps(results))
"""


@functools.cache
def run(runtime: str) -> dict:
    return run_json(runtime, f"SPECS = {SPECS!r}\n" + SCRIPT)


TRIGGERED = ["boot", "schedule", "request"]  # the self-tests whose record bytes come back
NAMES = [s["name"] for s in SPECS]


def records(out: dict) -> list[bytes]:
    return [bytes.fromhex(h) for _, h in out["records"]]


def builtin_name(exc: str) -> str:
    """The built-in class a record names for an exception class."""
    return "RuntimeError" if exc == LONG_NAME else exc


def expected_error(spec: dict) -> list:
    return [spec["check"], ERRORS.index(builtin_name(spec["exc"]))]


def answer(out: dict, key: str) -> tuple[int, bytes]:
    """(status, payload) of the one frame answering the request."""
    frames = out[key]
    assert frames and frames[0][0] != "raised", f"LinkServer.poll raised {frames[0][1]} answering {key}"
    assert len(frames) == 1, f"{key}: {len(frames)} answer frames"
    kind, _, status, payload = frames[0]
    assert kind & p.RESPONSE
    return status, bytes.fromhex(payload)


def checks_of(data: bytes) -> list:
    return cbor2.loads(data)[r.K_CHECKS]


# -- the same bytes everywhere ------------------------------------------------


@pytest.mark.parametrize("runtime", ["wasm", "unix"])
@pytest.mark.parametrize("name", NAMES)
def test_same_bytes_on_every_runtime(name: str, runtime: str) -> None:
    assert run(runtime)[name] == run("cpython")[name], f"{runtime} differs from CPython in {name}"


# -- each check raising in turn --------------------------------------------------


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("spec", INJECTED, ids=[s["name"] for s in INJECTED])
def test_each_failing_check_is_recorded_and_the_others_still_count(spec: dict, runtime: str, validate) -> None:  # noqa: ANN001
    out = run(runtime)[spec["name"]]
    healthy = run(runtime)["healthy"]
    logged = records(out)
    # boot, failed print, schedule, request, SELFTEST over the link
    assert len(logged) == 5
    for data in logged:
        validate(data)
        rec = cbor2.loads(data)
        assert rec[r.K_ERROR] == expected_error(spec)
    for key in TRIGGERED:
        checks = checks_of(bytes.fromhex(out[key]))
        assert checks[spec["check"]] is None, "a check that raised is unknown, not healthy"
        others = [i for i in range(len(CHECKS)) if i != spec["check"]]
        want = checks_of(bytes.fromhex(healthy[key]))
        assert [checks[i] for i in others] == [want[i] for i in others], key


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("spec", INJECTED, ids=[s["name"] for s in INJECTED])
def test_the_screen_says_call_service(spec: dict, runtime: str) -> None:
    out = run(runtime)[spec["name"]]
    hint = c.hint(c.INTERNAL_ERROR, spec["lang"])
    assert hint == ("Self-test failed\nCall service" if spec["lang"] == "en" else "自检失败\n请联系维修")
    for key in ("boot_screen", "schedule_screen", "request_screen", "selftest_screen"):
        assert out[key] == hint, key


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize(
    "spec", [*INJECTED, SPECS[NAMES.index("flash")]], ids=[*(s["name"] for s in INJECTED), "flash"]
)
def test_a_failed_print_is_still_journaled(spec: dict, runtime: str) -> None:
    out = run(runtime)[spec["name"]]
    assert isinstance(out["receipt_seq"], int)
    journal = dict(out["journal"])
    assert list(journal) == [out["receipt_seq"]]
    assert cbor2.loads(bytes.fromhex(journal[out["receipt_seq"]]))["receipt"]["txn_id"] == "T-1"
    if spec["storage"] == "ok":
        failed = [cbor2.loads(d) for d in records(out) if cbor2.loads(d).get(r.K_TRIGGER) == r.TRIGGER_FAILED_PRINT]
        assert [x.get(r.K_RECEIPT) for x in failed] == [out["receipt_seq"]]


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize(
    "name", [*(s["name"] for s in INJECTED), "flash", "record-stage"]
)
def test_the_link_still_serves(name: str, runtime: str, validate) -> None:  # noqa: ANN001
    out = run(runtime)[name]
    status, item = answer(out, "info")
    assert status == p.OK
    validate(item)
    info = cbor2.loads(item)
    assert info["terminal"] == "RT-IE"
    status, pulled = answer(out, "pull")
    assert status == p.OK
    assert pulled == b"".join(records(out)), "PULL gives every record on flash"
    status, selftest = answer(out, "selftest")
    if name == "flash":  # nothing could be written: an answer all the same
        assert status == p.FAILED and selftest == b"" and info["newest"] is None
    else:
        assert status == p.OK and selftest == records(out)[-1]


# -- the flash and the record stage ---------------------------------------------


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_flash_failing_under_the_log(runtime: str) -> None:
    out = run(runtime)["flash"]
    assert out["boot"] is None and out["schedule"] is None and out["request"] is None
    assert out["records"] == []
    for key in ("boot_screen", "schedule_screen", "request_screen", "selftest_screen"):
        assert out[key] == c.hint(c.INTERNAL_ERROR, "en"), key


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_an_exception_after_the_checks_is_stage_record(runtime: str, validate) -> None:  # noqa: ANN001
    out = run(runtime)["record-stage"]
    logged = records(out)
    assert len(logged) == 5
    for data in logged:
        validate(data)
        rec = cbor2.loads(data)
        # The checks' results could not be encoded: none is kept, the failure is.
        assert rec[r.K_ERROR] == [r.STAGE_RECORD, ERRORS.index("TypeError")]
        assert rec[r.K_CHECKS] == [None] * len(CHECKS)
    assert out["boot_screen"] == c.hint(c.INTERNAL_ERROR, "zh")


# -- the host reads it ---------------------------------------------------------------


@pytest.mark.parametrize("name", [*(s["name"] for s in INJECTED), "record-stage", *(s["name"] for s in SIZE)])
def test_the_host_diagnoses_internal_error_first(name: str, validate) -> None:  # noqa: ANN001
    spec = SPECS[NAMES.index(name)]
    stage, code = expected_error(spec) if spec["check"] is not None else [r.STAGE_RECORD, ERRORS.index("TypeError")]
    stage_name = (*CHECKS, "record")[stage]
    cls = ERRORS[code]
    for data in records(run("cpython")[name]):
        validate(data)
        diagnosis = diagnose(data)
        assert diagnosis["error"] == {"stage": stage_name, "name": cls}
        top = diagnosis["causes"][0]
        assert top["id"] == "internal-error"
        assert top["hint"]["en"] == "Self-test failed\nCall service"
        assert {"reading": "error.stage", "value": stage_name} in top["evidence"]
        assert {"reading": "error.name", "value": cls} in top["evidence"]


def test_a_drivers_own_class_is_recorded_as_its_built_in_base() -> None:
    for data in records(run("cpython")["host"]):
        assert ERRORS[cbor2.loads(data)[r.K_ERROR][1]] == "RuntimeError"


def test_healthy_records_have_no_error() -> None:
    for name in ("healthy", "healthy-all-failing"):
        for data in records(run("cpython")[name]):
            assert r.K_ERROR not in cbor2.loads(data)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_the_largest_record_with_an_error_fits_the_size_goal(runtime: str, record_property) -> None:  # noqa: ANN001
    out = run(runtime)
    # The other checks really are failing: every stored check is its full array form.
    for spec in SIZE:
        for key in TRIGGERED:
            checks = checks_of(bytes.fromhex(out[spec["name"]][key]))
            for i, value in enumerate(checks):
                assert (value is None) == (i == spec["check"]), (spec["name"], key, i)
                assert value is None or i == c.CHECK_PAPER or isinstance(value, list)
    sizes = {(spec["name"], i): len(data) for spec in SIZE for i, data in enumerate(records(out[spec["name"]]))}
    largest = max(sizes.values())
    record_property("largest_error_record_bytes", largest)
    assert largest <= SIZE_GOAL, f"largest record with an error: {largest} bytes ({max(sizes, key=sizes.get)})"
