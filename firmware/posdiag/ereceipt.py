# The e-receipt a customer gets when paper fails. The terminal shows a QR
# code: a link to the receipt when the settlement host is reachable (a
# capability URL: 128 random bits, valid until it expires), or, with the
# network down, the receipt itself as short text a phone camera reads offline
# (docs/e-receipt.md). The receipt package's half of Terminal.failed_print
# is here too: the core imports this module only when a print fails.
from posdiag import catalog, cbor, receipt

TOKEN_BYTES = 16    # 128 bits: unguessable, so the URL itself is the key
_HEX = "0123456789abcdef"
# ISO 4217 currencies with no minor unit; the rest print two decimals.
_NO_DECIMALS = ("JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF")


def failed_print(terminal, receipt_fields):
    """Terminal.failed_print with the receipt package: the receipt masked
    (receipt.sanitize; ReceiptError stores nothing) and kept in the journal
    with a link token, then the self-test naming it, then the e-receipt
    offered. The journal seq."""
    cfg = terminal.cfg
    fields = receipt.sanitize(receipt_fields)
    entropy = terminal.parts.entropy
    token = new_token(entropy) if entropy is not None else None
    now = terminal.clock.unix_time()
    expires = now + cfg["receipt_ttl_s"] if now is not None else None
    data = entry(fields, token, expires, cfg["receipt_url"])
    if len(data) > receipt.MAX_RECEIPT:
        raise receipt.ReceiptError("receipt too large to keep")
    seq = terminal.journal.append(lambda _seq: data)[0]
    terminal.run_selftest(1, seq)   # record.TRIGGER_FAILED_PRINT
    try:
        offer(terminal, fields, token)
    except Exception:  # noqa: BLE001 - the receipt is kept: a screen fault must not lose the seq
        pass
    return seq


def offer(terminal, fields, token):
    """Show the e-receipt QR: the link when the settlement host answered
    (the receipt can be fetched), else the receipt itself as text."""
    host = terminal.last_results[catalog.CHECK_HOST]
    # A host not looked up yet is not known to answer: the offline QR
    # works either way.
    down = catalog.H_DNS | catalog.H_REFUSED | catalog.H_TIMEOUT | catalog.H_REJECTS | catalog.H_UNRESOLVED
    if host is not None and not host[0] & down and token is not None:
        qr = link(terminal.cfg["receipt_url"], token)
    else:
        qr = offline_text(fields)
    display = terminal.parts.display
    display.show(catalog.E_RECEIPT_HINT[terminal.cfg["lang"] == "en"])
    if hasattr(display, "show_qr"):
        display.show_qr(qr)
    return qr


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
