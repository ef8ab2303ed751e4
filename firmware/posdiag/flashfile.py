# Small files in flash that survive a power cut at any byte: written whole
# to a temporary file, then renamed over the old one (atomic on littlefs), and
# checked with a CRC-32 when read back.
import struct
from binascii import crc32


def read(storage, name):
    f = storage.open(name, "rb")
    try:
        return f.read()
    finally:
        f.close()


def write_atomic(storage, name, data):
    tmp = name + ".tmp"
    f = storage.open(tmp, "wb")
    try:
        f.write(data)
    finally:
        f.close()
    storage.rename(tmp, name)


def save_struct(storage, name, fmt, values):
    """Pack values with struct format fmt, add a CRC, write atomically."""
    data = struct.pack(fmt, *values)
    write_atomic(storage, name, data + struct.pack("<I", crc32(data)))


def load_struct(storage, name, fmt):
    """The values saved by save_struct, or None when the file is missing,
    short or fails its CRC."""
    try:
        data = read(storage, name)
    except OSError:
        return None
    size = struct.calcsize(fmt)
    if len(data) != size + 4 or crc32(data[:size]) != struct.unpack_from(
            "<I", data, size)[0]:
        return None
    return struct.unpack_from(fmt, data, 0)


def save_u32s(storage, name, values):
    """A list of unsigned 32-bit numbers, CRC-protected, written atomically."""
    save_struct(storage, name, "<%dI" % len(values), values)


def load_u32s(storage, name):
    """The list saved by save_u32s; [] when missing or damaged."""
    try:
        data = read(storage, name)
    except OSError:
        return []
    n = (len(data) - 4) // 4
    if n < 0 or len(data) != n * 4 + 4:
        return []
    values = load_struct(storage, name, "<%dI" % n)
    return list(values) if values is not None else []
