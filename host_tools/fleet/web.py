"""The operator's fleet pages and the fleet API (docs/fleet.md).

Pages under /fleet/, in English and Chinese (``?lang=``, else the browser's
Accept-Language), every label from ``[fleet]`` in host_tools/lang/*.toml:
the traffic lights now, one terminal, causes over time, paper, training,
service, silent terminals and alerts. An operator signs in once at
/fleet/login with the bearer token `posdiag hub token add` printed; the
token is kept in an HttpOnly, SameSite=Strict cookie (Secure over https),
checked on every request as a bearer token is. A POST is taken only from
a page of this host (its Origin, or failing that its Referer).

Everything a terminal or a technician sent (terminal ids, merchant names,
findings) is escaped; the pages' data for the charts is a JSON block that
static/fleet.js reads (no inline script: the CSP forbids any), charts drawn
with the vendored uPlot, each with a legend of dash patterns and its
numbers in a table.

The API (/api/v1/fleet/...) answers the same lists as JSON, or CSV with
``?format=csv``, to a bearer token."""

from __future__ import annotations

import calendar
import csv
import hashlib
import html
import io
import json
import re
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, Sequence
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from host_tools import texts
from host_tools.hub import app as hubapp

if TYPE_CHECKING:
    from host_tools.hub.app import Hub

__all__ = ["CSP", "COOKIE", "fleet_routes"]

# The fleet pages' policy: their own script and styles only, nothing inline.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# Same-origin referrers: a form's POST then carries this host's Origin
# (with no-referrer a browser sends `Origin: null`, which is refused).
REFERRER = "same-origin"
COOKIE = "posdiag_fleet"
COOKIE_MAX_AGE_S = 12 * 3600
PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
MAX_FORM = 4096  # bytes of a login or acknowledgement form
MAX_QUERY = 100  # characters of a search or filter value
LANGS = ("en", "zh")
LIGHTS = ("fault", "warning", "silent", "healthy")  # worst first, as the list is ordered
SYMBOLS = {"fault": "✖", "warning": "▲", "silent": "◌", "healthy": "●"}  # the light without its colour
LANGUAGE_NAMES = {"en": "English", "zh": "中文"}  # each language by its own name, for the switch
HTML_LANG = {"en": "en", "zh": "zh-CN"}
DAY_CHOICES = (7, 30, 90)
STATIC = {
    "fleet.css": "text/css; charset=utf-8",
    "fleet.js": "text/javascript; charset=utf-8",
    "uPlot.min.css": "text/css; charset=utf-8",
    "uPlot.iife.min.js": "text/javascript; charset=utf-8",
}
STATIC_CACHE = "public, max-age=31536000, immutable"  # links carry the file's hash
LISTS = ("terminals", "causes", "paper", "training", "service", "silent", "alerts")
_ALERT_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")  # alerts.id: 16 hex digits today
NAV = ("now", "causes", "paper", "training", "service", "silent", "alerts")


# -- small things ------------------------------------------------------------------------------


def esc(value: object) -> str:
    """Any value as HTML text: None as a dash."""
    return "—" if value is None else html.escape(str(value))


def t(key: str, lang: str, **values: object) -> str:
    """A [fleet] label."""
    return texts.text("fleet", key, lang, **values)


def sub(table: str, key: str, lang: str) -> str:
    """A word of a [fleet.TABLE] table, or the key itself when it has none."""
    return str(texts.table(lang)["fleet"][table].get(key, key))


def when(unix: float | None) -> str:
    return "—" if unix is None else time.strftime("%Y-%m-%d %H:%M", time.gmtime(unix))


def day(unix: float | None) -> str:
    return "—" if unix is None else time.strftime("%Y-%m-%d", time.gmtime(unix))


def num(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def json_block(data: object) -> str:
    """JSON safe inside a <script> element: no `<` left to close it."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")


def pick_lang(request: Request) -> str:
    """?lang=, else the first of the browser's languages this hub speaks
    (by q-value: zh* is Chinese), else English."""
    asked = request.query_params.get("lang")
    if asked in LANGS:
        return str(asked)
    choices = []
    for n, part in enumerate(request.headers.get("accept-language", "").split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        choices.append((-q, n, tag.strip().lower()))
    for _, _, tag in sorted(choices):
        for lang in LANGS:
            if tag == lang or tag.startswith(lang + "-"):
                return lang
    return "en"


def href(path: str, lang: str, **params: object) -> str:
    """A link of these pages (escaped for an attribute), its language kept."""
    query = {k: str(v) for k, v in params.items() if v not in (None, "")}
    query["lang"] = lang
    return esc(path + "?" + urllib.parse.urlencode(query))


def terminal_path(terminal: str) -> str:
    return "/fleet/t/" + urllib.parse.quote(terminal, safe="")


def same_origin(request: Request) -> bool:
    """A POST from a page of this host: its Origin (or, without one, its
    Referer) names the host the request was sent to."""
    host = request.headers.get("host")
    source = request.headers.get("origin") or request.headers.get("referer")
    if not host or not source or source == "null":
        return False
    parts = urllib.parse.urlsplit(source)
    return parts.scheme in ("http", "https") and parts.netloc == host


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path of these pages, never elsewhere."""
    if value and value.startswith("/fleet/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/fleet/"


def _query(request: Request, name: str, choices: Iterable[str] | None = None) -> str | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    if len(value) > MAX_QUERY or (choices is not None and value not in choices):
        raise hubapp.Refusal(400, "query", f"{name}: not a value this list takes")
    return str(value)


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    if not text.isdigit() or len(text) > 9 or not low <= int(text) <= high:
        raise hubapp.Refusal(400, "query", f"{name} is a whole number from {low} to {high}")
    return int(text)


@cache
def _static(name: str) -> tuple[bytes, str]:
    """A static file's bytes and the short hash its links carry."""
    data = resources.files("host_tools.fleet").joinpath("static", name).read_bytes()
    return data, hashlib.sha256(data).hexdigest()[:12]


def static_href(name: str) -> str:
    return f"/fleet/static/{name}?v={_static(name)[1]}"


def _headers(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"Content-Security-Policy": CSP, "Referrer-Policy": REFERRER, **(extra or {})}


def _json(data: object, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status, headers=_headers())


def _refused(request: Request, e: hubapp.Refusal) -> Response:
    request.state.why = e.error
    return JSONResponse({"error": e.error, "message": str(e)}, e.status, headers=_headers(e.headers))


# -- CSV -----------------------------------------------------------------------------------------


def _cell(value: object) -> object:
    """A CSV cell; text a spreadsheet would take for a formula gets a leading '."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else value


def csv_text(header: list[str], rows: Iterable[list[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return out.getvalue()


def csv_of(name: str, data: Any, which: str | None = None) -> tuple[str, str]:
    """(file name, CSV) of a list: a header row, one row per entry."""
    if name == "terminals":
        keys = [
            "terminal",
            "merchant",
            "light",
            "top_cause",
            "category",
            "model",
            "firmware",
            "last_seen",
            "last_time",
            "records",
        ]
        return "fleet-terminals.csv", csv_text(keys, ([row[k] for k in keys] for row in data["terminals"]))
    if name == "causes":
        header = ["day", *(s["name"] for s in data["series"])]
        rows = ([d, *(s["counts"][i] for s in data["series"])] for i, d in enumerate(data["days"]))
        return "fleet-causes.csv", csv_text(header, rows)
    if name == "paper":
        if which == "terminals":
            keys = ["terminal", "merchant", "per_day_m", "left_m", "runs_out", "days_left"]
            return "fleet-paper-terminals.csv", csv_text(keys, ([e[k] for k in keys] for e in data["terminals"]))
        keys = ["merchant", "terminals", "rolls", "runs_out"]
        rows = ([e["merchant"], " ".join(e["terminals"]), e["rolls"], e["runs_out"]] for e in data["ship"])
        return "fleet-paper-ship.csv", csv_text(keys, rows)
    if name == "training":
        keys = ["merchant", "terminals", "records", "events", "rate", "ratio", "causes"]
        rows = (
            [*(m[k] for k in keys[:-1]), " ".join(f"{c['cause']}:{c['count']}" for c in m["causes"])]
            for m in data["merchants"]
        )
        return "fleet-training.csv", csv_text(keys, rows)
    if name == "service":
        keys = ["terminal", "merchant", "model", "urgency", "reasons"]
        rows = ([*(s[k] for k in keys[:-1]), " ".join(f"{x['id']}:{x['value']}" for x in s["reasons"])] for s in data)
        return "fleet-service.csv", csv_text(keys, rows)
    if name == "silent":
        keys = ["terminal", "merchant", "last_seen", "silent_h"]
        return "fleet-silent.csv", csv_text(keys, ([s[k] for k in keys] for s in data))
    keys = ["id", "kind", "terminal", "model", "cause", "raised", "detail", "delivered", "acked_by", "acked_at"]
    rows = ([json.dumps(a[k], sort_keys=True) if k == "detail" else a[k] for k in keys] for a in data)
    return "fleet-alerts.csv", csv_text(keys, rows)


def _csv_response(filename: str, text: str) -> Response:
    disposition = f'attachment; filename="{filename}"'
    return Response(
        text, 200, media_type="text/csv; charset=utf-8", headers=_headers({"Content-Disposition": disposition})
    )


# -- the pages' frame ------------------------------------------------------------------------------


class Context:
    """One page request: its language, operator and query."""

    def __init__(self, request: Request, lang: str, operator: str) -> None:
        self.request, self.lang, self.operator = request, lang, operator

    def t(self, key: str, **values: object) -> str:
        return t(key, self.lang, **values)

    def href(self, path: str, **params: object) -> str:
        return href(path, self.lang, **params)


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


# -- routes ----------------------------------------------------------------------------------------

Handler = Callable[[Context], Awaitable[Response]]


class FleetWeb:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    @property
    def fleet(self) -> Any:
        return self.hub.fleet

    async def db(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await self.hub.db(fn, *args)

    def routes(self) -> list[BaseRoute]:
        api = "/api/v1/fleet"
        pages: list[tuple[str, Handler]] = [
            ("/fleet/", self.now),
            ("/fleet/t/{terminal:path}", self.terminal),
            ("/fleet/causes", self.causes),
            ("/fleet/paper", self.paper),
            ("/fleet/training", self.training),
            ("/fleet/service", self.service),
            ("/fleet/silent", self.silent),
            ("/fleet/alerts", self.alerts),
        ]
        out: list[BaseRoute] = [Route(path, self.guarded(fn), methods=["GET", "HEAD"]) for path, fn in pages]
        out += [
            Route("/fleet/{name}.csv", self.guarded(self.page_csv), methods=["GET"]),
            Route("/fleet/alerts/{alert}/ack", self.guarded(self.page_ack, post=True), methods=["POST"]),
            Route("/fleet/login", self.login_form, methods=["GET", "HEAD"]),
            Route("/fleet/login", self.login, methods=["POST"]),
            Route("/fleet/logout", self.logout, methods=["POST"]),
            Route("/fleet/static/{name}", self.static, methods=["GET", "HEAD"]),
            Route(api + "/alerts/{alert}/ack", self.api_ack, methods=["POST"]),
        ]
        out += [Route(f"{api}/{name}", self.api_list, methods=["GET"], name=f"fleet-{name}") for name in LISTS]
        return out

    # -- who ---------------------------------------------------------------------------------------

    async def cookie_operator(self, request: Request) -> str | None:
        token = request.cookies.get(COOKIE)
        if not token or len(token) > 200:
            return None
        name = await self.db(self.hub.store.operator, token)
        return None if name is None else str(name)

    def guarded(self, handler: Handler, post: bool = False) -> Callable[[Request], Awaitable[Response]]:
        """A page for a signed-in operator (else to the login form); a POST
        only from this host's pages (else 403)."""

        async def endpoint(request: Request) -> Response:
            lang = pick_lang(request)
            try:
                if post and not same_origin(request):
                    raise hubapp.Refusal(403, "origin", "a form of another site")
                operator = await self.cookie_operator(request)
                if operator is None:
                    back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                    target = "/fleet/login?" + urllib.parse.urlencode({"next": back, "lang": lang})
                    return RedirectResponse(target, 303, headers=_headers())
                return await handler(Context(request, lang, operator))
            except hubapp.Refusal as e:
                request.state.why = e.error
                return self.error_page(request, lang, e)

        return endpoint

    def error_page(self, request: Request, lang: str, e: hubapp.Refusal) -> Response:
        key = {503: "unavailable", 404: "not_found", 403: "forbidden"}.get(e.status, "bad_query")
        back = f'<p><a href="{href("/fleet/", lang)}">{esc(t("nav_now", lang))}</a></p>'
        body = f'<p class="error">{esc(t(key, lang))}</p>{back}'
        page = frame(lang, t("error_title", lang), body, request=request)
        return HTMLResponse(page, e.status, headers=_headers(e.headers))

    def page(self, c: Context, title: str, body: str, active: str | None = None, data: object = None) -> Response:
        return HTMLResponse(frame(c.lang, title, body, active, c.operator, data, c.request), headers=_headers())

    # -- sign in and out ----------------------------------------------------------------------------

    def login_page(self, request: Request, lang: str, status: int = 200, wrong: bool = False) -> Response:
        nxt = safe_next(request.query_params.get("next"))
        error = f'<p class="error" role="alert">{esc(t("login_wrong", lang))}</p>' if wrong else ""
        body = (
            f'{error}<form class="login" method="post" action="{href("/fleet/login", lang, next=nxt)}">'
            f'<label for="token">{esc(t("login_token", lang))}</label>'
            '<input id="token" name="token" type="password" autocomplete="current-password" required maxlength="200">'
            f'<p class="hint">{esc(t("login_hint", lang))}</p>'
            f'<button type="submit">{esc(t("login_button", lang))}</button></form>'
        )
        page = frame(lang, t("login_title", lang), body, request=request)
        return HTMLResponse(page, status, headers=_headers())

    async def login_form(self, request: Request) -> Response:
        return self.login_page(request, pick_lang(request))

    async def form(self, request: Request) -> dict[str, str]:
        length = request.headers.get("content-length", "")
        if length and (not length.isdigit() or int(length) > MAX_FORM):
            raise hubapp.Refusal(413, "too-large", "a form of a few fields")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM:
                raise hubapp.Refusal(413, "too-large", "a form of a few fields")
        try:
            fields = urllib.parse.parse_qs(body.decode(), max_num_fields=8)
        except (UnicodeDecodeError, ValueError):
            raise hubapp.Refusal(400, "form", "not a form") from None
        return {k: v[0] for k, v in fields.items()}

    async def login(self, request: Request) -> Response:
        lang = pick_lang(request)
        try:
            if not same_origin(request):
                raise hubapp.Refusal(403, "origin", "a form of another site")
            token = (await self.form(request)).get("token", "").strip()
            name = await self.db(self.hub.store.operator, token) if token and len(token) <= 200 else None
        except hubapp.Refusal as e:
            request.state.why = e.error
            return self.error_page(request, lang, e)
        if name is None:
            request.state.why = "operator"
            return self.login_page(request, lang, 401, wrong=True)
        target = safe_next(request.query_params.get("next"))
        if "lang=" not in target:
            target += ("&" if "?" in target else "?") + f"lang={lang}"
        answer = RedirectResponse(target, 303, headers=_headers())
        answer.set_cookie(
            COOKIE,
            token,
            max_age=COOKIE_MAX_AGE_S,
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return answer

    async def logout(self, request: Request) -> Response:
        lang = pick_lang(request)
        if not same_origin(request):
            request.state.why = "origin"
            return self.error_page(request, lang, hubapp.Refusal(403, "origin", "a form of another site"))
        answer = RedirectResponse(f"/fleet/login?lang={lang}", 303, headers=_headers())
        answer.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=request.url.scheme == "https")
        return answer

    async def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC:
            return Response("not found\n", 404, media_type="text/plain; charset=utf-8")
        data, _ = _static(name)
        return Response(data, 200, media_type=STATIC[name], headers=_headers({"Cache-Control": STATIC_CACHE}))

    # -- the pages ----------------------------------------------------------------------------------

    async def now(self, c: Context) -> Response:
        request = c.request
        light = _query(request, "light", LIGHTS)
        q = _query(request, "q")
        model = _query(request, "model")
        firmware = _query(request, "firmware")
        limit = _int(request, "limit", PAGE_SIZE, 1, MAX_PAGE_SIZE)
        page_no = _int(request, "page", 1, 1, 1_000_000)
        got = await self.db(self.fleet.terminals, light, q, model, firmware, limit, (page_no - 1) * limit)
        options = await self.db(self.fleet.causes, 1)
        filters = {"light": light, "q": q, "model": model, "firmware": firmware}
        lights = []
        for name in LIGHTS:
            count = got["counts"].get(name, 0)
            current = ' aria-current="true"' if light == name else ""
            lights.append(
                f'<li><a class="light {name}" data-light="{name}" data-count="{count}" href="'
                f'{c.href("/fleet/", light=name)}"{current}><span class="symbol" aria-hidden="true">'
                f'{SYMBOLS[name]}</span><span class="count">{count}</span>'
                f'<span class="word">{esc(sub("light", name, c.lang))}</span></a></li>'
            )

        def select(name: str, values: list[str], words: Callable[[str], str]) -> str:
            opts = [f'<option value="">{esc(c.t("all"))}</option>']
            for v in values:
                chosen = " selected" if filters[name] == v else ""
                opts.append(f'<option value="{esc(v)}"{chosen}>{esc(words(v))}</option>')
            return f'<label>{esc(c.t("col_" + name))} <select name="{name}">{"".join(opts)}</select></label>'

        form = (
            '<form class="filters" method="get" action="/fleet/">'
            f'<input type="hidden" name="lang" value="{c.lang}">'
            + select("light", list(LIGHTS), lambda v: sub("light", v, c.lang))
            + select("model", options["models"], str)
            + select("firmware", options["firmwares"], str)
            + f'<label>{esc(c.t("search"))} <input type="search" name="q" value="{esc(q or "")}" '
            f'maxlength="{MAX_QUERY}">'
            f'</label><button type="submit">{esc(c.t("apply"))}</button></form>'
        )
        rows = [
            [
                light_html(row["light"], c.lang),
                f'<a href="{c.href(terminal_path(row["terminal"]))}">{esc(row["terminal"])}</a>',
                esc(row["merchant"]),
                esc(row["top_cause"]),
                esc(None if row["category"] is None else texts.word("category", row["category"], c.lang)),
                esc(row["model"]),
                esc(row["firmware"]),
                esc(when(row["last_seen"])),
                str(int(row["records"])),
            ]
            for row in got["terminals"]
        ]
        head = [
            esc(c.t(k))
            for k in (
                "col_light",
                "col_terminal",
                "col_merchant",
                "col_top_cause",
                "col_category",
                "col_model",
                "col_firmware",
                "col_last_seen",
                "col_records",
            )
        ]
        total = got["total"]
        first = (page_no - 1) * limit + 1 if rows else 0
        last = (page_no - 1) * limit + len(rows)
        pager = [f'<span class="shown">{esc(c.t("shown", first=first, last=last, total=total))}</span>']
        size = limit if limit != PAGE_SIZE else None
        if page_no > 1:
            prev = c.href("/fleet/", **filters, limit=size, page=page_no - 1)
            pager.append(f'<a rel="prev" href="{prev}">{esc(c.t("prev"))}</a>')
        if last < total:
            nxt = c.href("/fleet/", **filters, limit=size, page=page_no + 1)
            pager.append(f'<a rel="next" href="{nxt}">{esc(c.t("next"))}</a>')
        csv_link = c.href("/fleet/terminals.csv", **filters)
        body = (
            f'<ul class="lights" aria-label="{esc(c.t("lights"))}">{"".join(lights)}</ul>{form}'
            + table(head, rows, "terminals", c.t("none"))
            + f'<p class="pager">{" ".join(pager)}</p>'
            + f'<p><a class="csv" href="{csv_link}">{esc(c.t("csv"))}</a></p>'
        )
        return self.page(c, c.t("title_now"), body, "now", {"counts": got["counts"], "total": total})

    async def terminal(self, c: Context) -> Response:
        terminal = str(c.request.path_params["terminal"])
        if len(terminal) > 200:
            raise hubapp.Refusal(404, "unknown-terminal", "no terminal has that id")
        got = await self.db(self.fleet.terminal, terminal, c.lang)
        if got is None:
            raise hubapp.Refusal(404, "unknown-terminal", "no terminal has that id")
        lang = c.lang
        facts = [
            (c.t("col_light"), light_html(got["light"], lang)),
            (c.t("col_merchant"), esc(got["merchant"])),
            (c.t("col_top_cause"), esc(got["top_cause"])),
            (c.t("col_model"), esc(got["model"])),
            (c.t("col_firmware"), esc(got["firmware"])),
            (c.t("col_last_seen"), esc(when(got["last_seen"]))),
            (c.t("col_records"), esc(got["records"])),
            (c.t("receipts_on_hub"), esc(got["receipts"]["on_hub"])),
            (c.t("receipts_pending"), esc(got["receipts"]["pending_on_terminal"])),
            (c.t("paper_per_day"), esc(num(got["paper"]["per_day_m"]))),
            (c.t("paper_left"), esc(num(got["paper"]["left_m"]))),
            (c.t("paper_runs_out"), esc(day(got["paper"]["runs_out"]))),
        ]
        dl = '<dl class="facts">' + "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in facts) + "</dl>"
        readings = got["readings"]
        x = readings["time"]
        charts: dict[str, dict] = {}
        figures = []
        for name, title, keys, digits in (
            ("head", c.t("chart_head"), ("head_c",), 1),
            ("supply", c.t("chart_supply"), ("supply_v",), 2),
            ("latency", c.t("chart_latency"), ("host_ms", "printer_ms"), 0),
        ):
            series = [{"label": c.t("series_" + k), "values": readings[k]} for k in keys]
            html_, data = chart(name, title, x, series, lang, c.t("col_time"), when, digits=digits)
            figures.append(html_)
            charts[name] = data
        findings = "".join(
            f'<li><span class="tag">{esc(texts.word("category", f["category"], lang))}</span> {esc(f["finding"])}</li>'
            for f in got["findings"]
        )
        service = "".join(
            f"<li>{esc(sub('reason', x['id'], lang))}: {esc(self.reason_value(x, lang))}</li>" for x in got["service"]
        )
        timeline = [
            [
                esc(x["seq"]),
                esc(when(x["time"])),
                esc(texts.word("trigger", x["trigger"], lang)),
                esc(" ".join(x["causes"])) if x["causes"] else "",
                light_html(x["light"], lang),
            ]
            for x in got["timeline"]
        ]
        head = [esc(c.t(k)) for k in ("col_seq", "col_time", "col_trigger", "col_causes", "col_light")]
        body = (
            dl
            + f"<h2>{esc(c.t('readings'))}</h2>"
            + ("".join(figures) if x else f'<p class="empty">{esc(c.t("none"))}</p>')
            + f"<h2>{esc(c.t('findings'))}</h2>"
            + (f'<ul class="findings">{findings}</ul>' if findings else f'<p class="empty">{esc(c.t("none"))}</p>')
            + f"<h2>{esc(c.t('service_reasons'))}</h2>"
            + (f'<ul class="reasons">{service}</ul>' if service else f'<p class="empty">{esc(c.t("none"))}</p>')
            + f"<h2>{esc(c.t('timeline'))}</h2>"
            + table(head, timeline, "timeline", c.t("none"))
        )
        title = c.t("title_terminal", terminal=terminal)
        return self.page(c, title, body, None, {"charts": charts if x else {}, "lang": lang})

    @staticmethod
    def reason_value(reason: dict, lang: str) -> str:
        value = reason["value"]
        if reason["id"] == "head-wear":
            return t("value_km", lang, km=(value or 0) / 1e6, pct=reason["score"] * 100)
        if reason["id"] == "cutter-wear":
            return t("value_cuts", lang, cuts=value or 0, pct=reason["score"] * 100)
        return t("value_times", lang, n=value)

    async def causes(self, c: Context) -> Response:
        request = c.request
        days = _int(request, "days", 30, 1, 366)
        model = _query(request, "model")
        firmware = _query(request, "firmware")
        by_cat = await self.db(self.fleet.causes, days, "category", model, firmware)
        by_cause = await self.db(self.fleet.causes, days, "cause", model, firmware)
        x = [_day_unix(d) for d in by_cat["days"]]
        figures, charts = [], {}
        for name, title, got, label in (
            ("category", c.t("chart_by_category"), by_cat, lambda s: texts.word("category", s, c.lang)),
            ("cause", c.t("chart_by_cause"), by_cause, str),
        ):
            series = [{"label": label(s["name"]), "values": s["counts"]} for s in got["series"] if any(s["counts"])]
            if series:
                html_, data = chart(name, title, x, series, c.lang, c.t("col_day"), day)
                figures.append(html_)
                charts[name] = data
            else:
                figures.append(f'<h2>{esc(title)}</h2><p class="empty">{esc(c.t("none"))}</p>')

        def options(name: str, values: list[str], chosen: str | None) -> str:
            opts = [f'<option value="">{esc(c.t("whole_fleet" if name == "model" else "all"))}</option>']
            opts += [f'<option value="{esc(v)}"{" selected" if v == chosen else ""}>{esc(v)}</option>' for v in values]
            return f'<label>{esc(c.t("col_" + name))} <select name="{name}">{"".join(opts)}</select></label>'

        day_opts = "".join(
            f'<option value="{d}"{" selected" if d == days else ""}>{esc(c.t("days_n", n=d))}</option>'
            for d in sorted({*DAY_CHOICES, days})
        )
        form = (
            '<form class="filters" method="get" action="/fleet/causes">'
            f'<input type="hidden" name="lang" value="{c.lang}">'
            f'<label>{esc(c.t("days"))} <select name="days">{day_opts}</select></label>'
            + options("model", by_cat["models"], model)
            + options("firmware", by_cat["firmwares"], firmware)
            + f'<button type="submit">{esc(c.t("apply"))}</button></form>'
        )
        scope = c.t("scope", model=model or c.t("whole_fleet"), firmware=firmware or c.t("all"))
        body = form + f'<p class="scope">{esc(scope)}</p>' + "".join(figures)
        return self.page(c, c.t("title_causes"), body, "causes", {"charts": charts, "lang": c.lang})

    async def paper(self, c: Context) -> Response:
        got = await self.db(self.fleet.paper)
        s = got["settings"]
        ship = [
            [
                esc(e["merchant"]),
                " ".join(f'<a href="{c.href(terminal_path(x))}">{esc(x)}</a>' for x in e["terminals"]),
                esc(e["rolls"]),
                esc(day(e["runs_out"])),
            ]
            for e in got["ship"]
        ]
        terminals = [
            [
                f'<a href="{c.href(terminal_path(e["terminal"]))}">{esc(e["terminal"])}</a>',
                esc(e["merchant"]),
                esc(num(e["per_day_m"])),
                esc(num(e["left_m"])),
                esc(day(e["runs_out"])),
                esc(num(e["days_left"])),
            ]
            for e in got["terminals"]
        ]
        body = (
            f'<p class="settings">{esc(c.t("paper_settings", **s))}</p>'
            f"<h2>{esc(c.t('ship_list'))}</h2>"
            + table(
                [esc(c.t(k)) for k in ("col_merchant", "col_terminals", "col_rolls", "paper_runs_out")],
                ship,
                "ship",
                c.t("none"),
            )
            + f'<p><a class="csv" href="{c.href("/fleet/paper.csv", list="ship")}">{esc(c.t("csv"))}</a></p>'
            + f"<h2>{esc(c.t('paper_terminals'))}</h2>"
            + table(
                [
                    esc(c.t(k))
                    for k in (
                        "col_terminal",
                        "col_merchant",
                        "paper_per_day",
                        "paper_left",
                        "paper_runs_out",
                        "paper_days_left",
                    )
                ],
                terminals,
                "paper",
                c.t("none"),
            )
            + f'<p><a class="csv" href="{c.href("/fleet/paper.csv", list="terminals")}">{esc(c.t("csv"))}</a></p>'
        )
        return self.page(c, c.t("title_paper"), body, "paper")

    async def training(self, c: Context) -> Response:
        got = await self.db(self.fleet.training)
        rows = []
        for m in got["merchants"]:
            topics = "".join(
                f'<li><span class="code">{esc(x["cause"])}</span> × {esc(x["count"])}: '
                f"{esc(sub('train', x['cause'], c.lang))}</li>"
                for x in m["causes"]
            )
            rows.append(
                [
                    esc(m["merchant"]),
                    esc(m["terminals"]),
                    esc(m["records"]),
                    esc(m["events"]),
                    esc(num(m["rate"] * 100)),
                    esc(num(m["ratio"])),
                    f'<ul class="topics">{topics}</ul>',
                ]
            )
        head = [
            esc(c.t(k))
            for k in (
                "col_merchant",
                "col_terminals",
                "col_records",
                "col_events",
                "col_rate",
                "col_ratio",
                "col_train",
            )
        ]
        body = (
            f'<p class="norm">{esc(c.t("norm", rate=num(got["norm"] * 100)))}</p>'
            + table(head, rows, "training", c.t("none"))
            + f'<p><a class="csv" href="{c.href("/fleet/training.csv")}">{esc(c.t("csv"))}</a></p>'
        )
        return self.page(c, c.t("title_training"), body, "training")

    async def service(self, c: Context) -> Response:
        got = await self.db(self.fleet.service)
        rows = [
            [
                f'<a href="{c.href(terminal_path(s["terminal"]))}">{esc(s["terminal"])}</a>',
                esc(s["merchant"]),
                esc(s["model"]),
                esc(num(s["urgency"], 2)),
                '<ul class="reasons">'
                + "".join(
                    f"<li>{esc(sub('reason', x['id'], c.lang))}: {esc(self.reason_value(x, c.lang))}</li>"
                    for x in s["reasons"]
                )
                + "</ul>",
            ]
            for s in got
        ]
        head = [esc(c.t(k)) for k in ("col_terminal", "col_merchant", "col_model", "col_urgency", "col_reasons")]
        body = table(head, rows, "service", c.t("none")) + (
            f'<p><a class="csv" href="{c.href("/fleet/service.csv")}">{esc(c.t("csv"))}</a></p>'
        )
        return self.page(c, c.t("title_service"), body, "service")

    async def silent(self, c: Context) -> Response:
        got = await self.db(self.fleet.silent)
        rows = [
            [
                f'<a href="{c.href(terminal_path(s["terminal"]))}">{esc(s["terminal"])}</a>',
                esc(s["merchant"]),
                esc(when(s["last_seen"])),
                esc(num(s["silent_h"])),
            ]
            for s in got
        ]
        head = [esc(c.t(k)) for k in ("col_terminal", "col_merchant", "col_last_seen", "col_silent_h")]
        body = table(head, rows, "silent", c.t("none")) + (
            f'<p><a class="csv" href="{c.href("/fleet/silent.csv")}">{esc(c.t("csv"))}</a></p>'
        )
        return self.page(c, c.t("title_silent"), body, "silent")

    async def alerts(self, c: Context) -> Response:
        open_only = c.request.query_params.get("open") == "1"
        got = await self.db(self.fleet.alerts, open_only)
        rows = []
        for a in got:
            if a["acked_by"] is None:
                ack_path = f"/fleet/alerts/{urllib.parse.quote(str(a['id']), safe='')}/ack"
                state = (
                    f'<form method="post" action="{c.href(ack_path)}">'
                    f'<button type="submit">{esc(c.t("ack"))}</button></form>'
                )
            else:
                state = esc(c.t("acked_by", name=a["acked_by"], time=when(a["acked_at"])))
            detail = "; ".join(f"{k}: {v}" for k, v in sorted(a["detail"].items()))
            where = a["terminal"]
            rows.append(
                [
                    esc(a["id"]),
                    esc(sub("alert", a["kind"], c.lang)),
                    f'<a href="{c.href(terminal_path(where))}">{esc(where)}</a>' if where else "—",
                    esc(a["model"]),
                    esc(a["cause"]),
                    esc(when(a["raised"])),
                    esc(detail),
                    esc(c.t("yes") if a["delivered"] else c.t("no")),
                    state,
                ]
            )
        head = [
            esc(c.t(k))
            for k in (
                "col_id",
                "col_kind",
                "col_terminal",
                "col_model",
                "col_cause",
                "col_raised",
                "col_detail",
                "col_delivered",
                "col_acked",
            )
        ]
        switch = (
            f'<a href="{c.href("/fleet/alerts")}">{esc(c.t("all"))}</a>'
            if open_only
            else f'<a href="{c.href("/fleet/alerts", open=1)}">{esc(c.t("open_only"))}</a>'
        )
        body = (
            f'<p class="switch">{switch}</p>'
            + table(head, rows, "alerts", c.t("none"))
            + f'<p><a class="csv" href="{c.href("/fleet/alerts.csv")}">{esc(c.t("csv"))}</a></p>'
        )
        return self.page(c, c.t("title_alerts"), body, "alerts")

    async def page_ack(self, c: Context) -> Response:
        alert = str(c.request.path_params["alert"])
        if not _ALERT_ID.fullmatch(alert) or not await self.db(self.fleet.ack, alert, c.operator):
            raise hubapp.Refusal(404, "unknown-alert", "no such alert")
        return RedirectResponse(f"/fleet/alerts?lang={c.lang}", 303, headers=_headers())

    async def page_csv(self, c: Context) -> Response:
        name = str(c.request.path_params["name"])
        if name not in LISTS:
            raise hubapp.Refusal(404, "not-found", "no such list")
        data, which = await self.list_data(c.request, name)
        return _csv_response(*csv_of(name, data, which))

    # -- the API ------------------------------------------------------------------------------------

    async def list_data(self, request: Request, name: str) -> tuple[Any, str | None]:
        """A list's data by the request's query (the API's and the pages' CSV)."""
        fleet = self.fleet
        if name == "terminals":
            limit = _int(request, "limit", 100, 1, 10_000)
            offset = _int(request, "offset", 0, 0, 10_000_000)
            args = (
                _query(request, "light", LIGHTS),
                _query(request, "q"),
                _query(request, "model"),
                _query(request, "firmware"),
                limit,
                offset,
            )
            return await self.db(fleet.terminals, *args), None
        if name == "causes":
            args2 = (
                _int(request, "days", 30, 1, 366),
                _query(request, "by", ("category", "cause")) or "category",
                _query(request, "model"),
                _query(request, "firmware"),
            )
            return await self.db(fleet.causes, *args2), None
        if name == "paper":
            return await self.db(fleet.paper), _query(request, "list", ("ship", "terminals")) or "ship"
        if name == "alerts":
            return await self.db(fleet.alerts, request.query_params.get("open") == "1"), None
        return await self.db(getattr(fleet, name)), None

    async def api_list(self, request: Request) -> Response:
        name = request.url.path.rsplit("/", 1)[-1]
        try:
            await self.hub.operator(request)
            fmt = _query(request, "format", ("json", "csv")) or "json"
            data, which = await self.list_data(request, name)
        except hubapp.Refusal as e:
            return _refused(request, e)
        if fmt == "csv":
            return _csv_response(*csv_of(name, data, which))
        return _json(data)

    async def api_ack(self, request: Request) -> Response:
        try:
            operator = await self.hub.operator(request)
            alert = str(request.path_params["alert"])
            if not _ALERT_ID.fullmatch(alert) or not await self.db(self.fleet.ack, alert, operator):
                raise hubapp.Refusal(404, "unknown-alert", "no such alert")
        except hubapp.Refusal as e:
            return _refused(request, e)
        return _json({"id": alert, "acked": True})


def _day_unix(text: str) -> int:
    """A YYYY-MM-DD day as the Unix time of its start (UTC)."""
    return calendar.timegm(time.strptime(text, "%Y-%m-%d"))


def fleet_routes(hub: Hub) -> list[BaseRoute]:
    """The fleet pages', their static files' and the fleet API's routes."""
    return FleetWeb(hub).routes()
