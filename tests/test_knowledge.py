"""Technician knowledge: every catalogue cause has steps (texts, host_tools/lang/), evidence
and an e-receipt decision (knowledge.py)."""

from __future__ import annotations

import re

import pytest

from host_tools import knowledge, texts
from host_tools.catalog_names import CAUSE_IDS, CAUSES
from host_tools.diagnosis import describe_checks

# Every reading a diagnosis shows: "check.field" for each field the JSON
# output has for a record where every check found something.
_ALL_FAILING = [[0x1FFF, b"\x7e\x7e\x7e\x7e", 300, 1], 15, [0x3F, 12, 900], [1, 700], [0x1F, 19000, 4000]]
ALLOWED_READINGS = {
    f"{check}.{field}"
    for check, fields in describe_checks(_ALL_FAILING).items()
    for field in fields
    if field != "status"
} | {"error.stage", "error.name"}  # a self-test that failed inside (record key 9)
CJK = re.compile(r"[\u4e00-\u9fff]")
# STEPS[cause_id][lang] as the data files hold them.
STEPS: dict[str, dict[str, tuple[str, ...]]] = {}
for _lang in texts.languages():
    for _cause, _steps in texts.table(_lang)["steps"].items():
        STEPS.setdefault(_cause, {})[_lang] = tuple(_steps)


def test_catalogue_has_18_causes() -> None:
    assert len(CAUSE_IDS) == 18  # the 17 of the fault catalogue and internal-error
    assert len(set(CAUSE_IDS)) == len(CAUSE_IDS)


@pytest.mark.parametrize("cause_id", CAUSE_IDS)
def test_every_cause_has_en_and_zh_steps_of_equal_count(cause_id: str) -> None:
    by_lang = STEPS[cause_id]
    assert set(by_lang) == {"en", "zh"}
    en, zh = by_lang["en"], by_lang["zh"]
    assert isinstance(en, tuple) and isinstance(zh, tuple)
    assert 3 <= len(en) <= 6
    assert len(zh) == len(en)
    for step in en + zh:
        assert isinstance(step, str)
        assert step.strip(), f"empty step in {cause_id}"
        assert step == step.strip(), f"stray whitespace in {cause_id}: {step!r}"


@pytest.mark.parametrize("cause_id", CAUSE_IDS)
def test_zh_steps_are_chinese_and_en_steps_are_not(cause_id: str) -> None:
    for step in STEPS[cause_id]["zh"]:
        assert CJK.search(step), f"no CJK characters in zh step of {cause_id}: {step!r}"
    for step in STEPS[cause_id]["en"]:
        assert not CJK.search(step), f"CJK characters in en step of {cause_id}: {step!r}"


def test_steps_only_for_catalogue_causes() -> None:
    assert set(STEPS) <= set(CAUSE_IDS)
    assert set(STEPS) == set(CAUSE_IDS)


def test_evidence_covers_every_cause_with_allowed_readings() -> None:
    assert set(knowledge.EVIDENCE) == set(CAUSE_IDS)
    for cause_id, readings in knowledge.EVIDENCE.items():
        assert isinstance(readings, tuple)
        assert set(readings) <= ALLOWED_READINGS, cause_id
        assert len(set(readings)) == len(readings), f"duplicate reading for {cause_id}"
    assert set(knowledge.READINGS) == ALLOWED_READINGS


def test_evidence_for_sensor_visible_causes() -> None:
    assert "paper.flags" in knowledge.EVIDENCE["paper-out"]
    assert "printer.reply_ms" in knowledge.EVIDENCE["printer-no-response"]
    assert "host.rtt_ms" in knowledge.EVIDENCE["host-slow"]
    assert "host.flags" in knowledge.EVIDENCE["host-unreachable"]
    for cause_id in ("paper-loaded-backwards", "receipt-policy"):
        assert knowledge.EVIDENCE[cause_id] == ()


def test_e_receipt() -> None:
    assert isinstance(knowledge.E_RECEIPT, frozenset)
    assert knowledge.E_RECEIPT <= set(CAUSE_IDS)
    for cause_id in ("paper-out", "cover-open", "printer-no-response", "receipt-policy"):
        assert cause_id in knowledge.E_RECEIPT
    for cause_id in ("paper-near-end", "host-slow"):
        assert cause_id not in knowledge.E_RECEIPT


def test_e_receipt_never_for_a_warning_except_policy() -> None:
    for ident, _category, severity in CAUSES.values():
        if severity == "warning" and ident != "receipt-policy":
            assert ident not in knowledge.E_RECEIPT, ident


@pytest.mark.parametrize("cause_id", CAUSE_IDS)
def test_steps_function(cause_id: str) -> None:
    assert texts.steps(cause_id, "en") == STEPS[cause_id]["en"]
    assert texts.steps(cause_id, "zh") == STEPS[cause_id]["zh"]


@pytest.mark.parametrize("lang", ["fr", "", "EN", "zh-TW", "de"])
def test_steps_unknown_lang_falls_back_to_en(lang: str) -> None:
    assert texts.steps("paper-out", lang) == STEPS["paper-out"]["en"]


def test_steps_unknown_id_raises_key_error() -> None:
    with pytest.raises(KeyError):
        texts.steps("no-such-cause", "en")
    with pytest.raises(KeyError):
        texts.steps("no-such-cause", "zh")


def test_key_facts_present() -> None:
    def text(cause_id: str, lang: str) -> str:
        return " ".join(texts.steps(cause_id, lang))

    for lang in ("en", "zh"):
        assert "57/58 mm" in text("paper-out", lang) and "80 mm" in text("paper-out", lang)
        assert "1.5–7.5 m" in text("paper-near-end", lang)
        assert "DLE ENQ" in text("cutter-jam", lang)
        assert "100–150 km" in text("head-fault", lang)
        assert "24 V ±10 %" in text("power-unstable", lang)
        assert "9600 8N1" in text("link-garbled", lang)
        assert "2023" in text("receipt-policy", lang)
    assert "0.5–2 million" in text("cutter-jam", "en")
    assert "50–200 万" in text("cutter-jam", "zh")


def test_e_receipt_is_derived_and_matches_the_old_hand_kept_list() -> None:
    # Until issue 12 this set was kept by hand; it is now derived from severity and category.
    hand_kept = {
        "paper-out",
        "paper-loaded-backwards",
        "cover-open",
        "cutter-jam",
        "head-overheat",
        "head-fault",
        "power-unstable",
        "printer-no-response",
        "link-garbled",
        "printer-busy-offline",
        "host-unreachable",
        "host-rejects",
        "software-mismatch",
        "receipt-policy",
        "internal-error",
    }
    assert knowledge.E_RECEIPT == hand_kept
    derived = {i for i, cat, sev in CAUSES.values() if sev == "fault" or cat == "policy"}
    assert knowledge.E_RECEIPT == derived
