"""Frames on the diagnostics link: round trips, resync after noise, bounds."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from posdiag import frame


def decode_all(wire: bytes, max_body: int = frame.MAX_BODY) -> tuple[list[tuple[int, int, bytes]], int]:
    reader = frame.Reader(max_body)
    out = [(reader.kind, reader.req_id, bytes(reader.payload())) for b in wire if reader.push(b)]
    return out, reader.errors


def test_known_bytes() -> None:
    # kind 1, id 7, empty payload: body 01 07 + CRC-32 LE, COBS, delimiter.
    wire = frame.encode(1, 7)
    assert wire[-1] == 0 and 0 not in wire[:-1]
    assert decode_all(wire) == ([(1, 7, b"")], 0)


def test_payload_with_zeros_and_long_runs() -> None:
    payload = bytes(200) + bytes(range(1, 256)) * 3 + b"\x00"  # 966 bytes, runs > 254
    assert decode_all(frame.encode(0x82, 200, payload)) == ([(0x82, 200, payload)], 0)


def test_console_text_between_frames_is_skipped() -> None:
    wire = b"I (123) boot: console text\r\n\x00" + frame.encode(1, 1, b"a") + b"noise" + frame.encode(2, 2, b"b")
    frames, errors = decode_all(wire)
    # The noise before a frame's delimiter spoils that frame only: resync after.
    assert (1, 1, b"a") in frames or (2, 2, b"b") in frames
    assert errors >= 1


def test_noise_then_delimiter_then_frame_recovers() -> None:
    wire = b"garbage\x00" + frame.encode(3, 9, b"ok")
    frames, errors = decode_all(wire)
    assert frames == [(3, 9, b"ok")]
    assert errors == 1


def test_flipped_bit_fails_crc() -> None:
    wire = bytearray(frame.encode(2, 5, b"payload"))
    wire[3] ^= 0x04
    frames, errors = decode_all(bytes(wire))
    assert frames == [] and errors == 1


def test_oversized_frame_is_dropped_without_growing_the_buffer() -> None:
    reader = frame.Reader(64)
    size = len(reader._buf)
    wire = frame.encode(2, 1, bytes(range(1, 200)) * 5) + frame.encode(1, 2, b"x")
    got = [(reader.kind, bytes(reader.payload())) for b in wire if reader.push(b)]
    assert got == [(1, b"x")]
    assert reader.errors == 1 and len(reader._buf) == size


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=1024))
def test_round_trip(kind: int, req_id: int, payload: bytes) -> None:
    assert decode_all(frame.encode(kind, req_id, payload)) == ([(kind, req_id, payload)], 0)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_never_raise_and_stay_bounded(data: bytes) -> None:
    reader = frame.Reader(64)
    size = len(reader._buf)
    for b in data:
        if reader.push(b):
            assert len(reader.payload()) <= 64
    assert len(reader._buf) == size
