"""`make bench`: sizes in bytes and rates measured side by side in one run.

Run: python -m tests.bench"""

from __future__ import annotations

import base64
import binascii
import json
import time

import cbor2

from host_tools.diagnosis import diagnose
from host_tools.records import decode_record
from posdiag import catalog as c
from posdiag import frame, record
from posdiag import protocol as p

NOW = 1795579168
OK_PRINTER = [0, b"\x16\x12\x12\x12", 6]
SCENARIOS = {
    "healthy": [OK_PRINTER, 0, [0, 35]],
    "paper-out": [
        [c.P_OFFLINE | c.P_PAPER_END | c.P_NEAR_END, b"\x1e\x32\x12\x7e", 6],
        c.S_PAPER_END | c.S_NEAR_END,
        [0, 35],
    ],
    "cover-open": [[c.P_OFFLINE | c.P_COVER, b"\x1e\x16\x12\x12", 6], c.S_COVER, [0, 35]],
    "printer-no-response": [[c.P_NO_REPLY, b"", 241], 0, [0, 35]],
    "host-unreachable": [OK_PRINTER, 0, [c.H_REFUSED, None]],
    "all-failing": [[0xFFF, b"\x7e\x7e\x7e\x7e", 65535], 7, [0x1F, None]],
}


def make_record(seq: int, checks: list, trigger: int = record.TRIGGER_BOOT) -> bytes:
    return record.encode(record.build(seq, 120, 2, NOW + seq * 3600, trigger, checks))


def as_json(raw: bytes) -> bytes:
    """The same content as a JSON document with named fields, for comparison."""
    rec = cbor2.loads(raw)
    checks = rec[record.K_CHECKS]
    host = checks[2] if isinstance(checks[2], list) else [0, checks[2]]
    doc = {
        "version": rec[0],
        "seq": rec[1],
        "boot": rec[2],
        "uptime_s": rec[3],
        "time": rec.get(4),
        "trigger": record.TRIGGERS[rec.get(5, 0)],
        "checks": {
            "printer": {"flags": checks[0][0], "raw": checks[0][1].hex(), "reply_ms": checks[0][2]},
            "paper": {"flags": checks[1]},
            "host": {"flags": host[0], "rtt_ms": host[1]},
        },
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


def decode_rates(n: int = 20000) -> None:
    log = _log(n)
    raw_rate = _rate(cbor2.loads, log)
    checked = _rate(decode_record, log)
    full = _rate(lambda b: diagnose(b, "en"), log)
    print(f"decode over {n} records (records/s, best of 3, same run)")
    print(f"  raw cbor2.loads           {raw_rate:12,.0f}")
    print(f"  posdiag decode_record     {checked:12,.0f}  ({checked / raw_rate:.2f} of raw)")
    print(
        f"  posdiag decode+diagnose   {full:12,.0f}  ({full / raw_rate:.2f} of raw; goal >= 0.33)"
    )


def _smp_style(payload: bytes) -> int:
    """Bytes on the wire for MCUmgr/SMP-style serial framing of payload:
    length + payload + CRC-16, base64, in lines of at most 127 bytes
    (6-byte start/continuation marker plus newline on each line)."""
    body = (
        len(payload).to_bytes(2, "big") + payload + binascii.crc_hqx(payload, 0).to_bytes(2, "big")
    )
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
        if rec is None or len(batch) + len(rec) > p.MAX_PAYLOAD:
            # The same batches framed both ways.
            req = (req + 1) & 0xFF
            wire += len(frame.encode(p.CMD_PULL | p.RESPONSE, req, bytes([p.OK]) + batch))
            smp += _smp_style(bytes(batch))
            batch = bytearray()
        if rec is not None:
            batch.extend(rec)
    print(f"bulk pull of {n} records, {payload} payload bytes")
    print(
        f"  posdiag COBS frames       {wire:9} B  {wire / payload:.4f} per payload byte (goal <= 1.02)"
    )
    print(f"  SMP-style base64 lines    {smp:9} B  {smp / payload:.4f} per payload byte")


def main() -> None:
    sizes()
    print()
    decode_rates()
    print()
    wire_overhead()


if __name__ == "__main__":
    main()
