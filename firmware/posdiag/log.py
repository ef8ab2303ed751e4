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
# read: its seq is still in the saved acknowledgement. An acknowledgement
# done stays saved until the next one replaces it (or an open, finding it
# done, empties the list): overwriting a delivered entry again is a no-op.
#
# A segment is never read whole (a journal segment can hold 16 receipts of
# 4 KB): entries are read one at a time through an 80-byte buffer, each CRC
# checked as it streams past, and records() holds one payload at a time.
import struct
from binascii import crc32

from posdiag import flashfile

try:
    from micropython import const
except ImportError:   # CPython: the simulator and the tests
    const = int  # type: ignore[assignment]

_SUFFIX = ".seg"
_STATE_FMT = "<IIIIII"   # next_seq, boot, drops, torn, floor, torn segment
_HEAD = const(6)         # length u16, seq u32
_TAIL = const(4)         # CRC-32
_GONE = const(0xF6)      # a delivered entry's first payload byte (CBOR null)
_CHUNK = const(80)       # read at a time: a diagnostics entry (<= 64 + 10) whole
_RESIDUE = const(0x2144DF1C)   # CRC-32 of any bytes followed by their CRC (LE)
_ZEROS = bytes(64)


class _Walk:
    """The entries of one segment file, read one at a time through a small
    buffer, never the whole file. next() returns the next entry's seq, or
    None at the end or at the first torn entry (a length or CRC that fails,
    bytes cut short: self.torn then), except that an entry whose seq is in
    acked passes with its CRC failing (an overwrite cut short keeps its
    length and seq): self.intact says which. Of the entry just read:
    self.at (its offset), self.length (its payload's), self.first (the
    payload's first byte). pos: where to start (an entry's offset); every
    entry from there on that is delivered (intact, payload _GONE) up to
    the first that is not moves self.done past it."""

    def __init__(self, storage, name, acked, pos=0):
        self.acked = acked
        self.pos = self.done = pos   # where the next entry starts
        self.torn = False
        self.buf = bytearray(_CHUNK)
        self.mv = self.view = memoryview(self.buf)
        try:
            self.f = storage.open(name, "rb")
        except OSError as e:
            if e.args[0] != 2:   # ENOENT: its first append did not happen
                raise
            self.f = None

    def close(self):
        if self.f is not None:
            self.f.close()
            self.f = None

    def next(self):
        f = self.f
        if f is None:
            return None
        buf = self.buf
        at = self.pos
        f.seek(at)
        n = f.readinto(buf)
        if not n:
            return None   # the end
        length = buf[0] | buf[1] << 8 if n >= _HEAD else 0
        seq = buf[2] | buf[3] << 8 | buf[4] << 16 | buf[5] << 24
        self.first = buf[_HEAD]
        total = left = _HEAD + length + _TAIL
        # The CRC over the entry and its own CRC, a chunk at a time: one
        # crc32 for an entry that fits (no intermediate value, which on a
        # 32-bit board is a long int). The view of the buffer is kept while
        # chunks keep their size.
        crc = 0
        while length and left:
            k = left if left < _CHUNK else _CHUNK
            if k != len(self.view):
                self.view = self.mv[:k]
            if left < total:
                n = f.readinto(self.view)
            if n < k:
                break   # cut short
            crc = crc32(self.view, crc)
            left -= k
        self.intact = crc == _RESIDUE
        if left or not self.intact and seq not in self.acked:
            self.torn = True
            return None
        self.at = at
        self.length = length
        self.pos = at + total
        if self.done == at and self.first == _GONE and self.intact:
            self.done = self.pos
        return seq

    def readinto(self, pos, buf):
        """Read the payload of the entry just read, from pos, into buf (at
        most len(buf) bytes); the count read."""
        self.f.seek(self.at + _HEAD + pos)
        return self.f.readinto(buf)


def _overwrite(f, at, length, seq):
    # Overwrite the entry at offset at in f (open "r+b"): payload _GONE then
    # zeros, same length and seq (not rewritten), fresh CRC.
    f.seek(at + _HEAD)
    crc = crc32(b"\xf6", crc32(struct.pack("<HI", length, seq)))
    f.write(b"\xf6")
    left = length - 1
    while left:
        z = _ZEROS if left >= len(_ZEROS) else memoryview(_ZEROS)[:left]
        f.write(z)
        crc = crc32(z, crc)
        left -= len(z)
    f.write(struct.pack("<I", crc))


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
        # In segment _done_seg, the entries before offset _done_pos are all
        # delivered (overwritten, read intact since the boot): walks for
        # live entries start there, not at the delivered ones a journal
        # segment gathers (up to 15 receipts of 4 KB each).
        self._done_seg = None
        self._done_pos = 0
        # Generations of the state's and the ack list's newest copies, kept
        # from our own writes so a save need not read both copies back.
        self._state_gen = None
        self._ack_gen = None
        self._open()

    def _seg_name(self, first_seq):
        return "%s%010d%s" % (self._name, first_seq, _SUFFIX)

    def _survey(self, first_seq, acked=()):
        """(entries, live entries, last seq, last live seq, torn, first live
        seq) of a segment, walked to its end or its first torn entry; live:
        neither acknowledged nor delivered."""
        w = _Walk(self._st, self._seg_name(first_seq), acked)
        n = live = 0
        last = last_live = first_live = None
        try:
            seq = w.next()
            while seq is not None:
                n += 1
                last = seq
                if seq not in acked and w.first != _GONE:
                    live += 1
                    last_live = seq
                    if first_live is None:
                        first_live = seq
                seq = w.next()
        finally:
            w.close()
        return n, live, last, last_live, w.torn, first_live

    # -- opening and repair ------------------------------------------------
    def _open(self):
        # Read with the newest copy's generation, so that the first save
        # need not read both copies again.
        self._state_gen, state = flashfile.newest(self._st, self._state)
        if state is not None and len(state) == struct.calcsize(_STATE_FMT):
            (self.next_seq, self.boot, self.drops, self.torn, self._floor,
             self._torn_seg) = struct.unpack(_STATE_FMT, state)
        prefix = len(self._name)
        segs = sorted(
            int(n[prefix:-len(_SUFFIX)]) for n in self._st.listdir()
            if n.startswith(self._name) and n.endswith(_SUFFIX)
            and n[prefix:-len(_SUFFIX)].isdigit())
        while segs and segs[0] < self._floor:
            # Dropped or cleared (and counted) when the power went.
            self._remove(segs.pop(0))
        self._segments = segs
        # The acknowledgement's generation even with no segment: the first
        # ack (an upload's) then writes one copy without reading both.
        self._ack_gen, acked = flashfile.newest(self._st, self._name + ".ack")
        if not segs:
            return
        # Acknowledgements of entries whose segment is gone (a power cut
        # between removing it and saving the list) mean nothing any more.
        if acked is not None and len(acked) % 4 == 0:
            self._acked = [s for s in struct.unpack("<%dI" % (len(acked) // 4), acked)
                           if s >= segs[0]]
        n, _, last, _, torn, _ = self._survey(segs[-1], self._acked)
        self._in_newest = n
        if torn:
            self._newest_torn = True   # never append after a tear
            if self._torn_seg != segs[-1]:
                self.torn += 1
                self._torn_seg = segs[-1]
                self._save_state()
        if n:
            highest = last
        else:
            # The highest seq on flash or reserved by the newest segment's
            # name, looking past an empty newest segment to the one before.
            highest = segs[-1] - 1
            if len(segs) > 1:
                older = self._survey(segs[-2], self._acked)[2]
                if older is not None and older > highest:
                    highest = older
        if torn:
            # The torn entry held the seq after the last intact one (the
            # segment's first when none is): never hand it out again, nor
            # start a segment under this one's name.
            highest = max(highest, last + 1 if n else segs[-1])
        if highest >= self.next_seq:
            # The state was lost or old: never reuse a seq seen on flash.
            self.next_seq = highest + 1
            self._save_state()
        if self._acked:
            self._scrub()   # a power cut came between an ack and its overwrite

    def _remove(self, first_seq):
        try:
            self._st.remove(self._seg_name(first_seq))
        except OSError as e:
            if e.args[0] != 2:
                raise

    def _save_state(self):
        self._state_gen = flashfile.save_struct(
            self._st, self._state, _STATE_FMT,
            (self.next_seq, self.boot, self.drops, self.torn, self._floor,
             self._torn_seg), self._state_gen)

    def _save_acked(self):
        self._ack_gen = flashfile.save_u32s(self._st, self._name + ".ack",
                                            self._acked, self._ack_gen)

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
        # Written in three parts: the entry is never copied whole (a
        # receipt is up to 4 KB); the file system commits it at close.
        head = struct.pack("<HI", len(payload), seq)
        crc = struct.pack("<I", crc32(payload, crc32(head)))
        f = self._st.open(self._seg_name(self._segments[-1]), "ab")
        try:
            f.write(head)
            f.write(payload)
            f.write(crc)
        finally:
            f.close()
        self._in_newest += 1
        return seq, payload

    def _drop_oldest(self, first_seq):
        # Make room for a segment starting at first_seq: while the log is
        # full, count and remove its oldest segment.
        segs = self._segments
        while len(segs) >= self._max_segments:
            # Delivered entries are not lost: only the others count.
            self.drops += self._survey(segs[0], self._acked)[1]
            self._floor = segs[1] if len(segs) > 1 else first_seq
            self._save_state()   # count the drop before it happens
            self._remove(segs.pop(0))

    def _remove_if_delivered(self, first_seq):
        # The newest segment is never removed by an acknowledgement (it is
        # being appended to): once a newer one starts, it goes if every
        # entry it holds was delivered. Nothing in it counts as a drop.
        survey = self._survey(first_seq)
        if survey[0] and not survey[1]:
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
        self._done_seg = None

    # -- delivery ------------------------------------------------------------
    def ack(self, seq):
        """Mark entry seq delivered (a pending receipt sent as an e-receipt):
        records() no longer yields it, its payload is overwritten in flash
        and a segment all of whose entries are delivered is removed.
        Acknowledging twice, or an entry already gone, changes nothing: a
        repeated acknowledgement is harmless."""
        acked = self._acked
        segs = self._segments
        i = len(segs) - 1
        while i >= 0 and segs[i] > seq:
            i -= 1   # the segment seq would be in
        if seq in acked or i < 0:
            return False
        if acked:
            # An earlier acknowledgement whose overwrite failed (an error
            # from the file system): it is redone with this one.
            found = False
            live = self._live(seq, False)
            for s, _ in live:
                found = s == seq
                break
            live.close()   # its segment file now, not when collected
            if not found:
                return False
            acked.append(seq)
            self._save_acked()
            self._scrub()
            return True
        # One walk of the segment: where the entry is, and whether any
        # other entry in it is live (only an older segment can go).
        newest = i + 1 == len(segs)
        name = self._seg_name(segs[i])
        w = self._walk(segs[i], acked)
        at = length = None
        live = False
        try:
            s = w.next()
            while s is not None and not (live and at is not None):
                if w.first != _GONE:
                    if s == seq:
                        at = w.at
                        length = w.length
                        if newest:
                            break
                    else:
                        live = True
                s = w.next()
        finally:
            self._walked(segs[i], w)
        if at is None:
            return False   # delivered before, gone or never written
        # As _scrub does, for this one entry: the acknowledgement saved
        # first, then the overwrite, then the segment when nothing in it
        # is live. The saved acknowledgement is left as it is (the next
        # one replaces it; an open that finds it done only forgets it):
        # one flash write per ack, not two.
        acked.append(seq)
        self._save_acked()
        f = self._st.open(name, "r+b")
        try:
            _overwrite(f, at, length, seq)
        finally:
            f.close()
        if not live and not newest:
            self._remove(segs.pop(i))
        elif segs[i] == self._done_seg and at == self._done_pos:
            self._done_pos = at + _HEAD + length + _TAIL   # the next walk starts past it
        acked.pop()
        return True

    def _walk(self, first_seq, acked):
        # A walk of a segment for its live entries, from past the delivered
        # entries that start it when they are known.
        return _Walk(self._st, self._seg_name(first_seq), acked,
                     self._done_pos if first_seq == self._done_seg else 0)

    def _walked(self, first_seq, w):
        # Close a walk, keeping what it found of delivered entries.
        w.close()
        if w.done:
            self._done_seg = first_seq
            self._done_pos = w.done

    def _scrub(self):
        # Overwrite each acknowledged entry in place (payload _GONE then
        # zeros, same length and seq, fresh CRC), remove the segments left
        # with nothing else (never the one being appended to), then forget
        # the acknowledgements done. Each segment is read through first,
        # then written: one file open at a time.
        segs = self._segments
        acked = self._acked
        keep = []
        for i in range(len(segs)):
            last = segs[i + 1] if i + 1 < len(segs) else self.next_seq
            if not any(segs[i] <= s < last for s in acked):
                keep.append(segs[i])
                continue
            w = _Walk(self._st, self._seg_name(segs[i]), acked)
            live = 0
            todo = []   # (offset, length, seq) of the entries to overwrite
            try:
                seq = w.next()
                while seq is not None:
                    if seq not in acked:
                        if w.first != _GONE:
                            live += 1
                    elif w.first != _GONE or not w.intact:   # else done before
                        todo.append((w.at, w.length, seq))
                    seq = w.next()
            finally:
                w.close()
            if todo:
                f = self._st.open(self._seg_name(segs[i]), "r+b")
                try:
                    for at, length, seq in todo:
                        _overwrite(f, at, length, seq)
                finally:
                    f.close()
            if not live and i + 1 < len(segs):
                self._remove(segs[i])
            else:
                keep.append(segs[i])
        self._segments = keep
        self._acked = []
        self._save_acked()

    # -- reading -------------------------------------------------------------
    def _live(self, since, payloads):
        # (seq, payload) of each live entry with seq >= since, oldest first:
        # the payload's bytes (payloads True), None (False) or the walk
        # (None: its readinto reads the payload). A segment's file is open
        # while its entries are yielded and closed when the walk ends (or
        # the generator is closed or collected).
        segs = self._segments
        acked = self._acked
        for i in range(len(segs)):
            if i + 1 < len(segs) and segs[i + 1] <= since:
                continue  # every record here is older than since
            w = self._walk(segs[i], acked)
            try:
                seq = w.next()
                while seq is not None:
                    if seq >= since and seq not in acked and w.first != _GONE:
                        data = None
                        if payloads:
                            w.f.seek(w.at + _HEAD)
                            data = w.f.read(w.length)
                        elif payloads is None:
                            data = w
                        yield seq, data
                    seq = w.next()
            finally:
                self._walked(segs[i], w)

    def records(self, since=0):
        """Yield (seq, record bytes) for every intact record with seq >= since,
        oldest first (delivered ones left out). Read entry by entry: one
        record in memory at a time, besides those the caller keeps."""
        return self._live(since, True)

    def entries(self, since=0):
        """Yield (seq, reader) as records() does, without reading payloads:
        reader.length is the payload's size and reader.readinto(pos, buf)
        reads it, until the next entry is asked for. A payload (a receipt:
        up to 4 KB) is streamed through the caller's buffer, never held
        whole. Close the generator when done: a segment file is open."""
        return self._live(since, None)

    def count(self):
        """How many records records() yields, without reading their payloads."""
        n = 0
        for first in self._segments:
            n += self._survey(first, self._acked)[1]
        return n

    def bounds(self):
        """(oldest seq, newest seq) on flash, or (None, None) when empty: the
        first and last records() yields, found without reading payloads."""
        segs = self._segments
        for i in range(len(segs)):
            survey = self._survey(segs[i], self._acked)
            if survey[1]:
                for j in range(len(segs) - 1, i, -1):
                    newest = self._survey(segs[j], self._acked)[3]
                    if newest is not None:
                        return survey[5], newest
                return survey[5], survey[3]
        return None, None
