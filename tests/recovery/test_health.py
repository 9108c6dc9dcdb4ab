from __future__ import annotations

from pathlib import Path

import pytest

from triage.recovery.health import (
    CheckLevel,
    HealthProbes,
    HealthThresholds,
    Measurements,
    ProbeResult,
    evaluate,
    local_probes,
    store_probe,
    verify_health,
)
from triage.storage.database import Database


def ok(ms: float = 10.0) -> ProbeResult:
    return ProbeResult(True, ms)


def test_seed_thresholds_are_the_defaults() -> None:
    t = HealthThresholds()
    assert (t.max_response_ms, t.max_error_rate, t.min_store_connectivity, t.min_model_availability) == (
        500,
        0.001,
        1,
        1,
    )


def test_immediate_passes_and_fails_on_thresholds() -> None:
    m = Measurements({"api": tuple(ok(120) for _ in range(20)), "store": (ok(),), "model": (ok(),)})
    assert evaluate(m, CheckLevel.IMMEDIATE, HealthThresholds()).healthy
    slow = Measurements({"api": tuple(ok(900) for _ in range(20)), "store": (ok(),), "model": (ok(),)})
    report = evaluate(slow, CheckLevel.IMMEDIATE, HealthThresholds())
    assert not report.healthy
    assert [c.name for c in report.checks if c.status == "fail"] == ["api_response"]


def test_one_error_in_a_hundred_breaks_the_error_rate_but_not_at_a_looser_threshold() -> None:
    api = tuple([ok()] * 99 + [ProbeResult(False, 5, "HTTP 500")])
    m = Measurements({"api": api, "store": (ok(),), "model": (ok(),)})
    report = evaluate(m, CheckLevel.IMMEDIATE, HealthThresholds())
    assert not report.healthy
    assert "HTTP 500" in report.failures()[0]
    assert evaluate(m, CheckLevel.IMMEDIATE, HealthThresholds(max_error_rate=0.02)).healthy


def test_unmeasured_checks_are_reported_not_passed_and_nothing_measured_is_unhealthy() -> None:
    report = evaluate(Measurements({"store": (ok(),)}), CheckLevel.COMPREHENSIVE, HealthThresholds())
    statuses = {c.name: c.status for c in report.checks}
    assert statuses["store_connectivity"] == "pass"
    assert statuses["diagnose_end_to_end"] == "not_measured"
    assert report.healthy
    assert not evaluate(Measurements({}), CheckLevel.IMMEDIATE, HealthThresholds()).healthy


def test_levels_include_the_ones_below_and_extended_samples_repeatedly() -> None:
    calls: list[str] = []
    sleeps: list[float] = []

    def api() -> ProbeResult:
        calls.append("api")
        return ok(50)

    def failing_inference() -> ProbeResult:
        raise RuntimeError("model file missing")

    probes = HealthProbes(api=(api,), store=lambda: ok(), diagnose=lambda: ok(), inference=failing_inference)
    report = verify_health(
        probes, CheckLevel.EXTENDED, HealthThresholds(samples=3, sample_interval_s=2), sleep=sleeps.append
    )
    assert len(calls) == 1 + 3
    assert sleeps == [2, 2]
    names = [c.name for c in report.checks]
    assert names[:4] == ["api_response", "api_error_rate", "store_connectivity", "model_availability"]
    assert "sustained_error_rate" in names
    assert not report.healthy  # the probe that raised counts as a failure
    assert any("model file missing" in f for f in report.failures())


def test_store_probe_on_a_real_store(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    assert store_probe(path)().ok  # no store yet is not an outage
    with Database(path).write() as s:
        s.execute("CREATE TABLE t (a INTEGER)")
    assert store_probe(path)().ok
    path.write_bytes(b"not a duckdb file" * 100)
    result = store_probe(path)()
    assert not result.ok and result.detail


@pytest.mark.parametrize("damage", [False, True])
def test_local_probes_check_the_model_store(tmp_path: Path, damage: bool) -> None:
    import sqlite3

    models = tmp_path / "models"
    models.mkdir()
    con = sqlite3.connect(models / "mlflow.db")
    con.execute("CREATE TABLE t (a)")
    con.commit()
    con.close()
    if damage:
        (models / "mlflow.db").write_bytes(b"garbage" * 1000)
    report = verify_health(local_probes(tmp_path / "none.duckdb", models), CheckLevel.COMPREHENSIVE)
    assert report.healthy is (not damage)
