# An append-only log in flash, safe against a power cut at any byte: the
# diagnostics log ("d") and the pending-receipt journal ("r") are two of them.
#
# Entries live in segment files named after the log and the first sequence
# number they hold ("d0000000042.seg"). Each entry is
#     length u16 LE | seq u32 LE | payload (length bytes) | CRC-32 u32 LE
# with the CRC over length, seq and payload. A power cut mid-append leaves a
# torn tail that fails its length or CRC check: on open the newest segment is
# rewritten without it (to a temporary file, then renamed, which littlefs does
# atomically) and the "torn" counter goes up.
#
# A small state file ("d.state": next seq, boot count, drops, torn) is
# rewritten the same way (posdiag/flashfile.py) before every append, so a sequence number handed out is never
# handed out again, even when the record it named was torn.
# When the log holds its maximum number of segments the oldest segment goes
# and the drops counter grows by the records it held: never a silent drop.
#
# Delivered entries (ack, the journal's receipts) leave nothing behind: the
# acknowledgement is saved first ("r.ack"), then the segment is rewritten
# atomically with each delivered entry's payload replaced by _GONE (same seq,
# fresh CRC, so seq order and "never reuse a seq" still hold), and a segment
# of nothing but delivered entries is removed. An acknowledgement whose
# rewrite a power cut stopped is finished on the next open.
import struct
from binascii import crc32

from posdiag import flashfile

_SUFFIX = ".seg"
_STATE_FMT = "<IIII"   # next_seq, boot, drops, torn
_HEAD_FMT = "<HI"      # length u16, seq u32
_HEAD = 6
_TAIL = 4              # CRC-32
_GONE = b"\xf6"        # a delivered entry's payload after scrubbing (CBOR null)


def _entries(data):
    """(offset, seq, start, end) for each intact entry of a segment's bytes,
    stopping at the first torn one."""
    pos = 0
    n = len(data)
    out = []
    while pos + _HEAD <= n:
        length = data[pos] | data[pos + 1] << 8
        end = pos + _HEAD + length
        if length == 0 or end + _TAIL > n:
            break
        crc = struct.unpack_from("<I", data, end)[0]
        if crc32(data[pos:end]) != crc:
            break
        out.append((pos, struct.unpack_from("<I", data, pos + 2)[0],
                    pos + _HEAD, end))
        pos = end + _TAIL
    return out, pos


def _frame(seq, payload):
    head = struct.pack(_HEAD_FMT, len(payload), seq)
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
        self._segments = []   # first seq of each segment, oldest first
        self._in_newest = 0   # entries in the newest segment
        self._acked = []      # delivered entries not yet gone with their segment
        self._open()

    def _seg_name(self, first_seq):
        return "%s%010d%s" % (self._name, first_seq, _SUFFIX)

    # -- opening and repair ------------------------------------------------
    def _open(self):
        state = flashfile.load_struct(self._st, self._state, _STATE_FMT)
        if state is not None:
            self.next_seq, self.boot, self.drops, self.torn = state
        self._acked = flashfile.load_u32s(self._st, self._name + ".ack")
        names = self._st.listdir()
        prefix = len(self._name)
        self._segments = sorted(
            int(n[prefix:-len(_SUFFIX)]) for n in names
            if n.startswith(self._name) and n.endswith(_SUFFIX)
            and n[prefix:-len(_SUFFIX)].isdigit())
        for n in names:
            if n.startswith(self._name) and n.endswith(".tmp"):
                self._st.remove(n)  # a write cut short before its rename
        if not self._segments:
            self._acked = []
            return
        # Acknowledgements of entries whose segment is gone (a power cut
        # between removing it and saving the list) mean nothing any more.
        self._acked = [s for s in self._acked if s >= self._segments[0]]
        name = self._seg_name(self._segments[-1])
        data = self._read(name)
        entries, good = _entries(data)
        if good < len(data):
            self.torn += 1
            self._replace(name, data[:good])
            self._save_state()
        self._in_newest = len(entries)
        highest = self._highest_seq(entries)
        if highest >= self.next_seq:
            # The state file was lost or old: never reuse a seq seen on flash.
            self.next_seq = highest + 1
            self._save_state()
        if self._acked:
            self._scrub()   # a power cut came between an ack and its rewrite

    def _highest_seq(self, newest_entries):
        """The highest seq on flash (or reserved by the newest segment's name),
        looking past an empty newest segment to the one before."""
        if newest_entries:
            return newest_entries[-1][1]
        highest = self._segments[-1] - 1
        if len(self._segments) > 1:
            older, _ = _entries(self._read(self._seg_name(self._segments[-2])))
            if older:
                highest = max(highest, older[-1][1])
        return highest

    def _read(self, name):
        return flashfile.read(self._st, name)

    def _replace(self, name, data):
        flashfile.write_atomic(self._st, name, data)

    def _save_state(self):
        flashfile.save_struct(self._st, self._state, _STATE_FMT,
                              (self.next_seq, self.boot, self.drops, self.torn))

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
        self.next_seq = seq + 1
        if not self._segments or self._in_newest >= self._per_segment:
            self._rotate(seq)
        self._save_state()
        payload = record_for_seq(seq)
        if not 0 < len(payload) <= self.max_entry:
            raise ValueError("log: entry size out of range")
        f = self._st.open(self._seg_name(self._segments[-1]), "ab")
        try:
            f.write(_frame(seq, payload))
        finally:
            f.close()
        self._in_newest += 1
        return seq, payload

    def _rotate(self, first_seq):
        while len(self._segments) >= self._max_segments:
            oldest = self._seg_name(self._segments[0])
            data = self._read(oldest)
            # Delivered entries are not lost: only the others count.
            self.drops += len([e for e in _entries(data)[0]
                               if e[1] not in self._acked
                               and data[e[2]:e[3]] != _GONE])
            self._save_state()   # count the drop before it happens
            self._st.remove(oldest)
            self._segments.pop(0)
        self._replace(self._seg_name(first_seq), b"")
        self._segments.append(first_seq)
        self._in_newest = 0

    def clear(self):
        """Remove every entry (a technician's request). Sequence numbers go
        on from where they were: none is ever handed out twice."""
        for first in self._segments:
            self._st.remove(self._seg_name(first))
        self._segments = []
        self._in_newest = 0
        self._acked = []
        flashfile.save_u32s(self._st, self._name + ".ack", [])

    # -- delivery ------------------------------------------------------------
    def ack(self, seq):
        """Mark entry seq delivered (a pending receipt sent as an e-receipt):
        records() no longer yields it, its payload is scrubbed from flash and
        a segment all of whose entries are delivered is removed. Acknowledging
        twice, or an entry already gone, changes nothing: a repeated
        acknowledgement is harmless."""
        if seq in self._acked or not any(s == seq for s, _ in self.records()):
            return False
        self._acked.append(seq)
        flashfile.save_u32s(self._st, self._name + ".ack", self._acked)
        self._scrub()
        return True

    def _scrub(self):
        # Rewrite each segment holding acknowledged entries with _GONE in
        # their place, remove the segments left with nothing else (never the
        # one being appended to), then forget the acknowledgements done.
        segs = self._segments
        for i in range(len(segs)):
            last = segs[i + 1] if i + 1 < len(segs) else self.next_seq
            if not any(segs[i] <= s < last for s in self._acked):
                continue
            name = self._seg_name(segs[i])
            data = self._read(name)
            entries, _ = _entries(data)
            out = bytearray()
            live = 0
            for pos, seq, start, end in entries:
                if seq in self._acked or data[start:end] == _GONE:
                    out += _frame(seq, _GONE)
                else:
                    out += data[pos:end + _TAIL]
                    live += 1
            if not live and i + 1 < len(segs):
                self._st.remove(name)
                segs[i] = None
            elif out != data:
                self._replace(name, bytes(out))
        self._segments = [s for s in segs if s is not None]
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
            data = self._read(self._seg_name(segs[i]))
            for _, seq, start, end in _entries(data)[0]:
                if seq >= since and seq not in acked and data[start:end] != _GONE:
                    yield seq, data[start:end]

    def bounds(self):
        """(oldest seq, newest seq) on flash, or (None, None) when empty."""
        oldest = newest = None
        for seq, _ in self.records():
            if oldest is None:
                oldest = seq
            newest = seq
        return oldest, newest
