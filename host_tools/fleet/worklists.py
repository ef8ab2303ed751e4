"""The fleet pages of lists an operator acts on (docs/fleet.md): paper to
ship and when each terminal runs out, merchants to train, terminals to
service, silent terminals, alerts (and acknowledging one), and each list as
a CSV download. The long lists (terminals running out of paper, service,
silent) show a page of rows at a time, read a page at a time."""

from __future__ import annotations

import urllib.parse

from starlette.responses import RedirectResponse, Response

from host_tools.fleet.export import LISTS, csv_of, csv_response, list_data
from host_tools.fleet.layout import Context, page, pager, reason_value, table
from host_tools.fleet.webkit import ALERT_ID, HubPart, answer_headers, day, esc, num, paging, sub, when
from host_tools.hub import app as hubapp


def heads(c: Context, *keys: str) -> list[str]:
    """A table's column heads, from their [fleet] labels."""
    return [esc(c.t(k)) for k in keys]


def csv_link(c: Context, path: str, **params: object) -> str:
    return f'<p><a class="csv" href="{c.href(path, **params)}">{esc(c.t("csv"))}</a></p>'


def paged_table(
    c: Context, name: str, head: list[str], rows: list[list[str]], page_no: int, limit: int, total: int, **csv: str
) -> str:
    """One page of a long list: its table, the pager and the CSV of the whole list."""
    return (
        table(head, rows, name, c.t("none"))
        + pager(c, f"/fleet/{name}", {}, page_no, limit, len(rows), total)
        + csv_link(c, f"/fleet/{name}.csv", **csv)
    )


class Worklists(HubPart):
    """Paper, training, service, silent terminals, alerts; a list's CSV."""

    async def paper(self, c: Context) -> Response:
        page_no, limit = paging(c.request)
        got = await self.db(self.fleet.paper, limit, (page_no - 1) * limit)
        s = got["settings"]
        ship = [
            [
                esc(e["merchant"]),
                " ".join(c.terminal_link(x) for x in e["terminals"]),
                esc(e["rolls"]),
                day(e["runs_out"]),
            ]
            for e in got["ship"]
        ]
        terminals = [
            [
                c.terminal_link(e["terminal"]),
                esc(e["merchant"]),
                num(e["per_day_m"]),
                num(e["left_m"]),
                day(e["runs_out"]),
                num(e["days_left"]),
            ]
            for e in got["terminals"]
        ]
        body = (
            f'<p class="settings">{esc(c.t("paper_settings", **s))}</p>'
            f"<h2>{esc(c.t('ship_list'))}</h2>"
            + table(heads(c, "col_merchant", "col_terminals", "col_rolls", "paper_runs_out"), ship, "ship", c.t("none"))
            + csv_link(c, "/fleet/paper.csv", list="ship")
            + f"<h2>{esc(c.t('paper_terminals'))}</h2>"
            + paged_table(
                c,
                "paper",
                heads(
                    c,
                    "col_terminal",
                    "col_merchant",
                    "paper_per_day",
                    "paper_left",
                    "paper_runs_out",
                    "paper_days_left",
                ),
                terminals,
                page_no,
                limit,
                got["total"],
                list="terminals",
            )
        )
        return page(c, c.t("title_paper"), body, "paper")

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
                    num(m["rate"] * 100),
                    num(m["ratio"]),
                    f'<ul class="topics">{topics}</ul>',
                ]
            )
        head = heads(
            c,
            "col_merchant",
            "col_terminals",
            "col_records",
            "col_events",
            "col_rate",
            "col_ratio",
            "col_train",
        )
        body = (
            f'<p class="norm">{esc(c.t("norm", rate=num(got["norm"] * 100)))}</p>'
            + table(head, rows, "training", c.t("none"))
            + csv_link(c, "/fleet/training.csv")
        )
        return page(c, c.t("title_training"), body, "training")

    async def service(self, c: Context) -> Response:
        page_no, limit = paging(c.request)
        got = await self.db(self.fleet.service_page, limit, (page_no - 1) * limit)
        rows = [
            [
                c.terminal_link(s["terminal"]),
                esc(s["merchant"]),
                esc(s["model"]),
                num(s["urgency"], 2),
                '<ul class="reasons">'
                + "".join(
                    f"<li>{esc(sub('reason', x['id'], c.lang))}: {esc(reason_value(x, c.lang))}</li>"
                    for x in s["reasons"]
                )
                + "</ul>",
            ]
            for s in got["service"]
        ]
        head = heads(c, "col_terminal", "col_merchant", "col_model", "col_urgency", "col_reasons")
        body = paged_table(c, "service", head, rows, page_no, limit, got["total"])
        return page(c, c.t("title_service"), body, "service")

    async def silent(self, c: Context) -> Response:
        page_no, limit = paging(c.request)
        got = await self.db(self.fleet.silent_page, limit, (page_no - 1) * limit)
        rows = [
            [
                c.terminal_link(s["terminal"]),
                esc(s["merchant"]),
                when(s["last_seen"]),
                num(s["silent_h"]),
            ]
            for s in got["silent"]
        ]
        head = heads(c, "col_terminal", "col_merchant", "col_last_seen", "col_silent_h")
        body = paged_table(c, "silent", head, rows, page_no, limit, got["total"])
        return page(c, c.t("title_silent"), body, "silent")

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
                    c.terminal_link(where) if where else "—",
                    esc(a["model"]),
                    esc(a["cause"]),
                    when(a["raised"]),
                    esc(detail),
                    esc(c.t("yes") if a["delivered"] else c.t("no")),
                    state,
                ]
            )
        head = heads(
            c,
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
        switch = (
            f'<a href="{c.href("/fleet/alerts")}">{esc(c.t("all"))}</a>'
            if open_only
            else f'<a href="{c.href("/fleet/alerts", open=1)}">{esc(c.t("open_only"))}</a>'
        )
        body = (
            f'<p class="switch">{switch}</p>'
            + table(head, rows, "alerts", c.t("none"))
            + csv_link(c, "/fleet/alerts.csv")
        )
        return page(c, c.t("title_alerts"), body, "alerts")

    async def ack(self, c: Context) -> Response:
        alert = str(c.request.path_params["alert"])
        if not ALERT_ID.fullmatch(alert) or not await self.db(self.fleet.ack, alert, c.operator):
            raise hubapp.Refusal(404, "unknown-alert", "no such alert")
        return RedirectResponse(f"/fleet/alerts?lang={c.lang}", 303, headers=answer_headers())

    async def csv(self, c: Context) -> Response:
        name = str(c.request.path_params["name"])
        if name not in LISTS:
            raise hubapp.Refusal(404, "not-found", "no such list")
        data, which = await list_data(self.hub, c.request, name)
        return csv_response(*csv_of(name, data, which))
