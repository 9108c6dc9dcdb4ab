"""Nothing accepted is lost: every event that got a 2xx is in the store after a SIGKILL and a restart."""

from __future__ import annotations

import concurrent.futures as cf
from pathlib import Path

import httpx

from triage.settings import Settings
from triage.storage.database import Database


def test_accepted_diagnoses_survive_a_kill(tmp_path: Path, server_factory) -> None:
    """In the default journal mode, where a 2xx means written, not yet synced (the always mode's group commit
    is tested in tests/api/test_committer.py)."""
    srv = server_factory(tmp_path / "home")
    with srv.client("analyst") as c:
        detail = c.get("/readyz").json()["checks"]["journal"]["detail"]
    assert "synced to disk every 50 ms" in detail, detail
    accepted: list[str] = []

    def post(i: int) -> str | None:
        body = {"service": f"svc{i % 3}", "timestamp": "2026-11-27T08:00:00Z",
                "message": f"Connection refused to db-{i % 7}.internal:5432 after {i} ms"}
        try:
            with srv.client("service") as c:
                r = c.post("/v1/diagnose", json=body)
            return r.json()["errorId"] if r.status_code == 200 else None
        except httpx.TransportError:
            return None

    with cf.ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(post, i) for i in range(300)]
        for i, future in enumerate(futures):
            if i == 150:
                srv.kill()  # mid-stream: some requests are in flight, some accepted ones not yet written
            error_id = future.result()
            if error_id:
                accepted.append(error_id)
    assert accepted, "nothing was accepted before the kill"

    srv.start()
    with srv.client("analyst") as c:
        for error_id in accepted:
            assert c.get(f"/v1/diagnoses/{error_id}").status_code == 200, error_id
    srv.stop()
    with Database(Settings(home=srv.home).store_path).read() as s:
        stored = {r[0] for r in s.execute("SELECT error_id FROM diagnoses")}
    assert set(accepted) <= stored
