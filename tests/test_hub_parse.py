"""The hub's boundary without a server: whatever bytes a batch holds, the
parsers answer with records, receipts or a Refusal (a 4xx), never another
exception (which would be a 500)."""

from __future__ import annotations

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host_tools.ereceipt import render_html
from host_tools.hub.app import Refusal, parse_receipts, parse_records
from host_tools.hub.store import ReceiptRow
from posdiag import hubwire
from posdiag import record as r

HEALTHY = [[0, b"\x16\x12\x12\x12", 17], 0, [0, 23, 31], [0, 352], [0, 24010, 40]]
GOOD = bytes(r.encode(r.build(1, 1, 1, 1767258000, r.TRIGGER_BOOT, HEALTHY)))


def _either(parse, body: bytes) -> None:  # noqa: ANN001
    try:
        got = parse(body)
    except Refusal as e:
        assert 400 <= e.status < 500
        return
    for row in got if isinstance(got, list) else ():
        if isinstance(row, ReceiptRow):  # what the page handler does with a stored receipt
            entry = cbor2.loads(row.entry)
            entry["token"], entry["url"] = "0" * 32, (row.url_base or "") + "0" * 32
            assert render_html(entry).startswith("<!doctype html>")


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_are_records_or_a_4xx(body: bytes) -> None:
    _either(parse_records, body)
    _either(parse_records, b"\x81" + body)
    _either(lambda b: parse_receipts(b, 0), body)
    _either(lambda b: parse_receipts(b, 0), b"\x81\x82\x01" + body)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(GOOD) - 1), st.integers(0, 255))
def test_a_record_with_one_byte_changed_is_stored_or_refused(pos: int, value: int) -> None:
    bad = bytearray(GOOD)
    bad[pos] = value
    _either(parse_records, b"\x81" + bytes(bad))


values = st.recursive(
    st.none() | st.booleans() | st.integers(-(1 << 64) + 1, (1 << 64) - 1) | st.text(max_size=20)
    | st.binary(max_size=8) | st.floats(allow_nan=True),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8) | st.integers(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(values, values, values)
def test_any_journal_entry_is_kept_or_a_4xx(fields: object, token: object, expires: object) -> None:
    entry = cbor2.dumps({"receipt": fields, "token": token, "expires": expires, "url": "x"})
    _either(lambda b: parse_receipts(b, 0), b"\x81" + hubwire.receipt_head(1) + entry)
    if isinstance(fields, dict):
        entry = cbor2.dumps({"receipt": fields, "token": "0" * 32, "expires": None, "url": "x" + "0" * 32})
        _either(lambda b: parse_receipts(b, 0), b"\x81" + hubwire.receipt_head(1) + entry)


def test_a_seq_past_32_bits_is_refused() -> None:
    big = cbor2.dumps({0: 1, 1: 1 << 40, 2: 1, 3: 1, 6: [17, 0, 23, 352, 24010]})
    assert parse_records(b"\x81" + big.replace(b"\x1b\x00\x00\x01\x00\x00\x00\x00\x00", b"\x05"))[1]
    try:
        parse_records(b"\x81" + big)
        raise AssertionError("accepted")
    except Refusal as e:
        assert e.status == 400 and "32-bit" in str(e)


def test_the_signing_example_in_the_docs_is_what_the_code_computes() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "hub.md").read_text()
    rec = bytes(r.encode(r.build(42, 7, 3, 1767258000, r.TRIGGER_BOOT, HEALTHY)))
    body = hubwire.records_head(1) + rec
    nonce = bytes(range(16)).hex()
    digest = hubwire.body_hash([body])
    canonical = hubwire.canonical("POST", hubwire.PATH_RECORDS, "SIM-0001", 1767258000, nonce, digest)
    signature = hubwire.sign(bytes(range(32)), "POST", hubwire.PATH_RECORDS, "SIM-0001", 1767258000, nonce, digest)
    assert f"body        {body.hex(' ')}\n" in doc
    assert f"sha256      {digest.hex()}\n" in doc
    assert "signed      " + canonical.decode().replace("\n", "\\n") + "\n" in doc
    assert f"signature   {signature}\n" in doc
    assert f"X-Posdiag-Signature: {signature}\n" in doc and f"<{body.hex(' ')}>" in doc


SIGN_SCRIPT = """
from posdiag import hubwire
body = hubwire.records_head(300) + hubwire.receipt_head(70000)
digest = hubwire.body_hash([body, b"x" * 1000])
print(hubwire.sign(bytes(range(32)), "POST", hubwire.PATH_RECORDS, "SIM-0001", 1767258000, "00" * 16, digest))
print(body.hex())
"""


@pytest.mark.micropython
@pytest.mark.parametrize("runtime", ["wasm", "unix"])
def test_micropython_signs_as_the_hub_verifies(runtime: str) -> None:
    """The terminal's side of the contract on MicroPython's ports: the same
    CBOR heads and the same signature as CPython's hub computes."""
    from tests.runtimes import run_script

    assert run_script(runtime, SIGN_SCRIPT) == run_script("cpython", SIGN_SCRIPT)
