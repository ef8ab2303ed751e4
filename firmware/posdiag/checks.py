# The checks: each reads its hardware through the HAL objects it is handed
# and returns the value stored in the record's checks array.
from posdiag import catalog as c
from posdiag import escpos


def _drain(port):
    # Stale bytes (an ASB message, a late reply) must not pass for the answer
    # to the next query.
    while port.any():
        port.read(port.any())


def query_status(port, clock, query, timeout_ms):
    """Send one DLE EOT query; return (status byte or -1, noise): noise
    counts bytes that arrived but failed the fixed-bit test (XON/XOFF aside).
    """
    _drain(port)
    port.write(query)
    start = clock.ticks_ms()
    noise = 0
    while True:
        if port.any():
            data = port.read(1)
            if data:
                b = data[0]
                if escpos.is_status(b):
                    return b, noise
                if b != escpos.XON and b != escpos.XOFF:
                    noise += 1
                continue
        if clock.ticks_diff(clock.ticks_ms(), start) >= timeout_ms:
            return -1, noise
        clock.sleep_ms(1)


def check_printer(port, clock, timeout_ms, retries=1):
    """DLE EOT 1-4. Returns [flags, raw reply bytes, elapsed ms]; the raw
    bytes stop where the printer stopped answering.
    No reply at all is asked again (retries) before it counts: one lost byte
    is not a dead printer."""
    start = clock.ticks_ms()
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
    elapsed = clock.ticks_diff(clock.ticks_ms(), start)
    return [flags, bytes(raw), elapsed]


def _debounced(sensor, clock, samples, gap_ms):
    # A majority of samples, so a bouncing switch reads as what it mostly is.
    hits = 0
    for i in range(samples):
        if i:
            clock.sleep_ms(gap_ms)
        if sensor.active():
            hits += 1
    return hits * 2 > samples


def check_paper(paper_end, near_end, cover, clock, samples=3, gap_ms=2):
    """The terminal's own paper and cover sensors (hal.Sensor, or None where
    the terminal has none). Returns the paper flags."""
    flags = 0
    for sensor, flag in ((paper_end, c.S_PAPER_END), (near_end, c.S_NEAR_END),
                         (cover, c.S_COVER)):
        if sensor is not None and _debounced(sensor, clock, samples, gap_ms):
            flags |= flag
    return flags


def check_host(probe, host, port, timeout_ms, slow_ms):
    """TCP connect to the settlement host. Returns [flags, rtt ms or None]."""
    flags, rtt = probe.connect(host, port, timeout_ms)
    if rtt is not None and rtt > slow_ms:
        flags |= c.H_SLOW
    return [flags, rtt]
