"""The operator's fleet pages (docs/fleet.md, host_tools/fleet/web.py) in
real headless Chromium over the DevTools protocol (tests/cdp.py), against a
real hub on SQLite in this process, loaded with a generated fleet through
the hub's own ingest path (tests/fleet_gen.py): signing in through the form,
every page in English and Chinese without a console error or a CSP
violation, charts drawn, the numbers the same as the API's, a 360-px phone
that never scrolls sideways, hostile terminal ids and merchant names shown
as text, pages closed without the cookie, forms only from the hub's own
pages; and the JSON and CSV API with a bearer token.

Screenshots of every page are saved in the test's folder; their paths are
printed (pytest -s shows them)."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import re
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from host_tools import texts
from host_tools.fleet.web import COOKIE, CSP, LISTS
from host_tools.hub import client as c
from tests.cdp import Chromium, Page, chromium_binary
from tests.fleet_gen import HOSTILE, load, make_fleet
from tests.pg import pg_cluster  # noqa: F401 - the session's cluster fixture
from tests.test_hub import Captured, Hub, start_hub

# A terminal id no terminal sends (the upload path refuses it) but the
# store takes: provisioned and loaded directly, as a migration might.
CRAFTED = "<img src=x onerror=\"document.title='pwned'\">T-1"
PAGES = ("now", "terminal", "causes", "paper", "training", "service", "silent", "alerts")
WHAT = {
    "now": "the traffic lights with their counts, the filters and the first page of terminals, worst first",
    "terminal": "one terminal: its facts, the three readings charts with their numbers, findings, service, timeline",
    "causes": "faults per day over 30 days, by category and by cause, with a legend of dash patterns",
    "paper": "the consumables plan: the ship list by merchant and the rolls running out, with CSV links",
    "training": "merchants above the fleet's norm of operator events, with what to train on per cause",
    "service": "printers to service, most urgent first, with each reason and its value",
    "silent": "terminals that stopped reporting, longest silent first",
    "alerts": "the alert history, an Acknowledge button on each open alert",
}


@dataclasses.dataclass
class Site:
    hub: Hub
    token: str
    fault: str  # a terminal whose light is fault
    hostile: str  # a terminal of the merchant named HOSTILE

    @property
    def url(self) -> str:
        return self.hub.url

    def api(self, path: str, token: str | None = None) -> c.Answer:
        return c.request(self.url, "GET", path, headers=c.bearer(token or self.token))

    def path(self, page: str, lang: str, **params: str) -> str:
        paths = {"now": "/fleet/", "terminal": "/fleet/t/" + urllib.parse.quote(self.fault, safe="")}
        query = urllib.parse.urlencode({**params, "lang": lang})
        return f"{paths.get(page, '/fleet/' + page)}?{query}"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    fleet = make_fleet(terminals=40, records_per_terminal=30)
    if request.param == "sqlite":
        db = str(tmp_path_factory.mktemp("fleet-hub") / "hub.sqlite3")
    else:
        db = request.getfixturevalue("pg_cluster").database(f"fleet_pages_{os.getpid()}")
    h = start_hub(db, Captured(), clock=lambda: fleet.now + 3600)
    try:
        crafted = dataclasses.replace(fleet.terminals[-1], terminal=CRAFTED, merchant=HOSTILE)
        load(h.store, [*fleet.terminals, crafted])
        token = h.store.add_operator("alice")
        answer = c.request(h.url, "GET", "/api/v1/fleet/terminals?light=fault", headers=c.bearer(token))
        if answer.status == 404:
            pytest.fail("the fleet routes are not mounted: app.make_app must add fleet_routes(hub)", pytrace=False)
        listed = answer.json()
        hostile = next(x.terminal for x in fleet.terminals if x.merchant == HOSTILE)
        yield Site(h, token, listed["terminals"][0]["terminal"], hostile)
    finally:
        h.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    if chromium_binary() is None:
        pytest.fail("Chromium not installed: `make test` installs Debian's chromium package", pytrace=False)
    with Chromium(tmp_path_factory.mktemp("chromium")) as b:
        yield b


def sign_in(page: Page, site: Site, lang: str = "en", then: str = "/fleet/") -> None:
    """Through the real form: the token typed in, the form submitted."""
    page.navigate(f"{site.url}/fleet/login?{urllib.parse.urlencode({'next': then, 'lang': lang})}")
    page.act(f"document.getElementById('token').value = {json.dumps(site.token)}; document.forms[0].submit()")


def jlist(answer: c.Answer) -> list:
    """An answer that is a JSON list."""
    assert answer.status == 200, answer.body[:200]
    value = json.loads(answer.body)
    assert isinstance(value, list)
    return value


def en_labels() -> list[str]:
    """English labels long enough to be told from data."""
    table = texts.table("en")["fleet"]
    out = [v for k, v in table.items() if isinstance(v, str) and "{" not in v and k != "fleet"]
    out += [v for sub in ("light", "alert", "reason", "train") for v in table[sub].values()]
    return [x for x in out if len(x) >= 4]


# -- signing in and out --------------------------------------------------------------------------


def test_pages_send_a_browser_without_the_cookie_to_sign_in_in_chromium(site: Site, browser: Chromium) -> None:
    page = browser.page()
    page.clear_cookies()
    for name in PAGES:
        page.navigate(site.url + site.path(name, "en"))
        where = urllib.parse.urlsplit(page.evaluate("location.href"))
        assert where.path == "/fleet/login", name
        assert urllib.parse.parse_qs(where.query)["next"][0].startswith(site.path(name, "en").split("?")[0])
    # And over plain HTTP: 303 to the form, nothing of the page.
    got = c.request(site.url, "GET", "/fleet/paper")
    assert got.status == 303 and got.headers["location"].startswith("/fleet/login?next=%2Ffleet%2Fpaper")
    wrong = c.request(site.url, "GET", "/fleet/paper", headers={"Cookie": f"{COOKIE}=not-a-token"})
    assert wrong.status == 303


def test_sign_in_through_the_form_sets_a_strict_http_only_cookie_in_chromium(site: Site, browser: Chromium) -> None:
    page = browser.page()
    page.clear_cookies()
    page.navigate(f"{site.url}/fleet/login?next=/fleet/silent&lang=en")
    page.act("document.getElementById('token').value = 'guess'; document.forms[0].submit()")
    assert page.evaluate("document.querySelector('.error').textContent") == texts.text("fleet", "login_wrong", "en")
    assert not [k for k in page.cookies() if k["name"] == COOKIE]
    sign_in(page, site, "en", "/fleet/silent")
    assert page.evaluate("location.pathname") == "/fleet/silent"
    (cookie,) = [k for k in page.cookies() if k["name"] == COOKIE]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and not cookie["secure"]
    assert page.evaluate("document.cookie") == ""  # HttpOnly: no script reads it
    page.act("document.querySelector('form.logout').submit()")
    assert page.evaluate("location.pathname") == "/fleet/login"
    assert not [k for k in page.cookies() if k["name"] == COOKIE]
    (refused,) = page.errors()  # the wrong token's answer, and nothing else
    assert "status of 401" in refused and "/fleet/login" in refused


def test_forms_are_taken_only_from_the_hubs_own_pages(site: Site) -> None:
    alerts = jlist(site.api("/api/v1/fleet/alerts?open=1"))
    cookie = {"Cookie": f"{COOKIE}={site.token}", "Content-Type": "application/x-www-form-urlencoded"}
    path = f"/fleet/alerts/{alerts[0]['id']}/ack"
    for origin in ({"Origin": "http://evil.example"}, {"Origin": "null"}, {}, {"Referer": "http://evil.example/x"}):
        got = c.request(site.url, "POST", path, b"", {**cookie, **origin})
        assert got.status == 403, origin
    login = c.request(
        site.url,
        "POST",
        "/fleet/login",
        f"token={site.token}".encode(),
        {"Origin": "http://evil.example", "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert login.status == 403 and "set-cookie" not in login.headers
    assert jlist(site.api("/api/v1/fleet/alerts?open=1")) == alerts


# -- every page ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_page_in_chromium_without_an_error_with_its_charts_drawn(
    site: Site, browser: Chromium, lang: str, tmp_path: Path
) -> None:
    page = browser.page()
    page.viewport(1200, 900, mobile=False)
    sign_in(page, site, lang)
    english = en_labels()
    for name in PAGES:
        page.navigate(site.url + site.path(name, lang))
        assert page.evaluate("document.documentElement.lang") == ("zh-CN" if lang == "zh" else "en")
        assert page.evaluate("location.pathname") != "/fleet/login"
        charts = page.evaluate(
            "Array.from(document.querySelectorAll('figure.chart')).map(f => {"
            " const c = f.querySelector('.plot canvas');"
            " return c ? [c.width, c.height, f.querySelectorAll('.legend li').length] : null })"
        )
        if name in ("terminal", "causes"):
            assert charts and all(x is not None and x[0] > 0 and x[1] > 0 and x[2] > 0 for x in charts), (name, charts)
        shot = page.screenshot(tmp_path / f"{name}-{lang}.png")
        print(f"{shot}: {name} page in {lang}: {WHAT[name]}")
        assert page.errors() == [], name
        if lang == "zh":
            # Chinese throughout: no English label on a Chinese page (the
            # data, cause ids, models and the language switch aside).
            shown = page.evaluate(
                "(() => { const b = document.body.cloneNode(true);"
                " b.querySelectorAll('script, td, dd, .lang, .who, .legend, option, .scope, .code')"
                ".forEach(e => e.remove());"
                " return b.innerText })()"
            )
            leaked = [x for x in english if re.search(rf"(?<![\w-]){re.escape(x)}(?![\w-])", shown)]
            assert not leaked, (name, leaked)
            assert re.search(r"[\u4e00-\u9fff]", page.evaluate("document.title"))


def test_the_language_follows_the_browser_unless_asked(site: Site) -> None:
    cookie = {"Cookie": f"{COOKIE}={site.token}"}
    zh = c.request(site.url, "GET", "/fleet/silent", headers={**cookie, "Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
    en = c.request(site.url, "GET", "/fleet/silent", headers={**cookie, "Accept-Language": "de-DE,en;q=0.5"})
    asked = c.request(site.url, "GET", "/fleet/silent?lang=en", headers={**cookie, "Accept-Language": "zh-TW"})
    assert b'<html lang="zh-CN">' in zh.body and b'<html lang="en">' in en.body and b'<html lang="en">' in asked.body


def test_the_tables_show_the_apis_numbers_in_chromium(site: Site, browser: Chromium) -> None:
    page = browser.page()
    sign_in(page, site)
    api = site.api("/api/v1/fleet/terminals?limit=50").json()
    page.navigate(f"{site.url}/fleet/?lang=en")
    counts = page.evaluate(
        "Object.fromEntries(Array.from(document.querySelectorAll('.lights a')).map("
        "a => [a.dataset.light, Number(a.querySelector('.count').textContent)]))"
    )
    assert counts == api["counts"] and sum(counts.values()) == api["total"]
    rows = page.evaluate(
        "Array.from(document.querySelectorAll('table.terminals tbody tr')).map("
        "r => Array.from(r.cells).map(c => c.textContent))"
    )
    assert [r[1] for r in rows] == [t["terminal"] for t in api["terminals"]]
    assert [int(r[8]) for r in rows] == [t["records"] for t in api["terminals"]]
    assert [r[2] for r in rows] == [t["merchant"] or "—" for t in api["terminals"]]
    # A filter and a search: the same rows the API gives for the same query.
    page.navigate(f"{site.url}/fleet/?lang=en&light=warning&q=pos-000")
    shown = page.evaluate(
        "Array.from(document.querySelectorAll('table.terminals tbody tr td:nth-child(2)')).map(c => c.textContent)"
    )
    want = site.api("/api/v1/fleet/terminals?light=warning&q=pos-000").json()["terminals"]
    assert shown == [t["terminal"] for t in want]
    # Paging: 7 a page, the second page starts where the API's offset 7 does.
    page.navigate(f"{site.url}/fleet/?lang=en&limit=7")
    page.act("document.querySelector('a[rel=next]').click()")
    second = page.evaluate(
        "Array.from(document.querySelectorAll('table.terminals tbody tr td:nth-child(2)')).map(c => c.textContent)"
    )
    assert second == [t["terminal"] for t in site.api("/api/v1/fleet/terminals?limit=7&offset=7").json()["terminals"]]
    # Causes: the table under the chart holds the API's counts, day by day.
    by_cat = site.api("/api/v1/fleet/causes?by=category").json()
    page.navigate(f"{site.url}/fleet/causes?lang=en")
    table = page.evaluate(
        "Array.from(document.querySelectorAll('[data-numbers=category] tbody tr')).map("
        "r => Array.from(r.cells).map(c => c.textContent))"
    )
    series = [s for s in by_cat["series"] if any(s["counts"])]
    assert [r[0] for r in table] == by_cat["days"]
    for i, s in enumerate(series, 1):
        assert [int(r[i]) for r in table] == s["counts"], s["name"]
    # Paper: the ship list's merchants and rolls.
    paper = site.api("/api/v1/fleet/paper").json()
    page.navigate(f"{site.url}/fleet/paper?lang=en")
    ship = page.evaluate(
        "Array.from(document.querySelectorAll('table.ship tbody tr')).map(r => [r.cells[0].textContent,"
        " Number(r.cells[2].textContent)])"
    )
    assert ship == [[e["merchant"] or "—", e["rolls"]] for e in paper["ship"]] and ship
    assert page.errors() == []


def test_the_long_lists_show_a_page_at_a_time_in_chromium(site: Site, browser: Chromium) -> None:
    """Paper, service and silent: one row a page (the lists are longer),
    the next page's rows the next ones of the API's whole list, and back."""
    page = browser.page()
    sign_in(page, site)
    whole = {
        "paper": site.api("/api/v1/fleet/paper").json()["terminals"],
        "service": jlist(site.api("/api/v1/fleet/service")),
        "silent": jlist(site.api("/api/v1/fleet/silent")),
    }
    cells = "Array.from(document.querySelectorAll('table.{} tbody tr td:first-child')).map(c => c.textContent)"
    for name, rows in whole.items():
        ids = [x["terminal"] for x in rows]
        assert len(ids) > 1, (name, "the generated fleet has more than a page of one row")
        page.navigate(f"{site.url}/fleet/{name}?lang=en&limit=1")
        assert page.evaluate(cells.format(name)) == ids[:1], name
        assert page.evaluate("document.querySelector('a[rel=prev]')") is None
        page.act("document.querySelector('a[rel=next]').click()")
        assert page.evaluate(cells.format(name)) == ids[1:2], name
        shown = page.evaluate("document.querySelector('.pager .shown').textContent")
        assert shown == texts.text("fleet", "shown", "en", first=2, last=2, total=len(ids)), name
        assert (page.evaluate("document.querySelector('a[rel=next]')") is None) == (len(ids) == 2), name
        page.act("document.querySelector('a[rel=prev]').click()")
        assert page.evaluate(cells.format(name)) == ids[:1], name
        # The whole list fits a page of the default size here: no link onwards.
        page.navigate(f"{site.url}/fleet/{name}?lang=en")
        assert page.evaluate(cells.format(name)) == ids[:50], name
        assert page.evaluate("document.querySelector('a[rel=next]')") is None or len(ids) > 50
    # The API gives a page too when asked, the same rows.
    assert jlist(site.api("/api/v1/fleet/service?limit=2&page=2")) == whole["service"][2:4]
    assert jlist(site.api("/api/v1/fleet/silent?limit=3&offset=1")) == whole["silent"][1:4]
    assert site.api("/api/v1/fleet/paper?limit=2&page=2").json()["terminals"] == whole["paper"][2:4]
    assert site.api("/api/v1/fleet/silent?page=2").status == 400  # a page of what size
    assert page.errors() == []


def test_every_page_reads_on_a_360_px_phone_in_chromium(site: Site, browser: Chromium, tmp_path: Path) -> None:
    page = browser.page()
    page.viewport(360, 800)
    sign_in(page, site, "zh")
    for name in PAGES:
        for lang in ("zh", "en"):
            page.navigate(site.url + site.path(name, lang))
            width = page.evaluate("document.scrollingElement.scrollWidth")
            assert width <= 360, (name, lang, width)
        shot = page.screenshot(tmp_path / f"phone-{name}.png")
        print(f"{shot}: {name} page on a 360-px phone, in English")
    assert page.errors() == []


def test_hostile_ids_and_names_are_text_in_chromium(site: Site, browser: Chromium) -> None:
    page = browser.page()
    sign_in(page, site)
    mark = len(browser.events)
    for path in (
        "/fleet/?lang=en&limit=500",
        "/fleet/t/" + urllib.parse.quote(CRAFTED, safe="") + "?lang=en",
        "/fleet/t/" + site.hostile + "?lang=zh",
        "/fleet/training?lang=en",
        "/fleet/paper?lang=en",
        "/fleet/?lang=en&q=" + urllib.parse.quote(HOSTILE),
    ):
        page.navigate(site.url + path)
        assert page.evaluate("document.title") != "pwned", path
        assert page.evaluate("document.querySelectorAll('main script, main img').length") == 0, path
        assert page.evaluate("document.scripts.length") == 3, path  # uPlot, fleet.js, the data block
    page.navigate(site.url + "/fleet/t/" + urllib.parse.quote(CRAFTED, safe="") + "?lang=en")
    assert page.evaluate("document.querySelector('h1').textContent") == f"Terminal {CRAFTED}"
    assert HOSTILE in page.evaluate("document.querySelector('.facts').textContent")
    dialogs = [e for e in browser.events[mark:] if e.get("method") == "Page.javascriptDialogOpening"]
    assert dialogs == [] and page.errors() == []


def test_an_alert_is_acknowledged_with_its_button_in_chromium(site: Site, browser: Chromium) -> None:
    page = browser.page()
    sign_in(page, site, "en", "/fleet/alerts?open=1")
    open_before = jlist(site.api("/api/v1/fleet/alerts?open=1"))
    assert open_before, "the generated fleet raises alerts"
    page.act("document.querySelector('table.alerts tbody form button').click()")
    assert page.evaluate("location.pathname") == "/fleet/alerts"
    after = jlist(site.api("/api/v1/fleet/alerts"))
    acked = [a for a in after if a["id"] == open_before[0]["id"]][0]
    assert acked["acked_by"] == "alice"
    assert page.errors() == []


# -- the API ----------------------------------------------------------------------------------------------


def _rows(answer: c.Answer) -> list[list[str]]:
    assert answer.status == 200 and answer.headers["content-type"].startswith("text/csv"), answer.body[:200]
    return list(csv.reader(io.StringIO(answer.body.decode())))


@pytest.mark.pty
def test_every_list_as_json_and_csv_with_a_bearer_token(site: Site) -> None:
    api = "/api/v1/fleet/"
    entries = {
        "terminals": lambda d: d["terminals"],
        "causes": lambda d: d["days"],
        "training": lambda d: d["merchants"],
        "service": lambda d: d,
        "silent": lambda d: d,
        "alerts": lambda d: d,
    }
    for name, listed in entries.items():
        got = site.api(api + name)
        assert got.status == 200, (name, got.body[:200])
        data = json.loads(got.body)
        rows = _rows(site.api(api + name + "?format=csv"))
        assert len(rows) == 1 + len(listed(data)), name
        assert listed(data), f"the generated fleet has {name}"
    paper = site.api(api + "paper").json()
    ship = _rows(site.api(api + "paper?format=csv&list=ship"))
    assert ship[0] == ["merchant", "terminals", "rolls", "runs_out"] and len(ship) == 1 + len(paper["ship"])
    assert [r[2] for r in ship[1:]] == [str(e["rolls"]) for e in paper["ship"]]
    terminals = _rows(site.api(api + "paper?format=csv&list=terminals"))
    assert len(terminals) == 1 + len(paper["terminals"])
    # A merchant that a spreadsheet would take for a formula stays text.
    every = _rows(site.api(api + "terminals?format=csv&limit=1000"))
    assert not [r for r in every[1:] if r[1][:1] in "=+-@"]
    assert any(r[1] == HOSTILE for r in every)


@pytest.mark.pty
def test_the_api_wants_a_bearer_token_and_says_what_is_wrong(site: Site) -> None:
    for name in LISTS:
        none = c.request(site.url, "GET", f"/api/v1/fleet/{name}")
        assert none.status == 401 and none.json()["error"] == "operator", name
        cookie = c.request(site.url, "GET", f"/api/v1/fleet/{name}", headers={"Cookie": f"{COOKIE}={site.token}"})
        assert cookie.status == 401, name
        assert site.api(f"/api/v1/fleet/{name}", token="wrong").status == 401
    assert c.request(site.url, "POST", "/api/v1/fleet/alerts/1/ack").status == 401
    bad = site.api("/api/v1/fleet/terminals?light=purple")
    assert bad.status == 400 and bad.json()["error"] == "query"
    assert site.api("/api/v1/fleet/causes?days=0").status == 400
    missing = c.request(site.url, "POST", "/api/v1/fleet/alerts/999999/ack", headers=c.bearer(site.token))
    assert missing.status == 404


@pytest.mark.pty
def test_acknowledging_an_alert_over_the_api_keeps_the_first_name(site: Site) -> None:
    other = site.hub.store.add_operator("bob")
    alert = jlist(site.api("/api/v1/fleet/alerts?open=1"))[-1]
    first = c.request(site.url, "POST", f"/api/v1/fleet/alerts/{alert['id']}/ack", headers=c.bearer(site.token))
    assert first.status == 200 and first.json()["id"] == alert["id"]
    again = c.request(site.url, "POST", f"/api/v1/fleet/alerts/{alert['id']}/ack", headers=c.bearer(other))
    assert again.status == 200
    (now,) = [a for a in jlist(site.api("/api/v1/fleet/alerts")) if a["id"] == alert["id"]]
    assert now["acked_by"] == "alice"


@pytest.mark.pty
def test_every_answer_carries_the_strict_headers(site: Site) -> None:
    cookie = {"Cookie": f"{COOKIE}={site.token}"}
    answers = [
        c.request(site.url, "GET", "/fleet/?lang=en", headers=cookie),
        c.request(site.url, "GET", "/fleet/login"),
        c.request(site.url, "GET", "/fleet/paper.csv?list=ship", headers=cookie),
        site.api("/api/v1/fleet/silent"),
        site.api("/api/v1/fleet/silent?format=csv"),
        c.request(site.url, "GET", "/api/v1/fleet/silent"),
    ]
    for a in answers:
        assert a.headers["content-security-policy"] == CSP
        assert a.headers["x-content-type-options"] == "nosniff"
        assert a.headers["cache-control"] == "no-store"
        assert "x-posdiag-hub-time" in a.headers
    page = answers[0].body.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)", page)  # no inline script
    assert not re.search(r"<[^>]*\s(style|on[a-z]+)=", page)  # no inline style or handler in any tag
    static = c.request(site.url, "GET", "/fleet/static/fleet.js")
    assert static.status == 200 and "max-age=31536000" in static.headers["cache-control"]
    assert static.headers["content-type"].startswith("text/javascript")
    assert c.request(site.url, "GET", "/fleet/static/README.md").status == 404
    assert c.request(site.url, "GET", "/fleet/static/..%2Fweb.py").status == 404
