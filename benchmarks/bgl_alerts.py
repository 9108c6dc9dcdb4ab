"""BGL_2k alert detection and alert category, with a chronological split.

Data: ``loghub2k/BGL/BGL_2k.log_structured.csv`` (2,000 lines sampled over seven months; the ``Label``
column is ``-`` for non-alerts, else the alert category; 143 alerts in 12 categories). Lines are ordered
by timestamp; the first 70 % are the training period, the last 30 % the test period. Templates are
Loghub's ground-truth ``EventId``s; the text features use the raw ``Content``.

* Alert detection (per line): the README's ``Level == FATAL`` rule, two unsupervised detectors trained
  on the training period (a template never seen before; the pattern detector's new/rare templates), and
  the supervised event model (:func:`triage.modeling.anomaly.make_event_alert_model`) with LightGBM and
  with logistic regression on the same features.
* Alert category (alert lines only): majority class, logistic regression and LightGBM; chronological
  split, and for reference stratified 5-fold cross-validation over all 143 alerts.

Run: ``.venv/bin/python benchmarks/bgl_alerts.py [--data DIR] [--json]``
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from triage.modeling.anomaly import binary_metrics, make_event_alert_model
from triage.modeling.patterns import PatternKind, TemplatePatternDetector

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TRAIN_SHARE = 0.7


def load(data: Path) -> pd.DataFrame:
    raw = pd.read_csv(data / "loghub2k" / "BGL" / "BGL_2k.log_structured.csv")
    events = pd.DataFrame({
        "line_no": raw["LineId"],
        "ts": pd.to_datetime(raw["Timestamp"], unit="s"),
        "service": raw["Component"],
        "component": raw["Component"],
        "host": raw["Node"],
        "level": raw["Level"],
        "template_id": raw["EventId"],
        "content": raw["Content"],
        "label": raw["Label"],
    })
    return events.sort_values(["ts", "line_no"], kind="stable").reset_index(drop=True)


def detection(events: pd.DataFrame) -> tuple[list[dict], dict]:
    cut = int(len(events) * TRAIN_SHARE)
    train, test = events.iloc[:cut], events.iloc[cut:].reset_index(drop=True)
    y_train, y_test = (train["label"] != "-").to_numpy(), (test["label"] != "-").to_numpy()
    rows = []

    def add(name: str, kind: str, flags: np.ndarray) -> None:
        rows.append({"method": name, "kind": kind, **binary_metrics(y_test, flags)})

    add("Level == FATAL (README rule)", "rule", (test["level"] == "FATAL").to_numpy())
    add("template never seen in training period", "unsupervised", ~test["template_id"].isin(set(train["template_id"])).to_numpy())
    detector = TemplatePatternDetector(window="1h").fit(train)
    findings = detector.detect(test)
    flagged = {(f.service, f.template_id, f.window_start) for f in findings
               if f.kind in (PatternKind.NEW, PatternKind.RARE)}
    windows = test["ts"].dt.floor("1h")
    add("pattern detector: new or rare template", "unsupervised",
        np.array([(s, t, w) in flagged for s, t, w in zip(test["service"], test["template_id"], windows, strict=True)]))
    for classifier, name in (("linear", "logistic regression (baseline)"), ("lightgbm", "LightGBM event model")):
        model = make_event_alert_model(classifier=classifier).fit(train, y_train)
        add(name, "supervised", model.predict(test).astype(bool))
    info = {"train_lines": len(train), "test_lines": len(test), "train_alerts": int(y_train.sum()),
            "test_alerts": int(y_test.sum()),
            "test_lines_with_unseen_template": float((~test["template_id"].isin(set(train["template_id"]))).mean())}
    return rows, info


def category(events: pd.DataFrame) -> tuple[list[dict], dict]:
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.model_selection import StratifiedKFold

    alerts = events[events["label"] != "-"].reset_index(drop=True)
    cut = int(len(events) * TRAIN_SHARE)
    in_train = (events.index < cut)[events["label"] != "-"]
    train, test = alerts[in_train].reset_index(drop=True), alerts[~in_train].reset_index(drop=True)
    unseen = sorted(set(test["label"]) - set(train["label"]))
    rows = []

    def score(y_true: pd.Series, y_pred: np.ndarray) -> dict:
        labels = sorted(set(y_true))
        return {"accuracy": float(accuracy_score(y_true, y_pred)),
                "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0))}

    majority = train["label"].value_counts().idxmax()
    rows.append({"split": "chronological", "method": "majority class", **score(test["label"], np.full(len(test), majority))})
    for classifier, name in (("linear", "logistic regression (baseline)"), ("lightgbm", "LightGBM event model")):
        model = make_event_alert_model(classifier=classifier).fit(train, train["label"])
        rows.append({"split": "chronological", "method": name, **score(test["label"], model.predict(test))})
    # Reference: random stratified folds over all alerts (classes with < 5 alerts go to every fold's train).
    counts = alerts["label"].value_counts()
    for classifier, name in (("majority", "majority class"), ("linear", "logistic regression (baseline)"),
                             ("lightgbm", "LightGBM event model")):
        truth, predicted = [], []
        frequent = alerts[alerts["label"].map(counts) >= 5].reset_index(drop=True)
        rare = alerts[alerts["label"].map(counts) < 5]
        for fit_idx, test_idx in StratifiedKFold(5, shuffle=True, random_state=0).split(frequent, frequent["label"]):
            fit = pd.concat([frequent.iloc[fit_idx], rare])
            held = frequent.iloc[test_idx]
            if classifier == "majority":
                guess = np.full(len(held), fit["label"].value_counts().idxmax())
            else:
                guess = make_event_alert_model(classifier=classifier).fit(fit, fit["label"]).predict(held)
            truth.extend(held["label"])
            predicted.extend(guess)
        rows.append({"split": "5-fold CV (classes with >= 5 alerts)", "method": name,
                     **score(pd.Series(truth), np.asarray(predicted))})
    info = {"train_alerts": len(train), "test_alerts": len(test), "test_classes": sorted(set(test["label"])),
            "test_classes_unseen_in_training": unseen,
            "test_alerts_of_unseen_classes": int(test["label"].isin(unseen).sum())}
    return rows, info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="shared data folder")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    path = args.data / "loghub2k" / "BGL" / "BGL_2k.log_structured.csv"
    if not path.is_file():
        print(f"missing {path}; pass --data", file=sys.stderr)
        return 2
    warnings.filterwarnings("ignore", category=UserWarning)  # LightGBM/sklearn feature-name chatter
    events = load(args.data)
    det_rows, det_info = detection(events)
    cat_rows, cat_info = category(events)
    if args.json:
        print(json.dumps({"detection": det_rows, "detection_info": det_info, "category": cat_rows,
                          "category_info": cat_info}, indent=1, default=str))
        return 0
    print(f"## BGL_2k alert detection, chronological {int(TRAIN_SHARE * 100)}/{100 - int(TRAIN_SHARE * 100)} split")
    print(f"{det_info}")
    print("| method | kind | P | R | F1 | TP | FP | FN |")
    print("|---|---|---|---|---|---|---|---|")
    for r in det_rows:
        print(f"| {r['method']} | {r['kind']} | {r['precision']:.3f} | {r['recall']:.3f} | **{r['f1']:.3f}** | "
              f"{r['tp']} | {r['fp']} | {r['fn']} |")
    print("\n## BGL_2k alert category (alert lines only)")
    print(f"{cat_info}")
    print("| split | method | accuracy | macro-F1 |")
    print("|---|---|---|---|")
    for r in cat_rows:
        print(f"| {r['split']} | {r['method']} | {r['accuracy']:.3f} | **{r['macro_f1']:.3f}** |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
