"""scan_recent: the pattern models' serving hook, over a small synthetic history with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from triage.diagnosis.models import SERVICE_COLUMNS, TEMPLATE_COLUMNS, ServedModels, scan_recent
from triage.errors import InvalidInput
from triage.modeling.patterns import TemplatePatternDetector

T0 = pd.Timestamp("2024-01-01")


def history() -> pd.DataFrame:
    """api and db log T1 ~5/min for 10 hours; db logs error T9 for 3 minutes every 2 hours."""
    rng = np.random.default_rng(0)
    rows = []
    for minute in range(600):
        for service in ("api", "db"):
            for _ in range(rng.poisson(5)):
                rows.append((T0 + pd.Timedelta(minutes=minute, seconds=int(rng.integers(60))), service, "T1", "INFO"))
        if minute % 120 < 3:
            rows.append((T0 + pd.Timedelta(minutes=minute, seconds=1), "db", "T9", "ERROR"))
    return pd.DataFrame(rows, columns=["ts", "service", "template_id", "level"])


@pytest.fixture(scope="module")
def detector() -> TemplatePatternDetector:
    return TemplatePatternDetector(window="1min").fit(history())


def recent() -> pd.DataFrame:
    start = T0 + pd.Timedelta(hours=11)
    rows = [(start + pd.Timedelta(seconds=2 * i), "db", "T9", "ERROR") for i in range(20)]  # a burst
    rows += [(start + pd.Timedelta(seconds=40 + i), "api", "T1", "INFO") for i in range(5)]
    rows += [(start + pd.Timedelta(seconds=50), "api", "T8", "ERROR")]  # never seen before
    return pd.DataFrame(rows, columns=["ts", "service", "template_id", "level"])


def test_findings_per_template_and_service(detector) -> None:
    scan = scan_recent(recent(), patterns=detector, versions={"template-patterns": "3"})
    assert list(scan.templates.columns) == list(TEMPLATE_COLUMNS)
    assert list(scan.services.columns) == list(SERVICE_COLUMNS)
    rows = scan.templates.set_index(["service", "template_id"])
    assert rows.loc[("db", "T9"), "burst"] and rows.loc[("db", "T9"), "count"] == 20
    assert rows.loc[("api", "T8"), "new"] and not rows.loc[("api", "T1"), "new"]
    assert rows.loc[("api", "T1"), "kinds"] == ""  # the usual template is left alone
    services = scan.services.set_index("service")
    assert services.loc["api", "n_new"] == 1 and services.loc["db", "n_burst"] == 1
    assert services.loc["db", "n_errors"] == 20 and services.loc["api", "error_rate"] == pytest.approx(1 / 6)
    assert scan.findings("api")["template_id"].tolist() == ["T8"]
    assert scan.models == {"template-patterns": "3"}


def test_without_models_only_volumes_and_aware_times_are_read_as_utc() -> None:
    events = recent().assign(ts=lambda d: d["ts"].dt.tz_localize("UTC").dt.tz_convert("Europe/Paris"))
    scan = scan_recent(events)
    assert scan.templates.empty and scan.models == {}
    services = scan.services.set_index("service")
    assert services.loc["db", "n_events"] == 20 and not services["anomalous"].any()
    assert services["warning_eta_windows"].isna().all()


def test_bad_batches_are_refused() -> None:
    with pytest.raises(InvalidInput, match="template_id"):
        scan_recent(recent().drop(columns=["template_id"]))
    with pytest.raises(InvalidInput, match="not timestamps"):
        scan_recent(recent().assign(ts="yesterday"))
    with pytest.raises(InvalidInput, match="DataFrame"):
        scan_recent([1, 2])  # type: ignore[arg-type]


def test_served_models_scan_uses_only_loaded_champions(tmp_path) -> None:
    served = ServedModels(tmp_path / "served")
    scan = served.scan(recent())
    assert scan.models == {} and scan.templates.empty and len(scan.services) == 2
