"""Pending receipts: pulled over the authenticated link, kept in a folder,
then acknowledged so the terminal drops each one exactly once. A lost
acknowledgement only means the receipt comes again next time, and it lands
in the same file: nothing twice, nothing lost."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import cbor2

from host_tools.errors import BadDataError
from host_tools.serial_link import Client
from posdiag import protocol as p


def list_pending(client: Client, key: bytes) -> list[tuple[int, int]]:
    """(journal seq, size in bytes) of every receipt waiting on the terminal."""
    try:
        return [(int(seq), int(size)) for seq, size in cbor2.loads(client.authorised(p.CMD_RECEIPTS, b"", key))]
    except (cbor2.CBORDecodeError, TypeError, ValueError) as e:
        raise BadDataError(f"the terminal's receipt list is not readable: {e}") from None


def fetch(client: Client, key: bytes, seq: int) -> bytes:
    """One pending receipt's CBOR bytes, in as many chunks as it takes."""
    data = b""
    total = None
    while total is None or len(data) < total:
        answer = client.authorised(p.CMD_RECEIPT, struct.pack("<IH", seq, len(data)), key)
        if len(answer) < 2:
            raise BadDataError(f"receipt {seq}: a short answer")
        total = struct.unpack_from("<H", answer)[0]
        if len(answer) == 2 and len(data) < total:
            raise BadDataError(f"receipt {seq}: no progress at byte {len(data)}")
        data += answer[2:]
    return data[:total]


def collect(client: Client, key: bytes, folder: str, terminal: str) -> list[Path]:
    """Pull every pending receipt into folder as <terminal>-<seq>.json (and
    .cbor, as the terminal stored it), written before it is acknowledged."""
    os.makedirs(folder, exist_ok=True)
    saved = []
    for seq, _ in list_pending(client, key):
        data = fetch(client, key, seq)
        try:
            fields = cbor2.loads(data)
        except cbor2.CBORDecodeError as e:
            raise BadDataError(f"receipt {seq} is not valid CBOR: {e}") from None
        base = Path(folder) / f"{terminal}-{seq}"
        _write(base.with_suffix(".cbor"), data)
        _write(base.with_suffix(".json"), json.dumps(fields, ensure_ascii=False, indent=2).encode())
        client.authorised(p.CMD_ACK, struct.pack("<I", seq), key)
        saved.append(base.with_suffix(".json"))
    return saved


def _write(path: Path, data: bytes) -> None:
    # Whole or not at all: a crash leaves the old file or none, never half.
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
