# An append-only log in flash, safe against a power cut at any block write
# on littlefs and on FAT: the diagnostics log ("d") and the pending-receipt
# journal ("r") are two of them. No file is ever renamed (FAT's rename is not
# atomic) and no entry once written is moved.
#
# Entries live in segment files named after the log and the first sequence
# number they hold ("d0000000042.seg"). Each entry is
#     length u16 LE | seq u32 LE | payload (length bytes) | CRC-32 u32 LE
# with the CRC over length, seq and payload. A payload never starts with
# 0xF6 (CBOR null): that byte marks a delivered entry (below). A power cut
# mid-append leaves a torn tail that fails its length or CRC check: it is
# never read, the "torn" counter goes up once, and the next append starts a
# new segment instead of writing after it.
#
# A small state ("d.state": next seq, boot count, drops, torn, floor, the
# segment whose tear was counted) is saved as two alternating copies
# (posdiag/flashfile.py) before every append, so a sequence number handed out
# is never handed out again, even when the record it named was torn.
# When the log holds its maximum number of segments the oldest segment goes
# and the drops counter grows by the records it held: never a silent drop.
# The state is saved first, with the floor (lowest seq kept) raised past the
# segment; a segment under the floor that a power cut left behind is removed
# on the next open without counting it again. clear() raises the floor to
# the next seq the same way.
#
# Delivered entries (ack, the journal's receipts) leave nothing behind: the
# acknowledgement is saved first ("r.ack"), then each delivered entry is
# overwritten in place: payload 0xF6 then zeros, same length and seq, fresh
# CRC (seq order and "never reuse a seq" still hold), and a segment of
# nothing but delivered entries is removed (never the newest). An entry whose
# overwrite a power cut stopped keeps its length and seq (they are not
# rewritten) and is overwritten again on the next open, before anything is
# read: its seq is still in the saved acknowledgement.
import struct
from binascii import crc32

from posdiag import flashfile

_SUFFIX = ".seg"
_STATE_FMT = "<IIIIII"   # next_seq, boot, drops, torn, floor, torn segment
_HEAD = 6                # length u16, seq u32
_TAIL = 4                # CRC-32
_GONE = 0xF6             # a delivered entry's first payload byte (CBOR null)
_ZEROS = bytes(64)


def _entries(data, acked=()):
    """(seq, start, end) for each entry of a segment's bytes and the offset
    where they stop: at the first torn entry, except that an entry whose seq
    was acknowledged is passed with its CRC failing (an overwrite cut short
    keeps its length and seq)."""
    pos = 0
    n = len(data)
    out = []
    mv = memoryview(data)
    while pos + _HEAD <= n:
        length = data[pos] | data[pos + 1] << 8
        end = pos + _HEAD + length
        if length == 0 or end + _TAIL > n:
            break
        seq = struct.unpack_from("<I", data, pos + 2)[0]
        if (crc32(mv[pos:end]) != struct.unpack_from("<I", data, end)[0]
                and seq not in acked):
            break
        out.append((seq, pos + _HEAD, end))
        pos = end + _TAIL
    return out, pos


def _frame(seq, payload):
    head = struct.pack("<HI", len(payload), seq)
    return head + payload + struct.pack("<I", crc32(payload, crc32(head)))


class Log:
    def __init__(self, storage, max_segments=8, per_segment=64, name="d",
                 max_entry=255):
        self._st = storage
        self._max_segments = max_segments
        self._per_segment = per_segment
        self._name = name
        self._state = name + ".state"
        self.max_entry = max_entry
        self.next_seq = 1
        self.boot = 0
        self.drops = 0
        self.torn = 0
        self._floor = 0       # segments below this seq are gone
        self._torn_seg = 0    # the segment whose torn tail is counted
        self._segments = []   # first seq of each segment, oldest first
        self._in_newest = 0   # entries in the newest segment
        self._newest_torn = False
        self._acked = []      # delivered entries not yet overwritten
        self._open()

    def _seg_name(self, first_seq):
        return "%s%010d%s" % (self._name, first_seq, _SUFFIX)

    # -- opening and repair ------------------------------------------------
    def _open(self):
        state = flashfile.load_struct(self._st, self._state, _STATE_FMT)
        if state is not None:
            (self.next_seq, self.boot, self.drops, self.torn, self._floor,
             self._torn_seg) = state
        prefix = len(self._name)
        segs = sorted(
            int(n[prefix:-len(_SUFFIX)]) for n in self._st.listdir()
            if n.startswith(self._name) and n.endswith(_SUFFIX)
            and n[prefix:-len(_SUFFIX)].isdigit())
        while segs and segs[0] < self._floor:
            # Dropped or cleared (and counted) when the power went.
            self._remove(segs.pop(0))
        self._segments = segs
        if not segs:
            return
        # Acknowledgements of entries whose segment is gone (a power cut
        # between removing it and saving the list) mean nothing any more.
        self._acked = [s for s in flashfile.load_u32s(
            self._st, self._name + ".ack") if s >= segs[0]]
        data = self._read(segs[-1])
        entries, good = _entries(data, self._acked)
        self._in_newest = len(entries)
        if good < len(data):
            self._newest_torn = True   # never append after a tear
            if self._torn_seg != segs[-1]:
                self.torn += 1
                self._torn_seg = segs[-1]
                self._save_state()
        highest = self._highest_seq(entries)
        if self._newest_torn:
            # The torn entry held the seq after the last intact one (the
            # segment's first when none is): never hand it out again, nor
            # start a segment under this one's name.
            highest = max(highest, entries[-1][0] + 1 if entries else segs[-1])
        if highest >= self.next_seq:
            # The state was lost or old: never reuse a seq seen on flash.
            self.next_seq = highest + 1
            self._save_state()
        if self._acked:
            self._scrub()   # a power cut came between an ack and its overwrite

    def _highest_seq(self, newest_entries):
        """The highest seq on flash (or reserved by the newest segment's name),
        looking past an empty newest segment to the one before."""
        if newest_entries:
            return newest_entries[-1][0]
        highest = self._segments[-1] - 1
        if len(self._segments) > 1:
            older = _entries(self._read(self._segments[-2]), self._acked)[0]
            if older:
                highest = max(highest, older[-1][0])
        return highest

    def _read(self, first_seq):
        # A segment's bytes; b"" for one not created yet (its first append
        # did not happen).
        try:
            return flashfile.read_plain(self._st, self._seg_name(first_seq))
        except OSError as e:
            if e.args[0] != 2:   # ENOENT
                raise
            return b""

    def _remove(self, first_seq):
        try:
            self._st.remove(self._seg_name(first_seq))
        except OSError as e:
            if e.args[0] != 2:
                raise

    def _save_state(self):
        flashfile.save_struct(self._st, self._state, _STATE_FMT,
                              (self.next_seq, self.boot, self.drops, self.torn,
                               self._floor, self._torn_seg))

    # -- writing -------------------------------------------------------------
    def skip(self, n):
        """Hand out n sequence numbers without entries (numbers whose entries
        were consumed elsewhere, as a simulated past does)."""
        self.next_seq += n
        self._save_state()

    def note_boot(self):
        self.boot += 1
        self._save_state()
        return self.boot

    def append(self, record_for_seq):
        """Append one entry. record_for_seq(seq) returns its bytes, so the
        entry can carry the sequence number this log hands out."""
        seq = self.next_seq
        payload = record_for_seq(seq)
        if not 0 < len(payload) <= self.max_entry or payload[0] == _GONE:
            raise ValueError("log: entry size out of range")   # seq not used
        self.next_seq = seq + 1
        new = (not self._segments or self._in_newest >= self._per_segment
               or self._newest_torn)
        self._save_state()   # seq is handed out: never again
        if new:
            if self._segments:
                self._remove_if_delivered(self._segments[-1])
            self._drop_oldest(seq)
            # A new segment for seq; its file is made by the write below.
            self._segments.append(seq)
            self._in_newest = 0
            self._newest_torn = False
        f = self._st.open(self._seg_name(self._segments[-1]), "ab")
        try:
            f.write(_frame(seq, payload))
        finally:
            f.close()
        self._in_newest += 1
        return seq, payload

    def _drop_oldest(self, first_seq):
        # Make room for a segment starting at first_seq: while the log is
        # full, count and remove its oldest segment.
        segs = self._segments
        while len(segs) >= self._max_segments:
            data = self._read(segs[0])
            # Delivered entries are not lost: only the others count.
            for seq, start, _ in _entries(data, self._acked)[0]:
                if seq not in self._acked and data[start] != _GONE:
                    self.drops += 1
            self._floor = segs[1] if len(segs) > 1 else first_seq
            self._save_state()   # count the drop before it happens
            self._remove(segs.pop(0))

    def _remove_if_delivered(self, first_seq):
        # The newest segment is never removed by an acknowledgement (it is
        # being appended to): once a newer one starts, it goes if every
        # entry it holds was delivered. Nothing in it counts as a drop.
        data = self._read(first_seq)
        entries = _entries(data)[0]
        for _, start, _ in entries:
            if data[start] != _GONE:
                return
        if entries:
            self._remove(first_seq)
            self._segments.pop()

    def clear(self):
        """Remove every entry (a technician's request). Sequence numbers go
        on from where they were: none is ever handed out twice."""
        self._floor = self.next_seq
        self._save_state()   # from here on the entries are gone
        for first in self._segments:
            self._remove(first)
        self._segments = []
        self._in_newest = 0
        self._newest_torn = False
        self._acked = []

    # -- delivery ------------------------------------------------------------
    def ack(self, seq):
        """Mark entry seq delivered (a pending receipt sent as an e-receipt):
        records() no longer yields it, its payload is overwritten in flash
        and a segment all of whose entries are delivered is removed.
        Acknowledging twice, or an entry already gone, changes nothing: a
        repeated acknowledgement is harmless."""
        if seq in self._acked or not any(s == seq for s, _ in self.records()):
            return False
        self._acked.append(seq)
        flashfile.save_u32s(self._st, self._name + ".ack", self._acked)
        self._scrub()
        return True

    def _scrub(self):
        # Overwrite each acknowledged entry in place (payload _GONE then
        # zeros, same length and seq, fresh CRC), remove the segments left
        # with nothing else (never the one being appended to), then forget
        # the acknowledgements done.
        segs = self._segments
        acked = self._acked
        keep = []
        for i in range(len(segs)):
            last = segs[i + 1] if i + 1 < len(segs) else self.next_seq
            if not any(segs[i] <= s < last for s in acked):
                keep.append(segs[i])
                continue
            data = self._read(segs[i])
            mv = memoryview(data)
            live = 0
            f = None
            try:
                for seq, start, end in _entries(data, acked)[0]:
                    if seq not in acked:
                        if data[start] != _GONE:
                            live += 1
                        continue
                    if data[start] == _GONE and crc32(
                            mv[start - _HEAD:end]) == struct.unpack_from(
                            "<I", data, end)[0]:
                        continue   # done before
                    if f is None:
                        f = self._st.open(self._seg_name(segs[i]), "r+b")
                    f.seek(start)
                    crc = crc32(b"\xf6", crc32(mv[start - _HEAD:start]))
                    f.write(b"\xf6")
                    left = end - start - 1
                    while left:
                        z = _ZEROS if left >= len(_ZEROS) else _ZEROS[:left]
                        f.write(z)
                        crc = crc32(z, crc)
                        left -= len(z)
                    f.write(struct.pack("<I", crc))
            finally:
                if f is not None:
                    f.close()
            if not live and i + 1 < len(segs):
                self._remove(segs[i])
            else:
                keep.append(segs[i])
        self._segments = keep
        self._acked = []
        flashfile.save_u32s(self._st, self._name + ".ack", [])

    # -- reading -------------------------------------------------------------
    def records(self, since=0):
        """Yield (seq, record bytes) for every intact record with seq >= since,
        oldest first (delivered ones left out)."""
        segs = self._segments
        acked = self._acked
        for i in range(len(segs)):
            if i + 1 < len(segs) and segs[i + 1] <= since:
                continue  # every record here is older than since
            data = self._read(segs[i])
            for seq, start, end in _entries(data, acked)[0]:
                if seq >= since and seq not in acked and data[start] != _GONE:
                    yield seq, data[start:end]

    def bounds(self):
        """(oldest seq, newest seq) on flash, or (None, None) when empty."""
        oldest = newest = None
        for seq, _ in self.records():
            if oldest is None:
                oldest = seq
            newest = seq
        return oldest, newest
