"""notebooks/reports/incident-history.ipynb runs headless on a seeded home and agrees with triage.history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from triage.diagnosis.schemas import RootCause
from triage.incidents.schemas import ResolveRequest
from triage.incidents.store import IncidentState, IncidentStore
from triage.settings import Settings
from triage.storage.database import Database

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "reports" / "incident-history.ipynb"


@pytest.mark.slow
def test_history_notebook_runs_and_its_sql_matches_the_code(tmp_path) -> None:
    home = tmp_path / "home"
    store = IncidentStore(Database(Settings(home=home).store_path))
    now = datetime.now(UTC)
    for n, (days, category, minutes) in enumerate([(40, "TIMEOUT", 30), (25, "NETWORK", 90), (24, "TIMEOUT", 10),
                                                   (3, "DATABASE_CONNECTION", None)]):
        start = now - timedelta(days=days)
        store.write_batch(incidents=[IncidentState(f"INC-{n}", f"{category} {n}", "HIGH", category, ("billing",),
                                                   RootCause(service="billing", issue="x", confidence=0.5), 1, start,
                                                   start)])
        if minutes:
            store.resolve(f"INC-{n}", ResolveRequest(suggested_fix_worked=True), actor="t",
                          now=start + timedelta(minutes=minutes))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    params.source = f"home = {str(home)!r}\ndays = 180\nservice = 'billing'"
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = "\n".join(
        str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
        for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )
    assert "4 incident(s)" in text and "on billing" in text
    assert "'meanMinutes': 43.33" in text  # (30 + 90 + 10) / 3
    assert "incident_id,title,status" in text and "4 row(s)" in text
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 2  # the weekly bars and the MTTR line
