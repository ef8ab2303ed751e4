"""Pulled files and records: bytes to values, no I/O beyond the file itself.

A pulled file is a CBOR sequence (RFC 8742): the terminal item first (text
keys), then every record exactly as the terminal encoded it.

This module is the boundary: every byte read from a file (or from a
terminal's INFO answer) passes a decoder that knows only the CBOR a posdiag
terminal writes (no tags, no indefinite lengths, no bignums, bounded depth
and size), then a check of every field against docs/record.cddl. A field
whose value this host cannot read is left out and named in "unreadable";
nothing downstream sees a wrong type.

A file is read as a stream (`LogFile`): a damaged stretch is skipped up to
the next decodable record, and each stretch is described (`Damage`)."""

from __future__ import annotations

import io
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import cbor2

from host_tools.atomic import write_atomic
from host_tools.errors import BadDataError
from posdiag import record as r

MAX_TERMINAL = 4096  # the terminal item must end within the file's first 4 KiB
RESYNC_LIMIT = 1 << 20  # a damaged stretch longer than this: not a posdiag log past it
DAMAGE_LINES = 50  # damaged stretches described one by one; the rest are counted
_CHUNK = 1 << 16
_MAX_DEPTH = 8
_UINT_MAX = (1 << 64) - 1
_TEXT_MAX = 256  # characters of a text field of the terminal item
# Where a record can start when resynchronising: the terminal writes map keys
# in ascending order, so a record is a map of 5..10 pairs whose first is 0: 1.
_RECORD_START = re.compile(rb"[\xa5-\xaa]\x00\x01")


class _Malformed(Exception):
    """Not the CBOR a posdiag terminal writes."""


def _item(buf: bytes, pos: int, end: int, depth: int) -> tuple[object, int]:
    """One CBOR data item at buf[pos:end]: (value, position after it)."""
    if pos >= end:
        raise _Malformed("truncated")
    ib = buf[pos]
    major, info = ib >> 5, ib & 31
    pos += 1
    if info < 24:
        arg = info
    elif info < 28:
        n = 1 << (info - 24)
        if pos + n > end:
            raise _Malformed("truncated")
        arg = int.from_bytes(buf[pos : pos + n], "big")
        pos += n
    else:
        raise _Malformed("indefinite length or reserved value")
    if major == 0:
        return arg, pos
    if major == 1:
        return -1 - arg, pos
    if major == 2 or major == 3:
        if arg > end - pos:
            raise _Malformed("truncated")
        data = buf[pos : pos + arg]
        if major == 2:
            return bytes(data), pos + arg
        try:
            return bytes(data).decode("utf-8"), pos + arg
        except UnicodeDecodeError:
            raise _Malformed("text that is not UTF-8") from None
    if major == 6:
        raise _Malformed("a CBOR tag")
    if major == 7:
        if info == 20 or info == 21:
            return info == 21, pos
        if info == 22:
            return None, pos
        if info in (25, 26, 27):
            fmt = {25: ">e", 26: ">f", 27: ">d"}[info]
            return struct.unpack(fmt, arg.to_bytes(struct.calcsize(fmt), "big"))[0], pos
        raise _Malformed("a simple value posdiag does not write")
    if depth >= _MAX_DEPTH:
        raise _Malformed("nested too deep")
    if major == 4:
        if arg > end - pos:
            raise _Malformed("truncated")
        items = []
        for _ in range(arg):
            value, pos = _item(buf, pos, end, depth + 1)
            items.append(value)
        return items, pos
    # major 5: a map
    if 2 * arg > end - pos:
        raise _Malformed("truncated")
    out: dict = {}
    for _ in range(arg):
        key, pos = _item(buf, pos, end, depth + 1)
        if type(key) not in (int, str):
            raise _Malformed("a map key that is neither an integer nor text")
        if key in out:
            raise _Malformed("a map key twice")
        out[key], pos = _item(buf, pos, end, depth + 1)
    return out, pos


def decode_item(data: bytes, what: str) -> tuple[object, int]:
    """One CBOR item at the start of data; (value, bytes used)."""
    try:
        return _item(bytes(data), 0, len(data), 0)
    except _Malformed as e:
        raise BadDataError(f"malformed CBOR in {what}: {e}") from None


# -- fields, checked against docs/record.cddl ------------------------------


def _uint(v: object) -> bool:
    return type(v) is int and 0 <= v <= _UINT_MAX


def _int(v: object) -> bool:
    return type(v) is int and -_UINT_MAX <= v <= _UINT_MAX


def _opt_uint(v: object) -> bool:
    return v is None or _uint(v)


def _valid_check(check: int, v: object) -> bool:
    """One element of the checks array in either of its forms (record.cddl).
    Written out without helpers: it runs five times per record of a long log."""
    if type(v) is int:
        # The bare form: a healthy measurement, paper's flags; head's may be negative.
        return (-_UINT_MAX if check == 3 else 0) <= v <= _UINT_MAX
    if type(v) is not list or not v or type(v[0]) is not int or not 0 <= v[0] <= _UINT_MAX:
        return False  # the array form starts with the flags
    n = len(v)
    if check == 0:  # printer: [flags, raw status bytes, ms, ? baud index]
        return (
            (n == 3 or (n == 4 and type(v[3]) is int and 0 <= v[3] <= _UINT_MAX))
            and type(v[1]) is bytes
            and len(v[1]) <= 4
            and type(v[2]) is int
            and 0 <= v[2] <= _UINT_MAX
        )
    if check == 2:  # host: [flags, connect ms / null, echo ms / null]
        return n == 3 and _opt_uint(v[1]) and _opt_uint(v[2])
    if check == 3:  # head: [flags, deci-degrees / null]
        return n == 2 and (v[1] is None or (type(v[1]) is int and -_UINT_MAX <= v[1] <= _UINT_MAX))
    if check == 4:  # power: [flags, mean mV, spread mV]
        return n == 3 and _uint(v[1]) and _uint(v[2])
    return False  # paper is never an array


# Largest Unix time a date can be shown for (9999-12-31).
_TIME_MAX = 253402300799
_OPTIONAL = {
    r.K_TIME: ("time", lambda v: _uint(v) and v <= _TIME_MAX),
    r.K_TRIGGER: ("trigger", _uint),
    r.K_RECEIPT: ("receipt", _uint),
    r.K_COUNTERS: ("counters", lambda v: isinstance(v, list) and len(v) == 3 and all(_uint(x) for x in v)),
    r.K_ERROR: ("error", lambda v: isinstance(v, list) and len(v) == 2 and all(_uint(x) for x in v)),
}
_REQUIRED = frozenset((r.K_VERSION, r.K_SEQ, r.K_BOOT, r.K_UPTIME, r.K_CHECKS))
UNREADABLE = "unreadable"  # the key of a decoded record naming the fields left out


def _is_record(value: object) -> bool:
    """A map with the required keys, format version 1 and a seq: a record,
    whatever its other fields hold."""
    return (
        isinstance(value, dict)
        and value.keys() >= _REQUIRED
        and type(value[r.K_VERSION]) is int
        and value[r.K_VERSION] == r.FORMAT_VERSION
        and _uint(value[r.K_SEQ])
    )


_KNOWN = _REQUIRED | set(_OPTIONAL)
_CHECKS = ("printer", "paper", "host", "head", "power")


def _checks_valid(checks: object) -> bool:
    """Five checks, each null or valid (_valid_check)."""
    if type(checks) is not list or len(checks) != len(_CHECKS):
        return False
    i = 0
    for v in checks:
        # null and the bare healthy form inline; arrays through _valid_check
        if type(v) is int:
            if not (-_UINT_MAX if i == 3 else 0) <= v <= _UINT_MAX:
                return False
        elif v is not None and not _valid_check(i, v):
            return False
        i += 1
    return True


# The largest value of each integer field of a record.
_INT_FIELDS = {r.K_VERSION: _UINT_MAX, r.K_SEQ: _UINT_MAX, r.K_BOOT: _UINT_MAX, r.K_UPTIME: _UINT_MAX,
               r.K_TIME: _TIME_MAX, r.K_TRIGGER: _UINT_MAX, r.K_RECEIPT: _UINT_MAX}


def _all_valid(value: dict) -> bool:
    """True for the usual record: every key known and every value of its
    form, checked in one pass (the hot path of a long log; clean_record's
    field-by-field path names what is wrong when this says no)."""
    for key, v in value.items():
        high = _INT_FIELDS.get(key)
        if high is not None:
            if type(v) is not int or not 0 <= v <= high:
                return False
        elif key == r.K_CHECKS:
            if not _checks_valid(v):
                return False
        elif key in _OPTIONAL:
            if not _OPTIONAL[key][1](v):
                return False
        else:
            return False  # a key newer than this host: the careful path drops it
    return True


def clean_record(value: dict) -> dict:
    """The record with every field checked: a wrong type or an impossible
    value is left out (boot and uptime: None; a check: None, not run) and
    named in rec[UNREADABLE]. Keys newer than this host are ignored. value
    is a freshly decoded map: it is checked in place (the hot path)."""
    if _all_valid(value):
        value[UNREADABLE] = []
        return value
    unreadable: list[str] = []
    if not value.keys() <= _KNOWN:
        value = {k: v for k, v in value.items() if k in _KNOWN}
    for key, name in ((r.K_BOOT, "boot"), (r.K_UPTIME, "uptime")):
        if not _uint(value[key]):
            value[key] = None
            unreadable.append(name)
    for key, (name, ok) in _OPTIONAL.items():
        if key in value and not ok(value[key]):
            del value[key]
            unreadable.append(name)
    checks = value[r.K_CHECKS]
    if not _checks_valid(checks):
        if not isinstance(checks, list):
            unreadable.append("checks")
            checks = []
        out = []
        for i, check in enumerate(_CHECKS):
            v = checks[i] if i < len(checks) else None
            if v is not None and not _valid_check(i, v):
                unreadable.append(f"checks.{check}")
                v = None
            out.append(v)
        value[r.K_CHECKS] = out
    value[UNREADABLE] = unreadable
    return value


def record_at(buf: bytes, pos: int, end: int) -> tuple[dict, int] | str:
    """The record at buf[pos:] (at most MAX_RECORD bytes, within end):
    (its map, unchecked, position after it), or why there is none."""
    try:
        value, after = _item(buf, pos, min(end, pos + r.MAX_RECORD), 0)
    except _Malformed as e:
        return f"malformed CBOR ({e})"
    if not _is_record(value):
        return "not a posdiag record"
    assert isinstance(value, dict)
    return value, after


def decode_record(raw: bytes) -> dict:
    """One record's bytes, exactly as a LogFile or a pull cut them with the
    strict decoder (record_at), to its checked map (clean_record). The hot
    path of a long log, hence cbor2's C decoder here: the bytes are already
    known to be one well-formed record of at most MAX_RECORD bytes, and
    clean_record checks the type of every field it keeps, so whatever cbor2
    makes of a tag (a date, a big integer) is left out as unreadable."""
    if len(raw) > r.MAX_RECORD:
        raise BadDataError("record: longer than any record")
    try:
        value = cbor2.loads(raw)
    except (cbor2.CBORDecodeError, ValueError, TypeError, EOFError, RecursionError) as e:
        raise BadDataError(f"record: malformed CBOR ({e})") from None
    if type(value) is dict and len(value) >= len(_REQUIRED) and _all_valid(value) and value.keys() >= _REQUIRED:
        if value[r.K_VERSION] == r.FORMAT_VERSION:
            value[UNREADABLE] = []  # the usual record: every field as it should be
            return value
    if not _is_record(value):
        raise BadDataError("record: not a posdiag record")
    return clean_record(value)


# cbor2's semantic tags (6.x): each refused before its decoder runs, as is any
# other tag (tag_hook), so the batch fast path builds nothing but plain values.
_CBOR2_TAGS = (0, 1, 2, 3, 4, 5, 25, 28, 29, 30, 35, 36, 37, 52, 54, 100, 256, 258, 260, 261, 1004, 43000, 55799)


def _refuse_tag(*_: object) -> object:
    raise _Malformed("a CBOR tag")


_NO_TAGS = dict.fromkeys(_CBOR2_TAGS, _refuse_tag)


def _array_head(count: int) -> bytes:
    if count < 24:
        return bytes((0x80 | count,))
    return b"\x9a" + count.to_bytes(4, "big") if count >= 1 << 16 else b"\x99" + count.to_bytes(2, "big")


def plain_records(data: bytes, pos: int, count: int) -> list[tuple[bytes, dict]] | None:
    """The `count` records that fill data[pos:] exactly, each as (its bytes,
    its checked map: what decode_record gives), when every one is the usual
    record written the usual way; None otherwise, and the caller reads the
    items one by one (record_at, decode_record), which says what is wrong.

    The fast path of an upload's batch: one call of cbor2's C decoder for
    the whole batch (no tag decoded, no indefinite length, no duplicate
    key), then per record the one-pass check of decode_record's usual case
    and a proof that the bytes are exactly what the strict decoder reads:
    they equal cbor2's plain encoding of the value (shortest heads, definite
    lengths, no tags), so record_at would take the same bytes to the same
    map. Anything else (a float, a non-shortest head, a field out of range,
    bytes after the last record) goes to the careful path, as does every
    batch with a cbor2 older than 6 (its loads() takes none of these
    options)."""
    if count <= 0:
        return None
    try:
        values = cbor2.loads(
            _array_head(count) + data[pos:],
            semantic_decoders=_NO_TAGS,
            tag_hook=_refuse_tag,
            allow_indefinite=False,
            allow_duplicate_keys=False,
            max_depth=_MAX_DEPTH,
        )
    except Exception:  # noqa: BLE001 - whatever the C decoder refuses, the careful path names
        return None
    out = []
    dumps, version = cbor2.dumps, r.FORMAT_VERSION
    for value in values:
        if type(value) is not dict or len(value) < 5:
            return None
        for key in value:
            if type(key) is not int:
                return None
        if not (value.keys() >= _REQUIRED and _all_valid(value) and value[r.K_VERSION] == version):
            return None
        raw = dumps(value)
        if len(raw) > r.MAX_RECORD or not data.startswith(raw, pos):
            return None
        pos += len(raw)
        value[UNREADABLE] = []
        out.append((raw, value))
    if pos != len(data):
        return None
    return out


def split_records(data: bytes, keep: list[bytes] | None = None) -> list[bytes]:
    """The records of a CBOR sequence (a pull's batch), each as its own
    bytes. On a damaged one BadDataError is raised; the records before it
    are in `keep`."""
    out = keep if keep is not None else []
    data = bytes(data)
    pos = 0
    while pos < len(data):
        got = record_at(data, pos, len(data))
        if isinstance(got, str):
            raise BadDataError(f"{got}: record at byte {pos}")
        out.append(data[pos : got[1]])
        pos = got[1]
    return out


# -- the terminal item ----------------------------------------------------

_TERMINAL_UINTS = (
    "posdiag",
    "boot",
    "drops",
    "torn",
    "auth_failures",
    "selftests_refused",
    "receipts",
    "pulled",
)
_TERMINAL_TEXTS = ("terminal", "firmware")


def _clean_printer(v: object) -> dict | None:
    if not isinstance(v, dict):
        return None
    out: dict = {}
    if _uint(v.get("model")):
        out["model"] = v["model"]
    for key in ("firmware", "maker", "name"):
        if isinstance(v.get(key), str):
            out[key] = v[key][:_TEXT_MAX]
    raw = v.get("raw")
    if isinstance(raw, dict):
        kept = {k: b for k, b in raw.items() if k in ("firmware", "maker", "name") and isinstance(b, bytes)}
        if kept:
            out["raw"] = {k: b[:32] for k, b in kept.items()}
    return out


def clean_terminal(item: dict) -> dict:
    """The terminal item with every known field checked: a wrong value is
    None (unknown) and named in item[UNREADABLE]; texts are cut at 256
    characters; unknown keys are kept when they are plain text or numbers."""
    out: dict = {}
    unreadable: list[str] = []

    def put(key: str, value: object, ok: bool) -> None:
        out[key] = value if ok else None
        if not ok:
            unreadable.append(key)

    for key, value in item.items():
        if type(key) is not str:
            continue
        if key == "pulled":
            put(key, value, _uint(value) and value <= _TIME_MAX)
        elif key in _TERMINAL_UINTS:
            put(key, value, _uint(value))
        elif key in _TERMINAL_TEXTS:
            put(key, value[:_TEXT_MAX] if isinstance(value, str) else None, isinstance(value, str))
        elif key in ("oldest", "newest"):
            put(key, value, _opt_uint(value))
        elif key == "printer":
            out[key] = _clean_printer(value)
            if value is not None and out[key] is None:
                unreadable.append(key)
        elif key == "counters":
            put(key, value, isinstance(value, list) and len(value) == 3 and all(_uint(x) for x in value))
        elif key == "printer_counters":
            ok = value is None or (isinstance(value, list) and len(value) == 3 and all(_opt_uint(x) for x in value))
            put(key, value, ok)
        elif key == UNREADABLE:
            continue
        elif isinstance(value, str):
            out[key[:_TEXT_MAX]] = value[:_TEXT_MAX]
        elif value is None or type(value) is bool or _int(value):
            out[key[:_TEXT_MAX]] = value
    if unreadable:
        out[UNREADABLE] = unreadable
    return out


def _terminal_from(value: object, name: str) -> dict:
    if not isinstance(value, dict) or "posdiag" not in value:
        raise BadDataError(f"{name} does not start with a posdiag terminal item: not a pulled posdiag log")
    return clean_terminal(value)


def decode_terminal(data: bytes, name: str = "terminal info") -> dict:
    """A terminal item (INFO's answer), checked."""
    value, used = decode_item(data[:MAX_TERMINAL], name)
    return _terminal_from(value, name)


# -- reading a file --------------------------------------------------------


@dataclass
class Damage:
    """One damaged stretch of a file: where, how long, the seqs around it."""

    name: str
    offset: int  # file byte where it starts
    record_offset: int  # the same, counted from the first record
    skipped: int  # bytes skipped
    reason: str
    before: int | None  # seq of the last intact record before it
    after: int | None  # seq of the first intact record after it
    good_before: int  # intact records before it
    gave_up: bool = False  # no record within RESYNC_LIMIT bytes: the rest was not read

    def line(self) -> str:
        before = f"seq {self.before}" if self.before is not None else "the start"
        if self.gave_up:
            after = f"no record in the next {self.skipped} bytes, the rest of the file was not read"
        elif self.after is None:
            after = f"{self.skipped} bytes skipped to the end of the file"
        else:
            after = f"{self.skipped} bytes skipped up to seq {self.after}"
        return (
            f"{self.name}: damaged data at byte {self.offset} (record at byte {self.record_offset}, "
            f"after {self.good_before} good records, {before}): {self.reason}; {after}"
        )


def damage_summary(damage: list[Damage]) -> str | None:
    """The one line that ends a command that met damage (exit 5)."""
    if not damage:
        return None
    last = damage[-1].line()
    if len(damage) == 1:
        return last
    skipped = sum(d.skipped for d in damage)
    return f"{last} ({len(damage)} damaged stretches in all, {skipped} bytes skipped; every intact record was read)"


def damage_lines(damage: list[Damage]) -> list[str]:
    """One line per damaged stretch before the last (which damage_summary
    gives), at most DAMAGE_LINES, then how many more."""
    lines = [d.line() for d in damage[:-1][:DAMAGE_LINES]]
    if len(damage) - 1 > DAMAGE_LINES:
        lines.append(f"{damage[0].name}: {len(damage) - 1 - DAMAGE_LINES} more damaged stretches")
    return lines


class LogFile:
    """A pulled file read as a stream: the terminal item (refused within the
    first MAX_TERMINAL bytes when the file is no posdiag log), then the
    records one at a time, skipping damaged stretches (self.damage). Memory
    stays within a few chunks whatever the file's size."""

    def __init__(self, source: str | BinaryIO, name: str | None = None) -> None:
        """source: a path, or a file opened for reading bytes."""
        self.name = name or (source if isinstance(source, str) else "file")
        if isinstance(source, str):
            try:
                self._f: BinaryIO = open(source, "rb")  # noqa: SIM115 (closed by close())
            except OSError as e:
                raise BadDataError(f"cannot read {source}: {e.strerror or e}") from None
        else:
            self._f = source
        self._buf = b""
        self._base = 0  # file offset of _buf[0]
        self._eof = False
        self.damage: list[Damage] = []
        try:
            self._ensure(0, MAX_TERMINAL)
            if not self._buf:
                raise BadDataError(f"{self.name} is empty")
            # file offsets: where records start, where the first intact one is
            self.start, self._first = self._terminal()
        except BaseException:
            self.close()
            raise

    def _terminal(self) -> tuple[int, int]:
        """Read the terminal item; where the records start. A damaged
        terminal item is a damaged stretch when a record follows within
        MAX_TERMINAL bytes (its fields are then unknown); otherwise the
        file is no posdiag log."""
        try:
            value, used = decode_item(self._buf[:MAX_TERMINAL], self.name)
            self.terminal = _terminal_from(value, self.name)
            return used, used
        except BadDataError as e:
            found = self._resync(0, MAX_TERMINAL)
            if not isinstance(found, tuple):
                raise BadDataError(f"{self.name} is not a posdiag log: {e}") from None
            self.terminal = {UNREADABLE: ["terminal item"]}
            self.damage.append(
                Damage(self.name, 0, 0, found[0], f"terminal item unreadable ({e})", None, found[1][r.K_SEQ], 0)
            )
            return 0, found[0]

    def __enter__(self) -> LogFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._f.close()

    def _ensure(self, pos: int, n: int) -> None:
        """_buf holds the file from pos on, n bytes of it or up to the end."""
        rel = pos - self._base
        if rel >= _CHUNK:
            self._buf = self._buf[rel:]
            self._base = pos
            rel = 0
        while len(self._buf) - rel < n and not self._eof:
            try:
                chunk = self._f.read(_CHUNK)
            except OSError as e:
                raise BadDataError(f"cannot read {self.name}: {e.strerror or e}") from None
            if chunk:
                self._buf += chunk
            else:
                self._eof = True

    def _record(self, pos: int) -> tuple[dict, int] | str:
        """The record at file offset pos: (map, file offset after it), or why not."""
        self._ensure(pos, r.MAX_RECORD)
        rel = pos - self._base
        if rel >= len(self._buf):
            return "end of file"
        got = record_at(self._buf, rel, len(self._buf))
        if isinstance(got, str):
            return got
        return got[0], got[1] + self._base

    def _resync(self, pos: int, limit: int) -> tuple[int, dict] | str | None:
        """The next decodable record at or after pos: (offset, map); None
        when there is none before the end of the file, "limit" when there is
        none before limit."""
        while pos < limit:
            self._ensure(pos, r.MAX_RECORD)
            rel = pos - self._base
            if rel >= len(self._buf):
                return None
            m = _RECORD_START.search(self._buf, rel)
            if m is None:
                if self._eof:
                    return None
                pos = max(pos, self._base + len(self._buf) - 2)
                self._ensure(pos, _CHUNK)
                continue
            cand = self._base + m.start()
            if cand >= limit:
                return "limit"
            got = self._record(cand)
            if not isinstance(got, str):
                return cand, got[0]
            pos = cand + 1
        return "limit"

    def records(self) -> Iterator[bytes]:
        """Every intact record's bytes, in file order; each damaged stretch
        skipped to the next decodable record and noted in self.damage."""
        pos, last, good = self._first, None, 0
        while True:
            got = self._record(pos)
            if got == "end of file":
                return
            if not isinstance(got, str):
                value, after = got
                rel = pos - self._base
                yield self._buf[rel : rel + after - pos]
                pos, last, good = after, value[r.K_SEQ], good + 1
                continue
            limit = pos + RESYNC_LIMIT
            found = self._resync(pos + 1, limit)
            if not isinstance(found, tuple):
                gave_up = found == "limit"
                end = limit if gave_up else self._base + len(self._buf)
                self.damage.append(Damage(self.name, pos, pos - self.start, end - pos, got, last, None, good, gave_up))
                return
            nxt, value = found
            self.damage.append(Damage(self.name, pos, pos - self.start, nxt - pos, got, last, value[r.K_SEQ], good))
            pos = nxt


@dataclass
class PulledLog:
    terminal: dict
    records: list[bytes] = field(default_factory=list)
    stretches: list[Damage] = field(default_factory=list)  # damaged stretches met reading the file

    @property
    def damage(self) -> str | None:
        """One line on the damage met reading the file, None when intact."""
        return damage_summary(self.stretches)

    @property
    def complete(self) -> bool:
        """Every byte of the file was read (no damaged stretch too long to skip)."""
        return not any(d.gave_up for d in self.stretches)

    def seqs(self) -> list[int]:
        return [decode_record(raw)[r.K_SEQ] for raw in self.records]

    def to_bytes(self) -> bytes:
        terminal = {k: v for k, v in self.terminal.items() if k != UNREADABLE}
        return cbor2.dumps(terminal) + b"".join(self.records)

    def save(self, path: str) -> None:
        write_atomic(path, self.to_bytes())

    @classmethod
    def from_bytes(cls, data: bytes, name: str = "file") -> PulledLog:
        return cls.load(io.BytesIO(data), name)

    @classmethod
    def load(cls, source: str | BinaryIO, name: str | None = None) -> PulledLog:
        """Every intact record of a file in memory (LogFile for a stream)."""
        with LogFile(source, name) as f:
            log = cls(f.terminal, list(f.records()))
            log.stretches = f.damage
        return log
