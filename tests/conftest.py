"""Shared fixtures: the CDDL schema, the simulated terminal as a process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import cddl_verifier
import pytest

ROOT = Path(__file__).resolve().parent.parent

# Test tiers (`pytest -m unit` runs in seconds; `make test` runs them all):
#   unit         pure logic, files in a temporary folder, virtual parts
#   pty          real pseudo-terminals, TCP servers, posdiag in its own process
#   micropython  the firmware on MicroPython's ports (WebAssembly, unix)
#   browser      pages in headless Chromium
#   fuzz         fuzzers with a fixed seed and budget, files of many megabytes
#   lint         compilers and linters over the source tree
TIERS = ("unit", "pty", "micropython", "browser", "fuzz", "lint")
# A test file's tier when all of its tests share one.
_FILE_TIERS = {
    "test_lint.py": "lint",
    "test_layers.py": "lint",
    "test_packaging.py": "lint",
    "test_micropython.py": "micropython",
    "test_selftest_runtimes.py": "micropython",
    "test_internal_error.py": "micropython",
    "test_heap.py": "micropython",
    "test_flash_powercut.py": "micropython",
    "test_e2e.py": "pty",
    "test_link_faults.py": "pty",
    "test_cli_errors.py": "pty",
    "test_printer_command.py": "pty",
    "test_checks.py": "pty",
    "test_terminal.py": "pty",
    "test_link.py": "pty",
    "test_serve.py": "pty",
    "test_hub.py": "pty",
    "test_uploader.py": "pty",
    "test_careless_hands.py": "pty",
    "test_bad_cable.py": "pty",
    "test_fuzz_files.py": "fuzz",
}
# Fixtures that bring up real lines, servers or processes.
_PTY_FIXTURES = {"start_sim", "make_sim", "sim", "client", "rig", "make_terminal", "make_printer", "served", "pulled"}
_MICROPYTHON_IDS = ("micropython", "wasm", "unix", "mp")


def _tier(item: pytest.Item) -> str:
    for tier in TIERS:
        if item.get_closest_marker(tier):
            return tier  # marked by hand in the test file
    if "chromium" in item.name or "browser" in item.name:
        return "browser"  # the page opened as a customer's phone or a ticket reader would
    if "memory" in item.name or "junk" in item.name:
        return "fuzz"  # megabytes of input to show memory stays flat
    callspec = getattr(item, "callspec", None)
    if callspec is not None and any(str(v) in _MICROPYTHON_IDS for v in callspec.params.values()):
        return "micropython"
    tier = _FILE_TIERS.get(item.path.name)
    if tier:
        return tier
    fixtures = set(getattr(item, "fixturenames", ()))
    if "on_runtimes" in fixtures or (callspec is not None and "runtime" in callspec.params):
        return "micropython"  # one script compared across runtimes, CPython's run included
    if _PTY_FIXTURES & fixtures:
        return "pty"
    return "unit"


def pytest_configure(config: pytest.Config) -> None:
    for tier in TIERS:
        config.addinivalue_line("markers", f"{tier}: the {tier} tier (tests/conftest.py)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        tier = _tier(item)
        if not item.get_closest_marker(tier):
            item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture(scope="session")
def schema() -> cddl_verifier.Validator:
    return cddl_verifier.Validator(ROOT / "docs" / "record.cddl")


@pytest.fixture(scope="session")
def validate(schema: cddl_verifier.Validator) -> Callable[[bytes], None]:
    """Assert that CBOR bytes are one valid posdiag item (terminal or record)."""

    def check(data: bytes) -> None:
        result = schema.validate(data)
        assert result, f"{data.hex()} does not match docs/record.cddl: {result.errors}"

    return check


def posdiag_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "host_tools", *args]


class SimProcess:
    """`posdiag sim` running in its own process, as a technician starts it."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            posdiag_cmd("sim", *args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self.proc.stdout is not None
        self.port = self.proc.stdout.readline().strip()
        if not self.port:
            raise RuntimeError(f"sim did not start: {self.proc.stderr.read() if self.proc.stderr else ''}")

    def stop(self) -> tuple[int, str]:
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=10)
        return self.proc.returncode, out


@pytest.fixture
def start_sim() -> Iterator[Callable[..., SimProcess]]:
    started: list[SimProcess] = []

    def start(*args: str) -> SimProcess:
        sim = SimProcess(*args)
        started.append(sim)
        return sim

    yield start
    for sim in started:
        if sim.proc.poll() is None:
            sim.stop()
