# A receipt the printer could not print, made safe to keep: card data is
# masked or refused before anything reaches flash (PCI DSS 3.3-3.5). The
# pending-receipt journal (a log.Log named "r") stores the result
# (ereceipt.entry). docs/e-receipt.md states the rules.
from posdiag import digits

MAX_RECEIPT = 4096   # bytes of one journal entry
_MAX_DEPTH = 8       # maps and lists inside each other: deeper is refused
_FLOAT_PAN = 1e11    # a float this large is no amount: maybe a card number

# Sensitive authentication data (CVV, PIN, track) is never stored. A field
# name is split into words at "_", "-", ".", spaces, digits and case changes
# (cardCvv, PINBlock, track2Equivalent). Short names count only as whole words
# (tracking_no, spin, acid, decide are fine); the longer ones anywhere in the
# words run together (securitycode, encryptedpinblock).
_SAD_WORDS = ("pin", "pins", "cid", "csc", "cvd", "track", "pvv")
_SAD_PARTS = ("cvv", "cvc", "cvn", "cav2", "securitycode", "pinblock",
              "magstripe", "magneticstripe", "trackdata", "track1", "track2",
              "track3", "cardverification", "verificationvalue")
# In any text: one of these labels, then 3-4 digits, is a card security code.
_CVV_LABELS = (b"cvv", b"cvc", b"cvn", b"cav2", b"cid", b"csc", b"security",
               b"verification")
_SECOND_WORD = {b"security": b"code", b"verification": b"value"}
_WHOLE_LABELS = (b"cid", b"csc")   # "acid 123", "discs 1234" are not codes


class ReceiptError(ValueError):
    pass


# -- digits -------------------------------------------------------------------
def _luhn_ok(vals, start, length):
    total = 0
    for i in range(length):
        d = vals[start + length - 1 - i]
        if i & 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _ascii_digits(text):
    out = []
    for ch in text:
        d = digits.value(ch)
        if d >= 0:
            out.append(chr(48 + d))
    return "".join(out)


def mask_pan(pan):
    """At most the first six and last four digits of a card number, in ASCII
    digits whatever script it was typed in; a number masked already (at most
    ten digits left visible) is kept, its digits in ASCII."""
    text = _float_text(pan) if isinstance(pan, float) else str(pan)
    found = _ascii_digits(text)
    if "*" in text and len(found) <= 10:
        return "".join(ch if digits.value(ch) < 0 else chr(48 + digits.value(ch))
                       for ch in text)
    if len(found) < 10:
        return "*" * len(found)
    keep_front = 6 if len(found) >= 13 else 0
    return found[:keep_front] + "*" * (len(found) - keep_front - 4) + found[-4:]


def _issuer_ok(vals, start, length):
    # A payment card's number starts as the card schemes' ranges do (ISO/IEC
    # 7812 major industry 1-6, 8, 9 as issued): UATP 1 (15 digits), Mir and
    # Mastercard 2200-2720, Amex, JCB and Diners 3, Visa 4, Mastercard and
    # Maestro 5, Discover, UnionPay and Maestro 6, RuPay 81-82, Troy 9792.
    # Dates (2026..., 19...) and numbers starting 0 or 7 are not card numbers.
    first = vals[start]
    if 3 <= first <= 6:
        return True
    head = first * 1000 + vals[start + 1] * 100 + vals[start + 2] * 10 + vals[start + 3]
    if first == 1:
        return length == 15
    if first == 2:
        return 2200 <= head <= 2720
    if first == 8:
        return 8100 <= head <= 8299
    return head == 9792


def _mark_run(places, vals, marks):
    # Every 13-19 digit window of the run that could be a card number (its
    # issuer range and the Luhn check) is one: its middle digits become "*",
    # its first six and last four ASCII.
    n = len(vals)
    for length in range(13, 20):
        for start in range(n - length + 1):
            if _issuer_ok(vals, start, length) and _luhn_ok(vals, start, length):
                for k in range(start, start + length):
                    if start + 6 <= k < start + length - 4:
                        marks[places[k]] = 2
                    elif marks.get(places[k]) != 2:
                        marks[places[k]] = 1


def mask_numbers(text):
    """text with every card number in it masked. A number is digits of any
    script, its groups joined by any run of separators (digits.is_separator):
    "4111 1111-1111.1111", fullwidth digits, a zero-width space between."""
    count = 0
    for ch in text:
        if digits.value(ch) >= 0:
            count += 1
    if count < 13:
        return text   # too few digits for a card number: nothing to build
    # char index: 1 show as ASCII, 2 mask
    marks = {}  # type: dict[int, int]
    places = []       # char indexes of the digits of the current run
    vals = bytearray()
    i = 0
    for ch in text:
        d = digits.value(ch)
        if d >= 0:
            places.append(i)
            vals.append(d)
        elif not (places and digits.is_separator(ch)):
            if len(vals) >= 13:
                _mark_run(places, vals, marks)
            if places:
                places = []
                vals = bytearray()
        i += 1
    if len(vals) >= 13:
        _mark_run(places, vals, marks)
    if not marks:
        return text
    out = []
    i = 0
    for ch in text:
        m = marks.get(i)
        out.append(ch if m is None else "*" if m == 2 else chr(48 + digits.value(ch)))
        i += 1
    return "".join(out)


# -- sensitive authentication data in text -----------------------------------
def _shape(text):
    # The text as lower-case ASCII bytes, one per character: digits of any
    # script as ASCII, other non-ASCII characters as 0x80.
    out = bytearray(len(text))
    i = 0
    for ch in text:
        d = digits.value(ch)
        c = ord(ch)
        if d >= 0:
            c = 48 + d
        elif c >= 0x80:
            c = 0x80
        elif 65 <= c <= 90:
            c += 32
        out[i] = c
        i += 1
    return out


def _is_digit(c):
    return 48 <= c <= 57


def _is_letter(c):
    return 97 <= c <= 122


def _digits_from(s, i):
    n = i
    while n < len(s) and _is_digit(s[n]):
        n += 1
    return n - i


def _track_after(s, i, j):
    # An account number (12-19 digits) ending at s[j], then what makes it track data
    # (ISO/IEC 7813): track 2 "PAN=" then the expiry date (4 digits, or "="
    # when absent) and the service code (3 digits, or "="); EMV tag 57 (track
    # 2 equivalent data, as hex text) writes the "=" as the nibble D. Track 1:
    # format code "B", PAN, "^", name (2-26 characters), "^".
    # Longer runs too: EMV's tag and length ("5713") may come right before.
    if j >= len(s) or j - i < 12:
        return False
    sep = s[j]
    if sep == 61 or sep == 100:   # "=", "d" ("D" lower-cased)
        if j + 1 < len(s) and s[j + 1] == 61:
            return sep == 61      # no expiry date: "PAN=="
        n = _digits_from(s, j + 1)
        if n < 4 or not (n >= 7 or (j + 5 < len(s) and s[j + 5] == 61)):
            return False
        return _month(s, j + 3) or _month(s, j + 1)   # YYMM (or MMYY)
    if sep == 94:                 # "^"
        if i and s[i - 1] == 98:  # format code "b"
            return True
        k = j + 1
        while k < len(s) and k <= j + 27:
            if s[k] == 94:
                return True
            k += 1
    return False


def _month(s, i):
    return 1 <= (s[i] - 48) * 10 + s[i + 1] - 48 <= 12


def _has_track(s):
    i = 0
    n = len(s)
    while i < n:
        if not _is_digit(s[i]):
            i += 1
            continue
        j = i + _digits_from(s, i)
        if _track_after(s, i, j):
            return True
        i = j
    return False


def _code_after(s, i):
    # After a CVV label: "2" (cvv2, cvc2), up to 12 characters that are no
    # digits ("code:", " is "), then exactly 3 or 4 digits.
    if i < len(s) and s[i] == 50 and not (i + 1 < len(s) and _is_digit(s[i + 1])):
        i += 1
    end = i + 12
    while i < len(s) and i < end and not _is_digit(s[i]):
        i += 1
    return 3 <= _digits_from(s, i) <= 4


def _has_cvv(s, text):
    for label in _CVV_LABELS:
        k = s.find(label)
        while k >= 0:
            e = k + len(label)
            whole = label not in _WHOLE_LABELS or not (
                (k and _is_letter(s[k - 1])) or (e < len(s) and _is_letter(s[e])))
            if label in _SECOND_WORD:
                e = _word_after(s, e, _SECOND_WORD[label])
            if whole and e > 0 and _code_after(s, e):
                return True
            k = s.find(label, k + 1)
    k = text.find("安全码")
    return k >= 0 and _code_after(s, k + 3)


def _word_after(s, i, word):
    # "security code", "security-code", "securitycode": where word ends, or -1.
    while i < len(s) and (s[i] in b" _-." or s[i] == 0x80):
        i += 1
    return i + len(word) if s[i:i + len(word)] == word else -1


# -- field names ----------------------------------------------------------------
def _words(name):
    """Lower-case words of a field name: cardCvv -> card cvv, PINBlock -> pin
    block, track2Equivalent -> track2 equivalent, pin_block -> pin block.
    Each word is one slice of name: nothing is built a character at a time."""
    words = []
    start = 0         # where the current word starts
    prev = 0          # 1 lower, 2 upper, 3 digit
    n = len(name)
    i = 0
    for ch in name:
        kind = 1 if "a" <= ch <= "z" else 2 if "A" <= ch <= "Z" else 3 if "0" <= ch <= "9" else 0
        if kind == 0 or (kind == 2 and (prev == 1 or prev == 3 or (
                prev == 2 and i + 1 < n and "a" <= name[i + 1] <= "z"))):
            if i > start:
                words.append(name[start:i].lower())
            start = i if kind else i + 1
        prev = kind
        i += 1
    if n > start:
        words.append(name[start:].lower())
    return words


def _sad_name(name):
    words = _words(name)
    for w in words:
        if w in _SAD_WORDS:
            return True
    joined = "".join(words)
    for part in _SAD_PARTS:
        if part in joined:
            return True
    return False


def _quoted(name):
    # A field name for an error message: never a card number in it.
    name = mask_numbers(name)
    return name if len(name) <= 32 else name[:32] + "..."


# -- values -----------------------------------------------------------------------
def _float_text(x):
    # CBOR records carry no floats (posdiag/cbor.py): a float is kept as text.
    # One of 12 or more digits is no amount but maybe a card number typed as a
    # JSON number (its last digits may be lost to rounding): masked as one.
    if x != x or x in (float("inf"), float("-inf")):
        return str(x)
    if abs(x) >= _FLOAT_PAN:
        if abs(x) >= 1e20:
            return "%.6e" % x
        return ("-" if x < 0 else "") + mask_pan(str(int(abs(x))))
    text = "%.6f" % x
    text = text.rstrip("0")
    return text + "0" if text.endswith(".") else text


def _paired(text):
    # MicroPython's json reads "\ud835\udfce" as two surrogates, not the one
    # character (a bold digit zero) they encode: join each pair, so an escaped
    # digit is a digit; a lone surrogate (no valid UTF-8) becomes U+FFFD.
    for ch in text:
        if 0xD800 <= ord(ch) < 0xE000:
            break
    else:
        return text
    out = []
    high = 0
    for ch in text:
        c = ord(ch)
        if high and 0xDC00 <= c < 0xE000:
            out.append(chr(0x10000 + ((high - 0xD800) << 10) + c - 0xDC00))
            high = 0
            continue
        if high:
            out.append("\ufffd")
            high = 0
        if 0xD800 <= c < 0xDC00:
            high = c
        else:
            out.append("\ufffd" if 0xDC00 <= c < 0xE000 else ch)
    if high:
        out.append("\ufffd")
    return "".join(out)


def _text(value, what, name=None):
    # what: the text's place in an error message ("card.pan", "field "),
    # then the field name when it is one: built only for the error.
    s = _shape(value)
    if _has_track(s):
        raise ReceiptError("refused: track data in " + _place(what, name))
    if _has_cvv(s, value):
        raise ReceiptError("refused: a card security code in " + _place(what, name))
    return mask_numbers(value)


def _place(what, name):
    return what if name is None else what + _quoted(name)


def _key(k):
    k = _paired(k)
    if _sad_name(k):
        raise ReceiptError("refused: receipts must not carry " + _quoted(k))
    return _text(k, "a field name")


def _clean(value, name, depth):
    if depth > _MAX_DEPTH:
        raise ReceiptError("receipt nested too deep")
    if isinstance(value, dict):
        out = {}
        for k in value:
            if not isinstance(k, str):
                raise ReceiptError("receipt field names must be text")
        # In order: the same field named in an error on every runtime.
        for k in sorted(value):
            key = _key(k)
            if key in out:
                raise ReceiptError("two fields named " + _quoted(key))
            v = value[k]
            if name == "card" and k == "pan" and isinstance(v, (str, int, float)) \
                    and not isinstance(v, bool):
                if isinstance(v, str):
                    v = _paired(v)
                    _text(v, "card.pan")
                out[key] = mask_pan(v)   # 6 + 4 digits, no grouping
            else:
                out[key] = _clean(v, k, depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [_clean(v, name, depth + 1) for v in value]
    if isinstance(value, str):
        return _text(_paired(value), "field ", name)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        # A card number sent as a JSON number: masked text instead.
        if -10 ** 12 < value < 10 ** 12:
            return value
        text = str(value)
        masked = mask_numbers(text)
        return value if masked is text else masked
    if isinstance(value, float):
        return _float_text(value)
    raise ReceiptError("receipt field " + _quoted(name) + " has an unsupported type")


def sanitize(receipt):
    """A copy of the receipt dict with every card number masked to at most
    6 + 4 digits; ReceiptError for CVV, PIN or track data (by field name or,
    in any text, by shape), so nothing of it is stored."""
    if not isinstance(receipt, dict):
        raise ReceiptError("a receipt is a map of fields")
    return _clean(receipt, "", 0)
