"""The fleet pages that show its state (docs/fleet.md): the traffic lights
now (filters, search, pages of terminals), one terminal (its facts,
readings charted, findings, service reasons, timeline) and causes over
time (by category and by cause, for a model or firmware)."""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable

from starlette.responses import Response

from host_tools import texts
from host_tools.fleet.layout import SYMBOLS, Context, chart, light_html, page, pager, reason_value, table
from host_tools.fleet.webkit import (
    LIGHTS,
    MAX_QUERY,
    HubPart,
    day,
    esc,
    num,
    paging,
    query_int,
    query_value,
    sub,
    when,
)
from host_tools.hub import app as hubapp

DAY_CHOICES = (7, 30, 90)


class Overview(HubPart):
    """The traffic lights now, one terminal, causes over time."""

    async def now(self, c: Context) -> Response:
        request = c.request
        light = query_value(request, "light", LIGHTS)
        q = query_value(request, "q")
        model = query_value(request, "model")
        firmware = query_value(request, "firmware")
        page_no, limit = paging(request)
        got = await self.db(self.fleet.terminals, light, q, model, firmware, limit, (page_no - 1) * limit)
        options = await self.db(self.fleet.choices)
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
                c.terminal_link(row["terminal"]),
                esc(row["merchant"]),
                esc(row["top_cause"]),
                esc(None if row["category"] is None else texts.word("category", row["category"], c.lang)),
                esc(row["model"]),
                esc(row["firmware"]),
                when(row["last_seen"]),
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
        csv_link = c.href("/fleet/terminals.csv", **filters)
        body = (
            f'<ul class="lights" aria-label="{esc(c.t("lights"))}">{"".join(lights)}</ul>{form}'
            + table(head, rows, "terminals", c.t("none"))
            + pager(c, "/fleet/", dict(filters), page_no, limit, len(rows), total)
            + f'<p><a class="csv" href="{csv_link}">{esc(c.t("csv"))}</a></p>'
        )
        return page(c, c.t("title_now"), body, "now", {"counts": got["counts"], "total": total})

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
            (c.t("col_last_seen"), when(got["last_seen"])),
            (c.t("col_records"), esc(got["records"])),
            (c.t("receipts_on_hub"), esc(got["receipts"]["on_hub"])),
            (c.t("receipts_pending"), esc(got["receipts"]["pending_on_terminal"])),
            (c.t("paper_per_day"), num(got["paper"]["per_day_m"])),
            (c.t("paper_left"), num(got["paper"]["left_m"])),
            (c.t("paper_runs_out"), day(got["paper"]["runs_out"])),
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
            f"<li>{esc(sub('reason', x['id'], lang))}: {esc(reason_value(x, lang))}</li>" for x in got["service"]
        )
        timeline = [
            [
                esc(x["seq"]),
                when(x["time"]),
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
        return page(c, title, body, None, {"charts": charts if x else {}, "lang": lang})

    async def causes(self, c: Context) -> Response:
        request = c.request
        days = query_int(request, "days", 30, 1, 366)
        model = query_value(request, "model")
        firmware = query_value(request, "firmware")
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
        return page(c, c.t("title_causes"), body, "causes", {"charts": charts, "lang": c.lang})


def _day_unix(text: str) -> int:
    """A YYYY-MM-DD day as the Unix time of its start (UTC)."""
    return calendar.timegm(time.strptime(text, "%Y-%m-%d"))
