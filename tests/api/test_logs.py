"""POST /v1/logs through a real server: real Loghub lines reach the store's events (or quarantine) by the
exactly-once ingest job; bad input is refused before anything is written; accepted lines survive a kill."""

from __future__ import annotations

import csv
import json
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pandas as pd

from triage.api.routes.logs import MAX_LINES
from triage.features.ingest_job import ingest_lock
from triage.features.store import FeatureStore
from triage.settings import Settings
from triage.storage.database import Database

LOGHUB = Path(__file__).resolve().parents[1] / "fixtures" / "logs" / "loghub"
#: 20 real HDFS lines (CRLF, byte for byte as in Loghub) and their Loghub-parsed components.
HDFS = (LOGHUB / "HDFS_100.log").read_bytes().splitlines(keepends=True)[:20]
with open(LOGHUB / "HDFS_100.log_structured.csv", newline="") as _f:
    HDFS_COMPONENTS = [row["Component"] for row in csv.DictReader(_f)][:20]
OPENSSH = [line.rstrip("\r\n") for line in (LOGHUB / "OpenSSH_100.log").read_text().splitlines()[:15]]
NOT_HDFS = b"%%% this line is not in the HDFS format %%%"

T = TypeVar("T")


def wait_for(check: Callable[[], T | None], timeout: float = 60.0, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.25)


def events_of(home: Path, service: str) -> pd.DataFrame:
    return FeatureStore(Settings(home=home)).events(service=service)


def stored(home: Path, service: str, count: int) -> pd.DataFrame:
    """The service's events once at least ``count`` are in the store."""

    def check() -> pd.DataFrame | None:
        events = events_of(home, service)
        return events if len(events) >= count else None

    return wait_for(check, what=f"{count} events of {service}")


def inbox_logs(home: Path) -> list[Path]:
    return sorted(Settings(home=home).inbox_dir.glob("*.log"))


def accepted_total(client) -> float:
    text = client.get("/metrics").text
    match = re.search(r'^triage_events_accepted_total\{kind="log"\} (\S+)$', text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def post_text(client, body: bytes, **params: str):
    return client.post("/v1/logs", params=params, content=body, headers={"content-type": "text/plain"})


def test_text_lines_reach_the_store(server) -> None:
    service = f"hdfs-{uuid.uuid4().hex[:8]}"
    body = b"".join(HDFS)
    with server.client("service") as c:
        before = accepted_total(c)
        r = post_text(c, body, service=service, format="hdfs")
        assert r.status_code == 202, r.text
        assert r.json()["accepted"] == 20 and r.json()["bytes"] == len(body) and r.json()["batch"]
        assert accepted_total(c) - before == 20
    events = stored(server.home, service, 20)
    assert len(events) == 20  # exactly once
    assert sorted(events["line_no"]) == list(range(1, 21))
    assert list(events.sort_values("line_no")["component"]) == HDFS_COMPONENTS  # parsed as HDFS, not plain
    assert (events["ts"].dt.year == 2008).all()
    wait_for(lambda: None if any(service in p.name for p in inbox_logs(server.home)) else True,
             what="the inbox to drain")
    time.sleep(2.5)  # another round of the ingester adds nothing
    assert len(events_of(server.home, service)) == 20


def test_json_lines_reach_the_store(server) -> None:
    service = f"auth/sshd:{uuid.uuid4().hex[:8]}"  # '/' and ':' are fine in a service, not in a file name
    with server.client("service") as c:
        r = c.post("/v1/logs", json={"service": service, "format": "openssh", "lines": OPENSSH})
    assert r.status_code == 202, r.text
    assert r.json()["accepted"] == len(OPENSSH)
    events = stored(server.home, service, len(OPENSSH))
    assert len(events) == len(OPENSSH)
    assert set(events["service"]) == {service}
    assert set(events["component"]) == {"sshd"}  # the openssh preset, not detection of something else


def test_an_unparseable_line_is_quarantined_not_dropped(server) -> None:
    service = f"hdfs-q-{uuid.uuid4().hex[:8]}"
    body = b"".join([*HDFS[:3], NOT_HDFS + b"\n", HDFS[3].rstrip(b"\r\n")])  # and no newline at the end
    with server.client("service") as c:
        r = post_text(c, body, service=service, format="hdfs")
    assert r.status_code == 202, r.text
    assert r.json()["accepted"] == 5 and r.json()["bytes"] == len(body) + 1  # a newline was added
    batch = r.json()["batch"]
    events = stored(server.home, service, 4)
    assert sorted(events["line_no"]) == [1, 2, 3, 5]
    with Database(Settings(home=server.home).store_path).read() as s:
        rows = s.execute(
            "SELECT q.line_no, q.reason, q.raw FROM quarantine q JOIN ingest_sources i USING (source_id)"
            " WHERE i.path LIKE ?", [f"%{batch}%"])
    assert len(rows) == 1
    line_no, reason, raw = rows[0]
    assert line_no == 4 and reason == "does not match the log format hdfs" and bytes(raw) == NOT_HDFS + b"\n"


def test_only_posting_roles(server) -> None:
    body = b"".join(HDFS[:2])
    with server.client() as anonymous:
        r = post_text(anonymous, body, service="nokey", format="hdfs")
        assert r.status_code == 401 and r.json()["status"] == 401
    with server.client("analyst") as analyst:
        assert post_text(analyst, body, service="analyst", format="hdfs").status_code == 403
    service = f"admin-{uuid.uuid4().hex[:8]}"
    with server.client("admin") as admin:
        assert post_text(admin, body, service=service, format="hdfs").status_code == 202
    assert len(stored(server.home, service, 2)) == 2


def test_bad_input_is_refused_before_anything_is_written(server) -> None:
    body = b"".join(HDFS[:2])
    with server.client("service") as c:
        before = accepted_total(c)
        r = post_text(c, body, service="svc", format="no-such-format")
        assert r.status_code == 422 and "unknown log format" in r.json()["detail"]
        assert r.headers["content-type"].startswith("application/problem+json")
        assert c.post("/v1/logs", json={"service": "svc", "format": "nope", "lines": ["x"]}).status_code == 422
        r = post_text(c, body, format="hdfs")  # no service
        assert r.status_code == 422 and "service" in r.json()["detail"]
        r = c.post("/v1/logs", json={"format": "hdfs", "lines": ["x"]})
        assert r.status_code == 422 and "service" in r.json()["detail"]
        assert post_text(c, body, service="has spaces").status_code == 422
        assert c.post("/v1/logs", json={"service": "svc", "lines": []}).status_code == 422
        assert c.post("/v1/logs", content=b"{not json", headers={"content-type": "application/json"}
                      ).status_code == 422
        assert post_text(c, b"", service="svc").status_code == 422
        r = post_text(c, b"x" * (1_048_576 + 1), service="svc")  # over the app's body limit
        assert r.status_code == 413 and r.json()["status"] == 413
        r = post_text(c, b"x\n" * (MAX_LINES + 1), service="svc")
        assert r.status_code == 413 and f"{MAX_LINES:,}" in r.json()["detail"]
        r = c.post("/v1/logs", params={"service": "svc"}, content=body, headers={"content-type": "text/csv"})
        assert r.status_code == 415
        assert accepted_total(c) == before  # none of them was accepted


def test_lines_are_on_disk_before_the_202(tmp_path: Path, server_factory) -> None:
    srv = server_factory(tmp_path / "home")
    settings = Settings(home=srv.home)
    service = "hdfs-durable"
    body = b"".join(HDFS)
    with ingest_lock(settings):  # as if a CLI ingest were running: the server's ingester has to wait
        with srv.client("service") as c:
            r = post_text(c, body, service=service, format="hdfs")
        assert r.status_code == 202, r.text
        srv.kill()  # SIGKILL right after the 202
        files = inbox_logs(srv.home)
        assert [f.read_bytes() for f in files] == [body]
        assert files[0].name.startswith(r.json()["batch"] + ".")
        sidecar = json.loads(files[0].with_suffix(".json").read_text())
        assert sidecar["service"] == service and sidecar["format"] == "hdfs"
        assert len(events_of(srv.home, service)) == 0
    srv.start()
    events = stored(srv.home, service, 20)
    assert len(events) == 20 and list(events.sort_values("line_no")["component"]) == HDFS_COMPONENTS
    wait_for(lambda: True if not inbox_logs(srv.home) else None, what="the inbox to drain")
    assert not list(settings.inbox_dir.glob("*.json"))  # the sidecar went with its log
    with srv.client("admin") as c:
        assert c.get("/readyz").json()["checks"]["inbox"]["detail"] == "empty; 1 ingested since start"


def test_a_failing_batch_waits_and_does_not_hold_up_the_others(tmp_path: Path) -> None:
    from triage.api.inbox import LogInbox

    settings = Settings(home=tmp_path)
    inbox = LogInbox(settings)  # not started: rounds are run by hand
    first = inbox.accept("svc", "hdfs", b"".join(HDFS[:5]), 5)
    bad = inbox.accept("svc", "hdfs", b"".join(HDFS[5:10]), 5)
    last = inbox.accept("svc", "hdfs", b"".join(HDFS[10:15]), 5)
    sidecar = next(settings.inbox_dir.glob(f"{bad}.*.json"))
    sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), "format": "no-such-format"}))
    assert inbox.drain() == 2
    assert [p.name.split(".")[0] for p in inbox_logs(tmp_path)] == [bad]
    assert sorted(events_of(tmp_path, "svc")["line_no"].tolist()) == sorted([*range(1, 6)] * 2)  # 2 files
    assert inbox.drain() == 0 and "1 failing (InvalidLogFormat)" in inbox.check()  # backing off, still there
    assert first < bad < last  # batch ids sort by arrival
