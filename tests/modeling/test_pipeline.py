from __future__ import annotations

from pathlib import Path

import pytest

from triage.errors import InvalidInput, NotFound
from triage.modeling.pipeline import CONFIG_DIR, PipelineConfig, config_path, load_config, read_label_tables

from .conftest import MODELING


def test_every_shipped_config_is_valid() -> None:
    names = {path.stem: load_config(path) for path in sorted(CONFIG_DIR.glob("*.yaml"))}
    assert {"train", "retrain", "tiny"} <= set(names)
    assert names["train"].steps == ("ingest", "features", "train", "evaluate", "register")
    assert names["retrain"].registration.promote == "if_better"
    assert names["tiny"].train.params["error-classifier"]["n_estimators"] == 20


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("name: x\nsteps: [train, ingest]\n", "DAG order"),
        ("name: x\nsteps: [register]\n", "needs step train"),
        ("name: x\ntrain: {modles: [a]}\n", "train.modles: Extra inputs are not permitted"),
        ("name: x\nregister: {promote: always}\n", "register.promote"),
        ("name: Bad Name\n", "name"),
        ("- just a list\n", "expected a mapping"),
        ("name: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_configs_are_clear_errors(tmp_path: Path, yaml_text: str, message: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(yaml_text)
    with pytest.raises(InvalidInput, match=message):
        load_config(path)


def test_config_lookup_and_label_tables(tmp_path: Path) -> None:
    assert config_path("train") == CONFIG_DIR / "train.yaml"
    with pytest.raises(NotFound, match="no pipeline named 'nope'"):
        config_path("nope")
    with pytest.raises(NotFound):
        load_config(tmp_path / "missing.yaml")
    tables = read_label_tables([MODELING / "bgl_alerts.csv"])
    assert list(tables) == ["bgl_alerts"] and len(tables["bgl_alerts"]) == 143
    with pytest.raises(NotFound, match="label table path not found"):
        read_label_tables([tmp_path / "absent"])
    assert PipelineConfig(name="defaults").train.label_paths == ("@samples/labels",)
