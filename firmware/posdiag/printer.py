# Talking to the receipt printer over its port (the machine.UART subset):
# real-time status with fixed-bit validation, the baud-rate scan for a
# garbled link, identity (GS I), maintenance counters (GS g 2) and the
# recovery request (DLE ENQ), which is only ever sent when asked for.
from posdiag import catalog as c
from posdiag import escpos

# The rates printers ship with; the scan tries them in this order. The index
# into this tuple is what a record stores.
BAUD_RATES = (9600, 19200, 38400, 57600, 115200)


# Reused for every byte read: a status query allocates nothing per byte.
_ONE = bytearray(1)
_SCRATCH = bytearray(16)


def _drain(port):
    # Stale bytes (an ASB message, a late reply) must not pass for the answer
    # to the next query.
    while port.any():
        if not port.readinto(_SCRATCH):
            return


def _read_byte(port, clock, start, timeout_ms):
    """The next byte from port, or -1 when timeout_ms since start ran out."""
    while True:
        if port.any() and port.readinto(_ONE):
            return _ONE[0]
        if clock.ticks_diff(clock.ticks_ms(), start) >= timeout_ms:
            return -1
        clock.sleep_ms(1)


def query_status(port, clock, query, timeout_ms):
    """Send one DLE EOT query; return (status byte or -1, noise): noise
    counts bytes that arrived but failed the fixed-bit test (XON/XOFF aside).
    """
    _drain(port)
    port.write(query)
    start = clock.ticks_ms()
    noise = 0
    while True:
        b = _read_byte(port, clock, start, timeout_ms)
        if b < 0 or escpos.is_status(b):
            return b, noise
        if b != escpos.XON and b != escpos.XOFF:
            noise += 1


def read_statuses(port, clock, timeout_ms, retries=1):
    """DLE EOT 1-4 in turn: (flags, raw reply bytes). No reply at all is
    asked again (retries) before it counts: one lost byte is not a dead
    printer. The raw bytes stop where the printer stopped answering."""
    raw = bytearray()
    flags = 0
    for i in range(4):
        attempts = retries + 1 if i == 0 else 1
        while attempts:
            b, noise = query_status(port, clock, escpos.QUERIES[i], timeout_ms)
            attempts -= 1
            if b >= 0 or noise:
                break
        if b < 0:
            flags |= c.P_GARBLED if noise else c.P_NO_REPLY
            break
        raw.append(b)
        flags |= escpos.status_flags(i + 1, b)
    return flags, bytes(raw)


def scan_baud(port, clock, timeout_ms, current):
    """Try the other common rates; return the index in BAUD_RATES of one at
    which all four status replies come back clean, or None. The port is set
    back to `current` whatever happens: the setting is the technician's to
    change, not the self-test's."""
    found = None
    try:
        for i in range(len(BAUD_RATES)):
            if BAUD_RATES[i] == current:
                continue
            port.init(baudrate=BAUD_RATES[i])
            flags, raw = read_statuses(port, clock, timeout_ms, 0)
            if len(raw) == 4 and not flags & c.P_GARBLED:
                found = i
                break
    finally:
        port.init(baudrate=current)
    return found


def check_printer(port, clock, timeout_ms, baud=None):
    """The printer check's full form: [flags, raw, elapsed ms], plus the
    index of a baud rate that answers cleanly when the link was garbled and
    one was found."""
    start = clock.ticks_ms()
    flags, raw = read_statuses(port, clock, timeout_ms)
    found = None
    if flags & c.P_GARBLED and baud and hasattr(port, "init"):
        found = scan_baud(port, clock, timeout_ms, baud)
    result = [flags, raw, clock.ticks_diff(clock.ticks_ms(), start)]
    if found is not None:
        result.append(found)
    return result


def answered(flags):
    """True when the printer's replies were status bytes."""
    return not flags & (c.P_NO_REPLY | c.P_GARBLED)


def unsupported(identity, supported):
    """True when the printer named itself (GS I) and is not in the
    configured list of supported model names (an empty list accepts any)."""
    if not supported or identity is None or "name" not in identity:
        return False   # no list, or no name to judge by
    return identity["name"] not in supported


def _read_block(port, clock, timeout_ms, limit=40):
    """A 0x5F ... 0x00 reply as text, or None. Bytes before 0x5F (ASB,
    XON/XOFF) are skipped; the text is bounded by limit."""
    start = clock.ticks_ms()
    while True:
        b = _read_byte(port, clock, start, timeout_ms)
        if b < 0:
            return None
        if b == escpos.BLOCK_START:
            break
    text = bytearray()
    while True:
        b = _read_byte(port, clock, start, timeout_ms)
        if b < 0:
            return None
        if b == 0:
            return bytes(text).decode()
        if len(text) < limit:
            text.append(b)


def identify(port, clock, timeout_ms):
    """GS I: {"model": byte, "firmware", "maker", "name": text} with what
    the printer answered, or None when it answered nothing."""
    ident = {}
    _drain(port)
    port.write(escpos.identity_query(escpos.ID_MODEL))
    b = _read_byte(port, clock, clock.ticks_ms(), timeout_ms)
    if b >= 0:
        ident["model"] = b
    for key, n in (("firmware", escpos.ID_FIRMWARE), ("maker", escpos.ID_MAKER),
                   ("name", escpos.ID_NAME)):
        _drain(port)
        port.write(escpos.identity_query(n))
        text = _read_block(port, clock, timeout_ms)
        if text is not None:
            ident[key] = text
    return ident or None


def read_counters(port, clock, timeout_ms):
    """GS g 2 cumulative counters [line feeds, head energizing, cuts], None
    for each the printer does not answer; None if it answers none."""
    values = []
    for n in (escpos.COUNTER_FEED, escpos.COUNTER_HEAD, escpos.COUNTER_CUTS):
        _drain(port)
        port.write(escpos.counter_query(n))
        text = _read_block(port, clock, timeout_ms)
        values.append(int(text) if text and text.isdigit() else None)
    for v in values:
        if v is not None:
            return values
    return None


def recover(port, mode):
    """Send the recovery request (DLE ENQ). Never called by the self-test:
    only when the technician asks for it over the diagnostics link."""
    port.write(escpos.recover_request(mode))
