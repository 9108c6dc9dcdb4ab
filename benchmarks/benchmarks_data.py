"""Readers for the public labelled datasets the classification benchmark uses (file I/O only; the
conversion to labelled examples is :mod:`triage.modeling.datasets`)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from triage.errors import NotFound
from triage.modeling.datasets import bgl_examples, hadoop_examples, nezha_examples
from triage.modeling.labels import dataset_label_map, weak_labels

#: Loghub systems with a 2k sample and usable message text (BGL is read for its alert labels instead).
LOGHUB_SYSTEMS = ("HDFS", "Hadoop", "Spark", "Zookeeper", "HPC", "Linux", "OpenSSH")


def default_data_dir() -> Path:
    """The repository's sibling ``shared/data`` (never a hard-coded machine path)."""
    return Path(__file__).resolve().parents[2] / "shared" / "data"


def _need(path: Path) -> Path:
    if not path.exists():
        raise NotFound(f"dataset file not found: {path} (pass --data DIR)")
    return path


def bgl(data: Path) -> pd.DataFrame:
    frame = pd.read_csv(_need(data / "loghub2k" / "BGL" / "BGL_2k.log_structured.csv"))
    return bgl_examples(frame, dataset_label_map("bgl"))


def hadoop(data: Path) -> pd.DataFrame:
    folder = data / "hadoop_sessions"
    templates = [line.rstrip("\n") for line in _need(folder / "Hadoop_templates.csv").open(encoding="utf-8")]
    labels = pd.read_csv(_need(folder / "hadoop_app_labels.csv")).set_index("application_id")["label"].to_dict()
    sessions = []
    for name in ("hadoop_train", "hadoop_test_normal", "hadoop_test_abnormal"):
        for line in _need(folder / name).open(encoding="utf-8"):
            if line.strip():
                container, events = line.rstrip("\n").split(",", 1)
                sessions.append((container, events.split()))
    return hadoop_examples(sessions, templates, labels, dataset_label_map("hadoop"))


def nezha(data: Path) -> pd.DataFrame:
    root = data / "rca" / "nezha"
    mapping = dataset_label_map("nezha")
    baselines: dict[str, list[str]] = {}
    parts = []
    for label_path in sorted(_need(root / "cases").glob("*/label.json")):
        label = json.loads(label_path.read_text(encoding="utf-8"))
        logs_path = label_path.with_name("logs.csv.gz")
        baseline = label.get("baseline")
        base_dir = root / baseline if isinstance(baseline, str) else root / "baselines" / f"{label['case_id'][:2]}-{label['date']}"
        if not logs_path.exists() or not (base_dir / "logs.csv.gz").exists():
            continue
        if str(base_dir) not in baselines:
            baselines[str(base_dir)] = pd.read_csv(base_dir / "logs.csv.gz")["message"].astype(str).tolist()
        parts.append(nezha_examples(
            pd.read_csv(logs_path), fault_type=label["fault_type"], root_cause_service=label["root_cause_service"],
            inject_unix=label["inject_unix"], fault_duration_s=label["fault_duration_s"],
            baseline_messages=baselines[str(base_dir)], mapping=mapping,
        ))  # fmt: skip
    return pd.concat(parts, ignore_index=True)


def loghub_weak(data: Path, systems: tuple[str, ...] = LOGHUB_SYSTEMS) -> pd.DataFrame:
    """Rule-pack labels of the Loghub 2k samples (one dataset per system; line order as time)."""
    parts = []
    for system in systems:
        frame = pd.read_csv(_need(data / "loghub2k" / system / f"{system}_2k.log_structured.csv"))
        level = frame["Level"] if "Level" in frame.columns and system != "Linux" else None  # Linux: host names
        events = pd.DataFrame({
            "message": frame["Content"], "template": frame["EventTemplate"], "level": level, "service": system,
            # the 2k samples' own clocks differ in format; line order is their time order
            "ts": pd.Timestamp("2000-01-01") + pd.to_timedelta(frame.index, unit="s"),
        })  # fmt: skip
        parts.append(weak_labels(events).assign(dataset=f"loghub-{system}"))
    return pd.concat(parts, ignore_index=True)
