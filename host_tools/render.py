"""Plain-text rendering of a diagnosis for the technician's terminal."""

from __future__ import annotations

from host_tools import texts
from host_tools.identity import identity_line, safe_text
from host_tools.textwidth import width


def _pad(text: str, columns: int) -> str:
    """text padded with spaces to the display width (CJK: 2 columns a character)."""
    return text + " " * max(0, columns - width(text))


def _evidence(top: dict, lang: str) -> str:
    return f"{texts.text('label', 'evidence', lang)}: " + "; ".join(
        f"{texts.reading(e['reading'], lang)} = {e['value']}" for e in top["evidence"]
    )


def _top(top: dict, lang: str) -> str:
    category, severity = texts.word("category", top["category"], lang), texts.word("status", top["severity"], lang)
    return f"{texts.text('label', 'top', lang)}: {top['id']} [{category}, {severity}]"


def _measurements(check: dict, lang: str) -> list[str]:
    """The readings of one check, in the units a technician measures."""

    def m(key: str, **values: object) -> str:
        return texts.text("measure", key, lang, **values)

    parts = []
    if check.get("raw"):
        raw = check["raw"]
        parts.append(m("status", hex=" ".join(raw[i : i + 2] for i in range(0, len(raw), 2))))
    if check.get("reply_ms") is not None:
        parts.append(m("reply", ms=check["reply_ms"]))
    if check.get("baud_found"):
        parts.append(m("baud_found", baud=check["baud_found"]))
    if check.get("rtt_ms") is not None:
        parts.append(m("connect", ms=check["rtt_ms"]))
    if check.get("echo_ms") is not None:
        parts.append(m("echo", ms=check["echo_ms"]))
    if check.get("temp_dc") is not None:
        parts.append(m("temp", c=check["temp_dc"] / 10))
    if check.get("mean_mv") is not None:
        parts.append(m("volts", v=check["mean_mv"] / 1000))
    if check.get("spread_mv") is not None:
        parts.append(m("spread", v=check["spread_mv"] / 1000))
    return parts


def _check_line(name: str, check: dict | None, lang: str) -> str:
    shown = _pad(texts.word("check", name, lang), 8)
    if check is None:
        return f"  {shown} {texts.text('label', 'not_run', lang)}"
    if check.get("status") == "unknown":  # a form this host cannot read
        return f"  {shown} {texts.word('status', 'unknown', lang)}"
    flags = ", ".join(check["flags"]) or texts.word("status", "ok", lang)
    return f"  {shown} " + "; ".join([flags, *_measurements(check, lang)])


def _causes_lines(causes: list, lang: str, healthy: str = "healthy") -> list[str]:
    """The top cause with its hint, evidence and steps; the others named.
    healthy: the label to show when there is no cause."""

    def label(key: str) -> str:
        return texts.text("label", key, lang)

    lines: list[str] = []
    if not causes:
        lines.append(label(healthy))
    else:
        top = causes[0]
        lines.append(_top(top, lang))
        lines.append(f"{label('screen')}:")
        for code in ("zh", "en"):
            lines.append(f"  {code}: " + " / ".join(top["hint"][code].split("\n")))
        if top.get("evidence"):
            lines.append(_evidence(top, lang))
        lines.append(f"{label('steps')}:")
        lines.extend(f"  {i}. {step}" for i, step in enumerate(top["steps"], 1))
        if top["e_receipt"]:
            lines.append(label("e_receipt"))
        if len(causes) > 1:
            lines.append(f"{label('others')}: " + ", ".join(c["id"] for c in causes[1:]))
    return lines


def causes_text(causes: list, lang: str) -> str:
    """The ranked causes alone (posdiag troubleshoot has no record)."""
    return "\n".join(_causes_lines(causes, lang))


def diagnosis_text(diag: dict, terminal: dict | None, lang: str) -> str:
    lines = []
    if terminal:
        who = f"{safe_text(terminal.get('terminal'))} · posdiag {safe_text(terminal.get('firmware'))}"
        if terminal.get("printer"):
            who += " · " + texts.text("label", "terminal_printer", lang, printer=identity_line(terminal["printer"]))
        lines.append(who)
    when = diag["time"] or texts.text("label", "uptime", lang, s=diag["uptime_s"])
    trigger = texts.word("trigger", diag["trigger"], lang)
    lines.append(
        texts.text(
            "label", "record", lang, seq=diag["seq"], trigger=trigger, boot=diag["boot"], when=when, bytes=diag["bytes"]
        )
    )
    lines += _causes_lines(diag["causes"], lang)
    lines.append(f"{texts.text('label', 'checks', lang)}:")
    for name, check in diag["checks"].items():
        lines.append(_check_line(name, check, lang))
    if diag.get("unreadable"):
        lines.append(f"{texts.word('status', 'unknown', lang)}: {', '.join(diag['unreadable'])}")
    return _joined(lines)


def _joined(lines: list[str]) -> str:
    """Lines for the screen: nothing in them can move the cursor, recolour
    or reorder the technician's terminal (identity.safe_text)."""
    return "\n".join(safe_text(line) for line in lines)


def history_text(findings: list, counts: dict[str, int], lang: str) -> str:
    lines = [f"{texts.text('label', 'history', lang)}:"]
    lines.extend(f"  - [{f.id}] {f.text.get(lang, f.text['en'])}" for f in findings)
    if not findings:
        lines.append("  -")
    healthy = texts.text("label", "healthy_word", lang)
    lines.append(
        f"{texts.text('label', 'by_cause', lang)}: "
        + ", ".join(f"{healthy if k == 'healthy' else k} {v}" for k, v in counts.items())
    )
    return _joined(lines)


def printer_text(result: dict, lang: str) -> str:
    """`posdiag printer`: the printer, its identity and counters, the ranked
    causes, its status check, and the recovery request when it can help."""
    identity = identity_line(result["printer"])
    if result["baud"]:
        lines = [
            texts.text("label", "printer_on_baud", lang, port=result["port"], baud=result["baud"], identity=identity)
        ]
    else:
        lines = [texts.text("label", "printer_on", lang, port=result["port"], identity=identity)]
    counters = result["printer_counters"]
    if counters:
        feeds, head, cuts = (v if v is not None else "-" for v in counters)
        lines.append(texts.text("label", "printer_counters", lang, feeds=feeds, head=head, cuts=cuts))
    diag = result["diagnosis"]
    lines += _causes_lines(diag["causes"], lang, "printer_healthy")  # paper and host are not checked
    lines.append(_check_line("printer", diag["checks"]["printer"], lang))
    if result["recovery_offered"]:
        lines.append(texts.text("label", "recover", lang, port=result["port"]))
    return _joined(lines)


def info_text(item: dict, lang: str) -> str:
    """`posdiag info`: what the terminal says of itself, one row a line."""

    def label(key: str, **values: object) -> str:
        return texts.text("info", key, lang, **values)

    if item.get("newest"):
        records = label("records_span", oldest=item.get("oldest"), newest=item.get("newest"))
    else:
        records = label("records_none")
    rows = [
        (label("terminal"), item.get("terminal")),
        (label("firmware"), item.get("firmware")),
        (label("printer"), identity_line(item.get("printer"))),
        (label("boots"), item.get("boot")),
        (label("records"), records),
        (label("drops"), item.get("drops")),
        (label("torn"), item.get("torn")),
        (label("receipts"), item.get("receipts")),
        (label("counters"), " / ".join(str(v) for v in item.get("counters") or [])),
    ]
    if item.get("printer_counters"):
        rows.append((label("printer_counters"), " / ".join(str(v) for v in item["printer_counters"])))
    if item.get("selftests_refused") is not None:  # terminals that rate-limit SELFTEST
        rows.append((label("selftests_refused"), item["selftests_refused"]))
    return "\n".join(f"{_pad(name, 28)} {safe_text(value)}" for name, value in rows)


def print_diagnosis(diag: dict, terminal: dict | None, lang: str) -> None:
    """The diagnosis for a person at a terminal: colour, a panel for the top
    cause with its evidence and steps, the other candidates and the checks
    below (rich). Piped or redirected, the same content as plain text."""
    import sys

    if not sys.stdout.isatty():
        print(diagnosis_text(diag, terminal, lang))
        return
    from rich.console import Console, Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    console = Console()
    head = diagnosis_text(diag, terminal, lang).splitlines()
    console.print(Text("\n".join(head[:2] if terminal else head[:1]), style="bold"))
    causes = diag["causes"]
    if not causes:
        console.print(Text(texts.text("label", "healthy", lang), style="green"))
    else:
        top = causes[0]
        body = [Text(f"{top['hint']['zh'].replace(chr(10), ' / ')}   {top['hint']['en'].replace(chr(10), ' / ')}")]
        if top.get("evidence"):
            body.append(Text(_evidence(top, lang), style="dim"))
        body += [Text(f"{i}. {step}") for i, step in enumerate(top["steps"], 1)]
        if top["e_receipt"]:
            body.append(Text(texts.text("label", "e_receipt", lang), style="cyan"))
        colour = "red" if top["severity"] == "fault" else "yellow"
        title = Text(_top(top, lang), style=f"bold {colour}")
        console.print(Panel(Group(*body), title=title, border_style=colour))
        if len(causes) > 1:
            console.print(Text(f"{texts.text('label', 'others', lang)}: " + ", ".join(c["id"] for c in causes[1:])))
    table = Table(title=texts.text("label", "checks", lang), show_header=False, box=None)
    style = {"ok": "green", "warning": "yellow", "fault": "red"}
    for name, check in diag["checks"].items():
        line = _check_line(name, check, lang).strip()
        table.add_row(Text(line, style=style.get((check or {}).get("status", ""), "dim")))
    console.print(table)
