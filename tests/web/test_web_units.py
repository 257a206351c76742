"""The parts of the web app that need no server: roles, accounts, sessions, throttle, masking, and the
access log that the database refuses to change (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, text
from sqlalchemy.exc import DatabaseError

from engine.privacy import mask_identifiers
from engine.store import EventStore
from engine.store.schema import dead_letter_resolutions, verify_runs
from engine.web import access_log, accounts, sessions
from engine.web.ratelimit import LoginThrottle
from engine.web.roles import PERMISSIONS, Permission, Role, allowed, home_of

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def test_role_table() -> None:
    assert allowed("integration", Permission.VIEW_DEAD_LETTERS)
    assert not any(allowed("integration", p) for p in (Permission.VIEW_WORKLIST, Permission.VIEW_PATIENTS,
                                                        Permission.VIEW_REPORT, Permission.VIEW_AUDIT))
    changes = {Permission.ACK_ALERT, Permission.HANDLE_DEAD_LETTERS}
    assert not any(allowed("auditor", p) for p in changes)
    assert all(allowed("auditor", p) for p in set(Permission) - changes)
    assert all(allowed("admin", p) for p in Permission)
    assert allowed("nurse", Permission.ACK_ALERT) and not allowed("nurse", Permission.VIEW_ACCESS_LOG)
    assert set(PERMISSIONS) == set(Permission)
    assert home_of("integration") == "/dead-letters" and home_of("clinician") == "/"


def test_accounts_and_sessions(sqlite_url: str) -> None:
    store = EventStore.open(sqlite_url)
    with pytest.raises(accounts.AccountError, match="at least"):
        accounts.add_user(store, "weber", "clinician", "short", T0)
    with pytest.raises(accounts.AccountError, match="role must be"):
        accounts.add_user(store, "weber", "surgeon", "long enough pw", T0)
    accounts.add_user(store, "weber", "clinician", "long enough pw", T0)
    with pytest.raises(accounts.AccountError, match="exists"):
        accounts.add_user(store, "weber", "nurse", "long enough pw", T0)
    assert accounts.authenticate(store, "weber", "wrong") is None
    assert accounts.authenticate(store, "nobody", "long enough pw") is None
    user = accounts.authenticate(store, "weber", "long enough pw")
    assert user is not None and user.role == "clinician"
    with store.engine.connect() as conn:
        stored = conn.execute(text("select password_hash from users")).scalar()
    assert stored.startswith("$argon2id$") and "long enough pw" not in stored

    token = sessions.start(store, "weber", T0, max_hours=12)
    with store.engine.connect() as conn:
        assert conn.execute(text("select id from web_sessions")).scalar() != token  # only the hash is kept
    session, why = sessions.resume(store, token, T0 + timedelta(minutes=20), idle_minutes=30)
    assert session is not None and session.role == "clinician" and why is sessions.Refusal.NONE
    session, why = sessions.resume(store, token, T0 + timedelta(minutes=45), idle_minutes=30)
    assert session is not None  # 45 minutes after log-in, but 25 after the last request
    session, why = sessions.resume(store, token, T0 + timedelta(minutes=90), idle_minutes=30)
    assert session is None and why is sessions.Refusal.EXPIRED
    late = sessions.start(store, "weber", T0, max_hours=1)
    for minutes in (25, 50):
        assert sessions.resume(store, late, T0 + timedelta(minutes=minutes), idle_minutes=30)[0] is not None
    assert sessions.resume(store, late, T0 + timedelta(minutes=61), idle_minutes=30)[1] is sessions.Refusal.EXPIRED
    assert sessions.resume(store, "x" * 500, T0, idle_minutes=30)[1] is sessions.Refusal.UNKNOWN
    third = sessions.start(store, "weber", T0, max_hours=12)
    accounts.disable_user(store, "weber", T0)
    assert sessions.resume(store, third, T0, idle_minutes=30)[1] is sessions.Refusal.DISABLED
    assert accounts.authenticate(store, "weber", "long enough pw") is None
    store.close()


def test_login_throttle() -> None:
    throttle = LoginThrottle(3, timedelta(minutes=15))
    keys = ["user:weber", "addr:10.0.0.1"]
    for i in range(3):
        assert throttle.wait(keys, T0 + timedelta(seconds=i)) is None
        throttle.failed(keys, T0 + timedelta(seconds=i))
    wait = throttle.wait(["user:weber"], T0 + timedelta(minutes=1))
    assert wait is not None and timedelta(minutes=13) < wait <= timedelta(minutes=14)
    assert throttle.wait(["user:weber"], T0 + timedelta(minutes=16)) is None


def test_access_log_is_append_only(db_url: str) -> None:
    store = EventStore.open(db_url)
    access_log.record(store, at=T0, username="weber", role="clinician", action="view-patient", patient="100003")
    access_log.record(store, at=T0, username="audit1", role="auditor", action="view-patient", patient="100004")
    assert [r.patient for r in access_log.read(store, username="weber")] == ["100003"]
    with store.engine.begin() as conn:  # a row in each table, so that row triggers have something to refuse
        conn.execute(insert(verify_runs).values(started_at=T0, finished_at=T0, ok=True, events=1, differences=0,
                                                summary="ok", by="test"))
        conn.execute(insert(dead_letter_resolutions).values(dead_letter_id=1, resolved_at=T0, outcome="discarded"))
    for statement in ("update access_log set patient = 'x'", "delete from access_log",
                      "update verify_runs set ok = true", "delete from dead_letter_resolutions"):
        with pytest.raises(DatabaseError, match="append-only"), store.engine.begin() as conn:
            conn.execute(text(statement))
    assert len(access_log.read(store)) == 2
    store.close()


def test_identifiers_are_masked() -> None:
    hl7 = (b"MSH|^~\\&|LAB|UKX|ITPWATCH|UKX|20240904||ORU^R01|M1|P|2.5\r"
           b"PID|1|X9|100003^^^UKX^MR||REDACTED||19600514|F\rOBX|1|NM|777-3^PLT^LN||42|bad^x|")
    masked = mask_identifiers(hl7)
    assert "100003" not in masked and "19600514" not in masked and "X9" not in masked
    assert "OBX|1|NM|777-3^PLT^LN||42|bad^x|" in masked and masked.count("\n") == 2
    fhir = (b'{"resourceType":"Observation","subject":{"reference":"Patient/100003",'
            b'"identifier":{"system":"urn:mrn","value":"100003"}},"valueQuantity":{"value":42}}')
    masked = mask_identifiers(fhir)
    assert "100003" not in masked and '"value": 42' in masked
    csv = b"patient_id,diagnosis_date,itp_type\n100003,2014-09-01,primary\n"
    masked = mask_identifiers(csv)
    assert "100003" not in masked and "2014-09-01" in masked
    assert Role("admin") is Role.ADMIN
