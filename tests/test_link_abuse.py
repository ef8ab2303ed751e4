"""The diagnostics link under abuse: anyone on the cable may ask for
self-tests, but without the technician key only so often, so the log's old
fault evidence is not rotated out; with the key, as many as asked. Replayed
authenticated requests get a cached answer only for the request they were,
within its challenge."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cbor2
import pytest

from host_tools.errors import RateLimitedError
from host_tools.serial_link import Client, RefusedError, open_port
from host_tools.sim import parts
from host_tools.sim.runner import DEMO_KEY, make_terminal
from posdiag import auth, config, frame, record
from posdiag import protocol as p
from posdiag.hal import FileStorage, Parts
from posdiag.link import LinkServer
from posdiag.terminal import Terminal
from tests.wire import WirePort

from .conftest import SimProcess, posdiag_cmd

KEY = bytes.fromhex(DEMO_KEY)
HISTORY = 100  # records already on flash: with the boot record, 101 of 512
HAMMER = 520  # the 520 requests: unlimited, they rotated 128 records out


# -- over a real pty, the firmware on CPython and on MicroPython ------------------
@pytest.fixture(params=["cpython", "micropython"])
def served(request: pytest.FixtureRequest) -> Iterator[Client]:
    terminal = make_terminal(request.param, out=lambda _line: None, history=HISTORY)
    stop = threading.Event()
    thread = None
    port = None
    try:
        terminal.boot()
        thread = threading.Thread(target=terminal.serve, args=(stop,), daemon=True)
        thread.start()
        port = open_port(terminal.diag_path)
        yield Client(port, timeout=5.0)
    finally:
        if port is not None:
            port.close()
        stop.set()
        if thread is not None:
            thread.join(timeout=5)
        terminal.close()


def _info(client: Client) -> dict:
    return cbor2.loads(client.info())


def test_hammered_selftests_keep_the_old_evidence(served: Client, validate: Callable[[bytes], None]) -> None:
    client = served
    before = _info(client)
    assert (before["oldest"], before["newest"], before["drops"]) == (1, HISTORY + 1, 0)
    assert before["selftests_refused"] == 0
    started = time.monotonic()
    ran = refused = 0
    waits = set()
    for _ in range(HAMMER):
        try:
            client.request(p.CMD_SELFTEST, timeout=5.0)
            ran += 1
        except RefusedError as e:
            assert e.status == p.RATE_LIMITED
            waits.add(int.from_bytes(e.payload, "little"))
            refused += 1
    elapsed = time.monotonic() - started
    # The burst, plus one per SELFTEST_EVERY_S of the time the hammering took.
    assert p.SELFTEST_BURST <= ran <= p.SELFTEST_BURST + int(elapsed) // p.SELFTEST_EVERY_S + 1
    assert refused == HAMMER - ran
    assert waits and all(1 <= w <= p.SELFTEST_EVERY_S for w in waits)
    raw = client.info()
    validate(raw)
    after = cbor2.loads(raw)
    assert after["selftests_refused"] == refused
    assert after["drops"] == 0  # nothing rotated out
    assert (after["oldest"], after["newest"]) == (1, HISTORY + 1 + ran)  # every record older than the burst kept

    # With the key, every self-test asked for runs, none refused.
    keyed = 40
    seqs = [cbor2.loads(client.selftest(KEY))[record.K_SEQ] for _ in range(keyed)]
    assert seqs == list(range(HISTORY + 2 + ran, HISTORY + 2 + ran + keyed))
    final = _info(client)
    assert final["selftests_refused"] == refused and final["drops"] == 0 and final["oldest"] == 1


# -- the link with virtual parts and a clock that moves when told ---------------
class Bench:
    """A Terminal and its LinkServer on virtual parts; ask() sends one
    request and returns the answer's payload (status first)."""

    def __init__(self, flash: Path, **cfg: object) -> None:
        self.clock = parts.StepClock()
        counter = iter(range(1, 10**6))
        hw = Parts(
            self.clock,
            FileStorage(str(flash)),
            parts.MemoryDisplay(),
            printer=parts.MemoryPort(parts.EscPosEmulator(parts.PrinterState())),
            entropy=lambda n: next(counter).to_bytes(4, "little") * (n // 4),
        )
        self.terminal = Terminal(config.load({"tech_key": DEMO_KEY, **cfg}), hw)
        self.terminal.boot()
        self.wire = WirePort()
        self.link = LinkServer(self.wire, self.terminal)
        self.nonce = b""

    def ask(self, kind: int, req_id: int, payload: bytes = b"") -> bytes:
        self.wire.incoming += frame.encode(kind, req_id, payload)
        assert self.link.poll() == 1
        reader = frame.Reader(frame.MAX_BODY)
        answers = [bytes(reader.payload()) for b in self.wire.sent if reader.push(b)]
        self.wire.sent.clear()
        assert len(answers) == 1
        return answers[0]

    def challenge(self, req_id: int) -> bytes:
        answer = self.ask(p.CMD_CHALLENGE, req_id)
        assert answer[0] == p.OK
        self.nonce = answer[1:]
        return self.nonce

    def seqs(self) -> list[int]:
        return [s for s, _ in self.terminal.log.records()]


def test_unkeyed_selftests_run_at_most_the_burst_then_one_per_period(tmp_path: Path) -> None:
    bench = Bench(tmp_path)
    start = bench.clock.now_ms
    ran, waits, req_id = [], [], 0
    minutes = 10
    while bench.clock.now_ms - start < minutes * 60_000:  # one request every 500 ms
        req_id = (req_id + 1) & 0xFF
        answer = bench.ask(p.CMD_SELFTEST, req_id)
        if answer[0] == p.OK:
            ran.append((bench.clock.now_ms - start) // 1000)
        else:
            assert answer[0] == p.RATE_LIMITED and len(answer) == 3
            waits.append(int.from_bytes(answer[1:], "little"))
        bench.clock.sleep_ms(500)
    assert ran[: p.SELFTEST_BURST] == [0, 0, 1, 1, 2]  # the burst at once
    # Then one per SELFTEST_EVERY_S: never more than 3 in any minute.
    assert len(ran) == p.SELFTEST_BURST + (minutes * 60 - 1) // p.SELFTEST_EVERY_S
    for t in ran[p.SELFTEST_BURST :]:
        assert len([s for s in ran[p.SELFTEST_BURST :] if t <= s < t + 60]) <= 60 // p.SELFTEST_EVERY_S
    assert bench.link.selftests_refused == len(waits) == minutes * 120 - len(ran)
    assert min(waits) >= 1 and max(waits) <= p.SELFTEST_EVERY_S
    info = cbor2.loads(bench.ask(p.CMD_INFO, 1)[1:])
    assert info["selftests_refused"] == len(waits)

    # A quiet spell refills the burst, no more.
    bench.clock.sleep_ms(3600_000)
    answers = [bench.ask(p.CMD_SELFTEST, 100 + i)[0] for i in range(p.SELFTEST_BURST + 1)]
    assert answers == [p.OK] * p.SELFTEST_BURST + [p.RATE_LIMITED]


def test_keyed_selftests_are_never_limited_and_take_no_token(tmp_path: Path) -> None:
    bench = Bench(tmp_path)
    first = len(bench.seqs())
    for i in range(0, 200, 2):
        nonce = bench.challenge(i)
        answer = bench.ask(p.CMD_SELFTEST_KEY, i + 1, auth.answer(KEY, nonce, p.CMD_SELFTEST_KEY, b""))
        assert answer[0] == p.OK and cbor2.loads(answer[1:])[record.K_TRIGGER] == record.TRIGGER_REQUEST
    assert len(bench.seqs()) == first + 100
    assert bench.link.selftests_refused == 0
    # The unkeyed burst is still whole.
    assert [bench.ask(p.CMD_SELFTEST, 200 + i)[0] for i in range(p.SELFTEST_BURST)] == [p.OK] * p.SELFTEST_BURST
    # SELFTEST_KEY without a right answer runs nothing.
    bench.challenge(210)
    assert bench.ask(p.CMD_SELFTEST_KEY, 211, bytes(32)) == bytes([p.AUTH_FAILED])
    assert len(bench.seqs()) == first + 100 + p.SELFTEST_BURST


def test_hammering_a_full_log_drops_no_more_than_the_rate_allows(tmp_path: Path) -> None:
    """A small full log (2 segments of 8): without the limit, 300 requests
    would rotate every old record out many times over."""
    bench = Bench(tmp_path, log_segments=2, log_segment_records=8)
    for _ in range(14):
        bench.terminal.run_selftest(record.TRIGGER_SCHEDULE)  # the evidence
    evidence = bench.seqs()
    drops = bench.terminal.log.drops
    for i in range(300):  # 300 requests in 30 s: the burst and one more
        bench.ask(p.CMD_SELFTEST, i & 0xFF)
        bench.clock.sleep_ms(100)
    kept = bench.seqs()
    assert bench.link.selftests_refused == 300 - (p.SELFTEST_BURST + 1)
    # 15 records, then 6: the oldest segment (8 records) went once, counted.
    assert evidence == list(range(1, 16))
    assert kept == list(range(9, 16 + p.SELFTEST_BURST + 1))
    assert bench.terminal.log.drops == drops + 8


# -- replayed authenticated requests ------------------------------------------------
@pytest.fixture
def cleared(tmp_path: Path) -> tuple[Bench, bytes, bytes]:
    """A bench whose log was cleared with the key, then one record written:
    the CLEAR_LOG request's bytes (id 2) and its answer."""
    bench = Bench(tmp_path)
    nonce = bench.challenge(1)
    request = auth.answer(KEY, nonce, p.CMD_CLEAR_LOG, b"")
    answer = bench.ask(p.CMD_CLEAR_LOG, 2, request)
    assert answer == bytes([p.OK]) and bench.seqs() == []
    bench.terminal.run_selftest(record.TRIGGER_SCHEDULE)  # evidence a replay must not clear
    return bench, request, answer


def test_a_retry_within_its_challenge_gets_the_cached_answer(cleared: tuple[Bench, bytes, bytes]) -> None:
    bench, request, answer = cleared
    seqs = bench.seqs()
    # Commands that change nothing leave the cache alone.
    bench.ask(p.CMD_INFO, 3)
    bench.ask(p.CMD_PULL, 4, (0).to_bytes(4, "little") + (1024).to_bytes(2, "little"))
    bench.ask(p.CMD_CONFIG_GET, 5)
    bench.clock.sleep_ms((auth.NONCE_TTL_S - 1) * 1000)
    assert bench.ask(p.CMD_CLEAR_LOG, 2, request) == answer  # answered again, not run again
    assert bench.seqs() == seqs and bench.terminal.guard.failures == 0
    # The same kind and id with another payload is no retry.
    assert bench.ask(p.CMD_CLEAR_LOG, 2, bytes(32)) == bytes([p.AUTH_FAILED])
    assert bench.seqs() == seqs


def test_a_replay_after_a_new_challenge_fails_its_mac(cleared: tuple[Bench, bytes, bytes]) -> None:
    bench, request, _ = cleared
    seqs = bench.seqs()
    bench.challenge(3)
    assert bench.ask(p.CMD_CLEAR_LOG, 2, request) == bytes([p.AUTH_FAILED])
    assert bench.seqs() == seqs
    assert bench.terminal.guard.failures == 1  # a wrong answer to the live nonce
    assert bench.ask(p.CMD_CHALLENGE, 4) == bytes([p.LOCKED])
    # Once the lock-out is over, the replay fails again.
    bench.clock.sleep_ms(1000)
    bench.challenge(5)
    assert bench.ask(p.CMD_CLEAR_LOG, 2, request) == bytes([p.AUTH_FAILED])
    assert bench.seqs() == seqs and bench.terminal.guard.failures == 2


@pytest.mark.parametrize("between", ["selftest", "another keyed command", "challenge lapsed"])
def test_a_replay_after_other_commands_gets_no_cached_answer(cleared: tuple[Bench, bytes, bytes], between: str) -> None:
    bench, request, _ = cleared
    if between == "selftest":
        assert bench.ask(p.CMD_SELFTEST, 3)[0] == p.OK
    elif between == "another keyed command":
        nonce = bench.challenge(3)
        assert bench.ask(p.CMD_RECEIPTS, 4, auth.answer(KEY, nonce, p.CMD_RECEIPTS, b""))[0] == p.OK
    else:
        bench.clock.sleep_ms(auth.NONCE_TTL_S * 1000)
    seqs = bench.seqs()
    assert bench.ask(p.CMD_CLEAR_LOG, 2, request) == bytes([p.AUTH_FAILED])  # no nonce to answer
    assert bench.seqs() == seqs and bench.terminal.guard.failures == 0


def test_a_retried_challenge_after_its_validity_gets_a_fresh_nonce(tmp_path: Path) -> None:
    bench = Bench(tmp_path)
    first = bench.challenge(7)
    bench.clock.sleep_ms((auth.NONCE_TTL_S - 1) * 1000)
    assert bench.ask(p.CMD_CHALLENGE, 7)[1:] == first  # a retry: the same nonce
    bench.clock.sleep_ms(1000)
    second = bench.challenge(7)  # the same retry, but the nonce has lapsed
    assert second != first
    assert bench.ask(p.CMD_CLEAR_LOG, 8, auth.answer(KEY, second, p.CMD_CLEAR_LOG, b"")) == bytes([p.OK])


@pytest.mark.parametrize("wait_s, status", [(auth.NONCE_TTL_S - 1, p.OK), (auth.NONCE_TTL_S, p.AUTH_FAILED)])
def test_a_nonce_answers_only_within_its_validity(tmp_path: Path, wait_s: int, status: int) -> None:
    bench = Bench(tmp_path)
    nonce = bench.challenge(1)
    bench.clock.sleep_ms(wait_s * 1000)
    assert bench.ask(p.CMD_CLEAR_LOG, 2, auth.answer(KEY, nonce, p.CMD_CLEAR_LOG, b"")) == bytes([status])
    assert bench.terminal.guard.failures == 0  # a lapsed nonce is no wrong key


def test_a_replay_after_a_new_challenge_over_a_pty(served: Client) -> None:
    """The same over the simulated terminal's real port, on both runtimes."""
    client = served
    nonce = client.request(p.CMD_CHALLENGE)
    request = auth.answer(KEY, nonce, p.CMD_CLEAR_LOG, b"")
    client.request(p.CMD_CLEAR_LOG, request)
    recorded = (client._req_id, request)
    client.selftest(KEY)  # evidence after the clear
    newest = _info(client)["newest"]
    client.request(p.CMD_CHALLENGE)  # a new challenge: the recorded request is stale
    port = client._port
    port.write(frame.encode(p.CMD_CLEAR_LOG, *recorded))
    reader = frame.Reader(frame.MAX_BODY)
    answer = None
    deadline = time.monotonic() + 5
    while answer is None and time.monotonic() < deadline:
        for b in port.read(64):
            if reader.push(b):
                answer = bytes(reader.payload())
    assert answer == bytes([p.AUTH_FAILED])
    info = _info(client)
    assert (info["oldest"], info["newest"], info["auth_failures"]) == (newest, newest, 1)


class _LinkAsSerial:
    """A pyserial-like port whose far end is a LinkServer, for Client."""

    def __init__(self, bench: Bench) -> None:
        self.bench = bench
        self.answers = bytearray()

    @property
    def in_waiting(self) -> int:
        return len(self.answers)

    def write(self, data: bytes) -> int:
        self.bench.wire.incoming += data
        self.bench.link.poll()
        self.answers += self.bench.wire.sent
        self.bench.wire.sent.clear()
        return len(data)

    def read(self, n: int) -> bytes:
        data, self.answers = bytes(self.answers[:n]), self.answers[n:]
        return data


def test_the_host_falls_back_to_selftest_on_a_terminal_without_selftest_key(tmp_path: Path) -> None:
    bench = Bench(tmp_path)

    class OldLink(LinkServer):  # firmware from before SELFTEST_KEY
        def _dispatch(self, kind, req):  # noqa: ANN001, ANN202
            return (p.UNKNOWN_COMMAND, b"") if kind == p.CMD_SELFTEST_KEY else super()._dispatch(kind, req)

    bench.link = OldLink(bench.wire, bench.terminal)
    client = Client(_LinkAsSerial(bench), timeout=0.2)  # type: ignore[arg-type]
    seq = cbor2.loads(client.selftest(KEY))[record.K_SEQ]
    assert seq == bench.seqs()[-1]
    assert bench.link.selftests_refused == 0


def test_the_host_tells_how_long_to_wait(tmp_path: Path) -> None:
    bench = Bench(tmp_path)
    client = Client(_LinkAsSerial(bench), timeout=0.2)  # type: ignore[arg-type]
    for _ in range(p.SELFTEST_BURST):
        client.selftest()
    bench.clock.sleep_ms(3000)
    with pytest.raises(RateLimitedError) as refused:
        client.selftest()
    wait = p.SELFTEST_EVERY_S - bench.clock.uptime_s() + bench.link._refilled
    assert refused.value.exit_code == 6 and refused.value.hint.startswith(f"wait {wait} s,")


# -- the command line ----------------------------------------------------------------
def posdiag(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(posdiag_cmd(*args), capture_output=True, text=True, timeout=60)


def test_posdiag_selftest_says_to_wait_or_give_the_key(start_sim: Callable[..., SimProcess]) -> None:
    sim = start_sim()
    port = open_port(sim.port)
    try:
        client = Client(port, timeout=5.0)
        for _ in range(p.SELFTEST_BURST):
            client.selftest()
        with pytest.raises(RateLimitedError):
            client.selftest()
        # The terminal keeps its last SELFTEST answer for a retry of the same
        # request: the next process's first SELFTEST has a random id, equal
        # to this one's 1 time in 256 (docs/serial-protocol.md), and would be
        # answered from it, uncounted. A CHALLENGE takes its place.
        client.request(p.CMD_CHALLENGE)
    finally:
        port.close()
    limited = posdiag("selftest", sim.port, "--json")
    assert limited.returncode == 6 and limited.stdout == ""
    line = limited.stderr.strip()
    assert line.count("\n") == 0 and "wait" in line and "--key" in line, line
    keyed = posdiag("selftest", sim.port, "--json", "--key", DEMO_KEY)
    assert keyed.returncode == 0, keyed.stderr
    assert json.loads(keyed.stdout)["trigger"] == "request"
    info = json.loads(posdiag("info", sim.port, "--json").stdout)
    assert info["selftests_refused"] == 2
