"""Log-in and log-out. The log-in form carries its own CSRF token (a cookie and a hidden field that must
match), since there is no session yet; failed attempts are throttled and written to the access log."""

from __future__ import annotations

from functools import partial
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from engine.web import accounts, sessions
from engine.web.framework import LOGIN_CSRF_COOKIE, Ctx, Web, cookie_secure, new_login_csrf, secure
from engine.web.roles import home_of

WHY = {
    "expired": "Your session expired. Please log in again.",
    "ended": "You were logged out. Log in again to continue.",
    "unknown": "Your session is not valid (it may have been ended on the server). Please log in again.",
    "disabled": "Your account has been disabled. Ask an administrator.",
}


def safe_next(target: str) -> str:
    """Only a path of this site: an open redirect to another host would help a phishing page."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def login_form(web: Web, request: Request, *, status: int = 200, error: str | None = None,
               username: str = "") -> Response:
    token = new_login_csrf()
    next_path = safe_next(request.query_params.get("next", "/")[:500])
    notice = WHY.get(request.query_params.get("why", ""))
    response = web.render(request, "login.html", status=status, csrf=token, next_path=next_path, error=error,
                          notice=notice, username=username)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=cookie_secure(request),
                        path="/login", max_age=3600)
    return response


async def login_page(ctx: Ctx) -> Response:
    token = ctx.request.cookies.get(sessions.COOKIE)
    if token:
        session, _ = await ctx.read(sessions.resume, ctx.web.app.store, token, ctx.web.now(), ctx.web.idle_minutes)
        if session is not None:
            return secure(RedirectResponse(home_of(session.role), status_code=303), ctx.request)
    return login_form(ctx.web, ctx.request)


async def login_submit(ctx: Ctx) -> Response:
    web, request = ctx.web, ctx.request
    username = ctx.field("username", max_len=100)
    password = ctx.field("password", max_len=1000)
    client = request.client.host if request.client else "unknown"
    keys = [f"user:{username.lower()}", f"addr:{client}"]
    now = web.now()
    wait = web.throttle.wait(keys, now)
    if wait is not None:
        minutes = max(1, int(wait.total_seconds() // 60) + 1)
        return login_form(web, request, status=429, username=username,
                          error=f"Too many failed log-ins. Wait {minutes} minute{'s' if minutes > 1 else ''} "
                                "and try again.")
    user = await ctx.read(accounts.authenticate, web.app.store, username, password)
    if user is None:
        web.throttle.failed(keys, now)
        await web.audit(request, username or "-", None, "login-failed")
        return login_form(web, request, status=401, username=username,
                          error="User name or password not recognised (or the account is disabled).")
    web.throttle.succeeded(keys)
    token = await ctx.read(partial(sessions.start, web.app.store, user.username, now, web.max_hours))
    await web.audit(request, user.username, user.role, "login")
    target = safe_next(ctx.field("next", "/", max_len=500))
    if target == "/":
        target = home_of(user.role)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(sessions.COOKIE, token, httponly=True, samesite="strict", secure=cookie_secure(request),
                        path="/", max_age=web.max_hours * 3600)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return secure(response, request)


async def logout_page(ctx: Ctx) -> Response:
    return ctx.render("logout.html", csrf=ctx.session.csrf if ctx.session else "")


async def logout_submit(ctx: Ctx) -> Response:
    token = ctx.request.cookies.get(sessions.COOKIE)
    if token:
        await ctx.read(sessions.end, ctx.web.app.store, token, ctx.web.now())
        await ctx.audit("logout")
    response = RedirectResponse("/login?why=ended", status_code=303)
    response.delete_cookie(sessions.COOKIE, path="/")
    return secure(response, ctx.request)
