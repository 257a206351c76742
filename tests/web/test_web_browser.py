"""The web app in a real browser (Debian's Chromium driven by Playwright): the issue's scenarios, a
screenshot of every page under test-output/web/, and no console error on any page."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from web_support import CHROMIUM, CHROMIUM_ARGS, OUTPUT, PASSWORDS, WebServer

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing: .ci/run installs the chromium package")
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

expect.set_options(timeout=20_000)  # the machine is shared: allow for a slow first page, not for a wrong one
EXPECTED_REFUSAL = re.compile(r"Failed to load resource: the server responded with a status of (403|404|400)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield instance
        instance.close()


class Tab:
    """A browser tab of one user that collects console errors and takes named screenshots."""

    def __init__(self, browser: Browser, server: WebServer) -> None:
        self.context = browser.new_context(viewport={"width": 1360, "height": 900}, locale="de-DE",
                                           timezone_id="Europe/Berlin")
        self.context.set_default_timeout(60_000)
        self.page: Page = self.context.new_page()
        self.server = server
        self.errors: list[str] = []
        self.expect_refusal = False
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and not (self.expect_refusal and EXPECTED_REFUSAL.search(message.text)):
            self.errors.append(f"{self.page.url}: {message.text}")

    def go(self, path: str) -> Page:
        self.page.goto(self.server.base + path)
        return self.page

    def login(self, user: str) -> Page:
        self.go("/login")
        self.page.get_by_label("User name").fill(user)
        self.page.get_by_label("Password").fill(PASSWORDS[user])
        self.page.get_by_role("button", name="Log in").click()
        self.page.wait_for_load_state()
        return self.page

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(OUTPUT / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()
        assert not self.errors, "console errors:\n" + "\n".join(self.errors)


@pytest.fixture
def tab(browser: Browser, web_server: WebServer) -> Iterator[Tab]:
    t = Tab(browser, web_server)
    yield t
    t.close()


def test_login_worklist_and_acknowledge(tab: Tab) -> None:
    page = tab.go("/")
    expect(page).to_have_url(re.compile(r"/login\?next=%2F"))
    tab.shot("login")
    tab.login("weber")
    expect(page.get_by_role("heading", name="Worklist")).to_be_visible()
    rows = page.locator("table.worklist tbody tr")
    assert rows.count() > 10
    expect(page.locator("table.worklist")).to_contain_text("relapse confirmed")
    expect(page.locator("table.worklist")).to_contain_text("×10⁹/L")
    first_severity = rows.first.locator(".sev").inner_text()
    assert "critical" in first_severity  # most severe first
    tab.shot("worklist")

    relapse = page.locator("tr", has_text="relapse confirmed").filter(has_text="100003")
    alert_id = relapse.locator('input[name="alert"]').get_attribute("value")
    assert alert_id
    page.get_by_label("Note for the acknowledgement").fill("called patient, repeat count Friday")
    relapse.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_role("status")).to_contain_text("1 alert acknowledged")
    expect(page.locator(f'input[value="{alert_id}"]')).to_have_count(0)
    tab.shot("worklist-after-ack")

    page.get_by_label("State").select_option("acknowledged")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("table.worklist")).to_contain_text("called patient, repeat count Friday")
    expect(page.locator("table.worklist")).to_contain_text("by weber")


def test_bulk_acknowledge_with_keyboard(tab: Tab) -> None:
    page = tab.login("nurse1")
    page.goto(tab.server.base + "/?patient=100007")
    before = page.locator('input[name="alert"]').count()
    assert before >= 2
    page.locator('input[name="alert"]').nth(0).focus()
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    page.locator('input[name="alert"]').nth(1).check()
    page.get_by_role("button", name="Acknowledge selected").click()
    expect(page.get_by_role("status")).to_contain_text("2 alerts acknowledged")
    assert page.locator('input[name="alert"]').count() == before - 2


def test_patient_page_chart_and_explain(tab: Tab) -> None:
    page = tab.login("weber")
    page.goto(tab.server.base + "/patients")
    expect(page.get_by_role("heading", name="Patients")).to_be_visible()
    tab.shot("patients")
    page.get_by_label("MRN").fill("100003")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("heading", name="Patient 100003")).to_be_visible()
    points = page.locator("svg.chart-svg circle.pt")
    assert points.count() > 10
    points.nth(5).hover()
    tooltip = page.locator(".tooltip")
    expect(tooltip).to_be_visible()
    expect(tooltip).to_contain_text("×10⁹/L")
    expect(tooltip).to_have_text(re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d [+-]\d\d:\d\d"))
    expect(tooltip).to_contain_text("source:")
    expect(page.locator("svg.chart-svg .mark-label", has_text="relapse")).to_have_count(1)
    expect(page.locator("svg.chart-svg .thr").first).to_contain_text("response")
    tab.shot("patient-100003")

    relapse = page.locator("ol.transitions li.tr-ResponseLost").first
    relapse.locator("summary").click()
    expect(relapse.locator(".chain")).to_contain_text("Rule")
    expect(relapse.locator(".chain table")).to_contain_text("PlateletCountRecorded")
    tab.shot("patient-100003-explain")

    page.locator("svg.chart-svg").focus()
    page.keyboard.press("Home")
    expect(tooltip).to_be_visible()
    first = tooltip.inner_text()
    page.keyboard.press("ArrowRight")
    assert tooltip.inner_text() != first


def test_feed_html_is_text_and_unknown_patient(tab: Tab) -> None:
    page = tab.login("weber")
    tab.go("/patients/100099")
    expect(page.locator("table.timeline")).to_contain_text("<i>WEB</i>-0002")
    assert page.locator("table.timeline i").count() == 0
    tab.expect_refusal = True
    tab.go("/patients/999999")
    expect(page.get_by_role("heading", name="No such patient")).to_be_visible()
    tab.shot("unknown-patient")


def test_report_with_comparison_and_download(tab: Tab) -> None:
    page = tab.login("weber")
    page.get_by_role("link", name="Cohort report").click()
    expect(page.get_by_role("heading", name="Cohort report: daratumumab")).to_be_visible(timeout=60_000)
    expect(page.locator("p.summary")).to_contain_text("daratumumab")
    expect(page.locator("table.side thead")).to_contain_text("iwg2009")
    swimmer = page.locator("#fig-swimmer img")
    swimmer.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=swimmer.element_handle(),
                           timeout=60_000)
    tab.shot("report")
    with page.expect_download() as download:
        page.get_by_role("link", name="JSON").click()
    assert download.value.suggested_filename.endswith(".json")
    assert '"agent": "daratumumab"' in Path(download.value.path()).read_text()


def test_roles_are_refused_what_they_may_not_see(tab: Tab) -> None:
    page = tab.login("integ")
    expect(page.get_by_role("heading", name="Dead letters")).to_be_visible()  # their start page
    assert page.get_by_role("link", name="Patients").count() == 0
    tab.expect_refusal = True
    tab.go("/patients/100003")
    expect(page.get_by_role("heading", name="Not available to your role")).to_be_visible()
    tab.shot("refused")


def test_dead_letter_masked_escaped_and_discarded(tab: Tab) -> None:
    page = tab.login("integ")
    tab.shot("dead-letters")
    row = page.locator("tr", has_text="not in unit map")
    expect(row).to_contain_text("<script>alert(1)</script>")
    row.get_by_role("link").click()
    raw = page.locator("pre.raw")
    expect(raw).to_contain_text("OBX[1]" if False else "MSH")
    assert "100003" not in raw.inner_text() and "•••" in raw.inner_text()
    tab.shot("dead-letter")
    page.get_by_role("button", name="Retry now").click()
    expect(page.get_by_role("status")).to_contain_text("still rejected")
    page.get_by_label("Reason for discarding").fill("test message from the lab system")
    page.get_by_role("button", name="Discard").click()
    expect(page.get_by_role("status")).to_contain_text("Discarded")
    expect(page.locator("main")).to_contain_text("discarded by integ: test message from the lab system")


def test_auditor_sees_access_log_verify_and_replay(tab: Tab) -> None:
    page = tab.login("audit1")
    tab.go("/patients/100003")
    assert page.locator('input[name="alert"]').count() == 0  # auditors change nothing
    tab.go("/audit")
    expect(page.locator("p.verify")).to_contain_text("Passed")
    page.get_by_label("MRN").fill("100003")
    page.get_by_label("Recorded up to (site time)").fill("2030-01-01T00:00")
    page.get_by_role("button", name="Replay").click()
    expect(page.locator("main")).to_contain_text("Decisions recorded by then")
    tab.shot("audit")
    page.get_by_role("link", name=re.compile("Access log")).click()
    expect(page.locator("table")).to_contain_text("view-patient")
    expect(page.locator("table")).to_contain_text("acknowledge")
    tab.shot("access-log")
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in to itpwatch")).to_be_visible()
    tab.go("/audit")
    expect(page).to_have_url(re.compile(r"/login"))
