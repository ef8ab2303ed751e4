"""The technician key: HMAC challenge-response for commands that change the
terminal or read its receipts; wrong keys refused, counted, slowed down."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import cbor2
import pytest

from host_tools.records import PulledLog
from host_tools.sim.parts import StepClock
from host_tools.sim.runner import DEMO_KEY
from posdiag import auth, mac

from .conftest import SimProcess, posdiag_cmd

RECEIPT = str(Path(__file__).parent / "data" / "receipt-tea.json")


def posdiag(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(posdiag_cmd(*args), capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("key", [b"", b"k", b"x" * 64, b"y" * 100])
def test_hmac_matches_the_standard_library(key: bytes) -> None:
    msg = b"nonce" + bytes([9]) + b"args"
    assert mac.hmac_sha256(key, msg) == hmac.new(key, msg, hashlib.sha256).digest()


def guard() -> tuple[auth.Guard, StepClock]:
    clock = StepClock()
    counter = iter(range(1000))
    return auth.Guard(b"K" * 32, clock, lambda n: bytes([next(counter)]) * n), clock


def test_right_answer_once_per_challenge() -> None:
    g, _ = guard()
    nonce = g.challenge()
    payload = auth.answer(b"K" * 32, nonce, 9, b"args")
    assert g.check(9, payload) == b"args"
    assert g.check(9, payload) is None  # the nonce is spent: no replay
    assert g.failures == 0


def test_wrong_answers_are_counted_and_slowed_down() -> None:
    g, clock = guard()
    for failures, wait_ms in ((1, 1000), (2, 2000), (3, 4000)):
        nonce = g.challenge()
        assert g.check(9, auth.answer(b"wrong" * 8, nonce, 9, b"")) is None
        assert g.failures == failures
        assert g.challenge() is None  # locked
        clock.sleep_ms(wait_ms - 1)
        assert g.challenge() is None
        clock.sleep_ms(1)
        assert g.challenge() is not None


def test_answer_for_another_command_is_refused() -> None:
    g, _ = guard()
    nonce = g.challenge()
    assert g.check(10, auth.answer(b"K" * 32, nonce, 9, b"")) is None


def test_no_key_no_entropy_no_challenge() -> None:
    assert auth.Guard(b"", StepClock(), lambda n: bytes(n)).challenge() is None
    assert auth.Guard(b"K", StepClock(), None).challenge() is None


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_receipts_pulled_acknowledged_and_gone(
    start_sim: Callable[..., SimProcess], tmp_path: Path, runtime: str
) -> None:
    sim = start_sim("--fault", "paper-out", "--failed-print", RECEIPT, "--runtime", runtime)
    out = tmp_path / "receipts"
    assert json.loads(posdiag("info", sim.port, "--json").stdout)["receipts"] == 1
    result = posdiag("receipts", sim.port, "--out", str(out), "--key", DEMO_KEY)
    assert result.returncode == 0, result.stderr
    entry = json.loads((out / "SIM-0001-1.json").read_text())
    kept = entry["receipt"]
    assert kept["total"] == 13600 and kept["card"]["pan"] == "622202*********0128"
    assert cbor2.loads((out / "SIM-0001-1.cbor").read_bytes())["receipt"] == kept
    assert json.loads(posdiag("info", sim.port, "--json").stdout)["receipts"] == 0
    assert "0 pending receipts" in posdiag("receipts", sim.port, "--out", str(out), "--key", DEMO_KEY).stdout
    # The failed print's record names the journal entry.
    log = PulledLog.from_bytes(posdiag_pull(sim.port, tmp_path))
    assert cbor2.loads(log.records[-1])[7] == 1


def posdiag_pull(port: str, tmp_path: Path) -> bytes:
    out = tmp_path / "log.cbor"
    posdiag("pull", port, "-o", str(out))
    return out.read_bytes()


def test_a_lost_acknowledgement_delivers_the_receipt_once(tmp_path: Path) -> None:
    """The host saves, then crashes before its acknowledgement lands: the next
    run gets the same receipt again into the same file, and acknowledges."""
    import threading

    from host_tools import receipts
    from host_tools.serial_link import Client, open_port
    from host_tools.sim.runner import SimulatedTerminal

    sim = SimulatedTerminal(out=lambda _l: None, failed_prints=[json.loads(Path(RECEIPT).read_text())])
    sim.boot()
    stop = threading.Event()
    thread = threading.Thread(target=sim.serve, args=(stop,), daemon=True)
    thread.start()
    port = open_port(sim.diag_path)
    try:
        client = Client(port)
        key = bytes.fromhex(DEMO_KEY)
        real = client.authorised

        def crash_on_ack(kind: int, args: bytes, k: bytes) -> bytes:
            if kind == 0x0B:
                raise KeyboardInterrupt  # the laptop lid closes
            return real(kind, args, k)

        client.authorised = crash_on_ack  # type: ignore[method-assign]
        with pytest.raises(KeyboardInterrupt):
            receipts.collect(client, key, str(tmp_path), "SIM-0001")
        assert [p.name for p in sorted(tmp_path.iterdir())] == ["SIM-0001-1.cbor", "SIM-0001-1.json"]
        client.authorised = real  # type: ignore[method-assign]
        again = receipts.collect(client, key, str(tmp_path), "SIM-0001")
        assert [p.name for p in again] == ["SIM-0001-1.json"]
        assert [p.name for p in sorted(tmp_path.iterdir())] == ["SIM-0001-1.cbor", "SIM-0001-1.json"]
        assert receipts.collect(client, key, str(tmp_path), "SIM-0001") == []
    finally:
        port.close()
        stop.set()
        thread.join(5)
        sim.close()


def test_wrong_key_refused_counted_and_locked(start_sim: Callable[..., SimProcess], tmp_path: Path) -> None:
    sim = start_sim("--failed-print", RECEIPT)
    wrong = posdiag("receipts", sim.port, "--out", str(tmp_path), "--key", "00" * 32)
    assert wrong.returncode == 6 and "refused the technician key" in wrong.stderr
    assert wrong.stderr.strip().count("\n") == 0
    locked = posdiag("receipts", sim.port, "--out", str(tmp_path), "--key", DEMO_KEY)
    assert locked.returncode == 6 and "locked" in locked.stderr
    assert json.loads(posdiag("info", sim.port, "--json").stdout)["auth_failures"] == 1
    time.sleep(1.1)
    assert posdiag("receipts", sim.port, "--out", str(tmp_path), "--key", DEMO_KEY).returncode == 0
    assert list(tmp_path.glob("*.json"))


def test_key_is_needed_and_read_from_env_or_file(start_sim: Callable[..., SimProcess], tmp_path: Path) -> None:
    sim = start_sim()
    missing = posdiag("clear", sim.port, "--yes")
    assert missing.returncode == 6 and "needs the technician key" in missing.stderr
    key_file = tmp_path / "key"
    key_file.write_text(DEMO_KEY + "\n")
    assert posdiag("clear", sim.port, "--yes", "--key-file", str(key_file)).returncode == 0
    env = subprocess.run(
        posdiag_cmd("clear", sim.port, "--yes"),
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "POSDIAG_KEY": DEMO_KEY},
    )
    assert env.returncode == 0


def test_clear_log_keeps_the_sequence_going(start_sim: Callable[..., SimProcess], tmp_path: Path) -> None:
    sim = start_sim("--history", "20")
    assert posdiag("clear", sim.port, "--yes", "--key", DEMO_KEY).returncode == 0
    assert PulledLog.from_bytes(posdiag_pull(sim.port, tmp_path)).records == []
    after = json.loads(posdiag("selftest", sim.port, "--json").stdout)
    assert after["seq"] == 22  # 20 history + boot, then this one: never reused


def test_settings_changed_over_the_link_outlive_a_reboot(start_sim: Callable[..., SimProcess], tmp_path: Path) -> None:
    state = str(tmp_path / "flash")
    sim = start_sim("--state", state, "--fault", "cover-open")
    shown = posdiag("config", sim.port).stdout
    assert 'tech_key               "(set)"' in shown and DEMO_KEY not in shown  # the key never leaves
    changed = posdiag("config", sim.port, "--set", 'lang="en"', "--set", "host_slow_ms=800", "--key", DEMO_KEY)
    assert changed.returncode == 0, changed.stderr
    assert 'lang                   "en"' in changed.stdout and "host_slow_ms           800" in changed.stdout
    refused = posdiag("config", sim.port, "--set", "tech_key=00", "--key", DEMO_KEY)
    assert refused.returncode == 5 and "tech_key: not a setting a technician may change" in refused.stderr
    sim.stop()
    again = start_sim("--state", state, "--fault", "cover-open")
    posdiag("info", again.port)  # answered: the boot self-test has drawn the screen
    _, out = again.stop()
    assert "Cover is open" in out  # the boot screen, now in English


def test_a_forged_retry_does_not_read_an_authenticated_answer(tmp_path: Path) -> None:
    """The terminal replays its cached answer only to the very same request:
    the same kind and request id with another payload gets nothing."""
    import struct
    import threading

    from host_tools.serial_link import Client, open_port
    from host_tools.sim.runner import SimulatedTerminal
    from posdiag import frame
    from posdiag import protocol as p

    sim = SimulatedTerminal(out=lambda _l: None, failed_prints=[json.loads(Path(RECEIPT).read_text())])
    sim.boot()
    stop = threading.Event()
    thread = threading.Thread(target=sim.serve, args=(stop,), daemon=True)
    thread.start()
    port = open_port(sim.diag_path, timeout=1)
    try:
        client = Client(port)
        client.authorised(p.CMD_RECEIPT, struct.pack("<IH", 1, 0), bytes.fromhex(DEMO_KEY))
        forged = frame.encode(p.CMD_RECEIPT, client._req_id, bytes(32) + struct.pack("<IH", 1, 0))
        port.write(forged)
        reader = frame.Reader()
        answer = None
        while answer is None:
            data = port.read(1)
            assert data
            if reader.push(data[0]):
                answer = bytes(reader.payload())
        assert answer == bytes([p.AUTH_FAILED])
    finally:
        port.close()
        stop.set()
        thread.join(5)
        sim.close()


def test_a_terminal_without_a_key_says_so(start_sim: Callable[..., SimProcess], tmp_path: Path) -> None:
    sim = start_sim("--key", "")  # a terminal without a key
    run = posdiag("clear", sim.port, "--yes", "--key", DEMO_KEY)
    assert run.returncode == 6 and "no technician key set" in run.stderr


def test_a_right_key_resets_the_lock_out() -> None:
    g, clock = guard()
    for _ in range(5):
        g.check(9, auth.answer(b"wrong" * 8, g.challenge(), 9, b""))
        clock.sleep_ms(64000)
    assert g.check(9, auth.answer(b"K" * 32, g.challenge(), 9, b"")) == b""
    g.check(9, auth.answer(b"wrong" * 8, g.challenge(), 9, b""))
    clock.sleep_ms(1000)  # back to the first step of the series
    assert g.challenge() is not None and g.failures == 6


@pytest.mark.parametrize(
    "setting",
    ["budget_ms=true", "schedule_s=-5", "budget_ms=0", 'lang="fr"', "host_port=70000", "printer_supported=[1]"],
)
def test_settings_out_of_range_are_refused(start_sim: Callable[..., SimProcess], setting: str) -> None:
    """The terminal refuses them (sent past the host's own check), and the
    command refuses them first, naming the setting and what it accepts."""
    from host_tools.serial_link import Client, RefusedError, open_port

    sim = start_sim()
    name, _, value = setting.partition("=")
    port = open_port(sim.port)
    try:
        with pytest.raises(RefusedError, match="bad request"):
            Client(port).config_set({name: json.loads(value)}, bytes.fromhex(DEMO_KEY))
    finally:
        port.close()
    run = posdiag("config", sim.port, "--set", setting, "--key", DEMO_KEY)
    assert run.returncode == 5 and f"--set {setting} refused ({name} accepts " in run.stderr


def test_too_many_settings_at_once_is_a_clear_error(start_sim: Callable[..., SimProcess]) -> None:
    sim = start_sim()
    run = posdiag(
        "config", sim.port, "--set", "receipt_url=" + json.dumps("https://x.example/" + "r" * 300), "--key", DEMO_KEY
    )
    assert run.returncode == 2 and "split them" in run.stderr


def test_a_nonce_lapses_after_its_validity_uncounted() -> None:
    g, clock = guard()
    nonce = g.challenge()
    clock.sleep_ms(auth.NONCE_TTL_S * 1000)
    assert not g.current(g.issued)
    assert g.check(9, auth.answer(b"K" * 32, nonce, 9, b"")) is None
    assert g.failures == 0 and g.challenge() is not None  # no lock-out for a late answer


def test_only_the_latest_challenge_is_current() -> None:
    g, clock = guard()
    assert not g.current(0)  # none given yet
    g.challenge()
    first = g.issued
    clock.sleep_ms((auth.NONCE_TTL_S - 1) * 1000)
    assert g.current(first)
    g.challenge()
    assert not g.current(first) and g.current(first + 1)
