# HMAC-SHA256 (RFC 2104), which MicroPython boards lack as a module. In the
# core because two optional packages sign with it: the link (the technician
# key's answers, posdiag/auth.py) and the uploader (hub requests,
# posdiag/hubwire.py), and a board may have either without the other.
from hashlib import sha256


def hmac_sha256(key, msg):
    """HMAC-SHA256 of msg under key (bytes). One 64-byte pad, flipped from
    the inner to the outer key in place: nothing sized by msg is copied."""
    if len(key) > 64:
        key = sha256(key).digest()
    pad = bytearray(64)
    pad[:len(key)] = key
    for i in range(64):
        pad[i] ^= 0x36
    h = sha256(pad)
    h.update(msg)
    inner = h.digest()
    for i in range(64):
        pad[i] ^= 0x6A   # 0x36 ^ 0x5C: the inner pad becomes the outer
    h = sha256(pad)
    h.update(inner)
    return h.digest()
