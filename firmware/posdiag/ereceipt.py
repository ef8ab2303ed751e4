# The e-receipt a customer gets when paper fails. The terminal shows a QR
# code: a link to the receipt when the settlement host is reachable (a
# capability URL: 128 random bits, valid until it expires), or, with the
# network down, the receipt itself as short text a phone camera reads offline
# (docs/e-receipt.md). The receipt fields are receipt.sanitize()d already.
from posdiag import cbor, receipt

TOKEN_BYTES = 16    # 128 bits: unguessable, so the URL itself is the key
_HEX = "0123456789abcdef"
# ISO 4217 currencies with no minor unit; the rest print two decimals.
_NO_DECIMALS = ("JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF")


def new_token(entropy):
    """32 hex digits from the board's random source. No more than 12 decimal
    digits in a row: 13 or more could pass the Luhn check and read as a card
    number to a data-loss scanner (the 13th becomes a letter instead)."""
    out = []
    run = 0
    for b in entropy(TOKEN_BYTES):
        for nibble in (b >> 4, b & 15):
            run = run + 1 if nibble < 10 else 0
            if run > 12:
                nibble = 10 + nibble % 6
                run = 0
            out.append(_HEX[nibble])
    return "".join(out)


def link(base_url, token):
    return base_url + token


def entry(fields, token, expires, base_url):
    """The journal entry: the receipt, its link token, the link the QR code
    shows and when it expires (unix s; None while the clock is unset)."""
    return cbor.encode({"receipt": fields, "token": token, "expires": expires,
                        "url": link(base_url, token) if token else None})


def money(minor, currency):
    """Minor units (fen, cents) as the amount a customer reads: 13600 -> 136.00."""
    if not isinstance(minor, int):
        return str(minor)
    if currency in _NO_DECIMALS:
        return str(minor)
    sign = "-" if minor < 0 else ""
    minor = abs(minor)
    return "%s%d.%02d" % (sign, minor // 100, minor % 100)


def _line(*parts):
    return " ".join(str(p) for p in parts if p not in (None, ""))


def _map(value):
    # The POS may send any shape ("merchant": "Tea shop"): never fail on it.
    return value if isinstance(value, dict) else {}


def offline_text(fields):
    """The receipt as plain UTF-8 lines for a QR code: what a legal receipt
    needs, readable with no network and no app (docs/e-receipt.md)."""
    cur = fields.get("currency", "")
    merchant = _map(fields.get("merchant"))
    card = _map(fields.get("card"))
    lines = [_line("RECEIPT", merchant.get("name")),
             _line(merchant.get("address")),
             _line(fields.get("time"), fields.get("txn_id"))]
    items = fields.get("items")
    for item in items if isinstance(items, list) else ():
        if not isinstance(item, dict):
            item = {"name": item}
        lines.append(_line(item.get("name"), "x%s" % item.get("qty", 1),
                           money(item.get("amount", 0), cur)))
    if "tax" in fields:
        lines.append(_line("TAX", money(fields["tax"], cur)))
    lines.append(_line("TOTAL", cur, money(fields.get("total", 0), cur)))
    lines.append(_line(card.get("brand"), card.get("pan"), fields.get("auth_code")))
    lines.append(_line("POS", fields.get("terminal_id"), merchant.get("id")))
    # Each field is masked already, but digits at the end of one line and
    # the start of the next read as one number: mask the whole text again.
    return receipt.mask_numbers("\n".join(line for line in lines if line))
