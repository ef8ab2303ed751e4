# Commands of the diagnostics link, shared by the terminal (link.py) and the
# host tool. A response has the kind of its request with the top bit set and
# starts with a status byte. docs/serial-protocol.md is the reference.
CMD_INFO = 0x01       # -> status | CBOR terminal item (text keys)
CMD_PULL = 0x02       # since u32 LE, max bytes u16 LE -> status | records
CMD_SELFTEST = 0x03   # -> status | the new record
CMD_RECOVER = 0x04    # mode u8 (1 reprint, 2 clear) -> status: DLE ENQ sent
RESPONSE = 0x80

OK = 0
UNKNOWN_COMMAND = 1
BAD_REQUEST = 2
FAILED = 3
STATUS_NAMES = ("ok", "unknown command", "bad request", "failed")

# Commands a retried request must not run twice (see link.py).
NOT_REPEATABLE = (CMD_SELFTEST, CMD_RECOVER)

# Largest payload in one frame, status byte included: a PULL answer holds
# up to MAX_PAYLOAD - 1 bytes of records.
MAX_PAYLOAD = 1024
