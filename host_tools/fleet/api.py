"""The fleet API (docs/fleet.md): /api/v1/fleet/<list> answers the same lists
as the pages, as JSON or, with ``?format=csv``, as CSV, to a bearer token;
an alert is acknowledged with a POST. A refusal is a JSON error."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from host_tools.fleet.export import csv_of, csv_response, list_data
from host_tools.fleet.webkit import ALERT_ID, HubPart, json_response, query_value, refusal_response
from host_tools.hub import app as hubapp


class FleetApi(HubPart):
    """A list (its name the path's last part) and an alert's acknowledgement."""

    async def get_list(self, request: Request) -> Response:
        name = request.url.path.rsplit("/", 1)[-1]
        try:
            await self.hub.operator(request)
            fmt = query_value(request, "format", ("json", "csv")) or "json"
            data, which = await list_data(self.hub, request, name)
        except hubapp.Refusal as e:
            return refusal_response(request, e)
        if fmt == "csv":
            return csv_response(*csv_of(name, data, which))
        return json_response(data)

    async def ack(self, request: Request) -> Response:
        try:
            operator = await self.hub.operator(request)
            alert = str(request.path_params["alert"])
            if not ALERT_ID.fullmatch(alert) or not await self.db(self.fleet.ack, alert, operator):
                raise hubapp.Refusal(404, "unknown-alert", "no such alert")
        except hubapp.Refusal as e:
            return refusal_response(request, e)
        return json_response({"id": alert, "acked": True})
