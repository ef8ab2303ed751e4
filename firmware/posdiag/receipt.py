# A receipt the printer could not print, made safe to keep: card data is
# masked or refused before anything reaches flash. The pending-receipt
# journal (a log.Log named "r") stores the result as CBOR.
from posdiag import cbor

MAX_RECEIPT = 4096
# Sensitive authentication data: never stored, whatever the POS sends. A
# field whose name contains one of these (card_cvv, cvc2, track2_data,
# pin_block) is refused, and so is a field named just "pin".
_REFUSED_PARTS = ("cvv", "cvc", "track", "pinblock", "pin_block")


class ReceiptError(ValueError):
    pass


def _luhn_ok(digits):
    total = 0
    for i in range(len(digits)):
        d = ord(digits[len(digits) - 1 - i]) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def mask_pan(pan):
    """At most the first six and last four digits of a card number; a number
    masked already (at most ten digits left visible) is kept as it is."""
    text = str(pan)
    digits = "".join(ch for ch in text if "0" <= ch <= "9")
    if "*" in text and len(digits) <= 10:
        return text
    if len(digits) < 10:
        return "*" * len(digits)
    keep_front = 6 if len(digits) >= 13 else 0
    return digits[:keep_front] + "*" * (len(digits) - keep_front - 4) + digits[-4:]


def _refused(key):
    name = key.lower()
    if name == "pin":
        return True
    for part in _REFUSED_PARTS:
        if part in name:
            return True
    return False


def _mask_numbers(text):
    # Any run of 13-19 digits passing the Luhn check is a card number that
    # came in through the wrong field: mask it too. Digits may be grouped by
    # single spaces or dashes ("4111 1111 1111 1111").
    out = []
    i = 0
    n = len(text)
    while i < n:
        if not "0" <= text[i] <= "9":
            out.append(text[i])
            i += 1
            continue
        j = i
        digits = ""
        end = i
        while j < n:
            if "0" <= text[j] <= "9":
                digits += text[j]
                j += 1
                end = j
            elif text[j] in " -" and j + 1 < n and "0" <= text[j + 1] <= "9":
                j += 1
            else:
                break
        run = text[i:end]
        if 13 <= len(digits) <= 19 and _luhn_ok(digits):
            run = mask_pan(digits)
        out.append(run)
        i = end
    return "".join(out)


def _clean(value, key):
    if not isinstance(key, str):
        raise ReceiptError("receipt field names must be text")
    if _refused(key):
        raise ReceiptError("refused: receipts must not carry " + key)
    if isinstance(value, dict):
        out = {}
        for k in value:
            out[k] = _clean(value[k], k)
        if key == "card" and "pan" in out:
            out["pan"] = mask_pan(out["pan"])
        return out
    if isinstance(value, (list, tuple)):
        return [_clean(v, key) for v in value]
    if isinstance(value, str):
        return _mask_numbers(value)
    if value is None or isinstance(value, (bool, int)):
        return value
    raise ReceiptError("receipt field " + key + " has an unsupported type")


def sanitize(receipt):
    """A copy of the receipt dict with the card number masked to at most
    6 + 4 digits; ReceiptError for CVV, track data or PIN blocks."""
    if not isinstance(receipt, dict):
        raise ReceiptError("a receipt is a map of fields")
    return _clean(receipt, "")


def encode(receipt):
    """The sanitized receipt as CBOR, bounded in size."""
    data = cbor.encode(sanitize(receipt))
    if len(data) > MAX_RECEIPT:
        raise ReceiptError("receipt too large to keep")
    return data
