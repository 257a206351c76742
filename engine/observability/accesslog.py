"""The HTTP access log of `serve`: one line per request with method, route, status and duration.

The route is the template the request matched (`/fhir/{resource_type}`, `/patients/{mrn}`), never the
path itself, so no identifier reaches the log; an unmatched path is logged as "-". Probes of load
balancers and Prometheus (/health/*, /metrics) are logged at debug level only.
"""

from __future__ import annotations

import time
from typing import Any

from engine.logs import get_logger

log = get_logger("itpwatch.http.access")

QUIET_PREFIXES = ("/health/", "/metrics")

Scope = dict[str, Any]


class AccessLog:
    """Pure ASGI middleware (so streaming responses and websockets pass through untouched)."""

    def __init__(self, app: Any, metrics: Any | None = None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app fails before it answers

        async def send_and_note(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            elapsed = time.perf_counter() - started
            route = route_of(scope)
            method = str(scope.get("method", "-"))
            if self.metrics is not None:
                self.metrics.http.labels(method, route, str(status)).observe(elapsed)
            emit = log.debug if route.startswith(QUIET_PREFIXES) else log.info
            emit("http request", method=method, path=route, status=status, elapsed_ms=round(elapsed * 1000, 2))


def route_of(scope: Scope) -> str:
    """The matched route's template, with the prefix of a mounted app; '-' when nothing matched."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not isinstance(template, str):
        return "-"
    return f"{scope.get('root_path', '')}{template}"
