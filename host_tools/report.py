"""`posdiag report FILE --html OUT`: one self-contained HTML page a technician
attaches to a ticket: who the terminal is, the ranked diagnosis of its newest
record with evidence and steps, findings over the whole log, wear counters
and forecasts, and a timeline of every record. No script, nothing loaded
from elsewhere."""

from __future__ import annotations

import datetime as dt
import html
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from host_tools import catalog_names as names
from host_tools import texts
from host_tools.diagnosis import diagnose, record_causes, trigger_name
from host_tools.findings import Finding, analyse
from host_tools.identity import identity_line, readable
from host_tools.records import PulledLog, decode_record
from posdiag import record as r

_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#111;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%;font-size:.9rem}th,td{text-align:left;padding:.2rem .5rem;
border-bottom:1px solid #eee}td.n{text-align:right}.fault{color:#a00}.warning{color:#a60}.ok{color:#070}
.hint{white-space:pre-line;font-family:monospace;border:1px solid #999;display:inline-block;padding:.3rem .6rem}
"""
# Nothing but the inline style may load or run, whatever a file puts in the page.
_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
_TIMELINE_MAX = 500  # newest records in the timeline; the counts cover all


def _time(rec: dict, lang: str) -> str:
    t = rec.get(r.K_TIME)
    if t:
        return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M")
    return texts.text("label", "uptime", lang, s=rec[r.K_UPTIME])


@dataclass
class LogReport:
    """What `posdiag report` says of a pulled log: the diagnosis of its
    newest record, the findings over all of it, and how many records had
    each top cause ("healthy" for none)."""

    log: PulledLog
    newest: dict
    findings: list[Finding]
    by_top_cause: Counter[str]


def report_of(log: PulledLog, lang: str, policy: str | None = None, roll_m: float = 50.0) -> LogReport:
    counts: Counter[str] = Counter()
    for raw in log.records:
        ranked = record_causes(decode_record(raw))
        counts[names.cause_id(ranked[0]) if ranked else "healthy"] += 1
    return LogReport(log, diagnose(log.records[-1], lang, policy), analyse(log.records, log.terminal, roll_m), counts)


def report_json(rep: LogReport, lang: str) -> dict:
    """The report as `posdiag report --json` prints it (docs/json-output.md)."""
    return {
        "terminal": {**rep.log.terminal, "printer": readable(rep.log.terminal.get("printer"))},
        "newest": rep.newest,
        "findings": [f.as_json(lang) for f in rep.findings],
        "records_by_top_cause": dict(rep.by_top_cause.most_common()),
    }


def write_html(path: str, rep: LogReport, lang: str) -> None:
    e = html.escape
    log, newest, findings, counts = rep.log, rep.newest, rep.findings, rep.by_top_cause

    def t(key: str, section: str = "report", **values: object) -> str:
        return e(texts.text(section, key, lang, **values))

    def w(section: str, key: object) -> str:
        return e(texts.word(section, key, lang))

    term = log.terminal
    title = t("title", terminal=term.get("terminal"))
    parts = [
        f"<!doctype html><html lang={'zh-CN' if lang == 'zh' else 'en'}><head><meta charset=utf-8>",
        f'<meta http-equiv=Content-Security-Policy content="{_CSP}">',
        f"<title>{title}</title><style>{_CSS}</style></head><body>",
        f"<h1>{title}</h1>",
        "<table>",
    ]
    facts = [
        ("firmware", term.get("firmware")),
        ("printer", identity_line(term.get("printer"))),
        (
            "pulled",
            dt.datetime.fromtimestamp(term["pulled"], dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
            if term.get("pulled")
            else "",
        ),
        ("records", f"{len(log.records)}"),
        ("boots", term.get("boot")),
        ("lost", f"{term.get('drops')} / {term.get('torn')}"),
        ("receipts", term.get("receipts")),
        ("counters", " / ".join(str(v) for v in term.get("counters") or [])),
        ("printer_counters", " / ".join(str(v) for v in term.get("printer_counters") or [])),
    ]
    parts += [f"<tr><th>{t(k)}</th><td>{e(str(v))}</td></tr>" for k, v in facts]
    parts.append(f"</table><h2>{t('newest')}</h2>")
    trigger = texts.word("trigger", newest["trigger"], lang)
    parts.append(f"<p>#{newest['seq']} · {e(trigger)} · {e(str(newest['time']))}</p>")
    if not newest["causes"]:
        parts.append(f"<p class=ok>{t('healthy')}</p>")
    for i, cause in enumerate(newest["causes"]):
        category = w("category", cause["category"])
        parts.append(f"<h3 class={e(cause['severity'])}>{i + 1}. {e(cause['id'])} ({category})</h3>")
        parts.append(f"<div class=hint>{e(cause['hint']['zh'])}</div> <div class=hint>{e(cause['hint']['en'])}</div>")
        if cause.get("evidence"):
            readings = "; ".join(
                f"{e(texts.reading(ev['reading'], lang))} = {e(str(ev['value']))}" for ev in cause["evidence"]
            )
            parts.append(f"<p>{t('evidence', 'label')}: {readings}</p>")
        parts.append("<ol>" + "".join(f"<li>{e(step)}</li>" for step in cause["steps"]) + "</ol>")
    parts.append(
        f"<h2>{t('checks', 'label')}</h2><table><tr><th>{t('check')}</th><th>{t('status')}</th>"
        f"<th>{t('readings')}</th></tr>"
    )
    for name, check in newest["checks"].items():
        if check is None:
            parts.append(f"<tr><td>{w('check', name)}</td><td>{t('not_run', 'label')}</td><td></td></tr>")
            continue
        readings = ", ".join(
            f"{texts.word('field', k, lang)}={v}" for k, v in check.items() if k != "status" and v not in (None, [])
        )
        parts.append(
            f"<tr><td>{w('check', name)}</td><td class={e(check['status'])}>{w('status', check['status'])}</td>"
            f"<td>{e(readings)}</td></tr>"
        )
    parts.append(f"</table><h2>{t('findings')}</h2><ul>")
    parts += [f"<li><b>{e(f.id)}</b>: {e(f.text.get(lang, f.text['en']))}</li>" for f in findings] or [
        f"<li>{t('none')}</li>"
    ]
    parts.append(f"</ul><h2>{t('by_cause', 'label')}</h2><table>")
    healthy = texts.text("label", "healthy_word", lang)
    parts += [
        f"<tr><td>{e(healthy if k == 'healthy' else k)}</td><td class=n>{v}</td></tr>" for k, v in counts.most_common()
    ]
    parts.append(f"</table><h2>{t('timeline', count=_TIMELINE_MAX)}</h2>")
    parts.append(
        "<table><tr>" + "".join(f"<th>{t(k)}</th>" for k in ("seq", "time", "trigger", "boot", "causes")) + "</tr>"
    )
    for raw in reversed(log.records[-_TIMELINE_MAX:]):
        rec = decode_record(raw)
        causes = ", ".join(names.cause_id(code) for code in record_causes(rec)) or healthy
        trigger = texts.word("trigger", trigger_name(rec), lang)
        parts.append(
            f"<tr><td class=n>{rec[r.K_SEQ]}</td><td>{e(_time(rec, lang))}</td><td>{e(trigger)}</td>"
            f"<td class=n>{rec[r.K_BOOT]}</td><td>{e(causes)}</td></tr>"
        )
    parts.append("</table></body></html>\n")
    Path(path).write_text("".join(parts), encoding="utf-8")
