"""A progress bar for long pulls, on stderr and only for a person watching
(a terminal), so scripts and pipes see clean output."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.progress import Progress as RichProgress

# Below this many records a pull is over before a bar helps.
_SHOW_FROM = 200


class Progress:
    def __init__(self, what: str) -> None:
        self._what = what
        self._bar: RichProgress | None = None
        self._task: Any = None

    def __enter__(self) -> Progress:
        return self

    def update(self, done: int, total: int | None) -> None:
        if self._bar is None:
            if not sys.stderr.isatty() or (total or 0) < _SHOW_FROM:
                return
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(transient=True)
            self._bar.start()
            self._task = self._bar.add_task(self._what, total=total)
        self._bar.update(self._task, completed=done)

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.stop()
