"""`make demo-hub` as a new user runs it: real processes (a hub on SQLite,
a simulated terminal uploading to it), the QR link answering, the diagnosis
and the fleet view on the hub without a cable."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.pty  # processes and servers


def test_demo_hub_shows_the_receipt_the_diagnosis_and_the_fleet_view() -> None:
    got = subprocess.run([sys.executable, "-m", "host_tools.demo_hub"], capture_output=True, text=True, timeout=120)
    out = got.stdout
    assert got.returncode == 0, got.stderr + out
    assert re.search(r"^  200, \d+ bytes, \d+ ms after the QR code was shown", out, re.M), out
    assert re.search(r"^  - paper-out \(fault\)", out, re.M), out
    # The terminal's own upload told the hub its printer and firmware.
    assert re.search(r"^  SIM-0001: fault, paper-out \(consumables\); printer POSDIAG-EMU-80, firmware \d", out, re.M)
    assert "Traceback" not in got.stderr
