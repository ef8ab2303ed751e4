"""The fleet's lists as the API and the CSV downloads hand them out
(docs/fleet.md): a list's data by a request's query (the whole list, or
with ?limit= a page of it), and its CSV (a header row, one row per entry;
text a spreadsheet would take for a formula made harmless)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from host_tools.fleet.queries import TERMINAL_ROW
from host_tools.fleet.webkit import LIGHTS, answer_headers, query_int, query_value
from host_tools.hub import app as hubapp

if TYPE_CHECKING:
    from host_tools.hub.app import Hub

LISTS = ("terminals", "causes", "paper", "training", "service", "silent", "alerts")
PAPER_ROWS = 500  # terminals the paper list gives without ?limit= (the soonest to run out)


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
        keys = list(TERMINAL_ROW)
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


def csv_response(filename: str, text: str) -> Response:
    """A CSV as a download."""
    disposition = f'attachment; filename="{filename}"'
    return Response(
        text, 200, media_type="text/csv; charset=utf-8", headers=answer_headers({"Content-Disposition": disposition})
    )


async def list_data(hub: Hub, request: Request, name: str) -> tuple[Any, str | None]:
    """A list's data by the request's query (the API's and the pages' CSV)."""
    fleet = hub.fleet
    if name == "terminals":
        limit = query_int(request, "limit", 100, 1, 10_000)
        offset = query_int(request, "offset", 0, 0, 10_000_000)
        args = (
            query_value(request, "light", LIGHTS),
            query_value(request, "q"),
            query_value(request, "model"),
            query_value(request, "firmware"),
            limit,
            offset,
        )
        return await hub.db(fleet.terminals, *args), None
    if name == "causes":
        args2 = (
            query_int(request, "days", 30, 1, 366),
            query_value(request, "by", ("category", "cause")) or "category",
            query_value(request, "model"),
            query_value(request, "firmware"),
        )
        return await hub.db(fleet.causes, *args2), None
    if name == "paper":
        which = query_value(request, "list", ("ship", "terminals")) or "ship"
        rows, start = _window(request)
        return await hub.db(fleet.paper, PAPER_ROWS if rows is None else rows, start), which
    if name == "alerts":
        return await hub.db(fleet.alerts, request.query_params.get("open") == "1"), None
    if name in ("service", "silent"):
        return await hub.db(getattr(fleet, name), *_window(request)), None
    return await hub.db(getattr(fleet, name)), None


def _window(request: Request) -> tuple[int | None, int]:
    """The rows of a list asked for: (limit, offset) from ?limit= with
    ?offset= or ?page= (from 1); (None, 0), the whole list, without limit."""
    limit = query_int(request, "limit", 0, 1, 10_000)
    if not limit:
        if any(request.query_params.get(k) for k in ("offset", "page")):
            raise hubapp.Refusal(400, "query", "offset and page go with limit")
        return None, 0
    offset = query_int(request, "offset", 0, 0, 10_000_000)
    page = query_int(request, "page", 0, 1, 1_000_000)
    if page and offset:
        raise hubapp.Refusal(400, "query", "offset or page, not both")
    return limit, offset or max(page - 1, 0) * limit
