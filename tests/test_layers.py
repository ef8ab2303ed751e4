"""The layering rules of docs/architecture.md, read from the source (ast):

(a) the host imports the shared firmware modules but never the terminal's
    link server (posdiag.link), except where it runs the terminal itself
    (host_tools/sim/, host_tools/mpruntime/);
(b) only host_tools/serial_link.py packs or unpacks link bytes: no other host
    module imports struct or posdiag.frame (OTHER_FORMATS lists the files
    allowed struct for another format: none today);
(c) the firmware imports nothing from host_tools, and `machine` only in
    board.py;
(d) the command line holds no diagnosis logic: cli.py (with its arguments
    in cli_parser.py) parses, calls,
    renders and maps errors to exit codes; of the firmware it reads only
    posdiag.VERSION, and it ranks, counts or decodes nothing itself.

Each rule is a function of a module's source, run over the tree and, to
show that it would catch a violation, over a small source that breaks it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HOST = ROOT / "host_tools"
FIRMWARE = ROOT / "firmware"

# Host folders that run the terminal's own code on this computer.
TERMINAL_SIDE = (HOST / "sim", HOST / "mpruntime")
# The one host module that frames and packs link bytes.
CLIENT = HOST / "serial_link.py"
# Host modules allowed `import struct` for a format other than the link's,
# each with the reason.
OTHER_FORMATS: dict[str, str] = {
    "host_tools/records.py": "its own CBOR decoder reads a pulled file's floats and integers, never link bytes",
}


def imported(source: str) -> set[str]:
    """Every module a source imports, anywhere in it (lazy imports in
    functions too); `from a import b` counts as both a and a.b."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _within(names: set[str], module: str) -> bool:
    return any(n == module or n.startswith(module + ".") for n in names)


def imports_link_server(source: str) -> bool:
    """Rule (a) broken: the source imports the terminal's LinkServer module."""
    return _within(imported(source), "posdiag.link")


def packs_link_bytes(source: str) -> bool:
    """Rule (b) broken: the source can pack link bytes (struct) or frame them
    (posdiag.frame: encode, Reader)."""
    names = imported(source)
    return _within(names, "struct") or _within(names, "posdiag.frame")


def firmware_reaches_out(path: Path, source: str) -> list[str]:
    """Rule (c) broken: host_tools imported, or machine outside board.py."""
    names = imported(source)
    wrong = sorted(n for n in names if _within({n}, "host_tools"))
    if path.name != "board.py" and _within(names, "machine"):
        wrong.append("machine")
    return wrong


def _host_modules() -> list[Path]:
    files = sorted(HOST.rglob("*.py"))
    return [f for f in files if "node_modules" not in f.parts and not any(f.is_relative_to(d) for d in TERMINAL_SIDE)]


def test_the_rules_see_the_tree() -> None:
    # The walk finds the modules, and the detectors fire on real code that
    # may do what they look for: a rule that sees nothing checks nothing.
    hosts = _host_modules()
    assert CLIENT in hosts and HOST / "cli.py" in hosts and HOST / "receipts.py" in hosts
    assert not any(f.is_relative_to(HOST / "sim") for f in hosts)
    assert packs_link_bytes(CLIENT.read_text())
    assert imports_link_server((HOST / "sim" / "runner.py").read_text())
    board = FIRMWARE / "posdiag" / "board.py"
    assert "machine" in imported(board.read_text()) and not firmware_reaches_out(board, board.read_text())


def test_a_the_host_does_not_import_the_link_server() -> None:
    offenders = [str(f.relative_to(ROOT)) for f in _host_modules() if imports_link_server(f.read_text())]
    assert offenders == []


@pytest.mark.parametrize(
    "source",
    [
        "from posdiag.link import REQUEST_MAX",
        "from posdiag import cbor, link",
        "import posdiag.link as l",
        "def f():\n    from posdiag.link import LinkServer\n",
    ],
)
def test_a_would_catch_an_import_of_the_link_server(source: str) -> None:
    assert imports_link_server(source)


def test_a_leaves_the_shared_modules_alone() -> None:
    assert not imports_link_server("from posdiag import protocol as p\nfrom posdiag import auth, linked\n")


def test_b_only_the_client_packs_link_bytes() -> None:
    offenders = [
        str(f.relative_to(ROOT))
        for f in _host_modules()
        if f != CLIENT and str(f.relative_to(ROOT)) not in OTHER_FORMATS and packs_link_bytes(f.read_text())
    ]
    assert offenders == []


@pytest.mark.parametrize(
    "source",
    [
        "import struct",
        "from struct import pack",
        "from posdiag import frame",
        "from posdiag import protocol as p, frame",
        "from posdiag.frame import Reader",
        "def f():\n    import struct\n    return struct.pack('<I', 1)\n",
    ],
)
def test_b_would_catch_packing_outside_the_client(source: str) -> None:
    assert packs_link_bytes(source)


def test_b_leaves_protocol_constants_alone() -> None:
    # Limits and codes are shared: pull.py sizes its batches with MAX_PAYLOAD.
    assert not packs_link_bytes("from posdiag import protocol as p\nsize = p.MAX_PAYLOAD\nimport structlog\n")


def test_c_the_firmware_reaches_no_host_code_and_machine_only_in_board() -> None:
    files = sorted(FIRMWARE.rglob("*.py"))
    assert FIRMWARE / "posdiag" / "terminal.py" in files
    offenders = {str(f.relative_to(ROOT)): w for f in files if (w := firmware_reaches_out(f, f.read_text()))}
    assert offenders == {}


@pytest.mark.parametrize(
    ("name", "source", "wrong"),
    [
        ("terminal.py", "import machine", ["machine"]),
        ("link.py", "from machine import UART", ["machine"]),
        ("board.py", "from host_tools import uart", ["host_tools", "host_tools.uart"]),
        ("config.py", "def f():\n    import host_tools.sim.parts\n", ["host_tools.sim.parts"]),
    ],
)
def test_c_would_catch_a_firmware_module_reaching_out(name: str, source: str, wrong: list[str]) -> None:
    assert firmware_reaches_out(FIRMWARE / "posdiag" / name, source) == wrong


def test_c_lets_board_import_machine() -> None:
    assert firmware_reaches_out(FIRMWARE / "posdiag" / "board.py", "import machine\nfrom machine import Pin") == []


# Rule (d): what the command line may take from the firmware, and the
# modules that would let it diagnose on its own.
CLI = (HOST / "cli.py", HOST / "cli_parser.py")  # the commands, and their arguments
CLI_MAY_IMPORT = {"posdiag", "posdiag.VERSION"}
DIAGNOSIS_TOOLS = ("collections.Counter", "cbor2", "struct", "host_tools.knowledge", "host_tools.findings")


def diagnoses_itself(source: str) -> list[str]:
    """Rule (d) broken: what the source imports that a thin command line
    does not need."""
    names = imported(source)
    wrong = sorted(n for n in names if _within({n}, "posdiag") and n not in CLI_MAY_IMPORT)
    wrong += sorted(n for n in names for tool in DIAGNOSIS_TOOLS if _within({n}, tool))
    return wrong


def test_d_the_command_line_holds_no_diagnosis_logic() -> None:
    for module in CLI:
        assert diagnoses_itself(module.read_text()) == [], module.name


@pytest.mark.parametrize(
    "source",
    [
        "from posdiag import catalog",
        "from posdiag.rank import causes",
        "def f():\n    from collections import Counter",
        "import cbor2",
        "from host_tools.findings import analyse",
    ],
)
def test_d_would_catch_diagnosis_in_the_command_line(source: str) -> None:
    assert diagnoses_itself(source)
