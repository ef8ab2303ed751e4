# Virtual hardware for the simulator and the tests: a virtual ESC/POS printer,
# input pins, ADC inputs, a clock that only moves when slept on, an in-memory
# printer port. Written for MicroPython as well as CPython (no annotations,
# no dataclasses), so the same virtual parts drive the firmware on both
# runtimes.

GS_I_BLOCKS = {65: "firmware", 66: "maker", 67: "name"}
GS_G_COUNTERS = {148: 0, 149: 1, 178: 2}  # GS g 2 counter -> index in counters


class PrinterState:
    """What the virtual printer is: paper "ok" | "near-end" | "end", cover,
    errors, whether it answers at all, its baud rate and identity, and how it
    behaves on the line: how late it answers (delay_ms), whether it answers
    GS I and GS g 2 at all, closes identity blocks with 0x00, sends an ASB
    block or XOFF/XON before each reply. Identity texts may be bytes in any
    encoding, as real printers send them."""

    def __init__(self):
        self.paper = "ok"
        self.cover_open = False
        self.cutter_error = False
        self.unrecoverable = False  # head or driver damaged
        self.overheat = False  # auto-recoverable error
        self.feed_pressed = False
        self.responsive = True  # False: printer off or cable pulled
        self.baud = 9600  # the printer's own setting
        self.model = 0x20
        self.firmware = "1.05 ESC/POS"
        self.maker = "posdiag"
        self.name = "POSDIAG-EMU-80"
        self.counters = [412345, 98765432, 23456]  # line feeds, head, cuts
        self.delay_ms = 0  # every reply this late
        self.answers_identity = True  # GS I (many clones ignore it)
        self.answers_counters = True  # GS g 2
        self.terminates_blocks = True  # the closing 0x00 of GS I / GS g blocks
        self.asb = False  # an Automatic Status Back block before each reply
        self.xon_xoff = False  # XOFF, XON before each reply (software flow control)
        self.silent_after = None  # stops answering DLE EOT after this many replies

    def error(self):
        return self.cutter_error or self.unrecoverable or self.overheat

    def offline(self):
        return self.cover_open or self.paper == "end" or self.error() or self.feed_pressed


def status_byte(state, n):
    """The reply to DLE EOT n (fixed bits 0xx1xx10 included), as an
    Epson-compatible printer gives it."""
    b = 0x12
    if n == 1:
        b |= 0x04  # drawer kick-out connector pin 3 high, as most report
        if state.offline():
            b |= 0x08
        if state.feed_pressed:
            b |= 0x40
    elif n == 2:
        if state.cover_open:
            b |= 0x04
        if state.feed_pressed:
            b |= 0x08
        if state.paper == "end":
            b |= 0x20
        if state.error():
            b |= 0x40
    elif n == 3:
        if state.cutter_error:
            b |= 0x08
        if state.unrecoverable:
            b |= 0x20
        if state.overheat:
            b |= 0x40
    elif n == 4:
        if state.paper != "ok":
            b |= 0x0C
        if state.paper == "end":
            b |= 0x60
    return b


def _block(state, text):
    data = text if isinstance(text, bytes) else text.encode()
    return b"\x5f" + data + (b"\x00" if state.terminates_blocks else b"")


def asb_block(state):
    """Automatic Status Back: 4 bytes, the first of form 0xx1xx00, the others
    0xx0xxxx (offline, cover, paper end, error bits in the usual places)."""
    first = 0x10
    if state.offline():
        first |= 0x08
    if state.cover_open:
        first |= 0x20
    second = 0x20 if state.cutter_error else 0
    third = 0x0C if state.paper == "end" else 0
    return bytes((first, second, third, 0))


class EscPosEmulator:
    """Parses the bytes a terminal sends to its printer and returns the
    printer's replies: DLE EOT 1-4, GS I, GS g 2, DLE ENQ. Print data is
    accepted and discarded."""

    def __init__(self, state):
        self.state = state
        self._pending = bytearray()
        self.queries = 0
        self.recoveries = []

    def _command(self, buf, i):
        # (bytes used, reply); (1, b"") for print data; None: incomplete.
        s = self.state
        b = buf[i]
        if b == 0x10:  # DLE
            if i + 2 >= len(buf):
                return None
            op = buf[i + 1]
            n = buf[i + 2]
            if op == 0x04 and 1 <= n <= 4:
                self.queries += 1
                if s.silent_after is not None and self.queries > s.silent_after:
                    return 3, b""  # a loose connector: it stopped answering
                return 3, bytes((status_byte(s, n),))
            if op == 0x05 and n in (1, 2):
                self.recoveries.append(n)
                s.cutter_error = False  # recoverable: the request clears it
                return 3, b""
        elif b == 0x1D:  # GS
            if i + 2 >= len(buf):
                return None
            if buf[i + 1] == 0x49:  # GS I n
                n = buf[i + 2]
                if not s.answers_identity:
                    return 3, b""
                if n == 1:
                    return 3, bytes((s.model,))
                if n in GS_I_BLOCKS and getattr(s, GS_I_BLOCKS[n]) is not None:
                    return 3, _block(s, getattr(s, GS_I_BLOCKS[n]))
                return 3, b""
            if buf[i + 1] == 0x67 and buf[i + 2] == 0x32:  # GS g 2 0 nL nH
                if i + 5 >= len(buf):
                    return None
                n = buf[i + 4] | buf[i + 5] << 8
                if n in GS_G_COUNTERS and s.answers_counters:
                    return 6, _block(s, str(s.counters[GS_G_COUNTERS[n]]))
                return 6, b""
        return 1, b""

    def feed(self, data, link_baud=None):
        """Replies to data. link_baud: the rate the terminal's side of the
        line is set to, when known; a mismatch mangles the replies."""
        if not self.state.responsive:
            self._pending = bytearray()
            return b""
        self._pending.extend(data)
        out = bytearray()
        buf = self._pending
        i = 0
        while i < len(buf):
            step = self._command(buf, i)
            if step is None:
                break  # a command split across reads: wait for the rest
            if step[1]:
                if self.state.xon_xoff:
                    out.extend(b"\x13\x11")
                if self.state.asb:
                    out.extend(asb_block(self.state))
            out.extend(step[1])
            i += step[0]
        self._pending = buf[i:]
        if link_baud is not None and link_baud != self.state.baud:
            # What a receiver set to the wrong rate makes of each byte: the
            # framing bits smear into the data, failing the fixed-bit test.
            return bytes(b ^ 0x93 for b in out)
        return bytes(out)


class BufferedPort:
    """The reading half of the machine.UART subset (any, readinto, read)
    over the bytes received so far. A subclass adds bytes with _received(),
    and may fetch more when asked and nothing is left (_fetch)."""

    def __init__(self):
        self._rx = b""
        self._pos = 0

    def _received(self, data):
        self._rx = self._rx[self._pos:] + data
        self._pos = 0

    def _fetch(self):
        pass

    def any(self):
        if self._pos >= len(self._rx):
            self._fetch()
        return len(self._rx) - self._pos

    def readinto(self, buf):
        n = min(len(buf), self.any())
        if not n:
            return None
        for i in range(n):
            buf[i] = self._rx[self._pos + i]
        self._pos += n
        return n

    def read(self, n):
        n = min(n, self.any())
        if not n:
            return None
        self._pos += n
        return self._rx[self._pos - n:self._pos]


class MemoryPort(BufferedPort):
    """A printer port wired straight to an emulator: the machine.UART subset
    with the replies ready as soon as the request is written, or, given the
    clock, once the printer's delay_ms has passed on it."""

    def __init__(self, emulator, baudrate=9600, clock=None):
        super().__init__()
        self.emulator = emulator
        self.baudrate = baudrate
        self._clock = clock
        self._due = []  # [ready at ms, reply] in order

    def init(self, baudrate):
        self.baudrate = baudrate

    def write(self, data):
        reply = self.emulator.feed(data, self.baudrate)
        delay = self.emulator.state.delay_ms
        if reply and self._clock is not None and delay:
            self._due.append([self._clock.ticks_ms() + delay, reply])
        elif reply:
            self._received(reply)
        return len(data)

    def _fetch(self):
        now = self._clock.ticks_ms() if self._clock is not None else 0
        while self._due and self._due[0][0] <= now:
            self._received(self._due.pop(0)[1])


class VirtualPin:
    def __init__(self, level=0):
        self.level = level

    def value(self):
        return self.level


class VirtualAdc:
    """An ADC input (machine.ADC's read_u16) giving the readings in turn,
    round and round: one value for a steady input, several for a noisy one."""

    def __init__(self, *readings):
        self.readings = list(readings)
        self._i = 0

    def read_u16(self):
        value = self.readings[self._i % len(self.readings)]
        self._i += 1
        return value


class StepClock:
    """A clock that moves only when slept on, and a fixed real time: the
    same inputs then give the same record on every runtime."""

    def __init__(self, unix_time=1795579200):
        self.now_ms = 0
        self._unix = unix_time

    def ticks_ms(self):
        return self.now_ms

    def ticks_diff(self, a, b):
        return a - b

    def sleep_ms(self, ms):
        self.now_ms += ms

    def uptime_s(self):
        return self.now_ms // 1000

    def unix_time(self):
        return self._unix + self.now_ms // 1000


def columns(text):
    """Display columns: a CJK character takes two. MicroPython has no
    unicodedata, so ranges: CJK and full-width forms (the hints' characters;
    tests/test_catalog.py checks they agree with unicodedata there)."""
    return sum(2 if "\u2e80" <= ch <= "\ufaff" or "\uff00" <= ch <= "\uffef" else 1
               for ch in text)


class ConsoleDisplay:
    """The terminal's 2 x 16 screen drawn as text lines through write (print,
    or the simulator's output), the same on both runtimes; show_qr prints the
    QR code's text on one line, newlines shown as ⏎."""

    def __init__(self, write):
        self._write = write
        self.text = ""
        self.qr = ""

    def show(self, text):
        self.text = text
        lines = (text.split("\n") + ["", ""])[:2]
        self._write("screen ┌" + "─" * 16 + "┐")
        for line in lines:
            self._write("screen │" + line + " " * max(0, 16 - columns(line)) + "│")
        self._write("screen └" + "─" * 16 + "┘")

    def show_qr(self, data):
        self.qr = data
        self._write("screen qr: " + data.replace("\n", " ⏎ "))


class MemoryDisplay:
    def __init__(self):
        self.text = ""
        self.qr = ""

    def show(self, text):
        self.text = text

    def show_qr(self, data):
        self.qr = data


class VirtualHost:
    """A settlement host reached without a network: the probe's answer for
    each of the simulator's host modes (echo, slow, reject, down), with fixed
    times, for runs that must give the same record on every runtime."""

    def __init__(self, mode="echo"):
        self.mode = mode

    def connect(self, host, port, timeout_ms, echo=b"", expect=b""):
        from posdiag import catalog as c

        if self.mode == "down":
            return c.H_REFUSED, None, None
        if self.mode == "reject":
            return c.H_REJECTS, 2, 3
        return 0, 2, (800 if self.mode == "slow" else 3)
