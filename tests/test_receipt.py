"""Card data in a failed receipt: masked to at most 6 + 4 digits, or refused."""

from __future__ import annotations

import re

import cbor2
import pytest

from posdiag import ereceipt
from posdiag.receipt import ReceiptError, mask_pan, sanitize


@pytest.mark.parametrize(
    "pan,masked",
    [
        ("4111111111111111", "411111******1111"),
        ("4111 1111 1111 1111", "411111******1111"),
        ("6222021234567890128", "622202*********0128"),
        ("378282246310005", "378282*****0005"),
        ("411111******1111", "411111******1111"),  # masked already: unchanged
        ("1234", "****"),
        ("123456789012", "********9012"),  # too short for a PAN: last four only
    ],
)
def test_mask_pan(pan: str, masked: str) -> None:
    assert mask_pan(pan) == masked


def luhn_valid_numbers(text: str) -> list[str]:
    out = []
    for run in re.findall(r"\d{13,19}", text):
        digits = [int(d) for d in run[::-1]]
        total = sum(d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(digits))
        if total % 10 == 0:
            out.append(run)
    return out


def test_card_number_in_a_free_text_field_is_masked_too() -> None:
    kept = sanitize({"note": "customer card 4111111111111111 declined", "card": {"pan": "5555555555554444"}})
    assert kept["note"] == "customer card 411111******1111 declined"
    assert kept["card"]["pan"] == "555555******4444"
    assert luhn_valid_numbers(repr(kept)) == []


@pytest.mark.parametrize("written", ["4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111"])
def test_grouped_card_numbers_in_free_text_are_masked(written: str) -> None:
    kept = sanitize({"note": f"paid with {written}, thanks"})["note"]
    # The grouping stays; only the first six and last four digits show.
    assert kept.startswith("paid with ") and kept.endswith(", thanks")
    assert re.sub(r"\D", "", kept) == "4111111111" and "*" * 2 in kept
    assert luhn_valid_numbers(kept) == []


@pytest.mark.parametrize(
    "text",
    ["2026-11-25 4111111111111111", "paid 4111111111111111 2 items", "4111111111111111-01", "Tel 021 4111111111111111"],
)
def test_digits_around_a_card_number_do_not_hide_it(text: str) -> None:
    kept = sanitize({"note": text})["note"]
    assert "4111111111111111" not in kept.replace(" ", "").replace("-", "")
    assert luhn_valid_numbers(kept) == []


def test_words_that_only_contain_a_refused_word_are_fine() -> None:
    fields = {"shipping": "x", "spinach": 2, "tracking_no": "SF123", "pinyin": "cha"}
    assert sanitize(fields) == fields


def test_non_text_field_names_are_refused() -> None:
    with pytest.raises(ReceiptError):
        sanitize({1: "x"})


def test_non_card_numbers_are_kept() -> None:
    # 16 digits that fail the Luhn check: an order number, not a card.
    assert sanitize({"order": "1234567812345678"})["order"] == "1234567812345678"


@pytest.mark.parametrize(
    "field", ["cvv", "CVC", "track2", "pin_block", "track1", "card_cvv", "cvc2", "pin", "track2_data"]
)
def test_sensitive_fields_are_refused(field: str) -> None:
    with pytest.raises(ReceiptError, match="refused"):
        sanitize({"card": {"pan": "4111111111111111", field: "x"}})


def test_journal_entry_holds_no_full_card_number() -> None:
    fields = sanitize({"card": {"brand": "Visa", "pan": "4111111111111111"}, "items": [{"name": "x", "qty": 1}]})
    data = ereceipt.entry(fields, "ab" * 16, 1800000000, "https://r.example/r/")
    assert b"4111111111111111" not in data
    entry = cbor2.loads(data)
    assert entry["receipt"]["card"]["pan"] == "411111******1111"
    assert entry["url"] == "https://r.example/r/" + "ab" * 16


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ReceiptError):
        sanitize(["not", "a", "map"])
    with pytest.raises(ReceiptError, match="too deep"):
        nested: dict = {"x": 1}
        for _ in range(20):
            nested = {"x": nested}
        sanitize(nested)
    with pytest.raises(ReceiptError):
        sanitize({"raw": b"bytes"})


@pytest.mark.parametrize(
    "value,kept",
    [(1.5, "1.5"), (0.13, "0.13"), (136.0, "136.0"), (-2.25, "-2.25"), (0.0, "0.0"), (99999999999.0, "99999999999.0")],
)
def test_ordinary_floats_are_kept_as_text(value: float, kept: str) -> None:
    # The journal's CBOR has no floats: a weight or a price sent as a float
    # stays readable as text instead of refusing the receipt.
    assert sanitize({"qty": value}) == {"qty": kept}


@pytest.mark.parametrize("value", [4111111111111111.0, 6.222021234567890128e18, 378282246310005.0, 123456789012.0])
def test_a_float_of_twelve_or_more_digits_is_masked_as_a_card_number(value: float) -> None:
    kept = sanitize({"ref": value})["ref"]
    assert isinstance(kept, str) and "*" in kept and len(re.sub(r"\D", "", kept)) <= 10
