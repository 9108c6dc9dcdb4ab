"""Browser tests: one real ``triage serve`` for the module, driven by Debian's Chromium through Playwright.

The server's home holds a status configuration whose "Patient portal" component is health-checked over
HTTP against a small local server the tests switch between healthy and failing, and a history of past
incidents written through the incident store (real tables, chosen times) so that trends have weeks.
"""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "dashboard"
SCREENSHOTS = REPO / "docs" / "screenshots"
VENDOR = REPO / "src" / "triage" / "api" / "static" / "vendor" / "chart.umd.min.js"
CHROMIUM = Path("/usr/bin/chromium")
#: What Chromium needs here (root, no GPU, no network but loopback); see the environment notes.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ROLES = ("service", "analyst", "engineer", "approver")

pytestmark = pytest.mark.browser


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- a component to health-check ----------------------------------------------------------------------------
class Target:
    """A local HTTP service whose /healthz answers 200 or 503, as the test decides."""

    def __init__(self) -> None:
        self.healthy = True
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                code = 200 if target.healthy else 503
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok" if code == 200 else b"no")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/healthz"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- the server ----------------------------------------------------------------------------------------------
@dataclass
class Site:
    home: Path
    port: int
    target: Target
    keys: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, role: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.keys[role]}"}, timeout=30)

    def start(self) -> None:
        log = open(self.home / "server.log", "ab")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "triage.cli", "--home", str(self.home), "serve", "--port", str(self.port)],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "TRIAGE_LOG_LEVEL": "WARNING"},
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {(self.home / 'server.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def write_status_config(home: Path, probe_url: str) -> None:
    config = home / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "status.yaml").write_text(
        "title: TrainTicket status\n"
        "interval_s: 1\n"
        "components:\n"
        "  - {id: diagnosis-api, name: Diagnosis API, description: Error diagnosis and incident tracking,"
        " checks: [store, writer]}\n"
        "  - id: patient-portal\n"
        "    name: Patient portal\n"
        "    description: Appointments, results and messages\n"
        f"    probes: [{{url: '{probe_url}', timeout_s: 2}}]\n"
        "  - id: booking\n"
        "    name: Ticket booking\n"
        "    description: Search, order and pay\n"
        "    services: ['ts-*']\n",
        encoding="utf-8",
    )
    (config / "alerting.yaml").write_text(
        "teams:\n"
        "  on_call_engineer: [{name: Olga Petrova, email: olga@example.org}]\n"
        "  technical_lead: [{name: Sam Okafor, email: sam@example.org}]\n",
        encoding="utf-8",
    )


#: Past incidents: (days ago, hours to resolve, category, severity, services, root service, issue, fix).
HISTORY = [
    (33, 1.5, "DATABASE_CONNECTION", "HIGH", ["billing", "billing-db"], "billing-db", "Connection pool exhausted", "restart-service"),
    (30, 0.4, "TIMEOUT", "MEDIUM", ["scheduling"], "scheduling", "Upstream call exceeded its deadline", "scale-out"),
    (26, 3.0, "AUTHENTICATION", "MEDIUM", ["portal-api"], "auth", "Token validation failing after key rotation", "rotate-keys"),
    (22, 0.8, "DATABASE_CONNECTION", "CRITICAL", ["ehr-sync", "billing-db"], "billing-db", "Primary failover stalled", "failover-db"),
    (19, 5.0, "RESOURCE_EXHAUSTION", "HIGH", ["imaging"], "imaging", "Disk full on the image cache", "clear-cache"),
    (15, 0.3, "TIMEOUT", "LOW", ["scheduling"], "scheduling", "Slow search queries", "add-index"),
    (12, 2.0, "CONFIGURATION", "HIGH", ["portal-web", "portal-api"], "portal-api", "Bad feature flag rollout", "rollback-config"),
    (9, 1.0, "DATABASE_CONNECTION", "HIGH", ["billing"], "billing-db", "Connection pool exhausted", "restart-service"),
    (5, 0.6, "NETWORK", "HIGH", ["ehr-sync"], "gateway", "Packet loss between zones", "reroute-traffic"),
    (2, 1.2, "TIMEOUT", "MEDIUM", ["scheduling", "portal-api"], "scheduling", "Upstream call exceeded its deadline", "scale-out"),
]


def seed_history(home: Path, now: datetime) -> list[str]:
    """Write the past incidents through the incident store, resolved at their times; returns their ids."""
    from triage.diagnosis.schemas import RootCause
    from triage.incidents.schemas import ResolveRequest
    from triage.incidents.store import IncidentState, IncidentStore, TimelineRow
    from triage.settings import Settings
    from triage.storage.database import Database

    store = IncidentStore(Database(Settings(home=home).store_path))
    ids = []
    for n, (days, hours, category, severity, services, root, issue, fix) in enumerate(HISTORY):
        start = now - timedelta(days=days)
        incident_id = f"INC-{start:%Y%m%d}-H{n:04d}"
        title = f"{category.replace('_', ' ').title()} on {root}"
        state = IncidentState(incident_id, title, severity, category, tuple(services),
                              RootCause(service=root, issue=issue, confidence=0.82), 3 + n, start,
                              start + timedelta(minutes=20))
        store.write_batch(incidents=[state], timeline=[TimelineRow(incident_id, start, "opened", title)])
        store.resolve(incident_id, ResolveRequest(fix_id=fix, suggested_fix_worked=n % 3 != 0,
                                                  notes=f"{issue}; fixed with {fix}"),
                      actor="seed (analyst)", now=start + timedelta(hours=hours))
        ids.append(incident_id)
    return ids


def nezha_lines() -> list[dict[str, str]]:
    with open(FIXTURES / "nezha_tt_errors.csv", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from triage.access.keys import KeyStore, Role
    from triage.settings import Settings
    from triage.storage.database import Database

    home = tmp_path_factory.mktemp("dashboard-home")
    target = Target()
    write_status_config(home, target.url)
    store = KeyStore(Database(Settings(home=home).store_path))
    keys = {role: store.create(name=f"ui-{role}", role=Role(role)).secret for role in ROLES}
    seed_history(home, datetime.now(UTC))
    site = Site(home, free_port(), target, keys)
    site.start()
    yield site
    site.stop()
    target.close()


# --- the browser ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium and could not be installed here "
                    "(`make browser` installs Debian's chromium when run as root with apt-get)")
    if not VENDOR.exists():
        pytest.fail("the chart library is missing: run `make assets` (make test does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True)
        yield instance
        instance.close()


@pytest.fixture
def page(browser, site: Site, tmp_path: Path):
    """A tab whose sessionStorage already holds the analyst's key (the key dialog has its own test)."""
    context = browser.new_context(viewport={"width": 1360, "height": 1000}, accept_downloads=True)
    context.add_init_script(f"sessionStorage.setItem('triage.key', {site.keys['analyst']!r});")
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    tab.console_errors = errors  # a test that provokes an error on purpose removes it from here
    yield tab
    context.close()
    assert not errors, f"the page logged errors: {errors}"


@pytest.fixture(scope="session")
def screenshot(tmp_path_factory: pytest.TempPathFactory):
    """Take a full-page screenshot of each page. With TRIAGE_UPDATE_SCREENSHOTS=1 they replace the ones in
    docs/screenshots/ (which the README shows); otherwise they go to a temporary folder, so that a test run
    leaves the checkout unchanged."""
    folder = SCREENSHOTS if os.environ.get("TRIAGE_UPDATE_SCREENSHOTS") == "1" else tmp_path_factory.mktemp("shots")

    def save(tab, name: str) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.png"
        tab.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 10_000
        return path

    return save


@pytest.fixture(scope="module")
def post_case(site: Site):
    """Post one Nezha case's log lines to /v1/diagnose as its services would, shifted to now."""

    posted: dict[str, list[dict]] = {}

    def post(case_prefix: str) -> list[dict]:
        """The case's diagnoses (posted once per module; later calls return the same)."""
        if case_prefix in posted:
            return posted[case_prefix]
        lines = [r for r in nezha_lines() if r["case_id"].startswith(case_prefix)]
        start = datetime.now(UTC) - timedelta(seconds=max(float(r["offset_s"]) for r in lines))
        out = []
        with site.client("service") as svc:
            for r in lines:
                at = start + timedelta(seconds=float(r["offset_s"]))
                response = svc.post("/v1/diagnose", json={"service": r["service"], "timestamp": at.isoformat(),
                                                          "level": r["level"], "message": r["message"]})
                assert response.status_code == 200, response.text
                out.append(response.json())
        posted[case_prefix] = out
        return out

    return post
