"""Health verification after a restore or rollback: measurements judged against thresholds.

Three levels, each including the one before:

* **immediate** — availability: the API answers its critical endpoints fast enough and without errors,
  the store opens, the active model loads.
* **comprehensive** — an end-to-end diagnose succeeds, the data passes its integrity checks, the model
  runs inference.
* **extended** — the immediate measurements repeated over a period (``samples``), so a slow leak or an
  intermittent error shows.

Evaluation is pure (:func:`evaluate`); measuring is done by *probes*, callables injected by whoever knows
how (the API supplies HTTP probes; recovery supplies :func:`store_probe` and :func:`sqlite_probe`). A check
without a probe is reported as *not measured*, never as passed; a level with nothing measured is unhealthy.
"""

from __future__ import annotations

import math
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from triage.errors import TriageError
from triage.storage.database import Database


class CheckLevel(StrEnum):
    IMMEDIATE = "immediate"
    COMPREHENSIVE = "comprehensive"
    EXTENDED = "extended"


class HealthThresholds(BaseModel):
    """The seed's thresholds as defaults: API < 500 ms, errors < 0.1 %, store and model available 100 %."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_response_ms: float = Field(default=500.0, gt=0)
    max_error_rate: float = Field(default=0.001, ge=0, le=1)
    min_store_connectivity: float = Field(default=1.0, ge=0, le=1)
    min_model_availability: float = Field(default=1.0, ge=0, le=1)
    #: Extended level: how many rounds of the immediate probes, and the pause between them.
    samples: int = Field(default=5, ge=1)
    sample_interval_s: float = Field(default=1.0, ge=0)


@dataclass(frozen=True, slots=True)
class ProbeResult:
    ok: bool
    latency_ms: float | None = None
    detail: str = ""


Probe = Callable[[], ProbeResult]


@dataclass(frozen=True, slots=True)
class HealthProbes:
    """What can be measured; leave out what does not exist yet."""

    api: Sequence[Probe] = ()  # critical endpoints
    store: Probe | None = None
    model: Probe | None = None
    diagnose: Probe | None = None  # end-to-end
    integrity: Sequence[Probe] = ()
    inference: Probe | None = None


@dataclass(frozen=True, slots=True)
class Measurements:
    """Raw probe outcomes of one run, per check name (several results when probed repeatedly)."""

    results: dict[str, tuple[ProbeResult, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    status: Literal["pass", "fail", "not_measured"]
    observed: float | None
    threshold: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class HealthReport:
    level: CheckLevel
    healthy: bool
    checks: tuple[CheckResult, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "level": self.level.value,
            "healthy": self.healthy,
            "checks": [
                {
                    "name": c.name,
                    "status": c.status,
                    "observed": c.observed,
                    "threshold": c.threshold,
                    "detail": c.detail,
                }
                for c in self.checks
            ],
        }

    def failures(self) -> list[str]:
        return [f"{c.name}: {c.detail or c.observed}" for c in self.checks if c.status == "fail"]


_CHECKS: dict[CheckLevel, tuple[str, ...]] = {
    CheckLevel.IMMEDIATE: ("api_response", "api_error_rate", "store_connectivity", "model_availability"),
    CheckLevel.COMPREHENSIVE: ("diagnose_end_to_end", "data_integrity", "model_inference"),
    CheckLevel.EXTENDED: ("sustained_response", "sustained_error_rate"),
}


def checks_for(level: CheckLevel) -> tuple[str, ...]:
    order = list(CheckLevel)
    return tuple(name for lvl in order[: order.index(level) + 1] for name in _CHECKS[lvl])


def _rate_ok(results: Sequence[ProbeResult]) -> float:
    return sum(r.ok for r in results) / len(results)


def _p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def evaluate(measurements: Measurements, level: CheckLevel, thresholds: HealthThresholds) -> HealthReport:
    """Judge measurements; pure. Healthy = something was measured and nothing measured failed."""
    r = measurements.results
    checks: list[CheckResult] = []

    def latency(name: str, key: str) -> None:
        lat = [x.latency_ms for x in r.get(key, ()) if x.ok and x.latency_ms is not None]
        if not lat:
            checks.append(CheckResult(name, "not_measured", None, f"< {thresholds.max_response_ms:g} ms"))
            return
        p95 = _p95(lat)
        ok = p95 < thresholds.max_response_ms
        checks.append(CheckResult(name, "pass" if ok else "fail", p95, f"p95 < {thresholds.max_response_ms:g} ms",
                                  "" if ok else f"p95 {p95:.0f} ms"))  # fmt: skip

    def error_rate(name: str, key: str) -> None:
        got = r.get(key, ())
        if not got:
            checks.append(CheckResult(name, "not_measured", None, f"< {thresholds.max_error_rate:.2%}"))
            return
        rate = 1 - _rate_ok(got)
        ok = rate < thresholds.max_error_rate or (thresholds.max_error_rate == 0 and rate == 0)
        failed = next((x.detail for x in got if not x.ok), "")
        checks.append(CheckResult(name, "pass" if ok else "fail", rate, f"< {thresholds.max_error_rate:.2%}",
                                  "" if ok else f"{rate:.2%} of {len(got)} requests failed {failed}".strip()))  # fmt: skip

    def availability(name: str, key: str, minimum: float) -> None:
        got = r.get(key, ())
        if not got:
            checks.append(CheckResult(name, "not_measured", None, f">= {minimum:.0%}"))
            return
        share = _rate_ok(got)
        ok = share >= minimum
        failed = next((x.detail for x in got if not x.ok), "")
        checks.append(
            CheckResult(name, "pass" if ok else "fail", share, f">= {minimum:.0%}", "" if ok else failed)
        )

    for name in checks_for(level):
        if name == "api_response":
            latency(name, "api")
        elif name == "api_error_rate":
            error_rate(name, "api")
        elif name == "store_connectivity":
            availability(name, "store", thresholds.min_store_connectivity)
        elif name == "model_availability":
            availability(name, "model", thresholds.min_model_availability)
        elif name == "diagnose_end_to_end":
            availability(name, "diagnose", 1.0)
        elif name == "data_integrity":
            availability(name, "integrity", 1.0)
        elif name == "model_inference":
            availability(name, "inference", 1.0)
        elif name == "sustained_response":
            latency(name, "api_sustained")
        elif name == "sustained_error_rate":
            error_rate(name, "api_sustained")
    measured = [c for c in checks if c.status != "not_measured"]
    healthy = bool(measured) and all(c.status == "pass" for c in measured)
    return HealthReport(level, healthy, tuple(checks))


def _run(probe: Probe) -> ProbeResult:
    """Run one probe, timing it if it does not time itself; an exception is a failed probe, not a crash."""
    started = time.perf_counter()
    try:
        result = probe()
    except Exception as exc:  # a probe that raises is a failure to measure as unhealthy
        return ProbeResult(
            False, (time.perf_counter() - started) * 1000, f"{type(exc).__name__}: {exc}".splitlines()[0]
        )
    if result.latency_ms is None:
        return ProbeResult(result.ok, (time.perf_counter() - started) * 1000, result.detail)
    return result


def measure(
    probes: HealthProbes,
    level: CheckLevel,
    thresholds: HealthThresholds,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> Measurements:
    results: dict[str, list[ProbeResult]] = {}

    def add(key: str, probe: Probe | None) -> None:
        if probe is not None:
            results.setdefault(key, []).append(_run(probe))

    for probe in probes.api:
        add("api", probe)
    add("store", probes.store)
    add("model", probes.model)
    if level in (CheckLevel.COMPREHENSIVE, CheckLevel.EXTENDED):
        add("diagnose", probes.diagnose)
        for probe in probes.integrity:
            add("integrity", probe)
        add("inference", probes.inference)
    if level is CheckLevel.EXTENDED and probes.api:
        for i in range(thresholds.samples):
            if i:
                sleep(thresholds.sample_interval_s)
            for probe in probes.api:
                add("api_sustained", probe)
    return Measurements({k: tuple(v) for k, v in results.items()})


def verify_health(
    probes: HealthProbes,
    level: CheckLevel = CheckLevel.IMMEDIATE,
    thresholds: HealthThresholds | None = None,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> HealthReport:
    thresholds = thresholds or HealthThresholds()
    return evaluate(measure(probes, level, thresholds, sleep=sleep), level, thresholds)


# -- probes recovery can run itself ---------------------------------------------------------------------------
def store_probe(store_path: Path) -> Probe:
    """The store opens read-only and answers a query (skips quietly as healthy if there is no store yet)."""

    def probe() -> ProbeResult:
        if not store_path.exists():
            return ProbeResult(True, detail="no store yet")
        try:
            with Database(store_path, lock_timeout=10).read() as session:
                session.execute("SELECT count(*) FROM information_schema.tables")
        except TriageError as exc:
            return ProbeResult(False, detail=str(exc))
        return ProbeResult(True)

    return probe


def sqlite_probe(db_path: Path) -> Probe:
    """An SQLite file (MLflow's store) passes ``PRAGMA quick_check``."""

    def probe() -> ProbeResult:
        if not db_path.exists():
            return ProbeResult(True, detail="no model store yet")
        try:
            con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
            try:
                verdict = con.execute("PRAGMA quick_check").fetchone()[0]
            finally:
                con.close()
        except sqlite3.Error as exc:
            return ProbeResult(False, detail=f"{db_path.name}: {exc}")
        return ProbeResult(verdict == "ok", detail="" if verdict == "ok" else f"{db_path.name}: {verdict}")

    return probe


def local_probes(store_path: Path, models_dir: Path) -> HealthProbes:
    """What recovery can check without the API: the store opens; MLflow's SQLite store is intact."""
    return HealthProbes(store=store_probe(store_path), integrity=(sqlite_probe(models_dir / "mlflow.db"),))
