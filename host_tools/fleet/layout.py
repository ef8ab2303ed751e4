"""What every fleet page is made of (docs/fleet.md): the frame (head with
the static files, navigation, language switch, the page's data as a JSON
block that static/fleet.js reads: no inline script, the CSP forbids any),
tables that scroll sideways on a narrow screen, the pager under a list
shown a page at a time, charts with their numbers in a table, the traffic
light as a symbol and a word, and a page as an answer. Every value a
terminal or a technician sent is escaped here or by the caller
(webkit.esc)."""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from collections.abc import Callable, Sequence
from functools import cache
from importlib import resources

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from host_tools.fleet.webkit import PAGE_SIZE, REFERRER, answer_headers, esc, href, num, sub, t, terminal_path

SYMBOLS = {"fault": "✖", "warning": "▲", "silent": "◌", "healthy": "●"}  # the light without its colour
LANGUAGE_NAMES = {"en": "English", "zh": "中文"}  # each language by its own name, for the switch
HTML_LANG = {"en": "en", "zh": "zh-CN"}
NAV = ("now", "causes", "paper", "training", "service", "silent", "alerts")


def json_block(data: object) -> str:
    """JSON safe inside a <script> element: no `<` left to close it."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")


@cache
def static_file(name: str) -> tuple[bytes, str]:
    """A static file's bytes and the short hash its links carry."""
    data = resources.files("host_tools.fleet").joinpath("static", name).read_bytes()
    return data, hashlib.sha256(data).hexdigest()[:12]


def static_href(name: str) -> str:
    return f"/fleet/static/{name}?v={static_file(name)[1]}"


class Context:
    """One page request: its language, operator and query."""

    def __init__(self, request: Request, lang: str, operator: str) -> None:
        self.request, self.lang, self.operator = request, lang, operator
        self._lang_query = esc("?" + urllib.parse.urlencode({"lang": lang}))  # once per page, not per row

    def t(self, key: str, **values: object) -> str:
        return t(key, self.lang, **values)

    def href(self, path: str, **params: object) -> str:
        return href(path, self.lang, **params)

    def terminal_link(self, terminal: str) -> str:
        """A link to a terminal's page, its id as text (one per row of a list)."""
        return f'<a href="{esc(terminal_path(terminal))}{self._lang_query}">{esc(terminal)}</a>'


def frame(
    lang: str,
    title: str,
    body: str,
    active: str | None = None,
    operator: str | None = None,
    data: object = None,
    request: Request | None = None,
) -> str:
    """A whole page: head with the static files, the navigation, the body,
    and the page's data as a JSON block."""
    nav = ""
    if operator is not None:
        links = []
        for key in NAV:
            path = "/fleet/" if key == "now" else f"/fleet/{key}"
            current = ' aria-current="page"' if key == active else ""
            links.append(f'<li><a href="{href(path, lang)}"{current}>{esc(t("nav_" + key, lang))}</a></li>')
        nav = (
            f'<nav aria-label="{esc(t("nav", lang))}"><ul>{"".join(links)}</ul></nav>'
            f'<form class="logout" method="post" action="{href("/fleet/logout", lang)}">'
            f'<span class="who">{esc(t("signed_in", lang, name=operator))}</span> '
            f'<button type="submit">{esc(t("logout", lang))}</button></form>'
        )
    other = "zh" if lang == "en" else "en"
    switch = ""
    if request is not None:
        params = {k: v for k, v in request.query_params.items() if k != "lang"}
        switch_href = href(request.url.path, other, **params)
        switch = (
            f'<a class="lang" href="{switch_href}" hreflang="{HTML_LANG[other]}" lang="{HTML_LANG[other]}">'
            f"{esc(LANGUAGE_NAMES[other])}</a>"
        )
    return (
        f'<!doctype html>\n<html lang="{HTML_LANG[lang]}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="referrer" content="{REFERRER}">'
        f"<title>{esc(title)} · {esc(t('fleet', lang))}</title>"
        '<link rel="icon" href="data:,">'
        f'<link rel="stylesheet" href="{static_href("uPlot.min.css")}">'
        f'<link rel="stylesheet" href="{static_href("fleet.css")}">'
        f'<script src="{static_href("uPlot.iife.min.js")}" defer></script>'
        f'<script src="{static_href("fleet.js")}" defer></script>'
        f'</head><body><header><span class="brand">{esc(t("fleet", lang))}</span>{switch}{nav}</header>'
        f"<main><h1>{esc(title)}</h1>{body}</main>"
        f'<script type="application/json" id="data">{json_block(data if data is not None else {})}</script>'
        "</body></html>\n"
    )


def table(head: list[str], rows: list[list[str]], cls: str = "", empty: str = "") -> str:
    """A table in a box that scrolls sideways on a narrow screen (the page
    itself never does). Cells are HTML already escaped by the caller."""
    if not rows and empty:
        return f'<p class="empty">{esc(empty)}</p>'
    th = "".join(f'<th scope="col">{h}</th>' for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<div class="scroll"><table class="{cls}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table></div>'


def pager(c: Context, path: str, params: dict[str, object], page_no: int, limit: int, shown: int, total: int) -> str:
    """Which rows a page of a list shows ("1–50 of 1057") and links to the
    pages before and after it, the list's other query values kept."""
    first = (page_no - 1) * limit + 1 if shown else 0
    last = (page_no - 1) * limit + shown
    parts = [f'<span class="shown">{esc(c.t("shown", first=first, last=last, total=total))}</span>']
    size = limit if limit != PAGE_SIZE else None
    if page_no > 1:
        prev = c.href(path, **params, limit=size, page=page_no - 1)
        parts.append(f'<a rel="prev" href="{prev}">{esc(c.t("prev"))}</a>')
    if last < total:
        nxt = c.href(path, **params, limit=size, page=page_no + 1)
        parts.append(f'<a rel="next" href="{nxt}">{esc(c.t("next"))}</a>')
    return f'<p class="pager">{" ".join(parts)}</p>'


def light_html(light: str, lang: str) -> str:
    return f'<span class="light-tag {esc(light)}">{SYMBOLS.get(light, "?")} {esc(sub("light", light, lang))}</span>'


def chart(
    name: str,
    title: str,
    x: Sequence[float],
    series: list[dict],
    lang: str,
    x_label: str,
    x_text: Callable[[float], str],
    unit: str = "",
    digits: int = 0,
) -> tuple[str, dict]:
    """A chart's figure (drawn by fleet.js) with its numbers in a table
    under it, and its data for the JSON block."""
    figure = (
        f'<figure class="chart" data-chart="{esc(name)}"><figcaption>{esc(title)}</figcaption>'
        f'<div class="plot"></div><ul class="legend"></ul></figure>'
    )
    head = [esc(x_label), *(esc(s["label"]) for s in series)]
    rows = [[esc(x_text(xv)), *(num(s["values"][i], digits) for s in series)] for i, xv in enumerate(x)]
    numbers = (
        f'<details class="numbers" data-numbers="{esc(name)}"><summary>{esc(t("numbers", lang))}</summary>'
        f"{table(head, rows)}</details>"
    )
    return figure + numbers, {"x": list(x), "series": series, "unit": unit}


def reason_value(reason: dict, lang: str) -> str:
    """A service reason's value in words: km of head wear, cuts, or times."""
    value = reason["value"]
    if reason["id"] == "head-wear":
        return t("value_km", lang, km=(value or 0) / 1e6, pct=reason["score"] * 100)
    if reason["id"] == "cutter-wear":
        return t("value_cuts", lang, cuts=value or 0, pct=reason["score"] * 100)
    return t("value_times", lang, n=value)


def page(c: Context, title: str, body: str, active: str | None = None, data: object = None) -> Response:
    """A signed-in operator's page as an answer."""
    return HTMLResponse(frame(c.lang, title, body, active, c.operator, data, c.request), headers=answer_headers())
