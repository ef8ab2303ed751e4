# Small files in flash that survive a power cut at any block write, on
# littlefs and on FAT alike, without a rename (FAT's rename over an existing
# file is a remove then a rename: a cut between the two loses the file).
#
# Each small file NAME is kept as two copies written in turn: NAME holds the
# odd generations, NAME + ".b" the even ones. A copy is
#     data | generation u32 LE | CRC-32 u32 LE (over data and generation)
# Reading picks the intact copy with the higher generation; writing puts
# generation + 1 into the other copy, so the newest intact copy is never
# touched: a write cut short leaves the copy before it readable.
import struct
from binascii import crc32

_B = ".b"


def read_plain(storage, name):
    """A file's bytes as they are (no copies, no check)."""
    f = storage.open(name, "rb")
    try:
        return f.read()
    finally:
        f.close()


def _copy(storage, name):
    # (generation, data) of one copy, or (0, None) when missing or damaged.
    try:
        raw = read_plain(storage, name)
    except OSError:
        return 0, None
    n = len(raw) - 8
    if n < 0:
        return 0, None
    gen, crc = struct.unpack_from("<II", raw, n)
    if crc32(memoryview(raw)[:n + 4]) != crc or (gen & 1) != (
            0 if name.endswith(_B) else 1):
        return 0, None
    return gen, raw[:n]


def newest(storage, name):
    """(generation, data) of the newest intact copy of name: (0, None) when
    neither copy is intact."""
    gen, data = _copy(storage, name)
    gen_b, data_b = _copy(storage, name + _B)
    if gen_b > gen:
        return gen_b, data_b
    return gen, data


def read(storage, name):
    """The data last written to name; OSError when there is none intact."""
    data = newest(storage, name)[1]
    if data is None:
        raise OSError(2)   # ENOENT
    return data


def write_atomic(storage, name, data, gen=None):
    """Replace name's data; a power cut at any point leaves either the old
    or the new data readable (the name is kept from the rename design: the
    write is atomic, there is no rename). gen: the newest copy's generation
    when the caller kept it from its last write (None: read both copies to
    find it, which costs a read of each). Returns the generation written;
    a caller keeps it only once this returns, so a write that failed is
    redone into the same copy, never into the intact one."""
    if gen is None:
        gen = newest(storage, name)[0]
    gen += 1
    tail = struct.pack("<I", gen)
    f = storage.open(name + _B if gen & 1 == 0 else name, "wb")
    try:
        f.write(data)
        f.write(tail)
        f.write(struct.pack("<I", crc32(tail, crc32(data))))
    finally:
        f.close()
    return gen


def save_struct(storage, name, fmt, values, gen=None):
    """Pack values with struct format fmt and write them atomically; the
    generation written (write_atomic)."""
    return write_atomic(storage, name, struct.pack(fmt, *values), gen)


def load_struct(storage, name, fmt):
    """The values saved by save_struct, or None when there are none intact
    or of another size."""
    data = newest(storage, name)[1]
    if data is None or len(data) != struct.calcsize(fmt):
        return None
    return struct.unpack(fmt, data)


def save_u32s(storage, name, values, gen=None):
    """A list of unsigned 32-bit numbers, written atomically; the generation
    written (write_atomic)."""
    return save_struct(storage, name, "<%dI" % len(values), values, gen)


def load_u32s(storage, name):
    """The list saved by save_u32s; [] when missing or damaged."""
    data = newest(storage, name)[1]
    if data is None or len(data) % 4:
        return []
    return list(struct.unpack("<%dI" % (len(data) // 4), data))
