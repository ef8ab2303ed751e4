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
