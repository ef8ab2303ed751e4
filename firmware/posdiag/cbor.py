# A CBOR encoder (RFC 8949) for the few types posdiag records hold: integers,
# byte and text strings, arrays, maps, null and booleans. Integers always take
# their shortest form and map keys are written in the deterministic order of
# RFC 8949 section 4.2.1 (bytewise order of their encodings), so the same
# values give the same bytes on MicroPython and CPython: MicroPython's dicts
# do not keep insertion order. No floats: records use integer
# units (mV, deci-degrees C, ms), and MicroPython decoders reject float16.


def _head(out, major, n):
    # The initial byte, then n in the fewest of 1, 2, 4 or 8 bytes (additional
    # information 24-27), big-endian; below 24, n is in the initial byte.
    major <<= 5
    if n < 24:
        out.append(major | n)
        return
    info = 24
    size = 1
    while n >> (8 * size):
        info += 1
        size *= 2
    out.append(major | info)
    for shift in range(8 * size - 8, -8, -8):
        out.append((n >> shift) & 0xFF)


def _ordered_keys(d):
    # The keys in the bytewise order of their encodings without encoding
    # them (MicroPython calls a sort's key function at every comparison):
    # unsigned integers (every record) by value; ASCII text (the terminal
    # item, receipts) by length, then by character, as its head holds the
    # length. Other maps (none of posdiag's) encode each key to compare.
    uint = text = 0
    for k in d:
        if type(k) is int and k >= 0:
            uint += 1
        elif type(k) is str and (not k or max(k) < "\x80"):
            text += 1
    n = len(d)
    if uint == n:
        return sorted(d)
    if text < n:
        return sorted(d, key=encode)
    keys = list(d)
    for i in range(1, n):   # insertion sort: no (length, text) pairs made
        k = keys[i]
        j = i
        while j and (len(keys[j - 1]) > len(k) or
                     len(keys[j - 1]) == len(k) and keys[j - 1] > k):
            keys[j] = keys[j - 1]
            j -= 1
        keys[j] = k
    return keys


def encode_into(out, value):
    """Append the encoding of value to the bytearray out."""
    if value is None:
        out.append(0xF6)
    elif value is True:
        out.append(0xF5)
    elif value is False:
        out.append(0xF4)
    elif isinstance(value, int):
        if value >= 0:
            _head(out, 0, value)
        else:
            _head(out, 1, -1 - value)
    elif isinstance(value, str):
        # Short text (most of it) is copied without an encoded copy made
        # first: its head byte is held, then filled with the length.
        at = len(out)
        out.append(0x60)
        try:
            out.extend(value)   # MicroPython: a str's buffer is its UTF-8
        except TypeError:   # CPython
            out.extend(value.encode())
        n = len(out) - at - 1
        if n < 24:
            out[at] |= n
        else:
            out[at:] = b""
            data = value.encode()
            _head(out, 3, len(data))
            out.extend(data)
    # Each isinstance on its own: a tuple of types is built at every call.
    elif isinstance(value, bytes) or isinstance(value, bytearray):
        _head(out, 2, len(value))
        out.extend(value)
    elif isinstance(value, list) or isinstance(value, tuple):
        _head(out, 4, len(value))
        for item in value:
            encode_into(out, item)
    elif isinstance(value, dict):
        _head(out, 5, len(value))
        for key in _ordered_keys(value):
            encode_into(out, key)
            encode_into(out, value[key])
    else:
        raise TypeError("cbor: unsupported type")
    return out


def encode(value):
    return bytes(encode_into(bytearray(), value))
