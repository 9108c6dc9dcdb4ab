"""Every numbered notebook runs top to bottom on the bundled samples, in a fresh home, headless.

Kernels are started by nbclient with CI=true and stdin closed (see ../shared ENVIRONMENT.md §6); the home
is a temporary copy of a home with the samples ingested (TRIAGE_HOME), so nothing touches the checkout's
data/ or models/ (the notebooks' own "ingest if empty" step is exercised by the pipeline tests). A cell tagged
``parameters`` is replaced by smaller settings, as papermill would, so a run takes seconds not minutes.
The notebooks must stay thin: no ``def`` or ``class`` in any cell (functions live in ``src/triage``).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
NUMBERED = sorted(NOTEBOOKS.glob("[0-9]*.ipynb"))
PARAMETERS = {"2.0-error-classifier.ipynb": 'CLASSIFIER = {"n_estimators": 20, "max_features": 3000, "cv": 2}'}


def test_there_are_numbered_notebooks() -> None:
    assert [p.name for p in NUMBERED][:3] == ["1.0-templates-and-error-trends.ipynb", "2.0-error-classifier.ipynb",
                                             "3.0-pattern-models.ipynb"]  # fmt: skip


@pytest.mark.parametrize("path", NUMBERED, ids=[p.name for p in NUMBERED])
def test_notebook_is_thin(path: Path) -> None:
    book = nbformat.read(path, as_version=4)
    for cell in book.cells:
        if cell.cell_type == "code":
            assert not re.search(r"^\s*(def|class)\s", cell.source, re.MULTILINE), f"{path.name}: move it to src/"
            assert not cell.get("outputs"), f"{path.name}: strip outputs before committing"


@pytest.fixture(scope="module")
def sample_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with the bundled samples already ingested (each notebook would otherwise ingest them)."""
    from triage.modeling.pipeline import PipelineConfig, run_pipeline
    from triage.settings import Settings

    home = tmp_path_factory.mktemp("notebook-home") / "home"
    run_pipeline(PipelineConfig(name="prepare", steps=("ingest",)), Settings(home=home), actor="test")
    return home


@pytest.mark.slow
@pytest.mark.parametrize("path", NUMBERED, ids=[p.name for p in NUMBERED])
def test_notebook_runs_top_to_bottom(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     sample_home: Path) -> None:  # fmt: skip
    shutil.copytree(sample_home, tmp_path / "home")
    book = nbformat.read(path, as_version=4)
    for cell in book.cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []) and path.name in PARAMETERS:
            cell.source = PARAMETERS[path.name]
    monkeypatch.setenv("TRIAGE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.delenv("TRIAGE_MLFLOW_TRACKING_URI", raising=False)
    client = NotebookClient(book, kernel_name="python3", timeout=600, resources={"metadata": {"path": str(tmp_path)}})
    with open(os.devnull, "rb"):  # the kernel inherits no usable stdin from the test process
        client.execute()
    errors = [o for c in book.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    assert (tmp_path / "home" / "data" / "processed" / "triage.duckdb").exists()
