"""The operator's fleet pages and the fleet API (docs/fleet.md), mounted.

Pages under /fleet/, in English and Chinese (``?lang=``, else the browser's
Accept-Language), every label from ``[fleet]`` in host_tools/lang/*.toml:
the traffic lights now, one terminal, causes over time (overview.py),
paper, training, service, silent terminals and alerts (worklists.py). An
operator signs in once at /fleet/login (session.py); every page passes the
sign-in and same-origin guard. Pages are built of layout.py's frame, tables
and charts, with webkit.py's escaping, labels and links. The API
(/api/v1/fleet/..., api.py) answers the same lists as JSON, or CSV with
``?format=csv``, to a bearer token (export.py).

This module only puts them together (`fleet_routes`, which hub/app.py's
make_app mounts) and serves the static files (fleet.css, fleet.js, the
vendored uPlot), cached for a year: their links carry each file's hash.

Layers point one way: webkit <- layout <- session, export <- overview,
worklists, api <- web."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from host_tools.fleet.api import FleetApi
from host_tools.fleet.export import LISTS
from host_tools.fleet.layout import static_file
from host_tools.fleet.overview import Overview
from host_tools.fleet.session import COOKIE, Handler, Session
from host_tools.fleet.webkit import CSP, answer_headers
from host_tools.fleet.worklists import Worklists

if TYPE_CHECKING:
    from host_tools.hub.app import Hub

__all__ = ["CSP", "COOKIE", "LISTS", "fleet_routes"]

STATIC = {
    "fleet.css": "text/css; charset=utf-8",
    "fleet.js": "text/javascript; charset=utf-8",
    "uPlot.min.css": "text/css; charset=utf-8",
    "uPlot.iife.min.js": "text/javascript; charset=utf-8",
}
STATIC_CACHE = "public, max-age=31536000, immutable"  # links carry the file's hash


async def static(request: Request) -> Response:
    """A static file of STATIC, else 404."""
    name = request.path_params["name"]
    if name not in STATIC:
        return Response("not found\n", 404, media_type="text/plain; charset=utf-8")
    data, _ = static_file(name)
    return Response(data, 200, media_type=STATIC[name], headers=answer_headers({"Cache-Control": STATIC_CACHE}))


def fleet_routes(hub: Hub) -> list[BaseRoute]:
    """The fleet pages', their static files' and the fleet API's routes."""
    session, overview, worklists, api = Session(hub), Overview(hub), Worklists(hub), FleetApi(hub)
    prefix = "/api/v1/fleet"
    pages: list[tuple[str, Handler]] = [
        ("/fleet/", overview.now),
        ("/fleet/t/{terminal:path}", overview.terminal),
        ("/fleet/causes", overview.causes),
        ("/fleet/paper", worklists.paper),
        ("/fleet/training", worklists.training),
        ("/fleet/service", worklists.service),
        ("/fleet/silent", worklists.silent),
        ("/fleet/alerts", worklists.alerts),
    ]
    out: list[BaseRoute] = [Route(path, session.guarded(fn), methods=["GET", "HEAD"]) for path, fn in pages]
    out += [
        Route("/fleet/{name}.csv", session.guarded(worklists.csv), methods=["GET"]),
        Route("/fleet/alerts/{alert}/ack", session.guarded(worklists.ack, post=True), methods=["POST"]),
        Route("/fleet/login", session.login_form, methods=["GET", "HEAD"]),
        Route("/fleet/login", session.login, methods=["POST"]),
        Route("/fleet/logout", session.logout, methods=["POST"]),
        Route("/fleet/static/{name}", static, methods=["GET", "HEAD"]),
        Route(prefix + "/alerts/{alert}/ack", api.ack, methods=["POST"]),
    ]
    out += [Route(f"{prefix}/{name}", api.get_list, methods=["GET"], name=f"fleet-{name}") for name in LISTS]
    return out
