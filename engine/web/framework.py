"""What every page shares: templates, the session check, permissions, CSRF, security headers, error pages.

A handler is written as `async def handler(ctx: Ctx) -> Response` and wrapped by `Web.page(...)`, which
resolves the session (or sends the browser to /login), checks the role's permission, refuses a POST
without the session's CSRF token, and turns any failure into a plain page: a person at a ward never sees a
traceback. Blocking work runs on threads: reads on a small pool of their own, writes to the log on the
server's single writer thread (`Service.run`), so pages never stall the event loop that reads MLLP frames.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.exc import OperationalError
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from engine.app import App
from engine.logs import get_logger
from engine.web import access_log, formatting, sessions
from engine.web.ratelimit import LoginThrottle
from engine.web.roles import PERMISSIONS, Permission, allowed
from engine.web.wording import words

HERE = Path(__file__).resolve().parent
MAX_QUERY = 2000
"""Longest query string accepted; longer ones get 414 (nothing legitimate is that long)."""
MAX_FORM = 64 * 1024
"""Largest form body accepted; larger ones get 413."""
LOGIN_CSRF_COOKIE = "itpwatch_login_csrf"
RETRY_DELAYS = (0.1, 0.3, 1.0)
"""Waits before running a page again after a database lock conflict."""

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

log = get_logger("itpwatch.web")


class PageError(Exception):
    """A failure to show as a page with its own status: unknown patient, bad parameter."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


@dataclass
class Ctx:
    """One request as a handler sees it: the session, the form (for POST) and helpers to render and run."""

    web: Web
    request: Request
    session: sessions.Session | None
    form: FormData | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)

    @property
    def user(self) -> str:
        return self.session.username if self.session else "-"

    @property
    def role(self) -> str:
        return self.session.role if self.session else ""

    def can(self, permission: Permission | str) -> bool:
        return self.session is not None and allowed(self.session.role, Permission(permission))

    def param(self, name: str, default: str = "", max_len: int = 200) -> str:
        value = self.request.query_params.get(name, default)
        if len(value) > max_len:
            raise PageError(400, "Search text too long", f"'{name}' may be at most {max_len} characters.")
        return value.strip()

    def field(self, name: str, default: str = "", max_len: int = 2000) -> str:
        value = self.form.get(name, default) if self.form is not None else default
        if not isinstance(value, str):
            raise PageError(400, "Form not understood", f"'{name}' must be text.")
        if len(value) > max_len:
            raise PageError(400, "Text too long", f"'{name}' may be at most {max_len} characters.")
        return value.strip()

    def render(self, template: str, status: int = 200, **values: Any) -> Response:
        return self.web.render(self.request, template, status=status, session=self.session, **values)

    async def read(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await self.web.read(fn, *args)

    async def write(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await self.web.write(fn, *args)

    async def audit(self, action: str, *, patient: str | None = None, target: str | None = None,
                    detail: str | None = None) -> None:
        await self.web.audit(self.request, self.user, self.role, action, patient=patient, target=target,
                             detail=detail)


Handler = Callable[[Ctx], Awaitable[Response]]


class Web:
    """The web app's shared state inside one `serve` process."""

    def __init__(self, service: Any) -> None:
        self.service = service
        self.app: App = service.app
        settings = self.app.settings
        self.idle_minutes: int = settings.web_session_idle_minutes
        self.max_hours: int = settings.web_session_max_hours
        self.throttle = LoginThrottle(settings.web_login_attempts, timedelta(minutes=settings.web_login_window_minutes))
        self.readers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="itpwatch-web")
        self.templates = Environment(loader=FileSystemLoader(HERE / "templates"),
                                     autoescape=select_autoescape(default=True, default_for_string=True),
                                     trim_blocks=True, lstrip_blocks=True)
        tz = self.app.tzinfo
        self.templates.filters.update({
            "local": partial(formatting.local_time, tz=tz),
            "day": partial(formatting.local_date, tz=tz),
            "count": formatting.count,
            "days": formatting.days,
            "describe": words,
        })
        self.templates.globals.update({"Permission": Permission, "PERMISSIONS": PERMISSIONS, "quote": quote})

    def now(self) -> datetime:
        return self.app.clock.now()

    async def read(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.readers, fn, *args)

    async def write(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await self.service.run(fn, *args)

    async def audit(self, request: Request, username: str, role: str | None, action: str, *,
                    patient: str | None = None, target: str | None = None, detail: str | None = None) -> None:
        client = request.client.host if request.client else None
        await self.read(partial(access_log.record, self.app.store, at=self.now(), username=username, role=role,
                                action=action, patient=patient, target=target, detail=detail, client=client))

    # -- rendering -----------------------------------------------------------------------------------
    def render(self, request: Request, template: str, *, status: int = 200,
               session: sessions.Session | None = None, **values: Any) -> Response:
        now = self.now()
        page = self.templates.get_template(template).render(
            request=request, session=session, now=now, tz_label=formatting.offset_name(self.app.tzinfo, now),
            can=lambda p: session is not None and allowed(session.role, Permission(p)),
            path=request.url.path, **values)
        return secure(HTMLResponse(page, status_code=status), request)

    def error_page(self, request: Request, status: int, title: str, message: str,
                   session: sessions.Session | None = None, headers: dict[str, str] | None = None) -> Response:
        response = self.render(request, "error.html", status=status, session=session, title=title, message=message)
        for key, value in (headers or {}).items():
            response.headers[key] = value
        return response

    # -- the wrapper ---------------------------------------------------------------------------------
    def page(self, handler: Handler, permission: Permission | None = None, *, public: bool = False
             ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            started = time.perf_counter()
            session: sessions.Session | None = None
            try:
                if len(request.url.query) > MAX_QUERY:
                    return self.error_page(request, 414, "Address too long",
                                           "The address of this page is too long. Go back and shorten the search.")
                if not public:
                    token = request.cookies.get(sessions.COOKIE)
                    session, refusal = await self.read(sessions.resume, self.app.store, token, self.now(),
                                                       self.idle_minutes)
                    if session is None:
                        return self._to_login(request, refusal)
                    if permission is not None and not allowed(session.role, permission):
                        await self.audit(request, session.username, session.role, "refused",
                                         target=request.url.path[:300])
                        return self.error_page(request, 403, "Not available to your role",
                                               f"Your role ({session.role}) may not open this page. "
                                               "Ask an administrator if you need it.", session)
                ctx = Ctx(self, request, session)
                if request.method == "POST":
                    refused = await self._check_post(ctx)
                    if refused is not None:
                        return refused
                response = await self._with_retry(handler, ctx)
                for key, value in ctx.extra_headers.items():
                    response.headers[key] = value
                return response
            except PageError as exc:
                return self.error_page(request, exc.status, exc.title, exc.message, session)
            except OperationalError as exc:
                log.warning("web page: database busy", path=request.url.path, exc_type=type(exc).__name__)
                return self.error_page(request, 503, "The database is busy",
                                       "itpwatch is storing a large batch of messages. Nothing was changed; try "
                                       "again in a moment.", session, headers={"Retry-After": "5"})
            except Exception as exc:  # a page, never a traceback; the log says what failed, without data
                log.error("web page failed", path=request.url.path, exc_type=type(exc).__name__)
                return self.error_page(request, 500, "Something went wrong",
                                       f"This page could not be shown ({type(exc).__name__}). Nothing was changed "
                                       "by it; try again, and tell the administrators if it persists.", session)
            finally:
                log.debug("web page", path=request.url.path, ms=round((time.perf_counter() - started) * 1000, 1))

        return endpoint

    async def _with_retry(self, handler: Handler, ctx: Ctx) -> Response:
        """Run the handler, again when SQLite reported a lock conflict with another writer of the process
        (the alert dispatcher, a bulk import): such a conflict rolled the whole transaction back, so a
        second run repeats nothing. Handlers write at most one thing before their access-log row."""
        for delay in RETRY_DELAYS:
            try:
                return await handler(ctx)
            except OperationalError as exc:
                if not _is_lock_conflict(exc):
                    raise
                log.info("web page: lock conflict, running it again", path=ctx.request.url.path)
                await asyncio.sleep(delay)
        return await handler(ctx)

    def _to_login(self, request: Request, refusal: sessions.Refusal) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":
            target = "/"
        query = f"next={quote(target, safe='')}"
        if refusal != sessions.Refusal.NONE:
            query += f"&why={refusal.value}"
        response = RedirectResponse(f"/login?{query}", status_code=303)
        if refusal != sessions.Refusal.NONE:
            response.delete_cookie(sessions.COOKIE, path="/")
        return secure(response, request)

    async def _check_post(self, ctx: Ctx) -> Response | None:
        request = ctx.request
        if not same_origin(request):
            return self.error_page(request, 403, "Form refused", "The form came from another site and was not "
                                   "accepted.", ctx.session)
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_FORM:
            return self.error_page(request, 413, "Form too large", "The form was too large to accept.", ctx.session)
        ctx.form = await request.form(max_files=0, max_fields=2000)
        token = ctx.form.get("csrf")
        expected = ctx.session.csrf if ctx.session else request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not expected or not sessions.csrf_matches(expected, token if isinstance(token, str) else None):
            return self.error_page(request, 403, "Form expired",
                                   "The form was missing its security token or it was out of date. Reload the page "
                                   "and submit it again.", ctx.session)
        return None


def _is_lock_conflict(exc: OperationalError) -> bool:
    text = str(exc.orig).lower()
    return "locked" in text or "busy" in text


def same_origin(request: Request) -> bool:
    """A POST whose Origin (or Referer) names another host is refused; browsers send one of them."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host", request.url.netloc)


def secure(response: Response, request: Request) -> Response:
    for key, value in SECURITY_HEADERS.items():
        response.headers.setdefault(key, value)
    return response


def new_login_csrf() -> str:
    return secrets.token_urlsafe(32)


def cookie_secure(request: Request) -> bool:
    """Secure cookies when the page was served over TLS (directly or, as configured, behind a proxy)."""
    return request.url.scheme == "https"
