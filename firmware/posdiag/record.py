# Layout of one self-test record: a CBOR map with small integer keys, checks
# as a positional array. docs/record.cddl is the schema; docs/record-format.md
# explains every field. The host decodes with these same names.
from posdiag import catalog, cbor

FORMAT_VERSION = 1

K_VERSION = 0   # record format version
K_SEQ = 1       # sequence number, never reused, persisted across reboots
K_BOOT = 2      # boot count
K_UPTIME = 3    # seconds since boot
K_TIME = 4      # unix seconds, only when the terminal's clock is set
K_TRIGGER = 5   # why the self-test ran; absent means boot (the usual case)
K_CHECKS = 6    # [printer, paper, host], null where a check did not run

TRIGGER_BOOT = 0
TRIGGER_FAILED_PRINT = 1
TRIGGER_REQUEST = 2
TRIGGER_SCHEDULE = 3
TRIGGERS = ("boot", "failed-print", "request", "schedule")

# Largest record the firmware writes or the host accepts: bounds the decoder.
MAX_RECORD = 255


def build(seq, boot, uptime_s, unix_time, trigger, checks):
    """The record map. checks is the list indexed by catalog.CHECK_*:
    printer [flags, raw status bytes (b"" when none came), reply ms],
    paper flags,
    host [flags, rtt ms or None], stored as the RTT alone when flags is 0
    (the healthy case, two bytes less)."""
    rec = {K_VERSION: FORMAT_VERSION, K_SEQ: seq, K_BOOT: boot,
           K_UPTIME: uptime_s}
    if unix_time is not None:
        rec[K_TIME] = unix_time
    if trigger != TRIGGER_BOOT:
        rec[K_TRIGGER] = trigger
    host = checks[catalog.CHECK_HOST]
    if host is not None and host[0] == 0 and host[1] is not None:
        checks = checks[:catalog.CHECK_HOST] + [host[1]] + checks[catalog.CHECK_HOST + 1:]
    rec[K_CHECKS] = checks
    return rec


def check_flags(checks, check):
    """The flags of one check in a record's checks array; 0 when the check
    did not run or found nothing."""
    if check >= len(checks) or checks[check] is None:
        return 0
    value = checks[check]
    if check == catalog.CHECK_HOST and isinstance(value, int):
        return 0   # the healthy form: the RTT alone
    if isinstance(value, int):
        return value
    return value[0]


def encode(rec):
    data = cbor.encode(rec)
    if len(data) > MAX_RECORD:
        raise ValueError("record too large")
    return data
