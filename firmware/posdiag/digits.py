# Decimal digits of every script (Unicode category Nd), which MicroPython
# cannot ask unicodedata about: a card number typed with fullwidth digits
# (Chinese input methods), Arabic-Indic or Devanagari ones is still a card
# number. Nd digits come in runs of ten consecutive code points, 0 to 9, so
# the code point of each run's zero is the whole table.
# tests/test_card_data.py regenerates ZEROS from unicodedata and compares.

UNICODE = "14.0.0"
ZEROS = (
    0x30, 0x660, 0x6F0, 0x7C0, 0x966, 0x9E6, 0xA66, 0xAE6, 0xB66, 0xBE6, 0xC66,
    0xCE6, 0xD66, 0xDE6, 0xE50, 0xED0, 0xF20, 0x1040, 0x1090, 0x17E0, 0x1810,
    0x1946, 0x19D0, 0x1A80, 0x1A90, 0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620,
    0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10, 0x104A0, 0x10D30,
    0x11066, 0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0, 0x11650,
    0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50, 0x11DA0, 0x16A60,
    0x16AC0, 0x16B50, 0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E140,
    0x1E2F0, 0x1E950, 0x1FBF0,
)

# What may stand between the digit groups of one number: every space and
# line break, every dash (Unicode Pd), the dots, slashes and underscores
# (ASCII, typographic and fullwidth), and every invisible format character
# (Unicode Cf: zero-width space, word joiner, BOM, soft hyphen, bidi marks;
# the rarer ones in _FORMAT). No comma or colon: those keep amounts and
# times apart.
SEPARATORS = (
    " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\xad\u1680\u180e"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u200b\u200c\u200d\u200e\u200f\u2028\u2029\u202a\u202b\u202c\u202d"
    "\u202e\u202f\u205f\u2060\u3000\ufeff"
    "-\u058a\u05be\u1400\u1806\u2e17\u2e1a\u2e3a\u2e3b\u2e40\u2e5d\u301c"
    "\u3030\u30a0\ufe31\ufe32\U00010ead\u2010\u2011\u2012\u2013\u2014\u2015"
    "\u2212\ufe58\ufe63\uff0d._/"
    "\u00b7\u2024\u2027\u2044\u2215\u30fb\uff65\uff0e\uff0f\uff3f"
)
_FORMAT = (   # first, last code point of the other Cf runs
    0x600, 0x605, 0x61C, 0x61C, 0x6DD, 0x6DD, 0x70F, 0x70F, 0x890, 0x891,
    0x8E2, 0x8E2, 0x2061, 0x2064, 0x2066, 0x206F, 0xFFF9, 0xFFFB,
    0x110BD, 0x110BD, 0x110CD, 0x110CD, 0x13430, 0x13438, 0x1BCA0, 0x1BCA3,
    0x1D173, 0x1D17A, 0xE0001, 0xE0001, 0xE0020, 0xE007F,
)


def is_separator(ch):
    if ch in SEPARATORS:
        return True
    c = ord(ch)
    if c < 0x600:
        return False
    for i in range(0, len(_FORMAT), 2):
        if _FORMAT[i] <= c <= _FORMAT[i + 1]:
            return True
    return False


def value(ch):
    """0-9 for a decimal digit of any script, else -1."""
    c = ord(ch)
    if c < 0x80:
        return c - 48 if 48 <= c <= 57 else -1
    lo = 0
    hi = len(ZEROS)
    while hi - lo > 1:   # the last zero at or below c
        mid = (lo + hi) >> 1
        if ZEROS[mid] <= c:
            lo = mid
        else:
            hi = mid
    d = c - ZEROS[lo]
    return d if d < 10 else -1
