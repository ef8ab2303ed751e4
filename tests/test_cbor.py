"""The firmware's CBOR encoder: golden bytes, agreement with cbor2."""

from __future__ import annotations

import cbor2
import pytest

from posdiag import cbor, record

HEALTHY = record.build(
    1000,
    50,
    1,
    1764000000,
    record.TRIGGER_BOOT,
    [[0, b"\x16\x12\x12\x12", 5], 0, [0, 35, None], [0, 352], [0, 24010, 40]],
)
# Golden bytes, written out by hand from RFC 8949 so a change in the encoder
# or the record layout shows here first.
HEALTHY_HEX = (
    "a6"  # map(6)
    "0001"  # 0: version 1
    "011903e8"  # 1: seq 1000
    "021832"  # 2: boot 50
    "0301"  # 3: uptime 1 s
    "041a69248100"  # 4: time 1764000000
    "06"  # 6: checks
    "85"  # [printer, paper, host, head, power], each healthy: its key measurement
    "05"  # printer: 5 ms for DLE EOT 1-4
    "00"  # paper: no flags
    "1823"  # host: connected in 35 ms
    "190160"  # head: 35.2 C
    "195dca"  # power: 24010 mV
)


def test_healthy_record_golden_bytes(validate) -> None:  # noqa: ANN001
    data = record.encode(HEALTHY)
    validate(data)
    assert data.hex() == HEALTHY_HEX
    assert len(data) == 30


def test_all_failing_record_within_64_bytes(validate) -> None:  # noqa: ANN001
    # Every flag of every check, the largest values a record can hold.
    rec = record.build(
        70000,
        300,
        86400,
        1764000000,
        record.TRIGGER_FAILED_PRINT,
        [[0x1FFF, b"\x7e\x7e\x7e\x7e", 65535, 4], 15, [0x3F, None, None], [7, None], [0x1F, 17000, 4100]],
        12345,
    )
    data = record.encode(rec)
    validate(data)
    assert len(data) <= 64
    assert cbor2.loads(data) == rec


VALUES = [
    0,
    23,
    24,
    255,
    256,
    65535,
    65536,
    2**32 - 1,
    2**32,
    2**64 - 1,
    -1,
    -24,
    -25,
    -256,
    -257,
    -(2**32),
    -(2**64),
    b"",
    b"\x00" * 23,
    b"x" * 24,
    b"y" * 300,
    "",
    "ascii",
    "打印纸用完",
    "x" * 70000,
    [],
    [1, [2, [3]]],
    {},
    {1: {"a": [None, True, False]}},
    None,
    True,
    False,
]


@pytest.mark.parametrize("value", VALUES, ids=[repr(v)[:20] for v in VALUES])
def test_agrees_with_cbor2(value: object) -> None:
    data = cbor.encode(value)
    assert data == cbor2.dumps(value)
    assert cbor2.loads(data) == value


def test_rejects_floats_and_unknown_types() -> None:
    for bad in (1.5, object(), {1, 2}):
        with pytest.raises(TypeError):
            cbor.encode(bad)


def test_oversized_record_is_refused() -> None:
    with pytest.raises(ValueError):
        record.encode({0: 1, 9: b"x" * 300})


def _by_encoding(d: dict) -> list:
    """RFC 8949 section 4.2.1 as written: keys by the bytes of their encodings."""
    return sorted(d, key=cbor.encode)


def test_map_keys_in_the_order_of_their_encodings() -> None:
    """_ordered_keys orders unsigned integers and ASCII text without
    encoding them; every other map falls back to the encodings. Each order
    must be the encodings' bytewise order (lengths across the 1-, 2- and
    3-byte heads, equal lengths by character)."""
    import random

    rng = random.Random(11)
    alphabet = "abAB09_-~ "
    for _ in range(300):
        n = rng.randrange(0, 16)
        kind = rng.randrange(4)
        if kind == 0:  # unsigned integers of every head size
            keys: set = {rng.choice([rng.randrange(30), rng.randrange(300), rng.randrange(2**40)]) for _ in range(n)}
        elif kind == 1:  # ASCII text, short and across the 24- and 256-byte heads
            keys = {
                "".join(rng.choice(alphabet) for _ in range(rng.choice([0, 1, 2, 5, 23, 24, 25, 255, 256, 300])))
                for _ in range(n)
            }
        elif kind == 2:  # ASCII text with one non-ASCII key among them
            keys = {"".join(rng.choice(alphabet) for _ in range(rng.randrange(6))) for _ in range(n)} | {"é", "\x7f"}
        else:  # mixed: integers, negative ones, bytes, text, booleans, null
            keys = {
                rng.choice([rng.randrange(-300, 300), "k%d" % rng.randrange(50), b"b%d" % rng.randrange(50)])
                for _ in range(n)
            } | {True, None}
        d = {k: 0 for k in keys}
        assert cbor._ordered_keys(d) == _by_encoding(d), d
        data = cbor.encode(d)
        assert cbor2.loads(data) == d


def test_a_boolean_key_sorts_as_its_encoding_not_as_an_integer() -> None:
    d = {5: "a", True: "b", 0: "c"}  # True == 1 numerically, encoded 0xf5
    assert list(cbor2.loads(cbor.encode(d))) == [0, 5, True]
