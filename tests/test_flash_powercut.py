"""Power cuts at block level on the file systems boards use (issue 11): the
firmware's log, receipt journal, counters, settings and boot count on
os.VfsLfs2 and os.VfsFat over a RAM block device that loses power at its N-th
program or erase, for every N of a fixed scenario, the N-th operation lost or
half written, and again at every operation of the repair the next open does.
The cuts run inside one MicroPython unix-port process per file system and
block size (tests/flash_scenario.py); this file checks its JSON summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from host_tools.sim.blockdev import EIO, PowerCutBlockDevice

ROOT = Path(__file__).resolve().parent.parent
MICROPYTHON = Path(sys.executable).parent / "micropython"


def run_cuts(fs: str, block_size: int, rounds: int) -> dict:
    if not MICROPYTHON.exists():
        pytest.fail("the MicroPython unix port is not installed (pip install -e '.[dev]')", pytrace=False)
    env = {**os.environ, "MICROPYPATH": f"{ROOT / 'firmware'}:{ROOT / 'host_tools' / 'sim'}"}
    cmd = [
        str(MICROPYTHON),
        "-X",
        "heapsize=4M",
        str(ROOT / "tests" / "flash_scenario.py"),
        fs,
        str(block_size),
        str(rounds),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300, check=False)
    # The unix port prints tracebacks on stdout (here also those of files the
    # garbage collector closes on a dead device: expected, not failures).
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


# (file system, block size, rounds of the scenario): 512-byte blocks as on
# STM32 boards, 4096 as on ESP8266 (FAT) and ESP32 (littlefs); fewer rounds
# where a run costs more, about a minute in all.
SETUPS = [("lfs", 512, 3), ("fat", 512, 4), ("lfs", 4096, 1), ("fat", 4096, 2)]


@pytest.mark.parametrize(("fs", "block_size", "rounds"), SETUPS, ids=[f"{f}-{b}" for f, b, _ in SETUPS])
def test_every_cut_keeps_records_seqs_boots_and_drops(fs: str, block_size: int, rounds: int, record_property) -> None:  # noqa: ANN001
    started = time.monotonic()
    summary = run_cuts(fs, block_size, rounds)
    record_property(f"{fs}_{block_size}_cuts", summary["cuts"])
    record_property(f"{fs}_{block_size}_second_cuts", summary["second_cuts"])
    record_property(f"{fs}_{block_size}_seconds", round(time.monotonic() - started, 1))
    assert summary["fs"] == fs and summary["block_size"] == block_size
    # Each round reboots, rotates and drops, acknowledges receipts (in place,
    # whole segments), saves counters and settings, clears a log: every
    # program/erase operation of it cut both ways.
    assert summary["ops"] >= 130 * rounds, summary
    assert summary["cuts"] == {"lost": summary["ops"], "half": summary["ops"]}, summary
    # Where the next open repairs something (finishes a drop, a clear or an
    # acknowledgement), that repair is cut too, at each of its operations.
    assert summary["second_cuts"]["lost"] > 0 and summary["second_cuts"]["half"] > 0, summary
    problems = [f"cut at op {f['n']} ({f['mode']}): " + "; ".join(f["problems"]) for f in summary["failures"]]
    assert not problems, f"{fs}/{block_size}: {summary['failed']} failing cuts of {2 * summary['ops']}:\n" + "\n".join(
        problems
    )


def test_power_cut_device_counts_loses_or_halves_then_refuses() -> None:
    dev = PowerCutBlockDevice(16, 4)
    dev.writeblocks(0, b"a" * 16)
    dev.ioctl(6, 1)  # erase
    assert dev.ops == 2 and not dev.dead
    lost = PowerCutBlockDevice(16, 4, bytes(dev.data), cut_at=1)
    with pytest.raises(OSError) as e:
        lost.writeblocks(0, b"b" * 16)
    assert e.value.args[0] == EIO and lost.dead and bytes(lost.data[:16]) == b"a" * 16
    half = PowerCutBlockDevice(16, 4, bytes(dev.data), cut_at=2, half=True)
    half.writeblocks(2, b"c" * 16)
    with pytest.raises(OSError):
        half.writeblocks(0, b"b" * 16, 0)
    assert bytes(half.data[:16]) == b"b" * 8 + b"a" * 8
    with pytest.raises(OSError):
        half.ioctl(6, 2)  # dead: every later program or erase refused
    assert bytes(half.data[32:48]) == b"c" * 16 and half.ops == 2
    buf = bytearray(16)
    half.readblocks(2, buf)  # reads still work: the image can be inspected
    assert buf == b"c" * 16
