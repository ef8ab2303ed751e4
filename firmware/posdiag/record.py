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
K_CHECKS = 6    # [printer, paper, host, head, power], null: did not run
K_RECEIPT = 7   # failed-print records: the pending receipt's journal seq
K_COUNTERS = 8  # scheduled records: [paper fed mm, cuts, head energizing]
K_ERROR = 9     # the self-test failed inside: [stage, catalog.ERROR_CLASSES code]

# Stages of K_ERROR: a check index (catalog.CHECK_*), or this.
STAGE_RECORD = 5   # after the checks: encoding and writing the record

TRIGGER_BOOT = 0
TRIGGER_FAILED_PRINT = 1
TRIGGER_REQUEST = 2
TRIGGER_SCHEDULE = 3
TRIGGERS = ("boot", "failed-print", "request", "schedule")

# Largest record the firmware writes or the host accepts: bounds the decoder.
MAX_RECORD = 255


# Which element of a check's full form is its key measurement: a check that
# found nothing wrong is stored as that number alone (docs/record-format.md):
# printer reply ms, host connect ms, head deci-degrees C, supply mean mV.
# Paper has no measurement: it is always its flags.
_KEY_MEASUREMENT = (2, None, 1, 1, 1)


def compact(check, value):
    """A check's stored form: the key measurement alone when its flags are
    0 (the healthy case, several bytes less), else the full array."""
    if value is None or isinstance(value, int) or value[0]:
        return value
    key = _KEY_MEASUREMENT[check]
    if key is None or value[key] is None:
        return value
    return value[key]


def build(seq, boot, uptime_s, unix_time, trigger, checks, receipt=None,
          counters=None, error=None):
    """The record map. checks holds each check's full form, indexed by
    catalog.CHECK_* (None where it did not run):
    printer [flags, raw status bytes, reply ms] (+ baud rate index found),
    paper flags, host [flags, connect ms, echo ms], head [flags, deci-C],
    power [flags, mean mV, spread mV]. error: [stage, catalog.ERROR_CLASSES
    code] when the self-test failed inside (K_ERROR)."""
    rec = {K_VERSION: FORMAT_VERSION, K_SEQ: seq, K_BOOT: boot,
           K_UPTIME: uptime_s}
    if unix_time is not None:
        rec[K_TIME] = unix_time
    if trigger != TRIGGER_BOOT:
        rec[K_TRIGGER] = trigger
    rec[K_CHECKS] = [compact(i, checks[i]) for i in range(len(checks))]
    if receipt is not None:
        rec[K_RECEIPT] = receipt
    if counters is not None:
        rec[K_COUNTERS] = counters
    if error is not None:
        rec[K_ERROR] = error
    return rec


def error_code(exc):
    """The catalog.ERROR_CLASSES code of the most specific built-in class exc
    is an instance of (0, Exception, for anything else)."""
    classes = catalog.ERROR_CLASSES
    best = 0
    for code in range(1, len(classes)):
        cls = classes[code]
        if isinstance(exc, cls) and issubclass(cls, classes[best]):
            best = code
    return best


def check_flags(checks, check):
    """The flags of one check in a record's checks array; 0 when the check
    did not run or found nothing."""
    if check >= len(checks) or checks[check] is None:
        return 0
    value = checks[check]
    if isinstance(value, int):
        # Paper is always its flags; any other bare number is a healthy check.
        return value if check == catalog.CHECK_PAPER else 0
    return value[0]


def encode(rec):
    data = cbor.encode(rec)
    if len(data) > MAX_RECORD:
        raise ValueError("record too large")
    return data
