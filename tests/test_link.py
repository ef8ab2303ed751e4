"""The diagnostics link between the host client (pyserial) and the terminal's
LinkServer, over a real pseudo-terminal, in one process."""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from host_tools.errors import BadDataError
from host_tools.pull import pull_log
from host_tools.serial_link import Client, open_port
from host_tools.sim.runner import SimulatedTerminal
from posdiag import frame
from posdiag import protocol as p
from tests.wire import WirePort


@pytest.fixture
def sim() -> Iterator[SimulatedTerminal]:
    terminal = SimulatedTerminal(out=lambda _line: None)
    terminal.boot()
    stop = threading.Event()
    thread = threading.Thread(target=terminal.serve, args=(stop,), daemon=True)
    thread.start()
    yield terminal
    stop.set()
    thread.join(timeout=5)
    terminal.close()


@pytest.fixture
def client(sim: SimulatedTerminal) -> Iterator[Client]:
    port = open_port(sim.diag_path)
    yield Client(port, timeout=1.0)
    port.close()


def _exchange(port, wire: bytes) -> bytes:  # noqa: ANN001
    port.write(wire)
    reader = frame.Reader()
    while True:
        data = port.read(1)
        assert data, "no answer"
        if reader.push(data[0]):
            return bytes(reader.payload())


def test_info_and_pull(client: Client) -> None:
    item = cbor2.loads(client.info())
    assert item["terminal"] == "SIM-0001" and item["newest"] == 1
    log = pull_log(client)
    assert log.seqs() == [1]


def test_selftest_on_request_adds_a_record(client: Client) -> None:
    rec = cbor2.loads(client.selftest())
    assert rec[1] == 2 and rec[5] == 2  # seq 2, trigger "request"
    assert pull_log(client).seqs() == [1, 2]


def test_retried_selftest_is_answered_not_run_again(sim: SimulatedTerminal) -> None:
    port = open_port(sim.diag_path, timeout=2)
    try:
        wire = frame.encode(p.CMD_SELFTEST, 77)
        first = _exchange(port, wire)
        again = _exchange(port, wire)  # the host lost the answer and asks again
        assert first == again
        fresh = _exchange(port, frame.encode(p.CMD_SELFTEST, 78))
        assert cbor2.loads(fresh[1:])[1] == cbor2.loads(first[1:])[1] + 1
    finally:
        port.close()
    assert [s for s, _ in sim.terminal.log.records()] == [1, 2, 3]


def test_failed_command_answers_failed_and_link_keeps_serving(sim: SimulatedTerminal, client: Client) -> None:
    def broken(_since: int = 0):  # noqa: ANN202
        raise OSError(5, "flash read error")

    working = sim.terminal.log.records
    sim.terminal.log.records = broken  # type: ignore[method-assign]
    with pytest.raises(BadDataError, match="failed"):
        client.pull_batch(0)
    assert sim.link.failures == 1
    sim.terminal.log.records = working  # type: ignore[method-assign]  # flash back
    assert cbor2.loads(client.info())["terminal"] == "SIM-0001"


def test_unknown_command_and_bad_request(sim: SimulatedTerminal) -> None:
    port = open_port(sim.diag_path, timeout=2)
    try:
        assert _exchange(port, frame.encode(0x55, 1)) == bytes([p.UNKNOWN_COMMAND])
        assert _exchange(port, frame.encode(p.CMD_PULL, 2, b"\x01")) == bytes([p.BAD_REQUEST])
    finally:
        port.close()


def test_pull_batches_stay_within_the_frame_limit(sim: SimulatedTerminal, client: Client) -> None:
    for _ in range(80):
        sim.terminal.run_selftest(3)
    batch = client.pull_batch(0)
    assert p.MAX_PAYLOAD - 40 < len(batch) + 1 <= p.MAX_PAYLOAD
    assert pull_log(client).seqs() == list(range(1, 82))


def test_protocol_limits_fit_each_other() -> None:
    from posdiag import auth, receipt

    assert p.MAX_PAYLOAD + frame.OVERHEAD == frame.MAX_BODY
    # A RECEIPT answer (status, total, chunk) fits one frame; total holds any receipt.
    assert 1 + p.RECEIPT_ANSWER_SIZE + p.RECEIPT_CHUNK < p.MAX_PAYLOAD
    assert receipt.MAX_RECEIPT < 1 << (8 * p.RECEIPT_ANSWER_SIZE)
    # The largest request the terminal takes is a CONFIG_SET of the largest text.
    assert frame.OVERHEAD + auth.MAC_LEN + p.CONFIG_TEXT_MAX == p.REQUEST_MAX
    assert p.REQUEST_MAX - frame.OVERHEAD - auth.MAC_LEN >= p.RECEIPT_ARGS_SIZE


def test_the_largest_settings_text_passes_and_one_byte_more_is_refused_before_sending(
    sim: SimulatedTerminal, client: Client
) -> None:
    """CONFIG_TEXT_MAX is what the terminal's LinkServer really accepts (its
    reader's fixed buffer): the host refuses more before sending anything."""
    import json

    from host_tools.errors import UsageError
    from host_tools.sim.runner import DEMO_KEY

    key = bytes.fromhex(DEMO_KEY)
    base = "https://x.example/r/"

    def changes(size: int) -> dict:
        padding = size - len(json.dumps({"receipt_url": base}))
        return {"receipt_url": base + "r" * padding}

    largest = changes(p.CONFIG_TEXT_MAX)
    assert len(json.dumps(largest).encode()) == p.CONFIG_TEXT_MAX
    client.config_set(largest, key)
    assert client.config_get()["receipt_url"] == largest["receipt_url"]
    assert sim.terminal.cfg["receipt_url"] == largest["receipt_url"]

    challenges = sim.terminal.guard.issued
    too_large = changes(p.CONFIG_TEXT_MAX + 1)
    with pytest.raises(UsageError, match=f"at most {p.CONFIG_TEXT_MAX} at once"):
        client.config_set(too_large, key)
    assert sim.terminal.guard.issued == challenges  # not even a CHALLENGE went out
    assert client.config_get()["receipt_url"] == largest["receipt_url"]


@pytest.fixture(scope="module")
def quiet_terminal(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    from host_tools.sim import parts
    from posdiag import config
    from posdiag.hal import FileStorage, Parts
    from posdiag.terminal import Terminal

    hw = Parts(
        parts.StepClock(),
        FileStorage(str(tmp_path_factory.mktemp("flash"))),
        parts.MemoryDisplay(),
        printer=parts.MemoryPort(parts.EscPosEmulator(parts.PrinterState())),
    )
    terminal = Terminal(config.load(), hw)
    terminal.boot()
    return terminal


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.binary(max_size=3000)
    | st.lists(st.sampled_from([b"\x00", frame.encode(1, 5), b"\x01\x02\x03"]), max_size=50).map(b"".join)
)
def test_terminal_side_survives_any_bytes(quiet_terminal, data: bytes) -> None:  # noqa: ANN001
    from posdiag.link import LinkServer

    port = WirePort(data)
    link = LinkServer(port, quiet_terminal)
    size = len(link._reader._buf)
    link.poll()
    assert len(link._reader._buf) == size  # the fixed buffer never grew
    assert link.failures == 0
    # Whatever it answered is well-formed frames.
    reader = frame.Reader()
    answers = [b for b in port.sent if reader.push(b)]
    assert reader.errors == 0
    assert len(answers) == port.sent.count(0)


DOCS = Path(__file__).resolve().parent.parent / "docs"


def _commands() -> dict[str, int]:
    return {name[4:]: value for name, value in vars(p).items() if name.startswith("CMD_")}


def test_protocol_doc_table_says_which_commands_need_the_key_and_are_limited() -> None:
    """serial-protocol.md's command table against protocol.py, so the docs
    cannot drift from the code again (RECOVER was documented keyless)."""
    text = (DOCS / "serial-protocol.md").read_text()
    header = "| kind | name | key | limited | request payload | response payload after the status byte |"
    assert header in text
    rows = [line.split("|")[1:5] for line in text.split(header, 1)[1].splitlines()[2:] if line.startswith("| 0x")]
    table = {name.strip(): (int(kind, 16), key.strip(), limited.strip()) for kind, name, key, limited in rows}
    commands = _commands()
    assert set(table) == set(commands)
    for name, (kind, key, limited) in table.items():
        assert kind == commands[name], name
        assert key == ("yes" if kind in p.AUTHENTICATED else "no"), name
        assert limited == ("yes" if kind in p.LIMITED else "no"), name


def test_firmware_doc_security_table_agrees_with_the_code() -> None:
    text = (DOCS / "firmware.md").read_text()
    header = "| command | needs the key | why |"
    lines = text.split(header, 1)[1].splitlines()[2:]
    rows = [line.split("|")[1:3] for line in itertools.takewhile(lambda line: line.startswith("|"), lines)]
    commands = _commands()
    seen: list[str] = []
    for cell, key in rows:
        names = [w for w in re.findall(r"\b[A-Z][A-Z_]+\b", cell) if w in commands]
        assert names, cell
        for name in names:
            assert key.strip() == ("yes" if commands[name] in p.AUTHENTICATED else "no"), name
        seen += names
    assert sorted(seen) == sorted(commands)  # each command in exactly one row
