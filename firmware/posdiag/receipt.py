# A receipt the printer could not print, made safe to keep: card data is
# masked or refused before anything reaches flash. The pending-receipt
# journal (a log.Log named "r") stores the result (ereceipt.entry).

MAX_RECEIPT = 4096   # bytes of one journal entry
# Sensitive authentication data: never stored, whatever the POS sends. A
# field is refused when a word of its name (split at "_", "-", spaces and
# case changes do not matter) is one of these: card_cvv, cvc2, track2_data,
# pin_block and card_pin are refused; tracking_no and spin are not.
_REFUSED_WORDS = ("cvv", "cvv2", "cvc", "cvc2", "cid", "track", "track1",
                  "track2", "trackdata", "pin", "pinblock")


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
    word = ""
    for ch in key.lower() + "_":
        if ch in "_- .":
            if word in _REFUSED_WORDS:
                return True
            word = ""
        else:
            word += ch
    return False


def _mask_numbers(text):
    # Any 13-19 digits in a row that pass the Luhn check are a card number
    # that came in through the wrong field: mask them to 6 + 4 too. Digits
    # may be grouped by single spaces or dashes ("4111 1111 1111 1111"), and
    # every window of a longer run is tried, so digits before or after (a
    # date, a phone prefix) cannot hide one.
    chars = list(text)
    n = len(chars)
    i = 0
    while i < n:
        if not "0" <= chars[i] <= "9":
            i += 1
            continue
        places = []   # positions of this run's digits
        j = i
        while j < n:
            if "0" <= chars[j] <= "9":
                places.append(j)
                j += 1
            elif chars[j] in " -" and j + 1 < n and "0" <= chars[j + 1] <= "9":
                j += 1
            else:
                break
        digits = "".join(chars[k] for k in places)
        for length in range(13, 20):
            for start in range(0, len(digits) - length + 1):
                if _luhn_ok(digits[start:start + length]):
                    for k in places[start + 6:start + length - 4]:
                        chars[k] = "*"
        i = j
    return "".join(chars)


def _clean(value, key):
    if not isinstance(key, str):
        raise ReceiptError("receipt field names must be text")
    if _refused(key):
        raise ReceiptError("refused: receipts must not carry " + key)
    if isinstance(value, dict):
        out = {}
        for k in value:
            if key == "card" and k == "pan":
                out[k] = mask_pan(value[k])   # 6 + 4 digits, no grouping
            else:
                out[k] = _clean(value[k], k)
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
