"""Every text the host tool shows a person, per language: data files
``host_tools/lang/<lang>.toml``, each read once. A language is a file; every
file has the same tables and keys (tests/test_texts.py). A language the host
has no file for falls back to English. The terminal's two-line hints are not
here: they must be on the device (``posdiag.catalog``)."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

__all__ = ["languages", "reading", "steps", "table", "text", "word"]

FALLBACK = "en"


def _folder() -> Traversable:
    return resources.files("host_tools").joinpath("lang")


@cache
def languages() -> tuple[str, ...]:
    """The languages the host speaks: one data file each."""
    return tuple(sorted(f.name.removesuffix(".toml") for f in _folder().iterdir() if f.name.endswith(".toml")))


@cache
def table(lang: str) -> dict[str, Any]:
    """All texts of ``lang`` (English for a language without a file), parsed once."""
    if lang not in languages():
        lang = FALLBACK
    return tomllib.loads(_folder().joinpath(f"{lang}.toml").read_text(encoding="utf-8"))


def text(section: str, key: str, lang: str, **values: object) -> str:
    """A text with its placeholders filled: ``text("label", "uptime", "zh", s=12)``.
    Raises KeyError for a key the data does not have."""
    return str(table(lang)[section][key]).format(**values)


def word(section: str, key: object, lang: str) -> str:
    """The word for a code (a check, status, category, trigger or field name),
    or the code itself when it has none, e.g. a code newer than the data."""
    return str(table(lang)[section].get(str(key), key))


def reading(name: str, lang: str) -> str:
    """An evidence reading ("printer.flags", knowledge.READINGS) in words."""
    check, _, field = name.partition(".")
    return text("label", "reading", lang, check=word("check", check, lang), field=word("field", field, lang))


@cache
def steps(cause_id: str, lang: str) -> tuple[str, ...]:
    """The technician's steps for a cause (any language without a file: English).
    Raises KeyError for an unknown cause id."""
    return tuple(table(lang)["steps"][cause_id])
