"""The serial link under a damaged cable, over real ptys and over TCP
(socket://): every record arrives exactly once, or the tool stops with one
clear line and a later run resumes without loss."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from host_tools.records import PulledLog

from .conftest import SimProcess, posdiag_cmd
from .faulty_link import Damage, FaultyLink

HISTORY = 400


def pull(port: str, out: Path, timeout: str = "0.3") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        posdiag_cmd("pull", port, "-o", str(out), "--timeout", timeout),
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(params=["pty", "socket"])
def terminal(request: pytest.FixtureRequest, start_sim: Callable[..., SimProcess]) -> Iterator[tuple[str, SimProcess]]:
    args = ["--history", str(HISTORY)]
    if request.param == "socket":
        args += ["--tcp", "0"]
    yield request.param, start_sim(*args)


def clean_copy(port: str, tmp_path: Path) -> list[bytes]:
    out = tmp_path / "clean.cbor"
    assert pull(port, out, "2").returncode == 0
    return PulledLog.load(str(out)).records


def pull_until_done(port: str, out: Path, tries: int = 6) -> list[subprocess.CompletedProcess[str]]:
    """Run pull again after each interruption, as a technician would."""
    runs = []
    for _ in range(tries):
        runs.append(pull(port, out))
        if runs[-1].returncode == 0:
            return runs
        time.sleep(0.5)
    raise AssertionError(f"pull never finished: {[r.stderr for r in runs]}")


def assert_one_line_errors(runs: list[subprocess.CompletedProcess[str]]) -> None:
    for run in runs[:-1]:
        line = run.stderr.strip()
        assert run.returncode in (3, 4), run.stderr
        assert line.count("\n") == 0 and "Traceback" not in line and "run the same pull again" in line


def test_noisy_line_delivers_every_record_exactly_once(terminal: tuple[str, SimProcess], tmp_path: Path) -> None:
    kind, sim = terminal
    damage = Damage(flip=3e-4, drop=3e-4, dup=3e-4, console=0.02, stall=0.01, stall_s=0.4)
    link = FaultyLink(sim.port, damage, seed=11)
    out = tmp_path / "noisy.cbor"
    try:
        runs = pull_until_done(link.url, out)
    finally:
        link.close()
    # The line really was bad: every kind of damage happened.
    assert all(link.harm.values()), link.harm
    assert_one_line_errors(runs)
    got = PulledLog.load(str(out))
    assert got.damage is None
    assert got.seqs() == list(range(1, HISTORY + 2))
    assert got.records == clean_copy(sim.port, tmp_path)


def test_cable_pulled_mid_transfer_then_resumed(terminal: tuple[str, SimProcess], tmp_path: Path) -> None:
    kind, sim = terminal
    link = FaultyLink(sim.port, Damage(), seed=3)
    # Longer than a pull keeps trying with nothing new (30 x --timeout: 3 s).
    link.unplug_after(to_host_bytes=4000, seconds=4.0)
    out = tmp_path / "cut.cbor"
    try:
        first = pull(link.url, out, "0.1")
        assert first.returncode in (3, 4), first.stdout + first.stderr
        line = first.stderr.strip()
        assert line.count("\n") == 0 and "run the same pull again" in line and "Traceback" not in line
        kept = PulledLog.load(str(out)).seqs()
        assert kept and kept == list(range(1, len(kept) + 1))  # a clean prefix, nothing twice
        time.sleep(1.5)  # plugged back in
        runs = pull_until_done(link.url, out)
    finally:
        link.close()
    assert "new records" in runs[-1].stdout
    got = PulledLog.load(str(out))
    assert got.seqs() == list(range(1, HISTORY + 2))
    assert got.records == clean_copy(sim.port, tmp_path)
