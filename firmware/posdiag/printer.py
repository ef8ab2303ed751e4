# Talking to the receipt printer over its port (the machine.UART subset):
# real-time status with fixed-bit validation, the baud-rate scan for a
# garbled link and the recovery request (DLE ENQ), which is only ever sent
# when asked for. What the printer says of itself (GS I, GS g 2) is in
# printerid.py.
#
# Real printers are not all prompt: some answer 100-200 ms late, some send
# Automatic Status Back blocks or XON/XOFF between replies. A reply that comes
# after its wait must never pass for the answer to the next query, so every
# query sent is accounted for: a retry repeats the same query (any late reply
# is then a right answer), and replies still owed are absorbed before a
# different query goes out.
from posdiag import catalog as c
from posdiag import escpos

try:
    from micropython import const
except ImportError:   # CPython: the host tool and the simulator
    const = int  # type: ignore[assignment]

# The catalog's printer flags this module sets, folded into the bytecode
# (tests/test_catalog.py checks each is catalog.<name without _>).
_P_NO_REPLY = const(0x1)
_P_GARBLED = const(0x2)
_P_PARTIAL = const(0x2000)

# After a byte that is not a status, how long the line may stay quiet before
# the reply counts as garbled: bytes of one reply come back to back.
GAP_MS = 30

# The longest block (0x5F ... 0x00) a status query skips as a late answer.
_BLOCK_MAX = const(48)

# Reused for every byte read: a status query allocates nothing per byte.
_ONE = bytearray(1)
_SCRATCH = bytearray(16)


# A reply later than this many timeouts is lost, not late: replies still
# owed by an earlier check are waited for only within that time of it.
_LATE_TIMEOUTS = const(4)


def drain(port):
    """Drop whatever the port holds now (an ASB message, a late reply);
    return how many of the dropped bytes were status replies."""
    replies = 0
    while port.any():
        n = port.readinto(_SCRATCH)
        if not n:
            break
        for i in range(n):
            if escpos.is_status(_SCRATCH[i]):
                replies += 1
    return replies


def read_byte(port, clock, start, timeout_ms):
    """The next byte from port, or -1 when timeout_ms since start ran out."""
    while True:
        if port.any() and port.readinto(_ONE):
            return _ONE[0]
        if clock.ticks_diff(clock.ticks_ms(), start) >= timeout_ms:
            return -1
        clock.sleep_ms(1)


def query_status(port, clock, query, timeout_ms):
    """Send one DLE EOT query; return (status byte or -1, noise): noise
    counts bytes that arrived but were neither a status, XON/XOFF nor part
    of an ASB block. After noise the wait ends once the line is quiet for
    GAP_MS: a garbled link is known in milliseconds, not a timeout. A
    0x5F ... 0x00 block (a GS I or GS g 2 answer that came late: its digits
    look like status bytes) is skipped whole."""
    port.write(query)
    start = clock.ticks_ms()
    wait = timeout_ms
    noise = 0
    asb_left = 0
    block_left = 0   # bytes a late identity or counter block may still hold
    echoed = 0   # bytes of our own query coming back (TX looped to RX)
    while True:
        b = read_byte(port, clock, start, wait)
        if b < 0:
            return b, noise
        if block_left:
            block_left = 0 if b == 0 else block_left - 1
            if block_left or b == 0:
                continue
            # longer than any block: it was garbage after all
        elif b == escpos.BLOCK_START:
            block_left = _BLOCK_MAX
            continue
        if b == query[echoed]:
            # Our own query coming back is noise, though DLE EOT n has the
            # shape of an ASB block.
            echoed += 1
            if echoed < len(query):
                continue
            echoed = 0
        elif asb_left and (b & 0x90) == 0:
            # Bytes 2-4 of an Automatic Status Back block: 0xx0xxxx.
            asb_left -= 1
            continue
        elif escpos.is_status(b):
            return b, noise
        elif (b & 0x93) == 0x10:
            # The first byte of an ASB block: 0xx1xx00.
            echoed = 0
            asb_left = 3
            continue
        elif b == escpos.XON or b == escpos.XOFF:
            continue
        echoed = 0
        asb_left = 0
        noise += 1
        start = clock.ticks_ms()
        wait = min(GAP_MS, timeout_ms)


def _absorb(port, clock, owed, timeout_ms):
    # Replies to queries already answered or given up on may still come:
    # wait for them (up to one timeout) and drop them, so the next query's
    # answer is its own.
    start = clock.ticks_ms()
    while owed > 0:
        b = read_byte(port, clock, start, timeout_ms)
        if b < 0:
            return
        if escpos.is_status(b):
            owed -= 1


def read_statuses(port, clock, timeout_ms, retries=1, carry=None,
                  absorb_ms=None):
    """DLE EOT 1-4 in turn: (flags, raw reply bytes). A query with no reply
    at all is sent again (retries) before it counts: one lost byte is not a
    dead printer. Once the printer has answered, its own pace sets the wait
    (twice its first reply time, if longer than timeout_ms). The raw bytes
    stop where the printer stopped answering.
    carry: a [replies owed, ticks ms of the last query, that query's index]
    list the caller keeps between checks, so replies an earlier check gave
    up on are not taken for this one's answers: owed by DLE EOT 1 (a printer
    that did not answer at all), they are answers to this check's first
    query too and are counted with its own; owed by a later query, they are
    waited for (at most absorb_ms) and dropped before this check asks."""
    pending = 0   # replies to DLE EOT 1 still owed by the last check
    if carry is not None and carry[0]:
        late = _LATE_TIMEOUTS * timeout_ms - clock.ticks_diff(clock.ticks_ms(), carry[1])
        if late > 0:
            owed = max(0, carry[0] - drain(port))
            if carry[2] == 0:
                pending = owed
            else:
                _absorb(port, clock, owed, late if absorb_ms is None else min(late, absorb_ms))
    drain(port)
    raw = bytearray()
    flags = 0
    owed = 0
    wait = timeout_ms
    sent_at = 0
    for i in range(4):
        # Owed only after a try timed out, i.e. from a slow printer: worth
        # waiting for (up to the late limit), or they answer the next query.
        _absorb(port, clock, owed, _LATE_TIMEOUTS * timeout_ms)
        sent = pending if i == 0 else 0
        tries = 0
        start = clock.ticks_ms()
        while True:
            sent_at = clock.ticks_ms()
            b, noise = query_status(port, clock, escpos.QUERIES[i], wait)
            sent += 1
            tries += 1
            if b >= 0 or noise or tries > retries:
                break
        owed = sent - 1   # replies to the other tries are still on their way
        if b < 0:
            if noise:
                owed = 0   # its answers came, as garbage
                flags |= _P_GARBLED
            else:
                owed = sent   # every try of this query may still be answered
                flags |= _P_PARTIAL if raw else _P_NO_REPLY
            break
        if not raw:
            took = clock.ticks_diff(clock.ticks_ms(), start)
            wait = max(wait, 2 * took)
        raw.append(b)
        flags |= escpos.status_flags(i + 1, b)
    if carry is not None:
        carry[0] = owed
        carry[1] = sent_at
        carry[2] = i
    return flags, bytes(raw)


def scan_baud(port, clock, timeout_ms, current, budget_ms):
    """Try the other common rates (catalog.BAUD_RATES, in order) within
    budget_ms; return the index of one at which all four status replies come
    back clean (the record stores it), or None. The port is set back to
    `current` whatever happens: the setting is the technician's to change,
    not the self-test's."""
    found = None
    start = clock.ticks_ms()
    rates = c.BAUD_RATES
    try:
        for i in range(len(rates)):
            if rates[i] == current:
                continue
            if clock.ticks_diff(clock.ticks_ms(), start) + timeout_ms > budget_ms:
                break
            port.init(baudrate=rates[i])
            flags, raw = read_statuses(port, clock, timeout_ms, 0)
            if len(raw) == 4 and not flags & _P_GARBLED:
                found = i
                break
    finally:
        port.init(baudrate=current)
        drain(port)
    return found


def check_printer(port, clock, timeout_ms, baud=None, budget_ms=None,
                  carry=None):
    """The printer check's full form: [flags, raw, elapsed ms], plus the
    index of a baud rate that answers cleanly when the link was garbled and
    one was found within budget_ms (default: four timeouts). carry: see
    read_statuses."""
    start = clock.ticks_ms()
    if budget_ms is None:
        budget_ms = 4 * timeout_ms
    flags, raw = read_statuses(port, clock, timeout_ms, 1, carry, budget_ms // 2)
    found = None
    if flags & _P_GARBLED and baud and hasattr(port, "init"):
        left = budget_ms - clock.ticks_diff(clock.ticks_ms(), start)
        found = scan_baud(port, clock, timeout_ms, baud, left)
    result = [flags, raw, clock.ticks_diff(clock.ticks_ms(), start)]
    if found is not None:
        result.append(found)
    return result


def answered(flags):
    """True when the printer's replies were status bytes, all four."""
    return not flags & (_P_NO_REPLY | _P_GARBLED | _P_PARTIAL)


def recover(port, mode):
    """Send the recovery request (DLE ENQ). Never called by the self-test:
    only when the technician asks for it over the diagnostics link."""
    port.write(escpos.recover_request(mode))
