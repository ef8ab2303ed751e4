"""The hub's fast path for a records batch (records.plain_records) gives
exactly what the careful item-by-item path gives: the same rows and
terminal item, or the same refusal with the same words, for good batches,
batches damaged anywhere and batches that are CBOR but not what a terminal
writes (tags, floats, long heads, duplicate or odd keys)."""

from __future__ import annotations

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host_tools.hub import app
from host_tools.hub.app import Refusal, parse_records
from host_tools.records import decode_record, plain_records
from posdiag import hubwire
from tests.bench import SCENARIOS, make_record

KINDS = list(SCENARIOS.values())
TERMINAL = cbor2.dumps({"posdiag": 1, "terminal": "T-1", "boot": 3})


def _batch(n: int, terminal: bool = False, start: int = 1) -> bytes:
    recs = [make_record(start + i, KINDS[i % len(KINDS)], i % 4) for i in range(n)]
    return hubwire.records_head(n + terminal) + (TERMINAL if terminal else b"") + b"".join(recs)


def _outcome(body: bytes, fast: bool) -> object:
    saved = app.plain_records
    if not fast:
        app.plain_records = lambda *a: None  # type: ignore[assignment]
    try:
        return parse_records(body)
    except Refusal as e:
        return ("refused", e.status, e.error, str(e))
    finally:
        app.plain_records = saved


def _same(body: bytes) -> object:
    fast, careful = _outcome(body, True), _outcome(body, False)
    assert fast == careful, body.hex()
    return fast


def test_a_usual_batch_takes_the_fast_path() -> None:
    body = _batch(100)
    got = plain_records(body, 2, 100)
    assert got is not None and len(got) == 100
    pos = 2
    for raw, rec in got:
        assert body[pos : pos + len(raw)] == raw and rec == decode_record(raw)
        pos += len(raw)
    assert _same(body)[1]  # type: ignore[index]
    info, rows = _same(_batch(20, terminal=True))  # type: ignore[misc]
    assert info == TERMINAL and len(rows) == 20


@pytest.mark.parametrize(
    "record",
    [
        {0: 1, 1: 5, 2: 1, 3: 1, 6: [17, 0, 23, 352, 24010], 0.5: 1},  # a float key
        {0: 1, 1: 5, 2: 1, 3: 1.0, 6: [17, 0, 23, 352, 24010]},  # a float value
        {0: 1, 1: 5, 2: 1, 3: 1, 6: [17, 0, 23, 352, 24010], 4: -1},  # a time before 1970
        {0: 1, 1: 5, 2: 1, 3: 1, 6: [17, 0, 23, 352, 24010], 5: 1 << 40},  # a trigger past 31 bits
        {0: 1, 1: 1 << 40, 2: 1, 3: 1, 6: [17, 0, 23, 352, 24010]},  # a seq past 32 bits
        {0: 2, 1: 5, 2: 1, 3: 1, 6: [17, 0, 23, 352, 24010]},  # another format
        {0: 1, 1: 5, 2: 1, 3: 1, 6: [17, 0, 23, 352]},  # four checks
        {0: 1, 1: 5, 2: 1, 3: 1, 6: [17, 0, 23, 352, 24010], 99: 1},  # a key newer than this hub
        {0: 1, 1: 5, 2: True, 3: 1, 6: [17, 0, 23, 352, 24010]},  # a bool for an int
        {0: 1, 1: 5, 2: 1, 3: 1, 6: [17, 0, 23, 352, 24010], 7: cbor2.CBORTag(1, 0)},  # a tag
        {0: 1, 1: 5, 2: 1, 3: 1, 6: [17, 0, 23, 352, cbor2.CBORTag(2, b"\x01")]},  # a bignum
        {0: 1, 1: 5, 2: 1, 3: 1, 6: [17, 0, "x", 352, 24010]},  # text in a check
    ],
)
def test_records_a_terminal_does_not_write_go_the_careful_way(record: dict) -> None:
    body = _batch(3)
    odd = cbor2.dumps(record)
    _same(hubwire.records_head(4) + body[1:] + odd)
    _same(hubwire.records_head(4) + odd + body[1:])


@pytest.mark.parametrize(
    "odd",
    [
        b"\xa5\x00\x01\x01\x05\x02\x01\x03\x01\x06\x85\x11\x00\x17\x19\x01\x60\x19\x5d\xca",  # usual
        b"\xa5\x00\x01\x01\x18\x05\x02\x01\x03\x01\x06\x85\x11\x00\x17\x19\x01\x60\x19\x5d\xca",  # a long head
        b"\xa5\x00\x01\x01\x05\x02\x01\x03\x01\x06\x9f\x11\x00\x17\x19\x01\x60\x19\x5d\xca\xff",  # indefinite
        b"\xa5\x00\x01\x01\x05\x01\x01\x03\x01\x06\x85\x11\x00\x17\x19\x01\x60\x19\x5d\xca",  # a key twice
        b"\xa5\x00\x01\xf5\x05\x02\x01\x03\x01\x06\x85\x11\x00\x17\x19\x01\x60\x19\x5d\xca",  # a true key
        b"\xa5\x00\x01\x01\x05\x02\xf7\x03\x01\x06\x85\x11\x00\x17\x19\x01\x60\x19\x5d\xca",  # undefined
        b"\xa5\x00\x01\x01\x05\x02\xc1\x01\x03\x01\x06\x85\x11\x00\x17\x19\x01\x60\x19\x5d\xca",  # a date tag
        b"\xa5\x00\x01\x01\x05\x02\x01\x03\x01\x06\x85\x11\x00\x17\x19\x01\x60\xfa\x46\xbb\x94\x00",  # float32
    ],
)
def test_heads_a_terminal_does_not_write_go_the_careful_way(odd: bytes) -> None:
    body = _batch(3)
    _same(hubwire.records_head(4) + body[1:] + odd)
    _same(hubwire.records_head(4) + odd + body[1:])


@settings(max_examples=400, deadline=None)
@given(st.integers(1, 30), st.booleans(), st.data())
def test_a_batch_with_one_byte_changed_is_read_alike(n: int, terminal: bool, data: st.DataObject) -> None:
    body = bytearray(_batch(n, terminal))
    pos = data.draw(st.integers(0, len(body) - 1))
    body[pos] = data.draw(st.integers(0, 255))
    _same(bytes(body))


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 20), st.binary(max_size=12), st.integers(-3, 3))
def test_a_batch_cut_or_extended_or_miscounted_is_read_alike(n: int, extra: bytes, delta: int) -> None:
    body = _batch(n)
    _same(body + extra)
    _same(body[: max(1, len(body) - len(extra))])
    if 0 <= n + delta <= hubwire.MAX_RECORDS:
        _same(hubwire.records_head(n + delta) + body[1:])


def test_a_seq_twice_is_read_alike() -> None:
    a, b = make_record(7, KINDS[0]), make_record(7, KINDS[1])
    _same(hubwire.records_head(2) + a + a)
    _same(hubwire.records_head(2) + a + b)
