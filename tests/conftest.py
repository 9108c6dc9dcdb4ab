"""Shared fixtures: every test gets its own home folder under tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from triage.settings import Settings

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings whose home is a fresh temporary folder."""
    return Settings(home=tmp_path / "home")


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture
def fdatasync_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The descriptors ``os.fdatasync`` is called with during the test (the real call still happens)."""
    import os

    calls: list[int] = []
    real = os.fdatasync

    def recorded(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fdatasync", recorded)
    return calls


# --------------------------------------------------------------------------- modeling (error classifier, MLflow)
@pytest.fixture(scope="session")
def labelled_examples():
    """Rule labels of 910 real log lines + BGL/Hadoop/Nezha dataset labels + the seed examples."""
    import pandas as pd

    from triage.modeling.labels import combine_examples, seed_examples, weak_labels

    def read(name: str) -> pd.DataFrame:
        return pd.read_csv(FIXTURES / "modeling" / f"{name}.csv", keep_default_na=False, na_values=[""])

    return combine_examples(weak_labels(read("loghub_events")), read("bgl_alerts"), read("hadoop_faults"),
                            read("nezha_faults"), seed_examples())  # fmt: skip


@pytest.fixture(scope="session")
def small_config():
    """Error-classifier parameters small enough for tests (seconds, not minutes)."""
    from triage.modeling.classification import ErrorClassifierConfig

    return ErrorClassifierConfig(n_estimators=30, max_features=3000, cv=2, min_examples=10)


@pytest.fixture(scope="session")
def trained_classifier(labelled_examples, small_config):
    from triage.modeling.classification import train_error_classifier

    return train_error_classifier(labelled_examples, small_config)


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLflow sqlite store with its tables created (that runs ~100 migrations), to copy per test."""
    from triage.modeling.tracking import ModelTracker

    folder = tmp_path_factory.mktemp("mlflow-template")
    tracker = ModelTracker(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}", artifacts_uri=(folder / "a").as_uri(),
                           served_dir=folder / "served")  # fmt: skip
    tracker.list_models()  # opens the store: creates and migrates its tables
    return folder / "mlflow.db"


@pytest.fixture
def tracked_settings(settings: Settings, mlflow_template: Path) -> Settings:
    """``settings`` whose home already holds an empty, migrated MLflow store."""
    import shutil

    settings.models_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(mlflow_template, settings.models_dir / "mlflow.db")
    return settings
