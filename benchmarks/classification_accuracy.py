"""Error classification accuracy: macro-F1 per dataset (chronological split), LightGBM vs linear baseline,
calibration, and generalisation to a system left out of training.

    python benchmarks/classification_accuracy.py [--data DIR] [--test-fraction 0.25] [--json]

``--data`` defaults to the repository's sibling ``shared/data``. Datasets (labelled examples, see
:mod:`triage.modeling.datasets` and ``data/samples/labels/README.md``):

* ``bgl`` — BGL_2k alert lines, operators' alert tags mapped to the taxonomy (independent labels);
* ``hadoop`` — fault-specific error events of the Hadoop fault-injection sessions (fault type per job);
* ``nezha`` — fault-window error lines of Nezha TrainTicket cases (fault type per case);
* ``loghub-<System>`` — the seed rule pack's weak labels on the Loghub 2k samples (HDFS, Hadoop, Spark,
  Zookeeper, HPC, Linux, OpenSSH): how well the model reproduces the rules on later lines.

Every dataset is split chronologically (the latest ``--test-fraction`` is held back); the reviewed seed
examples always train. Two experiments, both training the LightGBM model and the linear baseline in the
same run on the same rows:

1. **in-dataset**: train on the early part of every dataset, score each dataset's held-back part;
2. **unseen system**: for each independently labelled dataset (bgl, hadoop, nezha), train on everything
   except that dataset and score its held-back part (the categories must come from words, not ids).

Prints macro-F1 per dataset for both models, the top-label and class-wise ECE (10 bins) of the
calibrated confidences, severity macro-F1, training times, and how many trees the LightGBM heads kept
(stacked on the linear model, the count is chosen on inner folds of the training rows).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from benchmarks_data import bgl, default_data_dir, hadoop, loghub_weak, nezha  # the script's folder

from triage.modeling import evaluation
from triage.modeling.classification import ErrorClassifierConfig, evaluate_error_classifier
from triage.modeling.labels import combine_examples, seed_examples

INDEPENDENT = ("bgl", "hadoop", "nezha")


def split(examples: pd.DataFrame, test_fraction: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    seed = examples[examples["label_source"] == "seed"]
    rest = examples[examples["label_source"] != "seed"].reset_index(drop=True)
    train_idx, test_idx = evaluation.chronological_split(rest, test_fraction=test_fraction)
    train = pd.concat([rest.iloc[train_idx], seed], ignore_index=True)
    return train, rest.iloc[test_idx].reset_index(drop=True)


def fit_both(train: pd.DataFrame, config: ErrorClassifierConfig) -> dict[str, tuple[object, float]]:
    models = {}
    for kind in ("lightgbm", "linear"):
        started = time.perf_counter()
        model = config.estimator(kind).fit(train, train[["category", "severity"]])
        models[kind] = (model, time.perf_counter() - started)
    return models


def trees_kept(model: object) -> dict[str, int | None]:
    """Trees per head of a fitted LightGBM ErrorClassifier (the count its inner folds chose when stacked)."""
    out = {}
    for head in ("category", "severity"):
        base = getattr(model, f"{head}_head_").base_
        out[head] = getattr(base, "n_estimators_", None) or getattr(base, "n_estimators", None)
    return out


def scores(model: object, test: pd.DataFrame) -> dict[str, float]:
    return evaluate_error_classifier(model, test)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data_dir())
    parser.add_argument("--test-fraction", type=float, default=0.25)
    parser.add_argument("--calibration", default="sigmoid", choices=("sigmoid", "isotonic", "temperature"))
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of tables")
    args = parser.parse_args(argv)
    config = ErrorClassifierConfig(calibration=args.calibration)

    started = time.perf_counter()
    frames = {"bgl": bgl(args.data), "hadoop": hadoop(args.data), "nezha": nezha(args.data)}
    weak = loghub_weak(args.data)
    examples = combine_examples(*frames.values(), weak, seed_examples())
    load_seconds = time.perf_counter() - started
    train, test = split(examples, args.test_fraction)

    rows = []
    fitted = fit_both(train, config)
    for kind, (model, seconds) in fitted.items():
        for dataset, part in test.groupby("dataset", sort=True):
            s = scores(model, part)
            rows.append({"experiment": "in-dataset", "dataset": dataset, "model": kind, "n_train": len(train),
                         "n_test": len(part), "classes_test": part["category"].nunique(),
                         "macro_f1": s["macro_f1"], "accuracy": s["accuracy"], "severity_macro_f1": s["severity_macro_f1"],
                         "ece": s["ece"], "classwise_ece": s["classwise_ece"], "fit_seconds": seconds})  # fmt: skip
        s = scores(model, test)
        rows.append({"experiment": "in-dataset", "dataset": "ALL", "model": kind, "n_train": len(train),
                     "n_test": len(test), "classes_test": test["category"].nunique(), "macro_f1": s["macro_f1"],
                     "accuracy": s["accuracy"], "severity_macro_f1": s["severity_macro_f1"], "ece": s["ece"],
                     "classwise_ece": s["classwise_ece"], "fit_seconds": seconds})  # fmt: skip
    calibration = {}
    for kind, (model, _) in fitted.items():
        proba = model.predict_proba(test)  # type: ignore[attr-defined]
        calibration[kind] = evaluation.calibration_summary(test["category"], proba, list(model.classes_))  # type: ignore[attr-defined]

    for held_out in INDEPENDENT:
        others = train[train["dataset"] != held_out]
        part = test[test["dataset"] == held_out]
        for kind, (model, seconds) in fit_both(others, config).items():
            s = scores(model, part)
            rows.append({"experiment": "unseen-system", "dataset": held_out, "model": kind, "n_train": len(others),
                         "n_test": len(part), "classes_test": part["category"].nunique(), "macro_f1": s["macro_f1"],
                         "accuracy": s["accuracy"], "severity_macro_f1": s["severity_macro_f1"], "ece": s["ece"],
                         "classwise_ece": s["classwise_ece"], "fit_seconds": seconds})  # fmt: skip
    table = pd.DataFrame(rows)
    total = time.perf_counter() - started
    if args.json:
        print(json.dumps({"results": table.to_dict(orient="records"),
                          "calibration": {k: v.to_dict(orient="records") for k, v in calibration.items()},
                          "lightgbm_trees": trees_kept(fitted["lightgbm"][0]),
                          "load_seconds": load_seconds, "total_seconds": total}, default=float))  # fmt: skip
        return 0
    wide = table.pivot_table(index=["experiment", "dataset", "n_test", "classes_test"], columns="model",
                             values=["macro_f1", "ece"], aggfunc="first")  # fmt: skip
    wide.columns = [f"{m}_{k}" for k, m in wide.columns]
    wide = wide.reset_index()
    wide["lgbm_beats_linear"] = np.where(wide["lightgbm_macro_f1"] > wide["linear_macro_f1"], "yes",
                                         np.where(wide["lightgbm_macro_f1"] == wide["linear_macro_f1"], "tie", "no"))
    print(f"# error classification, chronological split (latest {args.test_fraction:.0%} of each dataset held "
          f"back), calibration={args.calibration}")
    print(wide.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print("\n# severity macro-F1 (in-dataset, ALL):",
          {r["model"]: round(r["severity_macro_f1"], 3) for r in rows if r["dataset"] == "ALL"})
    for kind, summary in calibration.items():
        print(f"\n# calibration of {kind} on all held-back rows (ECE per class, 10 bins; *top* = confidence)")
        print(summary.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    fit = {r["model"]: round(r["fit_seconds"], 1) for r in rows if r["dataset"] == "ALL"}
    print(f"\n# LightGBM trees kept per head (of at most {config.n_estimators}): {trees_kept(fitted['lightgbm'][0])}")
    print(f"# fit seconds on {len(train)} examples: {fit}; data loading {load_seconds:.1f} s; total {total:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
