"""The small things every part of the fleet's web layer uses (docs/fleet.md):
escaping and formatting, the [fleet] labels, the language a request asks
for, links of the pages, a request's query values (and a list's page)
checked, the headers of
every answer, and `HubPart`, the hub a handler serves.

Nothing here answers a route; session.py, overview.py, worklists.py and
api.py do, and web.py mounts them."""

from __future__ import annotations

import html
import re
import time
import urllib.parse
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from host_tools import texts
from host_tools.hub import app as hubapp

if TYPE_CHECKING:
    from host_tools.hub.app import Hub

# The fleet pages' policy: their own script and styles only, nothing inline.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# Same-origin referrers: a form's POST then carries this host's Origin
# (with no-referrer a browser sends `Origin: null`, which is refused).
REFERRER = "same-origin"
MAX_QUERY = 100  # characters of a search or filter value
LANGS = ("en", "zh")
LIGHTS = ("fault", "warning", "silent", "healthy")  # worst first, as the list is ordered
ALERT_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")  # alerts.id: 16 hex digits today
PAGE_SIZE = 50  # rows a page of a list shows unless ?limit= says
MAX_PAGE_SIZE = 500


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


def query_value(request: Request, name: str, choices: Iterable[str] | None = None) -> str | None:
    """A query value (None when absent or empty), refused (400) when too long
    or not one of the choices."""
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    if len(value) > MAX_QUERY or (choices is not None and value not in choices):
        raise hubapp.Refusal(400, "query", f"{name}: not a value this list takes")
    return str(value)


def query_int(request: Request, name: str, default: int, low: int, high: int) -> int:
    """A whole-number query value from low to high (default when absent),
    refused (400) otherwise."""
    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    if not text.isdigit() or len(text) > 9 or not low <= int(text) <= high:
        raise hubapp.Refusal(400, "query", f"{name} is a whole number from {low} to {high}")
    return int(text)


def paging(request: Request) -> tuple[int, int]:
    """(page number from 1, rows a page) from ?page= and ?limit=, each
    refused (400) when out of range."""
    limit = query_int(request, "limit", PAGE_SIZE, 1, MAX_PAGE_SIZE)
    return query_int(request, "page", 1, 1, 1_000_000), limit


def answer_headers(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The headers of every answer of the fleet pages and API, and any extra."""
    return {"Content-Security-Policy": CSP, "Referrer-Policy": REFERRER, **(extra or {})}


def json_response(data: object, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status, headers=answer_headers())


def refusal_response(request: Request, e: hubapp.Refusal) -> Response:
    request.state.why = e.error
    return JSONResponse({"error": e.error, "message": str(e)}, e.status, headers=answer_headers(e.headers))


class HubPart:
    """A part of the web layer: the hub it serves, and the hub's fleet lists."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    @property
    def fleet(self) -> Any:
        return self.hub.fleet

    async def db(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await self.hub.db(fn, *args)
