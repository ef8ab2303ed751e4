"""`posdiag report FILE --html OUT`: one self-contained HTML page a technician
attaches to a ticket: who the terminal is, the ranked diagnosis of its newest
record with evidence and steps, findings over the whole log, wear counters
and forecasts, and a timeline of every record. No script, nothing loaded
from elsewhere."""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path

from host_tools.diagnosis import record_causes
from host_tools.identity import identity_line
from host_tools.records import PulledLog, decode_record
from posdiag import catalog as c
from posdiag import record as r

_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#111;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%;font-size:.9rem}th,td{text-align:left;padding:.2rem .5rem;
border-bottom:1px solid #eee}td.n{text-align:right}.fault{color:#a00}.warning{color:#a60}.ok{color:#070}
.hint{white-space:pre-line;font-family:monospace;border:1px solid #999;display:inline-block;padding:.3rem .6rem}
"""
_TIMELINE_MAX = 500  # newest records in the timeline; the counts cover all


def _time(rec: dict) -> str:
    t = rec.get(r.K_TIME)
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M") if t else f"uptime {rec[r.K_UPTIME]} s"


def write_html(path: str, log: PulledLog, newest: dict, findings: list, counts, lang: str) -> None:  # noqa: ANN001
    e = html.escape
    term = log.terminal
    parts = [
        f"<!doctype html><html lang={'zh-CN' if lang == 'zh' else 'en'}><head><meta charset=utf-8>",
        f"<title>posdiag report · {e(str(term.get('terminal')))}</title><style>{_CSS}</style></head><body>",
        f"<h1>posdiag report · {e(str(term.get('terminal')))}</h1>",
        "<table>",
    ]
    facts = [
        ("posdiag firmware", term.get("firmware")),
        ("printer", identity_line(term.get("printer"))),
        (
            "pulled",
            dt.datetime.fromtimestamp(term["pulled"], dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
            if term.get("pulled")
            else "",
        ),
        ("records in this file", f"{len(log.records)}"),
        ("boots", term.get("boot")),
        ("dropped (log full) / lost to power cuts", f"{term.get('drops')} / {term.get('torn')}"),
        ("pending receipts", term.get("receipts")),
        ("paper fed / cuts / head energizing (terminal)", " / ".join(str(v) for v in term.get("counters") or [])),
        ("line feeds / head / cuts (printer)", " / ".join(str(v) for v in term.get("printer_counters") or [])),
    ]
    parts += [f"<tr><th>{e(k)}</th><td>{e(str(v))}</td></tr>" for k, v in facts]
    parts.append("</table><h2>Newest record</h2>")
    parts.append(f"<p>#{newest['seq']} · {e(str(newest['trigger']))} · {e(str(newest['time']))}</p>")
    if not newest["causes"]:
        parts.append("<p class=ok>No fault found.</p>")
    for i, cause in enumerate(newest["causes"]):
        parts.append(f"<h3 class={e(cause['severity'])}>{i + 1}. {e(cause['id'])} ({e(cause['category'])})</h3>")
        parts.append(f"<div class=hint>{e(cause['hint']['zh'])}</div> <div class=hint>{e(cause['hint']['en'])}</div>")
        if cause.get("evidence"):
            parts.append(
                "<p>Evidence: "
                + "; ".join(f"{e(ev['reading'])} = {e(str(ev['value']))}" for ev in cause["evidence"])
                + "</p>"
            )
        parts.append("<ol>" + "".join(f"<li>{e(step)}</li>" for step in cause["steps"]) + "</ol>")
    parts.append("<h2>Checks</h2><table><tr><th>check</th><th>status</th><th>readings</th></tr>")
    for name, check in newest["checks"].items():
        if check is None:
            parts.append(f"<tr><td>{e(name)}</td><td>not run</td><td></td></tr>")
            continue
        readings = ", ".join(f"{k}={v}" for k, v in check.items() if k != "status" and v not in (None, []))
        parts.append(
            f"<tr><td>{e(name)}</td><td class={e(check['status'])}>{e(check['status'])}</td><td>{e(readings)}</td></tr>"
        )
    parts.append("</table><h2>Findings over the whole log</h2><ul>")
    parts += [f"<li><b>{e(f.id)}</b>: {e(f.text.get(lang, f.text['en']))}</li>" for f in findings] or ["<li>none</li>"]
    parts.append("</ul><h2>Records by top cause</h2><table>")
    parts += [f"<tr><td>{e(k)}</td><td class=n>{v}</td></tr>" for k, v in counts.most_common()]
    parts.append(f"</table><h2>Timeline (newest {_TIMELINE_MAX})</h2>")
    parts.append("<table><tr><th>seq</th><th>time</th><th>trigger</th><th>boot</th><th>causes</th></tr>")
    for raw in reversed(log.records[-_TIMELINE_MAX:]):
        rec = decode_record(raw)
        causes = ", ".join(c.cause_id(code) for code in record_causes(rec)) or "healthy"
        trigger = r.TRIGGERS[rec.get(r.K_TRIGGER, 0)]
        parts.append(
            f"<tr><td class=n>{rec[r.K_SEQ]}</td><td>{e(_time(rec))}</td><td>{trigger}</td>"
            f"<td class=n>{rec[r.K_BOOT]}</td><td>{e(causes)}</td></tr>"
        )
    parts.append("</table></body></html>\n")
    Path(path).write_text("".join(parts), encoding="utf-8")
