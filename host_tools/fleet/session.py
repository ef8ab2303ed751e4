"""Who may use the fleet pages (docs/fleet.md): an operator signs in once at
/fleet/login with the bearer token `posdiag hub token add` printed; the
token is kept in an HttpOnly, SameSite=Strict cookie (Secure over https),
checked on every request as a bearer token is. A POST is taken only from a
page of this host (its Origin, or failing that its Referer). `guarded`
wraps a page handler in both checks; a refusal becomes an error page."""

from __future__ import annotations

import urllib.parse
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from host_tools.fleet.layout import Context, frame
from host_tools.fleet.webkit import HubPart, answer_headers, esc, href, pick_lang, t
from host_tools.hub import app as hubapp

COOKIE = "posdiag_fleet"
COOKIE_MAX_AGE_S = 12 * 3600
MAX_FORM = 4096  # bytes of a login or acknowledgement form

Handler = Callable[[Context], Awaitable[Response]]


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


class Session(HubPart):
    """The sign-in cookie, the same-origin check, and the login and logout forms."""

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
                    return RedirectResponse(target, 303, headers=answer_headers())
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
        return HTMLResponse(page, e.status, headers=answer_headers(e.headers))

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
        return HTMLResponse(page, status, headers=answer_headers())

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
        answer = RedirectResponse(target, 303, headers=answer_headers())
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
        answer = RedirectResponse(f"/fleet/login?lang={lang}", 303, headers=answer_headers())
        answer.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=request.url.scheme == "https")
        return answer
