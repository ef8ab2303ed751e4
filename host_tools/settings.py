"""`posdiag config --set`, checked here before anything is sent: the terminal
answers a refused setting with BAD_REQUEST alone, so the host says which
setting it was and what it accepts, from the firmware's own rules
(posdiag.config: CHANGEABLE, valid, the ranges)."""

from __future__ import annotations

import json

from host_tools.errors import BadDataError, UsageError
from posdiag import catalog, config


def accepted(name: str) -> str:
    """What name accepts, in words."""
    if name == "lang":
        return " or ".join(f'"{lang}"' for lang in catalog.LANGS)
    default = config.DEFAULTS[name]
    if isinstance(default, list):
        return 'a list of text, e.g. ["TM-T88V"]'
    if isinstance(default, int):
        low, high = config.RANGES.get(name, (None, None))  # the firmware's own ranges
        return f"a whole number from {low} to {high}" if low is not None else "a whole number"
    return "text"


def parse(items: list[str]) -> dict:
    """NAME=VALUE items (VALUE as JSON, a bare word as text) to the changes,
    each checked as the terminal will check it. A refused one exits 5, as
    the terminal's refusal would (errors.EXIT_BAD_DATA)."""
    changes = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"--set wants NAME=VALUE, not {item!r}")
        try:
            changes[name] = json.loads(value)
        except ValueError:
            changes[name] = value  # a bare word: a string
        if name not in config.CHANGEABLE:
            raise BadDataError(
                f"--set {name}: not a setting a technician may change",
                "these are: " + ", ".join(config.CHANGEABLE),
            )
        if not config.valid(name, changes[name]):
            raise BadDataError(f"--set {name}={value} refused", f"{name} accepts {accepted(name)}")
    return changes
