"""A bad cable (issue 10): a steady rate of damaged bytes (bits flipped,
bytes lost, bytes doubled, in both directions) between `posdiag pull` and a
simulated terminal over real ptys. The pull shrinks its batches down to one
record per frame and keeps going while anything gets through: one run
delivers every record exactly once, a dead line gives up after the
documented stretch (30 x --timeout with nothing new) with the resume hint,
and a pull cut off mid-way resumes."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from host_tools.records import PulledLog

from .conftest import SimProcess, posdiag_cmd
from .faulty_link import Damage, FaultyLink

HISTORY = 2000  # records in the log; the sim adds its boot record
ALL = list(range(1, HISTORY + 2))


def pull(port: str, out: Path, timeout: str = "0.3") -> tuple[subprocess.CompletedProcess[str], float]:
    t0 = time.monotonic()
    run = subprocess.run(
        posdiag_cmd("pull", port, "-o", str(out), "--timeout", timeout),
        capture_output=True,
        text=True,
        timeout=600,
    )
    return run, time.monotonic() - t0


@pytest.fixture
def sim(start_sim: Callable[..., SimProcess]) -> SimProcess:
    return start_sim("--history", str(HISTORY))


def clean_copy(port: str, tmp_path: Path) -> list[bytes]:
    out = tmp_path / "clean.cbor"
    run, _ = pull(port, out, "2")
    assert run.returncode == 0, run.stderr
    return PulledLog.load(str(out)).records


def assert_resume_line(run: subprocess.CompletedProcess[str]) -> None:
    line = run.stderr.strip()
    assert run.returncode == 4, run.stdout + run.stderr
    assert line.count("\n") == 0 and "Traceback" not in line and "run the same pull again" in line, line


@pytest.mark.parametrize("rate", [0.004, 0.01])
def test_a_noisy_line_delivers_every_record_in_one_run(sim: SimProcess, tmp_path: Path, rate: float) -> None:
    link = FaultyLink(sim.port, Damage.byte_errors(rate), seed=10)
    out = tmp_path / "noisy.cbor"
    try:
        run, took = pull(link.url, out)
        sent = link.to_host
    finally:
        link.close()
    assert run.returncode == 0, run.stderr
    # The line really was that bad: every kind of damage, about `rate` of the bytes.
    damaged = link.harm["flip"] + link.harm["drop"] + link.harm["dup"]
    assert link.harm["flip"] and link.harm["drop"] and link.harm["dup"], link.harm
    assert damaged > rate * sent / 2, (damaged, sent)
    got = PulledLog.load(str(out))
    assert got.damage is None
    assert got.seqs() == ALL
    assert got.records == clean_copy(sim.port, tmp_path)
    print(f"{rate:.1%} byte errors: {len(got.records)} records in one run, {took:.1f} s, {link.harm}")


def test_a_dead_line_gives_up_after_the_documented_stretch(sim: SimProcess, tmp_path: Path) -> None:
    link = FaultyLink(sim.port, Damage(), seed=4)
    link.unplug_after(to_host_bytes=20000, seconds=600)  # dead for good, mid-pull
    out = tmp_path / "dead.cbor"
    try:
        run, took = pull(link.url, out, "0.1")
    finally:
        link.close()
    assert_resume_line(run)
    assert "no new record from the terminal" in run.stderr
    # 30 x --timeout with nothing new (3 s here), then it stops: not after 4
    # tries, and not never.
    assert 3.0 <= took < 30, took
    kept = PulledLog.load(str(out)).seqs()
    assert kept and kept == list(range(1, len(kept) + 1))


def test_a_noisy_pull_cut_off_mid_way_resumes(sim: SimProcess, tmp_path: Path) -> None:
    link = FaultyLink(sim.port, Damage.byte_errors(0.01), seed=12)
    # Unplugged for longer than a pull waits with nothing new (3 s at --timeout 0.1).
    link.unplug_after(to_host_bytes=40000, seconds=5.0)
    out = tmp_path / "cut.cbor"
    try:
        first, _ = pull(link.url, out, "0.1")
        assert_resume_line(first)
        kept = PulledLog.load(str(out)).seqs()
        assert kept and kept == list(range(1, len(kept) + 1))  # a clean prefix, nothing twice
        time.sleep(2.5)  # plugged back in
        second, _ = pull(link.url, out, "0.1")
    finally:
        link.close()
    assert second.returncode == 0, second.stderr
    assert f"{len(ALL) - len(kept)} new records" in second.stdout, second.stdout
    got = PulledLog.load(str(out))
    assert got.seqs() == ALL
    assert got.records == clean_copy(sim.port, tmp_path)
