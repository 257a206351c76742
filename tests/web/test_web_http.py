"""The web app over plain HTTP: sessions, CSRF, throttling, headers, bad input, the machine API beside it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from web_support import PASSWORDS, TOKEN, WebServer, cli, copy_db


@pytest.fixture(scope="module")
def server(web_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    srv = WebServer(copy_db(web_db, tmp_path_factory.mktemp("webhttp")),
                    extra_env={"ITPWATCH_WEB_LOGIN_ATTEMPTS": "3"}).start()
    yield srv
    srv.stop(log_name="server-http")


def client(server: WebServer) -> httpx.Client:
    return httpx.Client(base_url=server.base, follow_redirects=False, timeout=60,
                        headers={"Origin": server.base})


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def login(c: httpx.Client, user: str, password: str | None = None) -> httpx.Response:
    page = c.get("/login")
    return c.post("/login", data={"csrf": csrf_of(page.text), "username": user,
                                  "password": password or PASSWORDS[user], "next": "/"})


def test_pages_need_a_session_and_say_why(server: WebServer) -> None:
    with client(server) as c:
        r = c.get("/patients?agent=daratumumab")
        assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Fpatients%3Fagent%3Ddaratumumab"
        c.cookies.set("itpwatch_session", "forged-token-value")
        r = c.get("/")
        assert r.status_code == 303 and "why=unknown" in r.headers["location"]
        assert 'itpwatch_session=""' in r.headers["set-cookie"]
        page = c.get(r.headers["location"])
        assert "Your session is not valid" in page.text


def test_login_cookie_headers_and_logout(server: WebServer) -> None:
    with client(server) as c:
        r = login(c, "weber")
        assert r.status_code == 303 and r.headers["location"] == "/"
        cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("itpwatch_session="))
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie  # plain HTTP here
        page = c.get("/")
        assert page.status_code == 200
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"
        old = c.cookies["itpwatch_session"]
        assert c.post("/logout", data={"csrf": csrf_of(page.text)}).status_code == 303
        c.cookies.set("itpwatch_session", old)
        r = c.get("/")
        assert r.status_code == 303 and "why=ended" in r.headers["location"]


def test_csrf_and_origin_are_checked(server: WebServer) -> None:
    with client(server) as c:
        page = c.get("/login")
        r = c.post("/login", data={"username": "weber", "password": PASSWORDS["weber"]})
        assert r.status_code == 403 and "security token" in r.text
        login(c, "weber")
        page = c.get("/")
        alert = re.search(r'name="alert" value="([^"]+)"', page.text)
        assert alert
        r = c.post("/", data={"one": alert.group(1)})
        assert r.status_code == 403 and "security token" in r.text
        r = c.post("/", data={"one": alert.group(1), "csrf": "wrong"})
        assert r.status_code == 403
        r = c.post("/", data={"one": alert.group(1), "csrf": csrf_of(page.text)},
                   headers={"Origin": "http://evil.example"})
        assert r.status_code == 403 and "another site" in r.text
        assert alert.group(1) in c.get("/").text  # nothing was acknowledged


def test_login_is_throttled(server: WebServer) -> None:
    with client(server) as c:
        codes = [login(c, "nurse1", "wrong password").status_code for _ in range(3)]
        assert codes == [401, 401, 401]
        r = login(c, "nurse1")  # the right password, but too soon
        assert r.status_code == 429 and "Too many failed log-ins" in r.text


def test_bad_input_gets_a_page_not_a_traceback(server: WebServer) -> None:
    with client(server) as c:
        login(c, "weber")
        r = c.get("/patients?q=" + "9" * 3000)
        assert r.status_code == 414 and "too long" in r.text
        r = c.get("/patients?q=" + "9" * 100)
        assert r.status_code == 400 and "at most 64 characters" in r.text
        r = c.get("/patients/" + "1" * 100)
        assert r.status_code == 400
        r = c.get("/patients/no-such-mrn")
        assert r.status_code == 404 and "No such patient" in r.text
        r = c.get("/patients?sort=password_hash")
        assert r.status_code == 400
        r = c.get("/report?as_of=yesterday")
        assert r.status_code == 400 and "YYYY-MM-DD" in r.text
        r = c.get("/audit?mrn=100003&at=soon")
        assert r.status_code == 400
        r = c.get("/patients/%3Cscript%3Ealert(1)%3C%2Fscript%3E")
        assert r.status_code == 404 and "<script>alert(1)</script>" not in r.text
        assert "&lt;script&gt;" in r.text
        for page in ("/", "/patients", "/patients/100099", "/audit"):
            assert "Traceback" not in c.get(page).text


def test_machine_api_keeps_its_token(server: WebServer) -> None:
    with httpx.Client(base_url=server.base, timeout=30) as c:
        assert c.get("/alerts").status_code == 401
        r = c.get("/alerts", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200 and r.json()["alerts"]
        r = c.get("/no-such-page")  # machine paths answer machines: JSON, not a log-in page
        assert r.status_code in (401, 404) and r.headers["content-type"].startswith("application/json")


def test_access_log_records_views_and_disable_ends_sessions(server: WebServer) -> None:
    with client(server) as c:
        login(c, "admin1")
        assert c.get("/patients/100004").status_code == 200
        assert c.get("/report/download/json?agent=daratumumab&profile=site").status_code == 200
        done = cli(server.db, "access-log", "--patient", "100004", "--format", "json")
        assert done.returncode == 0, done.stderr
        rows = [json.loads(line) for line in done.stdout.splitlines()]
        assert any(r["user"] == "admin1" and r["action"] == "view-patient" for r in rows)
        exports = cli(server.db, "access-log", "--action", "export-report", "--format", "json").stdout
        assert "admin1" in exports
        assert cli(server.db, "users", "disable", "admin1").returncode == 0
        r = c.get("/")
        assert r.status_code == 303 and "why=disabled" in r.headers["location"]
