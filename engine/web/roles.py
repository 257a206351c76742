"""Who may see and do what in the web app: one table, documented in docs/web.md and tested row by row.

Roles follow the people itpwatch serves. Clinicians and nurses act on alerts; integration engineers
look after the feeds and never see clinical pages; auditors read everything and change nothing; an
admin may do all of it. Accounts themselves are managed with `itpwatch users` on the server.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    CLINICIAN = "clinician"
    NURSE = "nurse"
    INTEGRATION = "integration"
    AUDITOR = "auditor"
    ADMIN = "admin"


class Permission(StrEnum):
    VIEW_WORKLIST = "view-worklist"
    ACK_ALERT = "ack-alert"
    VIEW_PATIENTS = "view-patients"
    VIEW_REPORT = "view-report"
    EXPORT_REPORT = "export-report"
    VIEW_DEAD_LETTERS = "view-dead-letters"
    HANDLE_DEAD_LETTERS = "handle-dead-letters"
    VIEW_AUDIT = "view-audit"
    RUN_VERIFY = "run-verify"
    VIEW_ACCESS_LOG = "view-access-log"


_C, _N, _I, _A, _ADM = Role.CLINICIAN, Role.NURSE, Role.INTEGRATION, Role.AUDITOR, Role.ADMIN

PERMISSIONS: dict[Permission, frozenset[Role]] = {
    Permission.VIEW_WORKLIST: frozenset({_C, _N, _A, _ADM}),
    Permission.ACK_ALERT: frozenset({_C, _N, _ADM}),
    Permission.VIEW_PATIENTS: frozenset({_C, _N, _A, _ADM}),
    Permission.VIEW_REPORT: frozenset({_C, _N, _A, _ADM}),
    Permission.EXPORT_REPORT: frozenset({_C, _N, _A, _ADM}),
    Permission.VIEW_DEAD_LETTERS: frozenset({_I, _A, _ADM}),
    Permission.HANDLE_DEAD_LETTERS: frozenset({_I, _ADM}),
    Permission.VIEW_AUDIT: frozenset({_C, _A, _ADM}),
    Permission.RUN_VERIFY: frozenset({_A, _ADM}),
    Permission.VIEW_ACCESS_LOG: frozenset({_A, _ADM}),
}
"""Permission -> the roles that have it. Anything not listed is refused."""


def allowed(role: str, permission: Permission) -> bool:
    return role in PERMISSIONS[permission]


def home_of(role: str) -> str:
    """The first page after log-in: the worklist, or the dead letters for integration engineers."""
    if allowed(role, Permission.VIEW_WORKLIST):
        return "/"
    return "/dead-letters"
