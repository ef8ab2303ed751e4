"""Pending receipts: pulled over the authenticated link, kept in a folder,
then acknowledged so the terminal drops each one exactly once. A lost
acknowledgement only means the receipt comes again next time, and it lands
in the same file: nothing twice, nothing lost."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import cbor2

from host_tools.atomic import write_atomic
from host_tools.errors import BadDataError
from host_tools.serial_link import Client


def fetch(client: Client, key: bytes, seq: int) -> bytes:
    """One pending receipt's CBOR bytes, in as many chunks as it takes."""
    data = b""
    total = None
    while total is None or len(data) < total:
        total, chunk = client.receipt_chunk(seq, len(data), key)
        if not chunk and len(data) < total:
            raise BadDataError(f"receipt {seq}: no progress at byte {len(data)}")
        data += chunk
    return data[:total]


def decode_entry(data: bytes, seq: int) -> dict:
    """A journal entry: {"receipt": fields, "token": hex or None, "expires":
    unix seconds or None}."""
    try:
        entry = cbor2.loads(data)
    except cbor2.CBORDecodeError as e:
        raise BadDataError(f"receipt {seq} is not valid CBOR: {e}") from None
    if not isinstance(entry, dict) or not isinstance(entry.get("receipt"), dict):
        raise BadDataError(f"receipt {seq} is not a posdiag journal entry")
    return entry


_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_NAME_MAX = 64


def file_base(folder: str | Path, terminal: object, seq: int) -> Path:
    """<folder>/<terminal>-<seq> with the terminal id as data, not a path:
    every character but letters, digits, _ and - becomes _ (no separator,
    no dot, no control character), at most 64 of them, "terminal" when
    nothing is left; the result is checked to lie in folder."""
    name = _UNSAFE.sub("_", str(terminal))[:_NAME_MAX].strip("_") or "terminal"
    base = Path(folder) / f"{name}-{int(seq)}"
    if base.resolve().parent != Path(folder).resolve():
        raise BadDataError(f"receipt {seq}: terminal id {terminal!r} does not give a file name in {folder}")
    return base


def collect(client: Client, key: bytes, folder: str, terminal: str, on_saved=None) -> list[Path]:  # noqa: ANN001
    """Pull every pending receipt into folder, written (JSON, the terminal's
    CBOR, and whatever on_saved(base path, entry) renders) before it is
    acknowledged. Files are named <terminal>-<seq> (file_base: the id made
    safe as a file name): a receipt that comes again lands in the same files."""
    os.makedirs(folder, exist_ok=True)
    saved = []
    for seq, _ in client.receipts(key):
        data = fetch(client, key, seq)
        entry = decode_entry(data, seq)
        entry["terminal"] = terminal
        entry["seq"] = seq
        base = file_base(folder, terminal, seq)
        write_atomic(base.with_suffix(".cbor"), data)
        write_atomic(base.with_suffix(".json"), json.dumps(entry, ensure_ascii=False, indent=2).encode())
        if on_saved is not None:
            on_saved(base, entry)
        client.ack(seq, key)
        saved.append(base.with_suffix(".json"))
    return saved
