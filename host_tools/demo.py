"""`make demo`: a simulated terminal with a fault, its boot self-test, a pull
over the serial link and the diagnosis, as a technician would run them (two
real processes talking over a pseudo-terminal)."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time


def _posdiag(*args: str) -> list[str]:
    return [sys.executable, "-m", "host_tools", *args]


def main() -> int:
    ap = argparse.ArgumentParser(prog="posdiag-demo")
    ap.add_argument("--fault", default="paper-out", help="fault id, or 'none' for a healthy terminal")
    ap.add_argument("--lang", choices=("zh", "en"), default="en")
    ap.add_argument("--runtime", choices=("cpython", "micropython"), default="cpython")
    args = ap.parse_args()
    faults = [] if args.fault in ("", "none") else ["--fault", args.fault]
    if args.runtime != "cpython":
        faults += ["--runtime", args.runtime]

    started = time.monotonic()
    print(f"$ posdiag sim {' '.join(faults)}".rstrip(), flush=True)
    sim = subprocess.Popen(_posdiag("sim", *faults), stdout=subprocess.PIPE, text=True)
    try:
        assert sim.stdout is not None
        port = sim.stdout.readline().strip()
        if not port:
            print("demo: the simulator did not start", file=sys.stderr)
            return 1
        print(f"terminal diagnostics port: {port}")
        # The boot self-test draws the merchant's screen: 4 lines.
        for _ in range(4):
            print(sim.stdout.readline().rstrip())
        print(f"\n$ posdiag diagnose {port} --lang {args.lang}", flush=True)
        result = subprocess.run(_posdiag("diagnose", port, "--lang", args.lang))
    finally:
        sim.terminate()
        sim.wait(timeout=10)
    print(f"demo finished in {time.monotonic() - started:.1f} s")
    # diagnose exits 1 (warnings) or 8 (a fault) by design: the demo itself worked
    return 0 if result.returncode in (0, 1, 8) else result.returncode


if __name__ == "__main__":
    sys.exit(main())
