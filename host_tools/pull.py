"""Pulling a terminal's log over the link into a PulledLog."""

from __future__ import annotations

import time

import cbor2

from host_tools.errors import BadDataError
from host_tools.records import PulledLog, decode_record, split_records
from host_tools.serial_link import Client
from posdiag import record as r


def terminal_item(client: Client) -> dict:
    try:
        item = cbor2.loads(client.info())
    except cbor2.CBORDecodeError as e:
        raise BadDataError(f"terminal info is not valid CBOR: {e}") from None
    if not isinstance(item, dict) or "posdiag" not in item:
        raise BadDataError("terminal info is not a posdiag terminal item")
    item["pulled"] = int(time.time())
    return item


def pull_log(client: Client, since: int = 0, newest_only: bool = False) -> PulledLog:
    """Every record with seq >= since, oldest first, each exactly once
    (newest_only: just the newest record the terminal has)."""
    log = PulledLog(terminal_item(client))
    if newest_only:
        since = log.terminal.get("newest") or 0
    while True:
        batch = client.pull_batch(since)
        if not batch:
            return log
        progressed = False
        for raw in split_records(batch):
            seq = decode_record(raw)[r.K_SEQ]
            if seq >= since:
                log.records.append(raw)
                since = seq + 1
                progressed = True
        if not progressed:
            raise BadDataError("the terminal sent no newer record: pull stopped")
