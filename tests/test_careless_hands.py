"""Careless hands (issue 10): ordinary mistakes end in one line with a hint
and a documented exit code, never a traceback; the simulator checks all it
is given before it starts and keeps its --state folder to itself; the
commands that diagnose exit 0 healthy, 1 warnings only, 8 a fault."""

from __future__ import annotations

import json
import os
import pty
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import cbor2
import pytest

from host_tools import errors
from host_tools.sim.runner import DEMO_KEY, LOCK_FILE
from posdiag import record

from .conftest import ROOT, SimProcess, posdiag_cmd

RECEIPT = ROOT / "tests" / "data" / "receipt-tea.json"
NO_PORT = "/dev/does-not-exist"  # the argument checks come before the port is opened
WRONG_KEY = "00" * 32


def run(*args: str, timeout: float = 60, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(posdiag_cmd(*args), capture_output=True, text=True, timeout=timeout, **kwargs)  # type: ignore[call-overload]


def assert_one_line(result: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert result.returncode == code, (result.returncode, result.stderr)
    line = result.stderr.strip()
    assert "Traceback" not in result.stderr
    assert line.count("\n") == 0 and line.startswith("posdiag: "), line
    for word in words:
        assert word in line, (word, line)


# -- output paths ---------------------------------------------------------------


@pytest.mark.parametrize(
    "args,words",
    [
        (["pull", NO_PORT, "-o", "{tmp}/missing/log.cbor"], ["does not exist"]),
        (["pull", NO_PORT, "-o", ""], ["empty"]),
        (["pull", NO_PORT, "-o", "{tmp}"], ["is a folder"]),
        (["report", "{tmp}/x.cbor", "--html", "{tmp}/missing/r.html"], ["does not exist"]),
        (["report", "{tmp}/x.cbor", "--html", "{tmp}"], ["is a folder"]),
        (["report", "{tmp}/x.cbor", "--html", ""], ["empty"]),
        (["receipts", NO_PORT, "--out", "{tmp}/x.cbor", "--key", DEMO_KEY], ["is a file"]),
        (["receipts", NO_PORT, "--out", "", "--key", DEMO_KEY], ["empty"]),
        (["receipts", NO_PORT, "--out", "{tmp}/missing/deeper", "--key", DEMO_KEY], ["does not exist"]),
    ],
    ids=[
        "pull-missing-folder",
        "pull-empty",
        "pull-folder",
        "html-missing-folder",
        "html-folder",
        "html-empty",
        "receipts-file",
        "receipts-empty",
        "receipts-missing-parent",
    ],
)
def test_output_paths(tmp_path: Path, args: list[str], words: list[str]) -> None:
    (tmp_path / "x.cbor").write_bytes(b"")
    result = run(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert_one_line(result, errors.EXIT_USAGE, *words)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_output_in_an_unwritable_folder(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    assert_one_line(run("pull", NO_PORT, "-o", str(locked / "log.cbor")), errors.EXIT_USAGE, "cannot be written")


# -- arguments ------------------------------------------------------------------


@pytest.mark.parametrize(
    "args,code,words",
    [
        (["pull", NO_PORT, "-o", "x.cbor", "--since", "-1"], errors.EXIT_USAGE, ["--since", "0 or more"]),
        (["diagnose", "socket://localhost"], errors.EXIT_USAGE, ["has no port", "socket://HOST:PORT"]),
        (["info", "socket://192.168.1.20"], errors.EXIT_USAGE, ["has no port"]),
        (["printer", "socket://10.0.0.9"], errors.EXIT_USAGE, ["has no port"]),
        (["serve", ".", "--port", "70000"], errors.EXIT_USAGE, ["--port", "0..65535"]),
        (["serve", ".", "--port", "-1"], errors.EXIT_USAGE, ["--port"]),
        (["sim", "--tcp", "65536"], errors.EXIT_USAGE, ["--tcp", "0..65535"]),
        (["sim", "--history", "-3"], errors.EXIT_USAGE, ["--history"]),
        (["nonsense"], errors.EXIT_USAGE, ["invalid choice"]),
    ],
)
def test_bad_arguments(args: list[str], code: int, words: list[str]) -> None:
    assert_one_line(run(*args), code, *words)


def test_serve_errors_at_start(tmp_path: Path) -> None:
    assert_one_line(run("serve", str(tmp_path / "none")), errors.EXIT_USAGE, "not a folder")
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = str(taken.getsockname()[1])
        assert_one_line(run("serve", str(tmp_path), "--port", port), errors.EXIT_PORT, "cannot listen", "another")
        assert_one_line(run("sim", "--tcp", port), errors.EXIT_PORT, "--tcp", "another port")
    assert_one_line(
        run("serve", str(tmp_path), "--host", "no-such-host.invalid"), errors.EXIT_PORT, "cannot listen", "--host"
    )


def test_a_json_file_given_to_decode(tmp_path: Path) -> None:
    f = tmp_path / "receipt.json"
    f.write_text(json.dumps({"receipt": {"total": 100}}))
    assert_one_line(run("decode", str(f)), errors.EXIT_BAD_DATA)


# -- the simulator checks everything before it starts ---------------------------


@pytest.mark.parametrize(
    "args,code,words",
    [
        (["--key", "zz"], errors.EXIT_USAGE, ["--key is not hex"]),
        (["--key", "0011"], errors.EXIT_USAGE, ["--key is 2 bytes", "at least 16"]),
        (["--fault", "paper-gone"], errors.EXIT_USAGE, ["cannot inject fault 'paper-gone'"]),
        (["--failed-print", "{tmp}/none.json"], errors.EXIT_USAGE, ["cannot read the receipt"]),
        (["--failed-print", "{tmp}/bad.json"], errors.EXIT_USAGE, ["is not JSON"]),
        (["--failed-print", "{tmp}/list.json"], errors.EXIT_USAGE, ["not a JSON object"]),
        (["--printer", "/dev/no-such-printer"], errors.EXIT_PORT, ["--printer", "cannot be opened"]),
        (["--printer", "socket://printer.local"], errors.EXIT_USAGE, ["has no port"]),
        (["--state", "{tmp}/file"], errors.EXIT_USAGE, ["--state", "cannot be used"]),
    ],
)
def test_sim_refuses_bad_arguments_before_starting(
    tmp_path: Path, args: list[str], code: int, words: list[str]
) -> None:
    (tmp_path / "bad.json").write_text("{nope")
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "file").write_text("x")
    state = tmp_path / "fresh-state"
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "--state" not in args:
        args += ["--state", str(state)]
    result = run("sim", *args, timeout=30)
    assert_one_line(result, code, *words)
    assert result.stdout == ""  # no port printed: nothing started
    if "--printer" not in args:
        assert not state.exists()  # checked before anything was made


def test_two_simulators_never_share_a_state_folder(start_sim: Callable[..., SimProcess], tmp_path: Path) -> None:
    """Today two simulators on one folder wrote seq 510 twice."""
    state = tmp_path / "terminal"
    first = start_sim("--state", str(state))
    assert (state / LOCK_FILE).read_text().strip() == str(first.proc.pid)
    second = run("sim", "--state", str(state), timeout=30)
    assert_one_line(second, errors.EXIT_USAGE, "in use by another simulator", f"pid {first.proc.pid}")
    assert first.proc.poll() is None  # the first goes on
    first.stop()
    assert not (state / LOCK_FILE).exists()  # released on the way out


def test_a_stale_lock_is_taken_over(start_sim: Callable[..., SimProcess], tmp_path: Path) -> None:
    state = tmp_path / "terminal"
    state.mkdir()
    gone = subprocess.Popen(["true"])
    gone.wait()
    (state / LOCK_FILE).write_text(f"{gone.pid}\n")  # a simulator that was killed
    sim = start_sim("--state", str(state))
    assert (state / LOCK_FILE).read_text().strip() == str(sim.proc.pid)


def test_a_terminal_without_a_key_on_request(start_sim: Callable[..., SimProcess]) -> None:
    sim = start_sim("--key", "")
    result = run("clear", sim.port, "--yes", "--key", DEMO_KEY)
    assert_one_line(result, errors.EXIT_AUTH, "no technician key set")


# -- settings, confirmation, the key --------------------------------------------


@pytest.mark.parametrize(
    "setting,words",
    [
        ("budget_ms=5", ["--set budget_ms=5 refused", "a whole number from 100 to 10000"]),
        ('lang="fr"', ['lang accepts "zh" or "en"']),
        ("host_port=true", ["host_port accepts a whole number from 1 to 65535"]),
        ("printer_supported=[1]", ["a list of text"]),
        ("tech_key=00", ["tech_key: not a setting a technician may change", "receipt_ttl_s"]),
        ("pin_cover=4", ["pin_cover: not a setting"]),
    ],
)
def test_config_set_says_which_setting_and_what_it_accepts(setting: str, words: list[str]) -> None:
    # Checked on the host before the port is opened: the terminal would only say "bad request".
    assert_one_line(run("config", NO_PORT, "--set", setting, "--key", DEMO_KEY), errors.EXIT_BAD_DATA, *words)


def _newest(port: str) -> int:
    return json.loads(run("info", port, "--json").stdout)["newest"]


def test_clear_piped_needs_yes(start_sim: Callable[..., SimProcess]) -> None:
    sim = start_sim()
    newest = _newest(sim.port)
    assert_one_line(run("clear", sim.port, "--key", DEMO_KEY, stdin=subprocess.DEVNULL), errors.EXIT_USAGE, "--yes")
    assert _newest(sim.port) == newest


def at_a_terminal(args: list[str], typed: bytes, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """posdiag with a terminal (a pty, line mode: Ctrl-D is end of input)
    as its stdin, typed into it."""
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(posdiag_cmd(*args), stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        os.write(master, typed)
        out, err = proc.communicate(timeout=timeout)
    finally:
        os.close(master)
        os.close(slave)
    return subprocess.CompletedProcess(args, proc.returncode, out.decode(), err.decode())


def test_clear_at_a_terminal_asks_first(start_sim: Callable[..., SimProcess]) -> None:
    sim = start_sim()
    kept = at_a_terminal(["clear", sim.port, "--key", DEMO_KEY], b"n\n")
    assert kept.returncode == 0 and "Remove every diagnostics record" in kept.stdout
    assert "nothing removed" in kept.stdout
    before = json.loads(run("info", sim.port, "--json").stdout)
    assert before["oldest"] is not None and before["oldest"] <= before["newest"]
    cleared = at_a_terminal(["clear", sim.port, "--key", DEMO_KEY], b"y\n")
    assert cleared.returncode == 0 and "cleared" in cleared.stdout, cleared.stderr
    assert run("clear", sim.port, "--yes", "--key", DEMO_KEY).returncode == 0


def test_a_wrong_key_never_creates_the_output_folder(start_sim: Callable[..., SimProcess], tmp_path: Path) -> None:
    sim = start_sim("--failed-print", str(RECEIPT))
    out = tmp_path / "receipts"
    assert_one_line(run("receipts", sim.port, "--out", str(out), "--key", WRONG_KEY), errors.EXIT_AUTH)
    assert not out.exists()


# -- troubleshoot at a terminal -------------------------------------------------


def test_troubleshoot_asks_again_on_an_answer_it_does_not_understand() -> None:
    got = at_a_terminal(["troubleshoot", "--json"], b"maybe\nyes\nsure\ny\n")
    assert got.returncode == 0, got.stderr
    assert got.stdout.count("[y/n]") == 4  # blank? (maybe) blank? roll change? (sure) roll change?
    assert got.stderr.count("y or n, please") == 2
    result = json.loads(got.stdout.splitlines()[-1].split("] ")[-1])
    assert result["answers"] == {"blank": True, "roll_change": True}
    assert result["causes"][0]["id"] == "paper-loaded-backwards"


def test_troubleshoot_ctrl_d_is_one_line() -> None:
    got = at_a_terminal(["troubleshoot"], b"\x04")
    assert_one_line(got, errors.EXIT_INTERRUPTED, "stopped at the question blank", "--answer blank=yes|no")


def test_troubleshoot_ctrl_c_is_one_line() -> None:
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            posdiag_cmd("troubleshoot"), stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None
        time.sleep(1.5)  # at the first question
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        os.close(master)
        os.close(slave)
    got = subprocess.CompletedProcess([], proc.returncode, out, err)
    assert_one_line(got, errors.EXIT_INTERRUPTED, "stopped at the question blank")


# -- Ctrl-C in a pull -------------------------------------------------------------


def test_ctrl_c_in_a_pull_keeps_the_partial_file_and_says_how_to_resume(
    start_sim: Callable[..., SimProcess], tmp_path: Path
) -> None:
    sim = start_sim("--history", "3000")
    out = tmp_path / "log.cbor"
    proc = subprocess.Popen(posdiag_cmd("pull", sim.port, "-o", str(out)), stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while (not out.exists() or out.stat().st_size < 3000) and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    got = subprocess.CompletedProcess([], proc.returncode, "", err)
    assert_one_line(got, errors.EXIT_INTERRUPTED, "pull interrupted after", f"{out} is kept", "resume")
    resumed = run("pull", sim.port, "-o", str(out))
    assert resumed.returncode == 0, resumed.stderr
    items = list(_items(out.read_bytes()))
    seqs = [cbor2.loads(raw)[record.K_SEQ] for raw in items[1:]]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))) and len(seqs) > 3000


def _items(data: bytes):  # noqa: ANN202
    import io

    stream = io.BytesIO(data)
    while stream.tell() < len(data):
        start = stream.tell()
        cbor2.load(stream)
        yield data[start : stream.tell()]


# -- the exit status of the commands that diagnose --------------------------------


@pytest.mark.parametrize(
    "fault,status",
    [(None, errors.EXIT_HEALTHY), ("paper-near-end", errors.EXIT_WARNINGS), ("paper-out", errors.EXIT_FAULT)],
)
def test_diagnose_selftest_and_decode_exit_status(
    start_sim: Callable[..., SimProcess], tmp_path: Path, fault: str | None, status: int
) -> None:
    sim = start_sim(*(["--fault", fault] if fault else []))
    diagnosed = run("diagnose", sim.port, "--json")
    assert diagnosed.returncode == status, diagnosed.stderr
    tested = run("selftest", sim.port, "--json", "--key", DEMO_KEY)
    assert tested.returncode == status, tested.stderr
    out = tmp_path / "log.cbor"
    assert run("pull", sim.port, "-o", str(out)).returncode == 0
    assert run("decode", str(out)).returncode == status


def test_decode_exits_with_the_worst_record_of_the_file(tmp_path: Path) -> None:
    """decode judges the whole file: one faulted record anywhere gives 8,
    even when the newest is healthy (diagnose and selftest judge the newest)."""
    terminal = {"posdiag": 1, "terminal": "T1", "firmware": "0.1.0", "printer": None, "boot": 1}

    def rec(seq: int, paper: int) -> bytes:  # paper flags: 0 none, 1 paper-end (fault), 2 near-end (warning)
        return record.encode(record.build(seq, 1, 0, None, 0, [[0, b"\x16\x12\x12\x12", 3], paper, [0, 5]]))

    for papers, status in [
        ((0, 0), errors.EXIT_HEALTHY),
        ((2, 0), errors.EXIT_WARNINGS),
        ((1, 2, 0), errors.EXIT_FAULT),
        ((0, 1), errors.EXIT_FAULT),
    ]:
        f = tmp_path / "log.cbor"
        f.write_bytes(cbor2.dumps(terminal) + b"".join(rec(i + 1, p) for i, p in enumerate(papers)))
        got = run("decode", str(f), "--json")
        assert got.returncode == status, (papers, got.stderr)
        assert len(got.stdout.splitlines()) == len(papers)
    missing = run("decode", str(tmp_path / "nonexistent.cbor"))
    assert missing.returncode == errors.EXIT_BAD_DATA  # errors keep their own codes


def test_the_result_codes_never_collide_with_the_error_codes() -> None:
    results = {errors.EXIT_HEALTHY, errors.EXIT_WARNINGS, errors.EXIT_FAULT}
    failures = {errors.EXIT_USAGE, errors.EXIT_PORT, errors.EXIT_NO_ANSWER, errors.EXIT_BAD_DATA, errors.EXIT_AUTH}
    assert not results & (failures | {errors.EXIT_INTERRUPTED})
    assert errors.exit_status([]) == 0
    assert errors.exit_status([{"causes": [{"severity": "warning"}]}, {"causes": []}]) == 1
    assert errors.exit_status([{"causes": [{"severity": "warning"}]}, {"causes": [{"severity": "fault"}]}]) == 8
    readme = (ROOT / "README.md").read_text()
    for code in (1, 8, 130):
        assert f"{code} " in readme


def test_the_readme_lists_every_command_and_which_need_the_key() -> None:
    from host_tools.cli import COMMANDS

    readme = (ROOT / "README.md").read_text()
    rows = {line.split("`")[1].split()[1]: line for line in readme.splitlines() if line.startswith("| `posdiag ")}
    assert set(COMMANDS) <= set(rows), set(COMMANDS) - set(rows)
    for name in ("receipts", "clear", "recover"):
        assert rows[name].split(" | ")[1] == "yes", rows[name]
