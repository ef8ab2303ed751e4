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

from host_tools.cli_parser import check_port_url, output_file, output_folder, parser
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


def _client(args: argparse.Namespace):  # noqa: ANN202
    from host_tools.serial_link import Client, open_port

    check_port_url(args.port)
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
        check_port_url(args.printer)
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

    output_file(args.output, "-o")
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

    output_folder(args.out, "--out")
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
        output_file(args.html, "--html")
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
        server.run(
            db,
            args.listen,
            ready=lambda url: print(f"posdiag hub at {url}", flush=True),
            webhook=args.webhook,
            settings=dict(args.set),
        )
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
    check_port_url(args.port)
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
    args = parser().parse_args(argv)
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
