"""The shared catalogue: every cause id of the fault catalogue, hints that
fit the terminal's 2 x 16 display, and the host's names of the firmware's
codes (host_tools/catalog_names.py): exactly one name for every code, no name
without a code."""

from __future__ import annotations

import pytest

from host_tools import catalog_names as names
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
    ids = names.CAUSE_IDS
    assert set(ids) == CATALOGUE_IDS | POSDIAG_IDS and len(ids) == len(set(ids))


def firmware_constants(prefix: str = "", *, exclude: tuple[str, ...] = ()) -> dict[str, int]:
    """The firmware catalogue's public integer constants whose name starts
    with prefix."""
    return {
        name: value
        for name, value in vars(c).items()
        if name.isupper() and name.startswith(prefix) and type(value) is int and not name.startswith(exclude)
    }


# Integer constants of the catalogue that are not cause codes, by prefix.
NOT_CAUSES = ("CHECK_", "P_", "S_", "H_", "T_", "V_", "RESET_")


def test_every_cause_code_has_one_host_name_and_no_name_is_orphaned() -> None:
    codes = firmware_constants(exclude=NOT_CAUSES)
    assert sorted(codes.values()) == list(range(len(codes))), "cause codes are 0..n-1, each once"
    assert set(names.CAUSES) == set(codes.values())
    assert len(c.HINTS) == 2 * len(names.CAUSES), "a zh and an en hint for every code"
    assert sorted(c.RANK) == list(range(len(names.CAUSES))), "every code ranked once"
    for cause in names.CAUSES.values():
        assert cause.category in names.CATEGORIES and cause.severity in names.SEVERITIES, cause
    assert {cause.category for cause in names.CAUSES.values()} == set(names.CATEGORIES)
    assert {cause.severity for cause in names.CAUSES.values()} == set(names.SEVERITIES)


def test_cause_ids_match_codes() -> None:
    for code, ident in enumerate(names.CAUSE_IDS):
        assert names.cause_code(ident) == code and names.cause_id(code) == ident == names.CAUSES[code].id
    # The firmware's constant names are the ids, spelled as Python names.
    for name, code in firmware_constants(exclude=NOT_CAUSES).items():
        assert names.cause_id(code) == name.lower().replace("_", "-")


# The firmware's prefix of each check's flag constants.
FLAG_PREFIXES = {
    c.CHECK_PRINTER: "P_",
    c.CHECK_PAPER: "S_",
    c.CHECK_HOST: "H_",
    c.CHECK_HEAD: "T_",
    c.CHECK_POWER: "V_",
}


@pytest.mark.parametrize("check", sorted(FLAG_PREFIXES))
def test_every_flag_bit_has_one_host_name_and_no_name_is_orphaned(check: int) -> None:
    bits = firmware_constants(FLAG_PREFIXES[check])
    table = names.FLAGS[check]
    assert sorted(bits.values()) == [1 << i for i in range(len(bits))], "one bit each, from bit 0 up"
    assert list(table) == sorted(bits.values()), "a name for every flag, in bit order, no other"
    assert len(set(table.values())) == len(table), "names unique within a check"
    assert names.WARNING_FLAGS[check] & ~sum(table) == 0, "warnings are flags of the check"
    assert names.flag_names(check, sum(table)) == list(table.values())


def test_checks_are_named_by_their_index() -> None:
    checks = firmware_constants("CHECK_")
    assert sorted(checks.values()) == list(range(len(names.CHECKS)))
    for name, check in checks.items():
        assert names.CHECKS[check] == name.removeprefix("CHECK_").lower()
    assert set(names.FLAGS) == set(names.WARNING_FLAGS) == set(range(len(names.CHECKS)))


# Record key 9 stores these codes: the list only ever grows at its end.
ERROR_NAMES = (
    "Exception", "OSError", "ValueError", "TypeError", "IndexError", "KeyError", "AttributeError",
    "ZeroDivisionError", "MemoryError", "RuntimeError", "NotImplementedError", "OverflowError",
    "UnicodeError", "AssertionError", "EOFError", "ImportError", "NameError", "StopIteration",
    "LookupError", "ArithmeticError", "SyntaxError", "KeyboardInterrupt", "SystemExit",
)  # fmt: skip


def test_error_codes_keep_their_stored_names() -> None:
    assert names.ERRORS == ERROR_NAMES
    assert all(isinstance(cls, type) and issubclass(cls, BaseException) for cls in c.ERROR_CLASSES)


# Firmware modules that fold the catalog codes they use into const() (a
# private copy, _NAME for catalog.NAME, gone from the .mpy): each copy must be
# the catalog's value.
FOLDING = ("checks", "escpos", "printer", "rank")
CODE_PREFIXES = ("_CHECK_", "_P_", "_S_", "_H_", "_T_", "_V_", "_RESET_")


@pytest.mark.parametrize("module", FOLDING)
def test_codes_folded_into_a_module_are_the_catalogs(module: str) -> None:
    import importlib

    source = vars(importlib.import_module(f"posdiag.{module}"))
    cause_codes = firmware_constants(exclude=NOT_CAUSES)
    folded = {
        name: value
        for name, value in source.items()
        if type(value) is int and (name.startswith(CODE_PREFIXES) or name[1:] in cause_codes)
    }
    assert folded, f"{module} folds no catalog code"
    for name, value in folded.items():
        assert hasattr(c, name[1:]), f"{module}.{name}: the catalog has no {name[1:]}"
        assert value == getattr(c, name[1:]), f"{module}.{name} = {value}, catalog.{name[1:]} = {getattr(c, name[1:])}"


ALL_HINTS = [(names.cause_id(code), lang, c.hint(code, lang)) for code in names.CAUSES for lang in c.LANGS]
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
        names.cause_code("toaster")
