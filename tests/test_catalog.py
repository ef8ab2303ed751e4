"""The shared catalogue: every cause id of the fault catalogue, hints that
fit the terminal's 2 x 16 display."""

from __future__ import annotations

import pytest

from host_tools.textwidth import width
from posdiag import catalog as c

CATALOGUE_IDS = {
    "paper-out",
    "paper-near-end",
    "paper-loaded-backwards",
    "cover-open",
    "cutter-jam",
    "head-overheat",
    "head-fault",
    "power-unstable",
    "printer-no-response",
    "link-garbled",
    "link-intermittent",
    "printer-busy-offline",
    "host-unreachable",
    "host-slow",
    "host-rejects",
    "software-mismatch",
    "receipt-policy",
}
# Beyond the fault catalogue: the self-test failing inside (issue 9).
POSDIAG_IDS = {"internal-error"}


def test_every_catalogue_id_is_present_once() -> None:
    ids = [cause[0] for cause in c.CAUSES]
    assert set(ids) == CATALOGUE_IDS | POSDIAG_IDS and len(ids) == len(set(ids))


def test_codes_match_table_positions() -> None:
    for code, cause in enumerate(c.CAUSES):
        assert c.cause_code(cause[0]) == code and c.cause_id(code) == cause[0]
    assert sorted(c.RANK) == list(range(len(c.CAUSES)))


ALL_HINTS = [(c.cause_id(code), lang, c.hint(code, lang)) for code in range(len(c.CAUSES)) for lang in c.LANGS]
ALL_HINTS += [("healthy", lang, c.hint(None, lang)) for lang in c.LANGS]


@pytest.mark.parametrize("ident,lang,text", ALL_HINTS, ids=[f"{i}-{lang}" for i, lang, _ in ALL_HINTS])
def test_hint_fits_two_lines_of_16_columns(ident: str, lang: str, text: str) -> None:
    lines = text.split("\n")
    assert len(lines) == 2, f"{ident}/{lang}: {len(lines)} lines"
    for line in lines:
        assert 0 < width(line) <= 16, f"{ident}/{lang}: {line!r} is {width(line)} columns"
    if lang == "zh":
        assert any(width(ch) == 2 for ch in text)
    else:
        assert text.isascii()


def test_the_simulators_screen_measures_hints_like_unicodedata() -> None:
    # The screen drawn on both runtimes uses ranges (MicroPython has no
    # unicodedata); on every hint they must agree.
    from host_tools.sim.parts import columns

    for _, _, text in ALL_HINTS:
        for line in text.split("\n"):
            assert columns(line) == width(line), line


def test_width_counts_cjk_as_two() -> None:
    assert width("打印") == 4 and width("ab") == 2 and width("纸A") == 3


def test_unknown_id_is_an_error() -> None:
    with pytest.raises(ValueError):
        c.cause_code("toaster")
