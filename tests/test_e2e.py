"""End to end: `posdiag sim` in one process, the posdiag command in another,
talking over a real pseudo-terminal opened with pyserial."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import cbor2
import pytest
from posdiag import catalog as c

from host_tools.records import PulledLog
from host_tools.sim.faults import FAULTS

from .conftest import SimProcess, posdiag_cmd


def posdiag(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        posdiag_cmd(*args), capture_output=True, text=True, timeout=60, check=check
    )


def diagnose_json(port: str) -> dict:
    out = posdiag("diagnose", port, "--json").stdout.strip().splitlines()
    assert len(out) == 1, out
    return json.loads(out[0])


def test_healthy_terminal_has_no_cause(start_sim: Callable[..., SimProcess]) -> None:
    sim = start_sim()
    diag = diagnose_json(sim.port)
    assert diag["causes"] == []
    assert diag["trigger"] == "boot" and diag["seq"] == 1
    assert all(check["status"] == "ok" for check in diag["checks"].values())
    assert diag["bytes"] <= 32


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_injected_fault_is_the_top_cause(start_sim: Callable[..., SimProcess], fault: str) -> None:
    sim = start_sim("--fault", fault)
    diag = diagnose_json(sim.port)
    top = diag["causes"][0]
    assert top["id"] == fault
    assert top["category"] == c.CATEGORIES[c.CAUSES[c.cause_code(fault)][1]]
    assert top["steps"] and top["hint"]["zh"] and top["hint"]["en"]
    assert diag["bytes"] <= 64


def test_two_faults_rank_printer_before_network(start_sim: Callable[..., SimProcess]) -> None:
    sim = start_sim("--fault", "host-unreachable", "--fault", "cover-open")
    ids = [cause["id"] for cause in diagnose_json(sim.port)["causes"]]
    assert ids == ["cover-open", "host-unreachable"]


def test_pull_decode_and_schema(
    start_sim: Callable[..., SimProcess], tmp_path: Path, validate
) -> None:  # noqa: ANN001
    sim = start_sim("--fault", "paper-out")
    out = tmp_path / "log.cbor"
    result = posdiag("pull", sim.port, "-o", str(out))
    assert "pulled 1 records" in result.stdout
    # A plain CBOR sequence: any CBOR tool reads it item by item.
    data = out.read_bytes()
    log = PulledLog.from_bytes(data)
    assert log.terminal["terminal"] == "SIM-0001" and "pulled" in log.terminal
    validate(cbor2.dumps(log.terminal))
    for raw in log.records:
        validate(raw)
    decoded = [
        json.loads(line) for line in posdiag("decode", str(out), "--json").stdout.splitlines()
    ]
    assert [d["causes"][0]["id"] for d in decoded] == ["paper-out"]
    text = posdiag("decode", str(out), "--lang", "zh").stdout
    assert "打印纸用完" in text and "维修步骤" in text


def test_sim_prints_screen_and_exits_cleanly_on_sigterm(
    start_sim: Callable[..., SimProcess],
) -> None:
    sim = start_sim("--fault", "cover-open", "--lang", "en")
    posdiag("diagnose", sim.port)  # the boot self-test has run once this answers
    code, out = sim.stop()
    assert code == 0
    assert "Cover is open" in out


def test_sequence_persists_across_reboots(
    start_sim: Callable[..., SimProcess], tmp_path: Path
) -> None:
    state = str(tmp_path / "flash")
    for boot in (1, 2):
        sim = start_sim("--state", state)
        diag = diagnose_json(sim.port)
        assert (diag["seq"], diag["boot"]) == (boot, boot)
        sim.stop()


def test_unknown_fault_is_one_clear_line() -> None:
    result = posdiag("sim", "--fault", "toaster-on-fire", check=False)
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0 and "toaster-on-fire" in result.stderr
    assert "Traceback" not in result.stderr
