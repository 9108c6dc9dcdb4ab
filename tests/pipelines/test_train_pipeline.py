"""The training pipeline end to end on tiny real data: ingest -> features -> train -> evaluate -> register."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from triage.features.store import FeatureStore
from triage.modeling.pipeline import load_config, run_pipeline
from triage.modeling.tracking import ModelIntegrityError, ModelTracker, load_served
from triage.settings import Settings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "modeling"
REPO = Path(__file__).resolve().parents[2]


def tiny_config(tmp_path: Path, **register) -> Path:
    data = yaml.safe_load((REPO / "pipelines" / "configs" / "tiny.yaml").read_text())
    data["ingest"] = {"paths": [str(FIXTURES / "logs")]}
    data["train"]["label_paths"] = [str(FIXTURES / "bgl_alerts.csv"), str(FIXTURES / "hadoop_faults.csv")]
    if register:
        data["register"] = register
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_pipeline_run_on_an_empty_home_trains_and_registers_a_champion(tracked_settings: Settings,
                                                                      tmp_path: Path) -> None:  # fmt: skip
    config = load_config(tiny_config(tmp_path, promote="if_better"))
    report = run_pipeline(config, tracked_settings, actor="ci", reason="first")
    assert report.steps["ingest"]["events"] == 300 and report.steps["ingest"]["files"] == 2
    assert report.steps["features"]["error_signatures"]["view"] == "error_signatures/v1"
    assert [m.name for m in report.models] == ["error-classifier", "template-patterns"]  # tiny.yaml's models
    model = report.models[0]
    assert model.name == "error-classifier" and model.version == 1 and model.aliases == ("champion",)
    assert 0.0 <= model.metrics["macro_f1"] <= 1.0 and "baseline_macro_f1" in model.metrics
    store = FeatureStore(tracked_settings)
    assert len(store.read("window_error_rates")) > 0
    manifest = json.loads((tracked_settings.models_dir / "pipeline_runs" / f"{report.run_id}.json").read_text())
    assert manifest["config"]["register"]["promote"] == "if_better"
    served_dir = tracked_settings.models_dir / "served"
    served = load_served(served_dir, "error-classifier")
    assert served.version == 1
    # served from its portable copy (NumPy only), which answers as the pickled estimator does
    full = load_served(served_dir, "error-classifier", portable=False)
    assert type(served.estimator).__name__ == "PortableErrorClassifier"
    assert type(full.estimator).__name__ == "ErrorClassifier"
    probe = pd.DataFrame({"message": ["Connection refused: db:5432", "OutOfMemoryError: Java heap space"],
                          "level": ["ERROR", "FATAL"], "service": ["orders", "api"]})  # fmt: skip
    assert abs(served.estimator.predict_proba(probe) - full.estimator.predict_proba(probe)).max() < 1e-6

    # the second run skips ingest (the store has events), registers a challenger and compares it with the
    # champion on its held-back set: same data and seed, so the same score, which is no reason to promote
    again = run_pipeline(config, tracked_settings, actor="ci", reason="second")
    assert "skipped" in again.steps["ingest"]
    second = again.models[0]
    assert second.version == 2 and second.aliases == ("challenger",)
    assert second.metrics["champion_macro_f1"] == second.metrics["macro_f1"] and second.beats_champion is False
    run = ModelTracker.from_settings(tracked_settings).client.get_run(
        ModelTracker.from_settings(tracked_settings).version_info("error-classifier", 2).run_id)
    assert run.data.params["pipeline"] == "tiny" and run.data.tags["triage.data_fingerprint"]

    # a damaged or missing portable copy is refused, as a damaged pickle is
    portable_copy = served_dir / "error-classifier" / "portable.npz"
    damaged = bytearray(portable_copy.read_bytes())
    damaged[len(damaged) // 2] ^= 1
    portable_copy.write_bytes(bytes(damaged))
    with pytest.raises(ModelIntegrityError, match="portable copy checksum mismatch"):
        load_served(served_dir, "error-classifier")
    portable_copy.unlink()
    with pytest.raises(ModelIntegrityError, match="portable copy missing"):
        load_served(served_dir, "error-classifier")


def test_cli_pipeline_run_with_a_config_file(tracked_settings: Settings, tmp_path: Path, capsys) -> None:
    path = tiny_config(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "triage.cli", "--home", str(tracked_settings.home), "pipeline",
                           "run", "tiny", "--config", str(path), "--json"], capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["models"][0]["aliases"] == ["champion"]
    assert main_exit(["--home", str(tracked_settings.home), "models", "list"]) == 0
    assert "error-classifier  (champion=v1)" in capsys.readouterr().out
    assert main_exit(["--home", str(tracked_settings.home), "pipeline", "run", "no-such-pipeline"]) == 2
    assert "no pipeline named 'no-such-pipeline'" in capsys.readouterr().err


def main_exit(argv: list[str]) -> int:
    from triage.cli import main

    try:
        main(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0


def test_an_empty_training_set_is_a_clear_error(tracked_settings: Settings, tmp_path: Path, capsys) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text(yaml.safe_dump({
        "name": "empty", "steps": ["train", "register"],
        "train": {"label_paths": [], "params": {"error-classifier": {"seed_examples": False}}},
    }))  # fmt: skip
    assert main_exit(["--home", str(tracked_settings.home), "pipeline", "run", "empty", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].startswith("triage: error: the training set is empty")
    assert "Traceback" not in err
