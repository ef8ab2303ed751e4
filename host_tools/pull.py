"""Pulling a terminal's log over the link: into memory, or into a file that
a later pull resumes, each record exactly once whatever breaks in between."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator

from host_tools.errors import BadDataError, NoAnswerError, PosdiagError
from host_tools.identity import safe_text
from host_tools.records import PulledLog, decode_record, decode_terminal, split_records
from host_tools.serial_link import Client
from posdiag import protocol as p
from posdiag import record as r


def terminal_item(client: Client) -> dict:
    item = decode_terminal(client.info(), "terminal info")  # checked like a file's
    item["pulled"] = int(time.time())
    return item


# Batch sizes on a bad line: every byte error costs the whole frame it is
# in, so a frame of n bytes survives a line with byte error rate e with
# probability (1 - e)^n, and a failed try costs little (Client.attempt ends
# it once the damaged frame is heard). The size follows AIMD, as TCP's
# congestion window does: it halves on every failed try (down to 1 byte,
# which the terminal answers with a single record: the smallest frame there
# is) and grows by _GROW_BY bytes on every answer. Halving leaves a size the
# line cannot carry within a few tries; adding slowly keeps it near the
# largest size that still gets through: it settles where the losses
# balance the growth, without estimating e (mean frames of about 300, 110
# and 70 bytes at 0.1, 0.4 and 1 % byte errors, somewhat below the 1/e
# bytes that would give the best goodput: AIMD errs on the safe side).
# A pull starts at _FIRST_BATCH (small, to learn the line) and doubles on
# every answer until its first failed try (TCP's slow start), so a clean
# line reaches full 1023-byte frames after 3 batches.
_FIRST_BATCH = 128
_GROW_BY = 64


def records_since(client: Client, since: int) -> Iterator[tuple[int, bytes]]:
    """(seq, record bytes) for every record with seq >= since, oldest first,
    each once: each batch asks from the seq after the last one received.
    It keeps trying as long as records keep coming, and gives up (NoAnswerError)
    once nothing new has arrived for client.patience seconds and at least
    client.min_tries tries."""
    size = _FIRST_BATCH
    slow_start = True
    tries = 0
    last_progress = time.monotonic()
    while True:
        batch = client.try_pull(since, size)
        if batch is None:
            size = max(1, size // 2)
            slow_start = False
            tries += 1
            stalled = time.monotonic() - last_progress
            if stalled >= client.patience and tries >= client.min_tries:
                raise NoAnswerError(
                    f"no new record from the terminal for {stalled:.0f} s ({tries} tries)",
                    "check the cable, the port name and the baud rate",
                )
            continue
        size = min(p.MAX_PAYLOAD, size * 2 if slow_start else size + _GROW_BY)
        if not batch:
            return
        progressed = False
        for raw in split_records(batch):
            seq = decode_record(raw)[r.K_SEQ]
            if seq >= since:
                yield seq, raw
                since = seq + 1
                progressed = True
        if not progressed:
            raise BadDataError("the terminal sent no newer record: pull stopped")
        tries = 0
        last_progress = time.monotonic()


def pull_log(client: Client, since: int = 0, newest_only: bool = False) -> PulledLog:
    """Every record with seq >= since in memory (newest_only: just the
    newest record the terminal has)."""
    log = PulledLog(terminal_item(client))
    if newest_only:
        since = log.terminal.get("newest") or 0
    log.records.extend(raw for _, raw in records_since(client, since))
    return log


class PullInterrupted(PosdiagError):
    """The link failed mid-pull; what arrived is safe in the file."""

    def __init__(self, cause: PosdiagError, path: str, kept: int) -> None:
        super().__init__(
            f"{cause} after {kept} new records; they are saved in {path}",
            "run the same pull again to resume where it stopped",
        )
        self.exit_code = cause.exit_code


def pull_to_file(
    client: Client,
    path: str,
    since: int = 0,
    progress: Callable[[int, int | None], None] | None = None,
    warn: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
) -> tuple[PulledLog, int]:
    """Append to path every record newer than what it holds (and >= since),
    writing each as it arrives. A file that exists is resumed: its terminal
    must be this one; a damaged stretch (a pull cut mid-write, a damaged
    disk) is repaired: the file is rewritten atomically with every intact
    record, the damaged bytes dropped, and `warn` says so in one line.
    Returns the file's log and how many records were added."""
    terminal = terminal_item(client)
    existing = PulledLog.load(path) if os.path.exists(path) else None
    if existing is not None:
        if existing.terminal.get("terminal") != terminal.get("terminal"):
            held = existing.terminal.get("terminal")
            held = safe_text(held) if held is not None else "unknown (its terminal item is damaged)"
            raise BadDataError(
                f"{path} holds terminal {held}, this is {safe_text(terminal.get('terminal'))}: pull into another file"
            )
        if not existing.complete:
            raise BadDataError(
                f"{existing.damage}: {path} is left as it is", "pull into another file, or move the damaged file away"
            )
        if existing.stretches:
            skipped = sum(d.skipped for d in existing.stretches)
            warn(
                f"posdiag: {path} was damaged ({len(existing.stretches)} stretches, {skipped} bytes); "
                f"repaired: its {len(existing.records)} intact records kept, the damaged bytes dropped"
            )
        # The head item says what the terminal says now (its newest seq,
        # counters, when pulled); the file is rewritten with its intact records.
        existing.terminal = terminal
        existing.save(path)
        if existing.records:
            since = max(since, max(existing.seqs()) + 1)
        log = existing
    else:
        log = PulledLog(terminal)
        log.save(path)
    added = 0
    newest = terminal.get("newest")
    total = max(0, newest - since + 1) if isinstance(newest, int) else None
    with open(path, "ab") as f:
        try:
            for _, raw in records_since(client, since):
                f.write(raw)
                f.flush()
                log.records.append(raw)
                added += 1
                if progress:
                    progress(added, total)
        except PosdiagError as e:
            raise PullInterrupted(e, path, added) from None
        finally:
            os.fsync(f.fileno())
    return log, added
