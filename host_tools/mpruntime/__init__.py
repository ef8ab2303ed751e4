"""Run Python source on real MicroPython from CPython.

The runtime is the official MicroPython WebAssembly port under Node
(run.mjs next to this file), with the firmware packages importable from /lib
as on a board. It is a 32-bit build: its heap figures stand for a
microcontroller's, and the byte-identity tests run on it beside CPython and
the unix port (docs/runtimes.md). The simulator's MicroPython runtime is the
unix port instead (host_tools/sim/mp_terminal.py). Its npm package lives in node_modules here: `make` or
`npm ci --prefix host_tools/mpruntime` installs it.

Note on --heap: this port starts with a GC heap of that size but grows it on
demand and collects only between top-level runs (gc.collect() inside a script
is deferred), so a script never hits MemoryError at that size. Within one run
nothing is freed, and gc.mem_alloc() differences count every byte allocated.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNNER = HERE / "run.mjs"
PACKAGE = HERE / "node_modules" / "@micropython" / "micropython-webassembly-pyscript"
DEFAULT_HEAP = 96 * 1024
# Where this runner is, in a checkout or an installed wheel alike.
INSTALL_HINT = f"run `npm ci --prefix {HERE}` (in a checkout `make` does it)"


def missing() -> str | None:
    """Why the runtime cannot run here, or None when it can."""
    if shutil.which("node") is None:
        return "node not found on PATH: install Node 20+, then " + INSTALL_HINT
    if not (PACKAGE / "package.json").is_file():
        return f"MicroPython runtime not installed ({PACKAGE} is missing): {INSTALL_HINT}"
    return None


def available() -> bool:
    return missing() is None


# The simulator's virtual parts, written to run on MicroPython too.
SIM_MODULES = {
    "host_tools.sim.parts": HERE.parent / "sim" / "parts.py",
    "host_tools.sim.faults": HERE.parent / "sim" / "faults.py",
}


def run_micropython(
    script: str,
    heap: int = DEFAULT_HEAP,
    timeout: float = 60,
    firmware: str | Path | None = None,
    modules: dict[str, Path] | None = None,
) -> str:
    """Run the Python source script on MicroPython and return its stdout.
    firmware is the folder holding the firmware packages (default: the
    repo's firmware/); modules maps more dotted names to .py files to make
    importable (SIM_MODULES: the simulator's virtual parts). Raises
    RuntimeError with stderr when the script fails."""
    reason = missing()
    if reason is not None:
        raise RuntimeError(reason)
    cmd = [shutil.which("node") or "node", str(RUNNER), "--heap", str(int(heap))]
    if firmware is not None:
        cmd += ["--firmware", str(firmware)]
    for name, file in (modules or {}).items():
        cmd += ["--module", f"{file}={name}"]
    cmd.append("-")
    try:
        proc = subprocess.run(cmd, input=script.encode(), capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"MicroPython script timed out after {timeout} s") from exc
    stderr = proc.stderr.decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"MicroPython exited with code {proc.returncode}:\n{stderr}")
    return proc.stdout.decode()
