"""Damaged and hostile files: every intact record still decoded and each
damaged stretch named in one line (exit 5), a file that is no posdiag log
refused in its first kilobytes, memory flat with file size, a resumed pull
that repairs instead of dropping, HTML that runs nothing, and names from
the terminal that are data, not paths or control codes."""

from __future__ import annotations

import contextlib
import io
import os
import time
import tracemalloc
from pathlib import Path

import cbor2
import pytest

from host_tools import errors
from host_tools.cli import main
from host_tools.records import RESYNC_LIMIT, LogFile, PulledLog
from posdiag import record

TERMINAL = {"posdiag": 1, "terminal": "T1", "firmware": "0.1.0", "printer": None, "boot": 1, "drops": 0, "torn": 0}


def rec(seq: int, trigger: int = 0) -> bytes:
    checks = [[0, b"\x16\x12\x12\x12", 3], seq % 3, [0, 5], 300, 24000]
    return record.encode(record.build(seq, 1, 5, 1767258000 + seq, trigger, checks))


def log_bytes(n: int, terminal: dict = TERMINAL) -> tuple[bytes, list[int]]:
    """A pulled file of n records and the offset where each starts."""
    data = bytearray(cbor2.dumps(terminal))
    offsets = []
    for seq in range(1, n + 1):
        offsets.append(len(data))
        data += rec(seq)
    return bytes(data), offsets


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def test_first_byte_plus_one_hides_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, _ = log_bytes(302)
    f = tmp_path / "log.cbor"
    f.write_bytes(bytes([data[0] + 1]) + data[1:])
    code, out, err = run(capsys, "decode", str(f), "--json")
    assert code == errors.EXIT_BAD_DATA
    assert len(out.splitlines()) == 302  # every record, none hidden
    assert err.count("\n") == 1 and "damaged data at byte 0" in err and "up to seq 1" in err


def test_damage_in_the_middle_is_skipped_and_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, offsets = log_bytes(50)
    broken = bytearray(data)
    broken[offsets[9] : offsets[9] + 3] = b"\xff\xff\xff"  # seq 10 damaged
    broken[offsets[29] + 1] = 0x07  # seq 30: version 7, not a record of this format
    f = tmp_path / "log.cbor"
    f.write_bytes(bytes(broken))
    code, out, err = run(capsys, "decode", str(f), "--json")
    assert code == errors.EXIT_BAD_DATA
    assert len(out.splitlines()) == 48
    lines = err.strip().splitlines()
    assert len(lines) == 2  # one line per damaged stretch
    assert f"byte {offsets[9]}" in lines[0] and "seq 9" in lines[0] and "up to seq 11" in lines[0]
    assert "bytes skipped" in lines[0] and "2 damaged stretches" in lines[1]


def test_records_after_damaged_records_keep_their_fields() -> None:
    data, offsets = log_bytes(10)
    broken = data[: offsets[4] + 2] + data[offsets[5] :]  # seq 5 cut short
    log = PulledLog.from_bytes(broken)
    assert log.seqs() == [1, 2, 3, 4, 6, 7, 8, 9, 10]
    assert log.records[4:] == [rec(s) for s in range(6, 11)]
    assert log.stretches[0].before == 4 and log.stretches[0].after == 6


@pytest.mark.parametrize(
    "content",
    [
        b'{"posdiag": 1, "records": []}' + b" " * 5000,  # JSON
        b"\x89PNG\r\n\x1a\n" + os.urandom(5000),
        bytes(range(256)) * 20,
        b"\xa0" * 100_000,  # one-byte maps
        b"",
    ],
    ids=["json", "png", "bytes", "one-byte-maps", "empty"],
)
def test_not_a_posdiag_log_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    f = tmp_path / "x"
    f.write_bytes(content)
    code, out, err = run(capsys, "decode", str(f))
    assert code == errors.EXIT_BAD_DATA and out == "" and err.count("\n") == 1


def test_huge_file_of_one_byte_maps_is_refused_fast(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "maps"
    with open(f, "wb") as out:
        for _ in range(100):
            out.write(b"\xa0" * (1 << 20))  # 100 MB
    t0 = time.perf_counter()
    code, _, err = run(capsys, "decode", str(f))
    assert code == errors.EXIT_BAD_DATA and "not a posdiag log" in err
    assert time.perf_counter() - t0 < 2


def test_long_junk_after_the_terminal_item_is_given_up_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "junk"
    f.write_bytes(cbor2.dumps(TERMINAL) + rec(1) + b"\xa5\x00\x01" * (RESYNC_LIMIT // 2))
    t0 = time.perf_counter()
    code, out, err = run(capsys, "decode", str(f), "--json")
    assert code == errors.EXIT_BAD_DATA and len(out.splitlines()) == 1
    assert "the rest of the file was not read" in err and time.perf_counter() - t0 < 20


def _peak_decoding(path: Path) -> tuple[int, int]:
    tracemalloc.start()
    try:
        with LogFile(str(path)) as log:
            count = sum(1 for _ in log.records())
        return count, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_decode_memory_is_flat_with_file_size(tmp_path: Path) -> None:
    one = b"".join(rec(s) for s in range(1, 1001))
    small, large = tmp_path / "small.cbor", tmp_path / "large.cbor"
    small.write_bytes(cbor2.dumps(TERMINAL) + one)
    with open(large, "wb") as f:
        f.write(cbor2.dumps(TERMINAL))
        for _ in range(5_000_000 // len(one)):  # 5 MB, records repeated
            f.write(one)
    n_small, peak_small = _peak_decoding(small)
    n_large, peak_large = _peak_decoding(large)
    assert n_large > 150_000
    print(f"decode peak: {peak_small} B for {n_small} records, {peak_large} B for {n_large} records")
    assert peak_large < 1_000_000 and peak_large < 2 * peak_small + 300_000


class _Lines(io.TextIOBase):
    lines = 0

    def write(self, text: str) -> int:
        self.lines += text.count("\n")
        return len(text)


def test_decode_cli_memory_is_flat(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    peaks = []
    for n in (2_000, 8_000):
        data, _ = log_bytes(n)
        f = tmp_path / f"{n}.cbor"
        f.write_bytes(data)
        sink = _Lines()  # printed lines counted, not kept
        tracemalloc.start()
        try:
            with contextlib.redirect_stdout(sink):
                code = main(["decode", str(f), "--json"])
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
        assert code in (0, 1, 8) and sink.lines == n
    print(f"decode --json peaks: {peaks}")
    assert peaks[1] < peaks[0] * 1.5 + 200_000


# -- fields of every wrong type ---------------------------------------------

HOSTILE_TERMINAL = {
    "posdiag": 1,
    "terminal": "\x1b]0;owned\x07\x1b[2J\u202etxe.exe",
    "firmware": ["not", "text"],
    "printer": {"name": "\x1b[31mred", "model": -1, "raw": {"maker": b"\x9b31m"}},
    "boot": 2**63,
    "oldest": "x",
    "newest": 1.5,
    "drops": None,
    "torn": True,
    "counters": [1, 2],
    "printer_counters": {"a": 1},
    "pulled": 2**63,
    "future": {"nested": [1, 2]},
}


def test_wrong_types_everywhere_are_shown_as_unknown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    odd = cbor2.dumps({0: 1, 1: 7, 2: "x", 3: -1, 4: float("nan"), 5: 99, 6: [[1, 2], None, "a", [1], 1.5], 8: [1]})
    data = cbor2.dumps(HOSTILE_TERMINAL) + rec(1) + odd + rec(2)
    f = tmp_path / "odd.cbor"
    f.write_bytes(data)
    code, out, err = run(capsys, "decode", str(f), "--json")
    assert code in (0, 1, 8)
    import json

    diags = [json.loads(line) for line in out.splitlines()]
    assert [d["seq"] for d in diags] == [1, 7, 2]
    assert diags[1]["trigger"] == 99 and diags[1]["time"] is None
    assert set(diags[1]["unreadable"]) >= {"boot", "uptime", "time", "counters", "checks.printer", "checks.power"}
    assert diags[1]["checks"]["printer"]["status"] == "unknown"
    for args in (("decode", str(f)), ("report", str(f)), ("report", str(f), "--json")):
        code, out, err = run(capsys, *args)
        assert code in (0, 1, 8), err
        if "--json" not in args:
            assert "\x1b" not in out and "\u202e" not in out and "\x07" not in out and "\x9b" not in out
            assert "\\x1b" in out


# -- a resumed pull repairs, never drops -------------------------------------


class FakeTerminal:
    """Just enough of a Client for pull_to_file: INFO, and no newer record."""

    retried = False

    def __init__(self, terminal: dict) -> None:
        self._info = cbor2.dumps(terminal)

    def info(self) -> bytes:
        return self._info

    def pull_batch(self, since: int, size: int) -> bytes:
        return b""

    def try_pull(self, since: int, size: int) -> bytes:
        return b""

    def __getattr__(self, name: str) -> object:
        return 0


def test_resumed_pull_keeps_the_records_after_the_damage(tmp_path: Path) -> None:
    from host_tools.pull import pull_to_file

    data, offsets = log_bytes(302)
    f = tmp_path / "log.cbor"
    broken = bytearray(data)
    broken[offsets[150] : offsets[150] + 4] = b"\xff\xfe\xfd\xfc"
    f.write_bytes(bytes(broken))
    said: list[str] = []
    log, added = pull_to_file(FakeTerminal(TERMINAL), str(f), warn=said.append)  # type: ignore[arg-type]
    assert added == 0 and len(said) == 1 and "repaired" in said[0] and "301 intact records" in said[0]
    again = PulledLog.load(str(f))
    assert again.damage is None and again.seqs() == [s for s in range(1, 303) if s != 151]
    assert again.records == [rec(s) for s in range(1, 303) if s != 151]


def test_resumed_pull_leaves_a_file_it_cannot_read_whole(tmp_path: Path) -> None:
    from host_tools.pull import pull_to_file

    f = tmp_path / "log.cbor"
    content = cbor2.dumps(TERMINAL) + rec(1) + b"\x00" * (RESYNC_LIMIT + 10) + rec(2)
    f.write_bytes(content)
    with pytest.raises(errors.BadDataError, match="left as it is"):
        pull_to_file(FakeTerminal(TERMINAL), str(f), warn=print)  # type: ignore[arg-type]
    assert f.read_bytes() == content


# -- HTML: escaped, and nothing runs -----------------------------------------

XSS = (
    '</style></title><script>document.title="PWNED";document.body.innerHTML="PWNED"</script>'
    '<img src=x onerror="document.title=\'PWNED\'"><a href="javascript:alert(1)">x</a>'
)


def test_crafted_report_runs_no_script_in_chromium(tmp_path: Path) -> None:
    from .test_ereceipt import browse

    terminal = {
        **TERMINAL,
        "terminal": XSS,
        "firmware": XSS,
        "printer": {"name": XSS, "maker": XSS, "firmware": XSS, "raw": {"maker": XSS.encode()}},
        "note": XSS,
    }
    f = tmp_path / "xss.cbor"
    f.write_bytes(cbor2.dumps(terminal) + rec(1) + rec(2, trigger=3))
    page = tmp_path / "report.html"
    assert main(["report", str(f), "--html", str(page)]) in (0, 1, 8)
    text = page.read_text()
    assert "<script" not in text and "<img" not in text and "</style></title>" not in text
    assert "Content-Security-Policy" in text and "default-src 'none'" in text
    dom = browse(page.as_uri(), tmp_path, "--dump-dom")
    assert dom.returncode == 0, dom.stderr
    assert "<title>posdiag report" in dom.stdout and "<title>PWNED" not in dom.stdout
    assert "<script" not in dom.stdout and "PWNED</body>" not in dom.stdout and "<img" not in dom.stdout
    assert "&lt;script&gt;" in dom.stdout  # shown as text


# -- names from the terminal --------------------------------------------------


@pytest.mark.parametrize(
    "terminal", ["../../x", "/abs", "C:\\x", "..", "", "x" * 5000, "a\x00b", "\x1b[2Jc", ".hidden", "a.b.c"]
)
def test_receipt_file_names_stay_in_their_folder(tmp_path: Path, terminal: str) -> None:
    from host_tools.receipts import file_base

    folder = tmp_path / "out"
    folder.mkdir()
    base = file_base(folder, terminal, 7)
    assert base.parent == folder and base.name.endswith("-7") and len(base.name) <= 80
    assert base.with_suffix(".json").parent == folder and base.with_suffix(".json").name == base.name + ".json"
    assert all(ch.isalnum() or ch in "_-" for ch in base.name)


def test_control_characters_are_escaped_in_text_output() -> None:
    from host_tools.identity import safe_text
    from host_tools.render import info_text

    for bad in ("\x1b[31m", "\x07", "\x9b2J", "\u202e", "\u2066", "\x7f", "\x00"):
        assert safe_text(f"a{bad}b").isprintable()
    assert safe_text("终端 T-1") == "终端 T-1"
    shown = info_text({"terminal": "\x1b]0;x\x07", "firmware": "\u202e1", "printer": {"name": "\x9b1m"}}, "en")
    assert shown.isprintable() or all(line.isprintable() for line in shown.splitlines())


def test_stream_source_and_name() -> None:
    data, _ = log_bytes(3)
    with LogFile(io.BytesIO(data), "mem") as log:
        assert len(list(log.records())) == 3 and log.terminal["terminal"] == "T1"
