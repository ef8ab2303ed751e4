# The checks besides the printer's own (printer.py): paper and cover sensors,
# the settlement host, the print head's thermistor and the supply voltage.
# Each reads its hardware through the HAL objects it is handed and returns
# the check's full form (record.build stores it).
try:
    from micropython import const
except ImportError:   # CPython: the host tool and the simulator
    const = int  # type: ignore[assignment]

# The catalog's codes this module uses, folded into the bytecode
# (tests/test_catalog.py checks each is catalog.<name without _>).
_P_NO_REPLY = const(0x1)
_P_GARBLED = const(0x2)
_P_COVER = const(0x8)
_P_PAPER_END = const(0x10)
_S_PAPER_END = const(0x1)
_S_NEAR_END = const(0x2)
_S_COVER = const(0x4)
_S_DISAGREE = const(0x8)
_H_REFUSED = const(0x2)
_H_TIMEOUT = const(0x4)
_H_SLOW = const(0x8)
_T_OVERHEAT = const(0x1)
_T_OPEN = const(0x2)
_T_SHORT = const(0x4)
_V_LOW = const(0x1)
_V_HIGH = const(0x2)
_V_UNSTABLE = const(0x4)
_V_BROWNOUT = const(0x8)
_V_WATCHDOG = const(0x10)
_RESET_BROWNOUT = const(1)
_RESET_WATCHDOG = const(2)


def check_paper(paper_end, near_end, cover, clock, printer_flags=None,
                rounds=3, gap_ms=1):
    """The terminal's own paper and cover sensors (hal.Sensor, or None where
    the terminal has none), each read `rounds` times and taken by majority,
    so a bouncing switch reads as what it mostly is. printer_flags: the
    printer check's flags, to cross-check paper end when both answered.
    Returns the paper flags."""
    sensors = ((paper_end, _S_PAPER_END), (near_end, _S_NEAR_END),
               (cover, _S_COVER))
    hits = [0, 0, 0]
    for r in range(rounds):
        if r:
            clock.sleep_ms(gap_ms)
        for i in range(3):
            if sensors[i][0] is not None and sensors[i][0].active():
                hits[i] += 1
    flags = 0
    for i in range(3):
        if hits[i] * 2 > rounds:
            flags |= sensors[i][1]
    if paper_end is not None and printer_flags is not None and not (
            printer_flags & (_P_NO_REPLY | _P_GARBLED)):
        # With the cover open some printers report paper end: no verdict.
        if not flags & _S_COVER and not printer_flags & _P_COVER:
            if bool(flags & _S_PAPER_END) != bool(printer_flags & _P_PAPER_END):
                flags |= _S_DISAGREE
    return flags


def check_host(probe, addrs, host, port, timeout_ms, slow_ms, echo=b"",
               expect=b""):
    """Reach the settlement host: TCP connect, and the application echo when
    one is configured. A name is not looked up here (the resolver has no
    timeout): addrs (hostaddr.HostAddr) gives the address found at idle, or
    the flag saying why there is none. Returns [flags, connect ms, echo ms]."""
    addr, flags = addrs.lookup(host, port)
    if addr is None:
        return [flags, None, None]
    flags, rtt, echo_ms = probe.connect(addr, port, timeout_ms, echo, expect)
    if flags & (_H_REFUSED | _H_TIMEOUT):
        addrs.connect_failed()
    for ms in (rtt, echo_ms):
        if ms is not None and ms > slow_ms:
            flags |= _H_SLOW
    return [flags, rtt, echo_ms]


def interpolate(table, x):
    """Piecewise-linear y for x from (x, y) points sorted by x; clamps at the
    ends. Integer arithmetic: the same answer on every runtime."""
    if x <= table[0][0]:
        return table[0][1]
    for i in range(1, len(table)):
        x1, y1 = table[i]
        if x <= x1:
            x0, y0 = table[i - 1]
            return y0 + (y1 - y0) * (x - x0) // (x1 - x0)
    return table[-1][1]


def _samples(adc, clock, n, gap_ms):
    total = 0
    low = 0xFFFF
    high = 0
    for i in range(n):
        if i and gap_ms:
            clock.sleep_ms(gap_ms)
        v = adc.read_u16()
        total += v
        low = min(low, v)
        high = max(high, v)
    return total // n, low, high


def check_head(adc, clock, table, open_above, short_below, overheat_dc):
    """The print head thermistor on an ADC (read_u16): [flags, deci-degrees
    C or None]. table maps raw readings to deci-degrees C; readings at
    either rail mean an open or shorted thermistor, not a temperature."""
    raw, _, _ = _samples(adc, clock, 4, 0)
    if raw >= open_above:
        return [_T_OPEN, None]
    if raw <= short_below:
        return [_T_SHORT, None]
    temp = interpolate(table, raw)
    return [_T_OVERHEAT if temp > overheat_dc else 0, temp]


def check_power(adc, clock, scale_num, scale_den, low_mv, high_mv,
                spread_mv, reset_cause, samples=8, gap_ms=1):
    """Supply voltage through a divider on an ADC: [flags, mean mV, spread
    mV]. mV = raw * scale_num // scale_den. A thermal head draws current in
    bursts, so the spread between samples shows a weak adapter even when
    the mean looks fine. reset_cause: catalog.RESET_* of this boot."""
    mean, low, high = _samples(adc, clock, samples, gap_ms)
    mean_mv = mean * scale_num // scale_den
    spread = (high - low) * scale_num // scale_den
    flags = 0
    if mean_mv < low_mv:
        flags |= _V_LOW
    if mean_mv > high_mv:
        flags |= _V_HIGH
    if spread > spread_mv:
        flags |= _V_UNSTABLE
    if reset_cause == _RESET_BROWNOUT:
        flags |= _V_BROWNOUT
    elif reset_cause == _RESET_WATCHDOG:
        flags |= _V_WATCHDOG
    return [flags, mean_mv, spread]
