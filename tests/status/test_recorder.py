"""The recorder against a real store and a real local HTTP service that goes down."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from triage.status.config import ComponentConfig, ProbeConfig, StatusConfig
from triage.status.page import build_page, first_day, page_json
from triage.status.probes import http_probe
from triage.status.recorder import StatusRecorder
from triage.status.schemas import CheckOutcome, ComponentState, Impact, MaintenanceCreate, UpdateStatus
from triage.status.store import StatusStore
from triage.storage.database import Database


class Service:
    def __init__(self) -> None:
        self.code, self.delay = 200, 0.0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                time.sleep(outer.delay)
                self.send_response(outer.code)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/health"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def service():
    s = Service()
    yield s
    s.close()


def test_http_probe_up_slow_down_and_unreachable(service) -> None:
    probe = ProbeConfig(url=service.url, timeout_s=2)
    assert http_probe(probe).ok
    service.delay = 0.3
    slow = http_probe(probe)
    assert slow.ok and slow.latency_ms >= 300
    service.delay, service.code = 0.0, 503
    down = http_probe(probe)
    assert not down.ok and down.detail == "HTTP 503"
    gone = http_probe(ProbeConfig(url="http://127.0.0.1:9/none", timeout_s=1))
    assert not gone.ok and gone.detail == "ConnectError"


def test_ticks_record_what_was_measured_and_the_page_shows_it(settings, service) -> None:
    config = StatusConfig(
        interval_s=0.2, degraded_ms=200,
        components=(
            ComponentConfig(id="api", name="API", checks=("store", "writer")),
            ComponentConfig(id="portal", name="Patient portal", probes=(ProbeConfig(url=service.url, timeout_s=2),)),
            ComponentConfig(id="booking", name="Booking", services=("ts-*",)),
        ),
    )
    store = StatusStore(Database(settings.store_path))
    impacts: list[Impact] = []
    ready = {"store": CheckOutcome("store", True, 3.0), "writer": CheckOutcome("writer", True, 1.0)}
    recorder = StatusRecorder(store=store, config=config, readiness=lambda: ready, impacts=lambda: impacts)

    states = {s.component: s.state for s in recorder.tick()}
    assert states == {"api": ComponentState.OPERATIONAL, "portal": ComponentState.OPERATIONAL,
                      "booking": ComponentState.OPERATIONAL}
    service.delay = 0.3
    assert {s.component: s.state for s in recorder.tick()}["portal"] is ComponentState.DEGRADED_PERFORMANCE
    service.delay, service.code = 0.0, 500
    ready = {"store": CheckOutcome("store", False, None, "IOException"), "writer": ready["writer"]}
    impacts.append(Impact("INC-9", ("ts-order-service",), "CRITICAL", UpdateStatus.INVESTIGATING,
                          datetime.now(UTC) - timedelta(minutes=3)))
    samples = {s.component: s for s in recorder.tick()}
    assert samples["portal"].state is ComponentState.MAJOR_OUTAGE and "HTTP 500" in samples["portal"].detail
    assert samples["api"].state is ComponentState.PARTIAL_OUTAGE and "IOException" in samples["api"].detail
    assert samples["booking"].state is ComponentState.MAJOR_OUTAGE

    now = datetime.now(UTC)
    store.schedule(MaintenanceCreate(title="Swap disks", components=["portal"], starts_at=now - timedelta(minutes=1),
                                     ends_at=now + timedelta(hours=1)), actor="sam", now=now)
    assert {s.component: s.state for s in recorder.tick()}["portal"] is ComponentState.UNDER_MAINTENANCE

    counts = store.day_counts(since=first_day(now, 90))
    assert sum(counts["portal"][now.date()].values()) == 4
    page = build_page(config, now=now, current=recorder.current(), day_counts=counts, impacts=impacts, updates=[],
                      maintenances=store.maintenances(ending_after=now))
    body = page_json(page)
    portal = next(c for c in body["components"] if c["id"] == "portal")
    assert portal["state"] == "under_maintenance"
    # 2 up, 1 degraded (up), 1 major outage measured; maintenance is not measured
    assert portal["uptime"] == pytest.approx(2 / 3) and portal["days"][-1]["worst"] == "major_outage"
    assert body["status"]["description"] == "Major system outage"
    assert body["maintenance"][0]["inProgress"] is True
    assert "ts-order-service" not in str(body) and "INC-9" not in str(body) and service.url not in str(body)


def test_the_background_thread_keeps_recording_and_stops(settings) -> None:
    config = StatusConfig(interval_s=0.2, components=(ComponentConfig(id="api", name="API", checks=("store",)),))
    store = StatusStore(Database(settings.store_path))
    calls = {"n": 0}

    def readiness():
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("readiness exploded")  # one bad round is reported, not fatal
        return {"store": CheckOutcome("store", True, 1.0)}

    recorder = StatusRecorder(store=store, config=config, readiness=readiness, impacts=list)
    recorder.start()
    deadline = time.monotonic() + 20
    while recorder.ticks < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    recorder.stop()
    assert recorder.ticks >= 3
    ticks = recorder.ticks
    time.sleep(0.5)
    assert recorder.ticks == ticks  # stopped
    counts = store.day_counts(since=first_day(datetime.now(UTC), 2))
    assert sum(n for day in counts["api"].values() for n in day.values()) == ticks
