# What the printer says of itself: identity (GS I) and maintenance counters
# (GS g 2). Printers answer in whatever encoding their maker chose (GBK or
# GB18030 from mainland makers, Big5, Latin-1, or garbage) and some never send
# the closing 0x00: the bytes are kept as they came, with a readable form
# beside them, and nothing a printer sends can stop the self-test.
from posdiag import escpos
from posdiag.printer import GAP_MS, drain, read_byte

BLOCK_LIMIT = 32   # bytes of one identity block kept; the rest is read and dropped
_HEX = "0123456789abcdef"
_IDENTITY_BLOCKS = (("firmware", escpos.ID_FIRMWARE), ("maker", escpos.ID_MAKER),
                    ("name", escpos.ID_NAME))


def read_block(port, clock, timeout_ms, limit=BLOCK_LIMIT):
    """A 0x5F ... 0x00 reply: its bytes (at most limit), or None when no
    block started within timeout_ms. Bytes before 0x5F (ASB, XON/XOFF, a late
    reply) are skipped; a block with no closing 0x00 ends when the line has
    been quiet for GAP_MS; XON/XOFF inside it are flow control, not text."""
    start = clock.ticks_ms()
    while True:
        b = read_byte(port, clock, start, timeout_ms)
        if b < 0:
            return None
        if b == escpos.BLOCK_START:
            break
    text = bytearray()
    while True:
        b = read_byte(port, clock, clock.ticks_ms(), GAP_MS)
        if b <= 0:   # the closing 0x00, or quiet: the block is over
            return bytes(text)
        if b == escpos.XON or b == escpos.XOFF:
            continue
        if len(text) < limit:
            text.append(b)


def _read_model(port, clock, timeout_ms):
    # GS I 1 answers one byte of any value, so an ASB block or XOFF/XON sent
    # just before it cannot be told apart by shape: take the last byte that
    # arrives before the line goes quiet.
    b = read_byte(port, clock, clock.ticks_ms(), timeout_ms)
    model = -1
    while b >= 0:
        if b != escpos.XON and b != escpos.XOFF:
            model = b
        b = read_byte(port, clock, clock.ticks_ms(), GAP_MS)
    return model


# Code points that are valid UTF-8 yet are no text: C1 controls, and the
# format characters and separators that move or hide what a screen shows
# (line and paragraph separators, zero-width and bidi controls, the BOM, tag
# characters), and the noncharacters U+FFFE/FFFF. (first, last) pairs: every
# Unicode 14 code point of category Cc, Cf, Zl or Zp above ASCII
# (tests/test_real_printers.py rebuilds the table from unicodedata).
_INVISIBLE = ((0x0080, 0x009F), (0x00AD, 0x00AD), (0x0600, 0x0605),
              (0x061C, 0x061C), (0x06DD, 0x06DD), (0x070F, 0x070F),
              (0x0890, 0x0891), (0x08E2, 0x08E2), (0x180E, 0x180E),
              (0x200B, 0x200F), (0x2028, 0x202E), (0x2060, 0x2064),
              (0x2066, 0x206F), (0xFEFF, 0xFEFF), (0xFFF9, 0xFFFB),
              (0xFFFE, 0xFFFF), (0x110BD, 0x110BD), (0x110CD, 0x110CD),
              (0x13430, 0x13438), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A),
              (0xE0001, 0xE0001), (0xE0020, 0xE007F))


def _visible(cp):
    for first, last in _INVISIBLE:
        if first <= cp <= last:
            return False
    return True


def utf8_text(data):
    """data decoded when it is valid UTF-8 with no control or invisible
    formatting characters, else None. Checked here, not by decode(): some
    MicroPython ports decode any bytes without complaint, and every runtime
    must give the same answer."""
    i = 0
    n = len(data)
    while i < n:
        b = data[i]
        if b < 0x80:
            if b < 0x20 or b == 0x7F:
                return None
            i += 1
            continue
        if 0xC2 <= b <= 0xDF:
            # C1 controls (U+0080-009F: CSI and friends) are not text.
            more, low, high, cp = 1, 0xA0 if b == 0xC2 else 0x80, 0xBF, b & 0x1F
        elif 0xE0 <= b <= 0xEF:
            more, cp = 2, b & 0x0F
            low = 0xA0 if b == 0xE0 else 0x80      # no overlong forms
            high = 0x9F if b == 0xED else 0xBF     # no surrogates
        elif 0xF0 <= b <= 0xF4:
            more, cp = 3, b & 0x07
            low = 0x90 if b == 0xF0 else 0x80
            high = 0x8F if b == 0xF4 else 0xBF     # nothing past U+10FFFF
        else:
            return None
        if i + more >= n:
            return None
        for k in range(1, more + 1):
            c = data[i + k]
            if not (low <= c <= high if k == 1 else 0x80 <= c <= 0xBF):
                return None
            cp = cp << 6 | c & 0x3F
        if not _visible(cp):
            return None
        i += more + 1
    return bytes(data).decode()


def readable(data):
    """A printable form of identity bytes: the text itself when it is clean
    UTF-8, else printable ASCII with every other byte as \\xNN (the host
    tries the encodings printers use on the raw bytes)."""
    text = utf8_text(data)
    if text is not None:
        return text.strip()
    out = []
    for b in data:
        if 0x20 <= b < 0x7F and b != 0x5C:
            out.append(chr(b))
        else:
            out.append("\\x" + _HEX[b >> 4] + _HEX[b & 15])
    return "".join(out).strip()


def identify(port, clock, timeout_ms, quick=False):
    """GS I: {"model": byte, "firmware", "maker", "name": readable text,
    "raw": {field: bytes}} with what the printer answered, or None when it
    answered nothing. "raw" holds the exact bytes of each block whose text
    is not clean UTF-8 (absent when every block is). quick: None at once
    when GS I 1 goes unanswered (a clone that ignores GS I costs one wait)."""
    ident = {}
    drain(port)
    port.write(escpos.identity_query(escpos.ID_MODEL))
    model = _read_model(port, clock, timeout_ms)
    if model >= 0:
        ident["model"] = model
    elif quick:
        return None
    raw = {}
    for key, n in _IDENTITY_BLOCKS:
        drain(port)
        port.write(escpos.identity_query(n))
        data = read_block(port, clock, timeout_ms)
        if data is None:
            continue
        ident[key] = readable(data)
        if utf8_text(data) is None:
            raw[key] = data
    if raw:
        ident["raw"] = raw
    return ident or None


def read_counters(port, clock, timeout_ms, quick=False):
    """GS g 2 cumulative counters [line feeds, head energizing, cuts], None
    for each the printer does not answer with digits; None if it answers
    none. quick: None at once when the first goes unanswered."""
    values = []  # type: list
    for n in (escpos.COUNTER_FEED, escpos.COUNTER_HEAD, escpos.COUNTER_CUTS):
        drain(port)
        port.write(escpos.counter_query(n))
        data = read_block(port, clock, timeout_ms, 10)
        if data is None and quick and not values:
            return None
        ok = bool(data)
        for d in data or b"":
            if not 0x30 <= d <= 0x39:
                ok = False
        values.append(int(bytes(data).decode()) if ok else None)
    for v in values:
        if v is not None:
            return values
    return None


def unsupported(identity, supported):
    """True when the printer named itself (GS I 67) and is not in the
    configured list of supported model names (an empty list accepts any).
    Names are compared in their readable form, as `posdiag info` shows it."""
    if not supported or identity is None or not identity.get("name"):
        return False   # no list, or no name to judge by
    return identity["name"] not in supported
