# Commands of the diagnostics link, shared by the terminal (link.py) and the
# host tool (serial_link.py): codes, every argument and answer layout, every
# limit. A response has the kind of its request with the top bit set and
# starts with a status byte. docs/serial-protocol.md is the reference.
import struct

from posdiag import auth, escpos, frame

CMD_INFO = 0x01       # -> status | CBOR terminal item (text keys)
CMD_PULL = 0x02       # since u32 LE, max bytes u16 LE -> status | records
CMD_SELFTEST = 0x03   # -> status | the new record; rate-limited (LIMITED)
CMD_RECOVER = 0x04    # auth, mode u8 (1 reprint, 2 clear) -> status: DLE ENQ sent
CMD_CHALLENGE = 0x05  # -> status | nonce (16 bytes) for one authenticated command
CMD_CLEAR_LOG = 0x06  # auth -> status: every diagnostics record removed
CMD_CONFIG_GET = 0x07  # -> status | settings as JSON text (the key left out)
CMD_CONFIG_SET = 0x08  # auth, JSON object of settings -> status
CMD_RECEIPTS = 0x09   # auth -> status | CBOR array of [seq, bytes] pending
CMD_RECEIPT = 0x0A    # auth, seq u32 LE, offset u16 LE -> status | total u16 | chunk
CMD_ACK = 0x0B        # auth, seq u32 LE -> status: that receipt delivered
CMD_SELFTEST_KEY = 0x0C  # auth -> status | the new record, never rate-limited
RESPONSE = 0x80

OK = 0
UNKNOWN_COMMAND = 1
BAD_REQUEST = 2
FAILED = 3
AUTH_FAILED = 4       # wrong or missing HMAC, or no key set on the terminal
LOCKED = 5            # no challenge now: wait after wrong answers
NOT_FOUND = 6
RATE_LIMITED = 7      # SELFTEST without the key too often -> status | wait u16 s
STATUS_NAMES = ("ok", "unknown command", "bad request", "failed", "wrong key",
                "locked after wrong keys: wait", "not found",
                "too many self-tests without the key: wait, or give the technician key")

# Commands whose payload must start with the HMAC answer (auth.py).
AUTHENTICATED = (CMD_RECOVER, CMD_CLEAR_LOG, CMD_CONFIG_SET, CMD_RECEIPTS,
                 CMD_RECEIPT, CMD_ACK, CMD_SELFTEST_KEY)

# Commands anyone on the cable may send, but only so often: each SELFTEST
# writes a record, and a full log drops its oldest. A token bucket: a burst
# of SELFTEST_BURST (a technician's visit: test, fix, test again), then one
# every SELFTEST_EVERY_S (3 a minute), so abuse cannot push old fault
# evidence out faster. CMD_SELFTEST_KEY is the unlimited form.
LIMITED = (CMD_SELFTEST,)
SELFTEST_BURST = 5
SELFTEST_EVERY_S = 20

# Commands a retried request must not run twice (see link.py).
NOT_REPEATABLE = (CMD_SELFTEST, CMD_CHALLENGE) + AUTHENTICATED

# -- limits ------------------------------------------------------------------
# Largest payload in one frame (1024), status byte included: a PULL answer
# holds up to MAX_PAYLOAD - 1 bytes of records.
MAX_PAYLOAD = frame.MAX_BODY - frame.OVERHEAD
# Largest request body the terminal accepts: its reader's fixed buffer. The
# largest request is CONFIG_SET, so its settings text may take what the
# frame and the HMAC answer leave: 256 - 6 - 32 = 218 bytes.
REQUEST_MAX = 256
CONFIG_TEXT_MAX = REQUEST_MAX - frame.OVERHEAD - auth.MAC_LEN

# -- argument and answer layouts (struct formats, little-endian) ---------------
# The arguments of an authenticated command follow its HMAC answer
# (auth.MAC_LEN bytes); an answer follows the status byte.
PULL_ARGS = "<IH"          # since (seq, inclusive) u32, max bytes u16: exactly
PULL_ARGS_SIZE = struct.calcsize(PULL_ARGS)
RATE_LIMITED_ANSWER = "<H"  # SELFTEST refused: wait u16, seconds to the next
RECOVER_ARGS = "<B"        # mode u8: exactly, one of RECOVER_MODES
RECOVER_ARGS_SIZE = struct.calcsize(RECOVER_ARGS)
RECOVER_MODES = (escpos.RECOVER_REPRINT, escpos.RECOVER_CLEAR)  # DLE ENQ n
RECEIPT_ARGS = "<IH"       # seq u32, offset u16: exactly
RECEIPT_ARGS_SIZE = struct.calcsize(RECEIPT_ARGS)
RECEIPT_ANSWER = "<H"      # total u16 (the receipt's size), then its bytes
RECEIPT_ANSWER_SIZE = struct.calcsize(RECEIPT_ANSWER)  # from offset on
RECEIPT_CHUNK = 1000       # bytes of a receipt per RECEIPT answer, at most
ACK_ARGS = "<I"            # seq u32 (bytes after it are ignored)
ACK_ARGS_SIZE = struct.calcsize(ACK_ARGS)
# The rest are not struct layouts: INFO answers a CBOR map (the terminal
# item), PULL and SELFTEST CBOR records, CHALLENGE auth.NONCE_LEN bytes,
# CONFIG_GET a JSON object as UTF-8 text, CONFIG_SET takes one (at most
# CONFIG_TEXT_MAX bytes) and RECEIPTS answers a CBOR array of [seq, size].
