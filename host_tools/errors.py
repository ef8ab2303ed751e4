"""Errors the technician sees: one line, a hint, a distinct exit code; and
the exit status of the commands that diagnose (diagnose, selftest, decode),
which a script can test without reading the output."""

from __future__ import annotations

from collections.abc import Iterable

# Exit codes of the posdiag command. 0, 1 and 8 are results (diagnose,
# selftest, decode); the others are errors, each printed as one line.
EXIT_HEALTHY = 0  # no cause found
EXIT_WARNINGS = 1  # warnings only (paper near its end, a slow host...)
EXIT_USAGE = 2  # a bad argument, an output path that cannot be written
EXIT_PORT = 3  # cannot open the port (or a server's address), or the connection was lost
EXIT_NO_ANSWER = 4  # the terminal does not answer
EXIT_BAD_DATA = 5  # a file or a reply is corrupt, or the terminal refused the request
EXIT_AUTH = 6  # the technician key is wrong or missing (self-tests without it: rate-limited)
EXIT_FAULT = 8  # at least one fault: a receipt will not print until it is fixed
EXIT_INTERRUPTED = 130  # Ctrl-C, or Ctrl-D at a question


def exit_status(diagnoses: Iterable[dict]) -> int:
    """The result of the diagnoses a command judged (diagnose, selftest: the
    newest record; decode: every record of the file, the worst wins): 8 when
    any cause is a fault, 1 when there are warnings only, 0 when healthy."""
    severities = {cause.get("severity") for diag in diagnoses for cause in diag.get("causes", ())}
    if "fault" in severities:
        return EXIT_FAULT
    return EXIT_WARNINGS if "warning" in severities else EXIT_HEALTHY


class PosdiagError(Exception):
    exit_code = EXIT_USAGE  # never 1: that is a result (warnings only)

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint

    def line(self) -> str:
        text = f"posdiag: {self}"
        return f"{text} ({self.hint})" if self.hint else text


class PortError(PosdiagError):
    exit_code = EXIT_PORT


class NoAnswerError(PosdiagError):
    exit_code = EXIT_NO_ANSWER


class BadDataError(PosdiagError):
    exit_code = EXIT_BAD_DATA


class AuthError(PosdiagError):
    exit_code = EXIT_AUTH


class RateLimitedError(AuthError):
    """SELFTEST without the key asked more often than the terminal allows:
    wait, or give the key (exit code 6, as for a missing key)."""


class UsageError(PosdiagError):
    exit_code = EXIT_USAGE


class Interrupted(PosdiagError):
    """Ctrl-C (or Ctrl-D at a question): what was done is said in the line."""

    exit_code = EXIT_INTERRUPTED
