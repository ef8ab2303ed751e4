"""Pulled files and records: bytes to values, no I/O beyond the file itself.

A pulled file is a CBOR sequence (RFC 8742): the terminal item first (text
keys), then every record exactly as the terminal encoded it."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import cbor2

from host_tools.atomic import write_atomic
from host_tools.errors import BadDataError
from posdiag import record as r


def _decode_one(data: bytes | memoryview, what: str) -> tuple[object, int]:
    """Decode one CBOR item at the start of data; (value, bytes used)."""
    fp = io.BytesIO(data)
    try:
        value = cbor2.CBORDecoder(fp).decode()
    except (cbor2.CBORDecodeError, ValueError, EOFError) as e:
        raise BadDataError(f"malformed CBOR in {what}: {e}") from None
    return value, fp.tell()


def split_records(data: bytes, keep: list[bytes] | None = None) -> list[bytes]:
    """The records of a CBOR sequence, each as its own bytes. On a malformed
    record BadDataError is raised; the records before it are in `keep`."""
    out = keep if keep is not None else []
    view = memoryview(data)
    pos = 0
    while pos < len(data):
        raw, used = _decode_one(view[pos : pos + r.MAX_RECORD], f"record at byte {pos}")
        if not isinstance(raw, dict):
            raise BadDataError(f"item at byte {pos} is not a posdiag record")
        out.append(bytes(view[pos : pos + used]))
        pos += used
    return out


_REQUIRED = frozenset((r.K_VERSION, r.K_SEQ, r.K_BOOT, r.K_UPTIME, r.K_CHECKS))


def decode_record(raw: bytes) -> dict:
    """The record map, checked for the keys every record has. raw is one
    record's bytes as split_records() cut them (so nothing trails it); this
    is the hot path of decoding a long log, hence cbor2.loads directly."""
    try:
        value = cbor2.loads(raw)
    except (cbor2.CBORDecodeError, ValueError, EOFError) as e:
        raise BadDataError(f"malformed CBOR in record: {e}") from None
    if not isinstance(value, dict) or not value.keys() >= _REQUIRED:
        raise BadDataError("not a posdiag record")
    return value


@dataclass
class PulledLog:
    terminal: dict
    records: list[bytes] = field(default_factory=list)
    damage: str | None = None  # what stopped reading a damaged file, if anything

    def seqs(self) -> list[int]:
        return [decode_record(raw)[r.K_SEQ] for raw in self.records]

    def to_bytes(self) -> bytes:
        return cbor2.dumps(self.terminal) + b"".join(self.records)

    def save(self, path: str) -> None:
        write_atomic(path, self.to_bytes())

    @classmethod
    def from_bytes(cls, data: bytes, name: str = "file") -> PulledLog:
        if not data:
            raise BadDataError(f"{name} is empty")
        terminal, used = _decode_one(data, name)
        if not isinstance(terminal, dict) or "posdiag" not in terminal:
            raise BadDataError(f"{name} does not start with a posdiag terminal item")
        log = cls(terminal)
        try:
            split_records(data[used:], keep=log.records)
        except BadDataError as e:
            # Keep every record before the damage; say where it starts.
            log.damage = f"{name}: {e} (after {len(log.records)} good records)"
        return log

    @classmethod
    def load(cls, path: str) -> PulledLog:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise BadDataError(f"cannot read {path}: {e.strerror}") from None
        return cls.from_bytes(data, path)
