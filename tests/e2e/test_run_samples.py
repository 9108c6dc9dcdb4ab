"""`triage run`'s first steps on a fresh home: folders, schema, bundled samples loaded once."""

from __future__ import annotations

import shutil
from pathlib import Path

from triage.cli.run import ensure_home, ingest_samples_if_empty, sample_logs
from triage.features.store import FeatureStore
from triage.settings import CHECKOUT_DIR, Settings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "features"


def test_the_bundled_samples_are_there_with_their_licence() -> None:
    bundled = sample_logs(Settings(home=CHECKOUT_DIR))
    assert [p.name for p in bundled] == ["HDFS_2k.log", "OpenSSH_2k.log", "Zookeeper_2k.log"]
    readme = (CHECKOUT_DIR / "data" / "samples" / "README.md").read_text()
    assert "github.com/logpai/loghub" in readme and "ISSRE" in readme
    assert (CHECKOUT_DIR / "data" / "samples" / "logs" / "LICENSE").is_file()


def test_run_steps_load_the_samples_into_a_fresh_home_once(tmp_path: Path) -> None:
    samples = tmp_path / "samples"
    (samples / "logs").mkdir(parents=True)
    for name in ("HDFS_300.log", "Zookeeper_200.log"):  # small stand-ins for data/samples/logs
        shutil.copy(FIXTURES / name, samples / "logs" / name)
    settings = Settings(home=tmp_path / "home", samples_dir=samples)

    assert "ready" in ensure_home(settings)
    assert settings.models_dir.is_dir() and settings.interim_dir.is_dir()
    said = ingest_samples_if_empty(settings)
    assert "loaded 2 sample logs" in said and "500 lines -> 500 events" in said
    store = FeatureStore(settings)
    assert set(store.events(columns=["service"])["service"]) == {"HDFS", "Zookeeper"}
    assert store.verify() == []
    assert settings.miner_state_path.is_file()

    assert "schema up to date" in ensure_home(settings)
    assert "samples not loaded" in ingest_samples_if_empty(settings)
    assert store.counts()["events"] == 500
