"""Texts as data (host_tools/lang/<lang>.toml): every file parses, every
language has the same tables, keys and placeholders, the keys are exactly
what the catalogue and the code name (no orphans), Chinese texts are Chinese
and English ones are not, and Chinese output shows no English labels."""

from __future__ import annotations

import re
import string
import tomllib
from collections import Counter
from pathlib import Path

import pytest

from host_tools import catalog_names as names
from host_tools import knowledge, texts, troubleshoot
from host_tools.diagnosis import POLICIES, describe_checks, diagnose
from host_tools.findings import analyse
from host_tools.records import PulledLog
from host_tools.render import diagnosis_text, history_text, info_text, printer_text
from host_tools.report import LogReport, write_html
from posdiag import catalog as c
from posdiag import record as r

HOST = Path(texts.__file__).resolve().parent
LANG_DIR = HOST / "lang"
CJK = re.compile(r"[\u4e00-\u9fff]")


def _flat(table: dict) -> dict[str, dict]:
    """A language's tables with the nested ones ([fleet.train] ...) as
    tables of their own, named "fleet.train"."""
    out: dict[str, dict] = {}
    for section, entries in table.items():
        out[section] = {k: v for k, v in entries.items() if not isinstance(v, dict)}
        for key, value in entries.items():
            if isinstance(value, dict):
                out.update(_flat({f"{section}.{key}": value}))
    return out


EN = _flat(texts.table("en"))
CAUSE_IDS = set(names.CAUSE_IDS)
_ALL_FAILING = [[0x1FFF, b"\x7e\x7e\x7e\x7e", 300, 1], 15, [0x3F, 12, 900], [1, 700], [0x1F, 19000, 4000]]


def _leaves(node: tuple) -> list[tuple]:
    return _leaves(node[2]) + _leaves(node[3]) if node[0] == "ask" else [node]


def _texts(lang: str) -> list[tuple[str, str, str]]:
    """(section, key, text) for every text of a language; steps one by one."""
    out = []
    for section, entries in _flat(texts.table(lang)).items():
        for key, value in entries.items():
            out += [(section, key, v) for v in value] if isinstance(value, list) else [(section, key, value)]
    return out


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


# What the code and the catalogue name, table by table: the data holds exactly these keys.
EXPECTED = {
    "steps": CAUSE_IDS,
    "check": set(names.CHECKS) | {"error"},
    "field": {f for check in describe_checks(_ALL_FAILING).values() for f in check if f != "status"}
    | {"stage", "name"},
    "status": {"ok", *names.SEVERITIES, "unknown"},  # unknown: a form this host cannot read
    "category": set(names.CATEGORIES),
    "trigger": set(r.TRIGGERS),
    "question": set(troubleshoot.QUESTIONS),
    "why": {leaf[2] for leaf in _leaves(troubleshoot.TREE)},
    "policy": set(POLICIES),
    "finding": set(re.findall(r'_text\("([a-z-]+)"', (HOST / "findings.py").read_text())),
    # The fleet pages (docs/fleet.md): what to train on per operator cause,
    # the service reasons, the lights and the alerts.
    "fleet.train": {cause.id for cause in names.CAUSES.values() if cause.category == "operator"},
    "fleet.reason": {"head-wear", "cutter-wear", "head-overheat", "link-intermittent", "power-unstable"},
    "fleet.light": {"fault", "warning", "healthy", "silent"},
    "fleet.alert": {"terminal-red", "paper-runs-out", "cause-spreads"},
}


def test_every_data_file_parses_and_is_a_language() -> None:
    files = sorted(p.name for p in LANG_DIR.glob("*.toml"))
    assert files == ["en.toml", "zh.toml"]
    for name in files:
        assert tomllib.loads((LANG_DIR / name).read_text(encoding="utf-8"))
    assert texts.languages() == ("en", "zh")


@pytest.mark.parametrize("lang", texts.languages())
def test_every_language_has_the_same_tables_and_keys(lang: str) -> None:
    table = _flat(texts.table(lang))
    assert set(table) == set(EN)
    for section, entries in EN.items():
        assert set(table[section]) == set(entries), f"{lang}: [{section}] differs from en"


@pytest.mark.parametrize("lang", texts.languages())
def test_every_text_keeps_the_placeholders_of_english(lang: str) -> None:
    for section, entries in EN.items():
        for key, value in entries.items():
            if isinstance(value, list):  # steps: shown as they are, never formatted
                assert not any("{" in step or "}" in step for step in _flat(texts.table(lang))[section][key])
                continue
            assert _fields(_flat(texts.table(lang))[section][key]) == _fields(value), f"{lang}: [{section}] {key}"


@pytest.mark.parametrize("section", sorted(EXPECTED))
def test_keys_are_what_the_catalogue_and_the_code_name(section: str) -> None:
    assert set(EN[section]) == EXPECTED[section]


def test_every_label_is_used_by_the_code() -> None:
    source = "".join((HOST / name).read_text() for name in ("render.py", "report.py"))
    for section in ("label", "measure", "info", "report"):
        for key in EN[section]:
            assert f'"{key}"' in source or f"'{key}'" in source, f"[{section}] {key} is not used"


def test_every_fleet_label_is_used_by_the_fleet_pages() -> None:
    """Each [fleet] key is named in the fleet's web layer (web.py and the
    modules it mounts), whole or as a prefix and a rest ("col_" + name) both
    named there."""
    web = ("web.py", "webkit.py", "layout.py", "session.py", "export.py", "overview.py", "worklists.py", "api.py")
    source = "".join((HOST / "fleet" / name).read_text() for name in web)
    for key in EN["fleet"]:
        prefix, _, rest = key.partition("_")
        whole = f'"{key}"' in source or f"'{key}'" in source
        parts = bool(rest) and f'"{prefix}_"' in source and f'"{rest}"' in source
        assert whole or parts, f"[fleet] {key} is not used"


def test_every_cause_has_steps_in_every_language_the_same_number() -> None:
    for cause in CAUSE_IDS:
        counts = {lang: len(texts.steps(cause, lang)) for lang in texts.languages()}
        assert len(set(counts.values())) == 1 and 3 <= counts["en"] <= 6, (cause, counts)


def test_every_reading_has_words() -> None:
    for reading in knowledge.READINGS:
        check, _, field = reading.partition(".")
        assert check in EN["check"] and field in EN["field"], reading
    assert texts.reading("printer.flags", "en") == "printer.flags"
    assert texts.reading("printer.flags", "zh") == "打印机标志"


@pytest.mark.parametrize("lang", texts.languages())
def test_chinese_is_chinese_and_english_is_not(lang: str) -> None:
    for section, key, text in _texts(lang):
        assert text == text.strip() and text, f"{lang}: [{section}] {key}: {text!r}"
        words = re.sub(r"\{[^}]*\}", "", text)
        if lang == "zh" and re.search(r"[A-Za-z\u4e00-\u9fff]", words):
            assert CJK.search(text), f"no CJK in zh [{section}] {key}: {text!r}"
        if lang == "en":
            assert not CJK.search(text), f"CJK in en [{section}] {key}: {text!r}"


def test_an_unknown_language_is_english_and_an_unknown_code_is_itself() -> None:
    assert texts.text("label", "top", "fr") == "Most likely cause"
    assert texts.word("trigger", 9, "zh") == "9"
    with pytest.raises(KeyError):
        texts.text("label", "no-such-label", "en")


def _log() -> PulledLog:
    ok = [5, 0, 12, 350, 24000]
    dead = [[c.P_NO_REPLY, b"", 240], 0, 12, 350, 24000]
    checks = [ok, dead, ok, dead, _ALL_FAILING, [None, 0, None, 350, 24000]]
    raws = [
        r.encode(r.build(i + 1, 1, 9, 1790000000 + i * 86400, r.TRIGGER_SCHEDULE, ch, None, [i * 9000, i, i]))
        for i, ch in enumerate(checks)
    ]
    raws.append(r.encode(r.build(7, 2, 3, None, r.TRIGGER_BOOT, ok, error=[c.CHECK_HEAD, 1])))
    term = {"terminal": "T-1", "firmware": "0.1.0", "printer": {"maker": "posdiag", "name": "EMU", "firmware": "1"}}
    term |= {"counters": [95_000_000, 460_000, 3], "printer_counters": [1, 2, 3], "boot": 2, "oldest": 1, "newest": 7}
    return PulledLog(term, raws)


# English words of labels that must not show in Chinese output (cause ids,
# flag names, the English hint line and commands are not labels).
ENGLISH_LABELS = re.compile(
    r"\brecord\b|self-test|\bboot\b|uptime|Most likely|Merchant|Technician|Evidence|Checks|Also seen|not run|"
    r"\b(printer|paper|host|head|power) |\bok\b|status|connect|echo|spread|answers cleanly|counters|line feeds|"
    r"Over the whole|Records by|healthy|\bdevice\b|consumables|\bfault\b|\bwarning\b|schedule"
)


# Codes shown as they are in every language, like the JSON: cause ids and flag names.
FLAG_NAMES = {name for table in names.FLAGS.values() for name in table.values()}
CODES = re.compile("|".join(sorted((re.escape(x) for x in CAUSE_IDS | FLAG_NAMES), key=len, reverse=True)))


def _zh_lines(text: str) -> str:
    lines = (line for line in text.splitlines() if not line.startswith("  en: ") and "posdiag " not in line)
    return CODES.sub("", "\n".join(lines))


def test_chinese_text_output_has_no_english_labels() -> None:
    log = _log()
    for raw in log.records:
        assert not ENGLISH_LABELS.search(
            _zh_lines(diagnosis_text(diagnose(raw, "zh", "on-request"), log.terminal, "zh"))
        )
    findings = analyse(log.records, log.terminal)
    assert not ENGLISH_LABELS.search(_zh_lines(history_text(findings, {"healthy": 2, "paper-out": 1}, "zh")))
    result = {"port": "COM3", "baud": 9600, "printer": None, "printer_counters": [1, None, 3]}
    result |= {"recovery_offered": False, "diagnosis": diagnose(log.records[1], "zh")}
    assert not ENGLISH_LABELS.search(_zh_lines(printer_text(result, "zh")))
    info = info_text({**log.terminal, "receipts": 0, "drops": 0, "torn": 0, "selftests_refused": 1}, "zh")
    assert not ENGLISH_LABELS.search(info) and "posdiag 固件" in info


def test_chinese_html_report_has_chinese_headings_and_facts(tmp_path: Path) -> None:
    log = _log()
    page = tmp_path / "report.html"
    findings = analyse(log.records, log.terminal)
    write_html(str(page), LogReport(log, diagnose(log.records[4], "zh"), findings, Counter({"healthy": 2})), "zh")
    html = page.read_text()
    for section in ("report", "check", "status", "trigger"):
        for key, en in EN[section].items():
            if not _fields(en):
                assert f">{en}<" not in html and f">{en} (" not in html, f"[{section}] {key}: {en!r} shown in zh"
    for key in ("newest", "findings", "check", "status", "readings", "seq", "time", "trigger", "causes"):
        assert f">{texts.text('report', key, 'zh')}<" in html
    assert "<h2>检查项</h2>" in html and "posdiag 报告 · T-1" in html and "整个日志的发现" in html
