"""Bad input gets one clear line and a distinct exit code, never a traceback,
and a bad record in a file does not hide the good ones before it."""

from __future__ import annotations

import os
import pty
import subprocess
import tty
from pathlib import Path

import cbor2
import pytest

from host_tools import errors
from posdiag import record

from .conftest import posdiag_cmd

TERMINAL = {
    "posdiag": 1,
    "terminal": "T1",
    "firmware": "0.1.0",
    "printer": None,
    "boot": 1,
    "oldest": 1,
    "newest": 1,
    "drops": 0,
    "torn": 0,
}
GOOD = record.encode(record.build(1, 1, 0, None, 0, [[0, b"\x16\x12\x12\x12", 3], 0, [0, 5]]))


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(posdiag_cmd(*args), capture_output=True, text=True, timeout=30)


def assert_one_line(result: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert result.returncode == code, result.stderr
    line = result.stderr.strip()
    assert line.count("\n") == 0 and line.startswith("posdiag: "), line
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in line


@pytest.mark.parametrize(
    "content,words",
    [
        (b"", ["empty"]),
        (b"\xff\xff\xff", ["malformed CBOR"]),
        (cbor2.dumps([1, 2]), ["terminal item"]),
        (cbor2.dumps(TERMINAL) + GOOD[:-3], ["malformed CBOR", "record at byte 0"]),
        (cbor2.dumps(TERMINAL) + cbor2.dumps([1]), ["not a posdiag record"]),
    ],
    ids=["empty", "not-cbor", "no-terminal", "truncated-record", "foreign-item"],
)
def test_corrupt_files(tmp_path: Path, content: bytes, words: list[str]) -> None:
    f = tmp_path / "bad.cbor"
    f.write_bytes(content)
    assert_one_line(run("decode", str(f)), errors.EXIT_BAD_DATA, *words)


def test_damaged_tail_keeps_the_good_records(tmp_path: Path) -> None:
    f = tmp_path / "tail.cbor"
    f.write_bytes(cbor2.dumps(TERMINAL) + GOOD + GOOD[:5])
    result = run("decode", str(f), "--json")
    assert_one_line(result, errors.EXIT_BAD_DATA, "after 1 good records")
    assert len(result.stdout.splitlines()) == 1  # the good record was still decoded


def test_missing_file(tmp_path: Path) -> None:
    assert_one_line(run("decode", str(tmp_path / "nope.cbor")), errors.EXIT_BAD_DATA, "cannot read")


def test_port_that_does_not_exist() -> None:
    assert_one_line(run("diagnose", "/dev/does-not-exist"), errors.EXIT_PORT, "cannot open")


def test_terminal_that_does_not_answer() -> None:
    master, slave = pty.openpty()  # a port with nothing behind it
    tty.setraw(slave)
    try:
        result = run("diagnose", os.ttyname(slave), "--timeout", "0.2")
    finally:
        os.close(master)
        os.close(slave)
    assert_one_line(result, errors.EXIT_NO_ANSWER, "no answer", "cable")


def test_port_held_by_another_program() -> None:
    from host_tools.serial_link import open_port

    master, slave = pty.openpty()
    tty.setraw(slave)
    held = open_port(os.ttyname(slave))
    try:
        assert_one_line(run("diagnose", os.ttyname(slave)), errors.EXIT_PORT, "another program holds the port")
    finally:
        held.close()
        os.close(master)
        os.close(slave)


def test_host_tool_needs_nothing_linux_only() -> None:
    """Technicians' laptops are mostly Windows: outside the simulator (sim/,
    mpruntime/) the host tool's own code imports nothing POSIX-only and
    never forks; pyserial picks its own backend per platform."""
    import ast
    from pathlib import Path

    posix_only = {"pty", "termios", "fcntl", "tty", "resource", "grp", "pwd"}
    root = Path(__file__).resolve().parent.parent / "host_tools"
    for path in root.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module.split(".")[0]]
            assert not posix_only & set(names), f"{path.name} imports {posix_only & set(names)}"
            if isinstance(node, ast.Attribute) and node.attr in ("fork", "forkpty", "openpty"):
                raise AssertionError(f"{path.name} uses os.{node.attr}")
