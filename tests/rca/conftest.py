"""Fixtures for root-cause analysis tests: the real Nezha slices and a synthetic propagation incident.

The synthetic incident has a known answer by construction: a fault (CPU saturation + a broken code path)
is planted in one service of a small call graph; its callers inherit the latency it adds (in absolute
terms, so their relative change is smaller), they log warnings about the failed calls, and an unrelated
service is noisy throughout. Every table is generated from a seeded RNG.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from triage.rca.bundle import BundleManifest, DependencyEdge, IncidentBundle, TimeWindow

NEZHA = Path(__file__).resolve().parents[1] / "fixtures" / "rca" / "nezha"
ANSWERS = Path(__file__).resolve().parents[1] / "fixtures" / "rca" / "answers.json"

T0 = 1_700_000_000.0
EDGES = [
    ("gateway", "orders"), ("gateway", "catalogue"), ("orders", "payment"), ("orders", "stock"),
    ("catalogue", "stock"), ("payment", "bank"), ("stock", "db"),
]
SERVICES = ["gateway", "orders", "catalogue", "payment", "stock", "bank", "db", "search"]
ROUTES = [["gateway", "orders", "payment", "bank"], ["gateway", "orders", "stock", "db"],
          ["gateway", "catalogue", "stock", "db"]]
BASE_LATENCY = {"gateway": 0.30, "orders": 0.20, "catalogue": 0.08, "payment": 0.06, "stock": 0.04,
                "bank": 0.02, "db": 0.01, "search": 0.05}


def _ancestors(service: str) -> set[str]:
    found, frontier = set(), {service}
    while frontier:
        frontier = {a for a, b in EDGES if b in frontier} - found
        found |= frontier
    return found


def make_incident(root: str, *, modalities: tuple[str, ...] = ("metrics", "logs", "calls"), seed: int = 0,
                  ) -> IncidentBundle:
    """A synthetic incident whose root cause is ``root`` (see the module docstring)."""
    rng = np.random.default_rng(seed)
    upstream = _ancestors(root)
    added = 0.4  # seconds the fault adds to every request through ``root``
    baseline_ts = np.arange(T0 - 1800, T0 - 60, 30.0)
    incident_ts = np.arange(T0 + 15, T0 + 240, 30.0)

    metrics = []
    for service in SERVICES:
        for phase, stamps in (("base", baseline_ts), ("incident", incident_ts)):
            n = len(stamps)
            cpu = rng.normal(20, 2, n)
            latency = BASE_LATENCY[service] * (1 + rng.normal(0, 0.05, n))
            if service == "search":  # noisy but innocent: spiky all the time
                latency = latency * np.where(rng.random(n) < 0.15, 4.0, 1.0)
            if phase == "incident" and service == root:
                cpu = rng.normal(96, 1, n)
                latency = latency + added
            elif phase == "incident" and service in upstream:
                latency = latency + added * 0.9
            for name, values in (("cpu_usage_percent", cpu), ("memory_mib", rng.normal(300, 3, n)),
                                 ("latency_p90_seconds", latency), ("requests_per_second", rng.normal(50, 3, n))):
                metrics.append(pd.DataFrame({"ts": stamps, "service": service, "instance": f"{service}-0",
                                             "metric": name, "value": values}))

    logs, calls = [], []
    request = 0
    for phase, start, end in (("base", T0 - 1800, T0 - 60), ("incident", T0, T0 + 240)):
        for ts in np.arange(start, end, 2.0):
            route = ROUTES[request % len(ROUTES)]
            request += 1
            trace = f"t{request:06d}"
            failed = phase == "incident" and root in route
            for depth, service in enumerate(route):
                stamp = ts + depth * 0.01
                logs.append((stamp, service, "INFO", f"{service.title()}Handler#12 start request {request}", trace))
                if failed and service == root:
                    logs.append((stamp + 0.001, service, "ERROR",
                                 f"{service.title()}Handler#31 failed: NullPointerException in request {request}",
                                 trace))
                    break
                logs.append((stamp + 0.002, service, "INFO", f"{service.title()}Handler#20 done request {request}",
                             trace))
            if failed:
                for service in route[: route.index(root)]:
                    logs.append((ts + 0.05, service, "WARN", f"{service.title()}Client#40 call failed, retry {request}",
                                 trace))
        for ts in np.arange(start, end, 60.0):
            for caller, callee in EDGES:
                latency = BASE_LATENCY[callee] * (1 + rng.normal(0, 0.05))
                if phase == "incident" and (callee == root or callee in upstream):
                    latency += added if callee == root else added * 0.9
                calls.append({"ts": ts + 30, "caller": caller, "callee": callee, "operation": f"/api/{callee}",
                              "count": 40.0, "latency_mean": latency, "latency_p50": latency})

    manifest = BundleManifest(
        source="synthetic",
        detection_time=T0,
        incident_window=TimeWindow(start=T0, end=T0 + 240),
        baseline_windows=(TimeWindow(start=T0 - 1800, end=T0 - 60),),
        dependencies=tuple(DependencyEdge(caller=a, callee=b) for a, b in EDGES),
    )
    tables = {
        "metrics": pd.concat(metrics, ignore_index=True),
        "logs": pd.DataFrame(logs, columns=["ts", "service", "level", "message", "trace_id"]),
        "calls": pd.DataFrame(calls),
    }
    return IncidentBundle(manifest=manifest, **{k: v for k, v in tables.items() if k in modalities})


@pytest.fixture
def synthetic_incident() -> Callable[..., IncidentBundle]:
    return make_incident


@pytest.fixture(scope="session")
def answers() -> dict[str, dict[str, str]]:
    return json.loads(ANSWERS.read_text())


@pytest.fixture
def nezha_copy(tmp_path: Path) -> Path:
    """A writable copy of the Nezha fixture dataset (cases/ + baselines/)."""
    target = tmp_path / "nezha"
    shutil.copytree(NEZHA, target)
    return target


@pytest.fixture(scope="session")
def nezha_dir() -> Path:
    return NEZHA
