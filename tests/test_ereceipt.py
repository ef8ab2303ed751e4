"""E-receipt fallback end to end: a failed print on the simulated terminal,
`posdiag receipts` over the authenticated link, `posdiag serve`, and the page
opened in headless Chromium, its QR code decoded back to its own link. Full
card numbers go in; none comes out anywhere."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from host_tools.sim.runner import DEMO_KEY

from .conftest import SimProcess, posdiag_cmd

RECEIPT = Path(__file__).parent / "data" / "receipt-tea.json"
FULL_PAN = "6222021234567890128"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def luhn_numbers(text: str) -> list[str]:
    """Every 13-19 digit run (spaces or dashes allowed between digits) that
    passes the Luhn check: a card number."""
    found = []
    for match in re.finditer(r"\d(?:[ -]?\d){12,18}", text):
        digits = re.sub(r"\D", "", match.group())
        for length in range(19, 12, -1):  # any card-length window of a longer run
            for start in range(0, len(digits) - length + 1):
                run = digits[start : start + length]
                total = sum(
                    d if i % 2 == 0 else (2 * d - 9 if d > 4 else 2 * d) for i, d in enumerate(map(int, run[::-1]))
                )
                if total % 10 == 0:
                    found.append(run)
    return found


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("Chromium not installed: `make test` installs Debian's chromium package", pytrace=False)


def browse(url: str, tmp: Path, *mode: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp / 'chromium-profile'}",
            *mode,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def served(start_sim: Callable[..., SimProcess], tmp_path: Path) -> Iterator[dict]:
    port = free_port()
    state = tmp_path / "terminal"
    sim = start_sim(
        "--fault",
        "paper-out",
        "--failed-print",
        str(RECEIPT),
        "--receipt-url",
        f"http://127.0.0.1:{port}/r/",
        "--state",
        str(state),
        "--lang",
        "en",
    )
    out = tmp_path / "receipts"
    got = subprocess.run(
        posdiag_cmd("receipts", sim.port, "--out", str(out), "--key", DEMO_KEY), capture_output=True, text=True
    )
    assert got.returncode == 0, got.stderr
    entry = json.loads((out / "SIM-0001-1.json").read_text())
    server = subprocess.Popen(
        [sys.executable, "-m", "host_tools", "serve", str(out), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None and "serving e-receipts" in server.stdout.readline()
    try:
        yield {"sim": sim, "entry": entry, "out": out, "state": state, "port": port, "cli": got.stdout}
    finally:
        server.terminate()
        server.wait(10)


def fetch(url: str) -> tuple[int, dict, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def test_the_link_serves_a_legal_receipt(served: dict) -> None:
    entry = served["entry"]
    url = entry["url"]
    assert url == f"http://127.0.0.1:{served['port']}/r/{entry['token']}" and url in served["cli"]
    status, headers, page = fetch(url)
    assert status == 200
    assert headers["Referrer-Policy"] == "no-referrer" and "default-src 'none'" in headers["Content-Security-Policy"]
    for needed in (
        "Corner Tea Shop",
        "1 Main Street, Shanghai",
        "2026-11-25 10:15",
        "Oolong tea 250 g",
        "88.00",
        "24.00",
        "14.56",
        "136.00",
        "T-20261125-0042",
        "SIM-0001",
        "622202*********0128",
    ):
        assert needed in page, needed
    assert "http" not in page.replace(url, "")  # no third-party content, no other link
    text = (served["out"] / "SIM-0001-1.txt").read_text()
    assert "TOTAL CNY 136.00" in text


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/r/",
        "/r",
        "/r/0123456789abcdef0123456789abcdef",
        "/r/../SIM-0001-1.json",
        "/SIM-0001-1.json",
        "/r/%2e%2e/SIM-0001-1.json",
    ],
)
def test_anything_but_a_real_link_is_404(served: dict, path: str) -> None:
    status, headers, body = fetch(f"http://127.0.0.1:{served['port']}{path}")
    assert status == 404 and "Corner" not in body
    assert headers["Referrer-Policy"] == "no-referrer"


def test_an_expired_link_is_refused(served: dict) -> None:
    meta = served["out"] / "r" / f"{served['entry']['token']}.json"
    meta.write_text('{"expires": 1000}')
    status, _, body = fetch(served["entry"]["url"])
    assert status == 410 and "expired" in body


def test_page_renders_in_chromium_and_its_qr_code_is_its_own_link(served: dict, tmp_path: Path) -> None:
    import zxingcpp
    from PIL import Image

    url = served["entry"]["url"]
    dom = browse(url, tmp_path, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "Corner Tea Shop" in dom.stdout and "136.00" in dom.stdout
    shot = tmp_path / "page.png"
    run = browse(url, tmp_path, f"--screenshot={shot}", "--window-size=600,1400", "--hide-scrollbars")
    assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
    codes = zxingcpp.read_barcodes(Image.open(shot))
    assert [c.text for c in codes] == [url]


def test_no_full_card_number_anywhere(served: dict, tmp_path: Path) -> None:
    assert FULL_PAN in luhn_numbers(RECEIPT.read_text())  # a full card number went in, and the scan sees it
    sim: SimProcess = served["sim"]
    pulled = tmp_path / "log.cbor"
    subprocess.run(posdiag_cmd("pull", sim.port, "-o", str(pulled)), check=True, capture_output=True)
    page = fetch(served["entry"]["url"])[2]
    _, screen = sim.stop()
    texts = {"terminal screen": screen, "served page": page, "receipts command": served["cli"]}
    for folder in (served["state"], served["out"], tmp_path):
        for path in folder.rglob("*"):
            if path.is_file() and "chromium-profile" not in path.parts:
                texts[str(path)] = path.read_bytes().decode("latin-1")
    assert len(texts) > 8
    for where, text in texts.items():
        assert luhn_numbers(text) == [], f"a card number in {where}"
