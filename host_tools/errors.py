"""Errors the technician sees: one line, a hint, a distinct exit code."""

from __future__ import annotations

# Exit codes of the posdiag command.
EXIT_USAGE = 2
EXIT_PORT = 3  # cannot open the port
EXIT_NO_ANSWER = 4  # the terminal does not answer
EXIT_BAD_DATA = 5  # a file or a reply is corrupt
EXIT_AUTH = 6  # the technician key is wrong or missing (self-tests without it: rate-limited)
EXIT_INTERRUPTED = 130


class PosdiagError(Exception):
    exit_code = 1

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
