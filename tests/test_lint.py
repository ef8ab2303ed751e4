"""The firmware stays MicroPython: every module compiles with mpy-cross and
type-checks against MicroPython's own stubs (.ci/lint-firmware, the firmware
half of `make lint`), so `make test` fails on an API MicroPython lacks."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_firmware_compiles_and_type_checks_against_micropython_stubs() -> None:
    proc = subprocess.run(["bash", ".ci/lint-firmware"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Success: no issues found" in proc.stdout
