"""The firmware ships as files a board takes: mip package.json and a frozen
manifest that list every module, each compiling with mpy-cross."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

FIRMWARE = Path(__file__).resolve().parent.parent / "firmware"
MODULES = sorted(p.relative_to(FIRMWARE).as_posix() for p in (FIRMWARE / "posdiag").glob("*.py"))


def test_mip_package_lists_every_module() -> None:
    pkg = json.loads((FIRMWARE / "package.json").read_text())
    assert sorted(dest for dest, _ in pkg["urls"]) == MODULES, "run `make package-json`"
    assert all(dest == src for dest, src in pkg["urls"])  # relative to package.json
    assert pkg["version"] == __import__("posdiag").VERSION


def test_manifest_freezes_the_package() -> None:
    text = (FIRMWARE / "manifest.py").read_text()
    assert 'package("posdiag"' in text


def test_every_module_compiles_with_mpy_cross(tmp_path: Path) -> None:
    for module in [*MODULES, "main.py"]:
        out = tmp_path / (module.replace("/", "_") + ".mpy")
        proc = subprocess.run(
            [sys.executable, "-m", "mpy_cross", "-o", str(out), str(FIRMWARE / module)],
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, f"{module}: {proc.stderr}"
        assert out.stat().st_size > 0


def test_the_version_is_written_once_and_reported() -> None:
    from importlib.metadata import version

    from posdiag import VERSION

    assert version("posdiag") == VERSION  # pyproject reads it from posdiag/__init__.py
    out = subprocess.run([sys.executable, "-m", "host_tools", "--version"], capture_output=True, text=True)
    assert out.stdout.strip() == f"posdiag {VERSION}"
    root = FIRMWARE.parent
    for path in ("pyproject.toml", "firmware/manifest.py"):
        assert f'"{VERSION}"' not in (root / path).read_text(), f"{path} repeats the version"
