"""ESC/POS real-time status parsing: every bit of DLE EOT 1-4, invalid bytes."""

import pytest

from posdiag import catalog as c
from posdiag import escpos

# Every bit posdiag interprets: (n, bit value, flag) from the fault catalogue.
BITS = [
    (1, 0x08, c.P_OFFLINE),
    (1, 0x20, c.P_WAIT_RECOVERY),
    (1, 0x40, c.P_FEED),
    (2, 0x04, c.P_COVER),
    (2, 0x08, c.P_FEED),
    (2, 0x20, c.P_PAPER_END),
    (3, 0x04, c.P_MECHANICAL),
    (3, 0x08, c.P_CUTTER),
    (3, 0x20, c.P_UNRECOVERABLE),
    (3, 0x40, c.P_AUTO_RECOVER),
    (4, 0x04, c.P_NEAR_END),
    (4, 0x08, c.P_NEAR_END),
    (4, 0x20, c.P_PAPER_END),
    (4, 0x40, c.P_PAPER_END),
]


def test_fixed_bits_define_a_status_byte() -> None:
    valid = [b for b in range(256) if escpos.is_status(b)]
    # 0xx1xx10: four free bits -> 16 valid bytes, each with the fixed bits right.
    assert len(valid) == 16
    assert all(b & 0x01 == 0 and b & 0x80 == 0 and b & 0x02 and b & 0x10 for b in valid)


@pytest.mark.parametrize("b", [0x00, 0xFF, 0x11, 0x13, 0x10, 0x14, 0x03, 0x92, 0x13 | 0x80])
def test_noise_is_not_a_status(b: int) -> None:
    # XON/XOFF, an ASB first byte (0xx1xx00), all-ones and all-zeros.
    assert not escpos.is_status(b)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_all_clear_reply_has_no_flags(n: int) -> None:
    assert escpos.status_flags(n, 0x12) == 0


@pytest.mark.parametrize("n,bit,flag", BITS)
def test_each_bit_sets_its_flag_only(n: int, bit: int, flag: int) -> None:
    assert escpos.status_flags(n, 0x12 | bit) == flag
    # The same bit in another query's reply means something else, or nothing.
    for other in {1, 2, 3, 4} - {n}:
        assert escpos.status_flags(other, 0x12 | bit) != flag or any(q == other and f == flag for q, _, f in BITS)


def test_drawer_pin_bit_is_not_a_fault() -> None:
    assert escpos.status_flags(1, 0x16) == 0


def test_flags_from_raw_combines_replies() -> None:
    raw = bytes([0x1E, 0x16, 0x12, 0x7E])  # offline; cover open; paper end + near end
    assert escpos.flags_from_raw(raw) == c.P_OFFLINE | c.P_COVER | c.P_PAPER_END | c.P_NEAR_END


def test_flags_from_raw_marks_garbage_garbled() -> None:
    assert escpos.flags_from_raw(bytes([0x16, 0xFF])) == c.P_GARBLED
