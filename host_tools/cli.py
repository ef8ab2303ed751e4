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

from host_tools.errors import EXIT_INTERRUPTED, AuthError, BadDataError, PortError, PosdiagError, UsageError


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


def _parser() -> argparse.ArgumentParser:
    from posdiag import VERSION

    ap = argparse.ArgumentParser(prog="posdiag", description="Why won't this POS terminal print a receipt?")
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
    sim.add_argument("--key", metavar="HEX", help="the simulated terminal's technician key (default: the demo key)")
    sim.add_argument(
        "--tcp",
        type=int,
        metavar="PORT",
        help="offer the diagnostics port as a TCP server on 127.0.0.1:PORT (0: any free port); "
        "the first line is then its socket:// URL",
    )
    sim.add_argument(
        "--history",
        type=int,
        default=0,
        metavar="N",
        help="start with N earlier self-tests of varied scenarios in the log",
    )
    sim.add_argument(
        "--runtime",
        choices=("cpython", "micropython"),
        default="cpython",
        help="run the firmware here (cpython) or on the MicroPython WebAssembly port under Node",
    )

    pull = sub.add_parser("pull", help="pull the diagnostics log into a file")
    _add_port(pull)
    pull.add_argument("-o", "--output", required=True, metavar="FILE", help="CBOR sequence file to write")
    pull.add_argument("--since", type=int, default=0, metavar="N", help="first sequence number to pull")

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
    srv.add_argument("--port", type=int, default=8080)
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

    return ap


def _client(args: argparse.Namespace):  # noqa: ANN202
    from host_tools.serial_link import Client, open_port

    return Client(open_port(args.port, baudrate=args.baud), timeout=args.timeout)


def _print_diagnoses(log, raws: Sequence[bytes], as_json: bool, lang: str, policy: str | None = None) -> None:  # noqa: ANN001
    from host_tools.diagnosis import diagnose
    from host_tools.render import print_diagnosis

    for raw in raws:
        diag = diagnose(raw, lang, policy)
        if as_json:
            diag["terminal"] = log.terminal.get("terminal")
            print(json.dumps(diag, ensure_ascii=False))
        else:
            print_diagnosis(diag, log.terminal, lang)
            print()


def cmd_sim(args: argparse.Namespace) -> int:
    from host_tools.sim.runner import make_terminal

    host = None
    if args.host:
        name, _, port = args.host.rpartition(":")
        if not name or not port.isdigit():
            raise UsageError(f"--host wants HOST:PORT, not {args.host!r}")
        host = (name, int(port))
    failed_prints = []
    for path in args.failed_print:
        try:
            with open(path, encoding="utf-8") as f:
                failed_prints.append((path, json.load(f)))  # named in the line if it is refused
        except (OSError, ValueError) as e:
            raise BadDataError(f"cannot read the receipt {path}: {e}") from None
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
            **({"key": args.key} if args.key else {}),
            out=lambda line: print(line, flush=True),
        )
    except ValueError as e:  # an unknown fault, a refused receipt, a missing runtime
        raise PosdiagError(str(e)) from None
    try:
        print(sim.serve_tcp(args.tcp) if args.tcp is not None else sim.diag_path, flush=True)
        sim.boot()
        sim.serve(stop)
    except KeyboardInterrupt:
        pass
    except (RuntimeError, ValueError) as e:  # the MicroPython runtime ended, a refused receipt
        raise PosdiagError(str(e)) from None
    finally:
        sim.close()
    return 0


def cmd_pull(args: argparse.Namespace) -> int:
    from host_tools.progress import Progress
    from host_tools.pull import pull_to_file

    with Progress("pulling records") as progress:
        log, added = pull_to_file(_client(args), args.output, since=args.since, progress=progress.update)
    seqs = log.seqs()
    span = f"seq {seqs[0]}..{seqs[-1]}" if seqs else "no records"
    print(f"pulled {added} new records from {log.terminal.get('terminal')}; {args.output} holds {len(seqs)} ({span})")
    return 0


def cmd_decode(args: argparse.Namespace) -> int:
    from host_tools.records import PulledLog

    log = PulledLog.load(args.file)
    _print_diagnoses(log, log.records, args.json, args.lang, args.policy)
    if log.damage:
        raise BadDataError(log.damage)
    return 0


def cmd_diagnose(args: argparse.Namespace) -> int:
    from host_tools.pull import pull_log

    log = pull_log(_client(args), newest_only=True)
    if not log.records:
        raise BadDataError("the terminal's log is empty: nothing to diagnose")
    _print_diagnoses(log, log.records[-1:], args.json, args.lang, args.policy)
    return 0


def cmd_clear(args: argparse.Namespace) -> int:
    _client(args).clear_log(_key(args))
    print("diagnostics log cleared; sequence numbers go on from where they were")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    client = _client(args)
    if args.set:
        changes = {}
        for item in args.set:
            name, sep, value = item.partition("=")
            if not sep:
                raise UsageError(f"--set wants NAME=VALUE, not {item!r}")
            try:
                changes[name] = json.loads(value)
            except ValueError:
                changes[name] = value  # a bare word: a string
        client.config_set(changes, _key(args))
    for name, value in client.config_get().items():
        print(f"{name:22} {json.dumps(value)}")
    return 0


def cmd_receipts(args: argparse.Namespace) -> int:
    from host_tools import ereceipt
    from host_tools.pull import terminal_item
    from host_tools.receipts import collect

    client = _client(args)
    terminal = terminal_item(client).get("terminal") or "terminal"
    saved = collect(client, _key(args), args.out, terminal, on_saved=ereceipt.save)
    print(f"{len(saved)} pending receipts saved in {args.out} and acknowledged")
    for path in saved:
        url = json.loads(path.read_text()).get("url")
        print(f"  {path.with_suffix('')}.json/.txt/.cbor" + (f"  e-receipt: {url}" if url else ""))
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
            reply = input(t.question(key, args.lang) + " [y/n] ").strip().lower()
            return reply in ("y", "yes", "是", "1")

    try:
        result = t.result(answers, ask, args.lang)
    except t.MissingAnswer as e:
        print(f"posdiag: troubleshoot needs --answer {e.key}=yes|no ({t.question(e.key, 'en')})", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    print(result["why"])
    if result["causes"]:
        print(causes_text(result["causes"], args.lang))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from host_tools.records import PulledLog
    from host_tools.render import diagnosis_text, history_text
    from host_tools.report import report_json, report_of, write_html

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
    if log.damage:
        raise BadDataError(log.damage)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from host_tools.serve import serve

    server = serve(args.dir, args.host, args.port)
    print(f"serving e-receipts from {args.dir} at http://{args.host}:{server.server_address[1]}/r/<token>", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
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
    _print_diagnoses(log, log.records, args.json, args.lang, args.policy)
    return 0


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
}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except PosdiagError as e:
        print(e.line(), file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("posdiag: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
