"""Plain-text rendering of a diagnosis for the technician's terminal."""

from __future__ import annotations

_LABELS = {
    "en": {
        "record": "Record",
        "healthy": "No fault found: the printer, paper and host link are healthy.",
        "top": "Most likely cause",
        "screen": "Merchant screen",
        "steps": "Technician steps",
        "others": "Also seen",
        "checks": "Checks",
        "e_receipt": "Offer the customer an e-receipt.",
        "not_run": "not run",
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
        "not_run": "未运行",
    },
}


def _check_line(name: str, check: dict | None, labels: dict) -> str:
    if check is None:
        return f"  {name:8} {labels['not_run']}"
    parts = [", ".join(check["flags"]) or "ok"]
    if check.get("raw"):
        parts.append(
            "status " + " ".join(check["raw"][i : i + 2] for i in range(0, len(check["raw"]), 2))
        )
    if check.get("reply_ms") is not None:
        parts.append(f"{check['reply_ms']} ms")
    if check.get("rtt_ms") is not None:
        parts.append(f"rtt {check['rtt_ms']} ms")
    return f"  {name:8} " + "; ".join(parts)


def diagnosis_text(diag: dict, terminal: dict | None, lang: str) -> str:
    labels = _LABELS.get(lang, _LABELS["en"])
    lines = []
    who = f"{terminal.get('terminal')} · firmware {terminal.get('firmware')} · " if terminal else ""
    when = diag["time"] or f"uptime {diag['uptime_s']} s"
    lines.append(
        f"{who}{labels['record']} #{diag['seq']} ({diag['trigger']}, boot {diag['boot']}, {when}, {diag['bytes']} B)"
    )
    causes = diag["causes"]
    if not causes:
        lines.append(labels["healthy"])
    else:
        top = causes[0]
        lines.append(f"{labels['top']}: {top['id']} [{top['category']}, {top['severity']}]")
        lines.append(f"{labels['screen']}:")
        for code in ("zh", "en"):
            lines.append(f"  {code}: " + " / ".join(top["hint"][code].split("\n")))
        lines.append(f"{labels['steps']}:")
        lines.extend(f"  {i}. {step}" for i, step in enumerate(top["steps"], 1))
        if top["e_receipt"]:
            lines.append(labels["e_receipt"])
        if len(causes) > 1:
            lines.append(f"{labels['others']}: " + ", ".join(c["id"] for c in causes[1:]))
    lines.append(f"{labels['checks']}:")
    for name, check in diag["checks"].items():
        lines.append(_check_line(name, check, labels))
    return "\n".join(lines)
