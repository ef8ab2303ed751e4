"""Card data in failed receipts (PCI DSS 3.3-3.5), proven on generated corpora.

A fixed-seed corpus of receipts plants card numbers of every length 13-19
(real issuer prefixes, Luhn-valid) written every way a POS or a person might
(separators of every kind, digits of any Unicode script, JSON numbers, field
names, inside words and sentences) in every kind of field; others plant CVVs,
PINs and track 1/2 data (ISO/IEC 7813, EMV tag 57) by field name or inside any
text. All of it goes through Terminal.failed_print, the real firmware, on
CPython, on MicroPython's WebAssembly port and on its unix port. Then every
byte the run produced (flash files before and after acknowledgement, journal
entries, screen and offline QR text) is normalised (NFKC, Nd digits to ASCII,
separators out) and scanned: no planted card number, no Luhn-valid 13-19
digit run, no CVV or track data. An ordinary corpus is never refused.
"""

from __future__ import annotations

import functools
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import unicodedata
from pathlib import Path

import cbor2
import pytest

from host_tools import mpruntime
from host_tools.sim.runner import DEMO_KEY, FLASH_IMAGE, flash_files
from posdiag import digits
from posdiag.receipt import ReceiptError, sanitize

from .conftest import ROOT, SimProcess, posdiag_cmd

SEED = 20261125
DATA = Path(__file__).parent / "data"
UNIX_MICROPYTHON = ROOT / ".venv" / "bin" / "micropython"

# -- the Unicode tables the firmware carries ----------------------------------


def nd_zeros() -> tuple[int, ...]:
    return tuple(
        c for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Nd" and unicodedata.digit(chr(c)) == 0
    )


def test_digit_table_is_unicodes_own() -> None:
    # Regenerate: the zero of every Nd run, from this Python's unicodedata.
    assert digits.UNICODE == unicodedata.unidata_version, "regenerate posdiag/digits.py ZEROS for this Unicode"
    assert digits.ZEROS == nd_zeros()
    for c in range(sys.maxunicode + 1):
        ch = chr(c)
        want = unicodedata.digit(ch) if unicodedata.category(ch) == "Nd" else -1
        assert digits.value(ch) == want, hex(c)


def test_every_space_dash_and_format_character_separates_digit_groups() -> None:
    for c in range(sys.maxunicode + 1):
        ch = chr(c)
        if ch.isspace() or unicodedata.category(ch) in ("Zs", "Zl", "Zp", "Pd", "Cf"):
            assert digits.is_separator(ch), hex(c)
    for ch in "._/．／＿":
        assert digits.is_separator(ch)
    for ch in ",:;+()#*0a":
        assert not digits.is_separator(ch)


# -- card numbers -----------------------------------------------------------------

# (brand, prefixes: "4" or a range ("2221", "2720"), lengths)
ISSUERS: list[tuple[str, list, list[int]]] = [
    ("Visa", ["4"], [13, 16, 19]),
    ("Mastercard", [("51", "55"), ("2221", "2720")], [16]),
    ("American Express", ["34", "37"], [15]),
    ("UnionPay", ["62"], [16, 17, 18, 19]),
    ("JCB", [("3528", "3589")], [16, 17, 18, 19]),
    ("Discover", ["6011", ("644", "649"), "65"], [16, 17, 18, 19]),
    ("Diners Club", ["36", ("300", "305"), "38"], [14, 16]),
    ("Maestro", ["5018", "5020", "5038", "5893", "6304", "6759", "6761", "6762", "6763"], [13, 15, 17, 19]),
    ("Mir", [("2200", "2204")], [16, 17, 18, 19]),
    ("RuPay", ["60", "81", "82", "508"], [16]),
    ("Verve", [("506099", "506198"), ("650002", "650027")], [16, 18, 19]),
    ("UATP", ["1"], [15]),
    ("Troy", ["9792"], [16]),
]


def luhn_ok(number: str) -> bool:
    total = 0
    for i, d in enumerate(int(ch) for ch in reversed(number)):
        total += (d * 2 - 9 if d > 4 else d * 2) if i % 2 else d
    return total % 10 == 0


def card_number(rng: random.Random, length: int | None = None) -> tuple[str, str]:
    brand, prefixes, lengths = rng.choice(ISSUERS)
    prefix = rng.choice(prefixes)
    if isinstance(prefix, tuple):
        prefix = str(rng.randint(int(prefix[0]), int(prefix[1])))
    if length is None or length not in lengths:
        length = rng.choice(lengths)
    body = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
    check = next(d for d in "0123456789" if luhn_ok(body + d))
    return brand, body + check


ZEROS = nd_zeros()
# Every way a digit group may be followed by the next one.
GAPS = [
    " ",
    "\t",
    "\n",
    "\r\n",
    "\u00a0",
    "\u202f",
    "\u2009",
    "\u3000",
    "\u200b",
    "\u2060",
    "\ufeff",
    "\u00ad",
    "\u200e",
    ".",
    "/",
    "_",
    "-",
    "--",
    "---",
    "  ",
    "   ",
    " - ",
    " / ",
    "–",
    "—",
    "‑",
    "−",
    "－",
    "．",
    "／",
    "・",
    "\u200b \u200b",
]


def in_script(number: str, rng: random.Random, mode: str) -> str:
    if mode == "ascii":
        return number
    if mode == "mixed":  # a script per digit
        return "".join(chr(rng.choice(ZEROS) + int(d)) for d in number)
    named = {"fullwidth": 0xFF10, "arabic": 0x660, "devanagari": 0x966, "mathbold": 0x1D7CE}
    zero = named.get(mode) or rng.choice(ZEROS)
    return "".join(chr(zero + int(d)) for d in number)


def grouped(number: str, rng: random.Random) -> str:
    style = rng.choice(["plain", "fours", "fours", "brand", "random"])
    if style == "plain":
        return number
    if style == "fours":
        sizes = [4] * (len(number) // 4) + ([len(number) % 4] if len(number) % 4 else [])
    elif style == "brand":
        sizes = {15: [4, 6, 5], 14: [4, 6, 4], 19: [6, 13]}.get(len(number), [4, 4, 4, 4, 4])
    else:
        sizes = []
        while sum(sizes) < len(number):
            sizes.append(rng.randint(1, 5))
    groups, pos = [], 0
    for size in sizes:
        if pos < len(number):
            groups.append(number[pos : pos + size])
            pos += size
    one_gap = rng.random() < 0.5  # the same separator throughout, or mixed
    gap = rng.choice(GAPS)
    out = groups[0]
    for g in groups[1:]:
        out += (gap if one_gap else rng.choice(GAPS)) + g
    return out


SCRIPTS = ["ascii"] * 4 + ["fullwidth", "fullwidth", "arabic", "devanagari", "mathbold", "any", "any", "mixed"]


def written(number: str, rng: random.Random) -> str:
    return grouped(in_script(number, rng, rng.choice(SCRIPTS)), rng)


def base_receipt(rng: random.Random, i: int, kind: str) -> dict:
    """The ordinary parts of a receipt: names, addresses, phones, dates,
    order and tracking numbers, amounts."""
    shop = rng.choice(["Corner Tea Shop", "茶铺 Tea House", "便利店 24h", "Café Lumière", "Noodle Bar 面馆", "小吃店"])
    street = rng.choice(
        [
            "1 Main Street, Shanghai",
            "上海市浦东新区张江路 1234 号 5 楼",
            "Room 1203, 88 Century Avenue",
            "北京市朝阳区建国路 88 号 SOHO 3-1205",
            "12/F, 3 Queen's Road, Hong Kong",
        ]
    )
    items = [
        {
            "name": rng.choice(
                ["Oolong tea 250 g", "绿茶", "Tea cup", "小笼包", "Green tea latte", "Jasmine 茉莉花茶"]
            ),
            "qty": rng.choice([1, 2, 3, 0.5, 1.25]),
            "amount": rng.randint(100, 99999),
        }
        for _ in range(rng.randint(1, 3))
    ]
    total = sum(it["amount"] for it in items)
    return {
        "txn_id": f"{kind.upper()}-{i:05d}",
        "time": f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T"
        f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00+08:00",
        "merchant": {"name": shop, "id": f"M-{rng.randint(0, 999999):06d}", "address": street},
        "terminal_id": "RT-1",
        "items": items,
        "tax": total // 10,
        "total": total,
        "currency": rng.choice(["CNY", "EUR", "JPY", "USD"]),
        "auth_code": f"{rng.randint(0, 999999):06d}",
        "phone": rng.choice(["+86 21 6234 5678", "138-1234-5678", "(555) 123-4567", "021-62345678", "13812345678"]),
    }


def place(receipt: dict, where: str, text_or_number: object, rng: random.Random) -> None:
    if where == "card.pan":
        receipt["card"] = {"brand": "card", "pan": text_or_number}
    elif where == "note":
        receipt["note"] = rng.choice(
            ["Paid with card {x}, thank you", "顾客卡号{x}请核对", "card{x}x", "{x}", "ref {x} / order 7"]
        ).format(x=text_or_number)
    elif where == "item":
        receipt["items"].append({"name": f"Gift card {text_or_number}", "qty": 1, "amount": 5000})
    elif where == "address":
        receipt["merchant"]["address"] = f"{text_or_number} Main Street"
    elif where == "custom":
        receipt["custom"] = {"loyalty": {"memo": f"member {text_or_number}"}, "tags": ["a", f"{text_or_number}"]}
    elif where == "name":  # a card number as a field name
        receipt.setdefault("custom", {})[str(text_or_number)] = "x"
    elif where == "number":  # a JSON number
        receipt["loyalty_card"] = text_or_number
    elif where == "float":
        receipt["ref"] = text_or_number


PLACES = ["card.pan", "note", "item", "address", "custom", "name", "note", "custom"]


def card_receipts(rng: random.Random, n: int) -> list[dict]:
    out = []
    for i in range(n):
        receipt = base_receipt(rng, i, "pan")
        brand, number = card_number(rng, 13 + i % 7)
        where = rng.choice(PLACES + ["number", "float"] if i % 5 == 0 else PLACES)
        if where == "number":
            value: object = int(number)
        elif where == "float":
            value = float(number)
        elif where == "card.pan" and rng.random() < 0.2:
            value = int(number)
        else:
            value = written(number, rng)
        place(receipt, where, value, rng)
        out.append({"kind": "pan", "receipt": receipt, "pans": [number], "where": where, "brand": brand})
    return out


# -- sensitive authentication data ---------------------------------------------
SAD_CONCEPTS = [
    ["cvv"], ["cvc"], ["cvv2"], ["cvc2"], ["cid"], ["cvn"], ["csc"], ["security", "code"],
    ["card", "security", "code"], ["pin"], ["pin", "block"], ["encrypted", "pin", "block"], ["card", "pin"],
    ["track"], ["track1"], ["track2"], ["track2", "equivalent"], ["track", "data"], ["track", "2", "data"],
    ["magstripe"], ["mag", "stripe"], ["magnetic", "stripe", "data"], ["card", "verification", "value"],
    ["card", "cvv"], ["cvv2", "value"], ["customer", "pin"], ["pin", "data"],
]  # fmt: skip
# Concatenated lower case is recognised for the longer names only: pin, cid,
# csc and track count as whole words (so spin, acid, tracking stay fine).
WHOLE_ONLY = {"pin", "cid", "csc", "track"}


def styles(words: list[str]) -> list[str]:
    out = [
        "_".join(words),
        "-".join(words),
        ".".join(words),
        " ".join(words),
        "_".join(words).upper(),
        words[0] + "".join(w.capitalize() for w in words[1:]),
        "".join(w.capitalize() for w in words),
        "".join(w.upper() if w in ("pin", "cvv", "cvc") else w.capitalize() for w in words),
    ]
    if not ({"".join(words)} | set(words)) & WHOLE_ONLY or len(words) == 1:
        out.append("".join(words))
    return out


def track1(pan: str, rng: random.Random) -> str:
    name = rng.choice(["DOE/JOHN", "YATES/EUGENE L ", "ZHANG/WEI", "MULLER/ANNA MARIA"])
    body = f"B{pan}^{name}^{rng.randint(26, 35)}{rng.randint(1, 12):02d}{rng.choice(['101', '201', '221', '601'])}"
    body += "".join(rng.choice("0123456789") for _ in range(rng.randint(5, 15)))
    return rng.choice([f"%{body}?", body, f"%{body}?;"])


def track2(pan: str, rng: random.Random) -> str:
    exp = f"{rng.randint(26, 35)}{rng.randint(1, 12):02d}"
    dd = "".join(rng.choice("0123456789") for _ in range(rng.randint(5, 13)))
    svc = rng.choice(["101", "201", "221", "601"])
    kind = rng.choice(["sentinels", "bare", "emv", "emv-tlv", "no-expiry"])
    if kind == "sentinels":
        return f";{pan}={exp}{svc}{dd}?"
    if kind == "bare":
        return f"{pan}={exp}{svc}{dd}"
    if kind == "no-expiry":
        return f";{pan}=={svc}{dd}?"
    value = f"{pan}D{exp}{svc}{dd}"
    if len(value) % 2:
        value += "F"
    value = value if rng.random() < 0.7 else value.lower()
    return value if kind == "emv" else "57" + f"{len(value) // 2:02X}" + value


CVV_TEXTS = ["CVV: {c}", "cvv2={c}", "CVC {c}", "Security code: {c}", "安全码：{c}", "cvc2 - {c}", "CID {c}",
             "card verification value {c}", "security-code {c}", "CVV#{c}"]  # fmt: skip


def sad_receipts(rng: random.Random) -> list[dict]:
    out: list[dict] = []
    n = 0
    for words in SAD_CONCEPTS:
        for name in styles(words):
            receipt = base_receipt(rng, n, "sad")
            value = rng.choice(["123", "4567", 123, "0000"])
            spot = rng.choice(["card", "top", "custom"])
            if spot == "card":
                receipt["card"] = {"brand": "Visa", "pan": card_number(rng)[1], name: value}
            elif spot == "top":
                receipt[name] = value
            else:
                receipt["custom"] = {"x": {name: value}}
            out.append({"kind": "sad", "receipt": receipt, "name": name, "markers": []})
            n += 1
    for i in range(120):
        receipt = base_receipt(rng, n, "sad")
        _, pan = card_number(rng)
        data = track1(pan, rng) if i % 2 else track2(pan, rng)
        where = rng.choice(["note", "item", "address", "custom", "name", "card.pan"])
        place(receipt, where, data, rng)
        out.append({"kind": "sad", "receipt": receipt, "pans": [pan], "markers": [data]})
        n += 1
    for _ in range(60):
        receipt = base_receipt(rng, n, "sad")
        code = f"{rng.randint(100, 9999)}"
        text = rng.choice(CVV_TEXTS).format(c=code)
        place(receipt, rng.choice(["note", "item", "custom"]), f"x {text} y", rng)
        out.append({"kind": "sad", "receipt": receipt, "markers": [text]})
        n += 1
    return out


ORDINARY_FIELDS = ["tracking_no", "trackingNumber", "spin", "shipping", "pinyin", "decide", "acid", "placid",
                   "description", "opinion", "spinach", "tracker", "cidade", "happiness", "pint", "backtrack",
                   "discs", "security_deposit", "verification_status", "postal_code", "cvs_store"]  # fmt: skip
ORDINARY_TEXTS = [
    "Tel 021-6234 5678, fax 021-6234 5679",
    "2026-11-25 10:15:00",
    "25.11.2026 / 10:15",
    "Order ORD-20261125-000042",
    "PO 4500012345",
    "发票代码 031001900111 发票号码 12345678",
    "SF1234567890123",
    "1Z999AA10123456784",
    "会员卡积分 1,234 分，谢谢光临",
    "Total ¥1,234.50 incl. VAT 13%",
    "acid-free paper, placid lake, we decide",
    "spin class 18:30, shipping 2-3 days",
    "Room 1203, 88 Century Ave, 200120",
    "预计送达 11月26日 14:00-16:00",
    "table 12, 4 guests",
    "CVS pharmacy, discs 3",
    "security deposit 500",
    "Wi-Fi: tea-guest / 88889999",
]


def ordinary_receipts(rng: random.Random, n: int) -> list[dict]:
    out = []
    for i in range(n):
        receipt = base_receipt(rng, i, "ok")
        receipt["note"] = " ".join(rng.sample(ORDINARY_TEXTS, 3))
        for name in rng.sample(ORDINARY_FIELDS, 3):
            receipt[name] = rng.choice(ORDINARY_TEXTS + [rng.randint(0, 10**6), 0.75, True, None])
        receipt["card"] = {"brand": "Visa", "pan": "411111******1111"}
        out.append({"kind": "ok", "receipt": receipt})
    return out


@functools.cache
def corpus() -> list[dict]:
    rng = random.Random(SEED)
    cases = json.loads((DATA / "card-cases.json").read_text(encoding="utf-8"))
    return card_receipts(rng, 1050) + sad_receipts(rng) + ordinary_receipts(rng, 400) + cases


def test_the_corpus_is_as_wide_as_promised() -> None:
    cards = [c for c in corpus() if c["kind"] == "pan"]
    assert len(cards) >= 1000
    assert {len(p) for c in cards for p in c["pans"]} == set(range(13, 20))
    assert all(luhn_ok(p) for c in cards for p in c["pans"])
    assert {c.get("where") for c in cards} >= {
        "card.pan",
        "note",
        "item",
        "address",
        "custom",
        "name",
        "number",
        "float",
    }
    assert len({c.get("brand") for c in cards}) >= 12
    sad = [c for c in corpus() if c["kind"] == "sad"]
    assert len(sad) >= 400 and len([c for c in corpus() if c["kind"] == "ok"]) >= 400


# -- the scan -----------------------------------------------------------------------

SEPARATOR_CLASS = re.compile(
    "["
    + "".join(
        re.escape(chr(c))
        for c in range(sys.maxunicode + 1)
        if chr(c).isspace() or unicodedata.category(chr(c)) in ("Zs", "Zl", "Zp", "Pd", "Cf")
    )
    + re.escape("._/·‧⁄∕・･\u2212")
    + "]+"
)


def normalised(text: str) -> str:
    """NFKC, every Nd digit as ASCII, separators between digits removed."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(str(unicodedata.digit(ch)) if unicodedata.category(ch) == "Nd" else ch for ch in text)
    return re.sub(r"(?<=\d)" + SEPARATOR_CLASS.pattern + r"(?=\d)", "", text)


def issued_prefix(number: str) -> bool:
    """True when number starts in a range a card scheme issues (ISSUERS,
    written here from the schemes' public IIN tables, not from the firmware)."""
    for _, prefixes, _ in ISSUERS:
        for prefix in prefixes:
            if isinstance(prefix, tuple):
                head = number[: len(prefix[0])]
                if prefix[0] <= head <= prefix[1]:
                    return True
            elif number.startswith(prefix) and (prefix != "1" or len(number) == 15):
                return True
    return False


def card_numbers_in(text: str, planted: set[str]) -> list[str]:
    """Every 13-19 digit window of every digit run (after normalising) that
    is one of the planted numbers, or Luhn-valid in a card scheme's range."""
    found = []
    for run in re.findall(r"\d{13,}", normalised(text)):
        for length in range(13, 20):
            for start in range(len(run) - length + 1):
                window = run[start : start + length]
                if window in planted or (issued_prefix(window) and luhn_ok(window)):
                    found.append(window)
    return found


def compact(text: str) -> str:
    return re.sub(r"[\W_]+", "", normalised(text)).lower()


def test_the_scan_finds_what_the_corpus_plants() -> None:
    # The scan itself must see every planted number as written.
    for case in corpus():
        if case["kind"] == "pan":
            text = "\x00".join(strings_in(case["receipt"]))
            if case["where"] == "float":
                continue  # a float's text is not its digits
            assert case["pans"][0] in card_numbers_in(text, set(case["pans"])), case["receipt"]


# -- running the corpus through the firmware ------------------------------------------

SCRIPT = r"""
import json
from host_tools.sim import faults, parts
from posdiag import config
from posdiag.hal import FileStorage, Parts, Sensor
from posdiag.receipt import ReceiptError
from posdiag.terminal import Terminal

counter = [0]


def entropy(n):
    # Fixed "random" tokens: the same run on every runtime.
    counter[0] += 1
    return bytes([(counter[0] * 31 + i * 7) & 255 for i in range(n)])


def flash(storage):
    out = {}
    for name in sorted(storage.listdir()):
        f = storage.open(name, "rb")
        out[name] = f.read().hex()
        f.close()
    return out


s = faults.scenario(["host-unreachable"])   # the QR code shows the receipt text
clock = parts.StepClock()
storage = FileStorage(ROOT)
display = parts.MemoryDisplay()
hw = Parts(
    clock, storage, display,
    printer=parts.MemoryPort(parts.EscPosEmulator(s.printer), 9600),
    paper_end=Sensor(parts.VirtualPin(1)), near_end=Sensor(parts.VirtualPin(0)),
    cover=Sensor(parts.VirtualPin(0)), head_adc=parts.VirtualAdc(*s.head),
    supply_adc=parts.VirtualAdc(*s.supply), probe=parts.VirtualHost(s.host),
    entropy=entropy,
)
terminal = Terminal(config.load({"terminal_id": "RT-1", "journal_segments": 200}), hw)
terminal.boot()
for i in range(len(CORPUS)):
    display.qr = ""
    try:
        seq = terminal.failed_print(CORPUS[i])
    except ReceiptError as e:
        print(json.dumps({"i": i, "err": str(e)}))
        continue
    entry = [d for s2, d in terminal.journal.records(seq)][0]
    print(json.dumps({"i": i, "entry": entry.hex(), "screen": display.text, "qr": display.qr}))
print(json.dumps({"flash": flash(storage)}))
for seq in [s2 for s2, _ in terminal.journal.records()]:
    terminal.journal.ack(seq)
print(json.dumps({"acked": flash(storage)}))
"""


def script(root: str) -> str:
    payload = json.dumps([c["receipt"] for c in corpus()], ensure_ascii=False)
    assert "'''" not in payload and not payload.endswith("\\")
    # Raw UTF-8, not \\u escapes: MicroPython's json does not pair surrogates.
    return f"import json\nROOT = {root!r}\nCORPUS = json.loads(r'''{payload}''')\n" + SCRIPT


def parse(stdout: str) -> dict:
    lines = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    return {
        "results": [x for x in lines if "i" in x],
        "flash": next(x["flash"] for x in lines if "flash" in x),
        "acked": next(x["acked"] for x in lines if "acked" in x),
    }


@functools.cache
def run(runtime: str) -> dict:
    with tempfile.TemporaryDirectory() as root:
        if runtime == "cpython":
            src = Path(root) / "run.py"
            src.write_text(script(root + "/flash"), encoding="utf-8")
            proc = subprocess.run([sys.executable, str(src)], capture_output=True, text=True, timeout=600, cwd=ROOT)
            assert proc.returncode == 0, proc.stderr[-3000:]
            return parse(proc.stdout)
        if runtime == "unix":
            if not UNIX_MICROPYTHON.exists():
                pytest.skip("the MicroPython unix port is not installed")
            src = Path(root) / "run.py"
            src.write_text(script(root + "/flash"), encoding="utf-8")
            (Path(root) / "flash").mkdir()
            env = {"MICROPYPATH": f"{ROOT / 'firmware'}:{ROOT}"}
            proc = subprocess.run(
                [str(UNIX_MICROPYTHON), "-X", "heapsize=64m", str(src)],
                capture_output=True,
                text=True,
                timeout=600,
                env=env,
            )
            assert proc.returncode == 0, proc.stdout[-3000:]
            return parse(proc.stdout)
    reason = mpruntime.missing()
    if reason:
        pytest.fail(reason, pytrace=False)
    out = mpruntime.run_micropython(script("/tmp/flash"), modules=mpruntime.SIM_MODULES, timeout=900, heap=1 << 20)
    return parse(out)


RUNTIMES = ["cpython", "wasm", "unix"]


def strings_in(value: object) -> list[str]:
    """Every text (keys too) and integer inside a decoded journal entry."""
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in strings_in(k) + strings_in(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    return [str(value)] if value is not None else []


def planted_numbers() -> set[str]:
    return {p for c in corpus() for p in c.get("pans", [])}


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_every_receipt_is_kept_or_refused_as_it_should_be(runtime: str, record_property) -> None:  # noqa: ANN001
    results = run(runtime)["results"]
    assert [r["i"] for r in results] == list(range(len(corpus())))
    wrong = []
    for case, r in zip(corpus(), results, strict=True):
        refused = "err" in r
        if refused != (case["kind"] == "sad"):
            wrong.append((case["kind"], r.get("err"), json.dumps(case["receipt"], ensure_ascii=False)[:300]))
    assert wrong == []
    kinds = {k: sum(1 for c in corpus() if c["kind"] == k) for k in ("pan", "sad", "ok")}
    record_property("corpus", kinds)
    # Refusals name the field and the reason, never a value.
    for r in results:
        if "err" in r:
            assert r["err"].startswith("refused: ") and not card_numbers_in(r["err"], planted_numbers())


@pytest.mark.parametrize("runtime", ["wasm", "unix"])
def test_same_bytes_on_micropython_as_on_cpython(runtime: str) -> None:
    mp, cp = run(runtime), run("cpython")
    assert mp["results"] == cp["results"]
    assert mp["flash"] == cp["flash"] and mp["acked"] == cp["acked"]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_no_card_data_in_anything_the_run_produced(runtime: str, record_property) -> None:  # noqa: ANN001
    out = run(runtime)
    planted = planted_numbers()
    texts: dict[str, str] = {}
    for case, r in zip(corpus(), out["results"], strict=True):
        where = case["receipt"].get("txn_id", "?")
        if "entry" in r:
            entry = bytes.fromhex(r["entry"])
            texts[f"{where} entry"] = entry.decode("utf-8", "replace")
            texts[f"{where} entry fields"] = "\x00".join(strings_in(cbor2.loads(entry)))
            texts[f"{where} screen"] = r["screen"]
            texts[f"{where} qr"] = r["qr"]
        else:
            texts[f"{where} error"] = r["err"]
    for phase in ("flash", "acked"):
        for name, data in out[phase].items():
            texts[f"{phase} {name}"] = bytes.fromhex(data).decode("utf-8", "replace")
    found = {where: card_numbers_in(text, planted) for where, text in texts.items()}
    assert {k: v for k, v in found.items() if v} == {}
    # Nothing of a refused receipt was stored: not its number, not its
    # transaction id, not its track or CVV text.
    everything = "\n".join(texts.values())
    flat = compact(everything)
    for case in corpus():
        if case["kind"] == "sad":
            assert case["receipt"]["txn_id"] not in everything
            for marker in case["markers"]:
                assert compact(marker) not in flat, marker
    record_property("texts_scanned", len(texts))
    record_property("bytes_scanned", sum(len(t) for t in texts.values()))


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_card_numbers_are_masked_to_six_and_four_in_ascii(runtime: str) -> None:
    results = run(runtime)["results"]
    for case, r in zip(corpus(), results, strict=True):
        if case["kind"] != "pan" or case["where"] != "card.pan":
            continue
        pan = case["pans"][0]
        kept = cbor2.loads(bytes.fromhex(r["entry"]))["receipt"]["card"]["pan"]
        assert kept == pan[:6] + "*" * (len(pan) - 10) + pan[-4:], (case["receipt"]["card"], kept)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_acknowledged_receipts_leave_nothing_in_flash(runtime: str) -> None:
    out = run(runtime)
    image = b"".join(bytes.fromhex(d) for d in out["acked"].values())
    text = image.decode("utf-8", "replace")
    masked = set()
    for case, r in zip(corpus(), out["results"], strict=True):
        if "entry" in r:
            assert case["receipt"]["txn_id"] not in text
            entry = cbor2.loads(bytes.fromhex(r["entry"]))
            masked |= {s for s in strings_in(entry) if "******" in s}
    assert masked and [m for m in masked if m in text] == []
    # Before the acknowledgement they were there: the scan would see them.
    before = b"".join(bytes.fromhex(d) for d in out["flash"].values()).decode("utf-8", "replace")
    assert all(m in before for m in masked)


def test_ordinary_receipts_are_never_refused_and_mostly_untouched(record_property) -> None:  # noqa: ANN001
    changed = 0
    ordinary = [c["receipt"] for c in corpus() if c["kind"] == "ok"]
    for receipt in ordinary:
        kept = sanitize(receipt)  # raises ReceiptError if refused
        if json.dumps(kept, sort_keys=True) != json.dumps(_floats_as_text(receipt), sort_keys=True):
            changed += 1
    record_property("ordinary_receipts", len(ordinary))
    record_property("ordinary_receipts_with_a_number_masked", changed)
    # The corpus carries invoice and tracking numbers of 13+ digits: a few
    # pass the Luhn check by chance and are masked like a card number.
    assert changed <= len(ordinary) // 4


def _floats_as_text(value: object) -> object:
    """The receipt as kept when nothing is masked: floats become text."""
    if isinstance(value, dict):
        return {k: _floats_as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_floats_as_text(v) for v in value]
    if isinstance(value, float):
        text = ("%.6f" % value).rstrip("0")
        return text + "0" if text.endswith(".") else text
    return value


@pytest.mark.parametrize(
    "name",
    ["tracking_no", "trackingNumber", "spin", "shipping", "pinyin", "decide", "acid", "placid", "description",
     "opinion", "happiness", "tracker", "cidade", "postal_code", "discs", "pinata", "csv", "cvs", "trackingUrl"],
)  # fmt: skip
def test_ordinary_field_names_are_kept(name: str) -> None:
    assert sanitize({name: "x"}) == {name: "x"}


@pytest.mark.parametrize("name", sorted({n for w in SAD_CONCEPTS for n in styles(w)}))
def test_sensitive_field_names_are_refused_in_any_case_style(name: str) -> None:
    with pytest.raises(ReceiptError, match="refused"):
        sanitize({"custom": {name: "1"}})


# -- end to end: posdiag sim, then posdiag receipts ----------------------------------


def e2e_cases() -> list[dict]:
    pans = [c for c in corpus() if c["kind"] == "pan"]
    sad = [c for c in corpus() if c["kind"] == "sad"]
    ok = [c for c in corpus() if c["kind"] == "ok"]
    return pans[::50] + sad[::40] + ok[::80]


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_end_to_end_sim_then_receipts(runtime: str, start_sim, tmp_path: Path) -> None:  # noqa: ANN001
    cases = e2e_cases()
    files = []
    for n, case in enumerate(cases):
        path = tmp_path / f"card-{n:02d}.json"
        path.write_text(json.dumps(case["receipt"], ensure_ascii=False), encoding="utf-8")
        files += ["--failed-print", str(path)]
    state = tmp_path / "terminal"
    sim: SimProcess = start_sim(
        "--runtime", runtime, "--state", str(state), "--lang", "en", "--fault", "host-unreachable", *files
    )
    out = tmp_path / "receipts"
    got = subprocess.run(
        posdiag_cmd("receipts", sim.port, "--out", str(out), "--key", DEMO_KEY),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert got.returncode == 0, got.stderr
    pulled = sorted(p for p in out.glob("*.json"))
    kept = [c for c in cases if c["kind"] != "sad"]
    assert len(pulled) == len(kept), got.stdout  # every receipt after a refused one was journaled
    # The terminal is still serving after refusals and deliveries.
    again = subprocess.run(
        posdiag_cmd("receipts", sim.port, "--out", str(out), "--key", DEMO_KEY),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stderr
    _, screen = sim.stop()
    refusals = [line for line in screen.splitlines() if "not kept" in line]
    assert len(refusals) == len(cases) - len(kept)
    # Each refusal names the file the receipt came from.
    assert all(re.search(r"failed print \S+\.json not kept: refused: ", line) for line in refusals)
    texts = {"sim output": screen, "receipts command": got.stdout + got.stderr + again.stdout}
    # Every file as stored: on MicroPython the flash is a littlefs image,
    # scanned whole (blocks of deleted files too) and, below, file by file.
    for folder in (out, state):
        for path in folder.rglob("*"):
            if path.is_file():
                texts[str(path)] = path.read_bytes().decode("utf-8", "replace")
    files = flash_files(str(state))
    for name, data in files.items():
        texts[f"flash file {name}"] = data.decode("utf-8", "replace")
    assert any(p.endswith(".html") for p in texts) and files
    planted = planted_numbers()
    assert {w: f for w, t in texts.items() if (f := card_numbers_in(t, planted))} == {}
    everything = "\n".join(texts.values())
    for case in cases:
        if case["kind"] == "sad":
            assert case["receipt"]["txn_id"] not in everything
    # Delivered: the terminal's flash holds none of them any more, file by
    # file. (littlefs leaves a rewritten file's old blocks as they were until
    # it reuses them: the image itself may still hold a delivered receipt,
    # masked, as a board's flash would.)
    flash = "\n".join(data.decode("utf-8", "replace") for data in files.values())
    for case in kept:
        assert case["receipt"]["txn_id"] not in flash


@pytest.mark.micropython  # the simulator's micropython process, its ptys and echo server
def test_the_micropython_terminal_keeps_no_unmasked_settings(tmp_path: Path) -> None:
    """The failed prints reach the micropython process unmasked, in a
    settings file outside --state that the process removes once read."""
    from host_tools.sim.runner import make_terminal

    receipt = json.loads((DATA / "receipt-tea.json").read_text(encoding="utf-8"))
    pan = receipt["card"]["pan"]
    terminal = make_terminal("micropython", out=lambda _line: None, failed_prints=[receipt], state_dir=str(tmp_path))
    try:
        terminal.boot()
        private = terminal._private  # type: ignore[attr-defined]
        assert os.listdir(private) == [] and not str(private).startswith(str(tmp_path))
        image = (tmp_path / FLASH_IMAGE).read_bytes()
        assert pan.encode() not in image and (pan[:6] + "*" * (len(pan) - 10) + pan[-4:]).encode() in image
    finally:
        terminal.close()
    assert not os.path.exists(private)


def test_a_refused_receipt_leaves_the_sim_running(start_sim, tmp_path: Path) -> None:  # noqa: ANN001
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"txn_id": "X", "card": {"pan": "4111111111111111", "cvv": "123"}}))
    good = DATA / "receipt-tea.json"
    sim: SimProcess = start_sim("--failed-print", str(bad), "--failed-print", str(good), "--lang", "en")
    got = subprocess.run(
        posdiag_cmd("receipts", sim.port, "--out", str(tmp_path / "r"), "--key", DEMO_KEY),
        capture_output=True,
        text=True,
    )
    assert got.returncode == 0, got.stderr
    assert len(list((tmp_path / "r").glob("*.json"))) == 1
    _, screen = sim.stop()
    assert f"failed print {bad} not kept: refused: receipts must not carry cvv" in screen


def test_a_link_token_never_reads_as_a_card_number() -> None:
    from posdiag import ereceipt

    # All-digit random bytes: the worst case for a hex token.
    token = ereceipt.new_token(lambda n: bytes([0x12, 0x34, 0x56, 0x78] * (n // 4)))
    assert re.fullmatch(r"[0-9a-f]{32}", token) and not re.search(r"\d{13}", token)
    rng = random.Random(SEED)
    for _ in range(2000):
        token = ereceipt.new_token(lambda n: bytes(rng.randrange(256) for _ in range(n)))
        assert len(token) == 32 and not re.search(r"\d{13}", token)


@pytest.mark.parametrize(
    "body,masked",
    [
        ("202611250000422", False),  # an order number that starts with a date
        ("000042202611", False),  # leading zeros: no scheme issues 0
        ("70000000000000", False),  # 7: petroleum, not a payment card
        ("222100000000000", True),  # Mastercard 2-series
        ("220000000000000", True),  # Mir
        ("81710000000000", True),  # RuPay / UnionPay 81
        ("979200000000000", True),  # Troy
        ("10000000000000", True),  # UATP, 15 digits
    ],
)
def test_only_numbers_in_a_card_schemes_range_are_masked(body: str, masked: bool) -> None:
    number = body + next(d for d in "0123456789" if luhn_ok(body + d))
    text = f"order {number} ok"
    assert (sanitize({"note": text})["note"] != text) is masked
