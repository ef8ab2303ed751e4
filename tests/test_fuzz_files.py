"""Fuzzers over the file boundary, through the real CLI entry point: no
traceback, only documented exit codes, every record untouched by a
mutation still decoded, bounded memory. Fixed seeds and budgets."""

from __future__ import annotations

import contextlib
import io
import json
import random
import time
import tracemalloc
from pathlib import Path

import cbor2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from host_tools.cli import main
from posdiag import record

RESULTS = {0, 1, 8}  # healthy, warnings, a fault (errors.exit_status)
DAMAGED = 5
TERMINAL = {"posdiag": 1, "terminal": "T1", "firmware": "0.1.0", "printer": None, "boot": 1, "drops": 0, "torn": 0}


def _records(n: int) -> list[bytes]:
    rng = random.Random(5)
    out = []
    for seq in range(1, n + 1):
        checks = [
            rng.choice([12, [1, b"", 240], [0x14, b"\x16\x12", 30, 1]]),
            rng.randrange(16),
            rng.choice([5, [4, None, None], [8, 600, 700]]),
            rng.choice([350, -20, [1, 712], [4, None]]),
            rng.choice([24000, [3, 19000, 4000]]),
        ]
        trigger = rng.randrange(4)
        rec = record.build(
            seq,
            1 + seq // 50,
            seq * 60,
            1767258000 + seq * 3600 if rng.random() < 0.8 else None,
            trigger,
            checks,
            receipt=seq if trigger == 1 else None,
            counters=[seq * 10, seq, seq * 100] if trigger == 3 else None,
        )
        out.append(record.encode(rec))
    return out


def _cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def _check(path: Path, html: Path, every: bool = True) -> tuple[int, list[int]]:
    """Every command over one file: documented codes, one-line errors, no
    traceback. The seqs decode printed."""
    code, out, err = _cli("decode", str(path), "--json")
    assert code in RESULTS | {DAMAGED}, err
    assert "Traceback" not in err and (code != DAMAGED or err.strip())
    seqs = [json.loads(line)["seq"] for line in out.splitlines()]
    if not every:
        return code, seqs
    for args in (("decode", str(path)), ("report", str(path)), ("report", str(path), "--json", "--html", str(html))):
        c, _, e = _cli(*args)
        assert c in RESULTS | {DAMAGED}, e
        assert "Traceback" not in e
    return code, seqs


def test_mutation_fuzzer_over_a_real_file(tmp_path: Path) -> None:
    recs = _records(120)
    head = cbor2.dumps(TERMINAL)
    clean = head + b"".join(recs)
    starts = [len(head) + sum(len(r) for r in recs[:i]) for i in range(len(recs))]
    rng = random.Random(20260101)
    path, html = tmp_path / "m.cbor", tmp_path / "m.html"
    inputs, damaged, deadline = 0, 0, time.monotonic() + 35
    tracemalloc.start()
    try:
        while time.monotonic() < deadline:
            data = bytearray(clean)
            touched: set[int] = set()
            for _ in range(rng.randint(1, 4)):
                pos = rng.randrange(len(data))
                kind = rng.randrange(4)
                if kind == 0:
                    data[pos] = (data[pos] + rng.choice([1, 255, 0x20, 0x80])) & 0xFF
                elif kind == 1:
                    data[pos] = rng.randrange(256)
                elif kind == 2:
                    del data[pos : pos + rng.randint(1, 8)]
                else:
                    data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
                touched.add(pos)
                if kind >= 2:
                    break  # offsets after an insert or a delete are no longer the clean file's
            path.write_bytes(bytes(data))
            code, seqs = _check(path, html, every=inputs % 4 == 0)  # text and report on every 4th
            inputs += 1
            damaged += code == DAMAGED
            # Every record wholly before the first mutation is decoded; so is
            # every record after it whose bytes were not touched (single flips).
            first = min(touched)
            expected = [i + 1 for i, s in enumerate(starts) if s + len(recs[i]) <= first]
            assert seqs[: len(expected)] == expected
            if len(touched) == 1 and kind <= 1:
                intact = {i + 1 for i, s in enumerate(starts) if not s <= first < s + len(recs[i])}
                if first >= len(head):
                    assert intact <= set(seqs), (first, sorted(intact - set(seqs)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    print(f"mutation fuzzer: {inputs} files, {damaged} exited 5, peak {peak} B")
    assert inputs >= 150 and peak < 50_000_000


def _leaf() -> st.SearchStrategy[object]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**64) + 1, max_value=2**64 - 1),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=20),
        st.binary(max_size=20),
    )


VALUES = st.recursive(
    _leaf(),
    lambda kids: st.lists(kids, max_size=5) | st.dictionaries(st.text(max_size=5), kids, max_size=4),
    max_leaves=12,
)
RECORDS = st.fixed_dictionaries(
    {
        0: st.just(1) | VALUES,
        1: st.integers(0, 2**32) | VALUES,
        2: VALUES,
        3: VALUES,
        6: st.lists(VALUES, max_size=6) | VALUES,
    },
    optional={4: VALUES, 5: st.integers(0, 300) | VALUES, 7: VALUES, 8: VALUES, 9: VALUES, 10: VALUES},
)
TERMINALS = st.fixed_dictionaries(
    {"posdiag": st.just(1) | VALUES},
    optional={
        k: VALUES
        for k in (
            "terminal",
            "firmware",
            "printer",
            "boot",
            "oldest",
            "newest",
            "drops",
            "torn",
            "counters",
            "printer_counters",
            "pulled",
            "receipts",
        )
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(terminal=TERMINALS, records=st.lists(RECORDS, max_size=4))
def test_hypothesis_fields_of_every_type(tmp_path: Path, terminal: dict, records: list[dict]) -> None:
    good = _records(2)
    try:
        body = [cbor2.dumps(rec) for rec in records]
        head = cbor2.dumps(terminal)
    except (ValueError, TypeError, OverflowError):
        return
    path = tmp_path / "h.cbor"
    path.write_bytes(head + good[0] + b"".join(body) + good[1])
    code, seqs = _check(path, tmp_path / "h.html")
    if code != DAMAGED or seqs:
        assert 2 in seqs or code == DAMAGED  # the intact record after the crafted ones
