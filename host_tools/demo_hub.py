"""`make demo-hub`: a terminal online. A posdiag hub on SQLite in a
temporary folder, a terminal provisioned on it, a simulated terminal that
uploads to it (`posdiag sim --hub`) and fails a print: the customer's QR
link answers with the receipt page, and the diagnosis is on the hub without
a cable (the operator API), and the fleet view lists it. Every step is a real process, as an operator
and a technician would run them."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from host_tools.hub import client

RECEIPT = Path(__file__).resolve().parent.parent / "tests" / "data" / "receipt-tea.json"
TERMINAL = "SIM-0001"


def _posdiag(*args: str) -> list[str]:
    return [sys.executable, "-m", "host_tools", *args]


def _run(*args: str) -> str:
    """A posdiag command's stdout; stops the demo with its error if it fails."""
    proc = subprocess.run(_posdiag(*args), capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"demo-hub: posdiag {args[0]} failed: {proc.stderr.strip() or proc.returncode}")
    return proc.stdout


def _wait(deadline_s: float, probe):  # noqa: ANN001, ANN202 - a callable returning a value or None
    end = time.monotonic() + deadline_s
    while True:
        got = probe()
        if got is not None or time.monotonic() > end:
            return got
        time.sleep(0.02)


def main() -> int:
    ap = argparse.ArgumentParser(prog="posdiag-demo-hub")
    ap.add_argument("--fault", default="paper-out", help="the printer's fault when the print fails")
    ap.add_argument("--lang", choices=("zh", "en"), default="en")
    ap.add_argument("--runtime", choices=("cpython", "micropython"), default="cpython")
    args = ap.parse_args()
    started = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="posdiag-demo-hub-")
    db = os.path.join(tmp, "hub.sqlite3")
    procs: list[subprocess.Popen[str]] = []
    try:
        print(f"$ posdiag hub terminal add {TERMINAL} --db {db}")
        key = re.search(r"\b[0-9a-f]{64}\b", _run("hub", "terminal", "add", TERMINAL, "--db", db))
        token = re.search(r"\S{20,}", _run("hub", "token", "add", "demo", "--db", db).strip().splitlines()[-1])
        if key is None or token is None:
            raise SystemExit("demo-hub: the hub printed no key or token")
        print("  upload key printed once (kept by the terminal, not shown here)")

        print(f"$ posdiag hub --db {db} --listen 127.0.0.1:0")
        hub = subprocess.Popen(_posdiag("hub", "--db", db, "--listen", "127.0.0.1:0"), stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        procs.append(hub)
        assert hub.stdout is not None
        found = re.search(r"http://127\.0\.0\.1:\d+", hub.stdout.readline())
        if found is None:
            raise SystemExit("demo-hub: the hub did not start")
        url = found.group(0)
        print(f"  {found.string.strip()}")

        print(f"$ posdiag sim --hub {url} --fault {args.fault} --failed-print {RECEIPT.name} --lang {args.lang}"
              + (f" --runtime {args.runtime}" if args.runtime != "cpython" else ""))
        sim = subprocess.Popen(
            _posdiag("sim", "--hub", url, "--fault", args.fault, "--failed-print", str(RECEIPT),
                     "--lang", args.lang, "--runtime", args.runtime),
            stdout=subprocess.PIPE, text=True,
            env={**os.environ, "POSDIAG_UPLOAD_KEY": key.group(0)},  # not on the command line
        )
        procs.append(sim)
        assert sim.stdout is not None
        link = None
        for line in sim.stdout:
            line = line.rstrip("\n")
            print("  " + line)
            qr = re.search(r"screen qr: (\S+/r/[0-9a-f]{32})", line)
            if qr:
                link = qr.group(1)
                break
        if link is None:
            raise SystemExit("demo-hub: the terminal showed no e-receipt link")
        shown = time.monotonic()

        # The customer scans the QR code.
        page = _wait(5, lambda: (lambda a: a if a.status == 200 else None)(client.request(link, "GET", "")))
        took = time.monotonic() - shown
        if page is None:
            raise SystemExit(f"demo-hub: {link[:-28]}… does not answer")
        title = re.search(rb"<title>(.*?)</title>", page.body)
        print(f"\n$ curl {link[:-28]}…  (the customer's phone)")
        print(f"  200, {len(page.body)} bytes, {took * 1000:.0f} ms after the QR code was shown"
              + (f": {title.group(1).decode()}" if title else ""))

        # The operator reads the diagnosis: no cable.
        op = client.bearer(token.group(0))
        path = f"/api/v1/terminals/{TERMINAL}/diagnosis?lang={args.lang}"

        def diagnosis() -> dict | None:
            a = client.request(url, "GET", path, headers=op)
            if a.status != 200:
                return None
            value = a.json()
            return value if json.dumps(value).find(args.fault) >= 0 else None

        value = _wait(10, diagnosis)
        print(f"\n$ curl -H 'Authorization: Bearer …' {url}{path}")
        if value is None:
            raise SystemExit("demo-hub: the diagnosis did not arrive on the hub")
        records = client.request(url, "GET", f"/api/v1/terminals/{TERMINAL}/records?limit=1000", headers=op)
        newest = value.get("newest") or {}
        print(f"  {len(records.json().get('records', []))} records on the hub; the newest, seq {newest.get('seq')} "
              f"({newest.get('trigger')}), says:")
        for cause in newest.get("causes", [])[:3]:
            hint = cause.get("hint", {}).get(args.lang, "").replace("\n", " / ")
            print(f"  - {cause.get('id')} ({cause.get('severity')}): {hint}")
            for step in cause.get("steps", [])[:2]:
                print(f"      {step}")

        # The fleet view: the same terminal among all the operator's.
        fleet = client.request(url, "GET", "/api/v1/fleet/terminals", headers=op)
        print(f"\n$ curl -H 'Authorization: Bearer …' {url}/api/v1/fleet/terminals")
        if fleet.status != 200:
            raise SystemExit(f"demo-hub: the fleet view answered {fleet.status}")
        now = fleet.json()
        print("  " + ", ".join(f"{n} {light}" for light, n in now.get("counts", {}).items()))
        for row in now.get("terminals", [])[:3]:
            print(f"  {row['terminal']}: {row['light']}, {row['top_cause']} ({row['category']}); "
                  f"printer {row['model']}, firmware {row['firmware']}")
        print(f"  the pages: {url}/fleet/ (sign in with the operator's token)")
        print(f"\ndemo-hub finished in {time.monotonic() - started:.1f} s")
        return 0
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
