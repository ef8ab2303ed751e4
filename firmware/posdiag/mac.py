# HMAC-SHA256 (RFC 2104), which MicroPython boards lack as a module. In the
# core because two optional packages sign with it: the link (the technician
# key's answers, posdiag/auth.py) and the uploader (hub requests,
# posdiag/hubwire.py), and a board may have either without the other.
#
# One 64-byte pad, flipped from the inner to the outer key in place: nothing
# sized by the message is copied. A caller that signs often passes its own
# pad (a buffer it keeps) and feeds the message in pieces: inner(), update
# the hash it returns, outer().
from hashlib import sha256


def inner(key, pad):
    """The inner hash of HMAC-SHA256 under key (bytes): a sha256 to update
    with the message, then to give to outer() with the same pad (a
    writable 64-byte buffer, left holding the inner key)."""
    if len(key) > 64:
        key = sha256(key).digest()
    n = len(key)
    for i in range(64):
        pad[i] = (key[i] if i < n else 0) ^ 0x36
    return sha256(pad)


def outer(pad, h):
    """The HMAC (raw digest) once the message is in h, inner()'s hash."""
    digest = h.digest()
    for i in range(64):
        pad[i] ^= 0x6A   # 0x36 ^ 0x5C: the inner pad becomes the outer
    h = sha256(pad)
    h.update(digest)
    return h.digest()


def hmac_sha256(key, msg):
    """HMAC-SHA256 of msg under key (bytes)."""
    pad = bytearray(64)
    h = inner(key, pad)
    h.update(msg)
    return outer(pad, h)
