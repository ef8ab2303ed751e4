"""The flash log: order, rotation with counted drops, and a power cut at every
byte of an append."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from posdiag.hal import FileStorage
from posdiag.log import Log


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

    def close(self) -> None:
        self._f.close()


class CuttingStorage(FileStorage):
    """Flash whose power goes after `budget` more bytes written (a rename or
    remove costs one unit): the write in progress stops mid-way."""

    def __init__(self, root: str, budget: int) -> None:
        super().__init__(root)
        self.budget = budget

    def spend(self, n: int) -> int:
        allowed = min(n, self.budget)
        self.budget -= allowed
        return allowed

    def open(self, name: str, mode: str):  # noqa: ANN201
        f = super().open(name, mode)
        return _CutFile(f, self) if "w" in mode or "a" in mode else f

    def rename(self, old: str, new: str) -> None:
        if not self.spend(1):
            raise PowerCut
        super().rename(old, new)

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
        # Reboot: reopen on healthy flash.
        after = Log(FileStorage(str(work)), 2, 3)
        kept = list(after.records())
        kept_seqs = [s for s, _ in kept]
        # Every record is one that was written whole: never a torn one.
        assert all(r in before or r == (existing + 1, rec(existing + 1)) for r in kept), cut
        # Records that are gone were dropped by a rotation, and counted.
        lost = [r for r in before if r not in kept]
        assert after.drops >= len(lost), f"cut {cut}: {len(lost)} lost, {after.drops} counted"
        # The sequence continues without reuse.
        drops_before = after.drops
        new_seq, _ = after.append(rec)
        assert new_seq > max(kept_seqs + [existing]), f"cut {cut}: seq {new_seq} reused"
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
    assert seg.read_bytes() == data  # repaired on flash, not only skipped


def test_corrupt_byte_inside_a_record_stops_reading_there(tmp_path: Path) -> None:
    _prepared(tmp_path, 3)
    seg = sorted(p for p in tmp_path.iterdir() if p.suffix == ".seg")[-1]
    data = bytearray(seg.read_bytes())
    data[-6] ^= 0x40  # inside the last record's payload
    seg.write_bytes(bytes(data))
    log = Log(FileStorage(str(tmp_path)), 2, 3)
    assert [s for s, _ in log.records()] == [1, 2]
    assert log.append(rec)[0] == 4  # seq 3 was handed out once: never again


def test_lost_state_file_never_reuses_a_seq(tmp_path: Path) -> None:
    _prepared(tmp_path, 3)  # fills the first segment: the next append rotates
    log = Log(FileStorage(str(tmp_path)), 2, 3)
    log._rotate(log.next_seq)  # a power cut right after a rotation: empty newest segment
    (tmp_path / "d.state").unlink()
    assert Log(FileStorage(str(tmp_path)), 2, 3).append(rec)[0] == 4
    (tmp_path / "d.state").unlink()
    assert Log(FileStorage(str(tmp_path)), 2, 3).append(rec)[0] == 5


def test_journal_entries_survive_a_power_cut_at_every_byte(tmp_path: Path) -> None:
    """The pending-receipt journal is a Log too ("r", entries up to 4 KB)."""

    def receipt(seq: int) -> bytes:
        return bytes([0x59, 0x01, 0x2C]) + bytes([seq & 0xFF]) * 300  # a 300-byte CBOR bstr

    base = tmp_path / "base"
    journal = Log(FileStorage(str(base)), 4, 16, "r", 4096)
    journal.append(receipt)
    Log(FileStorage(str(base)), 8, 64, "d").append(rec)  # the diagnostics log beside it
    probe = tmp_path / "probe"
    shutil.copytree(base, probe)
    storage = CuttingStorage(str(probe), 10**6)
    Log(storage, 4, 16, "r", 4096).append(receipt)
    total = 10**6 - storage.budget
    for cut in range(total):
        work = tmp_path / f"cut{cut}"
        shutil.copytree(base, work)
        with pytest.raises(PowerCut):
            Log(CuttingStorage(str(work), cut), 4, 16, "r", 4096).append(receipt)
        after = Log(FileStorage(str(work)), 4, 16, "r", 4096)
        kept = list(after.records())
        assert kept[0] == (1, receipt(1)), f"cut {cut}: the earlier receipt changed"
        assert kept in ([(1, receipt(1))], [(1, receipt(1)), (2, receipt(2))]), f"cut {cut}"
        assert after.append(receipt)[0] > kept[-1][0]
        assert list(Log(FileStorage(str(work)), 8, 64, "d").records()) == [(1, rec(1))]
        shutil.rmtree(work)


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


def test_acks_survive_a_power_cut_at_every_byte(tmp_path: Path) -> None:
    base = tmp_path / "base"
    journal = Log(FileStorage(str(base)), 4, 2, "r", 4096)
    for _ in range(3):
        journal.append(rec)
    probe = tmp_path / "probe"
    shutil.copytree(base, probe)
    storage = CuttingStorage(str(probe), 10**6)
    Log(storage, 4, 2, "r", 4096).ack(2)
    total = 10**6 - storage.budget
    for cut in range(total):
        work = tmp_path / f"cut{cut}"
        shutil.copytree(base, work)
        with pytest.raises(PowerCut):
            Log(CuttingStorage(str(work), cut), 4, 2, "r", 4096).ack(2)
        seqs = [s for s, _ in Log(FileStorage(str(work)), 4, 2, "r", 4096).records()]
        # Either the acknowledgement landed or it did not: never a lost receipt.
        assert seqs in ([1, 2, 3], [1, 3]), f"cut {cut}: {seqs}"
        shutil.rmtree(work)


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
    (tmp_path / "r.state").unlink()
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
