# The wire contract between a terminal and the hub (`posdiag hub`,
# docs/hub.md), defined once: the terminal's uploader signs with it, the hub
# verifies with it. MicroPython code: no host imports, nothing allocated at
# import time beyond the constants.
#
# Every upload is one POST signed with the terminal's upload key (its own
# key, not the technician's), HMAC-SHA256 over
#
#   SCHEME \n METHOD \n PATH \n TERMINAL \n TIME \n NONCE \n hex(sha256(body))
#
# The body enters only through its SHA-256, so a terminal hashes it as it
# streams it out and never holds it whole. TIME is the terminal's Unix time
# (its clock plus the offset it learnt from the hub: a terminal may have no
# real-time clock). The hub refuses a TIME more than SKEW_S away from its
# own with 401 and its time in H_HUB_TIME; the terminal keeps the difference
# as its offset and signs again. A NONCE the hub has seen within the window
# is refused (a replay); a retry is a new request with a fresh nonce.
from binascii import hexlify
from hashlib import sha256

from posdiag.mac import hmac_sha256, inner, outer

SCHEME = "PD1-HMAC-SHA256"
API = "/api/v1"
PATH_RECORDS = "/api/v1/records"     # body: CBOR array of records, each verbatim
PATH_RECEIPTS = "/api/v1/receipts"   # body: CBOR array of [journal seq, entry]
CONTENT_TYPE = "application/cbor"

H_TERMINAL = "X-Posdiag-Terminal"
H_TIME = "X-Posdiag-Time"
H_NONCE = "X-Posdiag-Nonce"
H_SIGNATURE = "X-Posdiag-Signature"
H_HUB_TIME = "X-Posdiag-Hub-Time"    # in every answer: the hub's Unix time

SKEW_S = 300           # a request's TIME may be this far from the hub's clock
NONCE_LEN = 16         # bytes, sent as 32 hex digits
TERMINAL_MAX = 64      # characters of a terminal id: letters, digits, - _ .
MAX_BODY = 65536       # bytes of one upload's body; more is refused (413)
MAX_RECORDS = 256      # records in one batch (each at most record.MAX_RECORD)
MAX_RECEIPTS = 8       # journal entries in one batch (each at most 4096 bytes)
MIN_KEY = 16           # bytes of an upload key


def body_hash(chunks):
    """SHA-256 of a body given as an iterable of byte strings (raw digest)."""
    h = sha256()
    for chunk in chunks:
        h.update(chunk)
    return h.digest()


def canonical(method, path, terminal, timestamp, nonce, digest):
    """The bytes a terminal signs. digest: sha256(body), raw."""
    return ("%s\n%s\n%s\n%s\n%d\n%s\n%s" % (
        SCHEME, method, path, terminal, timestamp, nonce,
        hexlify(digest).decode())).encode()


def sign(key, method, path, terminal, timestamp, nonce, digest):
    """The signature header's value: 64 hex digits."""
    return hexlify(hmac_sha256(key, canonical(method, path, terminal, timestamp, nonce, digest))).decode()


def headers(key, method, path, terminal, timestamp, nonce, digest):
    """The headers of a signed upload, as (name, value) pairs. nonce: 32
    hex digits, fresh for every request (retries included)."""
    return ((H_TERMINAL, terminal), (H_TIME, str(timestamp)), (H_NONCE, nonce),
            (H_SIGNATURE, sign(key, method, path, terminal, timestamp, nonce, digest)))


def put(buf, i, data):
    """Copy data (bytes) into buf at i; the index after it."""
    j = i + len(data)
    buf[i:j] = data
    return j


def put_hex(buf, i, data):
    """Write data's bytes into buf at i as lower-case hex digits (as
    hexlify); the index after them."""
    for k in range(len(data)):
        c = data[k]
        buf[i] = _HEX[c >> 4]
        buf[i + 1] = _HEX[c & 15]
        i += 2
    return i


_HEX = b"0123456789abcdef"


def put_headers(buf, i, pad, key, path, terminal, timestamp, nonce, digest, mv=None):
    """The signed headers of a POST, as headers() gives them, written into
    buf (a bytearray) at i as "Name: value\r\n" lines; the index after
    them. path, terminal: bytes; nonce: NONCE_LEN raw bytes (sent as hex);
    pad: a writable 64-byte buffer (the HMAC's); mv: memoryview(buf) when
    the caller keeps one. The signed text is hashed from buf as it is
    written: no copy of it is made."""
    if mv is None:
        mv = memoryview(buf)
    h = inner(key, pad)
    h.update(b"PD1-HMAC-SHA256\nPOST\n")   # SCHEME, the method
    h.update(path)
    h.update(b"\n")
    h.update(terminal)
    i = put(buf, i, b"X-Posdiag-Terminal: ")
    i = put(buf, i, terminal)
    i = put(buf, i, b"\r\nX-Posdiag-Time: ")
    j = put(buf, i, b"%d" % timestamp)
    h.update(b"\n")
    h.update(mv[i:j])
    i = put(buf, j, b"\r\nX-Posdiag-Nonce: ")
    j = put_hex(buf, i, nonce)
    h.update(b"\n")
    h.update(mv[i:j])
    i = put(buf, j, b"\r\nX-Posdiag-Signature: ")
    # hex(sha256(body)) is signed from where the signature then goes.
    j = put_hex(buf, i, digest)
    h.update(b"\n")
    h.update(mv[i:j])
    j = put_hex(buf, i, outer(pad, h))
    return put(buf, j, b"\r\n")


def head(major, n):
    """A CBOR head: an array's (major 4) before its items, a uint's (0)."""
    if n < 24:
        return bytes((major << 5 | n,))
    if n < 0x100:
        return bytes((major << 5 | 24, n))
    if n < 0x10000:
        return bytes((major << 5 | 25, n >> 8, n & 255))
    return bytes((major << 5 | 26, n >> 24, (n >> 16) & 255, (n >> 8) & 255, n & 255))


def records_head(count):
    """A records batch starts with this; the records follow, as in the log."""
    return head(4, count)


def receipt_head(seq):
    """One receipt item starts with this; the journal entry's bytes follow."""
    return b"\x82" + head(0, seq)
