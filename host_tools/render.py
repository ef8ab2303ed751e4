"""Plain-text rendering of a diagnosis for the technician's terminal."""

from __future__ import annotations

from host_tools.identity import identity_line

_LABELS = {
    "en": {
        "record": "record",
        "healthy": "No fault found: the printer, paper and host link are healthy.",
        "top": "Most likely cause",
        "screen": "Merchant screen",
        "steps": "Technician steps",
        "others": "Also seen",
        "checks": "Checks",
        "e_receipt": "Offer the customer an e-receipt.",
        "evidence": "Evidence",
        "history": "Over the whole log",
        "by_cause": "Records by top cause",
        "healthy_word": "healthy",
        "not_run": "not run",
        "recover": "The printer can recover when told to: clear the paper path, then run "
        "`posdiag printer {port} --recover clear` (sends DLE ENQ 2; nothing is sent unasked).",
    },
    "zh": {
        "record": "记录",
        "healthy": "未发现故障：打印机、纸张和主机连接均正常。",
        "top": "最可能原因",
        "screen": "商户屏幕提示",
        "steps": "维修步骤",
        "others": "同时发现",
        "checks": "检查项",
        "e_receipt": "可为顾客提供电子小票。",
        "evidence": "依据",
        "history": "整个日志",
        "by_cause": "按首要原因统计记录",
        "healthy_word": "正常",
        "not_run": "未运行",
        "recover": "打印机可按指令恢复：先清理纸路，再运行 `posdiag printer {port} --recover clear`"
        "（发送 DLE ENQ 2；不经要求绝不发送）。",
    },
}


def _measurements(check: dict) -> list[str]:
    """The readings of one check, in the units a technician measures."""
    parts = []
    if check.get("raw"):
        raw = check["raw"]
        parts.append("status " + " ".join(raw[i : i + 2] for i in range(0, len(raw), 2)))
    if check.get("reply_ms") is not None:
        parts.append(f"{check['reply_ms']} ms")
    if check.get("baud_found"):
        parts.append(f"answers cleanly at {check['baud_found']} baud")
    if check.get("rtt_ms") is not None:
        parts.append(f"connect {check['rtt_ms']} ms")
    if check.get("echo_ms") is not None:
        parts.append(f"echo {check['echo_ms']} ms")
    if check.get("temp_dc") is not None:
        parts.append(f"{check['temp_dc'] / 10:.1f} °C")
    if check.get("mean_mv") is not None:
        parts.append(f"{check['mean_mv'] / 1000:.2f} V")
    if check.get("spread_mv") is not None:
        parts.append(f"spread {check['spread_mv'] / 1000:.2f} V")
    return parts


def _check_line(name: str, check: dict | None, labels: dict) -> str:
    if check is None:
        return f"  {name:8} {labels['not_run']}"
    return f"  {name:8} " + "; ".join([", ".join(check["flags"]) or "ok", *_measurements(check)])


def _causes_lines(causes: list, labels: dict) -> list[str]:
    """The top cause with its hint, evidence and steps; the others named."""
    lines: list[str] = []
    if not causes:
        lines.append(labels["healthy"])
    else:
        top = causes[0]
        lines.append(f"{labels['top']}: {top['id']} [{top['category']}, {top['severity']}]")
        lines.append(f"{labels['screen']}:")
        for code in ("zh", "en"):
            lines.append(f"  {code}: " + " / ".join(top["hint"][code].split("\n")))
        if top.get("evidence"):
            lines.append(
                f"{labels['evidence']}: " + "; ".join(f"{e['reading']} = {e['value']}" for e in top["evidence"])
            )
        lines.append(f"{labels['steps']}:")
        lines.extend(f"  {i}. {step}" for i, step in enumerate(top["steps"], 1))
        if top["e_receipt"]:
            lines.append(labels["e_receipt"])
        if len(causes) > 1:
            lines.append(f"{labels['others']}: " + ", ".join(c["id"] for c in causes[1:]))
    return lines


def causes_text(causes: list, lang: str) -> str:
    """The ranked causes alone (posdiag troubleshoot has no record)."""
    return "\n".join(_causes_lines(causes, _LABELS.get(lang, _LABELS["en"])))


def diagnosis_text(diag: dict, terminal: dict | None, lang: str) -> str:
    labels = _LABELS.get(lang, _LABELS["en"])
    lines = []
    if terminal:
        who = f"{terminal.get('terminal')} · posdiag {terminal.get('firmware')}"
        if terminal.get("printer"):
            who += f" · printer {identity_line(terminal['printer'])}"
        lines.append(who)
    when = diag["time"] or f"uptime {diag['uptime_s']} s"
    what = f"{diag['trigger']} self-test, boot {diag['boot']}, {when}, {diag['bytes']} B"
    lines.append(f"{labels['record']} #{diag['seq']}: {what}")
    lines += _causes_lines(diag["causes"], labels)
    lines.append(f"{labels['checks']}:")
    for name, check in diag["checks"].items():
        lines.append(_check_line(name, check, labels))
    return "\n".join(lines)


def history_text(findings: list, counts: dict[str, int], lang: str) -> str:
    labels = _LABELS.get(lang, _LABELS["en"])
    lines = [f"{labels['history']}:"]
    lines.extend(f"  - [{f.id}] {f.text.get(lang, f.text['en'])}" for f in findings)
    if not findings:
        lines.append("  -")
    lines.append(
        f"{labels['by_cause']}: "
        + ", ".join(f"{labels['healthy_word'] if k == 'healthy' else k} {v}" for k, v in counts.items())
    )
    return "\n".join(lines)


def printer_text(result: dict, lang: str) -> str:
    """`posdiag printer`: the printer, its identity and counters, the ranked
    causes, its status check, and the recovery request when it can help."""
    labels = _LABELS.get(lang, _LABELS["en"])
    baud = f" at {result['baud']} baud" if result["baud"] else ""
    lines = [f"printer on {result['port']}{baud}: {identity_line(result['printer'])}"]
    counters = result["printer_counters"]
    if counters:
        names = ("line feeds", "head energizing", "cuts")
        lines.append(
            "counters: " + ", ".join(f"{n} {v if v is not None else '-'}" for n, v in zip(names, counters, strict=True))
        )
    diag = result["diagnosis"]
    lines += _causes_lines(diag["causes"], labels)
    lines.append(_check_line("printer", diag["checks"]["printer"], labels))
    if result["recovery_offered"]:
        lines.append(labels["recover"].format(port=result["port"]))
    return "\n".join(lines)


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

    labels = _LABELS.get(lang, _LABELS["en"])
    console = Console()
    head = diagnosis_text(diag, terminal, lang).splitlines()
    console.print(Text("\n".join(head[:2] if terminal else head[:1]), style="bold"))
    causes = diag["causes"]
    if not causes:
        console.print(Text(labels["healthy"], style="green"))
    else:
        top = causes[0]
        body = [Text(f"{top['hint']['zh'].replace(chr(10), ' / ')}   {top['hint']['en'].replace(chr(10), ' / ')}")]
        if top.get("evidence"):
            body.append(
                Text(
                    f"{labels['evidence']}: " + "; ".join(f"{e['reading']} = {e['value']}" for e in top["evidence"]),
                    style="dim",
                )
            )
        body += [Text(f"{i}. {step}") for i, step in enumerate(top["steps"], 1)]
        if top["e_receipt"]:
            body.append(Text(labels["e_receipt"], style="cyan"))
        colour = "red" if top["severity"] == "fault" else "yellow"
        title = Text(f"{labels['top']}: {top['id']} [{top['category']}, {top['severity']}]", style=f"bold {colour}")
        console.print(Panel(Group(*body), title=title, border_style=colour))
        if len(causes) > 1:
            console.print(Text(f"{labels['others']}: " + ", ".join(c["id"] for c in causes[1:])))
    table = Table(title=labels["checks"], show_header=False, box=None)
    style = {"ok": "green", "warning": "yellow", "fault": "red"}
    for name, check in diag["checks"].items():
        line = _check_line(name, check, labels).strip()
        table.add_row(Text(line, style=style.get((check or {}).get("status", ""), "dim")))
    console.print(table)
