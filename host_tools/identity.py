"""What a printer says of itself (GS I), shown readably whatever its maker's
encoding. The terminal keeps the exact bytes of every block that is not
clean UTF-8 (the terminal item's printer "raw" map) beside an escaped form;
here they are decoded the way printers actually write them: GBK/GB18030
from mainland makers (Gprinter 佳博, Xprinter 芯烨, Rongta 容大, HPRT 汉印),
Big5 from Taiwan (Posiflex 振樺), Latin-1/cp1252 from European firmware,
and garbage shown as \\xNN escapes rather than guessed."""

from __future__ import annotations

import unicodedata

FIELDS = ("maker", "name", "firmware")
# Candidate encodings, in order of preference when they read equally well.
_ENCODINGS = ("gb18030", "big5", "cp1252")


def _plausible(ch: str, encoding: str) -> bool:
    """True when ch is a character text in this encoding usually holds:
    printable ASCII, the common hanzi of GB2312 or Big5's frequent block,
    Latin letters and punctuation for cp1252."""
    if " " <= ch <= "~":
        return True
    if encoding == "gb18030":
        try:
            return len(ch.encode("gb2312")) == 2
        except UnicodeEncodeError:
            return False
    if encoding == "big5":
        try:
            first = ch.encode("big5")[0]
        except UnicodeEncodeError:
            return False
        return 0xA4 <= first <= 0xC6 or 0xA1 <= first <= 0xA3  # frequent hanzi, punctuation
    return unicodedata.category(ch)[0] in "LNPZ" and ch.isprintable()


def escaped(data: bytes) -> str:
    """Printable ASCII as itself, every other byte as \\xNN (the terminal's
    own escaped form, posdiag/printerid.py)."""
    return "".join(chr(b) if 0x20 <= b < 0x7F and b != 0x5C else f"\\x{b:02x}" for b in data)


def decode_text(data: bytes) -> tuple[str, str]:
    """(readable text, encoding used) for identity bytes: UTF-8 when it is
    valid and printable, else the first candidate encoding under which every
    character is plausible, else the escaped bytes ("escaped")."""
    try:
        text = data.decode("utf-8")
        if text.isprintable():
            return text.strip(), "utf-8"
    except UnicodeDecodeError:
        pass
    for encoding in _ENCODINGS:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if text.isprintable() and all(_plausible(ch, encoding) for ch in text):
            return text.strip(), encoding
    return escaped(data).strip(), "escaped"


def readable(printer: dict | None) -> dict | None:
    """The printer identity with each text field decoded from its raw bytes
    where the terminal kept them, and "encoding" naming how (for fields that
    were not clean UTF-8). Unknown or malformed fields are left as they are."""
    if not isinstance(printer, dict):
        return None
    out = {k: v for k, v in printer.items() if k != "raw"}
    raw = printer.get("raw")
    if isinstance(raw, dict):
        encodings = {}
        for key in FIELDS:
            data = raw.get(key)
            if isinstance(data, bytes):
                out[key], encodings[key] = decode_text(data)
                out.setdefault("raw_hex", {})[key] = data.hex()
        if encodings:
            out["encoding"] = encodings
    return out


def safe_text(value: object) -> str:
    """value as text a terminal shows as it is: every character that is not
    printable (C0 and C1 controls such as ESC, CSI and BEL, DEL, bidi
    overrides and other format characters, separators) as \\xNN or
    \\uNNNN. Names and texts from a file or a terminal pass here before
    they reach the technician's screen."""
    text = str(value)
    if text.isprintable():
        return text
    return "".join(
        ch if ch.isprintable() else (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}") for ch in text
    )


def identity_line(printer: dict | None) -> str:
    """One line naming the printer: maker, model name, firmware version."""
    shown = readable(printer) or {}
    words = [str(shown[k]) for k in FIELDS if shown.get(k)]
    return safe_text(" ".join(words)) or "unknown"
