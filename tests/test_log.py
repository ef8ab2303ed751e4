"""The flash log on CPython: order, rotation with counted drops, delivery,
and a power cut at every byte of a write. The authority on power loss is
tests/test_flash_powercut.py (every block operation cut, on littlefs and
FAT); the byte-level cuts kept here show what those file systems never
produce: a torn tail (littlefs and FAT commit an append whole at close) and
an in-place overwrite stopped at any byte."""

from __future__ import annotations

import shutil
import struct
from binascii import crc32
from pathlib import Path

import pytest

from posdiag.hal import FileStorage
from posdiag.log import Log


def _frame(seq: int, payload: bytes) -> bytes:
    """An entry as posdiag/log.py writes it: length, seq, payload, CRC-32."""
    head = struct.pack("<HI", len(payload), seq)
    return head + payload + struct.pack("<I", crc32(payload, crc32(head)))


class PowerCut(Exception):
    pass


class _CutFile:
    def __init__(self, f, storage: CuttingStorage) -> None:  # noqa: ANN001
        self._f = f
        self._storage = storage

    def write(self, data: bytes) -> int:
        allowed = self._storage.spend(len(data))
        self._f.write(bytes(data[:allowed]))
        if allowed < len(data):
            raise PowerCut
        return allowed

    def read(self, *args: int) -> bytes:
        return self._f.read(*args)

    def seek(self, pos: int) -> int:
        return self._f.seek(pos)

    def close(self) -> None:
        self._f.close()


class CuttingStorage(FileStorage):
    """Flash whose power goes after `budget` more bytes written (a remove
    costs one unit): the write in progress stops mid-way."""

    def __init__(self, root: str, budget: int) -> None:
        super().__init__(root)
        self.budget = budget

    def spend(self, n: int) -> int:
        allowed = min(n, self.budget)
        self.budget -= allowed
        return allowed

    def open(self, name: str, mode: str):  # noqa: ANN201
        f = super().open(name, mode)
        return _CutFile(f, self) if "w" in mode or "a" in mode or "+" in mode else f

    def remove(self, name: str) -> None:
        if not self.spend(1):
            raise PowerCut
        super().remove(name)


def rec(seq: int) -> bytes:
    return b"\xa1\x01" + bytes([0x18, seq & 0xFF])  # a tiny CBOR map {1: seq}


def test_append_and_read_back(tmp_path: Path) -> None:
    log = Log(FileStorage(str(tmp_path)))
    for _ in range(5):
        log.append(rec)
    assert [s for s, _ in log.records()] == [1, 2, 3, 4, 5]
    assert [d for _, d in log.records(4)] == [rec(4), rec(5)]
    # Reopened after a reboot: the same records, the sequence continues.
    log2 = Log(FileStorage(str(tmp_path)))
    assert log2.append(rec)[0] == 6
    assert log2.bounds() == (1, 6)


def test_full_log_drops_oldest_and_counts_every_drop(tmp_path: Path) -> None:
    log = Log(FileStorage(str(tmp_path)), max_segments=3, per_segment=4)
    for _ in range(30):
        log.append(rec)
    seqs = [s for s, _ in log.records()]
    # 3 segments of 4: the newest 12 minus the ones not yet written in the
    # current segment; everything older counted in drops.
    assert seqs == list(range(seqs[0], 31))
    assert log.drops == seqs[0] - 1
    assert Log(FileStorage(str(tmp_path)), max_segments=3, per_segment=4).drops == log.drops


def _prepared(root: Path, n: int) -> None:
    log = Log(FileStorage(str(root)), max_segments=2, per_segment=3)
    for _ in range(n):
        log.append(rec)


@pytest.mark.parametrize("existing", [0, 2, 3, 6])
def test_power_cut_at_every_byte_of_an_append(tmp_path: Path, existing: int) -> None:
    """existing=3 and 6 make the cut append rotate segments (and drop one)."""
    base = tmp_path / "base"
    _prepared(base, existing)
    before = [(s, d) for s, d in Log(FileStorage(str(base)), 2, 3).records()]

    # How many units a whole append costs: the cut points to try.
    probe = tmp_path / "probe"
    shutil.copytree(base, probe)
    storage = CuttingStorage(str(probe), 10**6)
    Log(storage, 2, 3).append(rec)
    total = 10**6 - storage.budget

    for cut in range(total):
        work = tmp_path / f"cut{cut}"
        shutil.copytree(base, work)
        log = Log(CuttingStorage(str(work), 10**6), 2, 3)
        log._st.budget = cut  # type: ignore[attr-defined]  # power fails after `cut` units
        with pytest.raises(PowerCut):
            log.append(rec)
        # Did any byte of the new entry reach its segment (a torn tail)?
        segs = sorted(work.glob("d*.seg"))
        torn = bool(segs) and segs[-1].stat().st_size % len(_frame(1, rec(1))) != 0
        # Reboot: reopen on healthy flash.
        after = Log(FileStorage(str(work)), 2, 3)
        assert after.torn == int(torn), cut
        kept = list(after.records())
        kept_seqs = [s for s, _ in kept]
        # Every record is one that was written whole: never a torn one.
        assert all(r in before or r == (existing + 1, rec(existing + 1)) for r in kept), cut
        # Records that are gone were dropped by a rotation, and counted.
        lost = [r for r in before if r not in kept]
        assert after.drops == len(lost), f"cut {cut}: {len(lost)} lost, {after.drops} counted"
        # The sequence continues without reuse.
        drops_before = after.drops
        new_seq, _ = after.append(rec)
        assert new_seq > max(kept_seqs + [existing]), f"cut {cut}: seq {new_seq} reused"
        if torn:  # a seq handed out is never handed out again, even when its record was torn
            assert new_seq == existing + 2, f"cut {cut}: torn seq {existing + 1} handed out again"
        now = [s for s, _ in after.records()]
        assert now[-1] == new_seq and now == sorted(set(now))
        assert after.drops - drops_before == len(set(kept_seqs) - set(now))
        shutil.rmtree(work)


def test_torn_tail_is_detected_and_counted(tmp_path: Path) -> None:
    _prepared(tmp_path, 2)
    seg = sorted(p for p in tmp_path.iterdir() if p.suffix == ".seg")[-1]
    data = seg.read_bytes()
    seg.write_bytes(data + data[:7])  # half an entry after the last good one
    log = Log(FileStorage(str(tmp_path)), 2, 3)
    assert log.torn == 1
    assert [s for s, _ in log.records()] == [1, 2]
    assert Log(FileStorage(str(tmp_path)), 2, 3).torn == 1  # counted once, not at every open
    # Nothing is written after a tear (no rewrite either): the next entry
    # starts a new segment, and the torn bytes stay unread. The tear held
    # seq 3 (the one after the last intact entry): it is not handed out again.
    assert log.append(rec)[0] == 4
    assert seg.read_bytes() == data + data[:7]
    assert (tmp_path / "d0000000004.seg").exists()
    again = Log(FileStorage(str(tmp_path)), 2, 3)
    assert [s for s, _ in again.records()] == [1, 2, 4] and again.torn == 1


def test_corrupt_byte_inside_a_record_stops_reading_there(tmp_path: Path) -> None:
    _prepared(tmp_path, 3)
    seg = sorted(p for p in tmp_path.iterdir() if p.suffix == ".seg")[-1]
    data = bytearray(seg.read_bytes())
    data[-6] ^= 0x40  # inside the last record's payload
    seg.write_bytes(bytes(data))
    log = Log(FileStorage(str(tmp_path)), 2, 3)
    assert [s for s, _ in log.records()] == [1, 2]
    assert log.append(rec)[0] == 4  # seq 3 was handed out once: never again


def lose_state(root: Path, name: str = "d") -> None:
    for copy in (f"{name}.state", f"{name}.state.b"):  # both copies (flashfile)
        (root / copy).unlink(missing_ok=True)


def test_lost_state_file_never_reuses_a_seq(tmp_path: Path) -> None:
    _prepared(tmp_path, 3)  # fills the first segment: the next append rotates
    # An empty newest segment: created by an append whose entry never landed.
    (tmp_path / "d0000000004.seg").write_bytes(b"")
    lose_state(tmp_path)
    assert Log(FileStorage(str(tmp_path)), 2, 3).append(rec)[0] == 4
    lose_state(tmp_path)
    assert Log(FileStorage(str(tmp_path)), 2, 3).append(rec)[0] == 5


def test_a_torn_first_entry_is_never_written_after_even_with_the_state_lost(tmp_path: Path) -> None:
    _prepared(tmp_path, 3)  # segment (1, 2, 3) full
    # The next append's entry cut after 7 bytes: a segment holding only a tear.
    (tmp_path / "d0000000004.seg").write_bytes(_frame(4, rec(4))[:7])
    lose_state(tmp_path)
    log = Log(FileStorage(str(tmp_path)), 3, 3)  # room for three segments
    assert log.append(rec)[0] == 5  # 4 was handed out (it reached flash, torn)
    assert (tmp_path / "d0000000004.seg").read_bytes() == _frame(4, rec(4))[:7]
    again = Log(FileStorage(str(tmp_path)), 3, 3)
    assert [s for s, _ in again.records()] == [1, 2, 3, 5] and again.drops == 0


def test_a_delivered_newest_segment_goes_once_the_next_one_starts(tmp_path: Path) -> None:
    journal = Log(FileStorage(str(tmp_path)), 4, 2, "r", 4096)
    journal.append(secret)
    journal.append(secret)  # segment (1, 2): full, and the newest
    journal.ack(1)
    journal.ack(2)
    assert (tmp_path / "r0000000001.seg").exists()  # never removed while appended to
    assert journal.append(secret)[0] == 3
    assert not (tmp_path / "r0000000001.seg").exists()
    again = Log(FileStorage(str(tmp_path)), 4, 2, "r", 4096)
    assert [s for s, _ in again.records()] == [3] and again.drops == 0


def test_an_entry_of_a_wrong_size_uses_no_seq(tmp_path: Path) -> None:
    log = Log(FileStorage(str(tmp_path)), 2, 3)
    with pytest.raises(ValueError):
        log.append(lambda seq: b"")
    assert log.append(rec)[0] == 1
    assert Log(FileStorage(str(tmp_path)), 2, 3).append(rec)[0] == 2


def test_acknowledged_entries_go_and_only_once(tmp_path: Path) -> None:
    journal = Log(FileStorage(str(tmp_path)), 4, 2, "r", 4096)
    for _ in range(5):
        journal.append(rec)
    assert journal.ack(2) is True
    assert journal.ack(2) is False  # a repeated acknowledgement changes nothing
    assert journal.ack(99) is False
    assert [s for s, _ in journal.records()] == [1, 3, 4, 5]
    journal.ack(1)  # the first segment (1, 2) is all delivered: its file goes
    assert not (tmp_path / "r0000000001.seg").exists()
    again = Log(FileStorage(str(tmp_path)), 4, 2, "r", 4096)
    assert [s for s, _ in again.records()] == [3, 4, 5]
    assert again.append(rec)[0] == 6


def secret(seq: int) -> bytes:
    """A journal entry holding a marker that must not outlive its delivery."""
    return b"\x58\x20" + (b"CARD-%04d-" % seq) * 2 + b"x" * 12  # a 32-byte CBOR bstr


def flash_bytes(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


@pytest.mark.parametrize("acked", [[2], [5], [1, 2], [4, 5], [1, 2, 3, 4, 5]])
def test_acknowledged_payloads_leave_no_bytes_in_flash(tmp_path: Path, acked: list[int]) -> None:
    # Segments (1, 2), (3, 4), (5): acknowledged entries in an older segment,
    # in the newest one (never removed while appended to), or all of them.
    journal = Log(FileStorage(str(tmp_path)), 4, 2, "r", 4096)
    for _ in range(5):
        journal.append(secret)
    for seq in acked:
        assert journal.ack(seq) is True
    image = flash_bytes(tmp_path)
    for seq in range(1, 6):
        assert ((b"CARD-%04d" % seq) in image) is (seq not in acked), seq
    left = [s for s in range(1, 6) if s not in acked]
    assert [s for s, _ in journal.records()] == left
    again = Log(FileStorage(str(tmp_path)), 4, 2, "r", 4096)
    assert [s for s, _ in again.records()] == left
    assert again.append(secret)[0] == 6 and again.drops == 0


def test_scrubbed_entries_keep_their_seq_even_without_the_state_file(tmp_path: Path) -> None:
    journal = Log(FileStorage(str(tmp_path)), 4, 16, "r", 4096)
    for _ in range(3):
        journal.append(secret)
    for seq in (1, 2, 3):
        journal.ack(seq)
    lose_state(tmp_path, "r")
    assert Log(FileStorage(str(tmp_path)), 4, 16, "r", 4096).append(secret)[0] == 4


def test_scrubbed_entries_are_not_counted_as_drops(tmp_path: Path) -> None:
    journal = Log(FileStorage(str(tmp_path)), 2, 2, "r", 4096)
    for _ in range(3):
        journal.append(secret)  # segments (1, 2), (3)
    journal.ack(3)  # a tombstone in the newest segment
    for _ in range(4):
        journal.append(secret)  # rotations drop (1, 2) and then (3, 4)
    assert journal.drops == 3  # 1, 2 and 4; never the delivered 3


def test_an_ack_cut_by_power_is_scrubbed_on_the_next_open(tmp_path: Path) -> None:
    base = tmp_path / "base"
    journal = Log(FileStorage(str(base)), 4, 16, "r", 4096)
    for _ in range(3):
        journal.append(secret)
    probe = tmp_path / "probe"
    shutil.copytree(base, probe)
    storage = CuttingStorage(str(probe), 10**6)
    Log(storage, 4, 16, "r", 4096).ack(2)
    total = 10**6 - storage.budget
    for cut in range(total):
        work = tmp_path / f"cut{cut}"
        shutil.copytree(base, work)
        with pytest.raises(PowerCut):
            Log(CuttingStorage(str(work), cut), 4, 16, "r", 4096).ack(2)
        after = Log(FileStorage(str(work)), 4, 16, "r", 4096)
        seqs = [s for s, _ in after.records()]
        assert seqs in ([1, 2, 3], [1, 3]), f"cut {cut}: {seqs}"
        # Once the acknowledgement counts, the payload is gone from flash too.
        assert (b"CARD-0002" in flash_bytes(work)) is (seqs == [1, 2, 3]), f"cut {cut}"
        assert [d for _, d in after.records()] == [secret(s) for s in seqs]
        shutil.rmtree(work)


def test_small_files_read_old_or_new_after_a_cut_at_every_byte(tmp_path: Path) -> None:
    """flashfile's two copies: a write cut anywhere leaves the data before it."""
    from posdiag import flashfile

    base = tmp_path / "base"
    storage = FileStorage(str(base))
    with pytest.raises(OSError):
        flashfile.read(storage, "settings.json")  # none yet: config and hostaddr read that as {}
    for text in (b'{"a": 1}', b'{"a": 22}'):
        flashfile.write_atomic(storage, "settings.json", text)
    probe = CuttingStorage(str(base), 10**6)
    flashfile.write_atomic(probe, "other", b'{"a": 333}')
    total = 10**6 - probe.budget
    assert 0 < total < 100
    for cut in range(total):
        work = tmp_path / f"cut{cut}"
        shutil.copytree(base, work)
        with pytest.raises(PowerCut):
            flashfile.write_atomic(CuttingStorage(str(work), cut), "settings.json", b'{"a": 333}')
        assert flashfile.read(FileStorage(str(work)), "settings.json") == b'{"a": 22}', cut
        flashfile.write_atomic(FileStorage(str(work)), "settings.json", b'{"a": 4444}')
        assert flashfile.read(FileStorage(str(work)), "settings.json") == b'{"a": 4444}', cut
        shutil.rmtree(work)


class _HalfWrite:
    """A file whose first write stops half-way with an I/O error."""

    def __init__(self, f) -> None:  # noqa: ANN001
        self._f = f

    def write(self, data: bytes) -> int:
        self._f.write(bytes(data[: len(data) // 2]))
        raise OSError(5, "EIO")

    def close(self) -> None:
        self._f.close()


class FailingStateWrites(FileStorage):
    """Flash whose writes of the log's state copies fail while `failing`."""

    failing = False

    def open(self, name: str, mode: str):  # noqa: ANN201
        f = super().open(name, mode)
        return _HalfWrite(f) if self.failing and mode == "wb" and name.startswith("d.state") else f


def test_a_failed_state_write_is_redone_into_the_same_copy(tmp_path: Path) -> None:
    # The log keeps the state's generation from its own writes; a write
    # that failed must not count, or the next one would go over the intact
    # copy while the other is damaged, and a second failure would lose both.
    storage = FailingStateWrites(str(tmp_path))
    log = Log(storage)
    log.note_boot()
    log.note_boot()  # boot 2 in one copy, boot 1 in the other
    storage.failing = True
    for _ in range(2):
        with pytest.raises(OSError):
            log.note_boot()
    assert Log(FileStorage(str(tmp_path))).boot == 2


def test_no_rename_in_the_firmware() -> None:
    # FAT's rename over an existing file is a remove, then a rename: not
    # atomic. Nothing in the firmware may rely on one.
    firmware = Path(__file__).resolve().parent.parent / "firmware"
    users = [str(p) for p in firmware.rglob("*.py") if "rename(" in p.read_text(encoding="utf-8")]
    assert users == []


class _ReadCounting(FileStorage):
    """Storage that notes the largest single read from a file opened "rb"."""

    def __init__(self, root: str) -> None:
        super().__init__(root)
        self.largest = 0

    def open(self, name: str, mode: str):  # noqa: ANN201
        f = super().open(name, mode)
        if mode != "rb":
            return f
        storage = self
        read, readinto = f.read, f.readinto

        def counted_read(n: int = -1) -> bytes:
            data = read(n)
            storage.largest = max(storage.largest, len(data))
            return data

        def counted_readinto(buf) -> int:  # noqa: ANN001
            got = readinto(buf)
            storage.largest = max(storage.largest, got or 0)
            return got

        f.read, f.readinto = counted_read, counted_readinto  # type: ignore[method-assign]
        return f


def big(seq: int) -> bytes:
    """A journal entry of 4 KB (the largest receipt): many buffers long."""
    return b"\x59\x0f\xfd" + (b"RECEIPT-%04d-" % seq) * 314 + b"x" * (4093 - 13 * 314)


def test_segments_are_read_an_entry_at_a_time(tmp_path: Path) -> None:
    """No read takes a whole segment: the diagnostics log reads at most its
    80-byte buffer at a time, the journal one payload (records()) at most;
    bounds() and count() read no payload."""
    log = Log(FileStorage(str(tmp_path)), 8, 64, "d")
    for _ in range(100):
        log.append(rec)
    journal = Log(FileStorage(str(tmp_path)), 4, 16, "r", 4096)
    for _ in range(5):
        journal.append(big)
    storage = _ReadCounting(str(tmp_path))
    log, journal = Log(storage, 8, 64, "d"), Log(storage, 4, 16, "r", 4096)
    assert log.bounds() == (1, 100) and log.count() == 100
    assert journal.bounds() == (1, 5) and journal.count() == 5
    assert storage.largest <= 80
    assert [s for s, _ in log.records(90)] == list(range(90, 101))
    assert storage.largest <= 80
    assert [d for _, d in journal.records()] == [big(s) for s in range(1, 6)]
    assert storage.largest == 4096


@pytest.mark.parametrize("where", [7, 80, 81, 2000, 4105])
def test_a_large_entry_damaged_anywhere_stops_reading_there(tmp_path: Path, where: int) -> None:
    """A 4 KB entry is checked across many buffers: a flipped byte anywhere
    in it (head, payload, CRC) makes it the torn tail of its segment."""
    journal = Log(FileStorage(str(tmp_path)), 4, 16, "r", 4096)
    for _ in range(3):
        journal.append(big)
    seg = tmp_path / "r0000000001.seg"
    data = bytearray(seg.read_bytes())
    entry = len(_frame(1, big(1)))
    data[entry + where] ^= 0x01  # inside entry 2
    seg.write_bytes(bytes(data))
    again = Log(FileStorage(str(tmp_path)), 4, 16, "r", 4096)
    assert [s for s, _ in again.records()] == [1]
    assert again.bounds() == (1, 1) and again.count() == 1 and again.torn == 1
    assert again.append(big)[0] == 4  # seq 2 and 3 were handed out: never again


@pytest.mark.parametrize("keep", [1, 5, 6, 80, 81, 4000, 4105])
def test_a_large_entry_cut_short_is_a_torn_tail(tmp_path: Path, keep: int) -> None:
    journal = Log(FileStorage(str(tmp_path)), 4, 16, "r", 4096)
    journal.append(big)
    seg = tmp_path / "r0000000001.seg"
    seg.write_bytes(seg.read_bytes() + _frame(2, big(2))[:keep])
    again = Log(FileStorage(str(tmp_path)), 4, 16, "r", 4096)
    assert again.torn == 1 and [s for s, _ in again.records()] == [1]
    assert again.append(big)[0] == 3
    assert [d for _, d in again.records()] == [big(1), big(3)]


def test_bounds_and_count_follow_records(tmp_path: Path) -> None:
    """bounds() and count() read no payload but say what records() yields:
    across segments, with delivered entries at either end, after a drop and
    after a clear."""
    journal = Log(FileStorage(str(tmp_path)), 3, 2, "r", 4096)

    def agree() -> None:
        seqs = [s for s, _ in journal.records()]
        assert journal.bounds() == ((seqs[0], seqs[-1]) if seqs else (None, None))
        assert journal.count() == len(seqs)

    agree()
    for _ in range(5):
        journal.append(secret)  # (1, 2), (3, 4), (5)
        agree()
    for seq in (5, 1, 4, 2):
        journal.ack(seq)
        agree()
    assert journal.bounds() == (3, 3)
    for _ in range(4):
        journal.append(secret)  # rotations drop
        agree()
    journal.clear()
    agree()


def test_a_records_reader_left_half_way_does_not_hold_up_the_log(tmp_path: Path) -> None:
    """A caller may stop reading records() (a PULL batch is full): acks,
    appends and rotations go on, and a new reading sees them."""
    journal = Log(FileStorage(str(tmp_path)), 3, 2, "r", 4096)
    for _ in range(4):
        journal.append(secret)
    reader = journal.records()
    assert next(reader)[0] == 1
    assert journal.ack(2) is True
    for _ in range(3):
        journal.append(secret)
    assert [s for s, _ in journal.records()] == [3, 4, 5, 6, 7]
    del reader
