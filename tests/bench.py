"""`make bench`: sizes in bytes and rates measured side by side in one run.

Run: python -m tests.bench"""

from __future__ import annotations

import base64
import binascii
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cbor2

from host_tools.diagnosis import describe_checks, diagnose, ranked_causes
from host_tools.records import decode_record
from posdiag import catalog as c
from posdiag import frame, record
from posdiag import protocol as p

NOW = 1795579168
OK_PRINTER = [0, b"\x16\x12\x12\x12", 6]
OK_REST = [0, [0, 35, 41], [0, 352], [0, 24010, 40]]  # paper, host, head, power


def _with(**changes: object) -> list:
    checks = [OK_PRINTER, *OK_REST]
    for index, value in changes.items():
        checks[int(index[1:])] = value
    return checks


SCENARIOS = {
    "healthy": _with(),
    "paper-out": _with(
        c0=[c.P_OFFLINE | c.P_PAPER_END | c.P_NEAR_END, b"\x1e\x32\x12\x7e", 6], c1=c.S_PAPER_END | c.S_NEAR_END
    ),
    "cover-open": _with(c0=[c.P_OFFLINE | c.P_COVER, b"\x1e\x16\x12\x12", 6], c1=c.S_COVER),
    "printer-no-response": _with(c0=[c.P_NO_REPLY, b"", 241]),
    "host-unreachable": _with(c2=[c.H_REFUSED, None, None]),
    "power-unstable": _with(c4=[c.V_LOW | c.V_UNSTABLE, 19320, 4150]),
    "all-failing": [[0x1FFF, b"\x7e\x7e\x7e\x7e", 65535, 4], 15, [0x3F, None, None], [7, None], [0x1F, 17000, 4100]],
}


def make_record(seq: int, checks: list, trigger: int = record.TRIGGER_BOOT) -> bytes:
    return record.encode(record.build(seq, 120, 2, NOW + seq * 3600, trigger, checks))


def as_json(raw: bytes) -> bytes:
    """The same content as a JSON document with named fields, for comparison."""
    rec = cbor2.loads(raw)
    checks = describe_checks(rec[record.K_CHECKS])
    for check in checks.values():
        if check:
            check.pop("status")
    doc = {
        "version": rec[0],
        "seq": rec[1],
        "boot": rec[2],
        "uptime_s": rec[3],
        "time": rec.get(4),
        "trigger": record.TRIGGERS[rec.get(5, 0)],
        "checks": checks,
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def sizes() -> None:
    print("record size (bytes)        CBOR   JSON  ratio")
    for name, checks in SCENARIOS.items():
        raw = make_record(1234, checks)
        js = as_json(raw)
        print(f"  {name:22} {len(raw):6} {len(js):6}  {len(js) / len(raw):5.1f}x")


def _log(n: int) -> list[bytes]:
    kinds = list(SCENARIOS.values())
    return [make_record(i + 1, kinds[i % len(kinds)]) for i in range(n)]


def _rate(fn, items: list[bytes]) -> float:  # noqa: ANN001
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for item in items:
            fn(item)
        best = min(best, time.perf_counter() - t0)
    return len(items) / best


def decode_rates(n: int = 100000) -> None:
    """Over an n-record log of mixed scenarios: raw cbor2.loads, posdiag's
    checked decode plus ranked diagnosis, and the full JSON-ready diagnosis
    (hints, steps, readings) that --json prints."""
    log = _log(n)
    raw_rate = _rate(cbor2.loads, log)

    def decode_and_rank(raw: bytes) -> tuple[int, ...]:
        return ranked_causes(decode_record(raw)[record.K_CHECKS])

    ranked = _rate(decode_and_rank, log)
    full = _rate(lambda b: diagnose(b, "en"), log[: n // 5])
    print(f"decode over {n} records (records/s, best of 3, same run)")
    print(f"  raw cbor2.loads                {raw_rate:12,.0f}")
    print(f"  posdiag decode + diagnosis     {ranked:12,.0f}  ({ranked / raw_rate:.2f} of raw; goal >= 0.33)")
    print(f"  full JSON-ready diagnosis      {full:12,.0f}  ({full / raw_rate:.2f} of raw)")


def _smp_style(payload: bytes) -> int:
    """Bytes on the wire for MCUmgr/SMP-style serial framing of payload:
    length + payload + CRC-16, base64, in lines of at most 127 bytes
    (6-byte start/continuation marker plus newline on each line)."""
    body = len(payload).to_bytes(2, "big") + payload + binascii.crc_hqx(payload, 0).to_bytes(2, "big")
    encoded = base64.b64encode(body)
    per_line = 127 - 3  # 2-byte marker + newline
    per_line -= per_line % 4
    lines = -(-len(encoded) // per_line)
    return len(encoded) + lines * 3


def wire_overhead(n: int = 10000) -> None:
    log = _log(n)
    payload = sum(len(r) for r in log)
    wire = smp = 0
    batch = bytearray()
    req = 0
    for rec in log + [None]:
        if rec is None or len(batch) + len(rec) > p.MAX_PAYLOAD - 1:  # + status byte
            # The same batches framed both ways.
            req = (req + 1) & 0xFF
            wire += len(frame.encode(p.CMD_PULL | p.RESPONSE, req, bytes([p.OK]) + batch))
            smp += _smp_style(bytes(batch))
            batch = bytearray()
        if rec is not None:
            batch.extend(rec)
    print(f"bulk pull of {n} records, {payload} payload bytes")
    print(f"  posdiag COBS frames       {wire:9} B  {wire / payload:.4f} per payload byte (goal <= 1.02)")
    print(f"  SMP-style base64 lines    {smp:9} B  {smp / payload:.4f} per payload byte")


# -- packages (firmware/posdiag-*/manifest.py) -----------------------------
FIRMWARE = Path(__file__).resolve().parent.parent / "firmware"
PACKAGES = ("posdiag-core", "posdiag-link", "posdiag-receipt", "posdiag-board", "posdiag-uploader")
# Modules of firmware/posdiag/ in no package: the host's (and the docs')
# reference of the link's codes and layouts, which link.py folds into const().
HOST_SIDE = ("posdiag/protocol.py",)
# The goals of issue 11.
GOAL_ALL_MPY = 16384  # all of firmware/ as .mpy
GOAL_CORE_MPY = 12288  # the self-test core (posdiag-core)
GOAL_HEAP_32 = 40 * 1024  # live after importing core + link, plus the largest step (32-bit, .mpy)
GOAL_LATER_SELFTEST = 4096  # what every self-test after the boot may allocate
# The unix port is 64-bit: objects about 1.8x a 32-bit board's.
GOAL_HEAP_64 = int(GOAL_HEAP_32 * 1.8)


def read_manifest(path: Path) -> tuple[list[str], list[str]]:
    """(files relative to firmware/, packages required) of a MicroPython
    manifest, run with stand-ins for the build tool's functions (the subset
    posdiag's manifests use: metadata, add_library, require, package)."""
    found: list[str] = []
    requires: list[str] = []

    def package(name: str, files: tuple | None = None, base_path: str = ".", opt: int | None = None) -> None:
        folder = (path.parent / base_path / name).resolve()
        names = sorted(p.name for p in folder.glob("*.py")) if files is None else files
        found.extend((folder / n).relative_to(FIRMWARE).as_posix() for n in names)

    def require(name: str, **_: object) -> None:
        requires.append(name)

    scope = {"metadata": lambda **_: None, "add_library": lambda *a, **k: None, "require": require, "package": package}
    exec(compile(path.read_text(), str(path), "exec"), scope)  # noqa: S102 - the repository's own manifests
    return found, requires


def package_modules() -> dict[str, list[str]]:
    """Each package's own modules (posdiag/x.py), by package name."""
    return {name: read_manifest(FIRMWARE / name / "manifest.py")[0] for name in PACKAGES}


def write_package_json() -> None:
    """`make package-json`: mip's package.json for the whole firmware
    (firmware/package.json) and for each package beside its manifest. mip
    resolves a relative URL against the package.json's own folder but not a
    relative dependency, so "deps" stay empty: the core is installed with
    each optional package (docs/firmware.md, Packages)."""
    version = (FIRMWARE / "posdiag" / "__init__.py").read_text().split('"')[1]
    every = sorted(p.relative_to(FIRMWARE).as_posix() for p in (FIRMWARE / "posdiag").glob("*.py"))

    def write(path: Path, urls: list[list[str]]) -> None:
        path.write_text(json.dumps({"urls": urls, "deps": [], "version": version}, indent=2) + "\n")

    write(FIRMWARE / "package.json", [[f, f] for f in every])
    for name, files in package_modules().items():
        write(FIRMWARE / name / "package.json", [[f, "../" + f] for f in sorted(files)])


def compile_mpy(dest: Path, sources: dict[str, Path] | None = None) -> dict[str, int]:
    """mpy-cross every firmware module (and sources: dotted name -> .py file)
    into dest as a board's /lib holds them; bytes of .mpy by dotted name."""
    todo = {f"posdiag.{p.stem}": p for p in sorted((FIRMWARE / "posdiag").glob("*.py"))}
    todo.update(sources or {})
    sizes = {}
    for name, src in todo.items():
        out = dest.joinpath(*name.split(".")).with_suffix(".mpy")
        out.parent.mkdir(parents=True, exist_ok=True)
        for pkg in out.relative_to(dest).parents:
            if pkg != Path(".") and not any((dest / pkg).glob("__init__.*")) and pkg.name != "posdiag":
                (dest / pkg / "__init__.py").touch()
        # -s: the name tracebacks give, as on a board (not where this checkout is)
        rel = out.relative_to(dest).with_suffix(".py").as_posix()
        subprocess.run([sys.executable, "-m", "mpy_cross", "-s", rel, "-o", str(out), str(src)], check=True)
        sizes[name] = out.stat().st_size
    return sizes


def mpy_sizes() -> None:
    """Bytes of .mpy per package and per module (mpy-cross, default
    optimisation), against the goals: all of firmware/ and the self-test
    core (posdiag-core: what a terminal needs to test, log and show)."""
    import tempfile
    from importlib.metadata import version

    with tempfile.TemporaryDirectory() as tmp:
        sizes = {k.split(".", 1)[1]: v for k, v in compile_mpy(Path(tmp)).items()}
    host_side = {Path(f).stem for f in HOST_SIDE}
    total = sum(v for k, v in sizes.items() if k not in host_side)
    print(f".mpy bytes (mpy-cross {version('mpy-cross')}, default optimisation)")
    print(f"  all firmware       {total:6} B   goal <= {GOAL_ALL_MPY}  {_met(total <= GOAL_ALL_MPY)}")
    for name, files in package_modules().items():
        mods = sorted((Path(f).stem for f in files), key=lambda m: -sizes[m])
        size = sum(sizes[m] for m in mods)
        goal = f"goal <= {GOAL_CORE_MPY}  {_met(size <= GOAL_CORE_MPY)}" if name == "posdiag-core" else ""
        print(f"  {name:17}  {size:6} B   {goal}")
        print("      " + ", ".join(f"{m} {sizes[m]}" for m in mods))
    print("  on no terminal (the host's): " + ", ".join(f"{m} {sizes[m]}" for m in sorted(host_side)))


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"


# -- heap -------------------------------------------------------------------
# One script for every runtime: import, boot self-test, a link exchange
# (INFO, PULL, CONFIG_SET and RECEIPT each after the key's CHALLENGE), a
# failed print (journal + e-receipt), a scheduled self-test and a later one,
# on the simulator's virtual parts. It prints {stage: bytes}: on the unix
# port the live heap each stage added (gc.collect() first); on the
# WebAssembly port, which collects only between runs, every byte each stage
# allocated. ROOT (a fresh folder), LINK and RECEIPTS (the packages there)
# are set before it.
HEAP_SCRIPT = r"""
import gc
import json

try:
    from gc import mem_alloc
except ImportError:   # CPython: the steps, no figures
    def mem_alloc():
        return 0


def mem():
    gc.collect()
    return mem_alloc()


from host_tools.sim import parts as sim   # the bench's own parts: before the baseline

KEY = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
RECEIPT = {
    "txn_id": "T-20261125-0042", "time": "2026-11-25T10:15:00+08:00",
    "merchant": {"name": "Corner Tea Shop", "id": "M-000777", "address": "1 Main Street, Shanghai"},
    "terminal_id": "SIM-0001",
    "items": [{"name": "Oolong tea 250 g", "qty": 1, "amount": 8800},
              {"name": "Tea cup", "qty": 2, "amount": 2400}],
    "tax": 1456, "total": 13600, "currency": "CNY",
    "card": {"brand": "UnionPay", "pan": "6222021234567890128"}, "auth_code": "A1B2C3",
}
seen = []   # [stage, bytes] in order
t = None


class Wire:
    # The diagnostics port: bytes in, bytes out.
    def __init__(self):
        self.incoming = b""
        self.sent = bytearray()

    def any(self):
        return len(self.incoming)

    def read(self, n):
        data = self.incoming[:n]
        self.incoming = self.incoming[n:]
        return data or None

    def write(self, data):
        self.sent.extend(data)
        return len(data)


def entropy(k):
    drawn[0] += 1
    return bytes((drawn[0] * 7 + i) & 0xFF for i in range(k))


def step(name, fn, *args):
    base = mem()
    out = fn(*args)
    seen.append([name, mem() - base])
    # Short of heap, a self-test still writes its record, naming the
    # MemoryError: that is no pass.
    assert t is None or t.error is None, (name, t.error)
    return out


def ask(name, kind, payload=b""):
    # One request through the link: the answer after its status byte (OK).
    ids[0] += 1
    wire.incoming = frame.encode(kind, ids[0], payload)
    wire.sent = bytearray()
    step(name, link.poll)
    for b in wire.sent:
        if reader.push(b):
            answer = bytes(reader.payload())
            assert answer[0] == 0, (name, answer[0])
            return answer[1:]
    raise AssertionError(name + ": no answer")


drawn = [0]
ids = [0]
wire = Wire()
base = mem()
#: import core
from posdiag import config
from posdiag.hal import FileStorage, Parts, Sensor
from posdiag.terminal import Terminal
seen.append(["import core", mem() - base])
#: import link
if LINK:
    base = mem()
    from posdiag import auth, frame
    from posdiag.link import LinkServer
    seen.append(["import link", mem() - base])
#: import receipt
if RECEIPTS:
    base = mem()
    from posdiag import ereceipt, receipt
    seen.append(["import receipt", mem() - base])
#: parts
clock = sim.StepClock()
hw = Parts(clock, FileStorage(ROOT), sim.MemoryDisplay(),
           printer=sim.MemoryPort(sim.EscPosEmulator(sim.PrinterState()), 9600),
           paper_end=Sensor(sim.VirtualPin(0)), near_end=Sensor(sim.VirtualPin(0)),
           cover=Sensor(sim.VirtualPin(0)), head_adc=sim.VirtualAdc(25950),
           supply_adc=sim.VirtualAdc(43330, 43290, 43370, 43310),
           probe=sim.VirtualHost("echo"), entropy=entropy)
cfg = config.load({"tech_key": KEY, "printer_supported": ["POSDIAG-EMU-80"]})
if LINK:
    reader = frame.Reader()
    key = bytes.fromhex(KEY)
#: setup terminal
t = step("setup terminal", Terminal, cfg, hw)
#: setup link
if LINK:
    link = step("setup link", LinkServer, wire, t)
#: boot self-test
step("boot self-test", t.boot)
#: more records
for _ in range(40):   # a log with more than one PULL answer's worth (1 KB)
    t.run_selftest(2)
#: INFO
if LINK:
    ask("INFO", 1)
#: PULL
if LINK:
    ask("PULL", 2, b"\x01\x00\x00\x00\xff\x03")
#: CHALLENGE
if LINK:
    nonce = ask("CHALLENGE", 5)
#: CONFIG_SET
if LINK:
    ask("CONFIG_SET", 8, auth.answer(key, nonce, 8, b'{"host_slow_ms": 400}'))
#: failed print
seq = step("failed print", t.failed_print, RECEIPT)
assert (seq is not None) == RECEIPTS
#: RECEIPT
if LINK and RECEIPTS:
    nonce = ask("CHALLENGE again", 5)
    ask("RECEIPT", 10, auth.answer(key, nonce, 10, bytes((seq, 0, 0, 0, 0, 0))))
#: scheduled self-test
clock.now_ms += cfg["schedule_s"] * 1000
assert step("scheduled self-test", t.tick) is not None
#: later self-test
step("later self-test", t.run_selftest, 2)
#: end
assert not LINK or link.failures == 0
print(json.dumps(seen))
"""
UNIX_MICROPYTHON = Path(sys.executable).parent / "micropython"
SIM_PARTS = FIRMWARE.parent / "host_tools" / "sim" / "parts.py"


def unix_path(tmp: Path, mpy: bool) -> str:
    """MICROPYPATH for the unix port: the firmware as .py (its source
    folder) or compiled to .mpy in tmp, and the simulator's parts."""
    lib = tmp / ("mpy" if mpy else "lib")
    if not lib.exists():
        if mpy:
            compile_mpy(lib, {"host_tools.sim.parts": SIM_PARTS})
        else:
            dest = lib / "host_tools" / "sim" / "parts.py"
            dest.parent.mkdir(parents=True)
            shutil.copy(SIM_PARTS, dest)
            (lib / "host_tools" / "__init__.py").touch()
            (lib / "host_tools" / "sim" / "__init__.py").touch()
    return str(lib) if mpy else f"{FIRMWARE}:{lib}"


def run_heap_script(
    heapsize: int | None, path: str, tmp: Path, link: bool = True, receipts: bool = True
) -> dict | None:
    """The steps on the unix port under -X heapsize (None: the port's
    default), modules from MICROPYPATH path: {stage: bytes}, or None when
    they ran out of heap."""
    flash = tmp / "flash"
    shutil.rmtree(flash, ignore_errors=True)
    script = tmp / "heap.py"
    script.write_text(f"ROOT = {str(flash)!r}\nLINK = {link}\nRECEIPTS = {receipts}\n" + HEAP_SCRIPT)
    cmd = [str(UNIX_MICROPYTHON), *(["-X", f"heapsize={heapsize}"] if heapsize else []), str(script)]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env={**os.environ, "MICROPYPATH": path}, timeout=60, check=False
    )
    if proc.returncode == 0:
        return dict(json.loads(proc.stdout.strip().splitlines()[-1]))
    if heapsize is not None:
        # A MemoryError, or what the firmware made of one (a self-test's
        # record naming it, a link answer FAILED): the steps pass uncapped.
        return None
    raise RuntimeError(f"the heap steps failed: {(proc.stdout + proc.stderr)[-2000:]}")


def smallest_heap(path: str, tmp: Path, low: int = 8, high: int = 512) -> int:
    """The smallest -X heapsize in KiB under which every step passes on the
    unix port, by bisection."""
    run_heap_script(None, path, tmp)  # raises unless the steps pass at all
    if run_heap_script(high * 1024, path, tmp) is None:
        raise RuntimeError(f"the heap steps need more than {high} KiB")
    while high - low > 1:
        mid = (low + high) // 2
        if run_heap_script(mid * 1024, path, tmp) is None:
            low = mid
        else:
            high = mid
    return high


def heap_on_wasm(mpy: bool) -> tuple[dict, dict]:
    """({stage: bytes allocated}, {stage: live heap before it}) on the
    WebAssembly port (32-bit: what a board's heap sees). The script runs a
    stage (#: name) per top-level run: this port collects garbage only
    between runs, so the live heap is read between them. As .mpy the
    modules are mpy-cross's output, put first on sys.path."""
    import tempfile

    from host_tools import mpruntime

    reason = mpruntime.missing()
    if reason:
        raise RuntimeError(reason)
    head = "ROOT = '/tmp/heap'\nLINK = True\nRECEIPTS = True\nLIVE = {}\n"
    head += "def _live(name):\n    LIVE[name] = __import__('gc').mem_alloc()\n"
    chunks = [["", head], *([c.split("\n", 1)[0], c.split("\n", 1)[1]] for c in HEAP_SCRIPT.split("\n#: "))]
    chunks[1][0] = "prelude"
    chunks.append(["", "print(json.dumps(LIVE))\n"])
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        if mpy:
            compile_mpy(Path(tmp))
            files = {p.relative_to(tmp).as_posix(): str(p) for p in sorted(Path(tmp).rglob("*.mpy"))}
        driver = f"""
import {{ boot }} from {json.dumps((Path(mpruntime.__file__).parent / "run.mjs").as_uri())};
import fs from "node:fs";
const put = (s) => (b) => s.write(Buffer.from(b));
const mp = await boot({{ modules: [[{json.dumps(str(SIM_PARTS))}, "host_tools.sim.parts"]],
                         stdout: put(process.stdout), stderr: put(process.stderr) }});
const files = {json.dumps(files)};
for (const [name, file] of Object.entries(files)) {{
  mp.FS.mkdirTree("/mpy/" + name.split("/").slice(0, -1).join("/"));
  mp.FS.writeFile("/mpy/" + name, fs.readFileSync(file));
}}
if (Object.keys(files).length) mp.runPython("import sys\\nsys.path.insert(0, '/mpy')\\n");
for (const [name, source] of {json.dumps(chunks)}) {{
  if (name) mp.runPython("_live(" + JSON.stringify(name) + ")");
  mp.runPython(source);
}}
"""
        proc = subprocess.run(
            ["node", "--input-type=module", "-e", driver], capture_output=True, text=True, timeout=120, check=False
        )
    if proc.returncode:
        raise RuntimeError(f"the heap steps failed on the WebAssembly port: {proc.stderr[-2000:]}")
    lines = proc.stdout.strip().splitlines()
    return dict(json.loads(lines[-2])), json.loads(lines[-1])


def wasm_summary(allocated: dict, live: dict) -> dict:
    """The goal's figures from heap_on_wasm."""
    steps = {k: v for k, v in allocated.items() if not k.startswith("import")}
    core_link = live["import receipt"] - live["import core"]
    biggest = max(steps, key=lambda k: steps[k])
    return {
        "core": live["import link"] - live["import core"],
        "link": live["import receipt"] - live["import link"],
        "receipt": live["parts"] - live["import receipt"],
        "core_link": core_link,
        "biggest": biggest,
        "goal": core_link + steps[biggest],
        "later": max(steps["scheduled self-test"], steps["later self-test"]),
        "steps": steps,
    }


def heap_figures() -> None:
    """The heap the firmware needs on each runtime, beside the goals."""
    import tempfile

    print("heap: import, boot self-test, INFO, PULL, CONFIG_SET and RECEIPT with the key, failed print, schedule")
    with tempfile.TemporaryDirectory() as tmp:
        for mpy in (False, True):
            path = unix_path(Path(tmp), mpy)
            need = smallest_heap(path, Path(tmp))
            goal = f"   goal <= {GOAL_HEAP_64 // 1024} KiB  {_met(need * 1024 <= GOAL_HEAP_64)}" if mpy else ""
            print(f"  unix port (64-bit) as {'.mpy' if mpy else '.py '}: smallest -X heapsize {need} KiB{goal}")
            if mpy:
                seen = run_heap_script(None, path, Path(tmp)) or {}
                print("    live heap each stage added: " + ", ".join(f"{k} {v}" for k, v in seen.items()))
    for mpy in (True, False):
        got = wasm_summary(*heap_on_wasm(mpy))
        print(f"  WebAssembly port (32-bit) as {'.mpy' if mpy else '.py'}")
        print(f"    live after import: core {got['core']} B, link {got['link']} B, receipt {got['receipt']} B")
        print("    allocated by each step: " + ", ".join(f"{k} {v}" for k, v in got["steps"].items()))
        line = f"    core + link {got['core_link']} B + largest step ({got['biggest']}) = {got['goal']} B"
        if mpy:
            line += f"   goal <= {GOAL_HEAP_32}  {_met(got['goal'] <= GOAL_HEAP_32)}"
        print(line)
        steps = got["steps"]
        for name in ("later self-test", "scheduled self-test"):
            met = _met(steps[name] <= GOAL_LATER_SELFTEST)
            print(f"    {name} allocates {steps[name]} B   goal <= {GOAL_LATER_SELFTEST}  {met}")


def selftest_times(runs: int = 5) -> None:
    """Self-test wall time through the simulator's diagnostics link (SELFTEST
    request to answer), healthy and all-dead, on both runtimes, beside what
    the parts themselves took (printer replies + host round trip)."""
    import statistics
    import subprocess
    import sys

    import cbor2

    from host_tools.serial_link import Client, open_port
    from posdiag import catalog

    print(f"self-test wall time, median of {runs} (SELFTEST request to answer)")
    for runtime in ("cpython", "micropython"):
        for name, faults in (("healthy", []), ("all-dead", ["printer-no-response", "host-unreachable"])):
            args = [a for f in faults for a in ("--fault", f)]
            sim = subprocess.Popen(
                [sys.executable, "-m", "host_tools", "sim", "--runtime", runtime, *args],
                stdout=subprocess.PIPE,
                text=True,
            )
            try:
                port = open_port(sim.stdout.readline().strip())
                client = Client(port, timeout=5)
                times, parts = [], []
                for _ in range(runs):
                    t0 = time.perf_counter()
                    rec = cbor2.loads(client.selftest())
                    times.append((time.perf_counter() - t0) * 1000)
                    checks = rec[record.K_CHECKS]
                    printer_ms = checks[catalog.CHECK_PRINTER]
                    printer_ms = printer_ms if isinstance(printer_ms, int) else printer_ms[2]
                    host = checks[catalog.CHECK_HOST]
                    host_ms = host if isinstance(host, int) else (host[2] or host[1] or 0)
                    parts.append(printer_ms + host_ms)
                port.close()
            finally:
                sim.terminate()
                sim.wait(10)
            wall, own = statistics.median(times), statistics.median(parts)
            ratio = f"{wall / own:.1f}x the parts' time" if own else "parts answered in < 1 ms"
            print(f"  {runtime:12} {name:9} {wall:7.0f} ms   (printer + host {own:.0f} ms; {ratio})")


def bulk_pull(n: int = 10000) -> None:
    """A real pull of an n-record log over a pseudo-terminal: records per
    second, bytes on the wire per payload byte (counted on the line), and
    the time a second run takes to resume after the cable is pulled."""
    import os
    import subprocess
    import sys
    import tempfile

    from host_tools.records import PulledLog
    from tests.faulty_link import Damage, FaultyLink

    sim = subprocess.Popen(
        [sys.executable, "-m", "host_tools", "sim", "--history", str(n)], stdout=subprocess.PIPE, text=True
    )
    try:
        port = sim.stdout.readline().strip()
        with tempfile.TemporaryDirectory() as tmp:
            line = FaultyLink(port, Damage())
            out = os.path.join(tmp, "log.cbor")
            t0 = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "host_tools", "pull", line.url, "-o", out], check=True, capture_output=True
            )
            took = time.perf_counter() - t0
            wire = line.to_host
            line.close()
            log = PulledLog.load(out)
            payload = sum(len(r) for r in log.records)
            print(f"bulk pull over a pty: {len(log.records)} records, {payload} B payload, {took:.2f} s")
            print(
                f"  {len(log.records) / took:,.0f} records/s; {wire} B on the wire toward the host = "
                f"{wire / payload:.4f} per payload byte (goal <= 1.02, CRC and framing included)"
            )
            # Interrupted half way, then resumed.
            out2 = os.path.join(tmp, "cut.cbor")
            line = FaultyLink(port, Damage())
            # Unplugged for longer than a pull waits with nothing new (30 x --timeout = 3 s).
            line.unplug_after(to_host_bytes=wire // 2, seconds=4.0)
            t0 = time.perf_counter()
            cut = subprocess.run(
                [sys.executable, "-m", "host_tools", "pull", line.url, "-o", out2, "--timeout", "0.1"],
                capture_output=True,
            )
            stopped = time.perf_counter() - t0
            time.sleep(max(0.0, 4.2 - stopped))
            kept = len(PulledLog.load(out2).records)
            t0 = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "host_tools", "pull", line.url, "-o", out2], check=True, capture_output=True
            )
            resumed = time.perf_counter() - t0
            line.close()
            whole = PulledLog.load(out2)
            assert cut.returncode != 0 and whole.records == log.records
            print(
                f"  cable pulled at half: first run stopped after {stopped:.2f} s with {kept} records kept; "
                f"the second run resumed and finished the other {len(whole.records) - kept} in {resumed:.2f} s"
            )
    finally:
        sim.terminate()
        sim.wait(10)


def goodput(n: int = 2000, rates: tuple[float, ...] = (0.0, 0.001, 0.004, 0.01)) -> None:
    """Payload bytes per second a pull of n records delivers over a pty with
    a steady byte error rate p (flips, drops and duplicates mixed, both
    directions), beside the best possible for p and the frames the pull
    actually used: the clean rate of the same run times the share of
    payload whose frames survive, sum(payload x (1-p)^(answer + request
    bytes)) / sum(payload), an answer and its request both having to come
    through intact. That bound ignores that small frames cost more round
    trips per byte even on a clean line, so the last columns also measure
    a clean pull with every batch the mean size the noisy pull used, and
    the best at that size (that rate times the same share)."""
    import subprocess
    import sys

    from host_tools import pull
    from host_tools.records import split_records
    from host_tools.serial_link import Client, open_port
    from tests.faulty_link import Damage, FaultyLink

    sim = subprocess.Popen(
        [sys.executable, "-m", "host_tools", "sim", "--history", str(n)], stdout=subprocess.PIPE, text=True
    )
    request = len(frame.encode(p.CMD_PULL, 0, bytes(p.PULL_ARGS_SIZE))) + 1  # + the 0x00 after a failed try
    print(f"goodput of a pull of {n + 1} records over a pty with byte errors (same run; seed 10)")
    print(
        "  byte errors   goodput B/s   best B/s   share   mean frame B   tries   time s"
        "   clean at that frame B/s   best at it   share"
    )
    clean = 0.0

    def clean_at(size: int) -> float:
        # Payload bytes per second on a clean line with every batch this size.
        line = FaultyLink(port, Damage())
        serial_port = open_port(line.url)
        client = Client(serial_port, timeout=1.0)
        since, got, t0 = 0, 0, time.perf_counter()
        while batch := client.pull_batch(since, size):
            got += len(batch)
            since = decode_record(list(split_records(batch))[-1])[record.K_SEQ] + 1
        took = time.perf_counter() - t0
        serial_port.close()
        line.close()
        return got / took

    try:
        port = sim.stdout.readline().strip()
        for rate in rates:
            line = FaultyLink(port, Damage.byte_errors(rate), seed=10)
            serial_port = open_port(line.url)
            client = Client(serial_port, timeout=1.0)
            frames: list[tuple[int, int]] = []  # (payload, answer bytes on the wire)
            tries = [0]
            plain = client.try_pull

            def counted(since: int, max_bytes: int, plain=plain, frames=frames, tries=tries) -> bytes | None:  # noqa: ANN001
                tries[0] += 1
                batch = plain(since, max_bytes)
                if batch:
                    wire = len(frame.encode(p.CMD_PULL | p.RESPONSE, 0, bytes([p.OK]) + batch))
                    frames.append((len(batch), wire))
                return batch

            client.try_pull = counted  # type: ignore[method-assign]
            t0 = time.perf_counter()
            got = sum(len(raw) for _, raw in pull.records_since(client, 0))
            took = time.perf_counter() - t0
            serial_port.close()
            line.close()
            rate_bps = got / took
            if rate == 0:
                clean = rate_bps
            share = sum(b * (1 - rate) ** (w + request) for b, w in frames) / sum(b for b, _ in frames)
            best = clean * share
            mean = sum(w for _, w in frames) / len(frames)
            same = clean_at(max(1, round(sum(b for b, _ in frames) / len(frames))))
            print(
                f"  {rate:10.1%} {rate_bps:13,.0f} {best:10,.0f} {rate_bps / best:7.0%} {mean:14.0f} "
                f"{tries[0]:7} {took:8.1f} {same:25,.0f} {same * share:12,.0f} {rate_bps / (same * share):7.0%}"
            )
    finally:
        sim.terminate()
        sim.wait(10)


# -- the hub (posdiag hub, issue 13) ------------------------------------------
# A hub in a process of its own (as `posdiag hub` runs it: uvicorn, INFO
# logging), loaded from this process over raw sockets with the bytes a
# terminal's uploader sends (firmware/posdiag/uploader.py: one connection
# per request, Connection: close, the signature headers of hubwire.py).
HUB_TERMINALS = 32  # simulated terminals uploading at once (the hub's MAX_INFLIGHT: more get 503)
HUB_BATCHES = 12  # 100-record batches each
HUB_PAGE_CLIENTS = 200  # phones opening their receipt at once
HUB_PAGE_ROUNDS = 5  # opens per phone (the first renders the page)
_HUB_SCRIPT = """
import sys
from host_tools.hub import server
server.configure_logging()
server.run(sys.argv[1], "127.0.0.1:0", ready=lambda url: print(url, flush=True))
"""


def _hub_request(path: str, body: bytes, terminal: str, key: bytes, port: int, when: int) -> bytes:
    """A signed upload exactly as the terminal's uploader writes it."""
    from posdiag import hubwire

    nonce = os.urandom(hubwire.NONCE_LEN).hex()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {hubwire.CONTENT_TYPE}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n"
    )
    for name, value in hubwire.headers(key, "POST", path, terminal, when, nonce, hubwire.body_hash([body])):
        head += f"{name}: {value}\r\n"
    return (head + "\r\n").encode() + body


async def _exchange(port: int, request: bytes) -> bytes:
    """One request on a connection of its own; the whole answer."""
    import asyncio

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return await reader.read(-1)
    finally:
        writer.close()


def _status(answer: bytes) -> int:
    return int(answer[9:12])


class _HubProcess:
    """`posdiag hub --db URL --listen 127.0.0.1:0` in a process of its own."""

    def __init__(self, db: str) -> None:
        root = Path(__file__).resolve().parent.parent
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _HUB_SCRIPT, db], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True,
        )
        line = self.proc.stdout.readline().strip() if self.proc.stdout else ""
        if not line.startswith("http://"):
            self.stop()
            raise RuntimeError(f"the hub did not start on {db}")
        self.port = int(line.rsplit(":", 1)[1])

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


HUB_ROUNDS = 2  # hub and bare alternate; the best of each is compared (the machine is shared)


def _hub_ingest(db: str, store, port: int, label: str) -> float:  # noqa: ANN001
    """Records/s through the API from HUB_TERMINALS terminals at once,
    beside a bare executemany of the same rows (same batches, one
    transaction each, as the hub commits them) into the same database,
    alternating HUB_ROUNDS times."""
    import asyncio

    from host_tools.hub.app import parse_records
    from posdiag import hubwire

    per = 100
    kinds = list(SCENARIOS.values())
    when = int(time.time())
    total = HUB_TERMINALS * HUB_BATCHES * per
    payload = 0
    rounds = []  # (requests per terminal, bare rows per batch)
    for k in range(HUB_ROUNDS):
        plans: list[list[bytes]] = []
        bare_rows: list[list[tuple]] = []
        for t in range(HUB_TERMINALS):
            terminal = f"bench-{label}{k}-{t:03d}"
            key = bytes.fromhex(store.add_terminal(terminal))
            reqs = []
            for b in range(HUB_BATCHES):
                recs = [make_record(b * per + i + 1, kinds[(t + b * per + i) % len(kinds)]) for i in range(per)]
                payload += sum(len(x) for x in recs)
                body = hubwire.records_head(per) + b"".join(recs)
                # The same rows as the hub stores them, made before any clock starts.
                bare_rows.append(
                    [(f"bare-{label}{k}-{t:03d}", x.seq, x.raw, when, x.trigger, x.time, x.top_cause)
                     for x in parse_records(body)[1]]
                )
                reqs.append(_hub_request(hubwire.PATH_RECORDS, body, terminal, key, port, when))
            plans.append(reqs)
        rounds.append((plans, bare_rows))

    async def terminal(reqs: list[bytes]) -> None:
        for req in reqs:
            answer = await _exchange(port, req)
            if _status(answer) != 200:
                raise RuntimeError(f"hub answered {answer[:200]!r}")

    async def run(plans: list[list[bytes]]) -> None:
        await asyncio.gather(*(terminal(reqs) for reqs in plans))

    sql = (
        "INSERT INTO records (terminal, seq, raw, received, trigger_id, rec_time, top_cause) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (terminal, seq) DO NOTHING"
    )

    def bare(rows: list[list[tuple]]) -> float:
        if db.startswith("postgresql"):
            import psycopg

            with psycopg.connect(db) as conn, conn.cursor() as cur:
                t0 = time.perf_counter()
                for batch in rows:
                    cur.executemany(sql.replace("?", "%s"), batch)
                    conn.commit()
                return total / (time.perf_counter() - t0)
        import sqlite3

        conn = sqlite3.connect(db, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")  # as the hub commits
        t0 = time.perf_counter()
        for batch in rows:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(sql, batch)
            conn.execute("COMMIT")
        took = time.perf_counter() - t0
        conn.close()
        return total / took

    hub_rates, bare_rates = [], []
    for k, (plans, bare_rows) in enumerate(rounds):
        wal = _pg_wal(db)
        t0 = time.perf_counter()
        asyncio.run(run(plans))
        hub_rates.append(total / (time.perf_counter() - t0))
        assert sum(store.count("records", f"bench-{label}{k}-{t:03d}") for t in range(HUB_TERMINALS)) == total
        if wal is not None and k == 0:
            import psycopg

            with psycopg.connect(db) as conn:
                walled, heap, index, rows_now = conn.execute(
                    "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s), pg_relation_size('records'), "
                    "pg_indexes_size('records'), (SELECT COUNT(*) FROM records)",
                    (wal,),
                ).fetchone()
            print(
                f"  {label:10} per record stored through the hub: {walled / total:.0f} B of WAL (no full-page "
                f"images: no checkpoint ran), {heap / rows_now:.0f} B of table, {index / rows_now:.0f} B of "
                f"index; the records are {payload / total / HUB_ROUNDS:.1f} B of CBOR on average"
            )
        bare_rates.append(bare(bare_rows))
    hub_rate, bare_rate = max(hub_rates), max(bare_rates)
    each = ", ".join(f"{h / b:.2f}" for h, b in zip(hub_rates, bare_rates, strict=True))
    print(
        f"  {label:10} ingest {total} records x {HUB_ROUNDS} rounds, {HUB_TERMINALS} terminals at once, best round: "
        f"hub {hub_rate:7,.0f} records/s; bare executemany {bare_rate:7,.0f}; {hub_rate / bare_rate:.2f} of bare "
        f"(goal >= 0.5; round by round: {each})"
    )
    return hub_rate / bare_rate


def _hub_small_uploads(store, port: int, label: str, each: int = 20) -> None:  # noqa: ANN001
    """Uploads per second of one record each (a terminal's usual upload:
    the record of the self-test just run), HUB_TERMINALS terminals at once."""
    import asyncio

    from posdiag import hubwire

    when = int(time.time())
    plans = []
    for t in range(HUB_TERMINALS):
        terminal = f"bench-one-{label}-{t:03d}"
        key = bytes.fromhex(store.add_terminal(terminal))
        plans.append([
            _hub_request(hubwire.PATH_RECORDS, hubwire.records_head(1) + make_record(i + 1, SCENARIOS["healthy"]),
                         terminal, key, port, when)
            for i in range(each)
        ])

    async def terminal(reqs: list[bytes]) -> None:
        for req in reqs:
            answer = await _exchange(port, req)
            if _status(answer) != 200:
                raise RuntimeError(f"hub answered {answer[:200]!r}")

    async def run() -> None:
        await asyncio.gather(*(terminal(reqs) for reqs in plans))

    t0 = time.perf_counter()
    asyncio.run(run())
    took = time.perf_counter() - t0
    n = HUB_TERMINALS * each
    print(f"  {label:10} one-record uploads, {HUB_TERMINALS} terminals at once: {n / took:7,.0f} uploads/s "
          f"({took / n * 1000:.2f} ms of hub per upload)")


def _pg_wal(db: str) -> str | None:
    """PostgreSQL's current WAL position (None on SQLite)."""
    if not db.startswith("postgresql"):
        return None
    import psycopg

    with psycopg.connect(db) as conn:
        return str(conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0])


def _hub_wire(store, port: int) -> None:  # noqa: ANN001
    """Bytes on the wire (request and answer, HTTP included) per record byte."""
    import asyncio

    from posdiag import hubwire

    key = bytes.fromhex(store.add_terminal("bench-wire"))
    when = int(time.time())
    for n, recs in ((100, _log(100)), (1, [make_record(101, SCENARIOS["healthy"])]),
                    (1, [make_record(102, SCENARIOS["all-failing"])])):
        body = hubwire.records_head(n) + b"".join(recs)
        req = _hub_request(hubwire.PATH_RECORDS, body, "bench-wire", key, port, when)
        answer = asyncio.run(_exchange(port, req))
        assert _status(answer) == 200, answer
        payload = sum(len(x) for x in recs)
        head = answer.index(b"\r\n\r\n") + 4
        print(
            f"  wire, {n:3} record{'s' if n > 1 else ' '} ({payload:5} B of records): request {len(req)} B "
            f"({len(req) - len(body)} of HTTP head), answer {len(answer)} B ({head} of head): "
            f"{(len(req) + len(answer)) / payload:6.2f} per record byte{' (goal <= 1.5)' if n == 100 else ''}"
        )


def _hub_pages(store, hub: _HubProcess, db: str, label: str) -> _HubProcess:  # noqa: ANN001
    """Latency of /r/<token> with HUB_PAGE_CLIENTS phones at once, each
    opening its own receipt HUB_PAGE_ROUNDS times (a new connection each):
    first through the process the receipts were uploaded to (it rendered
    each page as it stored it), then through a hub process started afresh
    (no page kept: every first open renders, as on a process behind a load
    balancer that did not take the upload). The hub that serves at the end."""
    import asyncio

    from posdiag import ereceipt, hubwire, receipt

    fields = receipt.sanitize(json.loads((Path(__file__).parent / "data" / "receipt-tea.json").read_text()))
    terminal = f"bench-pages-{label}"
    key = bytes.fromhex(store.add_terminal(terminal))
    tokens = [os.urandom(16).hex() for _ in range(HUB_PAGE_CLIENTS)]
    expires = int(time.time()) + 86400
    when = int(time.time())

    async def upload() -> None:
        for i in range(0, len(tokens), hubwire.MAX_RECEIPTS):
            chunk = tokens[i : i + hubwire.MAX_RECEIPTS]
            body = hubwire.records_head(len(chunk)) + b"".join(
                hubwire.receipt_head(i + j + 1) + bytes(ereceipt.entry(fields, tok, expires, "https://h.example/r/"))
                for j, tok in enumerate(chunk)
            )
            answer = await _exchange(hub.port, _hub_request(hubwire.PATH_RECEIPTS, body, terminal, key, hub.port, when))
            assert _status(answer) == 200, answer

    asyncio.run(upload())

    def measure(port: int, how: str) -> None:
        rounds: list[list[float]] = [[] for _ in range(HUB_PAGE_ROUNDS)]

        async def phone(token: str) -> None:
            req = f"GET /r/{token} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode()
            for k in range(HUB_PAGE_ROUNDS):
                t0 = time.perf_counter()
                answer = await _exchange(port, req)
                rounds[k].append(time.perf_counter() - t0)
                if _status(answer) != 200:
                    raise RuntimeError(f"page answered {answer[:100]!r}")

        async def run() -> None:
            await asyncio.gather(*(phone(tok) for tok in tokens))

        asyncio.run(run())
        every = [x for r in rounds for x in r]
        med, p99 = _percentile(every, 0.5), _percentile(every, 0.99)
        first, later = rounds[0], [x for r in rounds[1:] for x in r]
        print(
            f"  {label:10} pages, {HUB_PAGE_CLIENTS} phones at once x {HUB_PAGE_ROUNDS} opens, {how}: "
            f"median {med * 1000:6.1f} ms, p99 {p99 * 1000:6.1f} ms = {p99 / med:4.1f}x median (goal <= 5)\n"
            f"  {'':10}   first opens median {_percentile(first, 0.5) * 1000:.1f} ms, "
            f"p99 {_percentile(first, 0.99) * 1000:.1f}; later opens median "
            f"{_percentile(later, 0.5) * 1000:.1f} ms, p99 {_percentile(later, 0.99) * 1000:.1f}"
        )

    measure(hub.port, "on the process that took the upload")
    hub.stop()
    fresh = _HubProcess(db)
    measure(fresh.port, "on a fresh process (first opens render)")
    return fresh


def hub_figures() -> None:
    """Ingest beside a bare executemany, wire bytes, page latency: on SQLite
    and on a throwaway PostgreSQL 15 cluster (tests/pg.py), in one run."""
    import tempfile

    from host_tools.hub.store import Store
    from tests import pg

    print("posdiag hub (a hub process of its own, loaded from this one; same run)")
    with tempfile.TemporaryDirectory() as tmp:
        dbs = [("SQLite", str(Path(tmp) / "hub.sqlite3"))]
        cluster = None
        if pg.available():
            cluster = pg.Cluster()
            dbs.append(("PostgreSQL", cluster.url))
        else:
            print("  PostgreSQL (initdb, pg_ctl) is not installed: SQLite only")
        try:
            for i, (label, db) in enumerate(dbs):
                store = Store(db)
                hub = _HubProcess(db)
                try:
                    _hub_ingest(db, store, hub.port, label)
                    _hub_small_uploads(store, hub.port, label)
                    if i == 0:
                        _hub_wire(store, hub.port)
                    hub = _hub_pages(store, hub, db, label)
                finally:
                    hub.stop()
                    store.close()
        finally:
            if cluster is not None:
                cluster.remove()


def main() -> None:
    sizes()
    print()
    decode_rates()
    print()
    wire_overhead()
    print()
    mpy_sizes()
    print()
    heap_figures()
    print()
    selftest_times()
    print()
    bulk_pull()
    print()
    goodput()
    print()
    hub_figures()
    print()
    __import__("tests.bench_fleet", fromlist=["fleet_bench"]).fleet_bench()


if __name__ == "__main__":
    main()
