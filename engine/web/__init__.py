"""The clinician web app served by `itpwatch serve` beside the machine APIs: server-rendered pages,
session log-in, roles, CSRF, an access log. docs/web.md describes the pages and the role table.
"""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from engine.web.framework import HERE, Web
from engine.web.roles import Permission

PAGE_PATHS = ("/", "/login", "/logout", "/patients", "/report", "/dead-letters", "/audit", "/static")
"""The URL prefixes the web app owns; everything else stays with the machine APIs."""


def web_routes(service: Any) -> list[BaseRoute]:
    """The routes of the web app for `serve`'s Starlette application."""
    from engine.web import routes_auth, routes_clinical, routes_ops, routes_report

    web = Web(service)
    page = web.page
    return [
        Route("/", page(routes_clinical.worklist, Permission.VIEW_WORKLIST), methods=["GET"]),
        Route("/", page(routes_clinical.acknowledge, Permission.ACK_ALERT), methods=["POST"]),
        Route("/login", page(routes_auth.login_page, public=True), methods=["GET"]),
        Route("/login", page(routes_auth.login_submit, public=True), methods=["POST"]),
        Route("/logout", page(routes_auth.logout_page), methods=["GET"]),
        Route("/logout", page(routes_auth.logout_submit), methods=["POST"]),
        Route("/patients", page(routes_clinical.patients, Permission.VIEW_PATIENTS), methods=["GET"]),
        Route("/patients/{mrn:path}", page(routes_clinical.patient, Permission.VIEW_PATIENTS), methods=["GET"]),
        Route("/report", page(routes_report.report_page, Permission.VIEW_REPORT), methods=["GET"]),
        Route("/report/plot/{name}.png", page(routes_report.report_plot, Permission.VIEW_REPORT), methods=["GET"]),
        Route("/report/download/{fmt}", page(routes_report.report_download, Permission.EXPORT_REPORT),
              methods=["GET"]),
        Route("/dead-letters", page(routes_ops.dead_letters, Permission.VIEW_DEAD_LETTERS), methods=["GET"]),
        Route("/dead-letters/{letter_id}", page(routes_ops.dead_letter, Permission.VIEW_DEAD_LETTERS),
              methods=["GET"]),
        Route("/dead-letters/{letter_id}", page(routes_ops.dead_letter_action, Permission.HANDLE_DEAD_LETTERS),
              methods=["POST"]),
        Route("/audit", page(routes_ops.audit_page, Permission.VIEW_AUDIT), methods=["GET"]),
        Route("/audit/verify", page(routes_ops.run_verify, Permission.RUN_VERIFY), methods=["POST"]),
        Route("/audit/access", page(routes_ops.access_page, Permission.VIEW_ACCESS_LOG), methods=["GET"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]


__all__ = ["PAGE_PATHS", "web_routes"]
