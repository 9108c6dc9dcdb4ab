"""The command center, incident page, history and public status page in headless Chromium, against a real
server: live refresh, filters, the key dialog, keyboard use of the charts, and no internal data in public."""

from __future__ import annotations

import csv
import io
import re
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

TRAVEL_CASE = "tt-20230129-0925"  # ts-basic-service exception
CONTACTS_CASE = "tt-20230129-0843"  # ts-contacts-service return


def _seed_changes_and_alerts(site, diagnosis: dict) -> None:
    """A change linked to the incident, an unrelated one, and an alert escalated after 20 minutes unacknowledged."""
    from triage.alerting.config import load_alerting_config
    from triage.alerting.service import AlertService
    from triage.changes.schemas import Actor, ChangeType, Role
    from triage.changes.service import ChangeService
    from triage.settings import Settings
    from triage.storage.database import Database

    settings = Settings(home=site.home)
    db = Database(settings.store_path)
    changes = ChangeService(db)
    olga = Actor(user="olga", role=Role.ENGINEER)
    changes.create(type=ChangeType.NORMAL, title="Restart ts-preserve-service pods", services=("ts-preserve-service",),
                   requester="olga", actor=olga, incident_id=diagnosis["incidentId"],
                   justification="IllegalStateException: no instances available")
    changes.create(type=ChangeType.NORMAL, title="Raise the connection pool of ts-order-service",
                   services=("ts-order-service",), requester="sam", actor=Actor(user="sam", role=Role.ENGINEER))
    config = load_alerting_config(settings.config_dir / "alerting.yaml")
    later = datetime.now(UTC) + timedelta(minutes=20)
    AlertService(db, config=config, notifiers={}).raise_from_diagnosis(diagnosis={**diagnosis, "severity": "HIGH"},
                                                                     dispatch=False)
    AlertService(db, config=config, notifiers={}, clock=lambda: later).tick()


def test_key_dialog_then_a_new_incident_appears_live(browser, site, post_case, screenshot) -> None:
    context = browser.new_context(viewport={"width": 1360, "height": 1000})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        tab.goto(f"{site.url}/")
        dialog = tab.locator("#key-dialog")
        expect(dialog).to_be_visible()
        tab.fill("#key-input", site.keys["service"])  # a role that may not read incidents
        tab.click("#key-submit")
        expect(tab.locator("#page-error")).to_contain_text("may not read")
        tab.click("#sign-out")
        expect(tab.locator("#key-dialog")).to_be_visible()
        tab.fill("#key-input", site.keys["analyst"])
        tab.keyboard.press("Enter")
        expect(tab.locator("#counts")).to_contain_text("open incidents")
        before = tab.locator("[data-incident]").count()

        started = time.monotonic()
        diagnoses = post_case(TRAVEL_CASE)
        incident_id = diagnoses[-1]["incidentId"]
        card = tab.locator(f'[data-incident="{incident_id}"]')
        expect(card).to_be_visible(timeout=15_000)
        seconds = time.monotonic() - started
        assert seconds < 15, f"the incident took {seconds:.1f} s to appear"
        assert tab.locator("[data-incident]").count() > before
        expect(tab.locator("#live")).to_contain_text(re.compile("New incident|Live"))
        # what the card promises: severity, services, root cause with confidence, RTO, fixes, recovery plan
        expect(card.locator(".badge")).to_have_text(re.compile("CRITICAL|HIGH|MEDIUM|LOW"))
        expect(card).to_contain_text("confidence")
        expect(card.locator("meter")).to_have_count(1)
        expect(card).to_contain_text(re.compile(r"of \d+[dhm].* RTO"))
        expect(card).to_contain_text("Recovery plan")
        expect(card.locator("ol.plan li").last).to_contain_text("escalate")

        _seed_changes_and_alerts(site, diagnoses[-1])
        expect(tab.locator("#changes")).to_contain_text("Restart ts-preserve-service pods", timeout=10_000)
        expect(tab.locator("#escalations")).to_contain_text("technical_lead", timeout=10_000)
        expect(tab.locator("#oncall")).to_contain_text("Olga Petrova")
        expect(tab.locator("#trend-services .chart-legend")).to_contain_text("ts-preserve-service")
        assert tab.locator("#trend-services canvas").get_attribute("aria-label").startswith("Errors per service")
        screenshot(tab, "command-center")
    finally:
        context.close()
    assert not errors, errors


def test_chart_legend_works_from_the_keyboard(page, site, post_case) -> None:
    post_case(TRAVEL_CASE)
    page.goto(f"{site.url}/")
    legend = page.locator("#trend-services .chart-legend button").first
    expect(legend).to_be_visible(timeout=10_000)
    expect(legend).to_have_attribute("aria-pressed", "true")
    legend.focus()
    page.keyboard.press("Space")
    expect(legend).to_have_attribute("aria-pressed", "false")
    hidden = page.evaluate("() => Chart.getChart(document.querySelector('#trend-services canvas')).isDatasetVisible(0)")
    assert hidden is False
    page.keyboard.press("Enter")
    expect(legend).to_have_attribute("aria-pressed", "true")
    # the numbers are there for people who cannot see the chart
    page.click("#trend-services .chart-data summary")
    expect(page.locator("#trend-services .chart-data table th[scope=col]").nth(1)).not_to_be_empty()


def test_incident_page_shows_timeline_evidence_related_and_review(page, site, post_case, screenshot) -> None:
    diagnoses = post_case(CONTACTS_CASE)
    incident_id = next(d for d in diagnoses if "ts-contacts-service" in d["affectedServices"])["incidentId"]
    page.goto(f"{site.url}/incidents/{incident_id}")
    expect(page.locator("#head h1")).not_to_contain_text("Incident " + incident_id, timeout=10_000)
    expect(page.locator("#timeline li[data-kind=diagnosis]").first).to_be_visible()
    expect(page.locator("#timeline li[data-kind=opened]")).to_have_count(1)
    expect(page.locator("#evidence")).to_contain_text("confidence")
    expect(page.locator("#evidence code").first).not_to_be_empty()
    expect(page.locator("#related li").first).to_be_visible()  # seeded history + the other live incident
    expect(page.locator("#review")).to_contain_text("draft")
    expect(page.locator("#plan")).to_contain_text("escalate")

    with site.client("analyst") as analyst:
        r = analyst.post(f"/v1/incidents/{incident_id}/resolve",
                         json={"action": "restarted ts-contacts-service", "suggestedFixWorked": False,
                               "notes": "contact lookup returned nothing after a bad deploy"})
        assert r.status_code == 200, r.text
    # the page follows without a reload
    expect(page.locator("#review")).to_contain_text("ready for review", timeout=10_000)
    expect(page.locator("#review")).to_contain_text("restarted ts-contacts-service")
    expect(page.locator("#review")).to_contain_text("did not work")
    expect(page.locator("#timeline li[data-kind=resolution]")).to_have_count(1)
    screenshot(page, "incident")

    page.goto(f"{site.url}/incidents/INC-does-not-exist")
    expect(page.locator("#head h1")).to_have_text("Incident not found")
    assert page.console_errors == ["Failed to load resource: the server responded with a status of 404 (Not Found)"]
    page.console_errors.clear()


def test_history_filters_search_trends_and_csv(page, site, screenshot) -> None:
    page.goto(f"{site.url}/history")
    expect(page.locator("#result-count")).to_contain_text("match", timeout=10_000)
    total = int(page.locator("#result-count").inner_text().split()[0])
    assert total >= 10  # the seeded history

    page.select_option("#f-service", "scheduling")
    page.click("#filters button[type=submit]")
    expect(page.locator("#result-count")).to_have_text("3 incidents match.")
    rows = page.locator("#results-table tbody tr")
    expect(rows).to_have_count(3)
    for i in range(3):
        expect(rows.nth(i).locator("td").nth(3)).to_contain_text("scheduling")
    assert "service=scheduling" in page.url
    expect(page.locator("#mttr-mean")).to_have_text(re.compile(r"\d+ min"))

    page.select_option("#f-severity", "LOW")
    page.click("#filters button[type=submit]")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Slow search queries")

    page.click("#clear")
    page.fill("#f-q", "failover")
    page.press("#f-q", "Enter")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("billing-db")

    page.fill("#f-q", "")
    page.fill("#f-rootCause", "billing-db")
    page.select_option("#f-status", "resolved")
    page.click("#filters button[type=submit]")
    expect(page.locator("#result-count")).to_have_text("3 incidents match.")
    with page.expect_download() as download:
        page.click("#export")
    content = download.value.path().read_text(encoding="utf-8")
    exported = list(csv.DictReader(io.StringIO(content)))
    assert len(exported) == 3 and {r["root_service"] for r in exported} == {"billing-db"}
    assert all(float(r["minutes_to_resolve"]) > 0 for r in exported)

    # a shared link reproduces the search
    page.goto(page.url)
    expect(page.locator("#f-rootCause")).to_have_value("billing-db")
    expect(page.locator("#result-count")).to_have_text("3 incidents match.")

    page.click("#clear")
    expect(page.locator("#result-count")).to_have_text(f"{total} incidents match.")
    expect(page.locator("#weekly-category .chart-legend button")).not_to_have_count(0)
    expect(page.locator("#weekly-category .chart-legend")).to_contain_text("DATABASE_CONNECTION")
    screenshot(page, "history")


def test_status_page_is_public_and_follows_a_degrading_component(browser, site, post_case, screenshot) -> None:
    incident_id = post_case(TRAVEL_CASE)[-1]["incidentId"]
    context = browser.new_context(viewport={"width": 1100, "height": 900})  # no key at all
    tab = context.new_page()
    try:
        site.target.healthy = True
        time.sleep(1.5)  # one recorder round with the component healthy
        tab.goto(f"{site.url}/status")
        portal = tab.locator('[data-component="patient-portal"]')
        expect(portal).to_have_attribute("data-state", "operational", timeout=10_000)
        expect(tab.locator(".component")).to_have_count(3)
        expect(portal.locator(".uptime .bar")).to_have_count(90)

        site.target.healthy = False
        expect(portal).to_have_attribute("data-state", "major_outage", timeout=15_000)  # refreshed in place
        expect(portal.locator(".pill")).to_have_text("Major outage")
        expect(tab.locator("#overall")).to_contain_text("Major system outage")
        expect(portal.locator(".uptime .bar").last).to_have_class(re.compile("day-(major|partial)"))

        # people publish an update and plan maintenance; the page shows them without internal detail
        with site.client("engineer") as eng:
            r = eng.post(f"/v1/status/incidents/{incident_id}/updates",
                         json={"status": "identified", "title": "Ticket booking errors",
                               "message": "Bookings fail for some trains; contact jane.doe@example.org for help."})
            assert r.status_code == 201, r.text
            start = datetime.now(UTC) + timedelta(days=2)
            r = eng.post("/v1/status/maintenance", json={
                "title": "Database upgrade", "description": "Bookings may be slow for a few minutes.",
                "components": ["booking"], "startsAt": start.isoformat(),
                "endsAt": (start + timedelta(hours=1)).isoformat()})
            assert r.status_code == 201, r.text
        tab.reload()
        published = tab.locator("article.incident", has=tab.get_by_role("heading", name="Ticket booking errors"))
        expect(published).to_be_visible()
        expect(published.locator("ol.updates li").first).to_contain_text("Identified")
        expect(published.locator("ol.updates li").first).to_contain_text("<EMAIL>")
        expect(tab.locator("article.maintenance")).to_contain_text("Database upgrade")
        text = tab.locator("body").inner_text()
        assert "jane.doe@example.org" not in text  # redacted before publishing
        for internal in ("INC-", "ts-preserve", "127.0.0.1", "healthz", "store", "writer"):
            assert internal not in text, f"internal detail {internal!r} on the public page"
        screenshot(tab, "status")

        site.target.healthy = True
        expect(portal).to_have_attribute("data-state", "operational", timeout=15_000)
        dark = browser.new_context(viewport={"width": 1100, "height": 900}, color_scheme="dark")
        dark_tab = dark.new_page()
        dark_tab.goto(f"{site.url}/status")
        bg = dark_tab.evaluate("() => getComputedStyle(document.body).backgroundColor")
        assert bg == "rgb(13, 17, 23)"
        screenshot(dark_tab, "status-dark")
        dark.close()
    finally:
        context.close()


def test_status_json_matches_the_page(site) -> None:
    body = httpx.get(f"{site.url}/status.json", timeout=30).json()
    assert [c["name"] for c in body["components"]] == ["Diagnosis API", "Patient portal", "Ticket booking"]
    assert all(len(c["days"]) == 90 for c in body["components"])
    assert body["components"][0]["state"] == "operational"
    assert "INC-" not in str(body) and "ts-" not in str(body)
